//! The data quality loop (JS §20, YXO §10, §23, WX §13): every ingested version is checked, its
//! score kept, and each failing dimension becomes a finding routed to the holding department with
//! a deadline in working days; users and the public file issues and objections the same way.
//! Overdue answers are escalated by the scheduler.

use chrono::NaiveDate;
use serde_json::{json, Value};
use shuyu_audit::Outcome;
use shuyu_core::catalogue::EntryMetadata;
use shuyu_core::quality::{self, Measure};
use shuyu_store::catalogue::EntryRecord;
use shuyu_store::sandbox::DatasetRecord;
use shuyu_store::supervision::{self as store, QualityIssueRecord, QualityReportRecord};
use shuyu_store::{AuditContext, WriteTx};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What the profile cites for a quality answer's deadline.
pub fn basis(app: &AppState) -> String {
    app.profile.citation("catalogue.quality_answer_days").unwrap_or("JS §20").to_string()
}

/// The working day by which the holder answers an issue opened `today`.
pub fn due_on(app: &AppState, today: NaiveDate) -> ApiResult<NaiveDate> {
    Ok(app.calendar.add_working_days(today, app.profile.catalogue.quality_answer_days)?)
}

/// Timeliness of a version arriving now, against the previous version and the entry's update
/// frequency.
pub fn timeliness(
    app: &AppState,
    meta: &EntryMetadata,
    previous: Option<&DatasetRecord>,
    now: chrono::DateTime<chrono::Utc>,
) -> Measure {
    let previous = previous.and_then(|d| shuyu_core::clock::parse_instant(&d.created_at));
    quality::timeliness(meta.update_frequency, previous, now, app.profile.quality.late_grace_days)
}

/// Records the version's report and opens a finding for each failing dimension, in the
/// ingest's own transaction.
pub async fn record(
    app: &AppState,
    tx: &mut WriteTx,
    ctx: &AuditContext,
    entry: &EntryRecord,
    dataset: &DatasetRecord,
    measures: Vec<Measure>,
) -> ApiResult<Value> {
    let now = tx.now();
    let score = quality::score(&measures);
    let created_at = shuyu_core::clock::format_instant(now);
    let report = QualityReportRecord {
        dataset_id: dataset.id.clone(),
        entry_id: entry.id.clone(),
        holder_org: entry.holder_org.to_string(),
        version: dataset.version,
        score: i64::from(score),
        dimensions: serde_json::to_value(&measures).map_err(|_| ApiError::internal())?,
        created_at: created_at.clone(),
    };
    store::insert_quality_report(tx.conn(), &report).await?;
    let today = now.with_timezone(&shuyu_core::clock::china_offset()).date_naive();
    let due = due_on(app, today)?;
    let mut findings = Vec::new();
    for m in quality::failing(&measures, app.profile.quality.finding_below) {
        let columns: Vec<String> = m
            .columns
            .iter()
            .filter(|c| c.passed < c.checked)
            .map(|c| format!("{} ({} of {}; rows {:?})", c.column, c.checked - c.passed, c.checked, c.failing_rows))
            .collect();
        let issue = QualityIssueRecord {
            id: uuid::Uuid::now_v7().to_string(),
            entry_id: entry.id.clone(),
            dataset_id: Some(dataset.id.clone()),
            holder_org: entry.holder_org.to_string(),
            origin: "check".into(),
            kind: "issue".into(),
            dimension: Some(m.dimension.as_str().into()),
            description: format!(
                "version {} scores {} on {}: {} of {} checks failed{}",
                dataset.version,
                m.score(),
                m.dimension,
                m.checked - m.passed,
                m.checked,
                if columns.is_empty() { String::new() } else { format!(" — {}", columns.join("; ")) }
            ),
            reported_by: "system".into(),
            reporter_org: None,
            contact: None,
            state: "open".into(),
            due_on: due.to_string(),
            overdue: false,
            answer: None,
            answered_at: None,
            closed_at: None,
            created_at: created_at.clone(),
        };
        store::insert_quality_issue(tx.conn(), &issue).await?;
        tx.audit(
            ctx,
            "quality_issue.opened",
            &format!("quality_issue:{}", issue.id),
            Outcome::Success,
            json!({ "entry": entry.id, "dataset": dataset.id, "origin": "check", "dimension": m.dimension,
                    "holder": issue.holder_org, "due_on": issue.due_on, "basis": basis(app) }),
        )
        .await?;
        findings.push(json!({ "id": issue.id, "dimension": m.dimension, "due_on": issue.due_on }));
    }
    tx.audit(
        ctx,
        "quality.checked",
        &format!("dataset:{}", dataset.id),
        Outcome::Success,
        json!({ "entry": entry.id, "version": dataset.version, "score": score, "findings": findings.len() }),
    )
    .await?;
    Ok(json!({ "score": score, "dimensions": measures, "findings": findings }))
}

/// Marks answers past their deadline as overdue and tells the authority (the escalation of
/// YXO §23); returns how many.
pub async fn escalate_overdue(app: &AppState, today: NaiveDate) -> ApiResult<usize> {
    let due = store::newly_overdue_issues(&mut *app.store.acquire().await?, &today.to_string()).await?;
    let ctx = AuditContext::system("scheduler:quality");
    for mut issue in due.iter().cloned() {
        let mut tx = app.begin().await?;
        issue.overdue = true;
        store::update_quality_issue(tx.conn(), &issue).await?;
        tx.audit(
            &ctx,
            "quality_issue.overdue",
            &format!("quality_issue:{}", issue.id),
            Outcome::Success,
            json!({ "holder": issue.holder_org, "due_on": issue.due_on, "basis": "YXO §23" }),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(due.len())
}
