//! Catalogue entries, their approved versions, and sharing requests between agencies.

use chrono::{DateTime, NaiveDate, Utc};
use shuyu_core::catalogue::{Entry, EntryMetadata};
use shuyu_core::clock::{format_instant, parse_instant};
use shuyu_core::ids::{OrgId, UserId};
use shuyu_core::sharing::{SharingRequest, SharingState};
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use crate::timers::date;
use crate::{int, opt_date, opt_text, text, Result, StoreError};

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

#[derive(Debug, Clone)]
pub struct EntryRecord {
    pub id: String,
    pub holder_org: OrgId,
    pub workflow: Entry,
    pub published: Option<EntryMetadata>,
    pub pending: Option<EntryMetadata>,
    pub late_submission: bool,
    pub decision_reason: Option<String>,
    pub overdue_since: Option<NaiveDate>,
    /// The attachment holding the open dataset, for unconditional open entries.
    pub open_data: Option<String>,
    pub published_version: i64,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl EntryRecord {
    /// The published metadata while it is public; `None` for drafts and retired entries.
    pub fn public_metadata(&self) -> Option<&EntryMetadata> {
        self.published.as_ref().filter(|_| self.workflow.state.is_public())
    }

    /// What screens show as the entry's name: the pending version's while drafting.
    pub fn name(&self) -> &str {
        self.published.as_ref().or(self.pending.as_ref()).map(|m| m.name.as_str()).unwrap_or("")
    }
}

fn meta(r: &AnyRow, col: &str) -> Result<Option<EntryMetadata>> {
    opt_text(r, col)?
        .map(|s| serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("catalogue_entries.{col}: {e}"))))
        .transpose()
}

fn instant(r: &AnyRow, col: &str) -> Result<DateTime<Utc>> {
    parse_instant(&text(r, col)?).ok_or_else(|| StoreError::Corrupt(format!("catalogue.{col}")))
}

fn from_row(r: &AnyRow) -> Result<EntryRecord> {
    let published = meta(r, "published")?;
    let pending = meta(r, "pending")?;
    Ok(EntryRecord {
        id: text(r, "id")?,
        holder_org: text(r, "holder_org")?.parse()?,
        workflow: Entry {
            state: text(r, "state")?.parse()?,
            submitted_on: opt_date(r, "submitted_on")?,
            changed_on: opt_date(r, "changed_on")?,
            has_pending: pending.is_some(),
            ever_published: published.is_some(),
        },
        published,
        pending,
        late_submission: int(r, "late_submission")? != 0,
        decision_reason: opt_text(r, "decision_reason")?,
        overdue_since: opt_date(r, "overdue_since")?,
        open_data: opt_text(r, "open_data")?,
        published_version: int(r, "published_version")?,
        version: int(r, "version")?,
        created_at: instant(r, "created_at")?,
        updated_at: instant(r, "updated_at")?,
    })
}

const COLUMNS: &str = "state, published, pending, name, industry, region, update_frequency, share_class, \
    open_class, level, grade, submitted_on, changed_on, late_submission, decision_reason, overdue_since, open_data, \
    published_version";

fn bind_columns<'q>(q: AnyQuery<'q>, e: &EntryRecord) -> Result<AnyQuery<'q>> {
    let json = |m: &Option<EntryMetadata>| -> Result<Option<String>> {
        m.as_ref().map(|m| serde_json::to_string(m).map_err(|e| StoreError::Corrupt(e.to_string()))).transpose()
    };
    let p = e.published.as_ref();
    Ok(q.bind(e.workflow.state.as_str())
        .bind(json(&e.published)?)
        .bind(json(&e.pending)?)
        .bind(e.name().to_string())
        .bind(p.map(|m| m.industry.clone()))
        .bind(p.map(|m| m.region.clone()))
        .bind(p.map(|m| m.update_frequency.as_str()))
        .bind(p.map(|m| m.share_class.as_str()))
        .bind(p.map(|m| m.open_class.as_str()))
        .bind(p.map(|m| i64::from(m.level())))
        .bind(p.map(|m| m.grade.as_str()))
        .bind(e.workflow.submitted_on.map(|d| d.to_string()))
        .bind(e.workflow.changed_on.map(|d| d.to_string()))
        .bind(i64::from(e.late_submission))
        .bind(e.decision_reason.clone())
        .bind(e.overdue_since.map(|d| d.to_string()))
        .bind(e.open_data.clone())
        .bind(e.published_version))
}

pub async fn insert(conn: &mut AnyConnection, e: &EntryRecord) -> Result<()> {
    let marks: Vec<String> = (1..=23).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO catalogue_entries ({COLUMNS}, id, holder_org, version, created_at, updated_at) VALUES ({})",
        marks.join(", ")
    );
    bind_columns(sqlx::query(&sql), e)?
        .bind(e.id.clone())
        .bind(e.holder_org.to_string())
        .bind(e.version)
        .bind(format_instant(e.created_at))
        .bind(format_instant(e.updated_at))
        .execute(conn)
        .await?;
    Ok(())
}

/// Writes the entry back if nobody changed it since it was read; bumps its version.
pub async fn update(conn: &mut AnyConnection, e: &mut EntryRecord, now: DateTime<Utc>) -> Result<()> {
    let sets: Vec<String> =
        COLUMNS.split(',').enumerate().map(|(i, col)| format!("{} = ${}", col.trim(), i + 1)).collect();
    let sql = format!(
        "UPDATE catalogue_entries SET {}, version = version + 1, updated_at = $19 WHERE id = $20 AND version = $21",
        sets.join(", ")
    );
    let done = bind_columns(sqlx::query(&sql), e)?
        .bind(format_instant(now))
        .bind(e.id.clone())
        .bind(e.version)
        .execute(conn)
        .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Conflict { what: format!("a newer version of catalogue entry {}", e.id) });
    }
    e.version += 1;
    e.updated_at = now;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<EntryRecord>> {
    let row = sqlx::query("SELECT * FROM catalogue_entries WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// Entries of one holder, or all; `published_only` for the public.
pub async fn list(conn: &mut AnyConnection, holder: Option<OrgId>, published_only: bool) -> Result<Vec<EntryRecord>> {
    let mut sql = String::from("SELECT * FROM catalogue_entries WHERE 1 = 1");
    if holder.is_some() {
        sql.push_str(" AND holder_org = $1");
    }
    if published_only {
        sql.push_str(" AND state IN ('published', 'change_under_review')");
    }
    sql.push_str(" ORDER BY created_at, id");
    let mut q = sqlx::query(&sql);
    if let Some(org) = holder {
        q = q.bind(org.to_string());
    }
    let rows = q.fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

pub async fn add_version(
    conn: &mut AnyConnection,
    entry_id: &str,
    version: i64,
    metadata: &EntryMetadata,
    approved_by: UserId,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO catalogue_versions (entry_id, version, metadata, approved_by, approved_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(entry_id)
    .bind(version)
    .bind(serde_json::to_string(metadata).map_err(|e| StoreError::Corrupt(e.to_string()))?)
    .bind(approved_by.to_string())
    .bind(format_instant(now))
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct SharingRecord {
    pub id: String,
    pub entry_id: String,
    pub provider_org: OrgId,
    pub requester_org: OrgId,
    pub requester_user: UserId,
    pub purpose: String,
    pub fields: Vec<String>,
    pub workflow: SharingRequest,
    pub submitted_on: NaiveDate,
    pub decision_reason: Option<String>,
    pub overdue_since: Option<NaiveDate>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
}

fn sharing_from_row(r: &AnyRow) -> Result<SharingRecord> {
    Ok(SharingRecord {
        id: text(r, "id")?,
        entry_id: text(r, "entry_id")?,
        provider_org: text(r, "provider_org")?.parse()?,
        requester_org: text(r, "requester_org")?.parse()?,
        requester_user: text(r, "requester_user")?.parse()?,
        purpose: text(r, "purpose")?,
        fields: serde_json::from_str(&text(r, "fields")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        workflow: SharingRequest {
            state: SharingState::parse(&text(r, "state")?)?,
            stage_started_on: date(&text(r, "stage_started_on")?, "stage_started_on")?,
        },
        submitted_on: date(&text(r, "submitted_on")?, "submitted_on")?,
        decision_reason: opt_text(r, "decision_reason")?,
        overdue_since: opt_date(r, "overdue_since")?,
        version: int(r, "version")?,
        created_at: instant(r, "created_at")?,
    })
}

pub async fn insert_sharing(conn: &mut AnyConnection, s: &SharingRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO sharing_requests (id, entry_id, provider_org, requester_org, requester_user, purpose, fields, \
         state, submitted_on, stage_started_on, decision_reason, overdue_since, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(s.id.clone())
    .bind(s.entry_id.clone())
    .bind(s.provider_org.to_string())
    .bind(s.requester_org.to_string())
    .bind(s.requester_user.to_string())
    .bind(s.purpose.clone())
    .bind(serde_json::Value::from(s.fields.clone()).to_string())
    .bind(s.workflow.state.as_str())
    .bind(s.submitted_on.to_string())
    .bind(s.workflow.stage_started_on.to_string())
    .bind(s.decision_reason.clone())
    .bind(s.overdue_since.map(|d| d.to_string()))
    .bind(s.version)
    .bind(format_instant(s.created_at))
    .bind(format_instant(s.created_at))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update_sharing(conn: &mut AnyConnection, s: &mut SharingRecord, now: DateTime<Utc>) -> Result<()> {
    let done = sqlx::query(
        "UPDATE sharing_requests SET state = $1, stage_started_on = $2, decision_reason = $3, overdue_since = $4, \
         version = version + 1, updated_at = $5 WHERE id = $6 AND version = $7",
    )
    .bind(s.workflow.state.as_str())
    .bind(s.workflow.stage_started_on.to_string())
    .bind(s.decision_reason.clone())
    .bind(s.overdue_since.map(|d| d.to_string()))
    .bind(format_instant(now))
    .bind(s.id.clone())
    .bind(s.version)
    .execute(conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Conflict { what: format!("a newer version of sharing request {}", s.id) });
    }
    s.version += 1;
    Ok(())
}

pub async fn get_sharing(conn: &mut AnyConnection, id: &str) -> Result<Option<SharingRecord>> {
    let row = sqlx::query("SELECT * FROM sharing_requests WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.as_ref().map(sharing_from_row).transpose()
}

/// Requests an organisation made or must review; all with `None`.
pub async fn list_sharing(conn: &mut AnyConnection, org: Option<OrgId>) -> Result<Vec<SharingRecord>> {
    let rows =
        match org {
            Some(o) => sqlx::query(
                "SELECT * FROM sharing_requests WHERE requester_org = $1 OR provider_org = $1 ORDER BY created_at, id",
            )
            .bind(o.to_string())
            .fetch_all(conn)
            .await?,
            None => sqlx::query("SELECT * FROM sharing_requests ORDER BY created_at, id").fetch_all(conn).await?,
        };
    rows.iter().map(sharing_from_row).collect()
}

#[derive(Debug, Clone)]
pub struct OpenDataApplication {
    pub id: String,
    pub entry_id: String,
    pub holder_org: OrgId,
    pub applicant_org: OrgId,
    pub applicant_user: UserId,
    pub purpose: String,
    pub workflow: shuyu_core::open_data::Application,
    pub decision_reason: Option<String>,
    pub overdue_since: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
}

fn application_from_row(r: &AnyRow) -> Result<OpenDataApplication> {
    Ok(OpenDataApplication {
        id: text(r, "id")?,
        entry_id: text(r, "entry_id")?,
        holder_org: text(r, "holder_org")?.parse()?,
        applicant_org: text(r, "applicant_org")?.parse()?,
        applicant_user: text(r, "applicant_user")?.parse()?,
        purpose: text(r, "purpose")?,
        workflow: shuyu_core::open_data::Application {
            state: shuyu_core::open_data::ApplicationState::parse(&text(r, "state")?)?,
            submitted_on: date(&text(r, "submitted_on")?, "submitted_on")?,
        },
        decision_reason: opt_text(r, "decision_reason")?,
        overdue_since: opt_date(r, "overdue_since")?,
        created_at: instant(r, "created_at")?,
    })
}

pub async fn insert_application(conn: &mut AnyConnection, a: &OpenDataApplication) -> Result<()> {
    sqlx::query(
        "INSERT INTO open_data_applications (id, entry_id, holder_org, applicant_org, applicant_user, purpose, state, \
         submitted_on, decision_reason, overdue_since, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(a.id.clone())
    .bind(a.entry_id.clone())
    .bind(a.holder_org.to_string())
    .bind(a.applicant_org.to_string())
    .bind(a.applicant_user.to_string())
    .bind(a.purpose.clone())
    .bind(a.workflow.state.as_str())
    .bind(a.workflow.submitted_on.to_string())
    .bind(a.decision_reason.clone())
    .bind(a.overdue_since.map(|d| d.to_string()))
    .bind(format_instant(a.created_at))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update_application(conn: &mut AnyConnection, a: &OpenDataApplication) -> Result<()> {
    sqlx::query("UPDATE open_data_applications SET state = $1, decision_reason = $2, overdue_since = $3 WHERE id = $4")
        .bind(a.workflow.state.as_str())
        .bind(a.decision_reason.clone())
        .bind(a.overdue_since.map(|d| d.to_string()))
        .bind(a.id.clone())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn get_application(conn: &mut AnyConnection, id: &str) -> Result<Option<OpenDataApplication>> {
    let row = sqlx::query("SELECT * FROM open_data_applications WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.as_ref().map(application_from_row).transpose()
}

/// Applications an organisation made or must decide; all with `None`.
pub async fn list_applications(conn: &mut AnyConnection, org: Option<OrgId>) -> Result<Vec<OpenDataApplication>> {
    let rows = match org {
        Some(o) => sqlx::query(
            "SELECT * FROM open_data_applications WHERE applicant_org = $1 OR holder_org = $1 ORDER BY created_at, id",
        )
        .bind(o.to_string())
        .fetch_all(conn)
        .await?,
        None => sqlx::query("SELECT * FROM open_data_applications ORDER BY created_at, id").fetch_all(conn).await?,
    };
    rows.iter().map(application_from_row).collect()
}
