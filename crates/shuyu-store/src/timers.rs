//! Workflow timers: each workflow object's current deadline, one row per object. Transitions
//! replace the row in the same transaction as the state change, so the scheduler never sees a
//! deadline that no longer applies.

use chrono::NaiveDate;
use shuyu_core::workflow::Timer;
use sqlx::AnyConnection;

use crate::{text, Result, StoreError};

/// A timer whose deadline has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTimer {
    pub kind: String,
    pub object_id: String,
    pub due_on: NaiveDate,
    pub awaiting: String,
    pub action: String,
}

/// Sets (or with `None` clears) the deadline of one object.
pub async fn set(conn: &mut AnyConnection, kind: &str, object_id: &str, timer: Option<&Timer>) -> Result<()> {
    sqlx::query("DELETE FROM workflow_timers WHERE kind = $1 AND object_id = $2")
        .bind(kind)
        .bind(object_id)
        .execute(&mut *conn)
        .await?;
    if let Some(t) = timer {
        sqlx::query(
            "INSERT INTO workflow_timers (kind, object_id, due_on, awaiting, action) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(kind)
        .bind(object_id)
        .bind(t.due_on.to_string())
        .bind(t.awaiting)
        .bind(t.action_name())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Timers whose last day is before `today`, oldest first.
pub async fn due(conn: &mut AnyConnection, today: NaiveDate, limit: i64) -> Result<Vec<DueTimer>> {
    let rows = sqlx::query(
        "SELECT kind, object_id, due_on, awaiting, action FROM workflow_timers WHERE due_on < $1 \
         ORDER BY due_on, kind, object_id LIMIT $2",
    )
    .bind(today.to_string())
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The current timer of one object, if any.
pub async fn get(conn: &mut AnyConnection, kind: &str, object_id: &str) -> Result<Option<DueTimer>> {
    let row = sqlx::query(
        "SELECT kind, object_id, due_on, awaiting, action FROM workflow_timers WHERE kind = $1 AND object_id = $2",
    )
    .bind(kind)
    .bind(object_id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<DueTimer> {
    Ok(DueTimer {
        kind: text(r, "kind")?,
        object_id: text(r, "object_id")?,
        due_on: date(&text(r, "due_on")?, "workflow_timers.due_on")?,
        awaiting: text(r, "awaiting")?,
        action: text(r, "action")?,
    })
}

pub(crate) fn date(s: &str, column: &str) -> Result<NaiveDate> {
    s.parse().map_err(|_| StoreError::Corrupt(format!("{column}: {s:?} is not a date")))
}
