//! Supervision over HTTP (SPEC §6): the authority's alert queue with suspension in one action
//! (JS §24, WH §33, WX §10), the monitor's status, and the audit log's retention (YXO §19):
//! no event is deleted through the API, whoever asks.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{Months, NaiveDate};
use serde::Deserialize;
use serde_json::{json, Value};
use shuyu_audit::Outcome;
use shuyu_authz::{Action, Resource};
use shuyu_core::ids::OrgId;
use shuyu_core::operators::OrgStatus;
use shuyu_core::products::ProductStatus;
use shuyu_store::supervision::{self as store, AlertRecord};
use shuyu_store::{audit, operators, products};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldProblem};
use crate::extract::{parse_body, ApiJson, ApiQuery};
use crate::routes::audit::EventView;
use crate::state::AppState;

fn alert_resource(id: &str) -> Resource {
    Resource::new("Alert", id)
}

fn view(a: &AlertRecord) -> Value {
    json!({
        "id": a.id,
        "rule": a.rule,
        "subject": a.subject,
        "related": a.related.iter().map(|(k, id)| json!({ "kind": k, "id": id })).collect::<Vec<_>>(),
        "evidence_count": a.evidence.len(),
        "observed": a.observed,
        "state": a.state,
        "resolution": a.resolution,
        "handled_by": a.handled_by,
        "handled_at": a.handled_at,
        "raised_at": a.raised_at,
        "created_at": a.created_at,
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// `open`, `acted` or `dismissed`; all when absent.
    pub state: Option<String>,
}

/// The authority's alert queue, newest first.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "supervision", params(AlertQuery),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AlertQuery>,
) -> ApiResult<Json<Value>> {
    app.authorize(&caller, Action::AlertList, &Resource::platform()).await?;
    let state = q.state.as_deref().filter(|s| !s.is_empty());
    if let Some(s) = state {
        if !["open", "acted", "dismissed"].contains(&s) {
            return Err(ApiError::validation(vec![FieldProblem::new(
                "state",
                "open, acted or dismissed",
                "状态须为 open、acted 或 dismissed",
            )]));
        }
    }
    let list = store::list_alerts(&mut *app.store.acquire().await?, state, 500).await?;
    Ok(Json(json!({ "items": list.iter().map(view).collect::<Vec<_>>() })))
}

/// One alert with its evidence: the audit events that raised it.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "supervision", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(State(app): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    app.authorize(&caller, Action::AlertRead, &alert_resource(&id)).await?;
    let mut conn = app.store.acquire().await?;
    let a = store::get_alert(&mut conn, &id).await?.ok_or_else(|| ApiError::not_found("alert"))?;
    let events = audit::events_by_seq(&mut conn, &a.evidence).await?;
    drop(conn);
    let mut out = view(&a);
    out["evidence"] = json!(events.iter().map(EventView::from).collect::<Vec<_>>());
    out["actions"] = json!(actions(&a));
    app.record_access(&caller, Action::AlertRead, &format!("alert:{}", a.id), json!({ "evidence": events.len() }))
        .await?;
    Ok(Json(out))
}

/// What the authority may do with an open alert, from what it is about.
fn actions(a: &AlertRecord) -> Vec<&'static str> {
    if a.state != "open" {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (kind, _) in &a.related {
        match kind.as_str() {
            "contract" => out.push("suspend_contract"),
            "product" => out.push("suspend_product"),
            "operator" => out.push("suspend_operator"),
            _ => {}
        }
    }
    if a.related.iter().any(|(k, _)| k == "product") && !out.contains(&"suspend_operator") {
        out.push("suspend_operator");
    }
    out.push("dismiss");
    out
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActBody {
    reason: String,
    /// For `suspend_operator`: the rectification deadline (WX §10); a month from today when
    /// absent.
    #[serde(default)]
    rectify_by: Option<NaiveDate>,
}

fn related<'a>(a: &'a AlertRecord, kind: &str) -> Option<&'a str> {
    a.related.iter().find(|(k, _)| k == kind).map(|(_, id)| id.as_str())
}

/// Suspends what the alert is about, or dismisses it, in one transaction with the alert's
/// resolution: a suspended contract, product or operator stops every key at the next call.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/actions/{action}", tag = "supervision",
    params(("id" = String, Path), ("action" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn act(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, action)): Path<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    app.authorize(&caller, Action::AlertAct, &alert_resource(&id)).await?;
    let b: ActBody = parse_body(body)?;
    let reason = b.reason.trim().to_string();
    if reason.is_empty() {
        return Err(ApiError::validation(vec![FieldProblem::new("reason", "required", "须说明理由")]));
    }
    let user = caller.require_user()?;
    let basis = app.profile.citation("supervision.kill_switch").unwrap_or("WX §10").to_string();
    let mut tx = app.begin().await?;
    let a = store::get_alert(tx.conn(), &id).await?.ok_or_else(|| ApiError::not_found("alert"))?;
    if !actions(&a).contains(&action.as_str()) {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
            .with_details(json!({ "state": a.state, "allowed": actions(&a) })));
    }
    let from_alert = json!({ "reason": reason, "alert": a.id, "rule": a.rule, "basis": basis });
    let (target, target_id) = match action.as_str() {
        "suspend_contract" => {
            let cid = related(&a, "contract").ok_or_else(|| ApiError::not_found("contract"))?.to_string();
            crate::routes::consumers::change_contract_state(&mut tx, &caller.ctx, &cid, "suspended", from_alert)
                .await?;
            ("contract", cid)
        }
        "suspend_product" => {
            let pid = related(&a, "product").ok_or_else(|| ApiError::not_found("product"))?.to_string();
            let mut p = products::get_product(tx.conn(), &pid).await?.ok_or_else(|| ApiError::not_found("product"))?;
            crate::routes::products::change_status(
                &mut tx,
                &caller.ctx,
                &mut p,
                ProductStatus::Suspended,
                &reason,
                from_alert,
            )
            .await?;
            ("product", pid)
        }
        "suspend_operator" => {
            let org = operator_of(&mut tx, &a).await?;
            let today = app.clock.today();
            let by = b.rectify_by.or_else(|| today.checked_add_months(Months::new(1)));
            let (reason, by) = crate::routes::operators::suspension_terms(Some(reason.clone()), by, today, &basis)?;
            let mut s = operators::standing(tx.conn(), org).await?;
            if s.status != OrgStatus::Active {
                return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
                    .with_details(json!({ "operator_status": s.status.as_str() })));
            }
            s = operators::Standing { status: OrgStatus::Suspended, reason: Some(reason), rectify_by: Some(by) };
            crate::routes::operators::set_rectification_timer(&mut tx, org, by).await?;
            operators::set_standing(tx.conn(), org, &s).await?;
            let mut details = from_alert;
            details["rectify_by"] = json!(by);
            tx.audit(&caller.ctx, "organisation.suspend", &org.resource(), Outcome::Success, details).await?;
            ("operator", org.to_string())
        }
        _ => ("alert", a.id.clone()),
    };
    let state = if action == "dismiss" { "dismissed" } else { "acted" };
    let resolution = json!({ "action": action, "target": target, "id": target_id, "reason": reason });
    let now = shuyu_core::clock::format_instant(tx.now());
    if !store::resolve_alert(tx.conn(), &a.id, state, &resolution, &user.id.to_string(), &now).await? {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed").with_details(json!({ "state": a.state })));
    }
    tx.audit(&caller.ctx, &format!("alert.{state}"), &format!("alert:{}", a.id), Outcome::Success, resolution).await?;
    tx.commit().await?;
    if target == "operator" {
        // Seal the operator's workspaces now rather than at the next scheduler tick (JS §23).
        if let Err(e) = crate::sandbox::run(&app, app.clock.today()).await {
            tracing::warn!(code = %e.body.code, "sandbox follow-up of a suspension");
        }
    }
    let mut conn = app.store.acquire().await?;
    let a = store::get_alert(&mut conn, &id).await?.ok_or_else(|| ApiError::not_found("alert"))?;
    Ok(Json(view(&a)))
}

/// The operator behind an alert: named, or the owner of its product or contract's product.
async fn operator_of(tx: &mut shuyu_store::WriteTx, a: &AlertRecord) -> ApiResult<OrgId> {
    if let Some(org) = related(a, "operator") {
        return org.parse().map_err(|_| ApiError::not_found("operator"));
    }
    let pid = match related(a, "product") {
        Some(p) => p.to_string(),
        None => {
            let cid = related(a, "contract").ok_or_else(|| ApiError::not_found("operator"))?;
            products::get_contract(tx.conn(), cid).await?.ok_or_else(|| ApiError::not_found("contract"))?.product_id
        }
    };
    let p = products::get_product(tx.conn(), &pid).await?.ok_or_else(|| ApiError::not_found("product"))?;
    Ok(p.operator_org)
}

/// The monitor's progress and the rules' thresholds.
#[utoipa::path(get, path = "/api/v1/monitoring", tag = "supervision",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn status(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    app.authorize(&caller, Action::MonitoringRead, &Resource::platform()).await?;
    let mut conn = app.store.acquire().await?;
    let head = audit::head_size(&mut conn).await?;
    let open = store::open_alert_counts(&mut conn).await?;
    let status = app.monitor.status();
    Ok(Json(json!({
        "status": status,
        "log_size": head,
        "behind": head.saturating_sub(status.position),
        "open_alerts": open.iter().map(|(r, n)| json!({ "rule": r, "count": n })).collect::<Vec<_>>(),
        "thresholds": app.profile.monitoring,
        "sensitive_level": app.profile.sandbox.sensitive_level,
    })))
}

/// YXO §19: an audit event younger than the retention period is never deleted, not even by an
/// administrator; older ones leave the database only through the archive. Every attempt is
/// itself audited.
#[utoipa::path(delete, path = "/api/v1/audit/events/{seq}", tag = "audit", params(("seq" = u64, Path)),
    responses((status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_event(State(app): State<AppState>, caller: Caller, Path(seq): Path<u64>) -> ApiResult<Json<Value>> {
    let mut conn = app.store.acquire().await?;
    let event = audit::get(&mut conn, seq).await?;
    let years = store::retention_years(&mut conn).await?.max(app.profile.audit.retention_years);
    drop(conn);
    let basis = app.profile.citation("audit.retention_years").unwrap_or("YXO §19").to_string();
    let Some(event) = event else { return Err(ApiError::not_found("audit event")) };
    let keep_until = event.event.time.checked_add_months(Months::new(years * 12)).unwrap_or(event.event.time);
    let young = app.clock.now() < keep_until;
    let code = if young { "retention_period" } else { "archive_only" };
    app.store
        .record(
            app.clock.now(),
            &caller.ctx,
            Action::AuditDelete.as_str(),
            &format!("audit_event:{seq}"),
            Outcome::Denied,
            json!({ "code": code, "keep_until": shuyu_core::clock::format_instant(keep_until), "basis": basis }),
        )
        .await?;
    Err(ApiError::new(StatusCode::FORBIDDEN, code)
        .with_details(json!({ "seq": seq, "retention_years": years,
                              "keep_until": shuyu_core::clock::format_instant(keep_until) }))
        .with_basis(basis))
}
