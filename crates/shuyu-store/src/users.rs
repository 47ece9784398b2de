//! People's accounts: organisation, roles, password hash, lockout state, real-name record.

use chrono::{DateTime, Utc};
use shuyu_core::clock::{format_instant, parse_instant};
use shuyu_core::ids::{OrgId, UserId};
use shuyu_core::roles::Role;
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use crate::{int, opt_text, text, Result, StoreError};

/// A stored account. The password hash stays inside the server: this type is deliberately not
/// `Serialize`.
#[derive(Clone)]
pub struct UserRecord {
    pub id: UserId,
    pub org_id: OrgId,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub roles: Vec<Role>,
    pub real_name: Option<String>,
    pub resident_id: Option<String>,
    pub phone: Option<String>,
    pub failed_logins: i64,
    pub locked_until: Option<DateTime<Utc>>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub password_changed_at: DateTime<Utc>,
}

impl UserRecord {
    /// A real-name record: a name and a resident ID (required to object, and for personnel).
    pub fn has_real_name(&self) -> bool {
        self.real_name.is_some() && self.resident_id.is_some()
    }

    /// A new, active account with no failed sign-ins and no real-name record yet.
    pub fn new_account(
        org_id: OrgId,
        username: String,
        display_name: String,
        password_hash: String,
        roles: Vec<Role>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: UserId::new(),
            org_id,
            username,
            display_name,
            password_hash,
            roles,
            real_name: None,
            resident_id: None,
            phone: None,
            failed_logins: 0,
            locked_until: None,
            disabled: false,
            created_at: now,
            password_changed_at: now,
        }
    }
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

fn instant(row: &AnyRow, col: &str) -> Result<DateTime<Utc>> {
    parse_instant(&text(row, col)?).ok_or_else(|| StoreError::Corrupt(format!("users.{col}")))
}

fn roles_to_text(roles: &[Role]) -> String {
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
}

fn from_row(row: &AnyRow) -> Result<UserRecord> {
    let roles = text(row, "roles")?
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<Role>())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(UserRecord {
        id: text(row, "id")?.parse()?,
        org_id: text(row, "org_id")?.parse()?,
        username: text(row, "username")?,
        display_name: text(row, "display_name")?,
        password_hash: text(row, "password_hash")?,
        roles,
        real_name: opt_text(row, "real_name")?,
        resident_id: opt_text(row, "resident_id")?,
        phone: opt_text(row, "phone")?,
        failed_logins: int(row, "failed_logins")?,
        locked_until: opt_text(row, "locked_until")?.as_deref().and_then(parse_instant),
        disabled: int(row, "disabled")? != 0,
        created_at: instant(row, "created_at")?,
        password_changed_at: instant(row, "password_changed_at")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, user: &UserRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, org_id, username, display_name, password_hash, roles, real_name, \
         resident_id, phone, failed_logins, locked_until, disabled, created_at, password_changed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(user.id.to_string())
    .bind(user.org_id.to_string())
    .bind(&user.username)
    .bind(&user.display_name)
    .bind(&user.password_hash)
    .bind(roles_to_text(&user.roles))
    .bind(user.real_name.clone())
    .bind(user.resident_id.clone())
    .bind(user.phone.clone())
    .bind(user.failed_logins)
    .bind(user.locked_until.map(format_instant))
    .bind(i64::from(user.disabled))
    .bind(format_instant(user.created_at))
    .bind(format_instant(user.password_changed_at))
    .execute(conn)
    .await
    .map_err(|e| StoreError::conflict_or(e, &format!("user {:?}", user.username)))?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, id: UserId) -> Result<Option<UserRecord>> {
    let row = sqlx::query("SELECT * FROM users WHERE id = $1").bind(id.to_string()).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn find_by_username(conn: &mut AnyConnection, username: &str) -> Result<Option<UserRecord>> {
    let row = sqlx::query("SELECT * FROM users WHERE username = $1").bind(username).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list(conn: &mut AnyConnection, org: Option<OrgId>) -> Result<Vec<UserRecord>> {
    let rows = match org {
        Some(org) => {
            sqlx::query("SELECT * FROM users WHERE org_id = $1 ORDER BY username")
                .bind(org.to_string())
                .fetch_all(conn)
                .await?
        }
        None => sqlx::query("SELECT * FROM users ORDER BY username").fetch_all(conn).await?,
    };
    rows.iter().map(from_row).collect()
}

/// Stores the lockout counters after a login attempt.
/// Sets the failure count and lock: `$1` failures, `$2` locked until, `$3` the account.
pub(crate) const SET_LOGIN_STATE: &str = "UPDATE users SET failed_logins = $1, locked_until = $2 WHERE id = $3";

pub async fn set_login_state(
    conn: &mut AnyConnection,
    id: UserId,
    failed_logins: i64,
    locked_until: Option<DateTime<Utc>>,
) -> Result<()> {
    sqlx::query(SET_LOGIN_STATE)
        .bind(failed_logins)
        .bind(locked_until.map(format_instant))
        .bind(id.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_password(conn: &mut AnyConnection, id: UserId, password_hash: &str, now: DateTime<Utc>) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
        .bind(password_hash)
        .bind(format_instant(now))
        .bind(id.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn count(conn: &mut AnyConnection) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(conn).await?;
    int(&row, "n")
}
