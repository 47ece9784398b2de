//! The data quality loop over HTTP (JS §20, YXO §10, §23, WX §13): scores per dataset and per
//! department, issues and objections filed by users and the public, answered by the holding
//! department within the profile's working days and closed by the authority.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shuyu_audit::Outcome;
use shuyu_authz::{Action, Resource};
use shuyu_core::ids::OrgId;
use shuyu_core::quality::Dimension;
use shuyu_store::catalogue::{self, EntryRecord};
use shuyu_store::organisations;
use shuyu_store::supervision::{self as store, QualityIssueRecord};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldProblem};
use crate::extract::{parse_body, ApiJson};
use crate::state::AppState;

fn issue_resource(q: &QualityIssueRecord) -> ApiResult<Resource> {
    let holder: OrgId = q.holder_org.parse().map_err(|_| ApiError::internal())?;
    let mut r = Resource::owned("QualityIssue", q.id.clone(), holder);
    if let Some(org) = q.reporter_org.as_deref().and_then(|o| o.parse().ok()) {
        r = r.with_org("reporter", org);
    }
    Ok(r)
}

/// What a holder, the authority or the filer sees; the public filer's contact only reaches the
/// holder and the authority.
fn view(q: &QualityIssueRecord, with_contact: bool) -> Value {
    json!({
        "id": q.id,
        "entry_id": q.entry_id,
        "dataset_id": q.dataset_id,
        "holder_org": q.holder_org,
        "origin": q.origin,
        "kind": q.kind,
        "dimension": q.dimension,
        "description": q.description,
        "reporter_org": q.reporter_org,
        "contact": if with_contact { json!(q.contact) } else { Value::Null },
        "state": q.state,
        "due_on": q.due_on,
        "overdue": q.overdue,
        "answer": q.answer,
        "answered_at": q.answered_at,
        "closed_at": q.closed_at,
        "created_at": q.created_at,
    })
}

async fn public_entry(app: &AppState, id: &str) -> ApiResult<EntryRecord> {
    catalogue::get(&mut *app.store.acquire().await?, id)
        .await?
        .filter(|e| e.public_metadata().is_some())
        .ok_or_else(|| ApiError::not_found("catalogue entry"))
}

/// The entry's quality: each version's score and dimensions, newest first.
#[utoipa::path(get, path = "/api/v1/public/catalogue/{id}/quality", tag = "quality", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn entry_quality(State(app): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let e = public_entry(&app, &id).await?;
    let mut conn = app.store.acquire().await?;
    let reports = store::quality_reports(&mut conn, &e.id).await?;
    let issues = store::list_quality_issues(&mut conn, None, Some(&e.id)).await?;
    let open = issues.iter().filter(|q| q.state == "open").count();
    Ok(Json(json!({
        "entry_id": e.id,
        "score": reports.first().map(|r| r.score),
        "versions": reports.iter().map(|r| json!({
            "version": r.version, "dataset_id": r.dataset_id, "score": r.score,
            "dimensions": r.dimensions, "checked_at": r.created_at })).collect::<Vec<_>>(),
        "open_issues": open,
        "issues": issues.len(),
    })))
}

/// Scores per dataset (its latest version) and per department (the mean of its datasets), as
/// the catalogue and the analytics show them.
#[utoipa::path(get, path = "/api/v1/public/quality", tag = "quality", responses((status = 200, body = Object)))]
pub async fn scores(State(app): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(score_table(&app).await?))
}

pub async fn score_table(app: &AppState) -> ApiResult<Value> {
    let mut conn = app.store.acquire().await?;
    let reports = store::latest_quality_reports(&mut conn).await?;
    let issues = store::list_quality_issues(&mut conn, None, None).await?;
    let orgs: BTreeMap<String, String> =
        organisations::list(&mut conn).await?.into_iter().map(|o| (o.id.to_string(), o.name)).collect();
    let entries = catalogue::list(&mut conn, None, true).await?;
    let names: BTreeMap<String, String> =
        entries.iter().filter_map(|e| e.public_metadata().map(|m| (e.id.clone(), m.name.clone()))).collect();
    let mut departments: BTreeMap<String, (i64, i64, usize, usize)> = BTreeMap::new();
    let mut datasets = Vec::new();
    for r in &reports {
        let Some(name) = names.get(&r.entry_id) else { continue };
        let d = departments.entry(r.holder_org.clone()).or_default();
        d.0 += r.score;
        d.1 += 1;
        datasets.push(json!({ "entry_id": r.entry_id, "name": name, "holder_org": r.holder_org,
                              "holder": orgs.get(&r.holder_org), "version": r.version, "score": r.score }));
    }
    for q in &issues {
        let d = departments.entry(q.holder_org.clone()).or_default();
        if q.state == "open" {
            d.2 += 1;
        }
        if q.overdue {
            d.3 += 1;
        }
    }
    let departments: Vec<Value> = departments
        .iter()
        .map(|(org, (sum, n, open, overdue))| {
            json!({ "holder_org": org, "holder": orgs.get(org), "datasets": n,
                    "score": if *n > 0 { Some(sum / n) } else { None },
                    "open_issues": open, "overdue_issues": overdue })
        })
        .collect();
    Ok(json!({ "datasets": datasets, "departments": departments }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBody {
    /// `issue` (an error or omission) or `objection` (the record is disputed).
    #[serde(default = "issue")]
    kind: String,
    description: String,
    #[serde(default)]
    dimension: Option<Dimension>,
    /// For the public: how the holder can reply.
    #[serde(default)]
    contact: Option<String>,
}

fn issue() -> String {
    "issue".into()
}

fn check_body(b: &FileBody, public: bool) -> ApiResult<()> {
    let mut problems = Vec::new();
    if !["issue", "objection"].contains(&b.kind.as_str()) {
        problems.push(FieldProblem::new("kind", "issue or objection", "类型须为问题（issue）或异议（objection）"));
    }
    let len = b.description.trim().chars().count();
    if !(5..=2000).contains(&len) {
        problems.push(FieldProblem::new("description", "5 to 2000 characters", "请用 5 至 2000 字说明问题"));
    }
    if public && b.contact.as_deref().is_none_or(|c| c.trim().is_empty() || c.chars().count() > 200) {
        problems.push(FieldProblem::new(
            "contact",
            "how the department can reply (up to 200 characters)",
            "请留下联系方式，以便答复",
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(problems))
    }
}

async fn file(app: &AppState, caller: &Caller, entry: &EntryRecord, b: FileBody, public: bool) -> ApiResult<Value> {
    check_body(&b, public)?;
    let mut tx = app.begin().await?;
    let now = tx.now();
    let today = now.with_timezone(&shuyu_core::clock::china_offset()).date_naive();
    let due = crate::quality::due_on(app, today)?;
    let user = caller.user.as_ref();
    let q = QualityIssueRecord {
        id: uuid::Uuid::now_v7().to_string(),
        entry_id: entry.id.clone(),
        dataset_id: None,
        holder_org: entry.holder_org.to_string(),
        origin: if public { "public" } else { "user" }.into(),
        kind: b.kind,
        dimension: b.dimension.map(|d| d.as_str().to_string()),
        description: b.description.trim().to_string(),
        reported_by: user.map(|u| u.id.to_string()).unwrap_or_else(|| "public".into()),
        reporter_org: user.map(|u| u.org_id.to_string()),
        contact: b.contact.map(|c| c.trim().to_string()),
        state: "open".into(),
        due_on: due.to_string(),
        overdue: false,
        answer: None,
        answered_at: None,
        closed_at: None,
        created_at: shuyu_core::clock::format_instant(now),
    };
    store::insert_quality_issue(tx.conn(), &q).await?;
    tx.audit(
        &caller.ctx,
        "quality_issue.opened",
        &format!("quality_issue:{}", q.id),
        Outcome::Success,
        json!({ "entry": entry.id, "origin": q.origin, "kind": q.kind, "holder": q.holder_org, "due_on": q.due_on,
                "basis": crate::quality::basis(app) }),
    )
    .await?;
    tx.commit().await?;
    Ok(view(&q, false))
}

/// A signed-in user (an operator's analyst, a department) reports a quality issue or objects to
/// a record (YXO §23); it goes to the holding department with a deadline.
#[utoipa::path(post, path = "/api/v1/catalogue/{id}/quality-issues", tag = "quality", params(("id" = String, Path)),
    request_body = Object, responses((status = 201, body = Object), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn file_issue(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    app.authorize(&caller, Action::QualityIssueFile, &Resource::platform()).await?;
    let entry = public_entry(&app, &id).await?;
    let b: FileBody = parse_body(body)?;
    Ok((StatusCode::CREATED, Json(file(&app, &caller, &entry, b, false).await?)))
}

/// Anyone may report a quality issue or object to a public entry's data (JS §20); a contact is
/// required so the department can reply.
#[utoipa::path(post, path = "/api/v1/public/catalogue/{id}/quality-issues", tag = "quality", params(("id" = String, Path)),
    request_body = Object, responses((status = 201, body = Object), (status = 422, body = ErrorBody)))]
pub async fn file_public_issue(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let entry = public_entry(&app, &id).await?;
    let b: FileBody = parse_body(body)?;
    let mut out = file(&app, &caller, &entry, b, true).await?;
    // The receipt number is all a member of the public needs to follow it up.
    out = json!({ "id": out["id"], "state": out["state"], "due_on": out["due_on"] });
    Ok((StatusCode::CREATED, Json(out)))
}

/// Issues the caller may see: the holder's own, what its organisation filed, or all for the
/// authority.
#[utoipa::path(get, path = "/api/v1/quality-issues", tag = "quality", responses((status = 200, body = Object), (status = 401, body = ErrorBody)))]
pub async fn list(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let scope = app.list_scope(&caller, Action::QualityIssueList, Action::QualityIssueListAll).await?;
    let all = store::list_quality_issues(&mut *app.store.acquire().await?, None, None).await?;
    let items: Vec<Value> = all
        .iter()
        .filter(|q| match scope {
            None => true,
            Some(org) => {
                let org = org.to_string();
                q.holder_org == org || q.reporter_org.as_deref() == Some(org.as_str())
            }
        })
        .map(|q| {
            let holder_or_authority = scope.is_none_or(|org| org.to_string() == q.holder_org);
            view(q, holder_or_authority)
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

async fn load(app: &AppState, caller: &Caller, id: &str, action: Action) -> ApiResult<QualityIssueRecord> {
    let q = store::get_quality_issue(&mut *app.store.acquire().await?, id)
        .await?
        .ok_or_else(|| ApiError::not_found("quality issue"))?;
    app.authorize(caller, action, &issue_resource(&q)?).await?;
    Ok(q)
}

#[utoipa::path(get, path = "/api/v1/quality-issues/{id}", tag = "quality", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(State(app): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let q = load(&app, &caller, &id, Action::QualityIssueRead).await?;
    let holder = caller.user.as_ref().is_some_and(|u| u.org_id.to_string() == q.holder_org);
    let authority = app.authz.authorize(&caller.principal, Action::QualityIssueListAll, &Resource::platform()).is_ok();
    Ok(Json(view(&q, holder || authority)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerBody {
    answer: String,
}

/// The holding department answers: what it found and what it corrected (JS §20).
#[utoipa::path(post, path = "/api/v1/quality-issues/{id}/answer", tag = "quality", params(("id" = String, Path)),
    request_body = Object, responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn answer(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let mut q = load(&app, &caller, &id, Action::QualityIssueAnswer).await?;
    let b: AnswerBody = parse_body(body)?;
    if b.answer.trim().chars().count() < 2 {
        return Err(ApiError::validation(vec![FieldProblem::new("answer", "required", "请填写答复")]));
    }
    if q.state != "open" {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed").with_details(json!({ "state": q.state })));
    }
    let mut tx = app.begin().await?;
    q.state = "answered".into();
    q.answer = Some(b.answer.trim().to_string());
    q.answered_at = Some(shuyu_core::clock::format_instant(tx.now()));
    store::update_quality_issue(tx.conn(), &q).await?;
    let late = app.clock.today().to_string() > q.due_on;
    tx.audit(
        &caller.ctx,
        "quality_issue.answered",
        &format!("quality_issue:{}", q.id),
        Outcome::Success,
        json!({ "due_on": q.due_on, "late": late }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(view(&q, true)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseBody {
    #[serde(default)]
    note: Option<String>,
}

/// The authority closes an answered issue (or an open one it settles itself).
#[utoipa::path(post, path = "/api/v1/quality-issues/{id}/close", tag = "quality", params(("id" = String, Path)),
    request_body = Object, responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn close(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let mut q = load(&app, &caller, &id, Action::QualityIssueClose).await?;
    let b: CloseBody = parse_body(body)?;
    if q.state == "closed" {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed").with_details(json!({ "state": q.state })));
    }
    let mut tx = app.begin().await?;
    q.state = "closed".into();
    q.closed_at = Some(shuyu_core::clock::format_instant(tx.now()));
    store::update_quality_issue(tx.conn(), &q).await?;
    tx.audit(
        &caller.ctx,
        "quality_issue.closed",
        &format!("quality_issue:{}", q.id),
        Outcome::Success,
        json!({ "note": b.note }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(view(&q, true)))
}
