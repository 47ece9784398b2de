//! The sandbox over HTTP (SPEC §4): dataset ingestion by the holding department, data requests
//! reviewed column by column into grants (WX §12), workspaces bound to agreements with cleared
//! members (YXO §22), governed SQL (JS §13), sealing by the authority and risk reports (WX §15,
//! §19). Every state change and every query is audited in the transaction that records it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{json, Value};
use shuyu_audit::Outcome;
use shuyu_authz::{Action, Resource};
use shuyu_core::catalogue::EntryMetadata;
use shuyu_core::grants::{self, ColumnDecision, GrantRequest, GrantState, Review};
use shuyu_core::ids::{OrgId, UserId};
use shuyu_core::roles::OrgKind;
use shuyu_sandbox::differencing::Earlier;
use shuyu_sandbox::engine::{self, Limits, Outcome as QueryOutcome, QueryOutput};
use shuyu_sandbox::ingest::{self, Format};
use shuyu_sandbox::SandboxError;
use shuyu_store::privacy::Spend;
use shuyu_store::sandbox::{self as store, GrantRecord, QueryRecord, WorkspaceRecord};
use shuyu_store::{catalogue, operators, organisations};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldProblem};
use crate::extract::{parse_body, ApiJson, ApiQuery};
use crate::registry::workflow_error;
use crate::routes::personnel::check_clearance;
use crate::sandbox::workspace_dir;
use crate::state::AppState;

/// A sandbox refusal as an API error. Governance refusals name the column and the article.
pub fn sandbox_error(e: SandboxError) -> ApiError {
    match e {
        SandboxError::Refused { reason, column, basis } => ApiError::new(StatusCode::FORBIDDEN, "query_refused")
            .with_details(json!({ "reason": reason, "column": column }))
            .with_basis(basis),
        SandboxError::NotFound(m) => {
            ApiError::new(StatusCode::NOT_FOUND, "query_not_found").with_details(json!({ "reason": m }))
        }
        SandboxError::Limit(m) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "query_limit").with_details(json!({ "reason": m }))
        }
        SandboxError::Cancelled => ApiError::new(StatusCode::CONFLICT, "query_cancelled"),
        SandboxError::Sql(m) | SandboxError::Invalid(m) => {
            ApiError::new(StatusCode::BAD_REQUEST, "query_invalid").with_details(json!({ "reason": m }))
        }
        SandboxError::SchemaDrift(m) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "schema_drift").with_details(json!({ "reason": m }))
        }
        SandboxError::Unavailable(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "query_cluster_unavailable")
            .with_details(json!({ "reason": m })),
        other => {
            tracing::error!(error = %other, "sandbox error");
            ApiError::internal()
        }
    }
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub(crate) fn data_dir(app: &AppState) -> PathBuf {
    app.config.data_dir.clone()
}

// ---------------------------------------------------------------- datasets

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct IngestQuery {
    /// `csv`, `jsonl` or `parquet`.
    pub format: String,
}

async fn entry_for_holder(
    app: &AppState,
    caller: &Caller,
    id: &str,
    action: Action,
) -> ApiResult<catalogue::EntryRecord> {
    let entry = catalogue::get(&mut *app.store.acquire().await?, id)
        .await?
        .ok_or_else(|| ApiError::not_found("catalogue entry"))?;
    app.authorize(caller, action, &Resource::owned("CatalogueEntry", id, entry.holder_org)).await?;
    Ok(entry)
}

#[utoipa::path(post, path = "/api/v1/catalogue/{id}/datasets", tag = "sandbox", params(("id" = String, Path), IngestQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn ingest_dataset(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<IngestQuery>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let entry = entry_for_holder(&app, &caller, &id, Action::DatasetIngest).await?;
    let user = caller.require_user()?;
    let Some(format) = Format::parse(&q.format) else {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "format",
            "csv, jsonl or parquet",
            "文件格式须为 csv、jsonl 或 parquet",
        )]));
    };
    let upload = data_dir(&app).join("tmp").join(format!("{}.upload", new_id()));
    let written = upload.parent().map(std::fs::create_dir_all).transpose().and_then(|_| std::fs::write(&upload, &body));
    if let Err(e) = written {
        tracing::error!(error = %e, "writing an upload");
        return Err(ApiError::internal());
    }
    let result = crate::sandbox::ingest_file(&app, &caller.ctx, &entry, user, &upload, format, |_| {}).await;
    let _ = std::fs::remove_file(&upload);
    let (record, quality) = result?;
    let mut body = json!(record);
    body["quality"] = quality;
    Ok((StatusCode::CREATED, Json(body)))
}

#[utoipa::path(get, path = "/api/v1/catalogue/{id}/datasets", tag = "sandbox", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn list_datasets(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    entry_for_holder(&app, &caller, &id, Action::DatasetList).await?;
    let list = store::list_datasets(&mut *app.store.acquire().await?, &id).await?;
    Ok(Json(json!({ "items": list })))
}

// ---------------------------------------------------------------- grants

fn grant_resource(g: &GrantRecord) -> Resource {
    Resource::owned("Grant", g.id.clone(), g.operator_org)
}

fn grant_view(g: &GrantRecord, required: &[OrgKind]) -> Value {
    json!({
        "id": g.id,
        "operator_org": g.operator_org.to_string(),
        "agreement_id": g.agreement_id,
        "workspace_id": g.workspace_id,
        "state": g.state,
        "sealed": g.sealed,
        "reason": g.reason,
        "request": g.request,
        "reviews": g.reviews,
        "awaiting": grants::awaiting(required, &g.reviews),
        "granted": g.granted,
        "created_at": g.created_at,
    })
}

/// Published metadata of the entries a request names.
async fn published_entries(app: &AppState, req: &GrantRequest) -> ApiResult<BTreeMap<String, EntryMetadata>> {
    let mut conn = app.store.acquire().await?;
    let mut out = BTreeMap::new();
    for t in &req.tables {
        if let Some(e) = catalogue::get(&mut conn, &t.entry_id).await? {
            if shuyu_core::catalogue::authorizable(e.workflow.state, e.published.as_ref()).is_ok() {
                if let Some(m) = e.published {
                    out.insert(t.entry_id.clone(), m);
                }
            }
        }
    }
    Ok(out)
}

async fn filed_agreement(app: &AppState, id: &str, operator: OrgId) -> ApiResult<operators::AgreementRecord> {
    let a = operators::get_agreement(&mut *app.store.acquire().await?, id)
        .await?
        .filter(|a| a.operator_org == operator)
        .ok_or_else(|| ApiError::not_found("agreement"))?;
    if a.state != "filed" {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
            .with_reason("the agreement is not filed", "授权运营协议尚未备案")
            .with_basis("WX §12"));
    }
    Ok(a)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The entries an agreement covers: its programme's approved data scope (YXO §13), narrowed to
/// the agreement's own list of entries when it names any.
async fn agreement_scope(app: &AppState, a: &operators::AgreementRecord) -> ApiResult<Vec<String>> {
    let programme = operators::get_programme(&mut *app.store.acquire().await?, &a.programme_id).await?;
    let approved = strings(programme.as_ref().and_then(|p| p.content.get("data_scope")));
    let listed = strings(a.content.get("catalogue_entries"));
    Ok(if listed.is_empty() { approved } else { approved.into_iter().filter(|e| listed.contains(e)).collect() })
}

#[utoipa::path(post, path = "/api/v1/grants", tag = "sandbox", request_body = Object,
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn request_grant(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let user = caller.require_user()?.clone();
    app.authorize(&caller, Action::GrantRequest, &Resource::owned("Grant", "new", user.org_id)).await?;
    let req: GrantRequest = parse_body(body)?;
    let agreement = filed_agreement(&app, &req.agreement_id, user.org_id).await?;
    let scope = agreement_scope(&app, &agreement).await?;
    let entries = published_entries(&app, &req).await?;
    req.check(&entries, &scope, (agreement.valid_from, agreement.valid_until), app.profile.sandbox.sensitive_level)
        .map_err(workflow_error)?;
    let mut tx = app.begin().await?;
    let g = GrantRecord {
        id: new_id(),
        operator_org: user.org_id,
        agreement_id: req.agreement_id.clone(),
        workspace_id: None,
        request: req,
        reviews: Vec::new(),
        granted: None,
        state: GrantState::Pending,
        sealed: false,
        reason: None,
        requested_by: user.id.to_string(),
        created_at: shuyu_core::clock::format_instant(tx.now()),
    };
    let now = tx.now();
    store::insert_grant(tx.conn(), &g, now).await?;
    // The reviewers' deadline: when it passes the request is flagged overdue, not decided.
    let due_on = app.calendar.add_working_days(app.clock.today(), app.profile.sandbox.request_review_days)?;
    let timer =
        shuyu_core::workflow::Timer { due_on, awaiting: "reviewers", expiry: shuyu_core::workflow::Expiry::Escalate };
    shuyu_store::timers::set(tx.conn(), crate::sandbox::GRANT, &g.id, Some(&timer)).await?;
    tx.audit(
        &caller.ctx,
        "grant.requested",
        &format!("grant:{}", g.id),
        Outcome::Success,
        json!({ "request": g.request, "review_due_on": due_on }),
    )
    .await?;
    tx.commit().await?;
    let mut view = grant_view(&g, &app.profile.sandbox.request_reviewers);
    view["review_due_on"] = json!(due_on);
    Ok((StatusCode::CREATED, Json(view)))
}

/// Reviewers see every grant; operators see their own.
async fn grant_scope(app: &AppState, caller: &Caller) -> ApiResult<Option<OrgId>> {
    app.authorize(caller, Action::GrantList, &Resource::platform()).await?;
    let user = caller.require_user()?;
    let reviewer = user
        .roles
        .iter()
        .any(|r| matches!(r.org_kind(), OrgKind::Authority | OrgKind::IndustryDepartment | OrgKind::SourceDepartment));
    Ok(if reviewer { None } else { Some(user.org_id) })
}

#[utoipa::path(get, path = "/api/v1/grants", tag = "sandbox", responses((status = 200, body = Object), (status = 401, body = ErrorBody)))]
pub async fn list_grants(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let scope = grant_scope(&app, &caller).await?;
    let list = store::list_grants(&mut *app.store.acquire().await?, scope).await?;
    let required = &app.profile.sandbox.request_reviewers;
    Ok(Json(json!({ "items": list.iter().map(|g| grant_view(g, required)).collect::<Vec<_>>() })))
}

async fn load_grant(app: &AppState, caller: &Caller, id: &str, action: Action) -> ApiResult<GrantRecord> {
    let g =
        store::get_grant(&mut *app.store.acquire().await?, id).await?.ok_or_else(|| ApiError::not_found("grant"))?;
    app.authorize(caller, action, &grant_resource(&g)).await?;
    Ok(g)
}

#[utoipa::path(get, path = "/api/v1/grants/{id}", tag = "sandbox", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_grant(State(app): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let g = load_grant(&app, &caller, &id, Action::GrantRead).await?;
    Ok(Json(grant_view(&g, &app.profile.sandbox.request_reviewers)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    decisions: Vec<ColumnDecision>,
    /// Privacy settings this reviewer requires; stricter ones than asked win.
    #[serde(default)]
    privacy: Option<grants::Privacy>,
}

#[utoipa::path(post, path = "/api/v1/grants/{id}/reviews", tag = "sandbox", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn review_grant(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let g = load_grant(&app, &caller, &id, Action::GrantReview).await?;
    let user = caller.require_user()?.clone();
    let b: ReviewBody = parse_body(body)?;
    let org = organisations::get(&mut *app.store.acquire().await?, user.org_id)
        .await?
        .ok_or_else(|| ApiError::not_found("organisation"))?;
    let required = app.profile.sandbox.request_reviewers.clone();
    if !required.contains(&org.kind) {
        return Err(ApiError::forbidden()
            .with_reason(
                "the profile does not name your organisation's kind as a reviewer",
                "本地规则未将贵单位列为审核单位",
            )
            .with_basis("WX §12"));
    }
    if org.kind == OrgKind::SourceDepartment {
        // A source department decides on requests for its own data.
        let mut conn = app.store.acquire().await?;
        let mut holds = false;
        for t in &g.request.tables {
            if catalogue::get(&mut conn, &t.entry_id).await?.is_some_and(|e| e.holder_org == user.org_id) {
                holds = true;
            }
        }
        if !holds {
            return Err(ApiError::forbidden()
                .with_reason("the request is not for your department's data", "该申请不涉及本部门数据"));
        }
    }
    if g.state != GrantState::Pending || !grants::awaiting(&required, &g.reviews).contains(&org.kind) {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
            .with_details(json!({ "action": "review", "state": g.state })));
    }
    grants::check_review(&g.request, &b.decisions).map_err(workflow_error)?;
    let mut tx = app.begin().await?;
    let mut g = store::get_grant(tx.conn(), &id).await?.ok_or_else(|| ApiError::not_found("grant"))?;
    g.reviews.push(Review {
        reviewer: org.kind,
        org: user.org_id.to_string(),
        user: user.id.to_string(),
        decided_on: app.clock.today(),
        decisions: b.decisions,
        privacy: b.privacy,
    });
    if grants::awaiting(&required, &g.reviews).is_empty() {
        let entries = published_entries(&app, &g.request).await?;
        let granted = grants::resolve(
            &g.request,
            &g.reviews,
            &entries,
            app.profile.sandbox.sensitive_level,
            app.profile.privacy.min_group_size,
        );
        if granted.is_empty() {
            g.state = GrantState::Refused;
            g.reason = Some("no column was approved by every reviewer".into());
        } else {
            g.state = GrantState::Approved;
            g.granted = Some(granted);
        }
    }
    let now = tx.now();
    store::update_grant(tx.conn(), &g, now).await?;
    // A differential-privacy grant starts with the budget its reviewers set.
    let settings = g.granted.iter().flatten().next().map(|t| t.privacy.clone());
    if let (GrantState::Approved, Some(grants::Privacy::DifferentialPrivacy(dp))) = (g.state, &settings) {
        let reason = "the budget set by the reviewers with the grant";
        allot(&mut tx, &caller, &g.id, (dp.epsilon, dp.delta), reason, &user.id.to_string()).await?;
    }
    if g.state != GrantState::Pending {
        shuyu_store::timers::set(tx.conn(), crate::sandbox::GRANT, &g.id, None).await?;
    }
    tx.audit(
        &caller.ctx,
        "grant.reviewed",
        &format!("grant:{id}"),
        Outcome::Success,
        json!({ "reviewer": org.kind, "state": g.state, "decisions": g.reviews.last().map(|r| &r.decisions),
                "privacy": g.reviews.last().and_then(|r| r.privacy.as_ref()), "privacy_in_force": settings }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(grant_view(&g, &required)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    reason: String,
}

fn require_reason(reason: &str) -> ApiResult<()> {
    if reason.trim().is_empty() {
        return Err(ApiError::validation(vec![FieldProblem::new("reason", "give the reason", "请说明理由")]));
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/grants/{id}/revoke", tag = "sandbox", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn revoke_grant(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    load_grant(&app, &caller, &id, Action::GrantRevoke).await?;
    let b: ReasonBody = parse_body(body)?;
    require_reason(&b.reason)?;
    let mut tx = app.begin().await?;
    let mut g = store::get_grant(tx.conn(), &id).await?.ok_or_else(|| ApiError::not_found("grant"))?;
    if !matches!(g.state, GrantState::Approved | GrantState::Provisioned) {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
            .with_details(json!({ "action": "revoke", "state": g.state })));
    }
    g.state = GrantState::Revoked;
    g.reason = Some(b.reason.clone());
    let now = tx.now();
    store::update_grant(tx.conn(), &g, now).await?;
    tx.audit(&caller.ctx, "grant.revoked", &format!("grant:{id}"), Outcome::Success, json!({ "reason": b.reason }))
        .await?;
    tx.commit().await?;
    Ok(Json(grant_view(&g, &app.profile.sandbox.request_reviewers)))
}

/// Adds to a grant's budget and records it in the ledger and the audit log, in `tx`.
async fn allot(
    tx: &mut shuyu_store::WriteTx,
    caller: &Caller,
    grant: &str,
    (epsilon, delta): (shuyu_core::privacy::Epsilon, shuyu_core::privacy::Delta),
    reason: &str,
    actor: &str,
) -> ApiResult<shuyu_store::privacy::Budget> {
    let now = tx.now();
    let budget =
        shuyu_store::privacy::allot(tx.conn(), grant, epsilon.units(), delta.units(), reason, actor, now).await?;
    tx.audit(
        &caller.ctx,
        "grant.budget_allotted",
        &format!("grant:{grant}"),
        Outcome::Success,
        json!({ "epsilon": epsilon, "delta": delta, "reason": reason, "budget": budget_view(&budget) }),
    )
    .await?;
    Ok(budget)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AllotBody {
    epsilon: shuyu_core::privacy::Epsilon,
    #[serde(default)]
    delta: shuyu_core::privacy::Delta,
    reason: String,
}

#[utoipa::path(get, path = "/api/v1/grants/{id}/privacy-budget", tag = "sandbox", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_budget(State(app): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let g = load_grant(&app, &caller, &id, Action::GrantRead).await?;
    let mut conn = app.store.acquire().await?;
    let budget = shuyu_store::privacy::budget(&mut conn, &g.id).await?;
    let ledger = shuyu_store::privacy::entries(&mut conn, &g.id).await?;
    Ok(Json(json!({
        "grant": g.id,
        "privacy": g.granted.iter().flatten().next().map(|t| &t.privacy),
        "budget": budget.as_ref().map(budget_view),
        "ledger": ledger.iter().map(|e| json!({
            "kind": e.kind, "query": e.query_id, "epsilon": e.epsilon as f64 / 1e6, "delta": e.delta as f64 / 1e12,
            "reason": e.reason, "actor": e.actor, "at": e.created_at,
        })).collect::<Vec<_>>(),
    })))
}

/// The authority adds to a differential-privacy budget, with a reason (SPEC §4.5): what was
/// spent stays spent.
#[utoipa::path(post, path = "/api/v1/grants/{id}/privacy-budget", tag = "sandbox", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn allot_budget(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let g = load_grant(&app, &caller, &id, Action::GrantAllotBudget).await?;
    let user = caller.require_user()?.clone();
    let b: AllotBody = parse_body(body)?;
    require_reason(&b.reason)?;
    let dp = match g.granted.iter().flatten().next().map(|t| &t.privacy) {
        Some(grants::Privacy::DifferentialPrivacy(dp)) => dp.clone(),
        _ => {
            return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
                .with_reason("the grant is not under differential privacy", "该授权未采用差分隐私")
                .with_details(json!({ "action": "allot_budget" })))
        }
    };
    if !matches!(g.state, GrantState::Approved | GrantState::Provisioned) {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
            .with_details(json!({ "action": "allot_budget", "state": g.state })));
    }
    if b.epsilon.units() == 0 && b.delta.units() == 0 {
        return Err(ApiError::validation(vec![FieldProblem::new("epsilon", "add some budget", "请填写追加的预算")]));
    }
    if b.delta.units() > 0 && dp.mechanism != shuyu_core::privacy::Mechanism::Gaussian {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "delta",
            "the grant uses the Laplace mechanism, which spends no δ",
            "该授权采用拉普拉斯机制，不消耗δ",
        )]));
    }
    let mut tx = app.begin().await?;
    let budget = allot(&mut tx, &caller, &g.id, (b.epsilon, b.delta), &b.reason, &user.id.to_string()).await?;
    tx.commit().await?;
    Ok(Json(json!({ "grant": g.id, "budget": budget_view(&budget) })))
}

// ---------------------------------------------------------------- models

fn model_view(m: &shuyu_sandbox::modelling::Model, sensitive_level: u8) -> Value {
    json!({
        "name": m.name, "kind": m.kind, "features": m.features, "target": m.target, "classes": m.classes,
        "metrics": m.metrics, "rows_train": m.rows_train, "rows_test": m.rows_test, "rows_dropped": m.rows_dropped,
        "level": m.level, "function": m.function_name(), "parameters_table": format!("{}_parameters", m.name),
        "parameters_may_leave": m.level < sensitive_level, "sql": m.sql,
    })
}

/// Trains a model inside the workspace (算法建模): a member's governed query is the training
/// set; the model and its parameters stay in the workspace.
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/models", tag = "sandbox", params(("id" = String, Path)), request_body = Object,
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn train_model(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let w = load_workspace(&app, &caller, &id, Action::WorkspaceQuery).await?;
    let user = caller.require_user()?.clone();
    let admitted = async {
        if w.state != "active" {
            return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
                .with_details(json!({ "action": "train", "state": w.state }))
                .with_basis("WX §19"));
        }
        require_member(&w, &user)?;
        check_clearance(&app, user.id).await
    };
    if let Err(e) = admitted.await {
        return Err(refused(&app, &caller, Action::WorkspaceQuery, &w, e).await);
    }
    let spec: shuyu_sandbox::modelling::TrainingSpec = parse_body(body)?;
    let ws = queryable(&app, &w).await?;
    let limits = limits(&app);
    let result = ws.train(&spec, &limits).await;
    let mut tx = app.begin().await?;
    let (outcome, details) = match &result {
        Ok((m, touched)) => (
            Outcome::Success,
            json!({ "model": m.name, "kind": m.kind, "sql": spec.sql, "features": m.features, "target": m.target,
                    "metrics": m.metrics, "level": m.level, "touched": touched, "rows_train": m.rows_train }),
        ),
        Err(e) => (
            match e {
                SandboxError::Refused { .. } | SandboxError::NotFound(_) => Outcome::Denied,
                _ => Outcome::Failure,
            },
            json!({ "model": spec.name, "sql": spec.sql, "error": e.to_string() }),
        ),
    };
    tx.audit(&caller.ctx, "workspace.model_trained", &format!("workspace:{}", w.id), outcome, details).await?;
    tx.commit().await?;
    let (m, _) = result.map_err(sandbox_error)?;
    Ok((StatusCode::CREATED, Json(model_view(&m, app.profile.sandbox.sensitive_level))))
}

// ---------------------------------------------------------------- workspaces

fn workspace_resource(w: &WorkspaceRecord) -> Resource {
    Resource::owned("Workspace", w.id.clone(), w.operator_org)
}

/// The grading in force for this write of a scratch table: the last one made for its version.
fn grading_in_force<'a>(
    gradings: &'a [store::TableGrading],
    table: &str,
    meta: &engine::TableMeta,
) -> Option<&'a store::TableGrading> {
    gradings.iter().rev().find(|g| g.table_name == table && meta.is_version(&g.table_version))
}

async fn workspace_view(app: &AppState, w: &WorkspaceRecord) -> ApiResult<Value> {
    let mut conn = app.store.acquire().await?;
    let grants = store::workspace_grants(&mut conn, &w.id).await?;
    let metering = store::metering(&mut conn, &w.id).await?;
    let certificates = store::workspace_certificates(&mut conn, &w.id).await?;
    let uploads = store::workspace_uploads(&mut conn, &w.id).await?;
    let (rows_exported, bytes_exported) = store::exported(&mut conn, &w.id).await?;
    let gradings = store::workspace_gradings(&mut conn, &w.id).await?;
    // Each grant's privacy settings and, under differential privacy, what is left of its budget:
    // shown beside the SQL editor.
    let mut privacy = Vec::new();
    for g in &grants {
        let Some(settings) = g.granted.iter().flatten().next().map(|t| t.privacy.clone()) else { continue };
        let budget = shuyu_store::privacy::budget(&mut conn, &g.id).await?;
        let tables: Vec<&str> = g.granted.iter().flatten().map(|t| t.table.as_str()).collect();
        privacy.push(json!({
            "grant": g.id, "tables": tables, "settings": settings, "budget": budget.as_ref().map(budget_view),
        }));
    }
    let mut metering = metering;
    metering["rows_exported"] = json!(rows_exported);
    metering["bytes_exported"] = json!(bytes_exported);
    drop(conn);
    let dir = workspace_dir(app, &w.id);
    let scratch: Vec<Value> = engine::scratch_tables(&dir)
        .into_iter()
        .map(|name| {
            let Ok(meta) = engine::read_meta(&engine::scratch_dir(&dir).join(&name)) else {
                return json!({ "name": name });
            };
            let grading = grading_in_force(&gradings, &name, &meta);
            let level = grading.map_or(meta.level, |g| g.to_level);
            let columns: Vec<Value> = meta
                .columns
                .iter()
                .map(|(n, l)| {
                    json!({ "name": n, "invisible": l.is_invisible(), "level": meta.column_level(l, grading.map(|g| g.to_level)) })
                })
                .collect();
            json!({ "name": name, "rows": meta.rows, "level": level, "computed_level": meta.level,
                    "grading": grading, "columns": columns })
        })
        .collect();
    let required = &app.profile.sandbox.request_reviewers;
    Ok(json!({
        "id": w.id,
        "operator_org": w.operator_org.to_string(),
        "agreement_id": w.agreement_id,
        "name": w.name,
        "members": w.members,
        "state": w.state,
        "created_at": w.created_at,
        "grants": grants.iter().map(|g| grant_view(g, required)).collect::<Vec<_>>(),
        "scratch_tables": scratch,
        "metering": metering,
        "destruction_certificates": certificates,
        "uploads": uploads,
        "privacy": privacy,
        "models": shuyu_sandbox::modelling::list(&dir)
            .iter()
            .map(|m| model_view(m, app.profile.sandbox.sensitive_level))
            .collect::<Vec<_>>(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkspaceBody {
    agreement_id: String,
    name: String,
    members: Vec<String>,
}

async fn check_members(app: &AppState, org: OrgId, members: &[String]) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    for m in members {
        let id: UserId = m.parse().map_err(|_| ApiError::not_found("person"))?;
        let u = shuyu_store::users::get(&mut *app.store.acquire().await?, id)
            .await?
            .filter(|u| u.org_id == org)
            .ok_or_else(|| ApiError::not_found("person"))?;
        check_clearance(app, u.id).await?;
        if !out.contains(m) {
            out.push(m.clone());
        }
    }
    Ok(out)
}

#[utoipa::path(post, path = "/api/v1/workspaces", tag = "sandbox", request_body = Object,
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_workspace(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let user = caller.require_user()?.clone();
    app.authorize(&caller, Action::WorkspaceCreate, &Resource::owned("Workspace", "new", user.org_id)).await?;
    let b: WorkspaceBody = parse_body(body)?;
    if b.name.trim().is_empty() {
        return Err(ApiError::validation(vec![FieldProblem::new("name", "name the project", "请填写项目名称")]));
    }
    filed_agreement(&app, &b.agreement_id, user.org_id).await?;
    let members = check_members(&app, user.org_id, &b.members).await?;
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let mut tx = app.begin().await?;
    let w = WorkspaceRecord {
        id: new_id(),
        operator_org: user.org_id,
        agreement_id: b.agreement_id,
        name: b.name,
        members,
        masking_key: hex::encode(key),
        state: "active".into(),
        created_at: shuyu_core::clock::format_instant(tx.now()),
    };
    let now = tx.now();
    store::insert_workspace(tx.conn(), &w, now).await?;
    tx.audit(
        &caller.ctx,
        "workspace.created",
        &format!("workspace:{}", w.id),
        Outcome::Success,
        json!({ "agreement": w.agreement_id, "name": w.name, "members": w.members }),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(workspace_view(&app, &w).await?)))
}

#[utoipa::path(get, path = "/api/v1/workspaces", tag = "sandbox", responses((status = 200, body = Object), (status = 401, body = ErrorBody)))]
pub async fn list_workspaces(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    app.authorize(&caller, Action::WorkspaceList, &Resource::platform()).await?;
    let user = caller.require_user()?;
    let all = user.roles.iter().any(|r| matches!(r.org_kind(), OrgKind::Authority | OrgKind::SecurityAuditor));
    let list =
        store::list_workspaces(&mut *app.store.acquire().await?, if all { None } else { Some(user.org_id) }).await?;
    let items: Vec<Value> = list
        .iter()
        .map(|w| json!({ "id": w.id, "name": w.name, "operator_org": w.operator_org.to_string(), "agreement_id": w.agreement_id, "state": w.state, "members": w.members }))
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// Only the workspace's members read and write inside it (YXO §22).
fn require_member(w: &WorkspaceRecord, user: &shuyu_store::users::UserRecord) -> ApiResult<()> {
    if w.members.contains(&user.id.to_string()) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::FORBIDDEN, "not_a_member").with_basis("YXO §22"))
    }
}

/// Records a refusal that the policies did not make (membership, clearance, the workspace's
/// state) before returning it, so every refused attempt on a workspace is in the audit log.
async fn refused(app: &AppState, caller: &Caller, action: Action, w: &WorkspaceRecord, e: ApiError) -> ApiError {
    let details = json!({ "code": e.body.code, "basis": e.body.basis });
    let resource = format!("workspace:{}", w.id);
    match app.store.record(app.clock.now(), &caller.ctx, action.as_str(), &resource, Outcome::Denied, details).await {
        Ok(_) => e,
        Err(err) => err.into(),
    }
}

async fn load_workspace(app: &AppState, caller: &Caller, id: &str, action: Action) -> ApiResult<WorkspaceRecord> {
    let w = store::get_workspace(&mut *app.store.acquire().await?, id)
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    app.authorize(caller, action, &workspace_resource(&w)).await?;
    Ok(w)
}

#[utoipa::path(get, path = "/api/v1/workspaces/{id}", tag = "sandbox", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_workspace(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let w = load_workspace(&app, &caller, &id, Action::WorkspaceRead).await?;
    Ok(Json(workspace_view(&app, &w).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachBody {
    grant_id: String,
}

#[utoipa::path(post, path = "/api/v1/workspaces/{id}/grants", tag = "sandbox", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn attach_grant(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let w = load_workspace(&app, &caller, &id, Action::WorkspaceManage).await?;
    let b: AttachBody = parse_body(body)?;
    let mut tx = app.begin().await?;
    let mut g = store::get_grant(tx.conn(), &b.grant_id)
        .await?
        .filter(|g| g.operator_org == w.operator_org)
        .ok_or_else(|| ApiError::not_found("grant"))?;
    if g.state != GrantState::Approved || g.agreement_id != w.agreement_id {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
            .with_reason(
                "only an approved grant under the workspace's agreement is attached",
                "只能挂接同一协议下已批准的授权",
            )
            .with_details(json!({ "action": "attach", "state": g.state })));
    }
    g.state = GrantState::Provisioned;
    g.workspace_id = Some(w.id.clone());
    let now = tx.now();
    store::update_grant(tx.conn(), &g, now).await?;
    tx.audit(
        &caller.ctx,
        "grant.provisioned",
        &format!("grant:{}", g.id),
        Outcome::Success,
        json!({ "workspace": w.id }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(workspace_view(&app, &w).await?))
}

/// How many of a workspace's recent answered queries (or a version's answered calls) the
/// differencing defence compares with.
pub(crate) const EARLIER_QUERIES: i64 = 50;

/// A workspace as the engine reads it, with its last answered queries for the differencing
/// defence (queries and training).
pub(crate) async fn queryable(app: &AppState, w: &WorkspaceRecord) -> ApiResult<engine::Workspace> {
    let mut ws = readable(app, w).await?;
    let mut conn = app.store.acquire().await?;
    ws.earlier = store::recent_answered(&mut conn, &w.id, EARLIER_QUERIES)
        .await?
        .into_iter()
        .map(|(query, sql)| Earlier { query, sql, params: None })
        .collect();
    Ok(ws)
}

/// What a query in the workspace may read today: its provisioned, unsealed, unexpired grants
/// with the current version of each entry's data, its approved uploads and its gradings.
pub(crate) async fn readable(app: &AppState, w: &WorkspaceRecord) -> ApiResult<engine::Workspace> {
    let mut conn = app.store.acquire().await?;
    let today = app.clock.today();
    let grants = store::workspace_grants(&mut conn, &w.id).await?;
    let mut governed = Vec::new();
    let mut sealed = w.state != "active";
    for g in grants {
        if !g.state.is_usable() || g.request.valid_until < today || g.request.valid_from > today {
            continue;
        }
        sealed |= g.sealed;
        for t in g.granted.iter().flatten() {
            if let Some(d) = store::current_dataset(&mut conn, &t.entry_id).await? {
                governed.push(engine::GovernedSource {
                    grant: t.clone(),
                    location: crate::sandbox::dataset_location(app, &d.path),
                });
            }
        }
    }
    let approved_uploads = store::workspace_uploads(&mut conn, &w.id)
        .await?
        .into_iter()
        .filter(|u| u.state == "approved")
        .map(|u| u.table_name)
        .collect();
    let grades = store::workspace_gradings(&mut conn, &w.id)
        .await?
        .into_iter()
        .map(|g| engine::Grade { table: g.table_name, version: g.table_version, level: g.to_level })
        .collect();
    let mut key = [0u8; 32];
    hex::decode_to_slice(&w.masking_key, &mut key).map_err(|_| ApiError::internal())?;
    let dir = workspace_dir(app, &w.id);
    Ok(engine::Workspace {
        key,
        governed,
        dir,
        approved_uploads,
        sealed,
        grades,
        earlier: Vec::new(),
        cluster: app.cluster.clone(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryBody {
    sql: String,
    /// A UUID the client picks, to cancel the query while it runs.
    #[serde(default)]
    query_id: Option<uuid::Uuid>,
    /// On a differential-privacy grant: spend less than the grant's per-query ε.
    #[serde(default)]
    epsilon: Option<shuyu_core::privacy::Epsilon>,
}

pub(crate) fn limits(app: &AppState) -> Limits {
    let sb = &app.profile.sandbox;
    Limits {
        timeout: Duration::from_secs(sb.query_seconds),
        memory_bytes: usize::try_from(sb.query_memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
        display_rows: usize::try_from(sb.query_display_rows).unwrap_or(1000),
        partitions: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
        epsilon: None,
        min_group_size: u64::from(app.profile.privacy.min_group_size),
    }
}

/// Unregisters a running query, and stops it if it is still running.
struct StopOnDrop<'a> {
    app: &'a AppState,
    id: &'a str,
    abort: tokio::task::AbortHandle,
}

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.abort.abort();
        if let Ok(mut running) = self.app.running_queries.lock() {
            running.remove(self.id);
        }
    }
}

fn outcome_name(e: &SandboxError) -> &'static str {
    match e {
        SandboxError::Refused { .. } => "refused",
        SandboxError::NotFound(_) => "not_found",
        SandboxError::Limit(_) => "limit",
        SandboxError::Cancelled => "cancelled",
        SandboxError::Sql(_) | SandboxError::Invalid(_) => "invalid",
        _ => "error",
    }
}

/// Who may run a statement in the workspace: the role's permission, a workspace not destroyed,
/// membership and a clearance in force. A refusal is audited.
async fn admit_query(
    app: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<(WorkspaceRecord, shuyu_store::users::UserRecord)> {
    let w = load_workspace(app, caller, id, Action::WorkspaceQuery).await?;
    let user = caller.require_user()?.clone();
    let admitted = async {
        if w.state == "destroyed" {
            return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
                .with_reason("the workspace was destroyed", "该工作空间已销毁")
                .with_basis("WX §19"));
        }
        require_member(&w, &user)?;
        // Clearance is checked at every query: a confidentiality agreement may have lapsed.
        check_clearance(app, user.id).await
    };
    if let Err(e) = admitted.await {
        return Err(refused(app, caller, Action::WorkspaceQuery, &w, e).await);
    }
    Ok((w, user))
}

/// The tables a member could query now, with their columns as queries see them: the Flight SQL
/// catalogue. Admitted exactly as a query is.
pub(crate) async fn workspace_tables(
    app: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<Vec<(String, datafusion::arrow::datatypes::SchemaRef)>> {
    let (w, _) = admit_query(app, caller, id).await?;
    let ws = readable(app, &w).await?;
    ws.tables(&limits(app)).await.map_err(sandbox_error)
}

/// A governed query that was answered, recorded and audited.
pub(crate) struct Answered {
    pub query: String,
    pub output: QueryOutput,
    pub touched: Vec<String>,
    pub privacy: Option<(String, Spend)>,
}

/// Runs one statement in a workspace under every rule of the sandbox: the caller's role, the
/// workspace's state, membership and clearance, the grants (through the engine), limits and the
/// privacy budget; records the query and its audit event before anything is returned. The HTTP
/// API and the Flight SQL endpoint both answer through here.
pub(crate) async fn governed_query(
    app: &AppState,
    caller: &Caller,
    id: &str,
    sql: &str,
    query_id: Option<uuid::Uuid>,
    epsilon: Option<shuyu_core::privacy::Epsilon>,
) -> ApiResult<Answered> {
    let (w, user) = admit_query(app, caller, id).await?;
    let ws = queryable(app, &w).await?;
    let query_id = query_id.map(|u| u.to_string()).unwrap_or_else(new_id);
    let task = {
        let sql = sql.to_string();
        let limits = Limits { epsilon, ..limits(app) };
        tokio::spawn(async move { ws.run(&sql, &limits).await })
    };
    {
        let mut running = app.running_queries.lock().map_err(|_| ApiError::internal())?;
        if running.contains_key(&query_id) {
            task.abort();
            return Err(ApiError::new(StatusCode::CONFLICT, "conflict").with_details(json!({ "what": query_id })));
        }
        running.insert(
            query_id.clone(),
            crate::state::RunningQuery {
                workspace: w.id.clone(),
                user: user.id.to_string(),
                abort: task.abort_handle(),
            },
        );
    }
    // If the request goes away (client gone, request timeout), the query stops with it.
    let guard = StopOnDrop { app, id: &query_id, abort: task.abort_handle() };
    let joined = task.await;
    drop(guard);
    let result = match joined {
        Ok(r) => r,
        Err(e) if e.is_cancelled() => Err(SandboxError::Cancelled),
        Err(_) => Err(SandboxError::Engine("the query task failed".into())),
    };
    let level = result.as_ref().map(|o| o.level).unwrap_or(0);
    let (outcome, rows, metering, touched) = match &result {
        Ok(out) => {
            let (name, rows) = match &out.outcome {
                QueryOutcome::Rows { rows, .. } => ("rows", *rows as i64),
                QueryOutcome::Created { rows, .. } => ("created", *rows as i64),
                QueryOutcome::Dropped { .. } => ("dropped", 0),
                QueryOutcome::Private(_) => ("private", 0),
            };
            (name, rows, out.metering.clone(), out.touched.iter().cloned().collect::<Vec<_>>())
        }
        Err(e) => (outcome_name(e), 0, Default::default(), Vec::new()),
    };
    let mut tx = app.begin().await?;
    // A differentially private answer is paid for here, in the transaction that records the
    // query, before any noise is drawn or anything is released.
    let mut privacy = None;
    let mut outcome = outcome;
    if let Ok(QueryOutput { outcome: QueryOutcome::Private(p), .. }) = &result {
        let grant = grant_of_table(tx.conn(), &w.id, &p.table).await?;
        let now = tx.now();
        let spent =
            shuyu_store::privacy::spend(tx.conn(), &grant, &query_id, p.epsilon, p.delta, &user.id.to_string(), now)
                .await?;
        if matches!(spent, Spend::Exhausted(_)) {
            outcome = "refused";
        }
        privacy = Some((grant, spent));
    }
    let q = QueryRecord {
        id: query_id.clone(),
        workspace_id: w.id.clone(),
        operator_org: w.operator_org,
        user_id: user.id.to_string(),
        statement: sql.to_string(),
        outcome: outcome.into(),
        rows,
        cpu_ms: metering.cpu_ms as i64,
        bytes_scanned: metering.bytes_scanned as i64,
        elapsed_ms: metering.elapsed_ms as i64,
    };
    let now = tx.now();
    store::insert_query(tx.conn(), &q, now).await?;
    let exhausted = matches!(privacy, Some((_, Spend::Exhausted(_))));
    let audit_outcome = match &result {
        Ok(_) if exhausted => Outcome::Denied,
        Ok(_) => Outcome::Success,
        Err(SandboxError::Refused { .. }) | Err(SandboxError::NotFound(_)) => Outcome::Denied,
        Err(_) => Outcome::Failure,
    };
    let error = result.as_ref().err().map(|e| e.to_string());
    tx.audit(
        &caller.ctx,
        "workspace.query",
        &format!("workspace:{}", w.id),
        audit_outcome,
        json!({ "query": q.id, "sql": sql, "outcome": outcome, "rows": rows, "touched": touched, "level": level,
                "metering": metering, "error": error, "privacy": privacy.as_ref().map(|(g, s)| budget_json(g, s)) }),
    )
    .await?;
    tx.commit().await?;
    let output = result.map_err(sandbox_error)?;
    if let Some((grant, spend @ Spend::Exhausted(_))) = &privacy {
        return Err(budget_exhausted(grant, spend));
    }
    Ok(Answered { query: q.id, output, touched, privacy })
}

#[utoipa::path(post, path = "/api/v1/workspaces/{id}/queries", tag = "sandbox", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn run_query(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let b: QueryBody = parse_body(body)?;
    let Answered { query, output: out, touched, privacy } =
        governed_query(&app, &caller, &id, &b.sql, b.query_id, b.epsilon).await?;
    match out.outcome {
        QueryOutcome::Rows { schema, batches, rows, truncated, suppressed, .. } => {
            let arrow = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("application/vnd.apache.arrow.stream"));
            if arrow {
                let mut buf = Vec::new();
                {
                    let mut w = datafusion_ipc_writer(&mut buf, &schema)?;
                    for b in &batches {
                        w.write(b).map_err(|_| ApiError::internal())?;
                    }
                    w.finish().map_err(|_| ApiError::internal())?;
                }
                return Ok(([(header::CONTENT_TYPE, "application/vnd.apache.arrow.stream")], buf).into_response());
            }
            let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
            let data = rows_as_json(&batches, &columns)?;
            Ok(Json(json!({
                "query": query, "columns": columns, "rows": data, "row_count": rows, "truncated": truncated,
                "touched": touched, "metering": out.metering, "suppressed_groups": suppressed,
            }))
            .into_response())
        }
        QueryOutcome::Created { table, rows, level } => Ok(Json(
            json!({ "query": query, "created": table, "row_count": rows, "level": level, "metering": out.metering }),
        )
        .into_response()),
        QueryOutcome::Dropped { table } => Ok(Json(json!({ "query": query, "dropped": table })).into_response()),
        QueryOutcome::Private(p) => {
            let released = p.release(&mut rand::rngs::OsRng).map_err(sandbox_error)?;
            Ok(Json(json!({
                "query": query, "columns": released.columns, "rows": released.rows, "row_count": released.rows.len(),
                "truncated": false, "touched": touched, "privacy": {
                    "epsilon": released.epsilon, "delta": released.delta, "mechanism": released.mechanism,
                    "noise": released.noise,
                    "budget": privacy.as_ref().map(|(g, s)| budget_json(g, s)),
                },
            }))
            .into_response())
        }
    }
}

/// The grant a workspace reads a table through.
pub(crate) async fn grant_of_table(
    conn: &mut shuyu_store::AnyConnection,
    workspace: &str,
    table: &str,
) -> ApiResult<String> {
    store::workspace_grants(conn, workspace)
        .await?
        .into_iter()
        .find(|g| g.granted.iter().flatten().any(|t| t.table == table))
        .map(|g| g.id)
        .ok_or_else(|| ApiError::not_found("grant"))
}

fn budget_view(b: &shuyu_store::privacy::Budget) -> Value {
    json!({
        "epsilon_total": b.epsilon_total as f64 / 1e6, "epsilon_spent": b.epsilon_spent as f64 / 1e6,
        "epsilon_left": b.epsilon_left() as f64 / 1e6,
        "delta_total": b.delta_total as f64 / 1e12, "delta_spent": b.delta_spent as f64 / 1e12,
        "delta_left": b.delta_left() as f64 / 1e12,
    })
}

/// The refusal of an answer the grant's privacy budget cannot pay for (workspace queries and
/// interface calls alike).
pub(crate) fn budget_exhausted(grant: &str, spend: &Spend) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "privacy_budget_exhausted")
        .with_reason(
            "the grant's privacy budget cannot pay for this query; the authority may grant more, with a reason",
            "该授权的隐私预算不足以支付本次查询；如确有需要，须由数据主管部门说明理由后追加",
        )
        .with_basis("SPEC §4.5")
        .with_details(budget_json(grant, spend))
}

pub(crate) fn budget_json(grant: &str, s: &Spend) -> Value {
    let (spent, b) = match s {
        Spend::Spent(b) => (true, b),
        Spend::Exhausted(b) => (false, b),
    };
    json!({ "grant": grant, "paid": spent, "budget": budget_view(b) })
}

fn datafusion_ipc_writer<'a>(
    buf: &'a mut Vec<u8>,
    schema: &datafusion::arrow::datatypes::Schema,
) -> ApiResult<datafusion::arrow::ipc::writer::StreamWriter<&'a mut Vec<u8>>> {
    datafusion::arrow::ipc::writer::StreamWriter::try_new(buf, schema).map_err(|_| ApiError::internal())
}

pub(crate) fn rows_as_json(
    batches: &[datafusion::arrow::array::RecordBatch],
    columns: &[String],
) -> ApiResult<Vec<Value>> {
    let mut buf = Vec::new();
    {
        let mut w = datafusion::arrow::json::ArrayWriter::new(&mut buf);
        let refs: Vec<&datafusion::arrow::array::RecordBatch> = batches.iter().collect();
        w.write_batches(&refs).map_err(|_| ApiError::internal())?;
        w.finish().map_err(|_| ApiError::internal())?;
    }
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    let objects: Vec<serde_json::Map<String, Value>> =
        serde_json::from_slice(&buf).map_err(|_| ApiError::internal())?;
    Ok(objects
        .into_iter()
        .map(|o| Value::Array(columns.iter().map(|c| o.get(c).cloned().unwrap_or(Value::Null)).collect()))
        .collect())
}

// ---------------------------------------------------------------- sealing and risk reports

async fn set_state(
    app: &AppState,
    caller: &Caller,
    w: &WorkspaceRecord,
    state: &str,
    event: &str,
    details: Value,
) -> ApiResult<Value> {
    let mut tx = app.begin().await?;
    let mut w = store::get_workspace(tx.conn(), &w.id).await?.ok_or_else(|| ApiError::not_found("workspace"))?;
    if w.state == "destroyed" {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
            .with_details(json!({ "action": event, "state": w.state })));
    }
    w.state = state.into();
    let now = tx.now();
    store::update_workspace(tx.conn(), &w, now).await?;
    tx.audit(&caller.ctx, event, &format!("workspace:{}", w.id), Outcome::Success, details).await?;
    tx.commit().await?;
    workspace_view(app, &w).await
}

#[utoipa::path(post, path = "/api/v1/workspaces/{id}/seal", tag = "sandbox", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn seal_workspace(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let w = load_workspace(&app, &caller, &id, Action::WorkspaceSeal).await?;
    let b: ReasonBody = parse_body(body)?;
    require_reason(&b.reason)?;
    Ok(Json(set_state(&app, &caller, &w, "sealed", "workspace.sealed", json!({ "reason": b.reason })).await?))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{id}/unseal", tag = "sandbox", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn unseal_workspace(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let w = load_workspace(&app, &caller, &id, Action::WorkspaceUnseal).await?;
    let b: ReasonBody = parse_body(body)?;
    require_reason(&b.reason)?;
    if w.state != "sealed" {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
            .with_details(json!({ "action": "unseal", "state": w.state })));
    }
    Ok(Json(set_state(&app, &caller, &w, "active", "workspace.unsealed", json!({ "reason": b.reason })).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RiskBody {
    description: String,
}

/// WX §15: an operator that finds a risk reports it; processing stops at once (the workspace
/// is sealed) and the authority is told through the audited event it supervises.
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/risk-reports", tag = "sandbox", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn report_risk(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let w = load_workspace(&app, &caller, &id, Action::WorkspaceReportRisk).await?;
    let b: RiskBody = parse_body(body)?;
    if b.description.trim().is_empty() {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "description",
            "describe the risk",
            "请描述发现的风险",
        )]));
    }
    let view = set_state(
        &app,
        &caller,
        &w,
        "sealed",
        "workspace.risk_reported",
        json!({ "description": b.description, "notify": "authority", "basis": "WX §15" }),
    )
    .await?;
    Ok(Json(view))
}

/// WX §19: an operator asks for destruction when the purpose is fulfilled; the authority may
/// order it. The answer is the signed certificate.
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/destroy", tag = "sandbox", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn destroy_workspace(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let w = load_workspace(&app, &caller, &id, Action::WorkspaceDestroy).await?;
    let b: ReasonBody = parse_body(body)?;
    require_reason(&b.reason)?;
    if w.state == "destroyed" {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
            .with_details(json!({ "action": "destroy", "state": w.state })));
    }
    let cert = crate::sandbox::destroy(&app, &caller.ctx, &w, None, &b.reason, "WX §19").await?;
    Ok(Json(json!({ "certificate": cert })))
}

/// Anyone may check a destruction certificate against the platform's certificate key.
#[utoipa::path(get, path = "/api/v1/public/destruction-certificates/{id}", tag = "sandbox", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn get_destruction_certificate(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (cert, signature) = store::get_certificate(&mut *app.store.acquire().await?, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("destruction certificate"))?;
    let valid = cert.verify(&app.certificate_signer.verifying_key(), &signature);
    Ok(Json(json!({
        "certificate": cert,
        "signature": signature,
        "public_key": app.certificate_signer.verifying_key_hex(),
        "valid": valid,
    })))
}

// ---------------------------------------------------------------- exports

fn export_view(e: &store::ExportRecord) -> Value {
    json!({
        "id": e.id, "workspace_id": e.workspace_id, "operator_org": e.operator_org.to_string(),
        "table": e.table_name, "purpose": e.purpose, "state": e.state, "checks": e.checks, "rows": e.rows,
        "reason": e.reason, "sha256": e.sha256, "bytes": e.bytes, "requested_by": e.requested_by,
        "reviewed_by": e.reviewed_by, "created_at": e.created_at,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportBody {
    table: String,
    purpose: String,
    #[serde(default)]
    group_size_column: Option<String>,
}

/// The workspace's grants with whether each allows aggregates only.
async fn grant_rules(app: &AppState, ws: &str) -> ApiResult<Vec<(grants::GrantedTable, bool)>> {
    let list = store::workspace_grants(&mut *app.store.acquire().await?, ws).await?;
    Ok(list
        .into_iter()
        .flat_map(|g| {
            let legacy = g.request.aggregation_only;
            g.granted.unwrap_or_default().into_iter().map(move |t| {
                let only = legacy || !t.privacy.reads_rows();
                (t, only)
            })
        })
        .collect())
}

#[utoipa::path(post, path = "/api/v1/workspaces/{id}/exports", tag = "sandbox", params(("id" = String, Path)), request_body = Object,
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn request_export(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let w = load_workspace(&app, &caller, &id, Action::ExportRequest).await?;
    let user = caller.require_user()?.clone();
    if let Err(e) = require_member(&w, &user) {
        return Err(refused(&app, &caller, Action::ExportRequest, &w, e).await);
    }
    if w.state != "active" {
        let e = ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
            .with_details(json!({ "action": "export", "state": w.state }))
            .with_basis("WX §19");
        return Err(refused(&app, &caller, Action::ExportRequest, &w, e).await);
    }
    let b: ExportBody = parse_body(body)?;
    if b.purpose.trim().is_empty() {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "purpose",
            "say what the export is for",
            "请说明导出用途",
        )]));
    }
    let dir = workspace_dir(&app, &w.id);
    let table = b.table.clone();
    let (meta, batches) = tokio::task::spawn_blocking(move || shuyu_sandbox::export::read_scratch(&dir, &table))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(sandbox_error)?;
    let grants_in_ws = grant_rules(&app, &w.id).await?;
    let rules = shuyu_sandbox::export::Rules {
        grants: &grants_in_ws,
        sensitive_level: app.profile.sandbox.sensitive_level,
        max_rows: app.profile.sandbox.max_export_rows,
        min_group_size: u64::from(app.profile.privacy.min_group_size),
    };
    let checks = shuyu_sandbox::export::check(&meta, &batches, b.group_size_column.as_deref(), &rules);
    let passed = checks.iter().all(|c| c.passed);
    let rows: i64 = batches.iter().map(|b| b.num_rows() as i64).sum();
    let mut tx = app.begin().await?;
    let e = store::ExportRecord {
        id: new_id(),
        workspace_id: w.id.clone(),
        operator_org: w.operator_org,
        table_name: b.table,
        purpose: b.purpose,
        state: if passed { "pending_review" } else { "checks_failed" }.into(),
        checks: serde_json::to_value(&checks).map_err(|_| ApiError::internal())?,
        rows,
        reason: None,
        watermark_key: None,
        sha256: None,
        bytes: None,
        requested_by: user.id.to_string(),
        reviewed_by: None,
        created_at: shuyu_core::clock::format_instant(tx.now()),
    };
    let now = tx.now();
    store::insert_export(tx.conn(), &e, now).await?;
    tx.audit(
        &caller.ctx,
        "export.requested",
        &format!("workspace:{}", w.id),
        if passed { Outcome::Success } else { Outcome::Denied },
        json!({ "export": e.id, "table": e.table_name, "rows": rows, "checks": e.checks }),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(export_view(&e))))
}

#[utoipa::path(get, path = "/api/v1/exports", tag = "sandbox", responses((status = 200, body = Object), (status = 401, body = ErrorBody)))]
pub async fn list_exports(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    app.authorize(&caller, Action::ExportList, &Resource::platform()).await?;
    let user = caller.require_user()?;
    let all = user.roles.iter().any(|r| matches!(r.org_kind(), OrgKind::Authority | OrgKind::SecurityAuditor));
    let list =
        store::list_exports(&mut *app.store.acquire().await?, if all { None } else { Some(user.org_id) }).await?;
    Ok(Json(json!({ "items": list.iter().map(export_view).collect::<Vec<_>>() })))
}

async fn load_export(app: &AppState, caller: &Caller, id: &str, action: Action) -> ApiResult<store::ExportRecord> {
    let e =
        store::get_export(&mut *app.store.acquire().await?, id).await?.ok_or_else(|| ApiError::not_found("export"))?;
    app.authorize(caller, action, &Resource::owned("Export", e.id.clone(), e.operator_org)).await?;
    Ok(e)
}

#[utoipa::path(get, path = "/api/v1/exports/{id}", tag = "sandbox", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_export(State(app): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(export_view(&load_export(&app, &caller, &id, Action::ExportRead).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    approved: bool,
    reason: String,
}

/// Where an approved export's watermarked file is kept in object storage.
pub(crate) fn export_key(e: &store::ExportRecord) -> String {
    format!("exports/{}/{}.csv", e.workspace_id, e.id)
}

/// The stored (watermarked) file of an export, when it is there.
pub(crate) async fn export_file(app: &AppState, e: &store::ExportRecord) -> Option<Vec<u8>> {
    match app.objects.get(&export_key(e)).await {
        Ok(found) => found.map(|b| b.to_vec()),
        Err(err) => {
            tracing::error!(error = %err, "reading an export");
            None
        }
    }
}

#[utoipa::path(post, path = "/api/v1/exports/{id}/review", tag = "sandbox", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn review_export(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let e = load_export(&app, &caller, &id, Action::ExportReview).await?;
    let user = caller.require_user()?.clone();
    let b: DecisionBody = parse_body(body)?;
    require_reason(&b.reason)?;
    let kind = organisations::get(&mut *app.store.acquire().await?, user.org_id).await?.map(|o| o.kind);
    if !kind.is_some_and(|k| app.profile.sandbox.export_reviewers.contains(&k)) {
        return Err(ApiError::forbidden()
            .with_reason("the profile does not name you as an export reviewer", "本地规则未将贵单位列为导出审核单位"));
    }
    if e.state != "pending_review" {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
            .with_details(json!({ "action": "review", "state": e.state })));
    }
    let mut e = e;
    e.reviewed_by = Some(user.id.to_string());
    e.reason = Some(b.reason.clone());
    if b.approved {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        let dir = workspace_dir(&app, &e.workspace_id);
        let table = e.table_name.clone();
        let csv = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, SandboxError> {
            let (_, batches) = shuyu_sandbox::export::read_scratch(&dir, &table)?;
            let marked = shuyu_sandbox::watermark::embed(&batches, &key)?;
            shuyu_sandbox::watermark::to_csv(&marked)
        })
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(sandbox_error)?;
        let written = {
            use sha2::Digest;
            (hex::encode(sha2::Sha256::digest(&csv)), csv.len() as u64)
        };
        // Stored before the approval is committed: an approved export always has its file.
        app.objects.put(&export_key(&e), csv.into()).await.map_err(|err| {
            tracing::error!(error = %err, "storing an export");
            ApiError::internal()
        })?;
        e.state = "approved".into();
        e.watermark_key = Some(hex::encode(key));
        e.sha256 = Some(written.0);
        e.bytes = Some(written.1 as i64);
    } else {
        e.state = "refused".into();
    }
    let mut tx = app.begin().await?;
    let now = tx.now();
    store::update_export(tx.conn(), &e, now).await?;
    tx.audit(
        &caller.ctx,
        "export.reviewed",
        &format!("workspace:{}", e.workspace_id),
        Outcome::Success,
        json!({ "export": e.id, "approved": b.approved, "reason": b.reason, "sha256": e.sha256 }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(export_view(&e)))
}

#[utoipa::path(get, path = "/api/v1/exports/{id}/download", tag = "sandbox", params(("id" = String, Path)),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn download_export(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let e = load_export(&app, &caller, &id, Action::ExportDownload).await?;
    if e.state != "approved" {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
            .with_details(json!({ "action": "download", "state": e.state })));
    }
    let bytes = export_file(&app, &e).await.ok_or_else(|| ApiError::not_found("export file"))?;
    app.record_access(
        &caller,
        Action::ExportDownload,
        &format!("workspace:{}", e.workspace_id),
        json!({ "export": e.id, "sha256": e.sha256, "bytes": bytes.len() }),
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"export-{}.csv\"", e.id)),
        ],
        bytes,
    )
        .into_response())
}

/// A suspect file's origin: every approved export's watermark is tested.
#[utoipa::path(post, path = "/api/v1/exports/trace", tag = "sandbox",
    request_body(content = Vec<u8>, content_type = "text/csv"),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn trace_export(State(app): State<AppState>, caller: Caller, body: Bytes) -> ApiResult<Json<Value>> {
    app.authorize(&caller, Action::ExportTrace, &Resource::platform()).await?;
    let keys = store::watermarked_exports(&mut *app.store.acquire().await?).await?;
    let candidates: Vec<(String, [u8; 32])> = keys
        .into_iter()
        .filter_map(|(id, k)| {
            let mut key = [0u8; 32];
            hex::decode_to_slice(&k, &mut key).ok().map(|_| (id, key))
        })
        .collect();
    let evidence = tokio::task::spawn_blocking(move || shuyu_sandbox::watermark::trace(&body, &candidates))
        .await
        .map_err(|_| ApiError::internal())?;
    let attributed = evidence.first().filter(|e| e.attributed).cloned();
    let export = match &attributed {
        Some(a) => store::get_export(&mut *app.store.acquire().await?, &a.export_id).await?.map(|e| export_view(&e)),
        None => None,
    };
    app.record_access(
        &caller,
        Action::ExportTrace,
        "exports",
        json!({ "attributed": attributed.as_ref().map(|a| &a.export_id), "compared": evidence.len() }),
    )
    .await?;
    Ok(Json(json!({
        "attributed": attributed.is_some(),
        "export": export,
        "evidence": evidence.into_iter().take(3).collect::<Vec<_>>(),
        "false_attribution_bound": shuyu_sandbox::watermark::FALSE_ATTRIBUTION,
    })))
}

// ---------------------------------------------------------------- operator uploads

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The table name inside the workspace.
    pub table: String,
    /// `csv` or `jsonl`.
    pub format: String,
    /// Where the data comes from and why it is lawful to use.
    pub source: String,
}

/// WX §16.3: an operator imports its own lawful data into a workspace; it can be read only after
/// a reviewer the profile names approves it.
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/uploads", tag = "sandbox", params(("id" = String, Path), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn upload_data(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<UploadQuery>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let w = load_workspace(&app, &caller, &id, Action::WorkspaceQuery).await?;
    let user = caller.require_user()?.clone();
    require_member(&w, &user)?;
    if w.state != "active" {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
            .with_details(json!({ "action": "upload", "state": w.state })));
    }
    let format = match Format::parse(&q.format) {
        Some(f @ (Format::Csv | Format::JsonLines)) => f,
        _ => {
            return Err(ApiError::validation(vec![FieldProblem::new(
                "format",
                "csv or jsonl",
                "文件格式须为 csv 或 jsonl",
            )]))
        }
    };
    let mut problems = Vec::new();
    if !grants::is_identifier(&q.table) {
        problems.push(FieldProblem::new(
            "table",
            "lower-case letters, digits and _",
            "表名只能使用小写字母、数字和下划线",
        ));
    }
    if q.source.trim().is_empty() {
        problems.push(FieldProblem::new(
            "source",
            "say where the data comes from and why its use is lawful",
            "请说明数据来源及其合法性",
        ));
    }
    if !problems.is_empty() {
        return Err(ApiError::validation(problems).with_basis("WX §16"));
    }
    let ws = readable(&app, &w).await?;
    let taken = ws.governed.iter().any(|g| g.grant.table == q.table)
        || ws.scratch_tables().contains(&q.table)
        || store::workspace_uploads(&mut *app.store.acquire().await?, &w.id)
            .await?
            .iter()
            .any(|u| u.table_name == q.table);
    if taken {
        return Err(ApiError::new(StatusCode::CONFLICT, "conflict").with_details(json!({ "what": q.table })));
    }
    let dir = engine::uploads_dir(&workspace_dir(&app, &w.id)).join(&q.table);
    let upload = data_dir(&app).join("tmp").join(format!("{}.upload", new_id()));
    let table = q.table.clone();
    let result = tokio::task::spawn_blocking({
        let dir = dir.clone();
        let upload = upload.clone();
        move || -> Result<ingest::Evidence, SandboxError> {
            if let Some(parent) = upload.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&upload, &body)?;
            let evidence = ingest::ingest_upload(&upload, format, &dir);
            let _ = std::fs::remove_file(&upload);
            let evidence = evidence?;
            let meta = engine::TableMeta {
                columns: evidence
                    .schema
                    .iter()
                    .map(|(c, _)| (c.clone(), shuyu_sandbox::lineage::ColumnLineage::stored(&table, c, 1, false)))
                    .collect(),
                level: 1,
                rows: evidence.rows,
                version: evidence.stored_sha256.clone(),
                subjects: Vec::new(),
                model: None,
            };
            engine::write_meta(&dir, &meta)?;
            Ok(evidence)
        }
    })
    .await
    .map_err(|_| ApiError::internal())?;
    let evidence = match result {
        Ok(e) => e,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(match e {
                SandboxError::Invalid(m) => ApiError::validation(vec![FieldProblem::new(
                    "file",
                    m,
                    "文件内容不符合要求：列名须为小写字母、数字和下划线",
                )]),
                other => sandbox_error(other),
            });
        }
    };
    let mut tx = app.begin().await?;
    let u = store::UploadRecord {
        id: new_id(),
        workspace_id: w.id.clone(),
        operator_org: w.operator_org.to_string(),
        table_name: q.table,
        source: q.source,
        evidence: serde_json::to_value(&evidence).map_err(|_| ApiError::internal())?,
        state: "pending".into(),
        reason: None,
        uploaded_by: user.id.to_string(),
        reviewed_by: None,
        created_at: shuyu_core::clock::format_instant(tx.now()),
    };
    let now = tx.now();
    store::insert_upload(tx.conn(), &u, now).await?;
    tx.audit(
        &caller.ctx,
        "upload.submitted",
        &format!("workspace:{}", w.id),
        Outcome::Success,
        json!({ "upload": u.id, "table": u.table_name, "source": u.source, "evidence": u.evidence }),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(json!(u))))
}

#[utoipa::path(post, path = "/api/v1/uploads/{id}/review", tag = "sandbox", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn review_upload(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    app.authorize(&caller, Action::UploadReview, &Resource::platform()).await?;
    let user = caller.require_user()?.clone();
    let b: DecisionBody = parse_body(body)?;
    require_reason(&b.reason)?;
    let kind = organisations::get(&mut *app.store.acquire().await?, user.org_id).await?.map(|o| o.kind);
    if !kind.is_some_and(|k| app.profile.sandbox.social_data_reviewers.contains(&k)) {
        return Err(ApiError::forbidden()
            .with_reason(
                "the profile does not name you as a reviewer of social data",
                "本地规则未将贵单位列为社会数据审核单位",
            )
            .with_basis("WX §16"));
    }
    let mut tx = app.begin().await?;
    let mut u = store::get_upload(tx.conn(), &id).await?.ok_or_else(|| ApiError::not_found("upload"))?;
    if u.state != "pending" {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
            .with_details(json!({ "action": "review", "state": u.state })));
    }
    u.state = if b.approved { "approved" } else { "refused" }.into();
    u.reason = Some(b.reason.clone());
    u.reviewed_by = Some(user.id.to_string());
    let now = tx.now();
    store::update_upload(tx.conn(), &u, now).await?;
    tx.audit(
        &caller.ctx,
        "upload.reviewed",
        &format!("workspace:{}", u.workspace_id),
        Outcome::Success,
        json!({ "upload": u.id, "approved": b.approved, "reason": b.reason }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!(u)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GradeBody {
    level: u8,
    reason: String,
}

/// A reviewer grades a derived table again (GB/T 43697 annex I): until then it carries the
/// highest level of what it was computed from (就高从严). The grading holds for this version of
/// the table; tables computed from it inherit the new level.
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/tables/{table}/grade", tag = "sandbox",
    params(("id" = String, Path), ("table" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn grade_table(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, table)): Path<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let w = load_workspace(&app, &caller, &id, Action::TableGrade).await?;
    let user = caller.require_user()?.clone();
    let b: GradeBody = parse_body(body)?;
    require_reason(&b.reason)?;
    if !(1..=4).contains(&b.level) {
        return Err(ApiError::validation(vec![FieldProblem::new("level", "a level from 1 to 4", "级别应为 1 至 4")]));
    }
    let kind = organisations::get(&mut *app.store.acquire().await?, user.org_id).await?.map(|o| o.kind);
    if !kind.is_some_and(|k| app.profile.sandbox.export_reviewers.contains(&k)) {
        return Err(ApiError::forbidden().with_reason(
            "the profile does not name you as a reviewer of derived data",
            "本地规则未将贵单位列为衍生数据定级审核单位",
        ));
    }
    if w.state != "active" {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
            .with_details(json!({ "action": "grade", "state": w.state }))
            .with_basis("WX §19"));
    }
    let ws_dir = workspace_dir(&app, &w.id);
    if !engine::scratch_tables(&ws_dir).contains(&table) {
        return Err(ApiError::not_found("scratch table"));
    }
    let meta = engine::read_meta(&engine::scratch_dir(&ws_dir).join(&table)).map_err(sandbox_error)?;
    if meta.version.is_empty() {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
            .with_reason(
                "the table was written before tables had versions: create it again, then grade it",
                "该结果表生成于版本记录之前，请重新生成后再定级",
            )
            .with_details(json!({ "action": "grade", "table": table })));
    }
    let mut tx = app.begin().await?;
    let earlier = store::workspace_gradings(tx.conn(), &w.id).await?;
    let current = grading_in_force(&earlier, &table, &meta).map_or(meta.level, |g| g.to_level);
    let g = store::TableGrading {
        id: new_id(),
        workspace_id: w.id.clone(),
        table_name: table.clone(),
        table_version: meta.version.clone(),
        from_level: current,
        to_level: b.level,
        reason: b.reason.clone(),
        graded_by: user.id.to_string(),
        graded_at: shuyu_core::clock::format_instant(tx.now()),
    };
    store::insert_grading(tx.conn(), &g).await?;
    tx.audit(
        &caller.ctx,
        "workspace.table_graded",
        &format!("workspace:{}", w.id),
        Outcome::Success,
        json!({ "table": table, "version": meta.version, "computed_level": meta.level, "from": current,
                "to": b.level, "reason": b.reason }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!(g)))
}

/// Stops a running query: its author, or the authority, may cancel it.
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/queries/{query_id}/cancel", tag = "sandbox",
    params(("id" = String, Path), ("query_id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn cancel_query(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, query_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let w = load_workspace(&app, &caller, &id, Action::WorkspaceRead).await?;
    let user = caller.require_user()?.clone();
    let authority = app.authz.authorize(&caller.principal, Action::WorkspaceSeal, &workspace_resource(&w)).is_ok();
    let abort = {
        let running = app.running_queries.lock().map_err(|_| ApiError::internal())?;
        match running.get(&query_id) {
            Some(r) if r.workspace == w.id && (r.user == user.id.to_string() || authority) => r.abort.clone(),
            Some(r) if r.workspace == w.id => return Err(ApiError::forbidden()),
            _ => return Err(ApiError::not_found("running query")),
        }
    };
    abort.abort();
    app.record_access(&caller, Action::WorkspaceRead, &format!("workspace:{}", w.id), json!({ "cancelled": query_id }))
        .await?;
    Ok(Json(json!({ "query": query_id, "cancelled": true })))
}
