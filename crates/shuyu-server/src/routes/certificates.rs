//! Registration certificates (电子凭证, 一证一码), YXR §23, §27: public verification of a code,
//! the signing key and cancellation announcements for everyone; renewal by the holder in the
//! window before expiry; revocation by the registry.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shuyu_audit::Outcome;
use shuyu_authz::{Action, Resource};
use shuyu_core::certificate::{self, CertificateCode};
use shuyu_store::certificates::{self, Announcement, CertificateRecord, CertificateStatus};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldProblem};
use crate::extract::ApiPath;
use crate::registry;
use crate::state::AppState;

fn parse_code(code: &str) -> ApiResult<CertificateCode> {
    code.parse::<CertificateCode>()
        .map_err(|e| ApiError::validation(vec![FieldProblem::new("code", e.to_string(), "电子凭证编码有误，请核对")]))
}

async fn load(app: &AppState, code: &CertificateCode) -> ApiResult<CertificateRecord> {
    let mut conn = app.store.acquire().await?;
    certificates::get(&mut conn, code.as_str()).await?.ok_or_else(|| ApiError::not_found("certificate"))
}

fn resource(c: &CertificateRecord) -> Resource {
    Resource::owned("Certificate", c.facts.code.clone(), c.holder_org)
}

/// valid / expired / cancelled / revoked, on `today`.
fn status_on(c: &CertificateRecord, today: chrono::NaiveDate) -> &'static str {
    match c.status {
        CertificateStatus::Revoked => "revoked",
        CertificateStatus::Cancelled => "cancelled",
        CertificateStatus::Valid if today > c.facts.valid_until => "expired",
        CertificateStatus::Valid => "valid",
    }
}

/// What anyone sees when checking a code.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Verification {
    pub code: String,
    /// `valid`, `expired`, `cancelled` or `revoked`.
    pub status: String,
    /// True when the registry's Ed25519 signature covers exactly the facts shown.
    pub signature_valid: bool,
    /// True when the signature holds and the certificate is valid today.
    pub verified: bool,
    #[schema(value_type = Object)]
    pub facts: Value,
    pub signature: String,
    /// The registry's public key (hex); also at `/api/v1/public/certificate-key`.
    pub public_key: String,
    /// The canonical text the signature covers.
    pub signed_text: String,
    pub status_reason: Option<String>,
    pub status_changed_on: Option<String>,
    pub checked_on: String,
}

fn verification(app: &AppState, c: &CertificateRecord) -> Verification {
    let today = app.clock.today();
    let signature_valid = registry::signature_holds(app, c);
    let status = status_on(c, today);
    Verification {
        code: c.facts.code.clone(),
        status: status.into(),
        signature_valid,
        verified: signature_valid && status == "valid",
        facts: json!(c.facts),
        signature: c.signature.clone(),
        public_key: hex::encode(app.certificate_signer.verifying_key().to_bytes()),
        signed_text: String::from_utf8_lossy(&c.facts.canonical_bytes()).into_owned(),
        status_reason: c.status_reason.clone(),
        status_changed_on: c.status_changed_on.map(|d| d.to_string()),
        checked_on: today.to_string(),
    }
}

#[utoipa::path(get, path = "/api/v1/public/certificates/{code}", tag = "certificate", params(("code" = String, Path)),
    responses((status = 200, body = Verification), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn verify(
    State(app): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> ApiResult<Json<Verification>> {
    app.authorize(&caller, Action::CertificateVerify, &Resource::platform()).await?;
    let code = parse_code(&code)?;
    let c = load(&app, &code).await?;
    Ok(Json(verification(&app, &c)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublicKey {
    pub algorithm: String,
    pub public_key: String,
    pub canonical_encoding: String,
}

#[utoipa::path(get, path = "/api/v1/public/certificate-key", tag = "certificate", responses((status = 200, body = PublicKey)))]
pub async fn public_key(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<PublicKey>> {
    app.authorize(&caller, Action::CertificateVerify, &Resource::platform()).await?;
    Ok(Json(PublicKey {
        algorithm: "Ed25519".into(),
        public_key: hex::encode(app.certificate_signer.verifying_key().to_bytes()),
        canonical_encoding: "docs/certificates.md".into(),
    }))
}

#[utoipa::path(get, path = "/api/v1/public/announcements", tag = "certificate",
    responses((status = 200, body = [Object])))]
pub async fn announcements(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Announcement>>> {
    app.authorize(&caller, Action::AnnouncementRead, &Resource::platform()).await?;
    let mut conn = app.store.acquire().await?;
    Ok(Json(certificates::announcements(&mut conn, 200).await?))
}

/// A certificate as a workflow object: its status, its deadline (the last valid day) and what
/// the caller may do.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CertificateView {
    pub code: String,
    pub state: String,
    pub deadline: String,
    pub allowed_actions: Vec<String>,
    /// First day renewal may be requested.
    pub renewal_opens_on: Option<String>,
    pub verification: Verification,
    #[schema(value_type = Object)]
    pub versions: Value,
}

fn renewal_opens(app: &AppState, c: &CertificateRecord) -> Option<chrono::NaiveDate> {
    let window = u64::from(app.profile.certificate.renewal_window_calendar_days);
    c.facts.valid_until.checked_sub_days(chrono::Days::new(window))?.succ_opt()
}

async fn view(app: &AppState, caller: &Caller, c: &CertificateRecord) -> ApiResult<CertificateView> {
    let today = app.clock.today();
    let res = resource(c);
    let mut allowed = Vec::new();
    let window = app.profile.certificate.renewal_window_calendar_days;
    if c.status == CertificateStatus::Valid {
        if app.authz.authorize(&caller.principal, Action::CertificateRenew, &res).is_ok()
            && certificate::in_renewal_window(today, c.facts.valid_until, window)
        {
            allowed.push("renew".to_string());
        }
        if app.authz.authorize(&caller.principal, Action::CertificateRevoke, &res).is_ok() {
            allowed.push("revoke".to_string());
        }
    }
    let mut conn = app.store.acquire().await?;
    let versions = certificates::versions(&mut conn, &c.facts.code).await?;
    Ok(CertificateView {
        code: c.facts.code.clone(),
        state: status_on(c, today).into(),
        deadline: c.facts.valid_until.to_string(),
        allowed_actions: allowed,
        renewal_opens_on: renewal_opens(app, c).map(|d| d.to_string()),
        verification: verification(app, c),
        versions: json!(versions),
    })
}

#[utoipa::path(get, path = "/api/v1/certificates", tag = "certificate",
    responses((status = 200, body = [CertificateView]), (status = 403, body = ErrorBody)))]
pub async fn list(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<CertificateView>>> {
    app.authorize(&caller, Action::CertificateList, &Resource::platform()).await?;
    let mut conn = app.store.acquire().await?;
    let all = certificates::list(&mut conn, None).await?;
    drop(conn);
    app.record_access(&caller, Action::CertificateList, "platform:shuyu", json!({ "count": all.len() })).await?;
    let mut out = Vec::new();
    for c in &all {
        out.push(view(&app, &caller, c).await?);
    }
    Ok(Json(out))
}

#[utoipa::path(get, path = "/api/v1/certificates/{code}", tag = "certificate", params(("code" = String, Path)),
    responses((status = 200, body = CertificateView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<CertificateView>> {
    let code = parse_code(&code)?;
    let c = load(&app, &code).await?;
    app.authorize(&caller, Action::CertificateRead, &resource(&c)).await?;
    app.record_access(&caller, Action::CertificateRead, &format!("certificate:{code}"), json!({})).await?;
    Ok(Json(view(&app, &caller, &c).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Renewal {
    years: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Revocation {
    /// YXR §27: `false_material`, `forged_or_tampered`, `misuse`, `other_legal_grounds`.
    ground: String,
    reason: String,
}

const REVOCATION_GROUNDS: &[&str] = &["false_material", "forged_or_tampered", "misuse", "other_legal_grounds"];

#[utoipa::path(post, path = "/api/v1/certificates/{code}/actions/{action}", tag = "certificate",
    params(("code" = String, Path), ("action" = String, Path, description = "renew or revoke")), request_body = Object,
    responses((status = 200, body = CertificateView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn act(
    State(app): State<AppState>,
    caller: Caller,
    Path((code, action)): Path<(String, String)>,
    crate::extract::ApiJson(body): crate::extract::ApiJson<Value>,
) -> ApiResult<Json<CertificateView>> {
    let code = parse_code(&code)?;
    let policy_action = match action.as_str() {
        "renew" => Action::CertificateRenew,
        "revoke" => Action::CertificateRevoke,
        _ => {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_action")
                .with_details(json!({ "allowed": ["renew", "revoke"] })))
        }
    };
    let c = load(&app, &code).await?;
    app.authorize(&caller, policy_action, &resource(&c)).await?;
    let today = app.clock.today();
    let invalid = |field: &str, en: String, zh: &str| ApiError::validation(vec![FieldProblem::new(field, en, zh)]);
    let mut tx = app.begin().await?;
    let mut c = certificates::get(tx.conn(), code.as_str()).await?.ok_or_else(|| ApiError::not_found("certificate"))?;
    if c.status != CertificateStatus::Valid {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
            .with_details(json!({ "action": action, "state": c.status.as_str() })));
    }
    let basis = app.profile.citation("certificate.renewal_window_calendar_days").unwrap_or("YXR §23").to_string();
    match action.as_str() {
        "renew" => {
            let b: Renewal =
                serde_json::from_value(body).map_err(|e| invalid("body", e.to_string(), "请求内容有误"))?;
            let max = app.profile.certificate.renewal_max_years;
            let years = b.years.unwrap_or(max);
            if years == 0 || years > max {
                return Err(invalid("years", format!("1 to {max}"), "续展期限超出规定").with_basis(basis));
            }
            let window = app.profile.certificate.renewal_window_calendar_days;
            if !certificate::in_renewal_window(today, c.facts.valid_until, window) {
                return Err(ApiError::new(StatusCode::CONFLICT, "renewal_window_closed")
                    .with_details(json!({
                        "valid_until": c.facts.valid_until.to_string(),
                        "opens_on": renewal_opens(&app, &c).map(|d| d.to_string()),
                    }))
                    .with_basis(basis));
            }
            let from = c.facts.valid_until.succ_opt().ok_or_else(ApiError::internal)?;
            let until = certificate::valid_until(from, years, c.operation_term_end).ok_or_else(ApiError::internal)?;
            if until <= c.facts.valid_until {
                return Err(ApiError::new(StatusCode::CONFLICT, "operation_term_ended").with_basis(basis));
            }
            c.facts.version += 1;
            c.facts.valid_until = until;
            c.signature = app.certificate_signer.sign_message(&c.facts.canonical_bytes());
            certificates::update(tx.conn(), &c).await?;
            let now = tx.now();
            certificates::add_version(tx.conn(), &c, "renewal", now).await?;
            tx.audit(
                &caller.ctx,
                "certificate.renewed",
                &format!("certificate:{code}"),
                Outcome::Success,
                json!({ "valid_until": until.to_string(), "years": years }),
            )
            .await?;
        }
        _ => {
            let b: Revocation =
                serde_json::from_value(body).map_err(|e| invalid("body", e.to_string(), "请求内容有误"))?;
            if !REVOCATION_GROUNDS.contains(&b.ground.as_str()) {
                return Err(invalid(
                    "ground",
                    format!("one of {}", REVOCATION_GROUNDS.join(", ")),
                    "撤销登记须依据第二十七条所列情形",
                )
                .with_basis("YXR §27"));
            }
            if b.reason.trim().is_empty() {
                return Err(invalid("reason", "required".into(), "撤销登记须说明理由"));
            }
            c.status = CertificateStatus::Revoked;
            c.status_reason = Some(format!("{}: {}", b.ground, b.reason.trim()));
            c.status_changed_on = Some(today);
            certificates::update(tx.conn(), &c).await?;
            let a = Announcement {
                id: uuid::Uuid::now_v7().to_string(),
                kind: "certificate_revoked".into(),
                certificate_code: Some(code.to_string()),
                title: format!("撤销登记公告：{code}"),
                body: format!(
                    "“{}”（持有主体：{}）的登记经核实予以撤销，电子凭证 {code} 自 {today} 起失效。",
                    c.facts.subject_name, c.facts.holder
                ),
                published_on: today.to_string(),
            };
            let now = tx.now();
            certificates::announce(tx.conn(), &a, now).await?;
            tx.audit(
                &caller.ctx,
                "certificate.revoked",
                &format!("certificate:{code}"),
                Outcome::Success,
                json!({ "ground": b.ground, "reason": b.reason.trim() }),
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(Json(view(&app, &caller, &c).await?))
}
