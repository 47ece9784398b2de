//! Operators and authorization API (SPEC §3): programmes approved twice and immutable,
//! announcements with deadlines, applications checked for eligibility with the failed rules
//! named, agreements capped by the profile's term with a renewal window, the authority's lists,
//! and suspension / termination of an organisation.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shuyu_audit::Outcome;
use shuyu_authz::{Action, Resource};
use shuyu_core::ids::{AttachmentId, OrgId};
use shuyu_core::operators::{
    eligibility, in_renewal_window, renewal_opens, term_end, Declarations, Failed, OrgStatus, ProgrammeContent,
    ProgrammeState, Standing as Listing,
};
use shuyu_core::roles::OrgKind;
use shuyu_store::operators::{self, AgreementRecord, Announcement, OperatorApplication, ProgrammeRecord, Standing};
use shuyu_store::{attachments, organisations, sessions, timers};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldProblem};
use crate::extract::{parse_body, ApiJson};
use crate::state::AppState;

/// Failed rules as one error: each rule with its problem and article; the first article as basis.
fn refused(code: &str, status: StatusCode, failed: &[Failed]) -> ApiError {
    let err = ApiError::new(status, code).with_details(json!({ "failed": failed }));
    match failed.iter().find_map(|f| f.basis.clone()) {
        Some(b) => err.with_basis(b),
        None => err,
    }
}

fn not_allowed(action: &str, state: &str) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "action_not_allowed").with_details(json!({ "action": action, "state": state }))
}

// ---------------------------------------------------------------- programmes

fn programme_resource(p: &ProgrammeRecord) -> Resource {
    Resource::owned("Programme", p.id.clone(), p.owner_org)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProgrammeView {
    pub id: String,
    pub version: i64,
    pub supersedes: Option<String>,
    pub state: String,
    pub allowed_actions: Vec<String>,
    #[schema(value_type = Object)]
    pub content: Value,
    pub decision_record: Option<String>,
    pub approved_on: Option<String>,
}

fn programme_view(app: &AppState, caller: &Caller, p: &ProgrammeRecord) -> ProgrammeView {
    let res = programme_resource(p);
    let can = |a: Action| app.authz.authorize(&caller.principal, a, &res).is_ok();
    let mut allowed = Vec::new();
    match p.state {
        ProgrammeState::Draft if can(Action::ProgrammeEdit) => allowed.push("submit"),
        ProgrammeState::AgencyReview if can(Action::ProgrammeAgencyReview) => allowed.extend(["approve", "reject"]),
        ProgrammeState::AuthorityReview if can(Action::ProgrammeAuthorityReview) => {
            allowed.extend(["approve", "reject"])
        }
        ProgrammeState::Approved if can(Action::ProgrammeEdit) => allowed.push("amend"),
        _ => {}
    }
    ProgrammeView {
        id: p.id.clone(),
        version: p.version,
        supersedes: p.supersedes.clone(),
        state: p.state.as_str().into(),
        allowed_actions: allowed.into_iter().map(String::from).collect(),
        content: p.content.clone(),
        decision_record: p.decision_record.clone(),
        approved_on: p.approved_on.map(|d| d.to_string()),
    }
}

/// Checks content and that every entry in scope may be authorized (WX §2, YXO §18).
async fn check_programme(app: &AppState, content: &ProgrammeContent) -> ApiResult<()> {
    let mut failed = content.check(&app.profile.agreement);
    for (i, entry) in content.data_scope.iter().enumerate() {
        if let Err(e) = crate::catalogue::check_authorizable(app, entry).await {
            failed.push(Failed {
                rule: "outside_catalogue",
                field: "data_scope",
                problem: format!("data_scope[{i}] {entry}: {}", e.body.details["reason"].as_str().unwrap_or("")),
                basis: e.body.basis.clone(),
            });
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(refused("programme_invalid", StatusCode::UNPROCESSABLE_ENTITY, &failed))
    }
}

#[utoipa::path(post, path = "/api/v1/programmes", tag = "operators", request_body = Object,
    responses((status = 201, body = ProgrammeView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_programme(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<ProgrammeView>)> {
    app.authorize(&caller, Action::ProgrammeCreate, &Resource::platform()).await?;
    let user = caller.require_user()?.clone();
    let content: ProgrammeContent = parse_body(body.clone())?;
    check_programme(&app, &content).await?;
    let p = ProgrammeRecord {
        id: uuid::Uuid::now_v7().to_string(),
        version: 1,
        supersedes: None,
        owner_org: user.org_id,
        state: ProgrammeState::Draft,
        content: body,
        decision_record: None,
        submitted_on: None,
        approved_on: None,
        created_at: app.clock.now(),
    };
    let mut tx = app.begin().await?;
    operators::insert_programme(tx.conn(), &p).await?;
    tx.audit(
        &caller.ctx,
        "programme.created",
        &format!("programme:{}", p.id),
        Outcome::Success,
        json!({ "name": content.name }),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(programme_view(&app, &caller, &p))))
}

#[utoipa::path(get, path = "/api/v1/programmes", tag = "operators", responses((status = 200, body = [ProgrammeView])))]
pub async fn list_programmes(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<ProgrammeView>>> {
    app.authorize(&caller, Action::ProgrammeRead, &Resource::platform()).await?;
    let all = operators::list_programmes(&mut *app.store.acquire().await?).await?;
    app.record_access(&caller, Action::ProgrammeRead, "platform:shuyu", json!({ "count": all.len() })).await?;
    Ok(Json(all.iter().map(|p| programme_view(&app, &caller, p)).collect()))
}

#[utoipa::path(get, path = "/api/v1/programmes/{id}", tag = "operators", params(("id" = String, Path)),
    responses((status = 200, body = ProgrammeView), (status = 404, body = ErrorBody)))]
pub async fn get_programme(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ProgrammeView>> {
    app.authorize(&caller, Action::ProgrammeRead, &Resource::platform()).await?;
    let p = operators::get_programme(&mut *app.store.acquire().await?, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("programme"))?;
    app.record_access(&caller, Action::ProgrammeRead, &format!("programme:{id}"), json!({})).await?;
    Ok(Json(programme_view(&app, &caller, &p)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProgrammeDecision {
    /// The collective decision record (三重一大) the authority's approval refers to.
    #[serde(default)]
    decision_record: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    /// For `amend`: the new version's content.
    #[serde(default)]
    content: Option<Value>,
}

#[utoipa::path(post, path = "/api/v1/programmes/{id}/actions/{action}", tag = "operators",
    params(("id" = String, Path), ("action" = String, Path, description = "submit, approve, reject, amend")), request_body = Object,
    responses((status = 200, body = ProgrammeView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn act_programme(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, action)): Path<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<ProgrammeView>> {
    let p = operators::get_programme(&mut *app.store.acquire().await?, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("programme"))?;
    let policy = match (action.as_str(), p.state) {
        ("submit" | "amend", _) => Action::ProgrammeEdit,
        ("approve" | "reject", ProgrammeState::AuthorityReview) => Action::ProgrammeAuthorityReview,
        ("approve" | "reject", _) => Action::ProgrammeAgencyReview,
        _ => {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_action")
                .with_details(json!({ "allowed": ["submit", "approve", "reject", "amend"] })))
        }
    };
    app.authorize(&caller, policy, &programme_resource(&p)).await?;
    let b: ProgrammeDecision = parse_body(body)?;
    let today = app.clock.today();
    let mut tx = app.begin().await?;
    let mut p = operators::get_programme(tx.conn(), &id).await?.ok_or_else(|| ApiError::not_found("programme"))?;
    if action == "amend" {
        // YXO §15: an approved programme is never edited; a material change is a new version
        // that goes through both approvals again.
        if p.state != ProgrammeState::Approved {
            return Err(not_allowed("amend", p.state.as_str()).with_basis("YXO §15"));
        }
        let content_value = b.content.ok_or_else(|| {
            ApiError::validation(vec![FieldProblem::new(
                "content",
                "the new version's content",
                "请提交新版本方案内容",
            )])
        })?;
        let content: ProgrammeContent = parse_body(content_value.clone())?;
        check_programme(&app, &content).await?;
        let next = ProgrammeRecord {
            id: uuid::Uuid::now_v7().to_string(),
            version: p.version + 1,
            supersedes: Some(p.id.clone()),
            owner_org: p.owner_org,
            state: ProgrammeState::Draft,
            content: content_value,
            decision_record: None,
            submitted_on: None,
            approved_on: None,
            created_at: tx.now(),
        };
        operators::insert_programme(tx.conn(), &next).await?;
        tx.audit(
            &caller.ctx,
            "programme.amended",
            &format!("programme:{}", next.id),
            Outcome::Success,
            json!({ "supersedes": p.id }),
        )
        .await?;
        tx.commit().await?;
        return Ok(Json(programme_view(&app, &caller, &next)));
    }
    let next = p.state.after(&action).ok_or_else(|| not_allowed(&action, p.state.as_str()))?;
    if next == ProgrammeState::Approved {
        match b.decision_record.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(r) => p.decision_record = Some(r.to_string()),
            None => {
                return Err(ApiError::validation(vec![FieldProblem::new(
                    "decision_record",
                    "the collective decision record (三重一大) of the approval",
                    "须注明“三重一大”集体决策记录",
                )])
                .with_basis("YXO §15"))
            }
        }
        p.approved_on = Some(today);
    }
    if action == "reject" && b.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(ApiError::validation(vec![FieldProblem::new("reason", "required", "请说明退回理由")]));
    }
    if next == ProgrammeState::AgencyReview {
        p.submitted_on = Some(today);
    }
    p.state = next;
    let now = tx.now();
    operators::update_programme(tx.conn(), &p, now).await?;
    if next == ProgrammeState::Approved {
        if let Some(old) = p.supersedes.clone() {
            if let Some(mut prev) = operators::get_programme(tx.conn(), &old).await? {
                prev.state = ProgrammeState::Superseded;
                operators::update_programme(tx.conn(), &prev, now).await?;
            }
        }
    }
    tx.audit(
        &caller.ctx,
        &format!("programme.{action}"),
        &format!("programme:{id}"),
        Outcome::Success,
        json!({ "state": p.state.as_str(), "reason": b.reason, "decision_record": p.decision_record }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(programme_view(&app, &caller, &p)))
}

// ---------------------------------------------------------------- announcements and applications

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAnnouncement {
    programme_id: String,
    title: String,
    opens_on: NaiveDate,
    closes_on: NaiveDate,
}

#[utoipa::path(post, path = "/api/v1/announcements", tag = "operators", request_body = Object,
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_announcement(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Announcement>)> {
    app.authorize(&caller, Action::AnnouncementCreate, &Resource::platform()).await?;
    let b: NewAnnouncement = parse_body(body)?;
    if b.title.trim().is_empty() || b.closes_on < b.opens_on {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "closes_on",
            "a title, and a closing date on or after the opening date",
            "请填写标题，截止日期不得早于开始日期",
        )]));
    }
    let p = operators::get_programme(&mut *app.store.acquire().await?, &b.programme_id)
        .await?
        .ok_or_else(|| ApiError::not_found("programme"))?;
    if p.state != ProgrammeState::Approved {
        return Err(not_allowed("announce", p.state.as_str()).with_basis("YXO §15"));
    }
    let a = Announcement {
        id: uuid::Uuid::now_v7().to_string(),
        programme_id: p.id,
        title: b.title.trim().to_string(),
        opens_on: b.opens_on,
        closes_on: b.closes_on,
        results_from: None,
        results_until: None,
    };
    let mut tx = app.begin().await?;
    let now = tx.now();
    operators::insert_announcement(tx.conn(), &a, now).await?;
    tx.audit(
        &caller.ctx,
        "announcement.published",
        &format!("announcement:{}", a.id),
        Outcome::Success,
        json!({ "closes_on": a.closes_on }),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(a)))
}

#[utoipa::path(get, path = "/api/v1/public/announcements/operators", tag = "operators", responses((status = 200, body = [Object])))]
pub async fn list_announcements(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Announcement>>> {
    app.authorize(&caller, Action::OperatorAnnouncementRead, &Resource::platform()).await?;
    Ok(Json(operators::list_announcements(&mut *app.store.acquire().await?).await?))
}

/// JS §12: what an application carries.
pub const APPLICATION_MATERIALS: &[&str] =
    &["application_form", "audit_report", "financial_report", "security_commitment", "risk_self_assessment"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewApplication {
    declarations: Declarations,
    #[serde(default)]
    materials: Vec<crate::routes::registrations::MaterialRef>,
}

#[utoipa::path(post, path = "/api/v1/announcements/{id}/applications", tag = "operators", params(("id" = String, Path)),
    request_body = Object,
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn apply(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    app.authorize(&caller, Action::OperatorApply, &Resource::platform()).await?;
    let user = caller.require_user()?.clone();
    let b: NewApplication = parse_body(body)?;
    let mut c = app.store.acquire().await?;
    let a = operators::get_announcement(&mut c, &id).await?.ok_or_else(|| ApiError::not_found("announcement"))?;
    let today = app.clock.today();
    if today < a.opens_on || today > a.closes_on {
        return Err(ApiError::new(StatusCode::CONFLICT, "applications_closed")
            .with_details(json!({ "opens_on": a.opens_on, "closes_on": a.closes_on }))
            .with_basis(app.profile.citation("operators.eligibility").unwrap_or("WX §9")));
    }
    // Materials: each JS §12 item, uploaded by the applicant, with its SHA-256.
    let mut materials = Vec::new();
    let mut problems = Vec::new();
    for key in APPLICATION_MATERIALS {
        let found = match b.materials.iter().find(|m| m.key == *key) {
            Some(m) => match m.attachment_id.parse::<AttachmentId>() {
                Ok(aid) => attachments::get(&mut c, aid).await?.filter(|x| x.org_id == user.org_id),
                Err(_) => None,
            },
            None => None,
        };
        match found {
            Some(x) => materials.push(json!({ "key": key, "attachment_id": x.id.to_string(), "sha256": x.sha256 })),
            None => problems.push(FieldProblem::new(
                "materials",
                format!("{key} is missing"),
                format!("缺少申请材料：{key}"),
            )),
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::validation(problems).with_basis("JS §12"));
    }
    let org = organisations::get(&mut c, user.org_id).await?.ok_or_else(|| ApiError::not_found("organisation"))?;
    let lists = match &org.uscc {
        Some(u) => operators::lists_of(&mut c, u).await?,
        None => Vec::new(),
    };
    let standing = Listing {
        dishonest_debtor: lists.iter().any(|l| l == "dishonest_debtor"),
        major_tax_violation: lists.iter().any(|l| l == "major_tax_violation"),
        last_revocation: operators::last_revocation(&mut c, user.org_id).await?,
    };
    drop(c);
    let failed = eligibility(&b.declarations, &standing, today, &app.profile.operators, |k| {
        app.profile.citation(k).map(str::to_string)
    });
    if !failed.is_empty() {
        app.store
            .record(
                app.clock.now(),
                &caller.ctx,
                "operator.application_refused",
                &format!("announcement:{id}"),
                Outcome::Denied,
                json!({ "failed": failed.iter().map(|f| f.rule).collect::<Vec<_>>() }),
            )
            .await?;
        return Err(refused("ineligible", StatusCode::UNPROCESSABLE_ENTITY, &failed));
    }
    let application = OperatorApplication {
        id: uuid::Uuid::now_v7().to_string(),
        announcement_id: id.clone(),
        applicant_org: user.org_id,
        applicant_user: user.id,
        declarations: serde_json::to_value(&b.declarations).map_err(|_| ApiError::internal())?,
        materials: Value::Array(materials),
        state: "eligible".into(),
        submitted_on: today,
    };
    let mut tx = app.begin().await?;
    let now = tx.now();
    operators::insert_application(tx.conn(), &application, now).await?;
    tx.audit(
        &caller.ctx,
        "operator.applied",
        &format!("operator_application:{}", application.id),
        Outcome::Success,
        json!({ "announcement": id }),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": application.id, "state": application.state }))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListImport {
    /// `dishonest_debtor` or `major_tax_violation`.
    list: String,
    /// CSV with a `uscc` column (the first column when there is no header).
    csv: String,
    source: String,
}

#[utoipa::path(post, path = "/api/v1/operator-lists", tag = "operators", request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import_list(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    app.authorize(&caller, Action::OperatorListImport, &Resource::platform()).await?;
    let b: ListImport = parse_body(body)?;
    if !matches!(b.list.as_str(), "dishonest_debtor" | "major_tax_violation") {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "list",
            "dishonest_debtor or major_tax_violation",
            "名单类型有误",
        )]));
    }
    let mut usccs = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in b.csv.lines().enumerate() {
        let first = line.split(',').next().unwrap_or("").trim().trim_matches('"');
        if first.is_empty() || (i == 0 && first.eq_ignore_ascii_case("uscc")) {
            continue;
        }
        match first.parse::<shuyu_core::validators::Uscc>() {
            Ok(u) => usccs.push(u.as_str().to_string()),
            Err(e) => {
                problems.push(FieldProblem::new(&format!("csv line {}", i + 1), e.to_string(), "统一社会信用代码有误"))
            }
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    let mut tx = app.begin().await?;
    let now = tx.now();
    let n = operators::replace_list(tx.conn(), &b.list, &usccs, &b.source, now).await?;
    tx.audit(
        &caller.ctx,
        "operator.list_imported",
        "platform:shuyu",
        Outcome::Success,
        json!({ "list": b.list, "count": n, "source": b.source }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({ "list": b.list, "count": n })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevocationRecord {
    revoked_on: NaiveDate,
    reason: String,
}

#[utoipa::path(post, path = "/api/v1/organisations/{id}/revocations", tag = "operators", params(("id" = String, Path)),
    request_body = Object, responses((status = 201, body = Object), (status = 403, body = ErrorBody)))]
pub async fn record_revocation(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let org: OrgId = id.parse().map_err(|_| ApiError::not_found("organisation"))?;
    app.authorize(&caller, Action::OperatorSupervise, &Resource::organisation(org)).await?;
    let b: RevocationRecord = parse_body(body)?;
    if b.reason.trim().is_empty() {
        return Err(ApiError::validation(vec![FieldProblem::new("reason", "required", "请说明撤销原因")]));
    }
    let mut tx = app.begin().await?;
    let now = tx.now();
    operators::record_revocation(tx.conn(), org, b.revoked_on, b.reason.trim(), now).await?;
    tx.audit(
        &caller.ctx,
        "operator.revocation_recorded",
        &org.resource(),
        Outcome::Success,
        json!({ "revoked_on": b.revoked_on }),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(json!({ "organisation": org.to_string(), "revoked_on": b.revoked_on }))))
}

// ---------------------------------------------------------------- agreements

fn agreement_resource(a: &AgreementRecord) -> Resource {
    Resource::owned("Agreement", a.id.clone(), a.operator_org).with_org("provider", a.agency_org)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgreementView {
    pub id: String,
    pub programme_id: String,
    pub operator_org: String,
    pub state: String,
    /// The last valid day, the agreement's deadline.
    pub deadline: String,
    pub valid_from: String,
    pub term_years: u32,
    pub renewal_opens_on: Option<String>,
    pub allowed_actions: Vec<String>,
    #[schema(value_type = Object)]
    pub content: Value,
    pub agency_signed_on: Option<String>,
    pub operator_signed_on: Option<String>,
    pub filed_on: Option<String>,
}

fn agreement_view(app: &AppState, caller: &Caller, a: &AgreementRecord) -> AgreementView {
    let res = agreement_resource(a);
    let can = |x: Action| app.authz.authorize(&caller.principal, x, &res).is_ok();
    let today = app.clock.today();
    let mut allowed = Vec::new();
    if a.state == "draft" {
        if a.agency_signed_on.is_none() && can(Action::AgreementSignAgency) {
            allowed.push("sign");
        }
        if a.operator_signed_on.is_none() && can(Action::AgreementSignOperator) {
            allowed.push("sign");
        }
    }
    if a.state == "signed" && can(Action::AgreementFile) {
        allowed.push("file");
    }
    if a.state == "filed"
        && can(Action::AgreementRenew)
        && in_renewal_window(today, a.valid_until, &app.profile.agreement)
    {
        allowed.push("renew");
    }
    allowed.dedup();
    AgreementView {
        id: a.id.clone(),
        programme_id: a.programme_id.clone(),
        operator_org: a.operator_org.to_string(),
        state: a.state.clone(),
        deadline: a.valid_until.to_string(),
        valid_from: a.valid_from.to_string(),
        term_years: a.term_years,
        renewal_opens_on: renewal_opens(a.valid_until, &app.profile.agreement).map(|d| d.to_string()),
        allowed_actions: allowed.into_iter().map(String::from).collect(),
        content: a.content.clone(),
        agency_signed_on: a.agency_signed_on.map(|d| d.to_string()),
        operator_signed_on: a.operator_signed_on.map(|d| d.to_string()),
        filed_on: a.filed_on.map(|d| d.to_string()),
    }
}

/// JS §10, YXO §17: what an agreement says, as structured fields.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct AgreementContent {
    scope: String,
    catalogue_entries: Vec<String>,
    products: Vec<String>,
    product_review: String,
    platform: String,
    asset_ownership: String,
    disclosure: String,
    revenue_split: shuyu_core::operators::RevenueSplit,
    cost_accounting: String,
    security_duties: String,
    evaluation: String,
    renewal_and_exit: String,
    liability: String,
    disputes: String,
    change_and_termination: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAgreement {
    programme_id: String,
    operator_org: String,
    term_years: u32,
    valid_from: NaiveDate,
    content: AgreementContent,
}

fn term_refusal(app: &AppState, years: u32) -> Option<ApiError> {
    let max = app.profile.agreement.term_max_years;
    (years == 0 || years > max).then(|| {
        ApiError::validation(vec![FieldProblem::new(
            "term_years",
            format!("from 1 to {max} years under the {} profile", app.profile.name),
            format!("授权运营期限不得超过{max}年"),
        )])
        .with_basis(app.profile.citation("agreement.term_max_years").unwrap_or("WX §11"))
    })
}

#[utoipa::path(post, path = "/api/v1/agreements", tag = "operators", request_body = Object,
    responses((status = 201, body = AgreementView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_agreement(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<AgreementView>)> {
    app.authorize(&caller, Action::AgreementCreate, &Resource::platform()).await?;
    let user = caller.require_user()?.clone();
    let b: NewAgreement = parse_body(body)?;
    if let Some(e) = term_refusal(&app, b.term_years) {
        return Err(e);
    }
    let operator: OrgId = b.operator_org.parse().map_err(|_| {
        ApiError::validation(vec![FieldProblem::new("operator_org", "an organisation id", "运营机构编号有误")])
    })?;
    let mut c = app.store.acquire().await?;
    let org = organisations::get(&mut c, operator).await?.filter(|o| o.kind == OrgKind::Operator).ok_or_else(|| {
        ApiError::validation(vec![FieldProblem::new("operator_org", "not an operator organisation", "不是运营机构")])
    })?;
    let p = operators::get_programme(&mut c, &b.programme_id).await?.ok_or_else(|| ApiError::not_found("programme"))?;
    if p.state != ProgrammeState::Approved {
        return Err(not_allowed("agree", p.state.as_str()).with_basis("YXO §16"));
    }
    // YXO §16: the agreement follows a selection whose publicity is over with no open objection.
    let today = app.clock.today();
    let selection = operators::selected_application(&mut c, &p.id, org.id).await?;
    let final_selection = match &selection {
        Some((_, n)) => {
            let over = n.results_until.is_some_and(|u| today > u);
            let open = operators::objections_for(&mut c, &n.id).await?.iter().any(|x| x.state == "open");
            over && !open
        }
        None => false,
    };
    drop(c);
    if !final_selection {
        return Err(ApiError::new(StatusCode::CONFLICT, "selection_not_final")
            .with_details(json!({ "operator": org.id.to_string(), "programme": p.id }))
            .with_basis("YXO §16"));
    }
    let valid_until = term_end(b.valid_from, b.term_years).ok_or_else(ApiError::internal)?;
    let a = AgreementRecord {
        id: uuid::Uuid::now_v7().to_string(),
        programme_id: p.id,
        operator_org: org.id,
        agency_org: user.org_id,
        content: serde_json::to_value(&b.content).map_err(|_| ApiError::internal())?,
        term_years: b.term_years,
        valid_from: b.valid_from,
        valid_until,
        state: "draft".into(),
        agency_signed_on: None,
        operator_signed_on: None,
        filed_on: None,
    };
    let mut tx = app.begin().await?;
    let now = tx.now();
    operators::insert_agreement(tx.conn(), &a, now).await?;
    tx.audit(
        &caller.ctx,
        "agreement.drafted",
        &format!("agreement:{}", a.id),
        Outcome::Success,
        json!({ "operator": org.id.to_string(), "term_years": a.term_years, "valid_until": valid_until }),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(agreement_view(&app, &caller, &a))))
}

#[utoipa::path(get, path = "/api/v1/agreements/{id}", tag = "operators", params(("id" = String, Path)),
    responses((status = 200, body = AgreementView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_agreement(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<AgreementView>> {
    let a = operators::get_agreement(&mut *app.store.acquire().await?, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("agreement"))?;
    app.authorize(&caller, Action::AgreementRead, &agreement_resource(&a)).await?;
    app.record_access(&caller, Action::AgreementRead, &format!("agreement:{id}"), json!({})).await?;
    Ok(Json(agreement_view(&app, &caller, &a)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenewBody {
    years: u32,
}

#[utoipa::path(post, path = "/api/v1/agreements/{id}/actions/{action}", tag = "operators",
    params(("id" = String, Path), ("action" = String, Path, description = "sign, file, renew")), request_body = Object,
    responses((status = 200, body = AgreementView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn act_agreement(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, action)): Path<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<AgreementView>> {
    let a = operators::get_agreement(&mut *app.store.acquire().await?, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("agreement"))?;
    let res = agreement_resource(&a);
    let today = app.clock.today();
    let policy = match action.as_str() {
        "sign" if app.authz.authorize(&caller.principal, Action::AgreementSignAgency, &res).is_ok() => {
            Action::AgreementSignAgency
        }
        "sign" => Action::AgreementSignOperator,
        "file" => Action::AgreementFile,
        "renew" => Action::AgreementRenew,
        _ => {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_action")
                .with_details(json!({ "allowed": ["sign", "file", "renew"] })))
        }
    };
    app.authorize(&caller, policy, &res).await?;
    let mut tx = app.begin().await?;
    let mut a = operators::get_agreement(tx.conn(), &id).await?.ok_or_else(|| ApiError::not_found("agreement"))?;
    let mut details = json!({});
    match (policy, a.state.as_str()) {
        (Action::AgreementSignAgency, "draft") => a.agency_signed_on = Some(today),
        (Action::AgreementSignOperator, "draft") => a.operator_signed_on = Some(today),
        (Action::AgreementFile, "signed") => {
            a.state = "filed".into();
            a.filed_on = Some(today);
        }
        (Action::AgreementRenew, "filed") => {
            let b: RenewBody = parse_body(body)?;
            if let Some(e) = term_refusal(&app, b.years) {
                return Err(e);
            }
            if !in_renewal_window(today, a.valid_until, &app.profile.agreement) {
                return Err(ApiError::new(StatusCode::CONFLICT, "renewal_window_closed")
                    .with_details(json!({
                        "valid_until": a.valid_until,
                        "opens_on": renewal_opens(a.valid_until, &app.profile.agreement),
                    }))
                    .with_basis(app.profile.citation("agreement.reapply_months_before_expiry").unwrap_or("WX §10")));
            }
            let from = a.valid_until.succ_opt().ok_or_else(ApiError::internal)?;
            a.valid_until = term_end(from, b.years).ok_or_else(ApiError::internal)?;
            a.term_years = b.years;
            details = json!({ "valid_until": a.valid_until });
        }
        (_, state) => return Err(not_allowed(&action, state)),
    }
    if a.state == "draft" && a.agency_signed_on.is_some() && a.operator_signed_on.is_some() {
        a.state = "signed".into();
    }
    let now = tx.now();
    operators::update_agreement(tx.conn(), &a, now).await?;
    tx.audit(&caller.ctx, &format!("agreement.{action}"), &format!("agreement:{id}"), Outcome::Success, details)
        .await?;
    tx.commit().await?;
    Ok(Json(agreement_view(&app, &caller, &a)))
}

// ---------------------------------------------------------------- supervision of organisations

/// Ends an organisation's authorization inside `tx` (JS §23: at once): every session of its
/// people, every agreement, any pending rectification deadline; records the revocation that bars
/// re-application; sets the standing. Returns the number of sessions ended.
pub(crate) async fn terminate_in(
    tx: &mut shuyu_store::WriteTx,
    org: OrgId,
    reason: &str,
    today: NaiveDate,
) -> ApiResult<u64> {
    let now = tx.now();
    timers::set(tx.conn(), crate::operators::ORGANISATION, &org.to_string(), None).await?;
    let ended = sessions::revoke_all_in_org(tx.conn(), org).await?;
    for mut agreement in operators::list_agreements(tx.conn(), Some(org)).await? {
        if agreement.state != "terminated" && agreement.state != "expired" {
            agreement.state = "terminated".into();
            operators::update_agreement(tx.conn(), &agreement, now).await?;
        }
    }
    operators::record_revocation(tx.conn(), org, today, reason, now).await?;
    let standing = Standing { status: OrgStatus::Terminated, reason: Some(reason.to_string()), rectify_by: None };
    operators::set_standing(tx.conn(), org, &standing).await?;
    Ok(ended)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Supervision {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    rectify_by: Option<NaiveDate>,
    #[serde(default)]
    rectification: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/organisations/{id}/actions/{action}", tag = "operators",
    params(("id" = String, Path), ("action" = String, Path, description = "suspend, submit_rectification, accept_rectification, terminate")),
    request_body = Object, responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn supervise(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, action)): Path<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let org: OrgId = id.parse().map_err(|_| ApiError::not_found("organisation"))?;
    let res = Resource::owned("Organisation", org.to_string(), org);
    let policy = match action.as_str() {
        "suspend" | "accept_rectification" | "terminate" => Action::OperatorSupervise,
        "submit_rectification" => Action::OperatorRectify,
        _ => {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_action").with_details(
                json!({ "allowed": ["suspend", "submit_rectification", "accept_rectification", "terminate"] }),
            ))
        }
    };
    app.authorize(&caller, policy, &res).await?;
    let b: Supervision = parse_body(body)?;
    let basis = app.profile.citation("operators.suspension").unwrap_or("WX §10").to_string();
    let today = app.clock.today();
    let mut tx = app.begin().await?;
    let mut s = operators::standing(tx.conn(), org).await?;
    let reason = b.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()).map(str::to_string);
    let mut details = json!({ "reason": reason });
    match (action.as_str(), s.status) {
        ("suspend", OrgStatus::Active) => {
            let (reason, by) = suspension_terms(reason.clone(), b.rectify_by, today, &basis)?;
            s = Standing { status: OrgStatus::Suspended, reason: Some(reason), rectify_by: Some(by) };
            details["rectify_by"] = json!(by);
            set_rectification_timer(&mut tx, org, by).await?;
        }
        ("submit_rectification", OrgStatus::Suspended) => {
            let text = b.rectification.as_deref().map(str::trim).filter(|r| !r.is_empty()).ok_or_else(|| {
                ApiError::validation(vec![FieldProblem::new(
                    "rectification",
                    "describe the rectification",
                    "请提交整改情况",
                )])
            })?;
            details = json!({ "rectification": text });
        }
        ("accept_rectification", OrgStatus::Suspended) => {
            s = Standing { status: OrgStatus::Active, reason: None, rectify_by: None };
            timers::set(tx.conn(), crate::operators::ORGANISATION, &org.to_string(), None).await?;
        }
        ("terminate", OrgStatus::Active | OrgStatus::Suspended) => {
            let Some(reason) = reason.clone() else {
                return Err(ApiError::validation(vec![FieldProblem::new("reason", "required", "终止须说明理由")])
                    .with_basis(basis));
            };
            s = Standing { status: OrgStatus::Terminated, reason: Some(reason.clone()), rectify_by: None };
            let ended = terminate_in(&mut tx, org, &reason, today).await?;
            details["sessions_ended"] = json!(ended);
        }
        (_, status) => return Err(not_allowed(&action, status.as_str())),
    }
    operators::set_standing(tx.conn(), org, &s).await?;
    tx.audit(&caller.ctx, &format!("organisation.{action}"), &org.resource(), Outcome::Success, details).await?;
    tx.commit().await?;
    if matches!(s.status, OrgStatus::Suspended | OrgStatus::Terminated) {
        // Seal or destroy the operator's workspaces now rather than at the next scheduler tick
        // (JS §23); the scheduler finishes anything this leaves.
        if let Err(e) = crate::sandbox::run(&app, app.clock.today()).await {
            tracing::warn!(code = %e.body.code, "sandbox follow-up of a status change");
        }
    }
    Ok(Json(json!({
        "organisation": org.to_string(),
        "status": s.status.as_str(),
        "reason": s.reason,
        "rectify_by": s.rectify_by,
    })))
}

/// WX §10: a suspension needs a reason and a rectification deadline after today.
pub(crate) fn suspension_terms(
    reason: Option<String>,
    rectify_by: Option<NaiveDate>,
    today: NaiveDate,
    basis: &str,
) -> ApiResult<(String, NaiveDate)> {
    match (reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty()), rectify_by.filter(|d| *d > today)) {
        (Some(reason), Some(by)) => Ok((reason, by)),
        _ => Err(ApiError::validation(vec![FieldProblem::new(
            "rectify_by",
            "a reason and a rectification deadline after today",
            "暂停须说明理由并给出整改期限",
        )])
        .with_basis(basis)),
    }
}

/// The rectification deadline escalates to the authority when the operator lets it pass.
pub(crate) async fn set_rectification_timer(tx: &mut shuyu_store::WriteTx, org: OrgId, by: NaiveDate) -> ApiResult<()> {
    let timer = shuyu_core::workflow::Timer {
        due_on: by,
        awaiting: "operator",
        expiry: shuyu_core::workflow::Expiry::Escalate,
    };
    timers::set(tx.conn(), crate::operators::ORGANISATION, &org.to_string(), Some(&timer)).await?;
    Ok(())
}

// ---------------------------------------------------------------- expert review and results

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApplicationSummary {
    pub id: String,
    pub applicant_org: String,
    pub applicant: String,
    pub state: String,
    pub submitted_on: String,
    #[schema(value_type = Object)]
    pub scores: Vec<operators::Score>,
    pub average: Option<f64>,
}

#[utoipa::path(get, path = "/api/v1/announcements/{id}/applications", tag = "operators", params(("id" = String, Path)),
    responses((status = 200, body = [ApplicationSummary]), (status = 403, body = ErrorBody)))]
pub async fn list_applications(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ApplicationSummary>>> {
    app.authorize(&caller, Action::OperatorReviewRead, &Resource::platform()).await?;
    let mut c = app.store.acquire().await?;
    let apps = operators::list_applications(&mut c, &id).await?;
    let orgs = organisations::list(&mut c).await?;
    let mut out = Vec::new();
    for a in &apps {
        let scores = operators::scores(&mut c, &a.id).await?;
        let average =
            (!scores.is_empty()).then(|| scores.iter().map(|s| s.score as f64).sum::<f64>() / scores.len() as f64);
        out.push(ApplicationSummary {
            id: a.id.clone(),
            applicant_org: a.applicant_org.to_string(),
            applicant: orgs.iter().find(|o| o.id == a.applicant_org).map(|o| o.name.clone()).unwrap_or_default(),
            state: a.state.clone(),
            submitted_on: a.submitted_on.to_string(),
            scores,
            average,
        });
    }
    drop(c);
    app.record_access(
        &caller,
        Action::OperatorReviewRead,
        &format!("announcement:{id}"),
        json!({ "count": out.len() }),
    )
    .await?;
    Ok(Json(out))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoreBody {
    score: i64,
    comments: String,
    /// The expert declares no conflict of interest with the applicant; otherwise they recuse.
    no_conflict_of_interest: bool,
}

#[utoipa::path(post, path = "/api/v1/operator-applications/{id}/scores", tag = "operators", params(("id" = String, Path)),
    request_body = Object, responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn score(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    app.authorize(&caller, Action::OperatorScore, &Resource::platform()).await?;
    let user = caller.require_user()?.clone();
    let b: ScoreBody = parse_body(body)?;
    if !b.no_conflict_of_interest {
        return Err(
            ApiError::new(StatusCode::CONFLICT, "conflict_of_interest").with_details(json!({ "application": id }))
        );
    }
    if !(0..=100).contains(&b.score) || b.comments.trim().is_empty() {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "score",
            "0 to 100, with comments",
            "评分为0至100分，并填写评审意见",
        )]));
    }
    let mut tx = app.begin().await?;
    let a = operators::get_application(tx.conn(), &id).await?.ok_or_else(|| ApiError::not_found("application"))?;
    if a.state != "eligible" {
        return Err(not_allowed("score", &a.state));
    }
    let now = tx.now();
    operators::insert_score(tx.conn(), &id, user.id, b.score, b.comments.trim(), now).await?;
    tx.audit(
        &caller.ctx,
        "operator.scored",
        &format!("operator_application:{id}"),
        Outcome::Success,
        json!({ "score": b.score, "no_conflict_of_interest": true }),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(json!({ "application": id, "score": b.score }))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResultsBody {
    selected: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/announcements/{id}/results", tag = "operators", params(("id" = String, Path)),
    request_body = Object, responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn publish_results(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    app.authorize(&caller, Action::AnnouncementCreate, &Resource::platform()).await?;
    let b: ResultsBody = parse_body(body)?;
    let today = app.clock.today();
    let mut tx = app.begin().await?;
    let a = operators::get_announcement(tx.conn(), &id).await?.ok_or_else(|| ApiError::not_found("announcement"))?;
    if today <= a.closes_on || a.results_from.is_some() {
        return Err(not_allowed("publish_results", if a.results_from.is_some() { "published" } else { "open" }));
    }
    let apps = operators::list_applications(tx.conn(), &id).await?;
    for s in &b.selected {
        let Some(app_row) = apps.iter().find(|x| &x.id == s) else {
            return Err(ApiError::validation(vec![FieldProblem::new(
                "selected",
                format!("{s} is not an application here"),
                "所选申请不属于本次征集",
            )]));
        };
        if operators::scores(tx.conn(), &app_row.id).await?.is_empty() {
            return Err(ApiError::validation(vec![FieldProblem::new(
                "selected",
                format!("{s} has no expert score"),
                "所选申请尚无专家评分",
            )])
            .with_basis("WX §9"));
        }
    }
    for x in &apps {
        let state = if b.selected.contains(&x.id) { "selected" } else { "not_selected" };
        operators::set_application_state(tx.conn(), &x.id, state).await?;
    }
    let until = app.calendar.add_working_days(today, app.profile.operators.publicity_days)?;
    operators::set_results_period(tx.conn(), &id, today, until).await?;
    tx.audit(
        &caller.ctx,
        "operator.results_published",
        &format!("announcement:{id}"),
        Outcome::Success,
        json!({ "selected": b.selected, "publicity_until": until }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({ "announcement": id, "selected": b.selected, "publicity_from": today, "publicity_until": until })))
}

#[utoipa::path(get, path = "/api/v1/agreements", tag = "operators",
    responses((status = 200, body = [AgreementView]), (status = 401, body = ErrorBody)))]
pub async fn list_agreements(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<AgreementView>>> {
    app.authorize(&caller, Action::AgreementList, &Resource::platform()).await?;
    let user = caller.require_user()?;
    let all = operators::list_agreements(&mut *app.store.acquire().await?, None).await?;
    // Each caller sees the agreements the policies let them read.
    let visible: Vec<_> = all
        .iter()
        .filter(|a| app.authz.authorize(&caller.principal, Action::AgreementRead, &agreement_resource(a)).is_ok())
        .collect();
    app.record_access(&caller, Action::AgreementList, &user.org_id.resource(), json!({ "count": visible.len() }))
        .await?;
    Ok(Json(visible.into_iter().map(|a| agreement_view(&app, &caller, a)).collect()))
}

// ---------------------------------------------------------------- objections to the selection

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewObjection {
    application_id: String,
    statement: String,
}

#[utoipa::path(post, path = "/api/v1/announcements/{id}/objections", tag = "operators", params(("id" = String, Path)),
    request_body = Object, responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn object_to_selection(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<operators::SelectionObjection>)> {
    app.authorize(&caller, Action::OperatorObject, &Resource::platform()).await?;
    let user = caller.require_user()?.clone();
    let (Some(name), true) = (user.real_name.clone(), user.has_real_name()) else {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "real_name_required").with_basis("WX §9"));
    };
    let b: NewObjection = parse_body(body)?;
    if b.statement.trim().is_empty() {
        return Err(ApiError::validation(vec![FieldProblem::new("statement", "required", "请写明异议理由")]));
    }
    let today = app.clock.today();
    let mut tx = app.begin().await?;
    let a = operators::get_announcement(tx.conn(), &id).await?.ok_or_else(|| ApiError::not_found("announcement"))?;
    let in_publicity = matches!((a.results_from, a.results_until), (Some(f), Some(u)) if f <= today && today <= u);
    if !in_publicity {
        return Err(not_allowed("object", "not_in_publicity").with_basis("WX §9"));
    }
    let application =
        operators::get_application(tx.conn(), &b.application_id).await?.filter(|x| x.announcement_id == id);
    if application.is_none() {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "application_id",
            "not an application of this announcement",
            "该申请不属于本次征集",
        )]));
    }
    let o = operators::SelectionObjection {
        id: uuid::Uuid::now_v7().to_string(),
        announcement_id: id.clone(),
        application_id: b.application_id.clone(),
        objector_name: name,
        statement: b.statement.trim().to_string(),
        state: "open".into(),
        decision_reason: None,
        filed_on: today,
    };
    let now = tx.now();
    operators::insert_objection(tx.conn(), &o, user.id, now).await?;
    tx.audit(
        &caller.ctx,
        "operator.selection_objected",
        &format!("announcement:{id}"),
        Outcome::Success,
        json!({ "objection": o.id, "application": o.application_id }),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(o)))
}

#[utoipa::path(get, path = "/api/v1/announcements/{id}/objections", tag = "operators", params(("id" = String, Path)),
    responses((status = 200, body = [Object]), (status = 403, body = ErrorBody)))]
pub async fn list_objections(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<operators::SelectionObjection>>> {
    app.authorize(&caller, Action::OperatorReviewRead, &Resource::platform()).await?;
    Ok(Json(operators::objections_for(&mut *app.store.acquire().await?, &id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectionDecision {
    upheld: bool,
    reason: String,
}

#[utoipa::path(post, path = "/api/v1/selection-objections/{id}/decide", tag = "operators", params(("id" = String, Path)),
    request_body = Object, responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn decide_objection(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    app.authorize(&caller, Action::AnnouncementCreate, &Resource::platform()).await?;
    let b: ObjectionDecision = parse_body(body)?;
    if b.reason.trim().is_empty() {
        return Err(ApiError::validation(vec![FieldProblem::new("reason", "required", "请写明异议处理理由")]));
    }
    let mut tx = app.begin().await?;
    let o = operators::get_objection(tx.conn(), &id).await?.ok_or_else(|| ApiError::not_found("objection"))?;
    let state = if b.upheld { "upheld" } else { "rejected" };
    if !operators::decide_objection(tx.conn(), &id, state, b.reason.trim()).await? {
        return Err(not_allowed("decide", &o.state));
    }
    if b.upheld {
        // An upheld objection takes the applicant out of the selection.
        operators::set_application_state(tx.conn(), &o.application_id, "not_selected").await?;
    }
    tx.audit(
        &caller.ctx,
        &format!("operator.selection_objection_{state}"),
        &format!("announcement:{}", o.announcement_id),
        Outcome::Success,
        json!({ "objection": id, "reason": b.reason.trim() }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({ "objection": id, "state": state })))
}
