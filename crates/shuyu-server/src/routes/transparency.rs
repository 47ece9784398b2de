//! Transparency (SPEC §6): the public asks for data not yet in the catalogue and gets an answer
//! from the holding department within the profile's working days (the deadline for conditional
//! open data, WH §24); access statistics per department are published; the annual report of
//! the programme is generated from the platform's own records.

use std::collections::BTreeMap;

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
use shuyu_store::inspections::{self as store, PublicDataRequestRecord};
use shuyu_store::{catalogue, organisations, AuditContext};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldProblem};
use crate::extract::{parse_body, ApiJson, ApiQuery};
use crate::state::AppState;

fn view(q: &PublicDataRequestRecord, with_contact: bool) -> Value {
    json!({
        "id": q.id, "title": q.title, "description": q.description, "purpose": q.purpose,
        "requester": if with_contact { json!(q.requester) } else { Value::Null },
        "contact": if with_contact { json!(q.contact) } else { Value::Null },
        "department_org": q.department_org, "state": q.state, "received_on": q.received_on, "due_on": q.due_on,
        "overdue": q.overdue, "outcome": q.outcome, "answer": q.answer, "answered_on": q.answered_on,
    })
}

fn text_field(field: &str, v: &str, max: usize, zh: &str, problems: &mut Vec<FieldProblem>) -> String {
    let t = v.trim();
    if t.is_empty() || t.chars().count() > max {
        problems.push(FieldProblem::new(field, format!("required, up to {max} characters"), zh));
    }
    t.to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestBody {
    title: String,
    description: String,
    purpose: String,
    requester: String,
    contact: String,
}

/// Anyone asks for data not yet in the catalogue; the receipt carries the answer's deadline.
#[utoipa::path(post, path = "/api/v1/public/data-requests", tag = "transparency", request_body = Object,
    responses((status = 201, body = Object), (status = 422, body = ErrorBody)))]
pub async fn submit(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let b: RequestBody = parse_body(body)?;
    let mut p = Vec::new();
    let title = text_field("title", &b.title, 200, "请填写所需数据的名称", &mut p);
    let description = text_field("description", &b.description, 4000, "请说明所需数据的内容", &mut p);
    let purpose = text_field("purpose", &b.purpose, 2000, "请说明用途", &mut p);
    let requester = text_field("requester", &b.requester, 200, "请填写申请人", &mut p);
    let contact = text_field("contact", &b.contact, 200, "请留下联系方式", &mut p);
    if !p.is_empty() {
        return Err(ApiError::validation(p));
    }
    let today = app.clock.today();
    let due = app.calendar.add_working_days(today, app.profile.catalogue.open_application_days)?;
    let mut tx = app.begin().await?;
    let q = PublicDataRequestRecord {
        id: uuid::Uuid::now_v7().to_string(),
        title,
        description,
        purpose,
        requester,
        contact,
        department_org: None,
        state: "received".into(),
        received_on: today.to_string(),
        due_on: due.to_string(),
        overdue: false,
        outcome: None,
        answer: None,
        answered_on: None,
        created_at: shuyu_core::clock::format_instant(tx.now()),
    };
    store::insert_public_request(tx.conn(), &q).await?;
    tx.audit(
        &caller.ctx,
        "data_request.received",
        &format!("data_request:{}", q.id),
        Outcome::Success,
        json!({ "due_on": q.due_on, "basis": "WH §24" }),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": q.id, "state": q.state, "received_on": q.received_on, "due_on": q.due_on })),
    ))
}

/// The requester follows a request by its receipt number; contact details are never shown.
#[utoipa::path(get, path = "/api/v1/public/data-requests/{id}", tag = "transparency", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn status(State(app): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let q = store::get_public_request(&mut *app.store.acquire().await?, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("data request"))?;
    Ok(Json(view(&q, false)))
}

/// The authority sees every request; a department the ones assigned to it.
#[utoipa::path(get, path = "/api/v1/data-requests", tag = "transparency", responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn list(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let scope = app.list_scope(&caller, Action::DataRequestList, Action::DataRequestListAll).await?;
    let all = store::list_public_requests(&mut *app.store.acquire().await?).await?;
    let items: Vec<Value> = all
        .iter()
        .filter(|q| scope.is_none_or(|org| q.department_org.as_deref() == Some(org.to_string().as_str())))
        .map(|q| view(q, true))
        .collect();
    Ok(Json(json!({ "items": items })))
}

async fn load(app: &AppState, caller: &Caller, id: &str, action: Action) -> ApiResult<PublicDataRequestRecord> {
    let q = store::get_public_request(&mut *app.store.acquire().await?, id)
        .await?
        .ok_or_else(|| ApiError::not_found("data request"))?;
    let res = match q.department_org.as_deref().and_then(|d| d.parse::<OrgId>().ok()) {
        Some(org) => Resource::owned("DataRequest", q.id.clone(), org),
        None => Resource::new("DataRequest", q.id.clone()),
    };
    app.authorize(caller, action, &res).await?;
    Ok(q)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    department_org: String,
}

/// The authority routes a request to the department that would hold the data.
#[utoipa::path(post, path = "/api/v1/data-requests/{id}/assign", tag = "transparency", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn assign(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let mut q = load(&app, &caller, &id, Action::DataRequestAssign).await?;
    let b: AssignBody = parse_body(body)?;
    if q.state == "answered" {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed").with_details(json!({ "state": q.state })));
    }
    let org: OrgId = b.department_org.parse().map_err(|_| ApiError::not_found("organisation"))?;
    let o = organisations::get(&mut *app.store.acquire().await?, org)
        .await?
        .ok_or_else(|| ApiError::not_found("organisation"))?;
    if o.kind != OrgKind::SourceDepartment {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "department_org",
            "a source department",
            "须指派给数源部门",
        )]));
    }
    let mut tx = app.begin().await?;
    q.department_org = Some(org.to_string());
    q.state = "assigned".into();
    store::update_public_request(tx.conn(), &q).await?;
    tx.audit(
        &caller.ctx,
        "data_request.assigned",
        &format!("data_request:{}", q.id),
        Outcome::Success,
        json!({ "department": org.to_string(), "due_on": q.due_on }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(view(&q, true)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerBody {
    /// `will_catalogue` (it will be catalogued), `already_available` (where to find it) or
    /// `refused` (with the reason).
    outcome: String,
    answer: String,
}

/// The department answers; the answer is public under the receipt number.
#[utoipa::path(post, path = "/api/v1/data-requests/{id}/answer", tag = "transparency", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn answer(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let mut q = load(&app, &caller, &id, Action::DataRequestAnswer).await?;
    let b: AnswerBody = parse_body(body)?;
    let mut p = Vec::new();
    if !["will_catalogue", "already_available", "refused"].contains(&b.outcome.as_str()) {
        p.push(FieldProblem::new(
            "outcome",
            "will_catalogue, already_available or refused",
            "答复结果须为拟编目、已可获取或不予提供",
        ));
    }
    let answer = text_field("answer", &b.answer, 4000, "请填写答复（不予提供须说明理由）", &mut p);
    if !p.is_empty() {
        return Err(ApiError::validation(p));
    }
    if q.state != "assigned" {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed").with_details(json!({ "state": q.state })));
    }
    let mut tx = app.begin().await?;
    q.state = "answered".into();
    q.outcome = Some(b.outcome);
    q.answer = Some(answer);
    q.answered_on = Some(app.clock.today().to_string());
    store::update_public_request(tx.conn(), &q).await?;
    tx.audit(
        &caller.ctx,
        "data_request.answered",
        &format!("data_request:{}", q.id),
        Outcome::Success,
        json!({ "outcome": q.outcome, "late": q.answered_on.as_deref().is_some_and(|d| d > q.due_on.as_str()) }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(view(&q, true)))
}

/// Marks unanswered requests past their deadline overdue; returns how many.
pub async fn escalate_overdue(app: &AppState, today: NaiveDate) -> ApiResult<usize> {
    let due = store::newly_overdue_requests(&mut *app.store.acquire().await?, &today.to_string()).await?;
    let ctx = AuditContext::system("scheduler:data-requests");
    for mut q in due.iter().cloned() {
        let mut tx = app.begin().await?;
        q.overdue = true;
        store::update_public_request(tx.conn(), &q).await?;
        tx.audit(
            &ctx,
            "data_request.overdue",
            &format!("data_request:{}", q.id),
            Outcome::Success,
            json!({ "department": q.department_org, "due_on": q.due_on }),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(due.len())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct YearQuery {
    /// The calendar year; the current one when absent.
    pub year: Option<i32>,
}

/// Published access statistics per department for a year: the public's data requests received,
/// answered and granted, the average answer time in working days, overdue answers; and
/// applications for conditional open data received and granted.
#[utoipa::path(get, path = "/api/v1/public/access-statistics", tag = "transparency", params(YearQuery),
    responses((status = 200, body = Object)))]
pub async fn statistics(State(app): State<AppState>, ApiQuery(q): ApiQuery<YearQuery>) -> ApiResult<Json<Value>> {
    let year = q.year.unwrap_or_else(|| app.clock.today().year());
    Ok(Json(access_statistics(&app, year).await?))
}

#[derive(Default)]
struct DeptStats {
    requests: i64,
    answered: i64,
    provided: i64,
    refused: i64,
    overdue: i64,
    working_days: i64,
    open_data_applications: i64,
    open_data_granted: i64,
}

pub async fn access_statistics(app: &AppState, year: i32) -> ApiResult<Value> {
    let mut conn = app.store.acquire().await?;
    let in_year = |d: &str| d.get(..4).and_then(|y| y.parse::<i32>().ok()) == Some(year);
    let mut by: BTreeMap<String, DeptStats> = BTreeMap::new();
    let mut unassigned = 0i64;
    for r in store::list_public_requests(&mut conn).await?.iter().filter(|r| in_year(&r.received_on)) {
        let Some(dept) = r.department_org.clone() else {
            unassigned += 1;
            continue;
        };
        let s = by.entry(dept).or_default();
        s.requests += 1;
        s.overdue += i64::from(r.overdue);
        if let (Some(answered), Ok(received)) = (r.answered_on.as_deref(), r.received_on.parse::<NaiveDate>()) {
            s.answered += 1;
            match r.outcome.as_deref() {
                Some("refused") => s.refused += 1,
                _ => s.provided += 1,
            }
            if let Ok(a) = answered.parse::<NaiveDate>() {
                s.working_days += app.calendar.working_days_between(received, a).unwrap_or(0);
            }
        }
    }
    for a in catalogue::list_applications(&mut conn, None).await? {
        if a.created_at.year() != year {
            continue;
        }
        let s = by.entry(a.holder_org.to_string()).or_default();
        s.open_data_applications += 1;
        if a.workflow.state.as_str() == "granted" {
            s.open_data_granted += 1;
        }
    }
    let names: BTreeMap<String, String> =
        organisations::list(&mut conn).await?.into_iter().map(|o| (o.id.to_string(), o.name)).collect();
    let departments: Vec<Value> = by
        .iter()
        .map(|(org, s)| {
            json!({
                "department_org": org, "department": names.get(org),
                "requests_received": s.requests, "requests_answered": s.answered, "requests_granted": s.provided,
                "requests_refused": s.refused, "requests_overdue": s.overdue,
                "average_working_days": if s.answered > 0 { Some((s.working_days as f64 / s.answered as f64 * 10.0).round() / 10.0) } else { None },
                "open_data_applications": s.open_data_applications, "open_data_granted": s.open_data_granted,
            })
        })
        .collect();
    Ok(json!({ "year": year, "departments": departments, "requests_not_yet_assigned": unassigned }))
}

/// The authority's yearly report of the programme (WX §24, SPEC §6): data supplied, products
/// and their use, revenue, incidents and how they were handled, evaluations, quality and access,
/// all from the platform's own records.
pub async fn annual_report(app: &AppState, year: i32) -> ApiResult<Value> {
    let (from, to) = match (NaiveDate::from_ymd_opt(year, 1, 1), NaiveDate::from_ymd_opt(year, 12, 31)) {
        (Some(f), Some(t)) => (f, t),
        _ => return Err(ApiError::validation(vec![FieldProblem::new("year", "a calendar year", "年份有误")])),
    };
    let period =
        crate::routes::analytics::PeriodQuery { from: Some(from), to: Some(to), operator: None, department: None };
    let analytics = crate::routes::analytics::report(app, &period).await?;
    let (a, b) = (
        crate::routes::analytics::utc_start(from),
        crate::routes::analytics::utc_start(to + chrono::Duration::days(1)),
    );
    let mut conn = app.store.acquire().await?;
    let names: BTreeMap<String, String> =
        organisations::list(&mut conn).await?.into_iter().map(|o| (o.id.to_string(), o.name)).collect();
    let name = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    let supplied: Vec<Value> = shuyu_store::analytics::datasets_by_holder(&mut conn, &a, &b)
        .await?
        .into_iter()
        .map(|(org, versions, rows)| json!({ "department": name(&org), "versions": versions, "rows": rows }))
        .collect();
    let counts = shuyu_store::analytics::action_counts(
        &mut conn,
        &[
            "catalogue.approve",
            "grant.provisioned",
            "product.published",
            "export.reviewed",
            "alert.raised",
            "alert.acted",
            "alert.dismissed",
            "organisation.suspend",
            "contract.suspended",
            "product.suspended",
            "workspace.risk_reported",
            "inspection.finding",
            "quality_issue.opened",
        ],
        &a,
        &b,
    )
    .await?;
    let evaluations: Vec<Value> = shuyu_store::analytics::evaluations(&mut conn, year)
        .await?
        .into_iter()
        .map(|(org, grade)| json!({ "organisation": name(&org), "grade": grade }))
        .collect();
    drop(conn);
    let access = access_statistics(app, year).await?;
    Ok(json!({
        "year": year,
        "profile": app.profile.display_name_zh,
        "generated_at": shuyu_core::clock::format_instant(app.clock.now()),
        "data_supplied": supplied,
        "activity": counts.into_iter().map(|(k, n)| json!({ "action": k, "count": n })).collect::<Vec<_>>(),
        "evaluations": evaluations,
        "analytics": analytics,
        "access": access,
    }))
}

/// The annual report as JSON; the console renders the printable page from the same data.
#[utoipa::path(get, path = "/api/v1/annual-report", tag = "transparency", params(YearQuery),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn annual(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<YearQuery>,
) -> ApiResult<Json<Value>> {
    app.authorize(&caller, Action::AnalyticsRead, &Resource::platform()).await?;
    let year = q.year.unwrap_or_else(|| app.clock.today().year());
    Ok(Json(annual_report(&app, year).await?))
}
