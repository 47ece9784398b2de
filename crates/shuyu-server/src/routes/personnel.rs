//! Personnel who touch data (WX §16, YXO §22, §32): the operator files its people, records their
//! training and confidentiality agreements; the authority or a security auditor reviews them.
//! `check_clearance` is what the sandbox asks before anyone joins a workspace.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shuyu_audit::Outcome;
use shuyu_authz::{Action, Resource};
use shuyu_core::ids::UserId;
use shuyu_core::personnel::{clearance, Confidentiality, Missing, PersonnelRecord, Training};
use shuyu_core::roles::Role;
use shuyu_store::users::UserRecord;
use shuyu_store::{personnel, users};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldProblem};
use crate::extract::ApiJson;
use crate::state::AppState;

const PERSONNEL_ROLES: &[Role] = &[Role::OperatorAdmin, Role::OperatorAnalyst, Role::ProcessorAnalyst];

fn resource(u: &UserRecord) -> Resource {
    Resource::owned("Personnel", u.id.to_string(), u.org_id)
}

async fn person(app: &AppState, id: &str) -> ApiResult<UserRecord> {
    let id: UserId = id.parse().map_err(|_| ApiError::not_found("person"))?;
    let u = users::get(&mut *app.store.acquire().await?, id).await?.ok_or_else(|| ApiError::not_found("person"))?;
    if !u.roles.iter().any(|r| PERSONNEL_ROLES.contains(r)) {
        return Err(ApiError::new(StatusCode::CONFLICT, "not_personnel")
            .with_details(json!({ "roles": u.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>() })));
    }
    Ok(u)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PersonnelView {
    pub user_id: String,
    pub organisation: String,
    #[schema(value_type = Object)]
    pub record: PersonnelRecord,
    /// True when the person may join a sandbox workspace today.
    pub cleared: bool,
    #[schema(value_type = Object)]
    pub missing: Vec<Missing>,
}

fn view(app: &AppState, u: &UserRecord, record: PersonnelRecord) -> PersonnelView {
    let missing = clearance(u.has_real_name(), &record, app.clock.today());
    PersonnelView {
        user_id: u.id.to_string(),
        organisation: u.org_id.to_string(),
        cleared: missing.is_empty(),
        missing,
        record,
    }
}

/// Refuses, naming every missing item and the first article, unless the person is cleared.
pub async fn check_clearance(app: &AppState, user: UserId) -> ApiResult<()> {
    let mut conn = app.store.acquire().await?;
    let u = users::get(&mut conn, user).await?.ok_or_else(|| ApiError::not_found("person"))?;
    let record = personnel::get(&mut conn, user).await?;
    drop(conn);
    let missing = clearance(u.has_real_name(), &record, app.clock.today());
    match missing.first() {
        None => Ok(()),
        Some(first) => Err(ApiError::new(StatusCode::CONFLICT, "not_cleared")
            .with_details(json!({ "user": user.to_string(), "missing": missing }))
            .with_basis(first.basis)),
    }
}

#[utoipa::path(get, path = "/api/v1/personnel/{user_id}", tag = "operators", params(("user_id" = String, Path)),
    responses((status = 200, body = PersonnelView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<PersonnelView>> {
    let u = person(&app, &id).await?;
    app.authorize(&caller, Action::PersonnelRead, &resource(&u)).await?;
    let record = personnel::get(&mut *app.store.acquire().await?, u.id).await?;
    app.record_access(&caller, Action::PersonnelRead, &u.id.resource(), json!({ "via": "personnel" })).await?;
    Ok(Json(view(&app, &u, record)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    passed: bool,
    #[serde(default)]
    note: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/personnel/{user_id}/actions/{action}", tag = "operators",
    params(("user_id" = String, Path), ("action" = String, Path, description = "file, record_training, sign_confidentiality, review")),
    request_body = Object,
    responses((status = 200, body = PersonnelView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn act(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, action)): Path<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<PersonnelView>> {
    let u = person(&app, &id).await?;
    let policy = match action.as_str() {
        "file" | "record_training" | "sign_confidentiality" => Action::PersonnelManage,
        "review" => Action::PersonnelReview,
        _ => {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_action")
                .with_details(json!({ "allowed": ["file", "record_training", "sign_confidentiality", "review"] })))
        }
    };
    app.authorize(&caller, policy, &resource(&u)).await?;
    let invalid = |e: serde_json::Error| {
        ApiError::validation(vec![FieldProblem::new("body", e.to_string(), "请求内容不符合要求")])
    };
    let today = app.clock.today();
    let mut tx = app.begin().await?;
    let mut record = personnel::get(tx.conn(), u.id).await?;
    let details = match action.as_str() {
        "file" => {
            record.filed_on = Some(today);
            json!({ "filed_on": today })
        }
        "record_training" => {
            let t: Training = serde_json::from_value(body).map_err(invalid)?;
            if t.course.trim().is_empty() || t.completed_on > today {
                return Err(ApiError::validation(vec![FieldProblem::new(
                    "course",
                    "a course name and a completion date not in the future",
                    "请填写课程名称和已完成日期",
                )]));
            }
            let d = json!({ "course": t.course, "completed_on": t.completed_on });
            record.trainings.push(t);
            d
        }
        "sign_confidentiality" => {
            let c: Confidentiality = serde_json::from_value(body).map_err(invalid)?;
            if c.liability_clause.trim().is_empty() || c.valid_until < c.signed_on {
                return Err(ApiError::validation(vec![FieldProblem::new(
                    "liability_clause",
                    "a liability clause and a term that ends after it starts",
                    "保密协议须包含责任条款和有效期限",
                )])
                .with_basis("YXO §22"));
            }
            let aid: shuyu_core::ids::AttachmentId = c.attachment_id.parse().map_err(|_| {
                ApiError::validation(vec![FieldProblem::new(
                    "attachment_id",
                    "the signed agreement's attachment",
                    "请上传已签署的保密协议",
                )])
            })?;
            if shuyu_store::attachments::get(tx.conn(), aid).await?.is_none_or(|a| a.org_id != u.org_id) {
                return Err(ApiError::validation(vec![FieldProblem::new(
                    "attachment_id",
                    "no attachment of this organisation has this id",
                    "未找到本单位上传的该附件",
                )]));
            }
            let d = json!({ "signed_on": c.signed_on, "valid_until": c.valid_until });
            record.confidentiality = Some(c);
            d
        }
        _ => {
            let b: ReviewBody = serde_json::from_value(body).map_err(invalid)?;
            record.review_passed = Some(b.passed);
            record.reviewed_on = Some(today);
            json!({ "passed": b.passed, "note": b.note })
        }
    };
    let now = tx.now();
    personnel::put(tx.conn(), u.id, u.org_id, &record, now).await?;
    tx.audit(&caller.ctx, &format!("personnel.{action}"), &u.id.resource(), Outcome::Success, details).await?;
    tx.commit().await?;
    Ok(Json(view(&app, &u, record)))
}

#[utoipa::path(get, path = "/api/v1/personnel", tag = "operators",
    responses((status = 200, body = [PersonnelView]), (status = 401, body = ErrorBody)))]
pub async fn list(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<PersonnelView>>> {
    app.authorize(&caller, Action::PersonnelList, &Resource::platform()).await?;
    let mut conn = app.store.acquire().await?;
    let everyone = users::list(&mut conn, None).await?;
    let mut out = Vec::new();
    for u in everyone.iter().filter(|u| u.roles.iter().any(|r| PERSONNEL_ROLES.contains(r))) {
        // Each caller sees the people the policies let them read.
        if app.authz.authorize(&caller.principal, Action::PersonnelRead, &resource(u)).is_ok() {
            let record = personnel::get(&mut conn, u.id).await?;
            out.push(view(&app, u, record));
        }
    }
    drop(conn);
    app.record_access(&caller, Action::PersonnelList, "platform:shuyu", json!({ "count": out.len() })).await?;
    Ok(Json(out))
}
