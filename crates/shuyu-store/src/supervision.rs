//! Supervision records (SPEC §6): alerts and the monitor's cursor, the audit log's retention
//! guard, and the data quality loop's reports and issues.

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use crate::{from_json, int, opt_text, text, to_json, Result, StoreError};

// ---------------------------------------------------------------- alerts

#[derive(Debug, Clone)]
pub struct AlertRecord {
    pub id: String,
    pub rule: String,
    pub subject: String,
    /// `[[kind, id], …]`: what the authority may act on.
    pub related: Vec<(String, String)>,
    pub evidence: Vec<u64>,
    pub observed: Value,
    /// `open`, `acted` or `dismissed`.
    pub state: String,
    /// What was done: `{ "action", "target", "id", "reason" }`.
    pub resolution: Option<Value>,
    pub handled_by: Option<String>,
    pub handled_at: Option<String>,
    /// When the finding happened (its last event's time).
    pub raised_at: String,
    pub created_at: String,
}

fn alert_from_row(r: &AnyRow) -> Result<AlertRecord> {
    Ok(AlertRecord {
        id: text(r, "id")?,
        rule: text(r, "rule")?,
        subject: text(r, "subject")?,
        related: from_json(&text(r, "related")?, "alerts.related")?,
        evidence: from_json(&text(r, "evidence")?, "alerts.evidence")?,
        observed: from_json(&text(r, "observed")?, "alerts.observed")?,
        state: text(r, "state")?,
        resolution: opt_text(r, "resolution")?.map(|s| from_json(&s, "alerts.resolution")).transpose()?,
        handled_by: opt_text(r, "handled_by")?,
        handled_at: opt_text(r, "handled_at")?,
        raised_at: text(r, "raised_at")?,
        created_at: text(r, "created_at")?,
    })
}

pub async fn insert_alert(conn: &mut AnyConnection, a: &AlertRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO alerts (id, rule, subject, related, evidence, observed, state, resolution, handled_by, \
         handled_at, raised_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&a.id)
    .bind(&a.rule)
    .bind(&a.subject)
    .bind(to_json(&a.related)?)
    .bind(to_json(&a.evidence)?)
    .bind(to_json(&a.observed)?)
    .bind(&a.state)
    .bind(a.resolution.as_ref().map(to_json).transpose()?)
    .bind(a.handled_by.clone())
    .bind(a.handled_at.clone())
    .bind(&a.raised_at)
    .bind(&a.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records what the authority did with an alert; false when it was no longer open.
pub async fn resolve_alert(
    conn: &mut AnyConnection,
    id: &str,
    state: &str,
    resolution: &Value,
    by: &str,
    at: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE alerts SET state = $1, resolution = $2, handled_by = $3, handled_at = $4 WHERE id = $5 AND state = 'open'",
    )
    .bind(state)
    .bind(to_json(resolution)?)
    .bind(by)
    .bind(at)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Adds later evidence to an open alert (capped at `cap` events, newest kept).
pub async fn extend_alert(
    conn: &mut AnyConnection,
    a: &AlertRecord,
    more: &[u64],
    observed: &Value,
    cap: usize,
) -> Result<()> {
    let mut evidence = a.evidence.clone();
    evidence.extend(more.iter().filter(|s| !a.evidence.contains(s)));
    if evidence.len() > cap {
        evidence.drain(..evidence.len() - cap);
    }
    sqlx::query("UPDATE alerts SET evidence = $1, observed = $2 WHERE id = $3")
        .bind(to_json(&evidence)?)
        .bind(to_json(observed)?)
        .bind(&a.id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn get_alert(conn: &mut AnyConnection, id: &str) -> Result<Option<AlertRecord>> {
    let row = sqlx::query("SELECT * FROM alerts WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.as_ref().map(alert_from_row).transpose()
}

pub async fn open_alert_for(conn: &mut AnyConnection, rule: &str, subject: &str) -> Result<Option<AlertRecord>> {
    let row = sqlx::query(
        "SELECT * FROM alerts WHERE rule = $1 AND subject = $2 AND state = 'open' ORDER BY created_at DESC LIMIT 1",
    )
    .bind(rule)
    .bind(subject)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(alert_from_row).transpose()
}

/// Newest first; `state` filters when given.
pub async fn list_alerts(conn: &mut AnyConnection, state: Option<&str>, limit: u32) -> Result<Vec<AlertRecord>> {
    let rows = match state {
        Some(s) => {
            sqlx::query("SELECT * FROM alerts WHERE state = $1 ORDER BY created_at DESC, id LIMIT $2")
                .bind(s)
                .bind(i64::from(limit))
                .fetch_all(conn)
                .await?
        }
        None => {
            sqlx::query("SELECT * FROM alerts ORDER BY created_at DESC, id LIMIT $1")
                .bind(i64::from(limit))
                .fetch_all(conn)
                .await?
        }
    };
    rows.iter().map(alert_from_row).collect()
}

/// Open alerts per rule, for the dashboard.
pub async fn open_alert_counts(conn: &mut AnyConnection) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query("SELECT rule, COUNT(*) AS n FROM alerts WHERE state = 'open' GROUP BY rule ORDER BY rule")
        .fetch_all(conn)
        .await?;
    rows.iter().map(|r| Ok((text(r, "rule")?, int(r, "n")?))).collect()
}

/// How many audit events the monitor has read.
pub async fn monitor_cursor(conn: &mut AnyConnection) -> Result<u64> {
    let row = sqlx::query("SELECT seq FROM monitor_cursor WHERE id = 1").fetch_one(conn).await?;
    u64::try_from(int(&row, "seq")?).map_err(|_| StoreError::Corrupt("negative monitor cursor".into()))
}

pub async fn set_monitor_cursor(conn: &mut AnyConnection, seq: u64) -> Result<()> {
    sqlx::query("UPDATE monitor_cursor SET seq = $1 WHERE id = 1")
        .bind(i64::try_from(seq).unwrap_or(i64::MAX))
        .execute(conn)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------- retention

/// Raises the database's retention guard to `years` when it is lower (it never goes down);
/// true when it was raised.
pub async fn ensure_retention(conn: &mut AnyConnection, years: u32) -> Result<bool> {
    let done = sqlx::query("UPDATE audit_retention SET years = $1 WHERE id = 1 AND years < $1")
        .bind(i64::from(years))
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn retention_years(conn: &mut AnyConnection) -> Result<u32> {
    let row = sqlx::query("SELECT years FROM audit_retention WHERE id = 1").fetch_one(conn).await?;
    u32::try_from(int(&row, "years")?).map_err(|_| StoreError::Corrupt("audit retention years".into()))
}

// ---------------------------------------------------------------- quality

#[derive(Debug, Clone)]
pub struct QualityReportRecord {
    pub dataset_id: String,
    pub entry_id: String,
    pub holder_org: String,
    pub version: i64,
    pub score: i64,
    pub dimensions: Value,
    pub created_at: String,
}

fn report_from_row(r: &AnyRow) -> Result<QualityReportRecord> {
    Ok(QualityReportRecord {
        dataset_id: text(r, "dataset_id")?,
        entry_id: text(r, "entry_id")?,
        holder_org: text(r, "holder_org")?,
        version: int(r, "version")?,
        score: int(r, "score")?,
        dimensions: from_json(&text(r, "dimensions")?, "quality_reports.dimensions")?,
        created_at: text(r, "created_at")?,
    })
}

pub async fn insert_quality_report(conn: &mut AnyConnection, q: &QualityReportRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO quality_reports (dataset_id, entry_id, holder_org, version, score, dimensions, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&q.dataset_id)
    .bind(&q.entry_id)
    .bind(&q.holder_org)
    .bind(q.version)
    .bind(q.score)
    .bind(to_json(&q.dimensions)?)
    .bind(&q.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The entry's reports, newest version first.
pub async fn quality_reports(conn: &mut AnyConnection, entry_id: &str) -> Result<Vec<QualityReportRecord>> {
    let rows = sqlx::query("SELECT * FROM quality_reports WHERE entry_id = $1 ORDER BY version DESC")
        .bind(entry_id)
        .fetch_all(conn)
        .await?;
    rows.iter().map(report_from_row).collect()
}

/// Every entry's latest report.
pub async fn latest_quality_reports(conn: &mut AnyConnection) -> Result<Vec<QualityReportRecord>> {
    let rows = sqlx::query(
        "SELECT q.* FROM quality_reports q WHERE q.version = \
         (SELECT MAX(version) FROM quality_reports l WHERE l.entry_id = q.entry_id) ORDER BY q.entry_id",
    )
    .fetch_all(conn)
    .await?;
    rows.iter().map(report_from_row).collect()
}

#[derive(Debug, Clone)]
pub struct QualityIssueRecord {
    pub id: String,
    pub entry_id: String,
    pub dataset_id: Option<String>,
    pub holder_org: String,
    /// `check` (the platform's own checks), `user` (a signed-in user) or `public`.
    pub origin: String,
    /// `issue` or `objection`.
    pub kind: String,
    pub dimension: Option<String>,
    pub description: String,
    pub reported_by: String,
    pub reporter_org: Option<String>,
    pub contact: Option<String>,
    /// `open`, `answered` or `closed`.
    pub state: String,
    pub due_on: String,
    pub overdue: bool,
    pub answer: Option<String>,
    pub answered_at: Option<String>,
    pub closed_at: Option<String>,
    pub created_at: String,
}

fn issue_from_row(r: &AnyRow) -> Result<QualityIssueRecord> {
    Ok(QualityIssueRecord {
        id: text(r, "id")?,
        entry_id: text(r, "entry_id")?,
        dataset_id: opt_text(r, "dataset_id")?,
        holder_org: text(r, "holder_org")?,
        origin: text(r, "origin")?,
        kind: text(r, "kind")?,
        dimension: opt_text(r, "dimension")?,
        description: text(r, "description")?,
        reported_by: text(r, "reported_by")?,
        reporter_org: opt_text(r, "reporter_org")?,
        contact: opt_text(r, "contact")?,
        state: text(r, "state")?,
        due_on: text(r, "due_on")?,
        overdue: int(r, "overdue")? != 0,
        answer: opt_text(r, "answer")?,
        answered_at: opt_text(r, "answered_at")?,
        closed_at: opt_text(r, "closed_at")?,
        created_at: text(r, "created_at")?,
    })
}

pub async fn insert_quality_issue(conn: &mut AnyConnection, q: &QualityIssueRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO quality_issues (id, entry_id, dataset_id, holder_org, origin, kind, dimension, description, \
         reported_by, reporter_org, contact, state, due_on, overdue, answer, answered_at, closed_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(&q.id)
    .bind(&q.entry_id)
    .bind(q.dataset_id.clone())
    .bind(&q.holder_org)
    .bind(&q.origin)
    .bind(&q.kind)
    .bind(q.dimension.clone())
    .bind(&q.description)
    .bind(&q.reported_by)
    .bind(q.reporter_org.clone())
    .bind(q.contact.clone())
    .bind(&q.state)
    .bind(&q.due_on)
    .bind(i64::from(q.overdue))
    .bind(q.answer.clone())
    .bind(q.answered_at.clone())
    .bind(q.closed_at.clone())
    .bind(&q.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update_quality_issue(conn: &mut AnyConnection, q: &QualityIssueRecord) -> Result<()> {
    sqlx::query(
        "UPDATE quality_issues SET state = $1, overdue = $2, answer = $3, answered_at = $4, closed_at = $5 WHERE id = $6",
    )
    .bind(&q.state)
    .bind(i64::from(q.overdue))
    .bind(q.answer.clone())
    .bind(q.answered_at.clone())
    .bind(q.closed_at.clone())
    .bind(&q.id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_quality_issue(conn: &mut AnyConnection, id: &str) -> Result<Option<QualityIssueRecord>> {
    let row = sqlx::query("SELECT * FROM quality_issues WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.as_ref().map(issue_from_row).transpose()
}

/// Issues, newest first: one holder's, one entry's, or all.
pub async fn list_quality_issues(
    conn: &mut AnyConnection,
    holder: Option<&str>,
    entry: Option<&str>,
) -> Result<Vec<QualityIssueRecord>> {
    let mut sql = String::from("SELECT * FROM quality_issues WHERE 1 = 1");
    let mut binds = Vec::new();
    if let Some(h) = holder {
        binds.push(h.to_string());
        sql.push_str(&format!(" AND holder_org = ${}", binds.len()));
    }
    if let Some(e) = entry {
        binds.push(e.to_string());
        sql.push_str(&format!(" AND entry_id = ${}", binds.len()));
    }
    sql.push_str(" ORDER BY created_at DESC, id LIMIT 1000");
    let mut q = sqlx::query(&sql);
    for b in binds {
        q = q.bind(b);
    }
    q.fetch_all(conn).await?.iter().map(issue_from_row).collect()
}

/// Open issues past their deadline that are not yet marked overdue.
pub async fn newly_overdue_issues(conn: &mut AnyConnection, today: &str) -> Result<Vec<QualityIssueRecord>> {
    let rows =
        sqlx::query("SELECT * FROM quality_issues WHERE state = 'open' AND overdue = 0 AND due_on < $1 LIMIT 1000")
            .bind(today)
            .fetch_all(conn)
            .await?;
    rows.iter().map(issue_from_row).collect()
}
