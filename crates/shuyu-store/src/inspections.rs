//! Inspections and their findings (JS §21, YXO §34), processors' quarterly security reports
//! (CS §24), and the public's requests for data not yet in the catalogue.

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use crate::{from_json, int, opt_text, text, to_json, Result, StoreError};

#[derive(Debug, Clone)]
pub struct InspectionRecord {
    pub id: String,
    pub subject_org: String,
    pub title: String,
    pub scope: String,
    pub planned_on: String,
    /// `planned`, `conducted` or `closed`.
    pub state: String,
    pub conducted_on: Option<String>,
    pub summary: Option<String>,
    pub created_by: String,
    pub created_at: String,
}

fn inspection_from_row(r: &AnyRow) -> Result<InspectionRecord> {
    Ok(InspectionRecord {
        id: text(r, "id")?,
        subject_org: text(r, "subject_org")?,
        title: text(r, "title")?,
        scope: text(r, "scope")?,
        planned_on: text(r, "planned_on")?,
        state: text(r, "state")?,
        conducted_on: opt_text(r, "conducted_on")?,
        summary: opt_text(r, "summary")?,
        created_by: text(r, "created_by")?,
        created_at: text(r, "created_at")?,
    })
}

pub async fn insert_inspection(conn: &mut AnyConnection, i: &InspectionRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO inspections (id, subject_org, title, scope, planned_on, state, conducted_on, summary, created_by, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&i.id)
    .bind(&i.subject_org)
    .bind(&i.title)
    .bind(&i.scope)
    .bind(&i.planned_on)
    .bind(&i.state)
    .bind(i.conducted_on.clone())
    .bind(i.summary.clone())
    .bind(&i.created_by)
    .bind(&i.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update_inspection(conn: &mut AnyConnection, i: &InspectionRecord) -> Result<()> {
    sqlx::query("UPDATE inspections SET state = $1, conducted_on = $2, summary = $3 WHERE id = $4")
        .bind(&i.state)
        .bind(i.conducted_on.clone())
        .bind(i.summary.clone())
        .bind(&i.id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn get_inspection(conn: &mut AnyConnection, id: &str) -> Result<Option<InspectionRecord>> {
    let row = sqlx::query("SELECT * FROM inspections WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.as_ref().map(inspection_from_row).transpose()
}

/// Newest plan first; one subject's or all.
pub async fn list_inspections(conn: &mut AnyConnection, subject: Option<&str>) -> Result<Vec<InspectionRecord>> {
    let rows = match subject {
        Some(s) => {
            sqlx::query("SELECT * FROM inspections WHERE subject_org = $1 ORDER BY planned_on DESC, id")
                .bind(s)
                .fetch_all(conn)
                .await?
        }
        None => {
            sqlx::query("SELECT * FROM inspections ORDER BY planned_on DESC, id LIMIT 1000").fetch_all(conn).await?
        }
    };
    rows.iter().map(inspection_from_row).collect()
}

#[derive(Debug, Clone)]
pub struct FindingRecord {
    pub id: String,
    pub inspection_id: String,
    pub subject_org: String,
    pub description: String,
    /// `minor` or `major`.
    pub severity: String,
    pub rectify_by: String,
    /// `open` → `submitted` → `accepted`, or back to `open` when the rectification is rejected.
    pub state: String,
    pub rectification: Option<String>,
    pub submitted_at: Option<String>,
    pub decided_at: Option<String>,
    pub decision: Option<String>,
    pub overdue: bool,
    pub created_at: String,
}

fn finding_from_row(r: &AnyRow) -> Result<FindingRecord> {
    Ok(FindingRecord {
        id: text(r, "id")?,
        inspection_id: text(r, "inspection_id")?,
        subject_org: text(r, "subject_org")?,
        description: text(r, "description")?,
        severity: text(r, "severity")?,
        rectify_by: text(r, "rectify_by")?,
        state: text(r, "state")?,
        rectification: opt_text(r, "rectification")?,
        submitted_at: opt_text(r, "submitted_at")?,
        decided_at: opt_text(r, "decided_at")?,
        decision: opt_text(r, "decision")?,
        overdue: int(r, "overdue")? != 0,
        created_at: text(r, "created_at")?,
    })
}

pub async fn insert_finding(conn: &mut AnyConnection, f: &FindingRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO inspection_findings (id, inspection_id, subject_org, description, severity, rectify_by, state, \
         rectification, submitted_at, decided_at, decision, overdue, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&f.id)
    .bind(&f.inspection_id)
    .bind(&f.subject_org)
    .bind(&f.description)
    .bind(&f.severity)
    .bind(&f.rectify_by)
    .bind(&f.state)
    .bind(f.rectification.clone())
    .bind(f.submitted_at.clone())
    .bind(f.decided_at.clone())
    .bind(f.decision.clone())
    .bind(i64::from(f.overdue))
    .bind(&f.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update_finding(conn: &mut AnyConnection, f: &FindingRecord) -> Result<()> {
    sqlx::query(
        "UPDATE inspection_findings SET rectify_by = $1, state = $2, rectification = $3, submitted_at = $4, \
         decided_at = $5, decision = $6, overdue = $7 WHERE id = $8",
    )
    .bind(&f.rectify_by)
    .bind(&f.state)
    .bind(f.rectification.clone())
    .bind(f.submitted_at.clone())
    .bind(f.decided_at.clone())
    .bind(f.decision.clone())
    .bind(i64::from(f.overdue))
    .bind(&f.id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_finding(conn: &mut AnyConnection, id: &str) -> Result<Option<FindingRecord>> {
    let row = sqlx::query("SELECT * FROM inspection_findings WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.as_ref().map(finding_from_row).transpose()
}

pub async fn findings_of(conn: &mut AnyConnection, inspection: &str) -> Result<Vec<FindingRecord>> {
    let rows = sqlx::query("SELECT * FROM inspection_findings WHERE inspection_id = $1 ORDER BY created_at, id")
        .bind(inspection)
        .fetch_all(conn)
        .await?;
    rows.iter().map(finding_from_row).collect()
}

/// Open findings past their rectification date not yet marked overdue.
pub async fn newly_overdue_findings(conn: &mut AnyConnection, today: &str) -> Result<Vec<FindingRecord>> {
    let rows = sqlx::query(
        "SELECT * FROM inspection_findings WHERE state = 'open' AND overdue = 0 AND rectify_by < $1 LIMIT 1000",
    )
    .bind(today)
    .fetch_all(conn)
    .await?;
    rows.iter().map(finding_from_row).collect()
}

#[derive(Debug, Clone)]
pub struct SecurityReportRecord {
    pub id: String,
    pub org_id: String,
    /// `YYYY-Qn`.
    pub quarter: String,
    pub content: Value,
    pub figures: Value,
    pub submitted_on: String,
    pub created_at: String,
}

pub async fn insert_security_report(conn: &mut AnyConnection, r: &SecurityReportRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO security_reports (id, org_id, quarter, content, figures, submitted_on, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&r.id)
    .bind(&r.org_id)
    .bind(&r.quarter)
    .bind(to_json(&r.content)?)
    .bind(to_json(&r.figures)?)
    .bind(&r.submitted_on)
    .bind(&r.created_at)
    .execute(conn)
    .await
    .map_err(|e| StoreError::conflict_or(e, "a security report for this quarter"))?;
    Ok(())
}

pub async fn security_reports(conn: &mut AnyConnection, org: &str) -> Result<Vec<SecurityReportRecord>> {
    let rows = sqlx::query("SELECT * FROM security_reports WHERE org_id = $1 ORDER BY quarter DESC")
        .bind(org)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(SecurityReportRecord {
                id: text(r, "id")?,
                org_id: text(r, "org_id")?,
                quarter: text(r, "quarter")?,
                content: from_json(&text(r, "content")?, "security_reports.content")?,
                figures: from_json(&text(r, "figures")?, "security_reports.figures")?,
                submitted_on: text(r, "submitted_on")?,
                created_at: text(r, "created_at")?,
            })
        })
        .collect()
}

#[derive(Debug, Clone)]
pub struct PublicDataRequestRecord {
    pub id: String,
    pub title: String,
    pub description: String,
    pub purpose: String,
    pub requester: String,
    pub contact: String,
    pub department_org: Option<String>,
    /// `received` → `assigned` → `answered`.
    pub state: String,
    pub received_on: String,
    pub due_on: String,
    pub overdue: bool,
    /// `will_catalogue`, `already_available` or `refused`.
    pub outcome: Option<String>,
    pub answer: Option<String>,
    pub answered_on: Option<String>,
    pub created_at: String,
}

fn request_from_row(r: &AnyRow) -> Result<PublicDataRequestRecord> {
    Ok(PublicDataRequestRecord {
        id: text(r, "id")?,
        title: text(r, "title")?,
        description: text(r, "description")?,
        purpose: text(r, "purpose")?,
        requester: text(r, "requester")?,
        contact: text(r, "contact")?,
        department_org: opt_text(r, "department_org")?,
        state: text(r, "state")?,
        received_on: text(r, "received_on")?,
        due_on: text(r, "due_on")?,
        overdue: int(r, "overdue")? != 0,
        outcome: opt_text(r, "outcome")?,
        answer: opt_text(r, "answer")?,
        answered_on: opt_text(r, "answered_on")?,
        created_at: text(r, "created_at")?,
    })
}

pub async fn insert_public_request(conn: &mut AnyConnection, q: &PublicDataRequestRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO public_data_requests (id, title, description, purpose, requester, contact, department_org, state, \
         received_on, due_on, overdue, outcome, answer, answered_on, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&q.id)
    .bind(&q.title)
    .bind(&q.description)
    .bind(&q.purpose)
    .bind(&q.requester)
    .bind(&q.contact)
    .bind(q.department_org.clone())
    .bind(&q.state)
    .bind(&q.received_on)
    .bind(&q.due_on)
    .bind(i64::from(q.overdue))
    .bind(q.outcome.clone())
    .bind(q.answer.clone())
    .bind(q.answered_on.clone())
    .bind(&q.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update_public_request(conn: &mut AnyConnection, q: &PublicDataRequestRecord) -> Result<()> {
    sqlx::query(
        "UPDATE public_data_requests SET department_org = $1, state = $2, overdue = $3, outcome = $4, answer = $5, \
         answered_on = $6 WHERE id = $7",
    )
    .bind(q.department_org.clone())
    .bind(&q.state)
    .bind(i64::from(q.overdue))
    .bind(q.outcome.clone())
    .bind(q.answer.clone())
    .bind(q.answered_on.clone())
    .bind(&q.id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_public_request(conn: &mut AnyConnection, id: &str) -> Result<Option<PublicDataRequestRecord>> {
    let row = sqlx::query("SELECT * FROM public_data_requests WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.as_ref().map(request_from_row).transpose()
}

pub async fn list_public_requests(conn: &mut AnyConnection) -> Result<Vec<PublicDataRequestRecord>> {
    let rows = sqlx::query("SELECT * FROM public_data_requests ORDER BY received_on DESC, id LIMIT 5000")
        .fetch_all(conn)
        .await?;
    rows.iter().map(request_from_row).collect()
}

/// Unanswered requests past their deadline not yet marked overdue.
pub async fn newly_overdue_requests(conn: &mut AnyConnection, today: &str) -> Result<Vec<PublicDataRequestRecord>> {
    let rows = sqlx::query(
        "SELECT * FROM public_data_requests WHERE state <> 'answered' AND overdue = 0 AND due_on < $1 LIMIT 1000",
    )
    .bind(today)
    .fetch_all(conn)
    .await?;
    rows.iter().map(request_from_row).collect()
}

/// Audit events of one organisation's people in `[from, to)`, by action and outcome: the
/// figures a security report starts from.
pub async fn activity_of(
    conn: &mut AnyConnection,
    org: &str,
    from: &str,
    to: &str,
) -> Result<Vec<(String, String, i64)>> {
    let rows = sqlx::query(
        "SELECT action, outcome, COUNT(*) AS n FROM audit_events WHERE organisation = $1 AND time >= $2 AND time < $3 \
         GROUP BY action, outcome ORDER BY action, outcome",
    )
    .bind(org)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| Ok((text(r, "action")?, text(r, "outcome")?, int(r, "n")?))).collect()
}
