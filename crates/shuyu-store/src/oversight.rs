//! Oversight records: annual operation reports, annual evaluations, processors bound to
//! agreements, and emergency plans.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use shuyu_core::clock::format_instant;
use shuyu_core::ids::OrgId;
use shuyu_core::operators::Grade;
use sqlx::AnyConnection;

use crate::timers::date;
use crate::{int, opt_text, text, Result, StoreError};

/// The platform's own figures for an organisation's year: its audit events in total, the
/// refusals among them, and the downloads.
pub async fn platform_figures(conn: &mut AnyConnection, org: OrgId, year: i32) -> Result<Value> {
    let from = format!("{year}-01-01");
    let to = format!("{}-01-01", year + 1);
    let row = sqlx::query(
        "SELECT COUNT(*) AS events, \
         SUM(CASE WHEN outcome = 'denied' THEN 1 ELSE 0 END) AS denied, \
         SUM(CASE WHEN action LIKE '%downloaded%' THEN 1 ELSE 0 END) AS downloads \
         FROM audit_events WHERE organisation = $1 AND time >= $2 AND time < $3",
    )
    .bind(org.to_string())
    .bind(from)
    .bind(to)
    .fetch_one(conn)
    .await?;
    use sqlx::Row;
    let n = |col: &str| -> Result<i64> { Ok(row.try_get::<Option<i64>, _>(col)?.unwrap_or(0)) };
    Ok(serde_json::json!({ "audit_events": n("events")?, "refusals": n("denied")?, "downloads": n("downloads")? }))
}

pub async fn insert_report(
    conn: &mut AnyConnection,
    org: OrgId,
    year: i32,
    content: &Value,
    figures: &Value,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<String> {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO operation_reports (id, operator_org, year, content, platform_figures, submitted_on, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id.clone())
    .bind(org.to_string())
    .bind(i64::from(year))
    .bind(content.to_string())
    .bind(figures.to_string())
    .bind(today.to_string())
    .bind(format_instant(now))
    .execute(conn)
    .await
    .map_err(|e| StoreError::conflict_or(e, &format!("the {year} operation report")))?;
    Ok(id)
}

pub async fn insert_evaluation(
    conn: &mut AnyConnection,
    org: OrgId,
    year: i32,
    grade: Grade,
    evaluator: &str,
    report: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO evaluations (id, subject_org, year, grade, evaluator, report, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(org.to_string())
    .bind(i64::from(year))
    .bind(grade.as_str())
    .bind(evaluator)
    .bind(report)
    .bind(format_instant(now))
    .execute(conn)
    .await
    .map_err(|e| StoreError::conflict_or(e, &format!("the {year} evaluation")))?;
    Ok(())
}

pub async fn grades(conn: &mut AnyConnection, org: OrgId) -> Result<Vec<(i32, Grade)>> {
    let rows = sqlx::query("SELECT year, grade FROM evaluations WHERE subject_org = $1")
        .bind(org.to_string())
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            let year = i32::try_from(int(r, "year")?).map_err(|_| StoreError::Corrupt("evaluations.year".into()))?;
            let grade =
                Grade::parse(&text(r, "grade")?).ok_or_else(|| StoreError::Corrupt("evaluations.grade".into()))?;
            Ok((year, grade))
        })
        .collect()
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BoundProcessor {
    pub processor_org: String,
    pub selected_on: NaiveDate,
    pub valid_until: NaiveDate,
    pub status: String,
}

pub async fn bind_processor(
    conn: &mut AnyConnection,
    agreement: &str,
    processor: OrgId,
    selected_on: NaiveDate,
    valid_until: NaiveDate,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO agreement_processors (agreement_id, processor_org, selected_on, valid_until, status) \
         VALUES ($1, $2, $3, $4, 'active')",
    )
    .bind(agreement)
    .bind(processor.to_string())
    .bind(selected_on.to_string())
    .bind(valid_until.to_string())
    .execute(conn)
    .await
    .map_err(|e| StoreError::conflict_or(e, "this processor on this agreement"))?;
    Ok(())
}

pub async fn processors(conn: &mut AnyConnection, agreement: &str) -> Result<Vec<BoundProcessor>> {
    let rows = sqlx::query("SELECT * FROM agreement_processors WHERE agreement_id = $1 ORDER BY selected_on")
        .bind(agreement)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(BoundProcessor {
                processor_org: text(r, "processor_org")?,
                selected_on: date(&text(r, "selected_on")?, "selected_on")?,
                valid_until: date(&text(r, "valid_until")?, "valid_until")?,
                status: text(r, "status")?,
            })
        })
        .collect()
}

/// Disqualifies a processor on every agreement it is bound to (CS §19).
pub async fn disqualify_processor(conn: &mut AnyConnection, processor: OrgId) -> Result<u64> {
    let done = sqlx::query("UPDATE agreement_processors SET status = 'disqualified' WHERE processor_org = $1")
        .bind(processor.to_string())
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

pub async fn submit_plan(conn: &mut AnyConnection, org: OrgId, attachment: &str, today: NaiveDate) -> Result<()> {
    sqlx::query(
        "INSERT INTO emergency_plans (org_id, attachment_id, submitted_on, approved_on) VALUES ($1, $2, $3, NULL) \
         ON CONFLICT (org_id) DO UPDATE SET attachment_id = excluded.attachment_id, \
         submitted_on = excluded.submitted_on, approved_on = NULL",
    )
    .bind(org.to_string())
    .bind(attachment)
    .bind(today.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn approve_plan(conn: &mut AnyConnection, org: OrgId, today: NaiveDate) -> Result<bool> {
    let done = sqlx::query("UPDATE emergency_plans SET approved_on = $1 WHERE org_id = $2")
        .bind(today.to_string())
        .bind(org.to_string())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// `(submitted, approved)` for an organisation's emergency plan.
pub async fn plan_status(conn: &mut AnyConnection, org: OrgId) -> Result<(bool, bool)> {
    let row = sqlx::query("SELECT approved_on FROM emergency_plans WHERE org_id = $1")
        .bind(org.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        Some(r) => (true, opt_text(&r, "approved_on")?.is_some()),
        None => (false, false),
    })
}
