//! Oversight of operators and processors (SPEC §3.6, §3.8): annual operation reports with the
//! platform's own figures (WX §18), annual evaluations by a third party with their consequences
//! (two consecutive poor grades terminate, JS §17; two failed years disqualify a processor,
//! CS §19), processors bound to agreements for a selection period (CS §19), and the emergency
//! plan without which an operator cannot start operating (WX §26).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{Datelike, Months};
use serde::Deserialize;
use serde_json::{json, Value};
use shuyu_audit::Outcome;
use shuyu_authz::{Action, Resource};
use shuyu_core::ids::{AttachmentId, OrgId};
use shuyu_core::operators::{consecutive_bad, Grade, OrgStatus};
use shuyu_core::roles::OrgKind;
use shuyu_store::{attachments, operators, organisations, oversight};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldProblem};
use crate::extract::{parse_body, ApiJson, ApiQuery};
use crate::state::AppState;

fn org_resource(org: OrgId) -> Resource {
    Resource::owned("Organisation", org.to_string(), org)
}

fn parse_org(id: &str) -> ApiResult<OrgId> {
    id.parse().map_err(|_| ApiError::not_found("organisation"))
}

// ---------------------------------------------------------------- operation reports

/// WX §18: what a report covers.
const REPORT_SECTIONS: &[&str] = &["storage", "processing", "use", "security", "market_operation"];

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct YearQuery {
    pub year: i32,
}

#[utoipa::path(get, path = "/api/v1/organisations/{id}/operation-reports/draft", tag = "operators",
    params(("id" = String, Path), YearQuery), responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn report_draft(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<YearQuery>,
) -> ApiResult<Json<Value>> {
    let org = parse_org(&id)?;
    app.authorize(&caller, Action::OperatorReport, &org_resource(org)).await?;
    let figures = oversight::platform_figures(&mut *app.store.acquire().await?, org, q.year).await?;
    app.record_access(&caller, Action::OperatorReport, &org.resource(), json!({ "year": q.year })).await?;
    Ok(Json(json!({ "year": q.year, "sections": REPORT_SECTIONS, "platform_figures": figures })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportBody {
    year: i32,
    content: serde_json::Map<String, Value>,
}

#[utoipa::path(post, path = "/api/v1/organisations/{id}/operation-reports", tag = "operators", params(("id" = String, Path)),
    request_body = Object, responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn submit_report(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let org = parse_org(&id)?;
    app.authorize(&caller, Action::OperatorReport, &org_resource(org)).await?;
    let b: ReportBody = parse_body(body)?;
    let missing: Vec<FieldProblem> = REPORT_SECTIONS
        .iter()
        .filter(|s| b.content.get(**s).and_then(Value::as_str).is_none_or(|v| v.trim().is_empty()))
        .map(|s| FieldProblem::new(&format!("content.{s}"), "required (WX §18)", "年度运营报告须包含该部分"))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::validation(missing).with_basis("WX §18"));
    }
    let mut tx = app.begin().await?;
    let figures = oversight::platform_figures(tx.conn(), org, b.year).await?;
    let now = tx.now();
    let report =
        oversight::insert_report(tx.conn(), org, b.year, &Value::Object(b.content), &figures, app.clock.today(), now)
            .await?;
    tx.audit(
        &caller.ctx,
        "operator.report_submitted",
        &org.resource(),
        Outcome::Success,
        json!({ "year": b.year, "report": report }),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": report, "year": b.year, "platform_figures": figures }))))
}

// ---------------------------------------------------------------- evaluations

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EvaluationBody {
    year: i32,
    /// Operators: excellent, good, pass, poor. Processors: pass, fail.
    grade: String,
    /// The third party that evaluated (WX §29).
    evaluator: String,
    report: String,
}

#[utoipa::path(post, path = "/api/v1/organisations/{id}/evaluations", tag = "operators", params(("id" = String, Path)),
    request_body = Object, responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn record_evaluation(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let org_id = parse_org(&id)?;
    app.authorize(&caller, Action::OperatorSupervise, &org_resource(org_id)).await?;
    let b: EvaluationBody = parse_body(body)?;
    let org = organisations::get(&mut *app.store.acquire().await?, org_id)
        .await?
        .ok_or_else(|| ApiError::not_found("organisation"))?;
    let grade = Grade::parse(&b.grade);
    let allowed = match org.kind {
        OrgKind::Operator => matches!(grade, Some(Grade::Excellent | Grade::Good | Grade::Pass | Grade::Poor)),
        OrgKind::Processor => matches!(grade, Some(Grade::Pass | Grade::Fail)),
        _ => false,
    };
    let (Some(grade), true) = (grade, allowed) else {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "grade",
            "operators: excellent, good, pass or poor; processors: pass or fail",
            "运营机构评价等次为优秀、良好、合格、较差；加工主体为合格、不合格",
        )]));
    };
    if b.evaluator.trim().is_empty() || b.report.trim().is_empty() {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "evaluator",
            "the third party and its report",
            "须注明第三方评估机构及评估报告",
        )]));
    }
    let today = app.clock.today();
    let mut tx = app.begin().await?;
    let now = tx.now();
    oversight::insert_evaluation(tx.conn(), org_id, b.year, grade, b.evaluator.trim(), b.report.trim(), now).await?;
    tx.audit(
        &caller.ctx,
        "operator.evaluated",
        &org_id.resource(),
        Outcome::Success,
        json!({ "year": b.year, "grade": grade.as_str() }),
    )
    .await?;
    let run = consecutive_bad(&oversight::grades(tx.conn(), org_id).await?, b.year);
    let rules = &app.profile.operators;
    let mut consequence = Value::Null;
    let standing = operators::standing(tx.conn(), org_id).await?;
    if standing.status != OrgStatus::Terminated {
        match org.kind {
            OrgKind::Operator if run >= rules.poor_grades_to_terminate => {
                let basis = app.profile.citation("operators.poor_grades_to_terminate").unwrap_or("JS §17");
                let reason = format!("连续{run}年评估等次为较差（{basis}）");
                let ended = super::operators::terminate_in(&mut tx, org_id, &reason, today).await?;
                tx.audit(
                    &caller.ctx,
                    "organisation.terminate",
                    &org_id.resource(),
                    Outcome::Success,
                    json!({ "reason": reason, "basis": basis, "sessions_ended": ended }),
                )
                .await?;
                consequence = json!({ "terminated": true, "basis": basis });
            }
            OrgKind::Processor if run >= rules.processor_fails_to_disqualify => {
                let basis = app.profile.citation("operators.processor_fails_to_disqualify").unwrap_or("CS §19");
                let reason = format!("连续{run}年评估不合格（{basis}）");
                let unbound = oversight::disqualify_processor(tx.conn(), org_id).await?;
                super::operators::terminate_in(&mut tx, org_id, &reason, today).await?;
                tx.audit(
                    &caller.ctx,
                    "processor.disqualified",
                    &org_id.resource(),
                    Outcome::Success,
                    json!({ "reason": reason, "basis": basis, "agreements": unbound }),
                )
                .await?;
                consequence = json!({ "disqualified": true, "basis": basis });
            }
            _ => {}
        }
    }
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "year": b.year, "grade": grade.as_str(), "consecutive_bad": run, "consequence": consequence })),
    ))
}

// ---------------------------------------------------------------- processors

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BindProcessor {
    processor_org: String,
}

#[utoipa::path(post, path = "/api/v1/agreements/{id}/processors", tag = "operators", params(("id" = String, Path)),
    request_body = Object, responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn bind_processor(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut c = app.store.acquire().await?;
    let a = operators::get_agreement(&mut c, &id).await?.ok_or_else(|| ApiError::not_found("agreement"))?;
    drop(c);
    let res = Resource::owned("Agreement", a.id.clone(), a.operator_org).with_org("provider", a.agency_org);
    app.authorize(&caller, Action::AgreementSignAgency, &res).await?;
    let b: BindProcessor = parse_body(body)?;
    let processor: OrgId = b.processor_org.parse().map_err(|_| {
        ApiError::validation(vec![FieldProblem::new("processor_org", "an organisation id", "加工主体编号有误")])
    })?;
    let mut c = app.store.acquire().await?;
    let org =
        organisations::get(&mut c, processor).await?.filter(|o| o.kind == OrgKind::Processor).ok_or_else(|| {
            ApiError::validation(vec![FieldProblem::new(
                "processor_org",
                "not a processor organisation",
                "不是数据加工主体",
            )])
        })?;
    if operators::standing(&mut c, org.id).await?.status != OrgStatus::Active {
        return Err(ApiError::new(StatusCode::CONFLICT, "organisation_terminated").with_basis("CS §19"));
    }
    drop(c);
    let today = app.clock.today();
    let years = app.profile.operators.processor_selection_years;
    let until =
        today.checked_add_months(Months::new(years * 12)).and_then(|d| d.pred_opt()).ok_or_else(ApiError::internal)?;
    let mut tx = app.begin().await?;
    oversight::bind_processor(tx.conn(), &id, org.id, today, until).await?;
    tx.audit(
        &caller.ctx,
        "processor.selected",
        &org.id.resource(),
        Outcome::Success,
        json!({ "agreement": id, "valid_until": until }),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "agreement": id, "processor_org": org.id.to_string(), "valid_until": until })),
    ))
}

#[utoipa::path(get, path = "/api/v1/agreements/{id}/processors", tag = "operators", params(("id" = String, Path)),
    responses((status = 200, body = [Object]), (status = 403, body = ErrorBody)))]
pub async fn list_processors(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<oversight::BoundProcessor>>> {
    let mut c = app.store.acquire().await?;
    let a = operators::get_agreement(&mut c, &id).await?.ok_or_else(|| ApiError::not_found("agreement"))?;
    let res = Resource::owned("Agreement", a.id.clone(), a.operator_org).with_org("provider", a.agency_org);
    app.authorize(&caller, Action::AgreementRead, &res).await?;
    Ok(Json(oversight::processors(&mut c, &id).await?))
}

// ---------------------------------------------------------------- emergency plans and operating status

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanBody {
    attachment_id: String,
}

#[utoipa::path(post, path = "/api/v1/organisations/{id}/emergency-plan", tag = "operators", params(("id" = String, Path)),
    request_body = Object, responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn submit_plan(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let org = parse_org(&id)?;
    app.authorize(&caller, Action::OperatorReport, &org_resource(org)).await?;
    let b: PlanBody = parse_body(body)?;
    let aid: AttachmentId = b.attachment_id.parse().map_err(|_| {
        ApiError::validation(vec![FieldProblem::new("attachment_id", "the plan's attachment", "请上传应急预案")])
    })?;
    let mut tx = app.begin().await?;
    if attachments::get(tx.conn(), aid).await?.is_none_or(|a| a.org_id != org) {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "attachment_id",
            "no attachment of this organisation",
            "未找到本单位上传的附件",
        )]));
    }
    oversight::submit_plan(tx.conn(), org, &aid.to_string(), app.clock.today()).await?;
    tx.audit(
        &caller.ctx,
        "operator.emergency_plan_submitted",
        &org.resource(),
        Outcome::Success,
        json!({ "attachment": aid.to_string() }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({ "organisation": org.to_string(), "submitted": true, "approved": false })))
}

#[utoipa::path(post, path = "/api/v1/organisations/{id}/emergency-plan/approve", tag = "operators", params(("id" = String, Path)),
    request_body = Object, responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn approve_plan(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let org = parse_org(&id)?;
    app.authorize(&caller, Action::OperatorSupervise, &org_resource(org)).await?;
    let mut tx = app.begin().await?;
    if !oversight::approve_plan(tx.conn(), org, app.clock.today()).await? {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
            .with_details(json!({ "action": "approve", "state": "no_plan" })));
    }
    tx.audit(&caller.ctx, "operator.emergency_plan_approved", &org.resource(), Outcome::Success, json!({})).await?;
    tx.commit().await?;
    Ok(Json(json!({ "organisation": org.to_string(), "submitted": true, "approved": true })))
}

/// What keeps an operator from operating today: its standing, a filed agreement in force, and
/// an approved emergency plan (WX §26). Empty when it may operate. The sandbox asks this.
pub async fn operating_obstacles(app: &AppState, org: OrgId) -> ApiResult<Vec<(&'static str, &'static str)>> {
    let mut c = app.store.acquire().await?;
    let today = app.clock.today();
    let mut out = Vec::new();
    if operators::standing(&mut c, org).await?.status != OrgStatus::Active {
        out.push(("standing", "WX §10"));
    }
    let agreements = operators::list_agreements(&mut c, Some(org)).await?;
    if !agreements.iter().any(|a| a.state == "filed" && a.valid_from <= today && today <= a.valid_until) {
        out.push(("agreement", "YXO §16"));
    }
    if !oversight::plan_status(&mut c, org).await?.1 {
        out.push(("emergency_plan", "WX §26"));
    }
    Ok(out)
}

#[utoipa::path(get, path = "/api/v1/organisations/{id}/operating-status", tag = "operators", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn operating_status(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let org = parse_org(&id)?;
    app.authorize(&caller, Action::OperatorStatusRead, &org_resource(org)).await?;
    let obstacles = operating_obstacles(&app, org).await?;
    Ok(Json(json!({
        "organisation": org.to_string(),
        "can_operate": obstacles.is_empty(),
        "missing": obstacles.iter().map(|(item, basis)| json!({ "item": item, "basis": basis })).collect::<Vec<_>>(),
        "year": app.clock.today().year(),
    })))
}
