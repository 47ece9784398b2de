//! Sandbox records (SPEC §4): dataset versions with their evidence, grants, workspaces, and
//! the queries run in them (for the audit trail and for metering).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use shuyu_core::clock::format_instant;
use shuyu_core::grants::{GrantRequest, GrantState, GrantedTable, Review};
use shuyu_core::ids::OrgId;
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use crate::{from_json, int, opt_text, text, to_json, Result, StoreError};

// ---------------------------------------------------------------- datasets

#[derive(Debug, Clone, Serialize)]
pub struct DatasetRecord {
    pub id: String,
    pub entry_id: String,
    pub version: i64,
    pub holder_org: String,
    pub evidence: Value,
    /// Relative to the data directory.
    pub path: String,
    /// `current`, `superseded` or `destroyed`.
    pub state: String,
    pub created_by: String,
    pub created_at: String,
}

fn dataset_from_row(r: &AnyRow) -> Result<DatasetRecord> {
    Ok(DatasetRecord {
        id: text(r, "id")?,
        entry_id: text(r, "entry_id")?,
        version: int(r, "version")?,
        holder_org: text(r, "holder_org")?,
        evidence: from_json(&text(r, "evidence")?, "datasets.evidence")?,
        path: text(r, "path")?,
        state: text(r, "state")?,
        created_by: text(r, "created_by")?,
        created_at: text(r, "created_at")?,
    })
}

/// Records a new version; earlier versions of the entry become `superseded` but are kept.
pub async fn insert_dataset(conn: &mut AnyConnection, d: &DatasetRecord) -> Result<()> {
    sqlx::query("UPDATE datasets SET state = 'superseded' WHERE entry_id = $1 AND state = 'current'")
        .bind(&d.entry_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO datasets (id, entry_id, version, holder_org, evidence, path, state, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&d.id)
    .bind(&d.entry_id)
    .bind(d.version)
    .bind(&d.holder_org)
    .bind(to_json(&d.evidence)?)
    .bind(&d.path)
    .bind(&d.state)
    .bind(&d.created_by)
    .bind(&d.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn next_dataset_version(conn: &mut AnyConnection, entry_id: &str) -> Result<i64> {
    let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM datasets WHERE entry_id = $1")
        .bind(entry_id)
        .fetch_one(conn)
        .await?;
    Ok(int(&row, "v")? + 1)
}

pub async fn current_dataset(conn: &mut AnyConnection, entry_id: &str) -> Result<Option<DatasetRecord>> {
    let row = sqlx::query("SELECT * FROM datasets WHERE entry_id = $1 AND state = 'current'")
        .bind(entry_id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(dataset_from_row).transpose()
}

pub async fn list_datasets(conn: &mut AnyConnection, entry_id: &str) -> Result<Vec<DatasetRecord>> {
    let rows = sqlx::query("SELECT * FROM datasets WHERE entry_id = $1 ORDER BY version DESC")
        .bind(entry_id)
        .fetch_all(conn)
        .await?;
    rows.iter().map(dataset_from_row).collect()
}

// ---------------------------------------------------------------- grants

#[derive(Debug, Clone)]
pub struct GrantRecord {
    pub id: String,
    pub operator_org: OrgId,
    pub agreement_id: String,
    pub workspace_id: Option<String>,
    pub request: GrantRequest,
    pub reviews: Vec<Review>,
    pub granted: Option<Vec<GrantedTable>>,
    pub state: GrantState,
    pub sealed: bool,
    /// Why it was refused or revoked.
    pub reason: Option<String>,
    pub requested_by: String,
    pub created_at: String,
}

fn grant_from_row(r: &AnyRow) -> Result<GrantRecord> {
    Ok(GrantRecord {
        id: text(r, "id")?,
        operator_org: text(r, "operator_org")?.parse()?,
        agreement_id: text(r, "agreement_id")?,
        workspace_id: opt_text(r, "workspace_id")?,
        request: from_json(&text(r, "request")?, "grants.request")?,
        reviews: from_json(&text(r, "reviews")?, "grants.reviews")?,
        granted: opt_text(r, "granted")?.map(|g| from_json(&g, "grants.granted")).transpose()?,
        state: text(r, "state")?.parse().map_err(|e| StoreError::Corrupt(format!("grants.state: {e}")))?,
        sealed: int(r, "sealed")? != 0,
        reason: opt_text(r, "reason")?,
        requested_by: text(r, "requested_by")?,
        created_at: text(r, "created_at")?,
    })
}

pub async fn insert_grant(conn: &mut AnyConnection, g: &GrantRecord, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO grants (id, operator_org, agreement_id, workspace_id, request, reviews, granted, state, sealed, \
         reason, requested_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
    )
    .bind(&g.id)
    .bind(g.operator_org.to_string())
    .bind(&g.agreement_id)
    .bind(&g.workspace_id)
    .bind(to_json(&g.request)?)
    .bind(to_json(&g.reviews)?)
    .bind(g.granted.as_ref().map(to_json).transpose()?)
    .bind(g.state.as_str())
    .bind(i64::from(g.sealed))
    .bind(&g.reason)
    .bind(&g.requested_by)
    .bind(format_instant(now))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update_grant(conn: &mut AnyConnection, g: &GrantRecord, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "UPDATE grants SET workspace_id = $1, reviews = $2, granted = $3, state = $4, sealed = $5, reason = $6, \
         updated_at = $7 WHERE id = $8",
    )
    .bind(&g.workspace_id)
    .bind(to_json(&g.reviews)?)
    .bind(g.granted.as_ref().map(to_json).transpose()?)
    .bind(g.state.as_str())
    .bind(i64::from(g.sealed))
    .bind(&g.reason)
    .bind(format_instant(now))
    .bind(&g.id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_grant(conn: &mut AnyConnection, id: &str) -> Result<Option<GrantRecord>> {
    let row = sqlx::query("SELECT * FROM grants WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.as_ref().map(grant_from_row).transpose()
}

/// Grants of one operator, or all of them.
pub async fn list_grants(conn: &mut AnyConnection, operator: Option<OrgId>) -> Result<Vec<GrantRecord>> {
    let rows = match operator {
        Some(org) => {
            sqlx::query("SELECT * FROM grants WHERE operator_org = $1 ORDER BY created_at DESC, id")
                .bind(org.to_string())
                .fetch_all(conn)
                .await?
        }
        None => sqlx::query("SELECT * FROM grants ORDER BY created_at DESC, id").fetch_all(conn).await?,
    };
    rows.iter().map(grant_from_row).collect()
}

pub async fn workspace_grants(conn: &mut AnyConnection, workspace: &str) -> Result<Vec<GrantRecord>> {
    let rows = sqlx::query("SELECT * FROM grants WHERE workspace_id = $1 ORDER BY created_at, id")
        .bind(workspace)
        .fetch_all(conn)
        .await?;
    rows.iter().map(grant_from_row).collect()
}

// ---------------------------------------------------------------- workspaces

#[derive(Debug, Clone)]
pub struct WorkspaceRecord {
    pub id: String,
    pub operator_org: OrgId,
    pub agreement_id: String,
    pub name: String,
    pub members: Vec<String>,
    /// Hex of the workspace's keyed-hash masking key. Never returned by the API.
    pub masking_key: String,
    /// `active`, `sealed` or `destroyed`.
    pub state: String,
    pub created_at: String,
}

fn workspace_from_row(r: &AnyRow) -> Result<WorkspaceRecord> {
    Ok(WorkspaceRecord {
        id: text(r, "id")?,
        operator_org: text(r, "operator_org")?.parse()?,
        agreement_id: text(r, "agreement_id")?,
        name: text(r, "name")?,
        members: from_json(&text(r, "members")?, "workspaces.members")?,
        masking_key: text(r, "masking_key")?,
        state: text(r, "state")?,
        created_at: text(r, "created_at")?,
    })
}

pub async fn insert_workspace(conn: &mut AnyConnection, w: &WorkspaceRecord, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO workspaces (id, operator_org, agreement_id, name, members, masking_key, state, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(&w.id)
    .bind(w.operator_org.to_string())
    .bind(&w.agreement_id)
    .bind(&w.name)
    .bind(to_json(&w.members)?)
    .bind(&w.masking_key)
    .bind(&w.state)
    .bind(format_instant(now))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update_workspace(conn: &mut AnyConnection, w: &WorkspaceRecord, now: DateTime<Utc>) -> Result<()> {
    sqlx::query("UPDATE workspaces SET members = $1, state = $2, updated_at = $3 WHERE id = $4")
        .bind(to_json(&w.members)?)
        .bind(&w.state)
        .bind(format_instant(now))
        .bind(&w.id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn get_workspace(conn: &mut AnyConnection, id: &str) -> Result<Option<WorkspaceRecord>> {
    let row = sqlx::query("SELECT * FROM workspaces WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.as_ref().map(workspace_from_row).transpose()
}

pub async fn list_workspaces(conn: &mut AnyConnection, operator: Option<OrgId>) -> Result<Vec<WorkspaceRecord>> {
    let rows = match operator {
        Some(org) => {
            sqlx::query("SELECT * FROM workspaces WHERE operator_org = $1 ORDER BY created_at, id")
                .bind(org.to_string())
                .fetch_all(conn)
                .await?
        }
        None => sqlx::query("SELECT * FROM workspaces ORDER BY created_at, id").fetch_all(conn).await?,
    };
    rows.iter().map(workspace_from_row).collect()
}

// ---------------------------------------------------------------- queries and metering

#[derive(Debug, Clone)]
pub struct QueryRecord {
    pub id: String,
    pub workspace_id: String,
    pub operator_org: OrgId,
    pub user_id: String,
    pub statement: String,
    /// `rows`, `created`, `dropped`, `refused`, `not_found`, `limit`, `error`.
    pub outcome: String,
    pub rows: i64,
    pub cpu_ms: i64,
    pub bytes_scanned: i64,
    pub elapsed_ms: i64,
}

pub async fn insert_query(conn: &mut AnyConnection, q: &QueryRecord, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO workspace_queries (id, workspace_id, operator_org, user_id, statement, outcome, rows_returned, \
         cpu_ms, bytes_scanned, elapsed_ms, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&q.id)
    .bind(&q.workspace_id)
    .bind(q.operator_org.to_string())
    .bind(&q.user_id)
    .bind(&q.statement)
    .bind(&q.outcome)
    .bind(q.rows)
    .bind(q.cpu_ms)
    .bind(q.bytes_scanned)
    .bind(q.elapsed_ms)
    .bind(format_instant(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// A workspace's most recent answered queries (rows, private answers, created tables), newest
/// first: what the differencing defence compares a new query with.
pub async fn recent_answered(conn: &mut AnyConnection, workspace: &str, limit: i64) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT id, statement FROM workspace_queries WHERE workspace_id = $1 AND outcome IN ('rows', 'private', 'created') \
         ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(workspace)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| Ok((text(r, "id")?, text(r, "statement")?))).collect()
}

/// Totals for one workspace (WX §16, CS §15).
pub async fn metering(conn: &mut AnyConnection, workspace: &str) -> Result<Value> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS queries, CAST(COALESCE(SUM(cpu_ms), 0) AS BIGINT) AS cpu_ms, \
         CAST(COALESCE(SUM(bytes_scanned), 0) AS BIGINT) AS bytes, \
         CAST(COALESCE(SUM(rows_returned), 0) AS BIGINT) AS rows_returned, \
         CAST(COALESCE(SUM(CASE WHEN outcome = 'refused' THEN 1 ELSE 0 END), 0) AS BIGINT) AS refused \
         FROM workspace_queries WHERE workspace_id = $1",
    )
    .bind(workspace)
    .fetch_one(conn)
    .await?;
    Ok(serde_json::json!({
        "queries": int(&row, "queries")?,
        "cpu_ms": int(&row, "cpu_ms")?,
        "bytes_scanned": int(&row, "bytes")?,
        "rows_returned": int(&row, "rows_returned")?,
        "refused": int(&row, "refused")?,
    }))
}

/// Wipes the workspace's masking key: hashed tokens made with it can never be linked again.
pub async fn wipe_key(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query("UPDATE workspaces SET masking_key = '' WHERE id = $1").bind(id).execute(conn).await?;
    Ok(())
}

// ---------------------------------------------------------------- destruction certificates

pub async fn insert_certificate(
    conn: &mut AnyConnection,
    c: &shuyu_core::destruction::DestructionCertificate,
    signature: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO destruction_certificates (id, workspace_id, certificate, signature, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&c.id)
    .bind(&c.workspace_id)
    .bind(to_json(c)?)
    .bind(signature)
    .bind(format_instant(now))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_certificate(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<(shuyu_core::destruction::DestructionCertificate, String)>> {
    let row = sqlx::query("SELECT certificate, signature FROM destruction_certificates WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.map(|r| {
        Ok((from_json(&text(&r, "certificate")?, "destruction_certificates.certificate")?, text(&r, "signature")?))
    })
    .transpose()
}

pub async fn workspace_certificates(conn: &mut AnyConnection, workspace: &str) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT id FROM destruction_certificates WHERE workspace_id = $1 ORDER BY created_at, id")
        .bind(workspace)
        .fetch_all(conn)
        .await?;
    rows.iter().map(|r| text(r, "id")).collect()
}

// ---------------------------------------------------------------- exports

#[derive(Debug, Clone)]
pub struct ExportRecord {
    pub id: String,
    pub workspace_id: String,
    pub operator_org: OrgId,
    pub table_name: String,
    pub purpose: String,
    /// `checks_failed`, `pending_review`, `approved`, `refused`, `destroyed`.
    pub state: String,
    pub checks: Value,
    pub rows: i64,
    pub reason: Option<String>,
    /// Hex of the watermark key; never returned by the API.
    pub watermark_key: Option<String>,
    pub sha256: Option<String>,
    pub bytes: Option<i64>,
    pub requested_by: String,
    pub reviewed_by: Option<String>,
    pub created_at: String,
}

fn export_from_row(r: &AnyRow) -> Result<ExportRecord> {
    use sqlx::Row;
    Ok(ExportRecord {
        id: text(r, "id")?,
        workspace_id: text(r, "workspace_id")?,
        operator_org: text(r, "operator_org")?.parse()?,
        table_name: text(r, "table_name")?,
        purpose: text(r, "purpose")?,
        state: text(r, "state")?,
        checks: from_json(&text(r, "checks")?, "exports.checks")?,
        rows: int(r, "rows_exported")?,
        reason: opt_text(r, "reason")?,
        watermark_key: opt_text(r, "watermark_key")?,
        sha256: opt_text(r, "sha256")?,
        bytes: r.try_get::<Option<i64>, _>("bytes")?,
        requested_by: text(r, "requested_by")?,
        reviewed_by: opt_text(r, "reviewed_by")?,
        created_at: text(r, "created_at")?,
    })
}

pub async fn insert_export(conn: &mut AnyConnection, e: &ExportRecord, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO exports (id, workspace_id, operator_org, table_name, purpose, state, checks, rows_exported, reason, \
         watermark_key, sha256, bytes, requested_by, reviewed_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)",
    )
    .bind(&e.id)
    .bind(&e.workspace_id)
    .bind(e.operator_org.to_string())
    .bind(&e.table_name)
    .bind(&e.purpose)
    .bind(&e.state)
    .bind(to_json(&e.checks)?)
    .bind(e.rows)
    .bind(&e.reason)
    .bind(&e.watermark_key)
    .bind(&e.sha256)
    .bind(e.bytes)
    .bind(&e.requested_by)
    .bind(&e.reviewed_by)
    .bind(format_instant(now))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update_export(conn: &mut AnyConnection, e: &ExportRecord, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "UPDATE exports SET state = $1, reason = $2, watermark_key = $3, sha256 = $4, bytes = $5, reviewed_by = $6, \
         updated_at = $7 WHERE id = $8",
    )
    .bind(&e.state)
    .bind(&e.reason)
    .bind(&e.watermark_key)
    .bind(&e.sha256)
    .bind(e.bytes)
    .bind(&e.reviewed_by)
    .bind(format_instant(now))
    .bind(&e.id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_export(conn: &mut AnyConnection, id: &str) -> Result<Option<ExportRecord>> {
    let row = sqlx::query("SELECT * FROM exports WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.as_ref().map(export_from_row).transpose()
}

pub async fn list_exports(conn: &mut AnyConnection, operator: Option<OrgId>) -> Result<Vec<ExportRecord>> {
    let rows = match operator {
        Some(org) => {
            sqlx::query("SELECT * FROM exports WHERE operator_org = $1 ORDER BY created_at DESC, id")
                .bind(org.to_string())
                .fetch_all(conn)
                .await?
        }
        None => sqlx::query("SELECT * FROM exports ORDER BY created_at DESC, id").fetch_all(conn).await?,
    };
    rows.iter().map(export_from_row).collect()
}

/// Approved exports with their watermark keys, for leak tracing.
pub async fn watermarked_exports(conn: &mut AnyConnection) -> Result<Vec<(String, String)>> {
    let rows =
        sqlx::query("SELECT id, watermark_key FROM exports WHERE watermark_key IS NOT NULL ORDER BY created_at, id")
            .fetch_all(conn)
            .await?;
    rows.iter().map(|r| Ok((text(r, "id")?, text(r, "watermark_key")?))).collect()
}

/// Rows exported from a workspace (metering).
pub async fn exported(conn: &mut AnyConnection, workspace: &str) -> Result<(i64, i64)> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(rows_exported), 0) AS BIGINT) AS r, CAST(COALESCE(SUM(bytes), 0) AS BIGINT) AS b \
         FROM exports WHERE workspace_id = $1 AND state = 'approved'",
    )
    .bind(workspace)
    .fetch_one(conn)
    .await?;
    Ok((int(&row, "r")?, int(&row, "b")?))
}

/// Exports whose files went with their workspace; their watermark keys stay for tracing.
pub async fn mark_exports_destroyed(conn: &mut AnyConnection, workspace: &str) -> Result<()> {
    sqlx::query("UPDATE exports SET state = 'destroyed' WHERE workspace_id = $1 AND state = 'approved'")
        .bind(workspace)
        .execute(conn)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------- operator uploads

#[derive(Debug, Clone, Serialize)]
pub struct UploadRecord {
    pub id: String,
    pub workspace_id: String,
    pub operator_org: String,
    pub table_name: String,
    /// Where the data comes from and why it is lawful.
    pub source: String,
    pub evidence: Value,
    /// `pending`, `approved`, `refused`.
    pub state: String,
    pub reason: Option<String>,
    pub uploaded_by: String,
    pub reviewed_by: Option<String>,
    pub created_at: String,
}

fn upload_from_row(r: &AnyRow) -> Result<UploadRecord> {
    Ok(UploadRecord {
        id: text(r, "id")?,
        workspace_id: text(r, "workspace_id")?,
        operator_org: text(r, "operator_org")?,
        table_name: text(r, "table_name")?,
        source: text(r, "source")?,
        evidence: from_json(&text(r, "evidence")?, "workspace_uploads.evidence")?,
        state: text(r, "state")?,
        reason: opt_text(r, "reason")?,
        uploaded_by: text(r, "uploaded_by")?,
        reviewed_by: opt_text(r, "reviewed_by")?,
        created_at: text(r, "created_at")?,
    })
}

pub async fn insert_upload(conn: &mut AnyConnection, u: &UploadRecord, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO workspace_uploads (id, workspace_id, operator_org, table_name, source, evidence, state, reason, \
         uploaded_by, reviewed_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
    )
    .bind(&u.id)
    .bind(&u.workspace_id)
    .bind(&u.operator_org)
    .bind(&u.table_name)
    .bind(&u.source)
    .bind(to_json(&u.evidence)?)
    .bind(&u.state)
    .bind(&u.reason)
    .bind(&u.uploaded_by)
    .bind(&u.reviewed_by)
    .bind(format_instant(now))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update_upload(conn: &mut AnyConnection, u: &UploadRecord, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "UPDATE workspace_uploads SET state = $1, reason = $2, reviewed_by = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(&u.state)
    .bind(&u.reason)
    .bind(&u.reviewed_by)
    .bind(format_instant(now))
    .bind(&u.id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_upload(conn: &mut AnyConnection, id: &str) -> Result<Option<UploadRecord>> {
    let row = sqlx::query("SELECT * FROM workspace_uploads WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.as_ref().map(upload_from_row).transpose()
}

pub async fn workspace_uploads(conn: &mut AnyConnection, workspace: &str) -> Result<Vec<UploadRecord>> {
    let rows = sqlx::query("SELECT * FROM workspace_uploads WHERE workspace_id = $1 ORDER BY created_at, id")
        .bind(workspace)
        .fetch_all(conn)
        .await?;
    rows.iter().map(upload_from_row).collect()
}

// ---------------------------------------------------------------- re-grading derived tables

/// A reviewer's grading of one version of a scratch table (GB/T 43697 annex I).
#[derive(Debug, Clone, Serialize)]
pub struct TableGrading {
    pub id: String,
    pub workspace_id: String,
    pub table_name: String,
    pub table_version: String,
    pub from_level: u8,
    pub to_level: u8,
    pub reason: String,
    pub graded_by: String,
    pub graded_at: String,
}

fn grading_from_row(r: &AnyRow) -> Result<TableGrading> {
    let level = |col: &str| -> Result<u8> {
        u8::try_from(int(r, col)?).map_err(|_| StoreError::Corrupt(format!("table_gradings.{col} out of range")))
    };
    Ok(TableGrading {
        id: text(r, "id")?,
        workspace_id: text(r, "workspace_id")?,
        table_name: text(r, "table_name")?,
        table_version: text(r, "table_version")?,
        from_level: level("from_level")?,
        to_level: level("to_level")?,
        reason: text(r, "reason")?,
        graded_by: text(r, "graded_by")?,
        graded_at: text(r, "graded_at")?,
    })
}

pub async fn insert_grading(conn: &mut AnyConnection, g: &TableGrading) -> Result<()> {
    sqlx::query(
        "INSERT INTO table_gradings (id, workspace_id, table_name, table_version, from_level, to_level, reason, \
         graded_by, graded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&g.id)
    .bind(&g.workspace_id)
    .bind(&g.table_name)
    .bind(&g.table_version)
    .bind(i64::from(g.from_level))
    .bind(i64::from(g.to_level))
    .bind(&g.reason)
    .bind(&g.graded_by)
    .bind(&g.graded_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A workspace's gradings, oldest first: the last one for a table version is in force.
pub async fn workspace_gradings(conn: &mut AnyConnection, workspace: &str) -> Result<Vec<TableGrading>> {
    let rows = sqlx::query("SELECT * FROM table_gradings WHERE workspace_id = $1 ORDER BY graded_at, id")
        .bind(workspace)
        .fetch_all(conn)
        .await?;
    rows.iter().map(grading_from_row).collect()
}
