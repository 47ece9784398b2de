//! Sign-in, sign-out, the caller's own account and password change.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::Duration;
use serde::Deserialize;
use serde_json::{json, Value};
use shuyu_audit::Outcome;
use shuyu_authz::{Action, Resource};
use shuyu_core::clock::format_instant;
use shuyu_store::group::{Change, Effect, Record};
use shuyu_store::{sessions, users, AuditContext};

use crate::auth::{self, Caller, SESSION_COOKIE};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::routes::users::UserView;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    /// Bearer token for the API; the same session is also set as an HttpOnly cookie.
    pub token: String,
    pub expires_at: String,
    pub user: UserView,
}

fn session_cookie(token: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let value = format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Signs in with username and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "session", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 423, body = ErrorBody)))]
pub async fn login(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<impl IntoResponse> {
    let now = app.clock.now();
    let security = app.security();
    let mut conn = app.store.acquire().await?;
    let found = users::find_by_username(&mut conn, &req.username).await?;
    drop(conn);
    let username = req.username.chars().take(64).collect::<String>();

    // Sign-ins are a hot path: each outcome is one change for the group writer, which commits
    // it with its audit event before the answer leaves.
    let event = |ctx: &AuditContext, resource: String, outcome: Outcome, details: Value, change: Change| Record {
        ctx: ctx.clone(),
        action: "session.login",
        resource,
        outcome,
        details,
        change,
    };
    let Some(user) = found else {
        // Same work as a real check, so response time does not reveal which accounts exist.
        let _ = auth::verify_password_blocking(req.password.clone(), auth::dummy_hash().to_string()).await;
        app.metrics.login_failed();
        app.writer
            .record(event(
                &caller.ctx,
                "user:unknown".into(),
                Outcome::Failure,
                json!({"username": username}),
                Change::None,
            ))
            .await?;
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials"));
    };
    let ctx = AuditContext { actor: user.id.to_string(), organisation: user.org_id.to_string(), ..caller.ctx.clone() };
    if user.disabled {
        app.writer
            .record(event(&ctx, user.id.resource(), Outcome::Denied, json!({"reason": "disabled"}), Change::None))
            .await?;
        return Err(ApiError::new(StatusCode::FORBIDDEN, "account_disabled"));
    }
    if let Some(until) = user.locked_until.filter(|until| *until > now) {
        app.writer
            .record(event(&ctx, user.id.resource(), Outcome::Denied, json!({"reason": "locked"}), Change::None))
            .await?;
        return Err(ApiError::new(StatusCode::LOCKED, "account_locked")
            .with_details(json!({ "locked_until": format_instant(until) })));
    }

    let ok = auth::verify_password_blocking(req.password.clone(), user.password_hash.clone()).await;

    if !ok {
        app.metrics.login_failed();
        // The writer counts the failure against the committed count, so concurrent failures
        // all count.
        let change = Change::SignInFailed {
            user: user.id,
            lock_after: i64::from(security.lockout_threshold),
            lock_for: Duration::minutes(i64::from(security.lockout_minutes)),
        };
        let done = app.writer.record(event(&ctx, user.id.resource(), Outcome::Failure, json!({}), change)).await?;
        let locked_until = match done.effect {
            Effect::SignInFailed { locked_until, .. } => locked_until,
            Effect::Recorded | Effect::SignedIn => None,
        };
        return Err(match locked_until {
            Some(until) => ApiError::new(StatusCode::LOCKED, "account_locked")
                .with_details(json!({ "locked_until": format_instant(until) })),
            None => ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials"),
        });
    }
    let token = auth::new_token();
    let expires_at = now + Duration::hours(i64::from(security.session_hours));
    let change = Change::SignIn { user: user.id, token_hash: auth::token_hash(&token), expires_at };
    app.writer.record(event(&ctx, user.id.resource(), Outcome::Success, json!({}), change)).await?;

    let mut headers = HeaderMap::new();
    headers.insert(SET_COOKIE, session_cookie(&token, (expires_at - now).num_seconds(), app.config.secure_cookies));
    let view = UserView::of(&user, true);
    Ok((headers, Json(LoginResponse { token, expires_at: format_instant(expires_at), user: view })))
}

/// Ends the current session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "session",
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(State(app): State<AppState>, caller: Caller) -> ApiResult<impl IntoResponse> {
    let user = caller.require_user()?;
    app.authorize(&caller, Action::SessionLogout, &Resource::user(user.id)).await?;
    let mut tx = app.begin().await?;
    if let Some(hash) = &caller.token_hash {
        sessions::revoke(tx.conn(), hash).await?;
    }
    tx.audit(&caller.ctx, "session.logout", &user.id.resource(), Outcome::Success, json!({})).await?;
    tx.commit().await?;
    let mut headers = HeaderMap::new();
    headers.insert(SET_COOKIE, session_cookie("", 0, app.config.secure_cookies));
    Ok((StatusCode::NO_CONTENT, headers))
}

/// The signed-in person's own account, unmasked.
#[utoipa::path(get, path = "/api/v1/me", tag = "session",
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody)))]
pub async fn me(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<UserView>> {
    let Some(user) = caller.user.as_ref() else {
        return Err(ApiError::unauthenticated());
    };
    app.authorize(&caller, Action::SessionMe, &Resource::user(user.id)).await?;
    Ok(Json(UserView::of(user, true)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Changes the caller's password; every other session of theirs ends.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "session", request_body = PasswordChange,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn change_password(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    let user = caller.require_user()?.clone();
    app.authorize(&caller, Action::UserChangePassword, &Resource::user(user.id)).await?;
    let ok = auth::verify_password_blocking(req.current_password.clone(), user.password_hash.clone()).await;
    if !ok {
        app.store
            .record(
                app.clock.now(),
                &caller.ctx,
                "user.change_password",
                &user.id.resource(),
                Outcome::Failure,
                json!({"reason": "wrong current password"}),
            )
            .await?;
        return Err(ApiError::validation(vec![crate::error::FieldProblem::new(
            "current_password",
            "the current password is wrong",
            "当前密码不正确",
        )]));
    }
    if !auth::password_is_strong(&req.new_password) {
        return Err(ApiError::validation(vec![crate::error::FieldProblem::new(
            "new_password",
            "use at least 12 characters with letters and digits",
            "至少 12 位，且包含字母和数字",
        )]));
    }
    let hash = auth::hash_password_blocking(req.new_password.clone()).await?;
    let mut tx = app.begin().await?;
    let now = tx.now();
    users::set_password(tx.conn(), user.id, &hash, now).await?;
    sessions::revoke_all_for(tx.conn(), user.id, caller.token_hash.as_deref()).await?;
    tx.audit(&caller.ctx, "user.change_password", &user.id.resource(), Outcome::Success, json!({})).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
