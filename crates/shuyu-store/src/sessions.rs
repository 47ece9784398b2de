//! Login sessions. Only the SHA-256 of a token is stored, so a copy of the database does not
//! let anyone sign in.

use chrono::{DateTime, Utc};
use shuyu_core::clock::format_instant;
use shuyu_core::ids::UserId;
use sqlx::AnyConnection;

use crate::users::UserRecord;
use crate::{text, Result};

/// Opens a session: `$1` token hash, `$2` account, `$3` created, `$4` expires.
pub(crate) const INSERT: &str =
    "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, revoked) VALUES ($1, $2, $3, $4, 0)";

pub async fn insert(
    conn: &mut AnyConnection,
    token_hash: &str,
    user: UserId,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(INSERT)
        .bind(token_hash)
        .bind(user.to_string())
        .bind(format_instant(now))
        .bind(format_instant(expires_at))
        .execute(conn)
        .await?;
    Ok(())
}

/// The account behind a live session, or `None` when the token is unknown, revoked or expired.
pub async fn find_user(conn: &mut AnyConnection, token_hash: &str, now: DateTime<Utc>) -> Result<Option<UserRecord>> {
    let row = sqlx::query("SELECT user_id FROM sessions WHERE token_hash = $1 AND revoked = 0 AND expires_at > $2")
        .bind(token_hash)
        .bind(format_instant(now))
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let user_id: UserId = text(&row, "user_id")?.parse()?;
    crate::users::get(conn, user_id).await
}

pub async fn revoke(conn: &mut AnyConnection, token_hash: &str) -> Result<()> {
    sqlx::query("UPDATE sessions SET revoked = 1 WHERE token_hash = $1").bind(token_hash).execute(conn).await?;
    Ok(())
}

/// Ends every session of a person, e.g. after a password change.
pub async fn revoke_all_for(conn: &mut AnyConnection, user: UserId, except: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE sessions SET revoked = 1 WHERE user_id = $1 AND token_hash <> $2")
        .bind(user.to_string())
        .bind(except.unwrap_or(""))
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends every session of every person in an organisation (termination, JS §23).
pub async fn revoke_all_in_org(conn: &mut AnyConnection, org: shuyu_core::ids::OrgId) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked = 1 WHERE revoked = 0 AND user_id IN (SELECT id FROM users WHERE org_id = $1)",
    )
    .bind(org.to_string())
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
