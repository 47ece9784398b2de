//! Organisations: the authority, source departments, operators and the rest (SPEC glossary).

use chrono::{DateTime, Utc};
use serde::Serialize;
use shuyu_core::clock::{format_instant, parse_instant};
use shuyu_core::ids::OrgId;
use shuyu_core::roles::OrgKind;
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use crate::{opt_text, text, Result, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct Organisation {
    pub id: OrgId,
    pub name: String,
    pub kind: OrgKind,
    /// Unified social credit code, already validated by the caller.
    pub uscc: Option<String>,
    pub created_at: DateTime<Utc>,
}

fn from_row(row: &AnyRow) -> Result<Organisation> {
    Ok(Organisation {
        id: text(row, "id")?.parse()?,
        name: text(row, "name")?,
        kind: text(row, "kind")?.parse()?,
        uscc: opt_text(row, "uscc")?,
        created_at: parse_instant(&text(row, "created_at")?)
            .ok_or_else(|| StoreError::Corrupt("organisation created_at".into()))?,
    })
}

pub async fn insert(conn: &mut AnyConnection, org: &Organisation) -> Result<()> {
    sqlx::query("INSERT INTO organisations (id, name, kind, uscc, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(org.id.to_string())
        .bind(&org.name)
        .bind(org.kind.as_str())
        .bind(org.uscc.clone())
        .bind(format_instant(org.created_at))
        .execute(conn)
        .await
        .map_err(|e| StoreError::conflict_or(e, &format!("organisation {:?}", org.name)))?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, id: OrgId) -> Result<Option<Organisation>> {
    let row =
        sqlx::query("SELECT * FROM organisations WHERE id = $1").bind(id.to_string()).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<Organisation>> {
    let rows = sqlx::query("SELECT * FROM organisations ORDER BY kind, name").fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

pub async fn count(conn: &mut AnyConnection) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM organisations").fetch_one(conn).await?;
    crate::int(&row, "n")
}
