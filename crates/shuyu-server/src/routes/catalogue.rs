//! Catalogue API (SPEC §1, WH §10–§25): entries drafted by source departments and published by
//! the authority through the uniform workflow endpoints; sharing requests between agencies
//! (WH §18); the public catalogue with search, open-data download and DCAT export.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shuyu_audit::Outcome;
use shuyu_authz::{Action, Resource};
use shuyu_core::catalogue::{AccessClass, Entry, EntryCommand, EntryMetadata, EntryState};
use shuyu_core::clock::format_instant;
use shuyu_core::ids::AttachmentId;
use shuyu_core::industry::IndustryCode;
use shuyu_core::open_data::{self, ApplicationState};
use shuyu_core::sharing::{self, SharingCommand, SharingState};
use shuyu_search::SearchQuery;
use shuyu_store::catalogue::{self, EntryRecord, OpenDataApplication, SharingRecord};
use shuyu_store::{attachments, organisations, timers};

use crate::auth::Caller;
use crate::catalogue::{check_authorizable, reindex, ENTRY, OPEN_DATA, SHARING};
use crate::error::{ApiError, ApiResult, ErrorBody, FieldProblem};
use crate::extract::{parse_body, ApiJson, ApiQuery};
use crate::registry::workflow_error;
use crate::state::AppState;

fn resource(e: &EntryRecord) -> Resource {
    Resource::owned("CatalogueEntry", e.id.clone(), e.holder_org)
}

fn audit_name(id: &str) -> String {
    format!("catalogue_entry:{id}")
}

async fn load(app: &AppState, id: &str) -> ApiResult<EntryRecord> {
    let mut conn = app.store.acquire().await?;
    catalogue::get(&mut conn, id).await?.ok_or_else(|| ApiError::not_found("catalogue entry"))
}

/// Metadata problems as one validation error; a regulation behind any of them is named.
fn check(meta: &EntryMetadata, published: Option<&EntryMetadata>) -> ApiResult<()> {
    let problems = meta.check(published);
    if problems.is_empty() {
        return Ok(());
    }
    let basis = problems.iter().find_map(|p| p.basis);
    let err = ApiError::validation(
        problems.iter().map(|p| FieldProblem::new(&p.field, p.problem.clone(), "请按提示更正目录信息")).collect(),
    );
    Err(match basis {
        Some(b) => err.with_basis(b),
        None => err,
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EntryView {
    pub id: String,
    pub state: String,
    pub deadline: Option<String>,
    pub awaiting: Option<String>,
    pub overdue_since: Option<String>,
    pub allowed_actions: Vec<String>,
    pub holder_org: String,
    #[schema(value_type = Object)]
    pub published: Option<EntryMetadata>,
    /// The draft or the change under review.
    #[schema(value_type = Object)]
    pub pending: Option<EntryMetadata>,
    /// True when the pending version restricts a share or open class (WH §17).
    pub restricts_class: bool,
    /// Last day to submit the pending change on time (WH §10), counted from `changed_on`.
    pub change_due: Option<String>,
    pub late_submission: bool,
    pub decision_reason: Option<String>,
    pub published_version: i64,
    /// Whether the sandbox may authorize it (WX §2, YXO §18).
    pub authorizable: bool,
    pub open_data: Option<String>,
    pub updated_at: String,
}

fn view(app: &AppState, caller: &Caller, e: &EntryRecord) -> ApiResult<EntryView> {
    let res = resource(e);
    let holder = app.authz.authorize(&caller.principal, Action::CatalogueHolderAct, &res).is_ok();
    let authority = app.authz.authorize(&caller.principal, Action::CatalogueReview, &res).is_ok();
    let timer = e.workflow.timer(&app.calendar, &app.profile.catalogue)?;
    let restricts = match (&e.pending, &e.published) {
        (Some(new), Some(old)) => new.restricts(old),
        _ => false,
    };
    Ok(EntryView {
        id: e.id.clone(),
        state: e.workflow.state.as_str().into(),
        deadline: timer.map(|t| t.due_on.to_string()),
        awaiting: timer.map(|t| t.awaiting.to_string()),
        overdue_since: e.overdue_since.map(|d| d.to_string()),
        allowed_actions: e.workflow.allowed_actions(holder, authority).into_iter().map(String::from).collect(),
        holder_org: e.holder_org.to_string(),
        published: e.published.clone(),
        pending: e.pending.clone(),
        restricts_class: restricts,
        change_due: e.workflow.change_due(&app.calendar, &app.profile.catalogue)?.map(|d| d.to_string()),
        late_submission: e.late_submission,
        decision_reason: e.decision_reason.clone(),
        published_version: e.published_version,
        authorizable: shuyu_core::catalogue::authorizable(e.workflow.state, e.published.as_ref()).is_ok(),
        open_data: e.open_data.clone(),
        updated_at: format_instant(e.updated_at),
    })
}

#[utoipa::path(post, path = "/api/v1/catalogue", tag = "catalogue", request_body = Object,
    responses((status = 201, body = EntryView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<EntryView>)> {
    app.authorize(&caller, Action::CatalogueCreate, &Resource::platform()).await?;
    let user = caller.require_user()?.clone();
    let meta: EntryMetadata = parse_body(body)?;
    check(&meta, None)?;
    let now = app.clock.now();
    let e = EntryRecord {
        id: uuid::Uuid::now_v7().to_string(),
        holder_org: user.org_id,
        workflow: Entry::new(),
        published: None,
        pending: Some(meta),
        late_submission: false,
        decision_reason: None,
        overdue_since: None,
        open_data: None,
        published_version: 0,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let mut tx = app.begin().await?;
    catalogue::insert(tx.conn(), &e).await?;
    tx.audit(&caller.ctx, "catalogue.created", &audit_name(&e.id), Outcome::Success, json!({ "name": e.name() }))
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view(&app, &caller, &e)?)))
}

#[utoipa::path(get, path = "/api/v1/catalogue", tag = "catalogue",
    responses((status = 200, body = [EntryView]), (status = 403, body = ErrorBody)))]
pub async fn list(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<EntryView>>> {
    let scope = app.list_scope(&caller, Action::CatalogueList, Action::CatalogueListAll).await?;
    let mut conn = app.store.acquire().await?;
    let entries = catalogue::list(&mut conn, scope, false).await?;
    drop(conn);
    app.record_access(&caller, Action::CatalogueList, "platform:shuyu", json!({ "count": entries.len() })).await?;
    Ok(Json(entries.iter().map(|e| view(&app, &caller, e)).collect::<ApiResult<Vec<_>>>()?))
}

#[utoipa::path(get, path = "/api/v1/catalogue/{id}", tag = "catalogue", params(("id" = String, Path)),
    responses((status = 200, body = EntryView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(State(app): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<EntryView>> {
    let e = load(&app, &id).await?;
    app.authorize(&caller, Action::CatalogueRead, &resource(&e)).await?;
    app.record_access(&caller, Action::CatalogueRead, &audit_name(&id), json!({})).await?;
    Ok(Json(view(&app, &caller, &e)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditBody {
    metadata: EntryMetadata,
    /// The day the resource itself changed (WH §10 counts the submission deadline from it);
    /// today when absent.
    #[serde(default)]
    changed_on: Option<chrono::NaiveDate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenDataBody {
    attachment_id: String,
}

#[utoipa::path(post, path = "/api/v1/catalogue/{id}/actions/{action}", tag = "catalogue",
    params(("id" = String, Path), ("action" = String, Path, description = "edit, submit, approve, reject, retire, attach_open_data")),
    request_body = Object,
    responses((status = 200, body = EntryView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn act(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, action)): Path<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<EntryView>> {
    let (command, policy) = match action.as_str() {
        "edit" => (Some(EntryCommand::Edit), Action::CatalogueHolderAct),
        "submit" => (Some(EntryCommand::Submit), Action::CatalogueHolderAct),
        "retire" => (Some(EntryCommand::Retire), Action::CatalogueHolderAct),
        "attach_open_data" => (None, Action::CatalogueHolderAct),
        "approve" => (Some(EntryCommand::Approve), Action::CatalogueReview),
        "reject" => (Some(EntryCommand::Reject), Action::CatalogueReview),
        _ => {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_action").with_details(
                json!({ "allowed": ["edit", "submit", "approve", "reject", "retire", "attach_open_data"] }),
            ))
        }
    };
    let e = load(&app, &id).await?;
    app.authorize(&caller, policy, &resource(&e)).await?;
    let user = caller.require_user()?.clone();
    let today = app.clock.today();
    let rules = &app.profile.catalogue;
    let mut tx = app.begin().await?;
    let mut e = catalogue::get(tx.conn(), &id).await?.ok_or_else(|| ApiError::not_found("catalogue entry"))?;
    let mut details = json!({});
    let timer = match command {
        None => {
            let b: OpenDataBody = parse_body(body)?;
            let found = match b.attachment_id.parse::<AttachmentId>() {
                Ok(aid) => attachments::get(tx.conn(), aid).await?,
                Err(_) => None,
            };
            match found {
                Some(a) if a.org_id == e.holder_org => e.open_data = Some(a.id.to_string()),
                _ => {
                    return Err(ApiError::validation(vec![FieldProblem::new(
                        "attachment_id",
                        "no attachment of your organisation has this id",
                        "未找到本单位上传的该附件",
                    )]))
                }
            }
            details = json!({ "open_data": e.open_data });
            e.workflow.timer(&app.calendar, rules)?
        }
        Some(cmd) => {
            match cmd {
                EntryCommand::Edit => {
                    let b: EditBody = parse_body(body)?;
                    check(&b.metadata, e.published.as_ref())?;
                    if e.workflow.state == EntryState::Published && e.pending.is_none() {
                        e.workflow.changed_on = Some(b.changed_on.unwrap_or(today));
                    }
                    details =
                        json!({ "restricts_class": e.published.as_ref().is_some_and(|p| b.metadata.restricts(p)) });
                    e.pending = Some(b.metadata);
                }
                EntryCommand::Submit => {
                    let pending = e.pending.clone().ok_or_else(|| {
                        workflow_error(shuyu_core::workflow::WorkflowError::NotAllowed {
                            action: "submit".into(),
                            state: e.workflow.state.as_str(),
                            basis: None,
                        })
                    })?;
                    check(&pending, e.published.as_ref())?;
                    if let Some(due) = e.workflow.change_due(&app.calendar, rules)? {
                        e.late_submission = today > due;
                    }
                    details = json!({ "late_submission": e.late_submission });
                }
                EntryCommand::Reject | EntryCommand::Retire => {
                    let b: ReasonBody = parse_body(body)?;
                    if b.reason.trim().is_empty() {
                        return Err(ApiError::validation(vec![FieldProblem::new("reason", "required", "请说明理由")]));
                    }
                    e.decision_reason = Some(b.reason.trim().to_string());
                    details = json!({ "reason": b.reason.trim() });
                }
                EntryCommand::Approve => {
                    let pending = e.pending.clone().ok_or_else(ApiError::internal)?;
                    // The authority's approval is what makes a restriction effective (WH §17).
                    details = json!({
                        "restricts_class": e.published.as_ref().is_some_and(|p| pending.restricts(p)),
                        "version": e.published_version + 1,
                    });
                }
            }
            let step = e.workflow.apply(cmd, today, &app.calendar, rules).map_err(workflow_error)?;
            e.workflow = step.object;
            e.overdue_since = None;
            if cmd == EntryCommand::Approve {
                let approved = e.pending.take().ok_or_else(ApiError::internal)?;
                e.published_version += 1;
                let now = tx.now();
                catalogue::add_version(tx.conn(), &e.id, e.published_version, &approved, user.id, now).await?;
                e.published = Some(approved);
                e.late_submission = false;
            }
            if let Value::Object(m) = &mut details {
                m.insert("event".into(), json!(step.event));
            }
            step.timer
        }
    };
    let now = tx.now();
    catalogue::update(tx.conn(), &mut e, now).await?;
    timers::set(tx.conn(), ENTRY, &e.id, timer.as_ref()).await?;
    let event = details.get("event").and_then(Value::as_str).unwrap_or("catalogue.open_data_attached").to_string();
    tx.audit(&caller.ctx, &event, &audit_name(&e.id), Outcome::Success, details).await?;
    tx.commit().await?;
    reindex(&app, &e)?;
    Ok(Json(view(&app, &caller, &e)?))
}

// ---------------------------------------------------------------- sharing between agencies

fn sharing_resource(s: &SharingRecord) -> Resource {
    Resource::owned("SharingRequest", s.id.clone(), s.requester_org).with_org("provider", s.provider_org)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SharingView {
    pub id: String,
    pub entry_id: String,
    pub provider_org: String,
    pub requester_org: String,
    pub purpose: String,
    pub fields: Vec<String>,
    pub state: String,
    pub deadline: Option<String>,
    pub awaiting: Option<String>,
    pub overdue_since: Option<String>,
    pub allowed_actions: Vec<String>,
    pub decision_reason: Option<String>,
    pub submitted_on: String,
}

fn sharing_view(app: &AppState, caller: &Caller, s: &SharingRecord) -> ApiResult<SharingView> {
    let res = sharing_resource(s);
    let authority = app.authz.authorize(&caller.principal, Action::SharingAuthorityReview, &res).is_ok();
    let provider = app.authz.authorize(&caller.principal, Action::SharingProviderReview, &res).is_ok();
    let timer = s.workflow.timer(&app.calendar, &app.profile.sharing)?;
    Ok(SharingView {
        id: s.id.clone(),
        entry_id: s.entry_id.clone(),
        provider_org: s.provider_org.to_string(),
        requester_org: s.requester_org.to_string(),
        purpose: s.purpose.clone(),
        fields: s.fields.clone(),
        state: s.workflow.state.as_str().into(),
        deadline: timer.map(|t| t.due_on.to_string()),
        awaiting: timer.map(|t| t.awaiting.to_string()),
        overdue_since: s.overdue_since.map(|d| d.to_string()),
        allowed_actions: s.workflow.allowed_actions(authority, provider).into_iter().map(String::from).collect(),
        decision_reason: s.decision_reason.clone(),
        submitted_on: s.submitted_on.to_string(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSharing {
    entry_id: String,
    /// The duty the data is needed for; shared data is used only for it (WH §20).
    purpose: String,
    /// The fields asked for; all fields when empty.
    #[serde(default)]
    fields: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/sharing-requests", tag = "catalogue", request_body = Object,
    responses((status = 201, body = SharingView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn request_sharing(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<SharingView>)> {
    app.authorize(&caller, Action::SharingRequest, &Resource::platform()).await?;
    let user = caller.require_user()?.clone();
    let b: NewSharing = parse_body(body)?;
    if b.purpose.trim().is_empty() {
        return Err(ApiError::validation(vec![FieldProblem::new("purpose", "required", "请说明履职用途")])
            .with_basis(app.profile.citation("sharing.purpose_limit").unwrap_or("WH §20")));
    }
    let e = load(&app, &b.entry_id).await?;
    let Some(published) = e.public_metadata() else {
        return Err(ApiError::not_found("catalogue entry"));
    };
    let unknown: Vec<&String> =
        b.fields.iter().filter(|f| !published.fields.iter().any(|spec| &spec.name == *f)).collect();
    if !unknown.is_empty() {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "fields",
            format!("not fields of this entry: {unknown:?}"),
            "所申请字段不在该目录中",
        )]));
    }
    let today = app.clock.today();
    let workflow = sharing::open(published.share_class, today).map_err(workflow_error)?;
    let timer = workflow.timer(&app.calendar, &app.profile.sharing)?;
    let s = SharingRecord {
        id: uuid::Uuid::now_v7().to_string(),
        entry_id: e.id.clone(),
        provider_org: e.holder_org,
        requester_org: user.org_id,
        requester_user: user.id,
        purpose: b.purpose.trim().to_string(),
        fields: if b.fields.is_empty() { published.fields.iter().map(|f| f.name.clone()).collect() } else { b.fields },
        workflow,
        submitted_on: today,
        decision_reason: None,
        overdue_since: None,
        version: 1,
        created_at: app.clock.now(),
    };
    let mut tx = app.begin().await?;
    catalogue::insert_sharing(tx.conn(), &s).await?;
    timers::set(tx.conn(), SHARING, &s.id, timer.as_ref()).await?;
    let event = if s.workflow.state == SharingState::Granted { "sharing.granted" } else { "sharing.requested" };
    tx.audit(
        &caller.ctx,
        event,
        &format!("sharing_request:{}", s.id),
        Outcome::Success,
        json!({ "entry": e.id, "share_class": published.share_class.as_str(), "purpose": s.purpose }),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(sharing_view(&app, &caller, &s)?)))
}

#[utoipa::path(get, path = "/api/v1/sharing-requests", tag = "catalogue",
    responses((status = 200, body = [SharingView]), (status = 403, body = ErrorBody)))]
pub async fn list_sharing(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<SharingView>>> {
    let scope = app.list_scope(&caller, Action::SharingList, Action::SharingListAll).await?;
    let mut conn = app.store.acquire().await?;
    let rows = catalogue::list_sharing(&mut conn, scope).await?;
    drop(conn);
    app.record_access(&caller, Action::SharingList, "platform:shuyu", json!({ "count": rows.len() })).await?;
    Ok(Json(rows.iter().map(|s| sharing_view(&app, &caller, s)).collect::<ApiResult<Vec<_>>>()?))
}

#[utoipa::path(get, path = "/api/v1/sharing-requests/{id}", tag = "catalogue", params(("id" = String, Path)),
    responses((status = 200, body = SharingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_sharing(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SharingView>> {
    let mut conn = app.store.acquire().await?;
    let s = catalogue::get_sharing(&mut conn, &id).await?.ok_or_else(|| ApiError::not_found("sharing request"))?;
    drop(conn);
    app.authorize(&caller, Action::SharingRead, &sharing_resource(&s)).await?;
    app.record_access(&caller, Action::SharingRead, &format!("sharing_request:{id}"), json!({})).await?;
    Ok(Json(sharing_view(&app, &caller, &s)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SharingDecision {
    #[serde(default)]
    reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/sharing-requests/{id}/actions/{action}", tag = "catalogue",
    params(("id" = String, Path), ("action" = String, Path, description = "approve or refuse")), request_body = Object,
    responses((status = 200, body = SharingView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn act_sharing(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, action)): Path<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<SharingView>> {
    let command = match action.as_str() {
        "approve" => SharingCommand::Approve,
        "refuse" => SharingCommand::Refuse,
        _ => {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_action")
                .with_details(json!({ "allowed": ["approve", "refuse"] })))
        }
    };
    let mut conn = app.store.acquire().await?;
    let s = catalogue::get_sharing(&mut conn, &id).await?.ok_or_else(|| ApiError::not_found("sharing request"))?;
    drop(conn);
    // The stage decides who reviews: the authority first, then the providing department.
    let policy = match s.workflow.state {
        SharingState::ProviderReview => Action::SharingProviderReview,
        _ => Action::SharingAuthorityReview,
    };
    app.authorize(&caller, policy, &sharing_resource(&s)).await?;
    let b: SharingDecision = parse_body(body)?;
    let reason = b.reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    if command == SharingCommand::Refuse && reason.is_none() {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "reason",
            "a refusal states its reason",
            "不予共享须说明理由",
        )])
        .with_basis("WH §18"));
    }
    let today = app.clock.today();
    let mut tx = app.begin().await?;
    let mut s = catalogue::get_sharing(tx.conn(), &id).await?.ok_or_else(|| ApiError::not_found("sharing request"))?;
    let step = s.workflow.apply(command, today, &app.calendar, &app.profile.sharing).map_err(workflow_error)?;
    s.workflow = step.object;
    s.overdue_since = None;
    if command == SharingCommand::Refuse {
        s.decision_reason = reason.clone();
    }
    let now = tx.now();
    catalogue::update_sharing(tx.conn(), &mut s, now).await?;
    timers::set(tx.conn(), SHARING, &s.id, step.timer.as_ref()).await?;
    tx.audit(
        &caller.ctx,
        step.event,
        &format!("sharing_request:{id}"),
        Outcome::Success,
        json!({ "reason": reason, "state": s.workflow.state.as_str() }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(sharing_view(&app, &caller, &s)?))
}

// ---------------------------------------------------------------- the public catalogue

/// A published entry as the public sees it: no storage location, no compliance documents, and
/// sensitive fields (level 3 and above) counted but not described.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublicEntry {
    pub id: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub holder: String,
    pub industry: String,
    pub industry_name: String,
    pub region: String,
    pub update_frequency: String,
    pub share_class: String,
    pub open_class: String,
    pub level: u8,
    pub grade: String,
    pub acquisition_mode: String,
    pub scenarios: Vec<String>,
    pub records: u64,
    #[schema(value_type = Object)]
    pub fields: Value,
    pub sensitive_fields: usize,
    pub downloadable: bool,
    pub version: i64,
    pub modified: String,
}

fn public_entry(e: &EntryRecord, m: &EntryMetadata, holder: &str) -> PublicEntry {
    let open: Vec<Value> = m
        .fields
        .iter()
        .filter(|f| f.sensitivity < 3)
        .map(|f| json!({ "name": f.name, "type": f.data_type.as_str(), "description": f.description }))
        .collect();
    PublicEntry {
        id: e.id.clone(),
        name: m.name.clone(),
        description: m.description.clone(),
        tags: m.tags.clone(),
        holder: holder.to_string(),
        industry: m.industry.clone(),
        industry_name: m.industry.parse::<IndustryCode>().map(|c| c.name()).unwrap_or_default(),
        region: m.region.clone(),
        update_frequency: m.update_frequency.as_str().into(),
        share_class: m.share_class.as_str().into(),
        open_class: m.open_class.as_str().into(),
        level: m.level(),
        grade: m.grade.as_str().into(),
        acquisition_mode: m.acquisition_mode.as_str().into(),
        scenarios: m.scenarios.clone(),
        records: m.records,
        sensitive_fields: m.fields.len() - open.len(),
        fields: Value::Array(open),
        downloadable: m.open_class == AccessClass::Unconditional && e.open_data.is_some(),
        version: e.published_version,
        modified: format_instant(e.updated_at),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Words in Chinese or English, searched in names, descriptions, fields and tags.
    pub q: Option<String>,
    /// Holder organisation id.
    pub department: Option<String>,
    /// GB/T 4754 code or prefix, e.g. `S` or `S92`.
    pub industry: Option<String>,
    pub region: Option<String>,
    pub share_class: Option<String>,
    pub open_class: Option<String>,
    pub level: Option<u64>,
    pub update_frequency: Option<String>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchResult {
    pub total: usize,
    pub entries: Vec<PublicEntry>,
}

async fn holder_names(app: &AppState) -> ApiResult<std::collections::HashMap<String, String>> {
    let mut conn = app.store.acquire().await?;
    Ok(organisations::list(&mut conn).await?.into_iter().map(|o| (o.id.to_string(), o.name)).collect())
}

#[utoipa::path(get, path = "/api/v1/public/catalogue", tag = "catalogue", params(SearchParams),
    responses((status = 200, body = SearchResult), (status = 422, body = ErrorBody)))]
pub async fn search(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> ApiResult<Json<SearchResult>> {
    app.authorize(&caller, Action::CatalogueSearch, &Resource::platform()).await?;
    if p.q.as_deref().is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::validation(vec![FieldProblem::new("q", "at most 200 characters", "检索词过长")]));
    }
    let query = SearchQuery {
        text: p.q.unwrap_or_default(),
        holder: p.department,
        industry: p.industry,
        region: p.region,
        share_class: p.share_class,
        open_class: p.open_class,
        level: p.level,
        update_frequency: p.update_frequency,
        limit: p.limit.unwrap_or(20).clamp(1, 100),
        offset: p.offset.unwrap_or(0).min(10_000),
    };
    let hits = app.catalogue_index.search(&query).map_err(|e| {
        tracing::error!(error = %e, "search");
        ApiError::internal()
    })?;
    let names = holder_names(&app).await?;
    let mut conn = app.store.acquire().await?;
    let mut entries = Vec::new();
    for id in &hits.ids {
        if let Some(e) = catalogue::get(&mut conn, id).await? {
            if let Some(m) = e.public_metadata() {
                let holder = names.get(&e.holder_org.to_string()).cloned().unwrap_or_default();
                entries.push(public_entry(&e, m, &holder));
            }
        }
    }
    Ok(Json(SearchResult { total: hits.total, entries }))
}

async fn published(app: &AppState, id: &str) -> ApiResult<(EntryRecord, EntryMetadata)> {
    let e = load(app, id).await?;
    match e.public_metadata().cloned() {
        Some(m) => Ok((e, m)),
        None => Err(ApiError::not_found("catalogue entry")),
    }
}

#[utoipa::path(get, path = "/api/v1/public/catalogue/{id}", tag = "catalogue", params(("id" = String, Path)),
    responses((status = 200, body = PublicEntry), (status = 404, body = ErrorBody)))]
pub async fn public_get(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<PublicEntry>> {
    app.authorize(&caller, Action::CatalogueSearch, &Resource::platform()).await?;
    let (e, m) = published(&app, &id).await?;
    let names = holder_names(&app).await?;
    Ok(Json(public_entry(&e, &m, names.get(&e.holder_org.to_string()).map(String::as_str).unwrap_or(""))))
}

#[utoipa::path(get, path = "/api/v1/public/catalogue/{id}/download", tag = "catalogue", params(("id" = String, Path)),
    responses((status = 200, description = "the open dataset"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn download(State(app): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    app.authorize(&caller, Action::CatalogueDownload, &Resource::platform()).await?;
    let (e, m) = published(&app, &id).await?;
    if m.open_class != AccessClass::Unconditional {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "not_open_unconditionally").with_basis("WH §24"));
    }
    send_open_data(&app, &caller, &e).await
}

/// The entry's open dataset as a download, audited, with its source and retrieval date
/// (WH §26: products built on public data state both).
async fn send_open_data(app: &AppState, caller: &Caller, e: &EntryRecord) -> ApiResult<Response> {
    let aid: AttachmentId =
        e.open_data.as_deref().and_then(|s| s.parse().ok()).ok_or_else(|| ApiError::not_found("open dataset"))?;
    let mut conn = app.store.acquire().await?;
    let meta = attachments::get(&mut conn, aid).await?.ok_or_else(|| ApiError::not_found("open dataset"))?;
    let content = attachments::content(&mut conn, aid).await?.ok_or_else(|| ApiError::not_found("open dataset"))?;
    drop(conn);
    let content = crate::routes::attachments::read(app, &meta, content).await?;
    app.store
        .record(
            app.clock.now(),
            &caller.ctx,
            "catalogue.downloaded",
            &audit_name(&e.id),
            Outcome::Success,
            json!({ "sha256": meta.sha256, "size": meta.size }),
        )
        .await?;
    Response::builder()
        .header(header::CONTENT_TYPE, meta.media_type)
        .header(header::CONTENT_DISPOSITION, "attachment")
        .header("x-shuyu-source", format!("catalogue_entry:{}", e.id))
        .header("x-shuyu-retrieved-on", app.clock.today().to_string())
        .header("x-shuyu-sha256", meta.sha256)
        .body(Body::from(content))
        .map_err(|_| ApiError::internal())
}

/// WX §2, YXO §18, as an endpoint for screens: may this entry be requested for operation?
#[utoipa::path(get, path = "/api/v1/public/catalogue/{id}/authorizable", tag = "catalogue", params(("id" = String, Path)),
    responses((status = 200, description = "authorizable"), (status = 409, body = ErrorBody)))]
pub async fn authorizable(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    app.authorize(&caller, Action::CatalogueSearch, &Resource::platform()).await?;
    check_authorizable(&app, &id).await?;
    Ok(Json(json!({ "entry": id, "authorizable": true })))
}

// ---------------------------------------------------------------- conditional open data

fn application_resource(a: &OpenDataApplication) -> Resource {
    Resource::owned("OpenDataApplication", a.id.clone(), a.applicant_org).with_org("provider", a.holder_org)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApplicationView {
    pub id: String,
    pub entry_id: String,
    pub purpose: String,
    pub state: String,
    pub deadline: Option<String>,
    pub awaiting: Option<String>,
    pub overdue_since: Option<String>,
    pub allowed_actions: Vec<String>,
    pub decision_reason: Option<String>,
    pub submitted_on: String,
}

fn application_view(app: &AppState, caller: &Caller, a: &OpenDataApplication) -> ApiResult<ApplicationView> {
    let timer = a.workflow.timer(&app.calendar, &app.profile.catalogue)?;
    let res = application_resource(a);
    let mut allowed = Vec::new();
    if a.workflow.state == ApplicationState::Submitted
        && app.authz.authorize(&caller.principal, Action::OpenDataDecide, &res).is_ok()
    {
        allowed.extend(["approve".to_string(), "refuse".to_string()]);
    }
    if a.workflow.state == ApplicationState::Granted
        && app.authz.authorize(&caller.principal, Action::OpenDataDownload, &res).is_ok()
    {
        allowed.push("download".to_string());
    }
    Ok(ApplicationView {
        id: a.id.clone(),
        entry_id: a.entry_id.clone(),
        purpose: a.purpose.clone(),
        state: a.workflow.state.as_str().into(),
        deadline: timer.map(|t| t.due_on.to_string()),
        awaiting: timer.map(|t| t.awaiting.to_string()),
        overdue_since: a.overdue_since.map(|d| d.to_string()),
        allowed_actions: allowed,
        decision_reason: a.decision_reason.clone(),
        submitted_on: a.workflow.submitted_on.to_string(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewApplication {
    purpose: String,
}

#[utoipa::path(post, path = "/api/v1/public/catalogue/{id}/applications", tag = "catalogue", params(("id" = String, Path)),
    request_body = Object,
    responses((status = 201, body = ApplicationView), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn apply_open_data(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<ApplicationView>)> {
    app.authorize(&caller, Action::OpenDataApply, &Resource::platform()).await?;
    let user = caller.require_user()?.clone();
    let b: NewApplication = parse_body(body)?;
    if b.purpose.trim().is_empty() || b.purpose.chars().count() > 2000 {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "purpose",
            "required, at most 2000 characters",
            "请说明用途",
        )]));
    }
    let (e, m) = published(&app, &id).await?;
    let workflow = open_data::apply(m.open_class, app.clock.today()).map_err(workflow_error)?;
    let timer = workflow.timer(&app.calendar, &app.profile.catalogue)?;
    let a = OpenDataApplication {
        id: uuid::Uuid::now_v7().to_string(),
        entry_id: e.id.clone(),
        holder_org: e.holder_org,
        applicant_org: user.org_id,
        applicant_user: user.id,
        purpose: b.purpose.trim().to_string(),
        workflow,
        decision_reason: None,
        overdue_since: None,
        created_at: app.clock.now(),
    };
    let mut tx = app.begin().await?;
    catalogue::insert_application(tx.conn(), &a).await?;
    timers::set(tx.conn(), OPEN_DATA, &a.id, timer.as_ref()).await?;
    tx.audit(
        &caller.ctx,
        "open_data.applied",
        &format!("open_data_application:{}", a.id),
        Outcome::Success,
        json!({ "entry": e.id }),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(application_view(&app, &caller, &a)?)))
}

#[utoipa::path(get, path = "/api/v1/open-data-applications", tag = "catalogue",
    responses((status = 200, body = [ApplicationView]), (status = 401, body = ErrorBody)))]
pub async fn list_open_data(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<ApplicationView>>> {
    let scope = app.list_scope(&caller, Action::OpenDataList, Action::OpenDataListAll).await?;
    let mut conn = app.store.acquire().await?;
    let rows = catalogue::list_applications(&mut conn, scope).await?;
    drop(conn);
    app.record_access(&caller, Action::OpenDataList, "platform:shuyu", json!({ "count": rows.len() })).await?;
    Ok(Json(rows.iter().map(|a| application_view(&app, &caller, a)).collect::<ApiResult<Vec<_>>>()?))
}

async fn load_application(app: &AppState, id: &str) -> ApiResult<OpenDataApplication> {
    let mut conn = app.store.acquire().await?;
    catalogue::get_application(&mut conn, id).await?.ok_or_else(|| ApiError::not_found("open data application"))
}

#[utoipa::path(get, path = "/api/v1/open-data-applications/{id}", tag = "catalogue", params(("id" = String, Path)),
    responses((status = 200, body = ApplicationView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_open_data(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ApplicationView>> {
    let a = load_application(&app, &id).await?;
    app.authorize(&caller, Action::OpenDataRead, &application_resource(&a)).await?;
    app.record_access(&caller, Action::OpenDataRead, &format!("open_data_application:{id}"), json!({})).await?;
    Ok(Json(application_view(&app, &caller, &a)?))
}

#[utoipa::path(post, path = "/api/v1/open-data-applications/{id}/actions/{action}", tag = "catalogue",
    params(("id" = String, Path), ("action" = String, Path, description = "approve or refuse")), request_body = Object,
    responses((status = 200, body = ApplicationView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn act_open_data(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, action)): Path<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<ApplicationView>> {
    let grant = match action.as_str() {
        "approve" => true,
        "refuse" => false,
        _ => {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_action")
                .with_details(json!({ "allowed": ["approve", "refuse"] })))
        }
    };
    let a = load_application(&app, &id).await?;
    app.authorize(&caller, Action::OpenDataDecide, &application_resource(&a)).await?;
    let b: SharingDecision = parse_body(body)?;
    let reason = b.reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    if !grant && reason.is_none() {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "reason",
            "a refusal states its reason",
            "不予开放须说明理由",
        )])
        .with_basis("WH §24"));
    }
    let mut tx = app.begin().await?;
    let mut a = catalogue::get_application(tx.conn(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("open data application"))?;
    let step = a.workflow.decide(grant, &app.calendar, &app.profile.catalogue).map_err(workflow_error)?;
    a.workflow = step.object;
    a.decision_reason = reason.clone();
    a.overdue_since = None;
    catalogue::update_application(tx.conn(), &a).await?;
    timers::set(tx.conn(), OPEN_DATA, &a.id, step.timer.as_ref()).await?;
    tx.audit(
        &caller.ctx,
        step.event,
        &format!("open_data_application:{id}"),
        Outcome::Success,
        json!({ "reason": reason }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(application_view(&app, &caller, &a)?))
}

#[utoipa::path(get, path = "/api/v1/open-data-applications/{id}/download", tag = "catalogue", params(("id" = String, Path)),
    responses((status = 200, description = "the granted dataset"), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn download_granted(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let a = load_application(&app, &id).await?;
    app.authorize(&caller, Action::OpenDataDownload, &application_resource(&a)).await?;
    if a.workflow.state != ApplicationState::Granted {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
            .with_details(json!({ "action": "download", "state": a.workflow.state.as_str() })));
    }
    let (e, _) = published(&app, &a.entry_id).await?;
    send_open_data(&app, &caller, &e).await
}
