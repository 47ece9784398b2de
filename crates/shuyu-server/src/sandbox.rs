//! The sandbox's life over time (WX §19, SPEC §4.7): grants expire on their last day; a
//! suspended operator's workspaces are sealed; data derived from an expired grant, and every
//! workspace of a terminated operator or an ended agreement, is destroyed with a signed
//! certificate. Each step is idempotent, so a run after a crash finishes what was begun.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde_json::json;
use shuyu_audit::Outcome;
use shuyu_core::destruction::{DestroyedObject, DestructionCertificate};
use shuyu_core::grants::GrantState;
use shuyu_core::operators::OrgStatus;
use shuyu_store::audit::EventFilter;
use shuyu_store::sandbox::{self as store, WorkspaceRecord};
use shuyu_store::{operators, AuditContext};

use axum::http::StatusCode;
use shuyu_sandbox::ingest::Format;
use shuyu_store::catalogue::EntryRecord;
use shuyu_store::sandbox::DatasetRecord;
use shuyu_store::users::UserRecord;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The timer kind of a data request awaiting its reviewers.
pub const GRANT: &str = "grant";

/// A data request whose reviewers missed the profile's deadline is flagged for the authority
/// (an audited `grant.review_overdue`); it stays pending, since silence is neither yes nor no.
pub async fn fire(
    tx: &mut shuyu_store::WriteTx,
    ctx: &AuditContext,
    timer: &shuyu_store::timers::DueTimer,
) -> ApiResult<()> {
    let g = store::get_grant(tx.conn(), &timer.object_id).await?.ok_or_else(|| ApiError::not_found("grant"))?;
    shuyu_store::timers::set(tx.conn(), GRANT, &g.id, None).await?;
    let reviewed: Vec<String> = g.reviews.iter().map(|r| r.reviewer.to_string()).collect();
    tx.audit(
        ctx,
        "grant.review_overdue",
        &format!("grant:{}", g.id),
        Outcome::Success,
        json!({ "due_on": timer.due_on.to_string(), "reviewed_by": reviewed, "state": g.state }),
    )
    .await?;
    Ok(())
}

pub fn workspace_dir(app: &AppState, id: &str) -> PathBuf {
    app.config.data_dir.join("workspaces").join(id)
}

/// Dataset paths recorded as `objects:<key>` are in object storage; others are under the data
/// directory.
const IN_OBJECTS: &str = "objects:";

/// Where a stored dataset version (as its row records it) is read from.
pub fn dataset_location(app: &AppState, path: &str) -> shuyu_sandbox::engine::DatasetLocation {
    use shuyu_sandbox::engine::DatasetLocation;
    match path.strip_prefix(IN_OBJECTS) {
        Some(key) => DatasetLocation::Objects(app.objects.dataset(key)),
        None => DatasetLocation::Dir(app.config.data_dir.join(path)),
    }
}

/// Every file under `dir`, with its hash, relative to `base`.
fn inventory(base: &Path, dir: &Path, out: &mut Vec<DestroyedObject>) -> std::io::Result<()> {
    let Ok(read) = std::fs::read_dir(dir) else { return Ok(()) };
    let mut entries: Vec<_> = read.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            inventory(base, &path, out)?;
        } else {
            let (sha256, bytes) = shuyu_sandbox::ingest::sha256_file(&path).map_err(std::io::Error::other)?;
            let rel = path.strip_prefix(base).unwrap_or(&path).to_string_lossy().to_string();
            out.push(DestroyedObject { path: rel, sha256, bytes });
        }
    }
    Ok(())
}

/// Destroys a whole workspace (`tables` = None) or some of its scratch tables, and issues the
/// signed certificate. The certificate and the state change commit first; the files go next,
/// and the sweep removes any a crash left behind.
pub async fn destroy(
    app: &AppState,
    ctx: &AuditContext,
    ws: &WorkspaceRecord,
    tables: Option<Vec<String>>,
    reason: &str,
    basis: &str,
) -> ApiResult<DestructionCertificate> {
    let dir = workspace_dir(app, &ws.id);
    let targets: Vec<PathBuf> = match &tables {
        None => vec![dir.clone()],
        Some(names) => names.iter().map(|n| shuyu_sandbox::engine::scratch_dir(&dir).join(n)).collect(),
    };
    let mut objects = Vec::new();
    for t in &targets {
        inventory(&dir, t, &mut objects).map_err(|e| {
            tracing::error!(error = %e, "inventory before destruction");
            ApiError::internal()
        })?;
    }
    // The workspace's approved exports, kept in object storage, go with it.
    let exports_prefix = format!("exports/{}/", ws.id);
    if tables.is_none() {
        let failed = |e: crate::objects::ObjectsError| {
            tracing::error!(error = %e, "inventory of exports before destruction");
            ApiError::internal()
        };
        for (key, _) in app.objects.list(&exports_prefix).await.map_err(failed)? {
            let Some(bytes) = app.objects.get(&key).await.map_err(failed)? else { continue };
            use sha2::Digest;
            let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
            objects.push(DestroyedObject { path: format!("objects:{key}"), sha256, bytes: bytes.len() as u64 });
        }
    }
    let events = shuyu_store::audit::query(
        &mut *app.store.acquire().await?,
        &EventFilter { resource: Some(format!("workspace:{}", ws.id)), limit: 10_000, ..Default::default() },
    )
    .await?
    .into_iter()
    .map(|e| e.event.seq)
    .collect();
    let mut tx = app.begin().await?;
    let cert = DestructionCertificate {
        id: uuid::Uuid::now_v7().to_string(),
        workspace_id: ws.id.clone(),
        operator_org: ws.operator_org.to_string(),
        scope: tables.clone().unwrap_or_else(|| vec!["workspace".into()]),
        reason: reason.to_string(),
        basis: basis.to_string(),
        destroyed_at: shuyu_core::clock::format_instant(tx.now()),
        objects,
        audit_events: events,
    };
    let signature = app.certificate_signer.sign_message(&cert.canonical_bytes());
    let now = tx.now();
    store::insert_certificate(tx.conn(), &cert, &signature, now).await?;
    if tables.is_none() {
        let mut w = store::get_workspace(tx.conn(), &ws.id).await?.ok_or_else(|| ApiError::not_found("workspace"))?;
        w.state = "destroyed".into();
        store::update_workspace(tx.conn(), &w, now).await?;
        store::wipe_key(tx.conn(), &ws.id).await?;
        store::mark_exports_destroyed(tx.conn(), &ws.id).await?;
        for mut g in store::workspace_grants(tx.conn(), &ws.id).await? {
            if matches!(g.state, GrantState::Approved | GrantState::Provisioned) {
                g.state = GrantState::Expired;
                store::update_grant(tx.conn(), &g, now).await?;
            }
        }
    }
    tx.audit(
        ctx,
        "workspace.destroyed",
        &format!("workspace:{}", ws.id),
        Outcome::Success,
        json!({ "certificate": cert.id, "scope": cert.scope, "objects": cert.objects.len(), "reason": reason, "basis": basis }),
    )
    .await?;
    tx.commit().await?;
    if tables.is_none() {
        if let Err(e) = app.objects.delete_under(&exports_prefix).await {
            tracing::error!(error = %e, "removing a destroyed workspace's exports");
            return Err(ApiError::internal());
        }
    }
    for t in targets {
        if t.exists() {
            std::fs::remove_dir_all(&t).map_err(|e| {
                tracing::error!(error = %e, "removing destroyed files; the sweep retries");
                ApiError::internal()
            })?;
        }
    }
    Ok(cert)
}

/// Scratch tables computed from any of `tables` (by lineage).
fn derived_from(dir: &Path, tables: &[String]) -> Vec<String> {
    shuyu_sandbox::engine::scratch_tables(dir)
        .into_iter()
        .filter(|name| {
            shuyu_sandbox::engine::read_meta(&shuyu_sandbox::engine::scratch_dir(dir).join(name)).is_ok_and(|m| {
                m.columns
                    .iter()
                    .any(|(_, l)| l.sources.iter().any(|s| tables.iter().any(|t| s.starts_with(&format!("{t}.")))))
            })
        })
        .collect()
}

/// An operator's status, read once per run however many grants and workspaces it has.
async fn status_of(
    app: &AppState,
    seen: &mut std::collections::HashMap<shuyu_core::ids::OrgId, OrgStatus>,
    org: shuyu_core::ids::OrgId,
) -> ApiResult<OrgStatus> {
    if let Some(s) = seen.get(&org) {
        return Ok(*s);
    }
    let s = operators::standing(&mut *app.store.acquire().await?, org).await?.status;
    seen.insert(org, s);
    Ok(s)
}

/// Everything due today; returns how many changes were made.
pub async fn run(app: &AppState, today: NaiveDate) -> ApiResult<usize> {
    let mut done = 0;
    let mut seen = std::collections::HashMap::new();
    let ctx = AuditContext::system("scheduler:sandbox");
    // Grants past their last day expire; what was derived from them is destroyed.
    let grants = store::list_grants(&mut *app.store.acquire().await?, None).await?;
    for g in grants {
        if !matches!(g.state, GrantState::Approved | GrantState::Provisioned) {
            continue;
        }
        if status_of(app, &mut seen, g.operator_org).await? == OrgStatus::Terminated {
            // Termination ends every grant of the operator (JS §23).
            let mut tx = app.begin().await?;
            let mut fresh = store::get_grant(tx.conn(), &g.id).await?.ok_or_else(|| ApiError::not_found("grant"))?;
            fresh.state = GrantState::Revoked;
            fresh.reason = Some("the operator's authorization was terminated".into());
            let now = tx.now();
            store::update_grant(tx.conn(), &fresh, now).await?;
            tx.audit(
                &ctx,
                "grant.revoked",
                &format!("grant:{}", g.id),
                Outcome::Success,
                json!({ "reason": fresh.reason, "basis": "JS §23" }),
            )
            .await?;
            tx.commit().await?;
            done += 1;
            continue;
        }
        if g.request.valid_until >= today {
            continue;
        }
        let mut tx = app.begin().await?;
        let mut fresh = store::get_grant(tx.conn(), &g.id).await?.ok_or_else(|| ApiError::not_found("grant"))?;
        fresh.state = GrantState::Expired;
        let now = tx.now();
        store::update_grant(tx.conn(), &fresh, now).await?;
        tx.audit(
            &ctx,
            "grant.expired",
            &format!("grant:{}", g.id),
            Outcome::Success,
            json!({ "valid_until": g.request.valid_until }),
        )
        .await?;
        tx.commit().await?;
        done += 1;
        let Some(ws_id) = &g.workspace_id else { continue };
        let Some(ws) = store::get_workspace(&mut *app.store.acquire().await?, ws_id).await? else { continue };
        let tables: Vec<String> = g.granted.iter().flatten().map(|t| t.table.clone()).collect();
        let derived = derived_from(&workspace_dir(app, ws_id), &tables);
        if !derived.is_empty() && ws.state != "destroyed" {
            destroy(app, &ctx, &ws, Some(derived), "the grant expired", "WX §19").await?;
            done += 1;
        }
    }
    // Suspension seals; termination and an ended agreement destroy.
    let workspaces = store::list_workspaces(&mut *app.store.acquire().await?, None).await?;
    for ws in workspaces {
        if ws.state == "destroyed" {
            let dir = workspace_dir(app, &ws.id);
            if dir.exists() {
                let _ = std::fs::remove_dir_all(&dir);
            }
            continue;
        }
        let status = status_of(app, &mut seen, ws.operator_org).await?;
        let agreement = operators::get_agreement(&mut *app.store.acquire().await?, &ws.agreement_id).await?;
        let ended = agreement.as_ref().is_none_or(|a| matches!(a.state.as_str(), "expired" | "terminated"));
        if status == OrgStatus::Terminated || ended {
            let reason = if ended { "the agreement ended" } else { "the operator's authorization was terminated" };
            destroy(app, &ctx, &ws, None, reason, "WX §19").await?;
            done += 1;
        } else if status == OrgStatus::Suspended && ws.state == "active" {
            let mut tx = app.begin().await?;
            let mut w =
                store::get_workspace(tx.conn(), &ws.id).await?.ok_or_else(|| ApiError::not_found("workspace"))?;
            w.state = "sealed".into();
            let now = tx.now();
            store::update_workspace(tx.conn(), &w, now).await?;
            tx.audit(
                &ctx,
                "workspace.sealed",
                &format!("workspace:{}", ws.id),
                Outcome::Success,
                json!({ "reason": "the operator is suspended", "basis": "WX §19" }),
            )
            .await?;
            tx.commit().await?;
            done += 1;
        }
    }
    Ok(done)
}

/// The current stored versions of the entries the fields' `ref:` tokens name, for the
/// consistency check (JS §20: data consistent across departments).
async fn referenced_data(
    app: &AppState,
    fields: &[shuyu_core::catalogue::FieldSpec],
    scratch: &Path,
) -> ApiResult<Vec<shuyu_sandbox::quality::ReferencedData>> {
    let mut found = std::collections::HashMap::new();
    let mut conn = app.store.acquire().await?;
    for f in fields {
        let Some(r) = shuyu_core::quality::reference(f) else { continue };
        if found.contains_key(&r.entry) {
            continue;
        }
        let Some(entry) = shuyu_store::catalogue::get(&mut conn, &r.entry).await? else { continue };
        let label = entry.public_metadata().map_or_else(|| format!("entry {}", entry.id), |m| m.name.clone());
        let current = store::current_dataset(&mut conn, &entry.id).await?;
        let data = match current.as_ref().map(|d| d.path.as_str()) {
            None => None,
            Some(path) => match path.strip_prefix(IN_OBJECTS) {
                None => Some(app.config.data_dir.join(path).join(shuyu_sandbox::ingest::DATA_FILE)),
                Some(key) => fetch_reference(app, key, &scratch.join(format!("{}.parquet", entry.id))).await?,
            },
        };
        let label = match &current {
            Some(d) => format!("{label} v{}", d.version),
            None => label,
        };
        found.insert(r.entry, (label, data));
    }
    Ok(shuyu_sandbox::quality::references(fields, |entry| found.get(entry).cloned()))
}

/// The check reads a local file: a referenced version kept in object storage is copied to
/// `local`, beside the load, for as long as the check runs.
async fn fetch_reference(app: &AppState, key: &str, local: &Path) -> ApiResult<Option<PathBuf>> {
    let key = format!("{key}/{}", shuyu_sandbox::ingest::DATA_FILE);
    let failed = |err| crate::objects::unavailable("reading a referenced dataset", &err);
    let Some(bytes) = app.objects.get(&key).await.map_err(failed)? else { return Ok(None) };
    if let Some(dir) = local.parent() {
        std::fs::create_dir_all(dir).map_err(|_| ApiError::internal())?;
    }
    std::fs::write(local, &bytes).map_err(|_| ApiError::internal())?;
    Ok(Some(local.to_path_buf()))
}

/// Loads a file into a new version of a published entry's dataset (SPEC §4.1): streamed into
/// Parquet under the data directory, with its evidence recorded and audited. A refusal (schema
/// drift, a bad value) is audited too, and leaves nothing behind.
pub async fn ingest_file(
    app: &AppState,
    ctx: &AuditContext,
    entry: &EntryRecord,
    user: &UserRecord,
    file: &Path,
    format: Format,
    progress: impl FnMut(u64) + Send + 'static,
) -> ApiResult<(DatasetRecord, serde_json::Value)> {
    let Some(meta) = entry.published.clone().filter(|_| entry.workflow.state.is_public()) else {
        return Err(ApiError::new(StatusCode::CONFLICT, "not_authorizable")
            .with_reason("only a published entry's data is loaded", "只能为已发布的目录条目汇聚数据")
            .with_basis("WX §2"));
    };
    let version = store::next_dataset_version(&mut *app.store.acquire().await?, &entry.id).await?;
    let previous = store::list_datasets(&mut *app.store.acquire().await?, &entry.id).await?.into_iter().next();
    let rel = format!("datasets/{}/v{version}", entry.id);
    let dir = app.config.data_dir.join(&rel);
    let input = file.to_path_buf();
    let out = dir.clone();
    let fields = meta.fields.clone();
    let scratch = app.config.data_dir.join("tmp").join(format!("references-{}-v{version}", entry.id));
    let references = referenced_data(app, &fields, &scratch).await?;
    // The quality checks read the stored file right after it is written (JS §20).
    let result = tokio::task::spawn_blocking(move || {
        let evidence = shuyu_sandbox::ingest::ingest(&input, format, &fields, &out, progress)?;
        let measures =
            shuyu_sandbox::quality::check(&out.join(shuyu_sandbox::ingest::DATA_FILE), &fields, &references)?;
        Ok::<_, shuyu_sandbox::error::SandboxError>((evidence, measures))
    })
    .await
    .map_err(|_| ApiError::internal());
    let _ = std::fs::remove_dir_all(&scratch);
    let result = result?;
    let (evidence, measures) = match result {
        Ok(e) => e,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            let err = crate::routes::sandbox::sandbox_error(e);
            app.store
                .record(
                    app.clock.now(),
                    ctx,
                    "dataset.ingest_refused",
                    &format!("catalogue:{}", entry.id),
                    Outcome::Failure,
                    json!({ "error": err.body.details }),
                )
                .await?;
            return Err(err);
        }
    };
    // With S3-compatible storage the version lives there (uploaded before its row commits),
    // and not on this machine's disk.
    let path = if app.objects.is_remote() {
        let uploaded = upload_dataset(app, &rel, &dir).await;
        let _ = std::fs::remove_dir_all(&dir);
        // The entry's directory too, when no local version is left in it.
        if let Some(parent) = dir.parent() {
            let _ = std::fs::remove_dir(parent);
        }
        uploaded?;
        format!("{IN_OBJECTS}{rel}")
    } else {
        rel.clone()
    };
    let committed =
        commit_dataset(app, ctx, entry, user, &meta, previous.as_ref(), version, evidence, path, measures).await;
    if committed.is_err() && app.objects.is_remote() {
        if let Err(err) = app.objects.delete_under(&format!("{rel}/")).await {
            tracing::warn!(error = %err, "removing the objects of a dataset version that did not commit");
        }
    }
    committed
}

/// Every file of a stored version, to `<rel>/<file>` in object storage.
async fn upload_dataset(app: &AppState, rel: &str, dir: &Path) -> ApiResult<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|_| ApiError::internal())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for file in files {
        let Some(name) = file.file_name().and_then(|n| n.to_str()) else { continue };
        let key = format!("{rel}/{name}");
        app.objects
            .put_file(&key, &file)
            .await
            .map_err(|err| crate::objects::unavailable("storing a dataset", &err))?;
    }
    Ok(())
}

/// The version's row, its audit event and its quality report, in one transaction.
#[allow(clippy::too_many_arguments)]
async fn commit_dataset(
    app: &AppState,
    ctx: &AuditContext,
    entry: &EntryRecord,
    user: &UserRecord,
    meta: &shuyu_core::catalogue::EntryMetadata,
    previous: Option<&DatasetRecord>,
    version: i64,
    evidence: shuyu_sandbox::ingest::Evidence,
    path: String,
    mut measures: Vec<shuyu_core::quality::Measure>,
) -> ApiResult<(DatasetRecord, serde_json::Value)> {
    let mut tx = app.begin().await?;
    let record = DatasetRecord {
        id: uuid::Uuid::now_v7().to_string(),
        entry_id: entry.id.clone(),
        version,
        holder_org: entry.holder_org.to_string(),
        evidence: serde_json::to_value(&evidence).map_err(|_| ApiError::internal())?,
        path,
        state: "current".into(),
        created_by: user.id.to_string(),
        created_at: shuyu_core::clock::format_instant(tx.now()),
    };
    store::insert_dataset(tx.conn(), &record).await?;
    tx.audit(
        ctx,
        "dataset.ingested",
        &format!("catalogue:{}", entry.id),
        Outcome::Success,
        json!({ "dataset": record.id, "version": version, "evidence": record.evidence }),
    )
    .await?;
    measures.push(crate::quality::timeliness(app, meta, previous, tx.now()));
    let quality = crate::quality::record(app, &mut tx, ctx, entry, &record, measures).await?;
    tx.commit().await?;
    Ok((record, quality))
}
