//! Registration certificates, their signed versions, code sequences and public announcements.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use shuyu_core::certificate::CertificateFacts;
use shuyu_core::clock::format_instant;
use shuyu_core::ids::OrgId;
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use crate::timers::date;
use crate::{int, opt_text, text, Result, StoreError};

/// Whether a certificate still stands. "Expired" is not stored: a certificate past its last
/// valid day is cancelled by the scheduler and announced (YXR §23).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateStatus {
    Valid,
    Cancelled,
    Revoked,
}

impl CertificateStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            CertificateStatus::Valid => "valid",
            CertificateStatus::Cancelled => "cancelled",
            CertificateStatus::Revoked => "revoked",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "valid" => Ok(CertificateStatus::Valid),
            "cancelled" => Ok(CertificateStatus::Cancelled),
            "revoked" => Ok(CertificateStatus::Revoked),
            other => Err(StoreError::Corrupt(format!("certificates.status {other:?}"))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CertificateRecord {
    pub facts: CertificateFacts,
    pub holder_org: OrgId,
    pub operation_term_end: Option<NaiveDate>,
    pub signature: String,
    pub status: CertificateStatus,
    pub status_reason: Option<String>,
    pub status_changed_on: Option<NaiveDate>,
}

fn from_row(r: &AnyRow) -> Result<CertificateRecord> {
    let opt_date = |col: &str| -> Result<Option<NaiveDate>> { opt_text(r, col)?.map(|s| date(&s, col)).transpose() };
    Ok(CertificateRecord {
        facts: CertificateFacts {
            code: text(r, "code")?,
            version: u32::try_from(int(r, "version")?)
                .map_err(|_| StoreError::Corrupt("certificates.version".into()))?,
            subject_kind: text(r, "subject_kind")?,
            subject_name: text(r, "subject_name")?,
            summary: text(r, "summary")?,
            holder: text(r, "holder")?,
            holder_uscc: text(r, "holder_uscc")?,
            industry: text(r, "industry")?,
            region: text(r, "region")?,
            registration_id: text(r, "registration_id")?,
            issuer: text(r, "issuer")?,
            issued_on: date(&text(r, "issued_on")?, "issued_on")?,
            valid_from: date(&text(r, "valid_from")?, "valid_from")?,
            valid_until: date(&text(r, "valid_until")?, "valid_until")?,
        },
        holder_org: text(r, "holder_org")?.parse()?,
        operation_term_end: opt_date("operation_term_end")?,
        signature: text(r, "signature")?,
        status: CertificateStatus::parse(&text(r, "status")?)?,
        status_reason: opt_text(r, "status_reason")?,
        status_changed_on: opt_date("status_changed_on")?,
    })
}

/// The next sequence number for codes of `region`, `year` and subject letter.
pub async fn next_sequence(conn: &mut AnyConnection, region: &str, year: i32, subject: char) -> Result<u32> {
    let row = sqlx::query(
        "INSERT INTO certificate_sequences (region, year, subject, last) VALUES ($1, $2, $3, 1) \
         ON CONFLICT (region, year, subject) DO UPDATE SET last = certificate_sequences.last + 1 RETURNING last",
    )
    .bind(region)
    .bind(i64::from(year))
    .bind(subject.to_string())
    .fetch_one(conn)
    .await?;
    u32::try_from(int(&row, "last")?).map_err(|_| StoreError::Corrupt("certificate_sequences.last".into()))
}

/// The columns insert and update share, bound as `$1`…`$17` in this order.
const SHARED: &str = "registration_id, version, subject_name, summary, holder, holder_uscc, industry, region, issuer, \
    issued_on, valid_from, valid_until, operation_term_end, signature, status, status_reason, status_changed_on";

fn bind_shared<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    c: &CertificateRecord,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let f = &c.facts;
    q.bind(f.registration_id.clone())
        .bind(i64::from(f.version))
        .bind(f.subject_name.clone())
        .bind(f.summary.clone())
        .bind(f.holder.clone())
        .bind(f.holder_uscc.clone())
        .bind(f.industry.clone())
        .bind(f.region.clone())
        .bind(f.issuer.clone())
        .bind(f.issued_on.to_string())
        .bind(f.valid_from.to_string())
        .bind(f.valid_until.to_string())
        .bind(c.operation_term_end.map(|d| d.to_string()))
        .bind(c.signature.clone())
        .bind(c.status.as_str())
        .bind(c.status_reason.clone())
        .bind(c.status_changed_on.map(|d| d.to_string()))
}

pub async fn insert(conn: &mut AnyConnection, c: &CertificateRecord, now: DateTime<Utc>) -> Result<()> {
    let marks: Vec<String> = (1..=21).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO certificates ({SHARED}, code, holder_org, subject_kind, created_at) VALUES ({})",
        marks.join(", ")
    );
    bind_shared(sqlx::query(&sql), c)
        .bind(c.facts.code.clone())
        .bind(c.holder_org.to_string())
        .bind(c.facts.subject_kind.clone())
        .bind(format_instant(now))
        .execute(conn)
        .await
        .map_err(|e| StoreError::conflict_or(e, &format!("certificate {}", c.facts.code)))?;
    Ok(())
}

/// Replaces the facts, signature and status of a certificate.
pub async fn update(conn: &mut AnyConnection, c: &CertificateRecord) -> Result<()> {
    let sets: Vec<String> =
        SHARED.split(',').enumerate().map(|(i, col)| format!("{} = ${}", col.trim(), i + 1)).collect();
    let sql = format!("UPDATE certificates SET {} WHERE code = $18", sets.join(", "));
    bind_shared(sqlx::query(&sql), c).bind(c.facts.code.clone()).execute(conn).await?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, code: &str) -> Result<Option<CertificateRecord>> {
    let row = sqlx::query("SELECT * FROM certificates WHERE code = $1").bind(code).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list(conn: &mut AnyConnection, holder: Option<OrgId>) -> Result<Vec<CertificateRecord>> {
    let rows = match holder {
        Some(org) => {
            sqlx::query("SELECT * FROM certificates WHERE holder_org = $1 ORDER BY code")
                .bind(org.to_string())
                .fetch_all(conn)
                .await?
        }
        None => sqlx::query("SELECT * FROM certificates ORDER BY code").fetch_all(conn).await?,
    };
    rows.iter().map(from_row).collect()
}

/// Valid certificates whose last valid day is before `today`.
pub async fn lapsed(conn: &mut AnyConnection, today: NaiveDate) -> Result<Vec<CertificateRecord>> {
    let rows = sqlx::query("SELECT * FROM certificates WHERE status = 'valid' AND valid_until < $1 ORDER BY code")
        .bind(today.to_string())
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Keeps one signed version (on issue, change, correction, renewal).
pub async fn add_version(
    conn: &mut AnyConnection,
    c: &CertificateRecord,
    cause: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let facts = serde_json::to_string(&c.facts).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO certificate_versions (code, version, facts, signature, cause, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&c.facts.code)
    .bind(i64::from(c.facts.version))
    .bind(facts)
    .bind(&c.signature)
    .bind(cause)
    .bind(format_instant(now))
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct CertificateVersion {
    pub version: i64,
    pub facts: serde_json::Value,
    pub signature: String,
    pub cause: String,
    pub created_at: String,
}

pub async fn versions(conn: &mut AnyConnection, code: &str) -> Result<Vec<CertificateVersion>> {
    let rows = sqlx::query("SELECT * FROM certificate_versions WHERE code = $1 ORDER BY version")
        .bind(code)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(CertificateVersion {
                version: int(r, "version")?,
                facts: serde_json::from_str(&text(r, "facts")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                signature: text(r, "signature")?,
                cause: text(r, "cause")?,
                created_at: text(r, "created_at")?,
            })
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct Announcement {
    pub id: String,
    pub kind: String,
    pub certificate_code: Option<String>,
    pub title: String,
    pub body: String,
    pub published_on: String,
}

pub async fn announce(conn: &mut AnyConnection, a: &Announcement, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO announcements (id, kind, certificate_code, title, body, published_on, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&a.id)
    .bind(&a.kind)
    .bind(a.certificate_code.clone())
    .bind(&a.title)
    .bind(&a.body)
    .bind(&a.published_on)
    .bind(format_instant(now))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn announcements(conn: &mut AnyConnection, limit: i64) -> Result<Vec<Announcement>> {
    let rows = sqlx::query("SELECT * FROM announcements ORDER BY published_on DESC, id DESC LIMIT $1")
        .bind(limit.clamp(1, 500))
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Announcement {
                id: text(r, "id")?,
                kind: text(r, "kind")?,
                certificate_code: opt_text(r, "certificate_code")?,
                title: text(r, "title")?,
                body: text(r, "body")?,
                published_on: text(r, "published_on")?,
            })
        })
        .collect()
}
