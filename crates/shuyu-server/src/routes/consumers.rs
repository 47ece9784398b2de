//! Consumers (数据使用方), SPEC §5: applications for a published product in one of its reviewed
//! scenarios (WX §17), the contract (price, quota, scenario, term), API keys shown once, monthly
//! statements under the authority's price caps and allowed revenue (WX §22–§23, YXO §27), and
//! payments split into the double-entry revenue ledger (CS §21, WX §23).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;
use serde_json::{json, Value};
use shuyu_audit::Outcome;
use shuyu_authz::{Action, Resource};
use shuyu_core::ids::OrgId;
use shuyu_core::pricing::{self, ChargingUnit, PricePlan};
use shuyu_core::products::{ProductStatus, VersionState};
use shuyu_core::revenue;
use shuyu_core::roles::OrgKind;
use shuyu_store::products::{
    self as store, ApplicationRecord, Approval, ContractRecord, KeyRecord, StatementRecord, Terms,
};

use shuyu_store::{AuditContext, WriteTx};

use crate::auth::{new_token, token_hash, Caller};
use crate::error::{ApiError, ApiResult, ErrorBody, FieldProblem};
use crate::extract::{parse_body, ApiJson, ApiQuery};
use crate::interface::KEY_PREFIX;
use crate::state::AppState;

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn now_text(app: &AppState) -> String {
    shuyu_core::clock::format_instant(app.clock.now())
}

fn application_resource(a: &ApplicationRecord, operator: OrgId) -> Resource {
    Resource::owned("ConsumerApplication", a.id.clone(), operator).with_org("consumer", a.consumer_org)
}

fn contract_resource(c: &ContractRecord) -> Resource {
    Resource::owned("Contract", c.id.clone(), c.operator_org).with_org("consumer", c.consumer_org)
}

fn caller_kind(caller: &Caller) -> ApiResult<OrgKind> {
    caller.require_user()?.roles.first().map(|r| r.org_kind()).ok_or_else(ApiError::forbidden)
}

fn application_view(a: &ApplicationRecord, approvers: &[OrgKind]) -> Value {
    let waiting: Vec<&OrgKind> = approvers.iter().filter(|k| !a.approvals.iter().any(|x| x.kind == **k)).collect();
    json!({
        "id": a.id, "product_id": a.product_id, "version": a.version, "consumer_org": a.consumer_org.to_string(),
        "scenario": a.scenario, "purpose": a.purpose, "terms": a.terms, "approvals": a.approvals,
        "awaiting": if a.state == "submitted" { json!(waiting) } else { json!([]) },
        "state": a.state, "reason": a.reason, "created_at": a.created_at,
    })
}

fn plan_refusal(p: pricing::PriceProblem) -> ApiError {
    ApiError::validation(vec![FieldProblem::new("terms.plan", p.en, p.zh)]).with_basis(p.basis)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewApplication {
    product_id: String,
    scenario: String,
    purpose: String,
    terms: Terms,
}

/// A consumer applies for a published product, naming one of its reviewed scenarios.
#[utoipa::path(post, path = "/api/v1/consumer-applications", tag = "products", request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn apply(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    app.authorize(&caller, Action::ConsumerApplicationCreate, &Resource::platform()).await?;
    let user = caller.require_user()?.clone();
    let b: NewApplication = parse_body(body)?;
    let mut conn = app.store.acquire().await?;
    let p = store::get_product(&mut conn, &b.product_id)
        .await?
        .filter(|p| p.status == ProductStatus::Active && p.published_version.is_some())
        .ok_or_else(|| ApiError::not_found("product"))?;
    let n = p.published_version.unwrap_or_default();
    let v = store::get_version(&mut conn, &p.id, n).await?.ok_or_else(|| ApiError::not_found("product"))?;
    let agreement = shuyu_store::operators::get_agreement(&mut conn, &p.agreement_id)
        .await?
        .ok_or_else(|| ApiError::not_found("agreement"))?;
    drop(conn);
    let Some(scenario) = v.definition.scenario(&b.scenario) else {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "scenario",
            format!(
                "the product is reviewed only for: {}",
                v.definition.scenarios.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
            "该产品未经审核用于此场景，只能用于已审核的应用场景",
        )])
        .with_basis(app.profile.citation("products.reviewed_scenarios_only").unwrap_or("WX §17")));
    };
    let mut problems = Vec::new();
    if b.purpose.trim().is_empty() {
        problems.push(FieldProblem::new("purpose", "required", "必填"));
    }
    let t = &b.terms;
    if t.quota_per_day == 0 || t.quota_per_minute == 0 || t.quota_per_minute > t.quota_per_day {
        problems.push(FieldProblem::new(
            "terms.quota_per_minute",
            "quotas above 0, per minute at most per day",
            "配额须大于0，且每分钟配额不超过每日配额",
        ));
    }
    if t.valid_until < t.valid_from || t.valid_from < app.clock.today() {
        problems.push(FieldProblem::new(
            "terms.valid_until",
            "a term from today or later, ending after it starts",
            "期限须自今日或以后开始，且结束不早于开始",
        ));
    }
    if t.valid_until > agreement.valid_until {
        problems.push(FieldProblem::new(
            "terms.valid_until",
            format!("the operator's authorization ends on {}", agreement.valid_until),
            format!("运营机构的授权运营期限至{}止", agreement.valid_until),
        ));
    }
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    t.plan.check(scenario.category, p.price_cap.as_ref()).map_err(plan_refusal)?;
    let now = now_text(&app);
    let a = ApplicationRecord {
        id: new_id(),
        product_id: p.id.clone(),
        version: n,
        consumer_org: user.org_id,
        applicant_user: user.id.to_string(),
        scenario: scenario.name.clone(),
        purpose: b.purpose.trim().into(),
        terms: b.terms,
        approvals: Vec::new(),
        state: "submitted".into(),
        reason: None,
        created_at: now.clone(),
        updated_at: now,
    };
    let mut tx = app.begin().await?;
    store::insert_application(tx.conn(), &a).await?;
    tx.audit(
        &caller.ctx,
        "consumer_application.submitted",
        &format!("consumer_application:{}", a.id),
        Outcome::Success,
        json!({ "product": p.id, "scenario": a.scenario, "category": scenario.category, "terms": a.terms }),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(application_view(&a, &app.profile.products.consumer_approvers))))
}

#[utoipa::path(get, path = "/api/v1/consumer-applications", tag = "products",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_applications(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let org = app.list_scope(&caller, Action::ConsumerApplicationList, Action::ConsumerApplicationListAll).await?;
    let mut conn = app.store.acquire().await?;
    let all = store::list_applications(&mut conn, org).await?;
    let approvers = &app.profile.products.consumer_approvers;
    Ok(Json(json!({ "applications": all.iter().map(|a| application_view(a, approvers)).collect::<Vec<_>>() })))
}

async fn load_application(
    app: &AppState,
    caller: &Caller,
    id: &str,
    action: Action,
) -> ApiResult<(ApplicationRecord, store::ProductRecord)> {
    let mut conn = app.store.acquire().await?;
    let a = store::get_application(&mut conn, id).await?.ok_or_else(|| ApiError::not_found("application"))?;
    let p = store::get_product(&mut conn, &a.product_id).await?.ok_or_else(|| ApiError::not_found("product"))?;
    drop(conn);
    app.authorize(caller, action, &application_resource(&a, p.operator_org)).await?;
    Ok((a, p))
}

#[utoipa::path(get, path = "/api/v1/consumer-applications/{id}", tag = "products", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn get_application(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (a, _) = load_application(&app, &caller, &id, Action::ConsumerApplicationRead).await?;
    Ok(Json(application_view(&a, &app.profile.products.consumer_approvers)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Decision {
    approved: bool,
    reason: String,
}

/// The operator (and the authority, where the profile says so) decides; once every approver
/// has approved, the contract is made.
#[utoipa::path(post, path = "/api/v1/consumer-applications/{id}/decision", tag = "products", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn decide(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let (mut a, p) = load_application(&app, &caller, &id, Action::ConsumerApplicationDecide).await?;
    let b: Decision = parse_body(body)?;
    let kind = caller_kind(&caller)?;
    let approvers = app.profile.products.consumer_approvers.clone();
    if !approvers.contains(&kind) {
        return Err(ApiError::forbidden());
    }
    if a.state != "submitted" || a.approvals.iter().any(|x| x.kind == kind) {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed").with_details(json!({ "state": a.state })));
    }
    if b.reason.trim().is_empty() {
        return Err(ApiError::validation(vec![FieldProblem::new("reason", "required", "须说明理由")]));
    }
    let today = app.clock.today();
    a.approvals.push(Approval {
        kind,
        user: caller.require_user()?.id.to_string(),
        approved: b.approved,
        reason: b.reason.trim().into(),
        on: today,
    });
    let mut contract = None;
    if !b.approved {
        a.state = "refused".into();
        a.reason = Some(b.reason.trim().into());
    } else if approvers.iter().all(|k| a.approvals.iter().any(|x| x.kind == *k && x.approved)) {
        // The cap may have changed since the application: the plan is checked again.
        let mut conn = app.store.acquire().await?;
        let v = store::get_version(&mut conn, &p.id, a.version)
            .await?
            .ok_or_else(|| ApiError::not_found("product version"))?;
        drop(conn);
        if v.state != VersionState::Published || p.status != ProductStatus::Active {
            return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed").with_reason(
                "the product version applied for is no longer on the market",
                "所申请的产品版本已不在市场上",
            ));
        }
        let category = v.definition.scenario(&a.scenario).map(|s| s.category).ok_or_else(ApiError::internal)?;
        a.terms.plan.check(category, p.price_cap.as_ref()).map_err(plan_refusal)?;
        a.state = "approved".into();
        contract = Some(ContractRecord {
            id: new_id(),
            application_id: a.id.clone(),
            product_id: p.id.clone(),
            consumer_org: a.consumer_org,
            operator_org: p.operator_org,
            scenario: a.scenario.clone(),
            category,
            terms: a.terms.clone(),
            state: "active".into(),
            created_at: now_text(&app),
        });
    }
    let mut tx = app.begin().await?;
    a.updated_at = shuyu_core::clock::format_instant(tx.now());
    store::update_application(tx.conn(), &a).await?;
    tx.audit(
        &caller.ctx,
        "consumer_application.decided",
        &format!("consumer_application:{}", a.id),
        Outcome::Success,
        json!({ "approved": b.approved, "reason": b.reason, "state": a.state }),
    )
    .await?;
    if let Some(c) = &contract {
        store::insert_contract(tx.conn(), c).await?;
        tx.audit(
            &caller.ctx,
            "contract.made",
            &format!("contract:{}", c.id),
            Outcome::Success,
            json!({ "product": c.product_id, "consumer": c.consumer_org.to_string(), "scenario": c.scenario,
                    "category": c.category, "terms": c.terms }),
        )
        .await?;
    }
    tx.commit().await?;
    let mut v = application_view(&a, &approvers);
    v["contract_id"] = json!(contract.map(|c| c.id));
    Ok(Json(v))
}

async fn load_contract(app: &AppState, caller: &Caller, id: &str, action: Action) -> ApiResult<ContractRecord> {
    let mut conn = app.store.acquire().await?;
    let c = store::get_contract(&mut conn, id).await?.ok_or_else(|| ApiError::not_found("contract"))?;
    drop(conn);
    app.authorize(caller, action, &contract_resource(&c)).await?;
    Ok(c)
}

async fn contract_view(app: &AppState, c: &ContractRecord) -> ApiResult<Value> {
    let mut conn = app.store.acquire().await?;
    let keys = store::keys_of_contract(&mut conn, &c.id).await?;
    let usage = store::usage(&mut conn, &c.id).await?;
    let statements = store::statements_of(&mut conn, &c.id).await?;
    let p = store::get_product(&mut conn, &c.product_id).await?;
    let trial = p.as_ref().and_then(|p| p.first_published_on).is_some_and(|d| {
        d.checked_add_months(chrono::Months::new(app.profile.products.trial_months))
            .is_some_and(|end| app.clock.today() < end)
    });
    Ok(json!({
        "id": c.id, "application_id": c.application_id, "product_id": c.product_id,
        "product_name": p.as_ref().map(|p| p.name.clone()),
        "published_version": p.as_ref().and_then(|p| p.published_version),
        "consumer_org": c.consumer_org.to_string(), "operator_org": c.operator_org.to_string(),
        "scenario": c.scenario, "category": c.category, "terms": c.terms, "state": c.state,
        "trial_price": trial, "keys": keys,
        "usage": usage.iter().map(|(d, o, n)| json!({ "day": d, "outcome": o, "calls": n })).collect::<Vec<_>>(),
        "statements": statements, "created_at": c.created_at,
    }))
}

#[utoipa::path(get, path = "/api/v1/contracts", tag = "products",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_contracts(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let org = app.list_scope(&caller, Action::ContractList, Action::ContractListAll).await?;
    let mut conn = app.store.acquire().await?;
    let all = store::list_contracts(&mut conn, org).await?;
    drop(conn);
    let mut out = Vec::new();
    for c in &all {
        out.push(contract_view(&app, c).await?);
    }
    Ok(Json(json!({ "contracts": out })))
}

#[utoipa::path(get, path = "/api/v1/contracts/{id}", tag = "products", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn get_contract(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let c = load_contract(&app, &caller, &id, Action::ContractRead).await?;
    Ok(Json(contract_view(&app, &c).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    reason: String,
}

async fn set_contract(app: &AppState, caller: &Caller, id: &str, state: &str, body: Value) -> ApiResult<Json<Value>> {
    let mut c = load_contract(app, caller, id, Action::ContractSuspend).await?;
    let b: ReasonBody = parse_body(body)?;
    if b.reason.trim().is_empty() {
        return Err(ApiError::validation(vec![FieldProblem::new("reason", "required", "须说明理由")]));
    }
    if c.state == "terminated" {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed").with_details(json!({ "state": c.state })));
    }
    let mut tx = app.begin().await?;
    change_contract_state(&mut tx, &caller.ctx, &c.id, state, json!({ "reason": b.reason })).await?;
    tx.commit().await?;
    c.state = state.into();
    Ok(Json(contract_view(app, &c).await?))
}

/// Moves a contract to `state` (`active` or `suspended`) and audits it, inside the caller's
/// transaction; also used when the authority suspends from an alert.
pub(crate) async fn change_contract_state(
    tx: &mut WriteTx,
    ctx: &AuditContext,
    id: &str,
    state: &str,
    details: Value,
) -> ApiResult<()> {
    let now = shuyu_core::clock::format_instant(tx.now());
    store::set_contract_state(tx.conn(), id, state, &now).await?;
    tx.audit(ctx, &format!("contract.{state}"), &format!("contract:{id}"), Outcome::Success, details).await?;
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/contracts/{id}/suspend", tag = "products", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn suspend_contract(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    set_contract(&app, &caller, &id, "suspended", body).await
}

#[utoipa::path(post, path = "/api/v1/contracts/{id}/resume", tag = "products", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn resume_contract(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    set_contract(&app, &caller, &id, "active", body).await
}

/// A new key for a contract and the record that keeps only its hash and prefix.
pub(crate) fn new_key(c: &ContractRecord, by: &str, now: String) -> (String, KeyRecord) {
    let key = format!("{KEY_PREFIX}{}", new_token());
    let record = KeyRecord {
        id: new_id(),
        contract_id: c.id.clone(),
        consumer_org: c.consumer_org.to_string(),
        prefix: key.chars().take(KEY_PREFIX.len() + 6).collect(),
        hash: token_hash(&key),
        state: "active".into(),
        created_by: by.to_string(),
        created_at: now,
        revoked_at: None,
        revoked_by: None,
    };
    (key, record)
}

/// Issues a key for the contract. The key is in this response only; the platform keeps its hash.
#[utoipa::path(post, path = "/api/v1/contracts/{id}/keys", tag = "products", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_key(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let c = load_contract(&app, &caller, &id, Action::ApiKeyCreate).await?;
    if c.state != "active" {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed").with_details(json!({ "state": c.state })));
    }
    let user = caller.require_user()?;
    let (key, k) = new_key(&c, &user.id.to_string(), now_text(&app));
    let mut tx = app.begin().await?;
    store::insert_key(tx.conn(), &k).await?;
    tx.audit(
        &caller.ctx,
        "api_key.issued",
        &format!("api_key:{}", k.id),
        Outcome::Success,
        json!({ "contract": c.id, "prefix": k.prefix }),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": k.id, "key": key, "prefix": k.prefix, "contract_id": c.id,
        "note": "shown once: store it now", "note_zh": "密钥仅显示这一次，请立即妥善保存" })),
    ))
}

#[utoipa::path(post, path = "/api/v1/api-keys/{id}/revoke", tag = "products", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn revoke_key(State(app): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let mut conn = app.store.acquire().await?;
    let k = store::get_key(&mut conn, &id).await?.ok_or_else(|| ApiError::not_found("api key"))?;
    drop(conn);
    let c = load_contract(&app, &caller, &k.contract_id, Action::ApiKeyRevoke).await?;
    if k.state == "revoked" {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed").with_details(json!({ "state": k.state })));
    }
    let user = caller.require_user()?;
    let mut tx = app.begin().await?;
    let now = shuyu_core::clock::format_instant(tx.now());
    store::revoke_key(tx.conn(), &k.id, &user.id.to_string(), &now).await?;
    tx.audit(
        &caller.ctx,
        "api_key.revoked",
        &format!("api_key:{}", k.id),
        Outcome::Success,
        json!({ "contract": c.id }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({ "id": k.id, "state": "revoked", "revoked_at": now })))
}

// ---------------------------------------------------------------- statements and the ledger

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatementBody {
    /// `YYYY-MM`, a month that has ended.
    period: String,
}

fn month_start(period: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{period}-01"), "%Y-%m-%d").ok().filter(|_| period.len() == 7)
}

/// The operator issues a contract's statement for a month that has ended: units used, the
/// charge under the plan, and the deduction of last year's revenue above the allowed maximum.
#[utoipa::path(post, path = "/api/v1/contracts/{id}/statements", tag = "products", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn issue_statement(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut conn = app.store.acquire().await?;
    let c = store::get_contract(&mut conn, &id).await?.ok_or_else(|| ApiError::not_found("contract"))?;
    drop(conn);
    app.authorize(&caller, Action::StatementIssue, &contract_resource(&c)).await?;
    let b: StatementBody = parse_body(body)?;
    let today = app.clock.today();
    let Some(start) =
        month_start(&b.period).filter(|s| s.checked_add_months(chrono::Months::new(1)).is_some_and(|e| e <= today))
    else {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "period",
            "a month that has ended, as YYYY-MM",
            "须为已结束的月份，格式 YYYY-MM",
        )]));
    };
    let mut tx = app.begin().await?;
    if store::statement(tx.conn(), &c.id, &b.period).await?.is_some() {
        return Err(ApiError::new(StatusCode::CONFLICT, "conflict")
            .with_details(json!({ "what": "statement", "period": b.period })));
    }
    let units = match &c.terms.plan {
        PricePlan::PerUse { unit: ChargingUnit::CallVolume | ChargingUnit::ServiceCount, .. } => {
            store::calls_in_month(tx.conn(), &c.id, &b.period).await?
        }
        _ => 1,
    };
    let charge = c.terms.plan.charge(units);
    // Revenue above last year's allowed maximum is given back in this year's statements until
    // it is used up (SPEC §7.3).
    let year = start.year();
    let owed = match store::allowed_revenue(tx.conn(), c.operator_org, year - 1).await? {
        Some(allowed) => {
            let earned = store::operator_revenue(tx.conn(), c.operator_org, year - 1).await?;
            pricing::excess(allowed.max(0) as u64, earned.max(0) as u64)
        }
        None => 0,
    };
    let given = store::deductions_in_year(tx.conn(), c.operator_org, year).await?.max(0) as u64;
    let deduction = owed.saturating_sub(given).min(charge);
    let s = StatementRecord {
        id: new_id(),
        contract_id: c.id.clone(),
        period: b.period.clone(),
        units: units as i64,
        charge_fen: charge as i64,
        deduction_fen: deduction as i64,
        amount_fen: (charge - deduction) as i64,
        state: "issued".into(),
        paid_at: None,
        created_at: shuyu_core::clock::format_instant(tx.now()),
    };
    store::insert_statement(tx.conn(), &s).await?;
    tx.audit(&caller.ctx, "statement.issued", &format!("statement:{}", s.id), Outcome::Success, json!(s)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(json!(s))))
}

/// The consumer pays a statement; the payment is split by the agreement's ratios into the
/// ledger in the same transaction (CS §21), the government's share as non-tax revenue (WX §23).
#[utoipa::path(post, path = "/api/v1/statements/{id}/pay", tag = "products", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn pay_statement(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut conn = app.store.acquire().await?;
    let s = store::get_statement(&mut conn, &id).await?.ok_or_else(|| ApiError::not_found("statement"))?;
    let c = store::get_contract(&mut conn, &s.contract_id).await?.ok_or_else(|| ApiError::not_found("contract"))?;
    drop(conn);
    app.authorize(&caller, Action::StatementPay, &contract_resource(&c)).await?;
    let mut tx = app.begin().await?;
    let now = shuyu_core::clock::format_instant(tx.now());
    if !store::mark_paid(tx.conn(), &s.id, &now).await? {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed").with_details(json!({ "state": "paid" })));
    }
    let p = store::get_product(tx.conn(), &c.product_id).await?.ok_or_else(|| ApiError::not_found("product"))?;
    let a = shuyu_store::operators::get_agreement(tx.conn(), &p.agreement_id)
        .await?
        .ok_or_else(|| ApiError::not_found("agreement"))?;
    let split: shuyu_core::operators::RevenueSplit = a
        .content
        .get("revenue_split")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(ApiError::internal)?;
    let version = match p.published_version {
        Some(n) => store::get_version(tx.conn(), &p.id, n).await?,
        None => None,
    };
    let parties = revenue::Parties {
        consumer: c.consumer_org.to_string(),
        owner: a.agency_org.to_string(),
        operator: c.operator_org.to_string(),
        processor: version.and_then(|v| v.definition.processor_org),
    };
    let postings = revenue::payment(s.amount_fen.max(0) as u64, &split, &parties);
    let txn = new_id();
    if !postings.is_empty() {
        store::post(tx.conn(), &txn, &postings, Some(&s.id), &s.period, &now).await?;
    }
    tx.audit(
        &caller.ctx,
        "statement.paid",
        &format!("statement:{}", s.id),
        Outcome::Success,
        json!({ "amount_fen": s.amount_fen, "split": split, "postings": postings, "ledger_txn": txn }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(
        json!({ "statement": s.id, "state": "paid", "amount_fen": s.amount_fen, "postings": postings, "ledger_txn": txn }),
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct LedgerQuery {
    pub period: Option<String>,
}

/// Balances per account; the whole ledger sums to zero at all times. The authority sees every
/// account; each other party its own (its statement for a month with `period`).
#[utoipa::path(get, path = "/api/v1/ledger", tag = "products",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn ledger(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<LedgerQuery>,
) -> ApiResult<Json<Value>> {
    let own = app.list_scope(&caller, Action::LedgerRead, Action::LedgerReadAll).await?.map(|org| format!(":{org}"));
    let mut conn = app.store.acquire().await?;
    let mut rows = store::balances(&mut conn, q.period.as_deref(), None).await?;
    let total: i64 = rows.iter().map(|(_, n)| n).sum();
    if let Some(suffix) = &own {
        rows.retain(|(account, _)| account.ends_with(suffix.as_str()));
    }
    let non_tax: i64 = rows.iter().filter(|(a, _)| a.starts_with("non_tax_revenue:")).map(|(_, n)| -n).sum();
    Ok(Json(json!({
        "period": q.period, "balanced": total == 0, "total_fen": total, "non_tax_revenue_fen": non_tax,
        "accounts": rows.iter().map(|(a, n)| json!({ "account": a, "balance_fen": n })).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowedBody {
    year: i32,
    allowed_fen: u64,
    reason: String,
}

/// SPEC §7.3: the authority sets an operator's maximum allowed revenue for a year (cost plus a
/// reasonable profit).
#[utoipa::path(post, path = "/api/v1/organisations/{id}/allowed-revenue", tag = "products", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_allowed_revenue(
    State(app): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    app.authorize(&caller, Action::RevenueSetAllowed, &Resource::platform()).await?;
    let b: AllowedBody = parse_body(body)?;
    let org: OrgId = org.parse().map_err(|_| ApiError::not_found("organisation"))?;
    let mut conn = app.store.acquire().await?;
    shuyu_store::organisations::get(&mut conn, org)
        .await?
        .filter(|o| o.kind == OrgKind::Operator)
        .ok_or_else(|| ApiError::not_found("operator"))?;
    drop(conn);
    if b.reason.trim().is_empty() || !(2000..=2100).contains(&b.year) {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "reason",
            "a year and the cost basis",
            "须填写年度和成本依据",
        )]));
    }
    let allowed = i64::try_from(b.allowed_fen)
        .map_err(|_| ApiError::validation(vec![FieldProblem::new("allowed_fen", "too large", "数额过大")]))?;
    let mut tx = app.begin().await?;
    let now = shuyu_core::clock::format_instant(tx.now());
    let by = caller.require_user()?.id.to_string();
    store::set_allowed_revenue(tx.conn(), org, b.year, allowed, b.reason.trim(), &by, &now).await?;
    tx.audit(
        &caller.ctx,
        "revenue.allowed_set",
        &org.resource(),
        Outcome::Success,
        json!({ "year": b.year, "allowed_fen": allowed, "reason": b.reason }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({ "operator_org": org.to_string(), "year": b.year, "allowed_fen": allowed })))
}
