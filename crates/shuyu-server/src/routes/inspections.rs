//! Inspections and rectification (JS §21, YXO §34): the authority plans an inspection of an
//! operator or processor, records findings with rectification deadlines, and accepts or rejects
//! what the subject submits; findings left open past their date are escalated by the scheduler.
//! Processors' quarterly security reports (CS §24) start from figures the platform fills in.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;
use serde_json::{json, Value};
use shuyu_audit::Outcome;
use shuyu_authz::{Action, Resource};
use shuyu_core::ids::OrgId;
use shuyu_core::roles::OrgKind;
use shuyu_store::inspections::{self as store, FindingRecord, InspectionRecord, SecurityReportRecord};
use shuyu_store::{organisations, AuditContext};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldProblem};
use crate::extract::{parse_body, ApiJson, ApiQuery};
use crate::routes::analytics::utc_start;
use crate::state::AppState;

fn subject_resource(kind: &'static str, id: &str, subject: &str) -> ApiResult<Resource> {
    let org: OrgId = subject.parse().map_err(|_| ApiError::internal())?;
    Ok(Resource::owned(kind, id.to_string(), org))
}

fn finding_view(f: &FindingRecord) -> Value {
    json!({
        "id": f.id, "inspection_id": f.inspection_id, "subject_org": f.subject_org, "description": f.description,
        "severity": f.severity, "rectify_by": f.rectify_by, "state": f.state, "rectification": f.rectification,
        "submitted_at": f.submitted_at, "decided_at": f.decided_at, "decision": f.decision, "overdue": f.overdue,
        "created_at": f.created_at,
    })
}

fn view(i: &InspectionRecord, findings: &[FindingRecord]) -> Value {
    json!({
        "id": i.id, "subject_org": i.subject_org, "title": i.title, "scope": i.scope, "planned_on": i.planned_on,
        "state": i.state, "conducted_on": i.conducted_on, "summary": i.summary, "created_at": i.created_at,
        "findings": findings.iter().map(finding_view).collect::<Vec<_>>(),
    })
}

fn required(field: &str, value: &str, zh: &str) -> ApiResult<String> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > 4000 {
        return Err(ApiError::validation(vec![FieldProblem::new(field, "required (up to 4000 characters)", zh)]));
    }
    Ok(v.to_string())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanBody {
    subject_org: String,
    title: String,
    scope: String,
    planned_on: NaiveDate,
}

/// JS §21: the authority plans an inspection of an operator or a processor.
#[utoipa::path(post, path = "/api/v1/inspections", tag = "supervision", request_body = Object,
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn plan(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    app.authorize(&caller, Action::InspectionCreate, &Resource::platform()).await?;
    let b: PlanBody = parse_body(body)?;
    let subject: OrgId = b.subject_org.parse().map_err(|_| ApiError::not_found("organisation"))?;
    let org = organisations::get(&mut *app.store.acquire().await?, subject)
        .await?
        .ok_or_else(|| ApiError::not_found("organisation"))?;
    if !matches!(org.kind, OrgKind::Operator | OrgKind::Processor) {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "subject_org",
            "an operator or a processor",
            "检查对象须为运营机构或数据加工主体",
        )]));
    }
    let mut tx = app.begin().await?;
    let i = InspectionRecord {
        id: uuid::Uuid::now_v7().to_string(),
        subject_org: subject.to_string(),
        title: required("title", &b.title, "请填写检查名称")?,
        scope: required("scope", &b.scope, "请填写检查范围")?,
        planned_on: b.planned_on.to_string(),
        state: "planned".into(),
        conducted_on: None,
        summary: None,
        created_by: caller.require_user()?.id.to_string(),
        created_at: shuyu_core::clock::format_instant(tx.now()),
    };
    store::insert_inspection(tx.conn(), &i).await?;
    tx.audit(
        &caller.ctx,
        "inspection.planned",
        &format!("inspection:{}", i.id),
        Outcome::Success,
        json!({ "subject": i.subject_org, "planned_on": i.planned_on, "basis": "JS §21" }),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view(&i, &[]))))
}

/// The authority sees every inspection; an operator or processor its own.
#[utoipa::path(get, path = "/api/v1/inspections", tag = "supervision", responses((status = 200, body = Object), (status = 401, body = ErrorBody)))]
pub async fn list(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let scope = app.list_scope(&caller, Action::InspectionList, Action::InspectionListAll).await?;
    let mut conn = app.store.acquire().await?;
    let list = store::list_inspections(&mut conn, scope.map(|o| o.to_string()).as_deref()).await?;
    let mut items = Vec::new();
    for i in &list {
        items.push(view(i, &store::findings_of(&mut conn, &i.id).await?));
    }
    Ok(Json(json!({ "items": items })))
}

async fn load(app: &AppState, caller: &Caller, id: &str, action: Action) -> ApiResult<InspectionRecord> {
    let i = store::get_inspection(&mut *app.store.acquire().await?, id)
        .await?
        .ok_or_else(|| ApiError::not_found("inspection"))?;
    app.authorize(caller, action, &subject_resource("Inspection", &i.id, &i.subject_org)?).await?;
    Ok(i)
}

#[utoipa::path(get, path = "/api/v1/inspections/{id}", tag = "supervision", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(State(app): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let i = load(&app, &caller, &id, Action::InspectionRead).await?;
    let findings = store::findings_of(&mut *app.store.acquire().await?, &i.id).await?;
    Ok(Json(view(&i, &findings)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FindingBody {
    description: String,
    #[serde(default = "minor")]
    severity: String,
    rectify_by: NaiveDate,
}

fn minor() -> String {
    "minor".into()
}

/// YXO §34: a finding with its rectification deadline; the inspection counts as conducted.
#[utoipa::path(post, path = "/api/v1/inspections/{id}/findings", tag = "supervision", params(("id" = String, Path)), request_body = Object,
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_finding(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut i = load(&app, &caller, &id, Action::InspectionAct).await?;
    let b: FindingBody = parse_body(body)?;
    if i.state == "closed" {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed").with_details(json!({ "state": i.state })));
    }
    let today = app.clock.today();
    let mut problems = Vec::new();
    if !["minor", "major"].contains(&b.severity.as_str()) {
        problems.push(FieldProblem::new("severity", "minor or major", "严重程度须为一般（minor）或严重（major）"));
    }
    if b.rectify_by <= today {
        problems.push(FieldProblem::new("rectify_by", "a date after today", "整改期限须晚于今天"));
    }
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    let mut tx = app.begin().await?;
    let now = shuyu_core::clock::format_instant(tx.now());
    if i.state == "planned" {
        i.state = "conducted".into();
        i.conducted_on = Some(today.to_string());
        store::update_inspection(tx.conn(), &i).await?;
    }
    let f = FindingRecord {
        id: uuid::Uuid::now_v7().to_string(),
        inspection_id: i.id.clone(),
        subject_org: i.subject_org.clone(),
        description: required("description", &b.description, "请描述发现的问题")?,
        severity: b.severity,
        rectify_by: b.rectify_by.to_string(),
        state: "open".into(),
        rectification: None,
        submitted_at: None,
        decided_at: None,
        decision: None,
        overdue: false,
        created_at: now,
    };
    store::insert_finding(tx.conn(), &f).await?;
    tx.audit(&caller.ctx, "inspection.finding", &format!("inspection_finding:{}", f.id), Outcome::Success,
        json!({ "inspection": i.id, "subject": f.subject_org, "severity": f.severity, "rectify_by": f.rectify_by, "basis": "YXO §34" }))
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(finding_view(&f))))
}

async fn load_finding(app: &AppState, caller: &Caller, id: &str, action: Action) -> ApiResult<FindingRecord> {
    let f = store::get_finding(&mut *app.store.acquire().await?, id)
        .await?
        .ok_or_else(|| ApiError::not_found("finding"))?;
    app.authorize(caller, action, &subject_resource("InspectionFinding", &f.id, &f.subject_org)?).await?;
    Ok(f)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RectificationBody {
    rectification: String,
}

/// The inspected organisation reports what it rectified.
#[utoipa::path(post, path = "/api/v1/inspection-findings/{id}/rectification", tag = "supervision", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn rectify(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let mut f = load_finding(&app, &caller, &id, Action::InspectionRectify).await?;
    let b: RectificationBody = parse_body(body)?;
    if f.state != "open" {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed").with_details(json!({ "state": f.state })));
    }
    let mut tx = app.begin().await?;
    f.rectification = Some(required("rectification", &b.rectification, "请说明整改情况")?);
    f.state = "submitted".into();
    f.submitted_at = Some(shuyu_core::clock::format_instant(tx.now()));
    store::update_finding(tx.conn(), &f).await?;
    let late = app.clock.today().to_string() > f.rectify_by;
    tx.audit(
        &caller.ctx,
        "inspection.rectification_submitted",
        &format!("inspection_finding:{}", f.id),
        Outcome::Success,
        json!({ "late": late }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(finding_view(&f)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    accepted: bool,
    reason: String,
    /// A new deadline when the rectification is rejected.
    #[serde(default)]
    rectify_by: Option<NaiveDate>,
}

/// The authority accepts a rectification, or rejects it with a new deadline.
#[utoipa::path(post, path = "/api/v1/inspection-findings/{id}/decision", tag = "supervision", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn decide(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let mut f = load_finding(&app, &caller, &id, Action::InspectionAct).await?;
    let b: DecisionBody = parse_body(body)?;
    if f.state != "submitted" {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed").with_details(json!({ "state": f.state })));
    }
    let reason = required("reason", &b.reason, "须说明理由")?;
    let mut tx = app.begin().await?;
    f.decided_at = Some(shuyu_core::clock::format_instant(tx.now()));
    f.decision = Some(reason.clone());
    if b.accepted {
        f.state = "accepted".into();
        f.overdue = false;
    } else {
        let by = b.rectify_by.filter(|d| *d > app.clock.today()).ok_or_else(|| {
            ApiError::validation(vec![FieldProblem::new(
                "rectify_by",
                "a new deadline after today",
                "退回整改须给出晚于今天的新期限",
            )])
        })?;
        f.state = "open".into();
        f.rectify_by = by.to_string();
        f.overdue = false;
    }
    store::update_finding(tx.conn(), &f).await?;
    tx.audit(
        &caller.ctx,
        if b.accepted { "inspection.rectification_accepted" } else { "inspection.rectification_rejected" },
        &format!("inspection_finding:{}", f.id),
        Outcome::Success,
        json!({ "reason": reason, "rectify_by": f.rectify_by }),
    )
    .await?;
    // The inspection closes when its last finding is accepted.
    let mut i =
        store::get_inspection(tx.conn(), &f.inspection_id).await?.ok_or_else(|| ApiError::not_found("inspection"))?;
    let all = store::findings_of(tx.conn(), &i.id).await?;
    if b.accepted && all.iter().all(|x| x.state == "accepted") {
        i.state = "closed".into();
        store::update_inspection(tx.conn(), &i).await?;
        tx.audit(
            &caller.ctx,
            "inspection.closed",
            &format!("inspection:{}", i.id),
            Outcome::Success,
            json!({ "findings": all.len() }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Json(finding_view(&f)))
}

/// Marks open findings past their deadline overdue (the escalation of YXO §34); returns how many.
pub async fn escalate_overdue(app: &AppState, today: NaiveDate) -> ApiResult<usize> {
    let due = store::newly_overdue_findings(&mut *app.store.acquire().await?, &today.to_string()).await?;
    let ctx = AuditContext::system("scheduler:inspections");
    for mut f in due.iter().cloned() {
        let mut tx = app.begin().await?;
        f.overdue = true;
        store::update_finding(tx.conn(), &f).await?;
        tx.audit(
            &ctx,
            "inspection.finding_overdue",
            &format!("inspection_finding:{}", f.id),
            Outcome::Success,
            json!({ "subject": f.subject_org, "rectify_by": f.rectify_by, "basis": "YXO §34" }),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(due.len())
}

// ---------------------------------------------------------------- quarterly security reports

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct QuarterQuery {
    /// `YYYY-Qn`; the last finished quarter when absent.
    pub quarter: Option<String>,
}

/// The quarter's first day and the next quarter's, as (label, from, to).
fn quarter(app: &AppState, q: Option<&str>) -> ApiResult<(String, NaiveDate, NaiveDate)> {
    let bad =
        || ApiError::validation(vec![FieldProblem::new("quarter", "YYYY-Qn, e.g. 2026-Q3", "季度格式为 2026-Q3")]);
    let (year, n) = match q {
        Some(q) => {
            let (y, n) = q.split_once("-Q").ok_or_else(bad)?;
            (y.parse::<i32>().map_err(|_| bad())?, n.parse::<u32>().map_err(|_| bad())?)
        }
        None => {
            let today = app.clock.today();
            let current = (today.month() - 1) / 3 + 1;
            if current == 1 {
                (today.year() - 1, 4)
            } else {
                (today.year(), current - 1)
            }
        }
    };
    if !(1..=4).contains(&n) {
        return Err(bad());
    }
    let from = NaiveDate::from_ymd_opt(year, (n - 1) * 3 + 1, 1).ok_or_else(bad)?;
    let to = if n == 4 { NaiveDate::from_ymd_opt(year + 1, 1, 1) } else { NaiveDate::from_ymd_opt(year, n * 3 + 1, 1) }
        .ok_or_else(bad)?;
    Ok((format!("{year}-Q{n}"), from, to))
}

/// The platform's own figures for one organisation and quarter.
async fn figures(app: &AppState, org: &str, from: NaiveDate, to: NaiveDate) -> ApiResult<Value> {
    let mut conn = app.store.acquire().await?;
    let activity = store::activity_of(&mut conn, org, &utc_start(from), &utc_start(to)).await?;
    let count =
        |pred: &dyn Fn(&str, &str) -> bool| activity.iter().filter(|(a, o, _)| pred(a, o)).map(|x| x.2).sum::<i64>();
    let alerts = shuyu_store::supervision::list_alerts(&mut conn, None, 500).await?;
    let raised: Vec<&shuyu_store::supervision::AlertRecord> = alerts
        .iter()
        .filter(|a| a.related.iter().any(|(_, id)| id == org) || a.subject.ends_with(org))
        .filter(|a| a.raised_at.as_str() >= utc_start(from).as_str() && a.raised_at.as_str() < utc_start(to).as_str())
        .collect();
    Ok(json!({
        "queries": count(&|a, _| a == "workspace.query"),
        "queries_refused": count(&|a, o| a == "workspace.query" && o != "success"),
        "exports_requested": count(&|a, _| a == "export.requested"),
        "access_denied": count(&|_, o| o == "denied"),
        "sign_ins": count(&|a, o| a == "session.login" && o == "success"),
        "risk_reports": count(&|a, _| a == "workspace.risk_reported"),
        "alerts": raised.len(),
        "events": activity.iter().map(|x| x.2).sum::<i64>(),
    }))
}

async fn report_org(app: &AppState, caller: &Caller, id: &str, action: Action) -> ApiResult<OrgId> {
    let org: OrgId = id.parse().map_err(|_| ApiError::not_found("organisation"))?;
    app.authorize(caller, action, &Resource::owned("Organisation", org.to_string(), org)).await?;
    Ok(org)
}

/// CS §24: the quarter's report as the platform would fill it in.
#[utoipa::path(get, path = "/api/v1/organisations/{id}/security-reports/draft", tag = "supervision", params(("id" = String, Path), QuarterQuery),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn report_draft(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<QuarterQuery>,
) -> ApiResult<Json<Value>> {
    let org = report_org(&app, &caller, &id, Action::SecurityReportSubmit).await?;
    let (label, from, to) = quarter(&app, q.quarter.as_deref())?;
    let figures = figures(&app, &org.to_string(), from, to).await?;
    Ok(Json(json!({ "organisation": org.to_string(), "quarter": label, "figures": figures,
                    "sections": ["measures", "incidents", "risks", "plans"], "basis": "CS §24" })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportBody {
    quarter: String,
    content: serde_json::Map<String, Value>,
}

/// CS §24: the processor submits its quarterly security report; the figures are the platform's.
#[utoipa::path(post, path = "/api/v1/organisations/{id}/security-reports", tag = "supervision", params(("id" = String, Path)), request_body = Object,
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn submit_report(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let org = report_org(&app, &caller, &id, Action::SecurityReportSubmit).await?;
    let b: ReportBody = parse_body(body)?;
    let (label, from, to) = quarter(&app, Some(&b.quarter))?;
    if to > app.clock.today() + chrono::Duration::days(1) {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "quarter",
            "a quarter that has ended",
            "只能报送已结束季度的报告",
        )]));
    }
    let missing: Vec<&str> = ["measures", "incidents", "risks", "plans"]
        .into_iter()
        .filter(|k| b.content.get(*k).and_then(Value::as_str).is_none_or(|v| v.trim().is_empty()))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::validation(
            missing.iter().map(|k| FieldProblem::new(&format!("content.{k}"), "required", "此项为必填")).collect(),
        )
        .with_basis("CS §24"));
    }
    let figures = figures(&app, &org.to_string(), from, to).await?;
    let mut tx = app.begin().await?;
    let r = SecurityReportRecord {
        id: uuid::Uuid::now_v7().to_string(),
        org_id: org.to_string(),
        quarter: label,
        content: Value::Object(b.content),
        figures,
        submitted_on: app.clock.today().to_string(),
        created_at: shuyu_core::clock::format_instant(tx.now()),
    };
    store::insert_security_report(tx.conn(), &r).await?;
    tx.audit(
        &caller.ctx,
        "security_report.submitted",
        &org.resource(),
        Outcome::Success,
        json!({ "report": r.id, "quarter": r.quarter, "basis": "CS §24" }),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "id": r.id, "quarter": r.quarter, "figures": r.figures, "content": r.content, "submitted_on": r.submitted_on }),
        ),
    ))
}

#[utoipa::path(get, path = "/api/v1/organisations/{id}/security-reports", tag = "supervision", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn list_reports(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let org = report_org(&app, &caller, &id, Action::SecurityReportRead).await?;
    let list = store::security_reports(&mut *app.store.acquire().await?, &org.to_string()).await?;
    Ok(Json(json!({ "items": list.iter().map(|r| json!({ "id": r.id, "quarter": r.quarter, "figures": r.figures,
        "content": r.content, "submitted_on": r.submitted_on })).collect::<Vec<_>>() })))
}
