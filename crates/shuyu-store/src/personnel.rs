//! Personnel records (WX §16, YXO §22, §32), one per person who touches data.

use chrono::{DateTime, Utc};
use shuyu_core::clock::format_instant;
use shuyu_core::ids::{OrgId, UserId};
use shuyu_core::personnel::PersonnelRecord;
use sqlx::AnyConnection;

use crate::{text, Result, StoreError};

pub async fn get(conn: &mut AnyConnection, user: UserId) -> Result<PersonnelRecord> {
    let row = sqlx::query("SELECT record FROM personnel WHERE user_id = $1")
        .bind(user.to_string())
        .fetch_optional(conn)
        .await?;
    match row {
        Some(r) => {
            serde_json::from_str(&text(&r, "record")?).map_err(|e| StoreError::Corrupt(format!("personnel: {e}")))
        }
        None => Ok(PersonnelRecord::default()),
    }
}

pub async fn put(
    conn: &mut AnyConnection,
    user: UserId,
    org: OrgId,
    record: &PersonnelRecord,
    now: DateTime<Utc>,
) -> Result<()> {
    let json = serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO personnel (user_id, org_id, record, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id) DO UPDATE SET record = excluded.record, updated_at = excluded.updated_at",
    )
    .bind(user.to_string())
    .bind(org.to_string())
    .bind(json)
    .bind(format_instant(now))
    .execute(conn)
    .await?;
    Ok(())
}
