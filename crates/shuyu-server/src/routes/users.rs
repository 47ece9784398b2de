//! Accounts: list, read, create, unlock. Personal identifiers are masked unless the viewer's
//! role needs them or it is the person's own record.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shuyu_audit::Outcome;
use shuyu_authz::{Action, Resource};
use shuyu_core::clock::format_instant;
use shuyu_core::ids::{OrgId, UserId};
use shuyu_core::roles::Role;
use shuyu_core::validators::{mask_middle, Mobile, ResidentId};
use shuyu_store::users::{self, UserRecord};
use shuyu_store::{organisations, StoreError};

use crate::auth::{self, Caller};
use crate::error::{ApiError, ApiResult, ErrorBody, FieldProblem};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub org_id: String,
    pub roles: Vec<String>,
    pub real_name: Option<String>,
    pub resident_id: Option<String>,
    pub phone: Option<String>,
    /// `active`, `locked` or `disabled`.
    pub status: String,
    pub locked_until: Option<String>,
    pub created_at: String,
    /// Whether personal identifiers above are shown in full.
    pub identifiers_masked: bool,
}

impl UserView {
    pub fn of(user: &UserRecord, unmasked: bool) -> Self {
        let mask = |v: &Option<String>, keep_prefix: usize, keep_suffix: usize| {
            v.as_ref().map(|s| if unmasked { s.clone() } else { mask_middle(s, keep_prefix, keep_suffix) })
        };
        let status = if user.disabled {
            "disabled"
        } else if user.locked_until.is_some() {
            "locked"
        } else {
            "active"
        };
        Self {
            id: user.id.to_string(),
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            org_id: user.org_id.to_string(),
            roles: user.roles.iter().map(|r| r.as_str().to_string()).collect(),
            real_name: mask(&user.real_name, 1, 0),
            resident_id: mask(&user.resident_id, 6, 4),
            phone: mask(&user.phone, 3, 4),
            status: status.into(),
            locked_until: user.locked_until.map(format_instant),
            created_at: format_instant(user.created_at),
            identifiers_masked: !unmasked,
        }
    }
}

fn sees_identifiers(caller: &Caller, user: &UserRecord) -> bool {
    caller.user.as_ref().is_some_and(|me| me.id == user.id || me.roles.iter().any(|r| r.sees_personal_identifiers()))
}

/// Lists accounts.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = [UserView]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<UserView>>> {
    app.authorize(&caller, Action::UserList, &Resource::platform()).await?;
    let mut tx = app.begin().await?;
    let all = users::list(tx.conn(), None).await?;
    tx.audit(&caller.ctx, Action::UserList.as_str(), "platform:shuyu", Outcome::Success, json!({"count": all.len()}))
        .await?;
    tx.commit().await?;
    Ok(Json(all.iter().map(|u| UserView::of(u, sees_identifiers(&caller, u))).collect()))
}

/// Reads one account.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path)),
    responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<UserId>,
) -> ApiResult<Json<UserView>> {
    app.authorize(&caller, Action::UserRead, &Resource::user(id)).await?;
    let mut tx = app.begin().await?;
    let user = users::get(tx.conn(), id).await?.ok_or_else(|| ApiError::not_found("user"))?;
    let unmasked = sees_identifiers(&caller, &user);
    tx.audit(&caller.ctx, Action::UserRead.as_str(), &id.resource(), Outcome::Success, json!({"unmasked": unmasked}))
        .await?;
    tx.commit().await?;
    Ok(Json(UserView::of(&user, unmasked)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub password: String,
    pub org_id: String,
    pub roles: Vec<String>,
    pub real_name: Option<String>,
    pub resident_id: Option<String>,
    pub phone: Option<String>,
}

/// Creates an account in an organisation with roles that fit the organisation's kind.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = UserView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    app.authorize(&caller, Action::UserCreate, &Resource::platform()).await?;
    let mut problems = Vec::new();
    let username_ok = (3..=32).contains(&req.username.len())
        && req.username.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !username_ok {
        problems.push(FieldProblem::new(
            "username",
            "3–32 characters: lowercase letters, digits, '.', '_' or '-'",
            "3 至 32 位小写字母、数字或 . _ -",
        ));
    }
    if req.display_name.trim().is_empty() || req.display_name.chars().count() > 64 {
        problems.push(FieldProblem::new("display_name", "1–64 characters", "1 至 64 个字符"));
    }
    if !auth::password_is_strong(&req.password) {
        problems.push(FieldProblem::new(
            "password",
            "use at least 12 characters with letters and digits",
            "至少 12 位，且包含字母和数字",
        ));
    }
    let mut roles = Vec::new();
    for (i, r) in req.roles.iter().enumerate() {
        match r.parse::<Role>() {
            Ok(role) => roles.push(role),
            Err(_) => problems.push(FieldProblem::new(
                &format!("roles[{i}]"),
                format!("unknown role {r:?}"),
                format!("未知角色 {r}"),
            )),
        }
    }
    if req.roles.is_empty() {
        problems.push(FieldProblem::new("roles", "give at least one role", "至少指定一个角色"));
    }
    let resident_id = match req.resident_id.as_deref().filter(|s| !s.is_empty()) {
        Some(v) => match ResidentId::parse(v) {
            Ok(id) => Some(id.as_str().to_string()),
            Err(e) => {
                problems.push(FieldProblem::new("resident_id", e.to_string(), format!("身份证号无效：{e}")));
                None
            }
        },
        None => None,
    };
    let phone = match req.phone.as_deref().filter(|s| !s.is_empty()) {
        Some(v) => match Mobile::parse(v) {
            Ok(m) => Some(m.as_str().to_string()),
            Err(e) => {
                problems.push(FieldProblem::new("phone", e.to_string(), format!("手机号无效：{e}")));
                None
            }
        },
        None => None,
    };
    let org_id: Option<OrgId> = req.org_id.parse().ok();
    if org_id.is_none() {
        problems.push(FieldProblem::new("org_id", "not an organisation id", "不是有效的机构编号"));
    }
    let mut tx = app.begin().await?;
    let org = match org_id {
        Some(id) => organisations::get(tx.conn(), id).await?,
        None => None,
    };
    match &org {
        Some(org) => {
            for (i, role) in roles.iter().enumerate() {
                if role.org_kind() != org.kind {
                    problems.push(FieldProblem::new(
                        &format!("roles[{i}]"),
                        format!("role {} belongs to a {} organisation, not a {}", role, role.org_kind(), org.kind),
                        "该角色与所属机构类型不符",
                    ));
                }
            }
        }
        None if org_id.is_some() => {
            problems.push(FieldProblem::new("org_id", "no such organisation", "机构不存在"));
        }
        None => {}
    }
    let Some(org) = org.filter(|_| problems.is_empty()) else {
        return Err(ApiError::validation(problems));
    };
    let password_hash = auth::hash_password_blocking(req.password.clone()).await?;
    let now = tx.now();
    let user = UserRecord {
        real_name: req.real_name.filter(|s| !s.trim().is_empty()),
        resident_id,
        phone,
        ..UserRecord::new_account(
            org.id,
            req.username.clone(),
            req.display_name.trim().to_string(),
            password_hash,
            roles,
            now,
        )
    };
    users::insert(tx.conn(), &user).await?;
    tx.audit(
        &caller.ctx,
        Action::UserCreate.as_str(),
        &user.id.resource(),
        Outcome::Success,
        json!({"username": user.username, "org": org.id.to_string(), "roles": user.roles}),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(UserView::of(&user, sees_identifiers(&caller, &user)))))
}

/// Clears a lockout after repeated failed sign-ins.
#[utoipa::path(post, path = "/api/v1/users/{id}/unlock", tag = "users", params(("id" = String, Path)),
    responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unlock(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<UserId>,
) -> ApiResult<Json<UserView>> {
    app.authorize(&caller, Action::UserUnlock, &Resource::user(id)).await?;
    let mut tx = app.begin().await?;
    let mut user = users::get(tx.conn(), id).await?.ok_or(StoreError::NotFound { what: "user".into() })?;
    users::set_login_state(tx.conn(), id, 0, None).await?;
    tx.audit(&caller.ctx, Action::UserUnlock.as_str(), &id.resource(), Outcome::Success, json!({})).await?;
    tx.commit().await?;
    user.failed_logins = 0;
    user.locked_until = None;
    Ok(Json(UserView::of(&user, sees_identifiers(&caller, &user))))
}
