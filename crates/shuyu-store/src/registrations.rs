//! Registration applications and the objections raised against them (YXR §14–§22). The
//! workflow facts are the core's [`Registration`] / [`Objection`]; this module stores them with
//! what the application says. Updates check the row's version, so a transition decided on a
//! stale read (two registry officers, or the scheduler racing a person) fails instead of
//! overwriting.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use shuyu_core::certificate::SubjectKind;
use shuyu_core::clock::{format_instant, parse_instant};
use shuyu_core::ids::{AttachmentId, ObjectionId, OrgId, RegistrationId, UserId};
use shuyu_core::registration::{Objection, Registration};
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use crate::timers::date;
use crate::{int, opt_date, opt_int, opt_text, text, Result, StoreError};

/// One material of an application, as submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Material {
    /// What it is, from `shuyu_core::registration::required_materials`.
    pub key: String,
    pub attachment_id: AttachmentId,
    pub filename: String,
    pub size: i64,
    pub sha256: String,
}

#[derive(Debug, Clone)]
pub struct RegistrationRecord {
    pub id: RegistrationId,
    /// The status query code (查询码) given to the applicant.
    pub query_code: String,
    pub workflow: Registration,
    pub subject_kind: SubjectKind,
    pub applicant_org: OrgId,
    pub applicant_user: UserId,
    /// For change, correction and cancellation: the certificate concerned; for a first
    /// registration: the certificate issued on approval.
    pub certificate_code: Option<String>,
    pub catalogue_entry_id: Option<String>,
    /// A product registration (YXO §25): the product and the reviewed version it registers.
    pub product: Option<(String, i64)>,
    pub subject_name: String,
    pub summary: String,
    pub industry: String,
    pub region: String,
    /// The basic information of YXR §12 as submitted.
    pub facts: serde_json::Value,
    pub materials: Vec<Material>,
    pub operation_term_end: Option<NaiveDate>,
    /// The one supplement notice's list (YXR §16).
    pub missing: Vec<String>,
    pub decision_ground: Option<String>,
    pub decision_reason: Option<String>,
    pub overdue_since: Option<NaiveDate>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn instant(r: &AnyRow, col: &str) -> Result<DateTime<Utc>> {
    parse_instant(&text(r, col)?).ok_or_else(|| StoreError::Corrupt(format!("registrations.{col}")))
}

fn json<T: serde::de::DeserializeOwned>(s: &str, col: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn from_row(r: &AnyRow) -> Result<RegistrationRecord> {
    let workflow = Registration {
        kind: text(r, "kind")?.parse()?,
        state: text(r, "state")?.parse()?,
        received_on: date(&text(r, "received_on")?, "received_on")?,
        accepted_on: opt_date(r, "accepted_on")?,
        supplement_requested_on: opt_date(r, "supplement_requested_on")?,
        supplement_notices: u32::try_from(int(r, "supplement_notices")?).unwrap_or(u32::MAX),
        publicity_from: opt_date(r, "publicity_from")?,
        publicity_until: opt_date(r, "publicity_until")?,
    };
    Ok(RegistrationRecord {
        id: text(r, "id")?.parse()?,
        query_code: text(r, "query_code")?,
        workflow,
        subject_kind: SubjectKind::parse(&text(r, "subject_kind")?)?,
        applicant_org: text(r, "applicant_org")?.parse()?,
        applicant_user: text(r, "applicant_user")?.parse()?,
        certificate_code: opt_text(r, "certificate_code")?,
        catalogue_entry_id: opt_text(r, "catalogue_entry_id")?,
        product: match (opt_text(r, "product_id")?, opt_int(r, "product_version")?) {
            (Some(p), Some(v)) => Some((p, v)),
            _ => None,
        },
        subject_name: text(r, "subject_name")?,
        summary: text(r, "summary")?,
        industry: text(r, "industry")?,
        region: text(r, "region")?,
        facts: json(&text(r, "facts")?, "facts")?,
        materials: json(&text(r, "materials")?, "materials")?,
        operation_term_end: opt_date(r, "operation_term_end")?,
        missing: opt_text(r, "missing")?.map(|s| json(&s, "missing")).transpose()?.unwrap_or_default(),
        decision_ground: opt_text(r, "decision_ground")?,
        decision_reason: opt_text(r, "decision_reason")?,
        overdue_since: opt_date(r, "overdue_since")?,
        version: int(r, "version")?,
        created_at: instant(r, "created_at")?,
        updated_at: instant(r, "updated_at")?,
    })
}

fn d(v: Option<NaiveDate>) -> Option<String> {
    v.map(|d| d.to_string())
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// The columns a transition changes, bound as `$1`…`$14` in this order by [`bind_workflow`].
const WORKFLOW_COLUMNS: &str = "state, certificate_code, facts, materials, received_on, accepted_on, \
    supplement_requested_on, supplement_notices, missing, publicity_from, publicity_until, decision_ground, \
    decision_reason, overdue_since";

fn bind_workflow<'q>(q: AnyQuery<'q>, r: &RegistrationRecord) -> Result<AnyQuery<'q>> {
    let w = &r.workflow;
    let materials = serde_json::to_string(&r.materials).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let missing = (!r.missing.is_empty()).then(|| serde_json::Value::from(r.missing.clone()).to_string());
    Ok(q.bind(w.state.as_str())
        .bind(r.certificate_code.clone())
        .bind(r.facts.to_string())
        .bind(materials)
        .bind(w.received_on.to_string())
        .bind(d(w.accepted_on))
        .bind(d(w.supplement_requested_on))
        .bind(i64::from(w.supplement_notices))
        .bind(missing)
        .bind(d(w.publicity_from))
        .bind(d(w.publicity_until))
        .bind(r.decision_ground.clone())
        .bind(r.decision_reason.clone())
        .bind(d(r.overdue_since)))
}

pub async fn insert(conn: &mut AnyConnection, r: &RegistrationRecord) -> Result<()> {
    let marks: Vec<String> = (1..=31).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO registrations ({WORKFLOW_COLUMNS}, id, query_code, kind, subject_kind, applicant_org, \
         applicant_user, catalogue_entry_id, subject_name, summary, industry, region, operation_term_end, version, \
         created_at, updated_at, product_id, product_version) VALUES ({})",
        marks.join(", ")
    );
    bind_workflow(sqlx::query(&sql), r)?
        .bind(r.id.to_string())
        .bind(r.query_code.clone())
        .bind(r.workflow.kind.as_str())
        .bind(r.subject_kind.as_str())
        .bind(r.applicant_org.to_string())
        .bind(r.applicant_user.to_string())
        .bind(r.catalogue_entry_id.clone())
        .bind(r.subject_name.clone())
        .bind(r.summary.clone())
        .bind(r.industry.clone())
        .bind(r.region.clone())
        .bind(d(r.operation_term_end))
        .bind(r.version)
        .bind(format_instant(r.created_at))
        .bind(format_instant(r.updated_at))
        .bind(r.product.as_ref().map(|p| p.0.clone()))
        .bind(r.product.as_ref().map(|p| p.1))
        .execute(conn)
        .await
        .map_err(|e| StoreError::conflict_or(e, "registration query code"))?;
    Ok(())
}

/// Writes the record back if nobody changed it since it was read; bumps its version.
pub async fn update(conn: &mut AnyConnection, r: &mut RegistrationRecord, now: DateTime<Utc>) -> Result<()> {
    let sets: Vec<String> =
        WORKFLOW_COLUMNS.split(',').enumerate().map(|(i, col)| format!("{} = ${}", col.trim(), i + 1)).collect();
    let sql = format!(
        "UPDATE registrations SET {}, version = version + 1, updated_at = $15 WHERE id = $16 AND version = $17",
        sets.join(", ")
    );
    let done = bind_workflow(sqlx::query(&sql), r)?
        .bind(format_instant(now))
        .bind(r.id.to_string())
        .bind(r.version)
        .execute(conn)
        .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Conflict { what: format!("a newer version of registration {}", r.id) });
    }
    r.version += 1;
    r.updated_at = now;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, id: RegistrationId) -> Result<Option<RegistrationRecord>> {
    let row =
        sqlx::query("SELECT * FROM registrations WHERE id = $1").bind(id.to_string()).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn find_by_query_code(conn: &mut AnyConnection, code: &str) -> Result<Option<RegistrationRecord>> {
    let row = sqlx::query("SELECT * FROM registrations WHERE query_code = $1").bind(code).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// Which registrations to list.
#[derive(Debug, Clone, Default)]
pub struct RegistrationFilter {
    pub applicant_org: Option<OrgId>,
    pub states: Vec<String>,
    pub overdue_only: bool,
    pub limit: i64,
}

pub async fn list(conn: &mut AnyConnection, f: &RegistrationFilter) -> Result<Vec<RegistrationRecord>> {
    let mut sql = String::from("SELECT * FROM registrations WHERE 1 = 1");
    let mut binds: Vec<String> = Vec::new();
    if let Some(org) = f.applicant_org {
        binds.push(org.to_string());
        sql.push_str(&format!(" AND applicant_org = ${}", binds.len()));
    }
    if !f.states.is_empty() {
        let mut marks = Vec::new();
        for s in &f.states {
            binds.push(s.clone());
            marks.push(format!("${}", binds.len()));
        }
        sql.push_str(&format!(" AND state IN ({})", marks.join(", ")));
    }
    if f.overdue_only {
        sql.push_str(" AND overdue_since IS NOT NULL");
    }
    sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {}", f.limit.clamp(1, 1000)));
    let mut q = sqlx::query(&sql);
    for b in &binds {
        q = q.bind(b);
    }
    let rows = q.fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

/// Counts by type and state, for the authority's statistics (YXR §24).
pub async fn statistics(conn: &mut AnyConnection) -> Result<Vec<(String, String, i64)>> {
    let rows =
        sqlx::query("SELECT kind, state, COUNT(*) AS n FROM registrations GROUP BY kind, state ORDER BY kind, state")
            .fetch_all(conn)
            .await?;
    rows.iter().map(|r| Ok((text(r, "kind")?, text(r, "state")?, int(r, "n")?))).collect()
}

#[derive(Debug, Clone)]
pub struct ObjectionRecord {
    pub id: ObjectionId,
    pub registration_id: RegistrationId,
    pub objector_user: UserId,
    /// The real name the objection was filed under (YXR §22: 实名).
    pub objector_name: String,
    pub statement: String,
    pub evidence: Vec<Material>,
    pub workflow: Objection,
    pub answer: Option<String>,
    pub decision_reason: Option<String>,
    pub overdue_since: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
}

fn objection_from_row(r: &AnyRow) -> Result<ObjectionRecord> {
    Ok(ObjectionRecord {
        id: text(r, "id")?.parse()?,
        registration_id: text(r, "registration_id")?.parse()?,
        objector_user: text(r, "objector_user")?.parse()?,
        objector_name: text(r, "objector_name")?,
        statement: text(r, "statement")?,
        evidence: json(&text(r, "evidence")?, "evidence")?,
        workflow: Objection {
            state: text(r, "state")?.parse()?,
            filed_on: date(&text(r, "filed_on")?, "filed_on")?,
            forwarded_on: opt_date(r, "forwarded_on")?,
        },
        answer: opt_text(r, "answer")?,
        decision_reason: opt_text(r, "decision_reason")?,
        overdue_since: opt_date(r, "overdue_since")?,
        created_at: instant(r, "created_at")?,
    })
}

pub async fn insert_objection(conn: &mut AnyConnection, o: &ObjectionRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO registration_objections (id, registration_id, objector_user, objector_name, statement, \
         evidence, state, filed_on, forwarded_on, answer, decision_reason, overdue_since, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(o.id.to_string())
    .bind(o.registration_id.to_string())
    .bind(o.objector_user.to_string())
    .bind(&o.objector_name)
    .bind(&o.statement)
    .bind(serde_json::to_string(&o.evidence).map_err(|e| StoreError::Corrupt(e.to_string()))?)
    .bind(o.workflow.state.as_str())
    .bind(o.workflow.filed_on.to_string())
    .bind(d(o.workflow.forwarded_on))
    .bind(o.answer.clone())
    .bind(o.decision_reason.clone())
    .bind(d(o.overdue_since))
    .bind(format_instant(o.created_at))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update_objection(conn: &mut AnyConnection, o: &ObjectionRecord) -> Result<()> {
    sqlx::query(
        "UPDATE registration_objections SET state = $1, forwarded_on = $2, answer = $3, decision_reason = $4, \
         overdue_since = $5 WHERE id = $6",
    )
    .bind(o.workflow.state.as_str())
    .bind(d(o.workflow.forwarded_on))
    .bind(o.answer.clone())
    .bind(o.decision_reason.clone())
    .bind(d(o.overdue_since))
    .bind(o.id.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_objection(conn: &mut AnyConnection, id: ObjectionId) -> Result<Option<ObjectionRecord>> {
    let row = sqlx::query("SELECT * FROM registration_objections WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(objection_from_row).transpose()
}

pub async fn objections(conn: &mut AnyConnection, registration: RegistrationId) -> Result<Vec<ObjectionRecord>> {
    let rows = sqlx::query("SELECT * FROM registration_objections WHERE registration_id = $1 ORDER BY created_at, id")
        .bind(registration.to_string())
        .fetch_all(conn)
        .await?;
    rows.iter().map(objection_from_row).collect()
}

/// Registrations whose subject is one catalogue entry, newest first (for the annual disclosure).
pub async fn for_entry(conn: &mut AnyConnection, entry_id: &str) -> Result<Vec<RegistrationRecord>> {
    let rows =
        sqlx::query("SELECT * FROM registrations WHERE catalogue_entry_id = $1 ORDER BY created_at DESC, id DESC")
            .bind(entry_id)
            .fetch_all(conn)
            .await?;
    rows.iter().map(from_row).collect()
}
