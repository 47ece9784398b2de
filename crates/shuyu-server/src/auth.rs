//! Authentication: argon2id password hashes, session tokens, and the [`Caller`] extractor that
//! turns a request's cookie or bearer token into a principal.

use std::net::SocketAddr;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use shuyu_authz::Principal;
use shuyu_store::users::UserRecord;
use shuyu_store::{sessions, AuditContext};

use crate::error::ApiError;
use crate::i18n::Lang;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "shuyu_session";
pub const LANG_COOKIE: &str = "shuyu_lang";

pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|_| ApiError::internal())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Argon2id is deliberately slow; run it off the async workers so other requests keep moving.
pub async fn hash_password_blocking(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_password(&password)).await.map_err(|_| ApiError::internal())?
}

pub async fn verify_password_blocking(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&password, &hash)).await.unwrap_or(false)
}

/// A hash of a random password, verified against when the username is unknown so that a
/// failed login takes as long whether or not the account exists.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&new_token()).unwrap_or_default())
}

/// 256 random bits, URL-safe.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Passwords: at least 12 characters with a letter and a digit (MLPS level-3 practice).
pub fn password_is_strong(password: &str) -> bool {
    password.chars().count() >= 12
        && password.chars().any(|c| c.is_alphabetic())
        && password.chars().any(|c| c.is_ascii_digit())
}

/// Who is calling, resolved once per request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub user: Option<UserRecord>,
    pub ctx: AuditContext,
    pub token_hash: Option<String>,
    pub lang: Lang,
}

impl Caller {
    pub fn require_user(&self) -> Result<&UserRecord, ApiError> {
        self.user.as_ref().ok_or_else(ApiError::unauthenticated)
    }
}

pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Chinese unless the person chose English with the console's switch; the browser's
/// Accept-Language is deliberately ignored so every office sees the same screens by default.
pub fn request_lang(parts: &Parts) -> Lang {
    cookie(parts, LANG_COOKIE).and_then(Lang::parse).unwrap_or_default()
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let request_id = parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let client_addr =
            parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ci| ci.0.ip().to_string()).unwrap_or_default();
        let lang = request_lang(parts);
        let bearer = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let token = bearer.or_else(|| cookie(parts, SESSION_COOKIE));
        let anonymous = |request_id: String, client_addr: String| Caller {
            principal: Principal::Anonymous,
            user: None,
            ctx: AuditContext { actor: "anonymous".into(), organisation: String::new(), request_id, client_addr },
            token_hash: None,
            lang,
        };
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Ok(anonymous(request_id, client_addr));
        };
        let hash = token_hash(token);
        let mut conn = state.store.acquire().await?;
        let user = sessions::find_user(&mut conn, &hash, state.clock.now()).await?;
        match user {
            Some(user) if !user.disabled => {
                // A suspended or terminated organisation's people are stopped at the door
                // (WX §10, JS §23), except to read who they are, sign out, and, while suspended,
                // submit the rectification.
                let standing = shuyu_store::operators::standing(&mut conn, user.org_id).await?;
                drop(conn);
                if standing.status != shuyu_core::operators::OrgStatus::Active
                    && !allowed_while_stopped(parts, user.org_id, standing.status)
                {
                    let code = match standing.status {
                        shuyu_core::operators::OrgStatus::Terminated => "organisation_terminated",
                        _ => "organisation_suspended",
                    };
                    let ctx = AuditContext {
                        actor: user.id.to_string(),
                        organisation: user.org_id.to_string(),
                        request_id: request_id.clone(),
                        client_addr: client_addr.clone(),
                    };
                    state
                        .store
                        .record(
                            state.clock.now(),
                            &ctx,
                            code,
                            &user.org_id.resource(),
                            shuyu_audit::Outcome::Denied,
                            serde_json::json!({ "path": parts.uri.path() }),
                        )
                        .await?;
                    let basis = state.profile.citation("operators.suspension").unwrap_or("WX §10").to_string();
                    return Err(ApiError::new(axum::http::StatusCode::FORBIDDEN, code)
                        .with_details(
                            serde_json::json!({ "reason": standing.reason, "rectify_by": standing.rectify_by }),
                        )
                        .with_basis(basis));
                }
                let org_kind = user.roles.first().map(|r| r.org_kind()).unwrap_or(shuyu_core::roles::OrgKind::Consumer);
                Ok(Caller {
                    principal: Principal::User { id: user.id, org: user.org_id, org_kind, roles: user.roles.clone() },
                    ctx: AuditContext {
                        actor: user.id.to_string(),
                        organisation: user.org_id.to_string(),
                        request_id,
                        client_addr,
                    },
                    user: Some(user),
                    token_hash: Some(hash),
                    lang,
                })
            }
            // A stale cookie on a public page should not break the page; a bad bearer token
            // on the API is an error the client must see.
            _ if bearer.is_none() => Ok(anonymous(request_id, client_addr)),
            _ => Err(ApiError::unauthenticated()),
        }
    }
}

/// What a stopped organisation's people may still do.
fn allowed_while_stopped(parts: &Parts, org: shuyu_core::ids::OrgId, status: shuyu_core::operators::OrgStatus) -> bool {
    let path = parts.uri.path();
    let own = format!("/api/v1/organisations/{org}");
    match path {
        "/api/v1/me" | "/api/v1/auth/logout" | "/console/login" => true,
        p if p == own => true,
        p if p == format!("{own}/actions/submit_rectification") => {
            status == shuyu_core::operators::OrgStatus::Suspended
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse 42").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse 42", &hash));
        assert!(!verify_password("correct horse 43", &hash));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let a = new_token();
        assert_ne!(a, new_token());
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }

    #[test]
    fn weak_passwords_are_refused() {
        assert!(!password_is_strong("short1"));
        assert!(!password_is_strong("onlyletterslong"));
        assert!(password_is_strong("letters-and-42-digits"));
    }
}
