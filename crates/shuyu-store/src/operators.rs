//! Operators and authorization: programmes, announcements, applications, agreements, the
//! authority's lists, revocations, and organisations' standing (suspended, terminated).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use shuyu_core::clock::{format_instant, parse_instant};
use shuyu_core::ids::{OrgId, UserId};
use shuyu_core::operators::{OrgStatus, ProgrammeState};
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use crate::timers::date;
use crate::{int, opt_date, opt_text, text, Result, StoreError};

fn json(s: &str, col: &str) -> Result<Value> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn instant(r: &AnyRow, col: &str) -> Result<DateTime<Utc>> {
    parse_instant(&text(r, col)?).ok_or_else(|| StoreError::Corrupt(format!("operators.{col}")))
}

fn d(v: Option<NaiveDate>) -> Option<String> {
    v.map(|d| d.to_string())
}

// ---------------------------------------------------------------- standing

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub status: OrgStatus,
    pub reason: Option<String>,
    pub rectify_by: Option<NaiveDate>,
}

pub async fn standing(conn: &mut AnyConnection, org: OrgId) -> Result<Standing> {
    let row = sqlx::query("SELECT status, status_reason, rectify_by FROM organisations WHERE id = $1")
        .bind(org.to_string())
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| StoreError::NotFound { what: "organisation".into() })?;
    Ok(Standing {
        status: OrgStatus::parse(&text(&row, "status")?)
            .ok_or_else(|| StoreError::Corrupt("organisations.status".into()))?,
        reason: opt_text(&row, "status_reason")?,
        rectify_by: opt_date(&row, "rectify_by")?,
    })
}

pub async fn set_standing(conn: &mut AnyConnection, org: OrgId, s: &Standing) -> Result<()> {
    sqlx::query("UPDATE organisations SET status = $1, status_reason = $2, rectify_by = $3 WHERE id = $4")
        .bind(s.status.as_str())
        .bind(s.reason.clone())
        .bind(d(s.rectify_by))
        .bind(org.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Suspended organisations whose rectification deadline has passed.
pub async fn rectification_overdue(conn: &mut AnyConnection, today: NaiveDate) -> Result<Vec<OrgId>> {
    let rows = sqlx::query("SELECT id FROM organisations WHERE status = 'suspended' AND rectify_by < $1")
        .bind(today.to_string())
        .fetch_all(conn)
        .await?;
    rows.iter().map(|r| Ok(text(r, "id")?.parse()?)).collect()
}

// ---------------------------------------------------------------- lists and revocations

/// Replaces one list with the given USCCs; returns how many are on it now.
pub async fn replace_list(
    conn: &mut AnyConnection,
    list: &str,
    usccs: &[String],
    source: &str,
    now: DateTime<Utc>,
) -> Result<usize> {
    sqlx::query("DELETE FROM listed_organisations WHERE list = $1").bind(list).execute(&mut *conn).await?;
    for u in usccs {
        sqlx::query(
            "INSERT INTO listed_organisations (uscc, list, source, imported_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (uscc, list) DO NOTHING",
        )
        .bind(u)
        .bind(list)
        .bind(source)
        .bind(format_instant(now))
        .execute(&mut *conn)
        .await?;
    }
    Ok(usccs.len())
}

/// The lists an organisation's USCC is on.
pub async fn lists_of(conn: &mut AnyConnection, uscc: &str) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT list FROM listed_organisations WHERE uscc = $1").bind(uscc).fetch_all(conn).await?;
    rows.iter().map(|r| text(r, "list")).collect()
}

pub async fn record_revocation(
    conn: &mut AnyConnection,
    org: OrgId,
    revoked_on: NaiveDate,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("INSERT INTO revocations (id, org_id, revoked_on, reason, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(org.to_string())
        .bind(revoked_on.to_string())
        .bind(reason)
        .bind(format_instant(now))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn last_revocation(conn: &mut AnyConnection, org: OrgId) -> Result<Option<NaiveDate>> {
    let row = sqlx::query("SELECT MAX(revoked_on) AS last FROM revocations WHERE org_id = $1")
        .bind(org.to_string())
        .fetch_one(conn)
        .await?;
    opt_date(&row, "last")
}

// ---------------------------------------------------------------- programmes

#[derive(Debug, Clone)]
pub struct ProgrammeRecord {
    pub id: String,
    pub version: i64,
    pub supersedes: Option<String>,
    pub owner_org: OrgId,
    pub state: ProgrammeState,
    pub content: Value,
    pub decision_record: Option<String>,
    pub submitted_on: Option<NaiveDate>,
    pub approved_on: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
}

fn programme_from_row(r: &AnyRow) -> Result<ProgrammeRecord> {
    Ok(ProgrammeRecord {
        id: text(r, "id")?,
        version: int(r, "version")?,
        supersedes: opt_text(r, "supersedes")?,
        owner_org: text(r, "owner_org")?.parse()?,
        state: ProgrammeState::parse(&text(r, "state")?)
            .ok_or_else(|| StoreError::Corrupt("programmes.state".into()))?,
        content: json(&text(r, "content")?, "programmes.content")?,
        decision_record: opt_text(r, "decision_record")?,
        submitted_on: opt_date(r, "submitted_on")?,
        approved_on: opt_date(r, "approved_on")?,
        created_at: instant(r, "created_at")?,
    })
}

pub async fn insert_programme(conn: &mut AnyConnection, p: &ProgrammeRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO programmes (id, version, supersedes, owner_org, state, content, decision_record, submitted_on, \
         approved_on, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(p.id.clone())
    .bind(p.version)
    .bind(p.supersedes.clone())
    .bind(p.owner_org.to_string())
    .bind(p.state.as_str())
    .bind(p.content.to_string())
    .bind(p.decision_record.clone())
    .bind(d(p.submitted_on))
    .bind(d(p.approved_on))
    .bind(format_instant(p.created_at))
    .bind(format_instant(p.created_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// Saves a programme's state; an approved programme's content is never written again.
pub async fn update_programme(conn: &mut AnyConnection, p: &ProgrammeRecord, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "UPDATE programmes SET state = $1, content = CASE WHEN state = 'approved' THEN content ELSE $2 END, \
         decision_record = $3, submitted_on = $4, approved_on = $5, updated_at = $6 WHERE id = $7",
    )
    .bind(p.state.as_str())
    .bind(p.content.to_string())
    .bind(p.decision_record.clone())
    .bind(d(p.submitted_on))
    .bind(d(p.approved_on))
    .bind(format_instant(now))
    .bind(p.id.clone())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_programme(conn: &mut AnyConnection, id: &str) -> Result<Option<ProgrammeRecord>> {
    let row = sqlx::query("SELECT * FROM programmes WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.as_ref().map(programme_from_row).transpose()
}

pub async fn list_programmes(conn: &mut AnyConnection) -> Result<Vec<ProgrammeRecord>> {
    let rows = sqlx::query("SELECT * FROM programmes ORDER BY created_at, id").fetch_all(conn).await?;
    rows.iter().map(programme_from_row).collect()
}

// ---------------------------------------------------------------- announcements and applications

#[derive(Debug, Clone, serde::Serialize)]
pub struct Announcement {
    pub id: String,
    pub programme_id: String,
    pub title: String,
    pub opens_on: NaiveDate,
    pub closes_on: NaiveDate,
    /// The publicity period of the selection results, once published.
    pub results_from: Option<NaiveDate>,
    pub results_until: Option<NaiveDate>,
}

pub async fn insert_announcement(conn: &mut AnyConnection, a: &Announcement, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO operator_announcements (id, programme_id, title, opens_on, closes_on, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(a.id.clone())
    .bind(a.programme_id.clone())
    .bind(a.title.clone())
    .bind(a.opens_on.to_string())
    .bind(a.closes_on.to_string())
    .bind(format_instant(now))
    .execute(conn)
    .await?;
    Ok(())
}

fn announcement_from_row(r: &AnyRow) -> Result<Announcement> {
    Ok(Announcement {
        id: text(r, "id")?,
        programme_id: text(r, "programme_id")?,
        title: text(r, "title")?,
        opens_on: date(&text(r, "opens_on")?, "opens_on")?,
        closes_on: date(&text(r, "closes_on")?, "closes_on")?,
        results_from: opt_date(r, "results_from")?,
        results_until: opt_date(r, "results_until")?,
    })
}

pub async fn set_results_period(conn: &mut AnyConnection, id: &str, from: NaiveDate, until: NaiveDate) -> Result<()> {
    sqlx::query("UPDATE operator_announcements SET results_from = $1, results_until = $2 WHERE id = $3")
        .bind(from.to_string())
        .bind(until.to_string())
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn get_application(conn: &mut AnyConnection, id: &str) -> Result<Option<OperatorApplication>> {
    let row = sqlx::query("SELECT * FROM operator_applications WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.as_ref().map(application_from_row).transpose()
}

pub async fn set_application_state(conn: &mut AnyConnection, id: &str, state: &str) -> Result<()> {
    sqlx::query("UPDATE operator_applications SET state = $1 WHERE id = $2").bind(state).bind(id).execute(conn).await?;
    Ok(())
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Score {
    pub expert_user: String,
    pub score: i64,
    pub comments: String,
}

/// Records one expert's score; an expert scores an application once.
pub async fn insert_score(
    conn: &mut AnyConnection,
    application: &str,
    expert: UserId,
    score: i64,
    comments: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO operator_scores (application_id, expert_user, score, comments, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(application)
    .bind(expert.to_string())
    .bind(score)
    .bind(comments)
    .bind(format_instant(now))
    .execute(conn)
    .await
    .map_err(|e| StoreError::conflict_or(e, "a score by this expert"))?;
    Ok(())
}

pub async fn scores(conn: &mut AnyConnection, application: &str) -> Result<Vec<Score>> {
    let rows = sqlx::query("SELECT * FROM operator_scores WHERE application_id = $1 ORDER BY created_at")
        .bind(application)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Score { expert_user: text(r, "expert_user")?, score: int(r, "score")?, comments: text(r, "comments")? })
        })
        .collect()
}

pub async fn get_announcement(conn: &mut AnyConnection, id: &str) -> Result<Option<Announcement>> {
    let row = sqlx::query("SELECT * FROM operator_announcements WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.as_ref().map(announcement_from_row).transpose()
}

pub async fn list_announcements(conn: &mut AnyConnection) -> Result<Vec<Announcement>> {
    let rows = sqlx::query("SELECT * FROM operator_announcements ORDER BY opens_on DESC, id").fetch_all(conn).await?;
    rows.iter().map(announcement_from_row).collect()
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct OperatorApplication {
    pub id: String,
    pub announcement_id: String,
    pub applicant_org: OrgId,
    pub applicant_user: UserId,
    pub declarations: Value,
    pub materials: Value,
    pub state: String,
    pub submitted_on: NaiveDate,
}

pub async fn insert_application(conn: &mut AnyConnection, a: &OperatorApplication, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO operator_applications (id, announcement_id, applicant_org, applicant_user, declarations, \
         materials, state, submitted_on, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(a.id.clone())
    .bind(a.announcement_id.clone())
    .bind(a.applicant_org.to_string())
    .bind(a.applicant_user.to_string())
    .bind(a.declarations.to_string())
    .bind(a.materials.to_string())
    .bind(a.state.clone())
    .bind(a.submitted_on.to_string())
    .bind(format_instant(now))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn list_applications(conn: &mut AnyConnection, announcement: &str) -> Result<Vec<OperatorApplication>> {
    let rows = sqlx::query("SELECT * FROM operator_applications WHERE announcement_id = $1 ORDER BY created_at, id")
        .bind(announcement)
        .fetch_all(conn)
        .await?;
    rows.iter().map(application_from_row).collect()
}

fn application_from_row(r: &AnyRow) -> Result<OperatorApplication> {
    Ok(OperatorApplication {
        id: text(r, "id")?,
        announcement_id: text(r, "announcement_id")?,
        applicant_org: text(r, "applicant_org")?.parse()?,
        applicant_user: text(r, "applicant_user")?.parse()?,
        declarations: json(&text(r, "declarations")?, "declarations")?,
        materials: json(&text(r, "materials")?, "materials")?,
        state: text(r, "state")?,
        submitted_on: date(&text(r, "submitted_on")?, "submitted_on")?,
    })
}

// ---------------------------------------------------------------- agreements

#[derive(Debug, Clone)]
pub struct AgreementRecord {
    pub id: String,
    pub programme_id: String,
    pub operator_org: OrgId,
    pub agency_org: OrgId,
    pub content: Value,
    pub term_years: u32,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    /// `draft`, `signed` (both sides), `filed`, `expired`, `terminated`.
    pub state: String,
    pub agency_signed_on: Option<NaiveDate>,
    pub operator_signed_on: Option<NaiveDate>,
    pub filed_on: Option<NaiveDate>,
}

fn agreement_from_row(r: &AnyRow) -> Result<AgreementRecord> {
    Ok(AgreementRecord {
        id: text(r, "id")?,
        programme_id: text(r, "programme_id")?,
        operator_org: text(r, "operator_org")?.parse()?,
        agency_org: text(r, "agency_org")?.parse()?,
        content: json(&text(r, "content")?, "agreements.content")?,
        term_years: u32::try_from(int(r, "term_years")?).map_err(|_| StoreError::Corrupt("term_years".into()))?,
        valid_from: date(&text(r, "valid_from")?, "valid_from")?,
        valid_until: date(&text(r, "valid_until")?, "valid_until")?,
        state: text(r, "state")?,
        agency_signed_on: opt_date(r, "agency_signed_on")?,
        operator_signed_on: opt_date(r, "operator_signed_on")?,
        filed_on: opt_date(r, "filed_on")?,
    })
}

pub async fn insert_agreement(conn: &mut AnyConnection, a: &AgreementRecord, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO agreements (id, programme_id, operator_org, agency_org, content, term_years, valid_from, \
         valid_until, state, agency_signed_on, operator_signed_on, filed_on, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(a.id.clone())
    .bind(a.programme_id.clone())
    .bind(a.operator_org.to_string())
    .bind(a.agency_org.to_string())
    .bind(a.content.to_string())
    .bind(i64::from(a.term_years))
    .bind(a.valid_from.to_string())
    .bind(a.valid_until.to_string())
    .bind(a.state.clone())
    .bind(d(a.agency_signed_on))
    .bind(d(a.operator_signed_on))
    .bind(d(a.filed_on))
    .bind(format_instant(now))
    .bind(format_instant(now))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update_agreement(conn: &mut AnyConnection, a: &AgreementRecord, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "UPDATE agreements SET term_years = $1, valid_until = $2, state = $3, agency_signed_on = $4, \
         operator_signed_on = $5, filed_on = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(i64::from(a.term_years))
    .bind(a.valid_until.to_string())
    .bind(a.state.clone())
    .bind(d(a.agency_signed_on))
    .bind(d(a.operator_signed_on))
    .bind(d(a.filed_on))
    .bind(format_instant(now))
    .bind(a.id.clone())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_agreement(conn: &mut AnyConnection, id: &str) -> Result<Option<AgreementRecord>> {
    let row = sqlx::query("SELECT * FROM agreements WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.as_ref().map(agreement_from_row).transpose()
}

/// Agreements of one operator, or all.
pub async fn list_agreements(conn: &mut AnyConnection, operator: Option<OrgId>) -> Result<Vec<AgreementRecord>> {
    let rows = match operator {
        Some(o) => {
            sqlx::query("SELECT * FROM agreements WHERE operator_org = $1 ORDER BY created_at, id")
                .bind(o.to_string())
                .fetch_all(conn)
                .await?
        }
        None => sqlx::query("SELECT * FROM agreements ORDER BY created_at, id").fetch_all(conn).await?,
    };
    rows.iter().map(agreement_from_row).collect()
}

/// Filed agreements past their last day.
pub async fn lapsed_agreements(conn: &mut AnyConnection, today: NaiveDate) -> Result<Vec<AgreementRecord>> {
    let rows = sqlx::query("SELECT * FROM agreements WHERE state = 'filed' AND valid_until < $1")
        .bind(today.to_string())
        .fetch_all(conn)
        .await?;
    rows.iter().map(agreement_from_row).collect()
}

// ---------------------------------------------------------------- objections to a selection

#[derive(Debug, Clone, serde::Serialize)]
pub struct SelectionObjection {
    pub id: String,
    pub announcement_id: String,
    pub application_id: String,
    pub objector_name: String,
    pub statement: String,
    /// `open`, `upheld`, `rejected`.
    pub state: String,
    pub decision_reason: Option<String>,
    pub filed_on: NaiveDate,
}

fn objection_from_row(r: &AnyRow) -> Result<SelectionObjection> {
    Ok(SelectionObjection {
        id: text(r, "id")?,
        announcement_id: text(r, "announcement_id")?,
        application_id: text(r, "application_id")?,
        objector_name: text(r, "objector_name")?,
        statement: text(r, "statement")?,
        state: text(r, "state")?,
        decision_reason: opt_text(r, "decision_reason")?,
        filed_on: date(&text(r, "filed_on")?, "filed_on")?,
    })
}

pub async fn insert_objection(
    conn: &mut AnyConnection,
    o: &SelectionObjection,
    objector: UserId,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO selection_objections (id, announcement_id, application_id, objector_user, objector_name, statement, \
         state, decision_reason, filed_on, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(o.id.clone())
    .bind(o.announcement_id.clone())
    .bind(o.application_id.clone())
    .bind(objector.to_string())
    .bind(o.objector_name.clone())
    .bind(o.statement.clone())
    .bind(o.state.clone())
    .bind(o.decision_reason.clone())
    .bind(o.filed_on.to_string())
    .bind(format_instant(now))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn decide_objection(conn: &mut AnyConnection, id: &str, state: &str, reason: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE selection_objections SET state = $1, decision_reason = $2 WHERE id = $3 AND state = 'open'",
    )
    .bind(state)
    .bind(reason)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get_objection(conn: &mut AnyConnection, id: &str) -> Result<Option<SelectionObjection>> {
    let row = sqlx::query("SELECT * FROM selection_objections WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.as_ref().map(objection_from_row).transpose()
}

pub async fn objections_for(conn: &mut AnyConnection, announcement: &str) -> Result<Vec<SelectionObjection>> {
    let rows = sqlx::query("SELECT * FROM selection_objections WHERE announcement_id = $1 ORDER BY created_at, id")
        .bind(announcement)
        .fetch_all(conn)
        .await?;
    rows.iter().map(objection_from_row).collect()
}

/// The selected application of `operator` under any announcement of `programme`, if any.
pub async fn selected_application(
    conn: &mut AnyConnection,
    programme: &str,
    operator: OrgId,
) -> Result<Option<(OperatorApplication, Announcement)>> {
    let row = sqlx::query(
        "SELECT a.*, n.id AS n_id FROM operator_applications a JOIN operator_announcements n ON a.announcement_id = n.id \
         WHERE n.programme_id = $1 AND a.applicant_org = $2 AND a.state = 'selected' ORDER BY a.created_at DESC LIMIT 1",
    )
    .bind(programme)
    .bind(operator.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let application = application_from_row(&row)?;
    let announcement = get_announcement(conn, &text(&row, "n_id")?).await?;
    Ok(announcement.map(|n| (application, n)))
}
