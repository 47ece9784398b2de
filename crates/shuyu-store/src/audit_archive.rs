//! Archiving audit events past the retention period (YXO §19). Events leave `audit_events`
//! only into a compressed archive file that ends at a signed tree head; their leaf hashes stay
//! in the database (`audit_archived_leaves`), so the in-memory tree, inclusion and consistency
//! proofs and every later tree head are unaffected. The database refuses to delete an event
//! whose leaf was not kept first, and one younger than the retention period, whoever asks.
//!
//! Crash safety: the file is written and synced under a temporary name, renamed, read back and
//! compared before the one transaction that records it, keeps the leaves, deletes the rows and
//! audits the archiving. A crash before that commit leaves the rows in place and at most an
//! unrecorded file, which the next run rewrites.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use shuyu_audit::{archive_file_name, ArchiveReader, ArchiveWriter, Hash, Outcome, SignedTreeHead};
use shuyu_core::clock::format_instant;
use sqlx::AnyConnection;

use crate::audit::{events_from, tree_head_from_row};
use crate::{int, text, AuditContext, PlainRow, Result, Store, StoreError};

/// An archive file as the database records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRecord {
    pub first_seq: u64,
    pub end_seq: u64,
    /// The file's name inside the archive directory.
    pub file: String,
    /// SHA-256 of the whole compressed file, hex.
    pub sha256: String,
    pub bytes: u64,
    pub created_at: String,
}

/// What the next archive would cover: events `first..tree_head.size`.
#[derive(Debug, Clone)]
pub struct ArchivePlan {
    pub first: u64,
    pub tree_head: SignedTreeHead,
}

impl ArchivePlan {
    pub fn end(&self) -> u64 {
        self.tree_head.head.size
    }
}

fn u64_of(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative {what}")))
}

fn bind(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn archive_from_row<R: PlainRow>(row: &R) -> Result<ArchiveRecord> {
    Ok(ArchiveRecord {
        first_seq: u64_of(int(row, "first_seq")?, "archive start")?,
        end_seq: u64_of(int(row, "end_seq")?, "archive end")?,
        file: text(row, "file")?,
        sha256: text(row, "sha256")?,
        bytes: u64_of(int(row, "bytes")?, "archive size")?,
        created_at: text(row, "created_at")?,
    })
}

pub(crate) const ARCHIVES: &str = "SELECT * FROM audit_archives ORDER BY first_seq";

/// Every archive, oldest first.
pub async fn archives(conn: &mut AnyConnection) -> Result<Vec<ArchiveRecord>> {
    sqlx::query(ARCHIVES).fetch_all(conn).await?.iter().map(archive_from_row).collect()
}

/// Events below this sequence number are archived (0 when none are).
pub async fn archived_end(conn: &mut AnyConnection) -> Result<u64> {
    let row = sqlx::query("SELECT COALESCE(MAX(end_seq), 0) AS n FROM audit_archives").fetch_one(conn).await?;
    u64_of(int(&row, "n")?, "archive end")
}

/// The longest range after the last archive whose events are all older than `cutoff` and that
/// ends at a signed tree head; `None` when there is no such range yet.
pub async fn plan(conn: &mut AnyConnection, cutoff: DateTime<Utc>) -> Result<Option<ArchivePlan>> {
    let first = archived_end(&mut *conn).await?;
    // The first event at or after the cutoff bounds the range (times need not be monotonic
    // under a test clock, so this is by time, not by the last old event).
    let row = sqlx::query("SELECT COALESCE(MIN(seq), -1) AS n FROM audit_events WHERE seq >= $1 AND time >= $2")
        .bind(bind(first))
        .bind(format_instant(cutoff))
        .fetch_one(&mut *conn)
        .await?;
    let limit = match u64::try_from(int(&row, "n")?) {
        Ok(n) => n,
        // None: every remaining event is old.
        Err(_) => crate::audit::head_size(&mut *conn).await?,
    };
    let head = sqlx::query("SELECT * FROM audit_tree_heads WHERE size > $1 AND size <= $2 ORDER BY size DESC LIMIT 1")
        .bind(bind(first))
        .bind(bind(limit))
        .fetch_optional(&mut *conn)
        .await?;
    match head {
        Some(row) => Ok(Some(ArchivePlan { first, tree_head: tree_head_from_row(&row)? })),
        None => Ok(None),
    }
}

/// Counts what it writes and hashes it on the way to the file.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn io(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Archive(format!("{}: {e}", path.display()))
}

const READ_BATCH: u32 = 20_000;
const LEAF_ROWS: usize = 500;

/// Archives every event that [`plan`] allows into a file under `dir`, then removes the rows
/// (keeping their leaf hashes) in one audited transaction. `progress(events_written)` is called
/// as the file is written. Returns `None` when nothing is old enough.
pub async fn archive(
    store: &Store,
    dir: &Path,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
    ctx: &AuditContext,
    mut progress: impl FnMut(u64, u64),
) -> Result<Option<ArchiveRecord>> {
    let Some(plan) = plan(&mut *store.acquire().await?, cutoff).await? else { return Ok(None) };
    let (first, end) = (plan.first, plan.end());
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let name = archive_file_name(first, end);
    let path = dir.join(&name);
    let partial = dir.join(format!("{name}.partial"));

    let written = write_file(store, &partial, &plan, &mut progress).await;
    let (leaves, sha256, bytes) = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, &path).map_err(|e| io(&path, e))?;
    if let Ok(d) = File::open(dir) {
        // The rename is durable once the directory is synced.
        let _ = d.sync_all();
    }
    let result = async {
        check_file(&path, &leaves)?;
        let record = ArchiveRecord {
            first_seq: first,
            end_seq: end,
            file: name.clone(),
            sha256,
            bytes,
            created_at: format_instant(now),
        };
        commit(store, &record, &leaves, now, ctx).await?;
        Ok(record)
    }
    .await;
    if result.is_err() {
        // Not recorded: the rows are still in the database, so the file goes.
        let _ = std::fs::remove_file(&path);
    }
    result.map(Some)
}

async fn write_file(
    store: &Store,
    path: &Path,
    plan: &ArchivePlan,
    progress: &mut impl FnMut(u64, u64),
) -> Result<(Vec<(u64, Hash)>, String, u64)> {
    let (first, end) = (plan.first, plan.end());
    let file = File::create(path).map_err(|e| io(path, e))?;
    let out = HashingWriter { inner: BufWriter::new(file), hasher: Sha256::new(), bytes: 0 };
    let mut writer = ArchiveWriter::new(out, first, plan.tree_head.clone())?;
    let mut leaves = Vec::with_capacity(usize::try_from(end - first).unwrap_or(0).min(1 << 22));
    let mut next = first;
    while next < end {
        let want = u32::try_from((end - next).min(u64::from(READ_BATCH))).unwrap_or(READ_BATCH);
        let batch = events_from(store, next, want).await?;
        if batch.is_empty() {
            return Err(StoreError::Corrupt(format!("audit event {next} is missing; run `shuyu audit verify`")));
        }
        for stored in &batch {
            if stored.event.seq >= end {
                break;
            }
            // The leaf must be what the row says it is: an altered row is never archived.
            if stored.event.leaf_hash() != stored.leaf_hash {
                return Err(StoreError::Corrupt(format!(
                    "audit event {} was altered; run `shuyu audit verify`",
                    stored.event.seq
                )));
            }
            writer.push(stored)?;
            leaves.push((stored.event.seq, stored.leaf_hash));
            next = stored.event.seq + 1;
        }
        progress(next - first, end - first);
    }
    let mut out = writer.finish()?;
    out.flush().map_err(|e| io(path, e))?;
    let HashingWriter { inner, hasher, bytes } = out;
    let file = inner.into_inner().map_err(|e| io(path, e.error()))?;
    file.sync_all().map_err(|e| io(path, e))?;
    Ok((leaves, hex::encode(hasher.finalize()), bytes))
}

/// Reads the written file back: every event in place with the leaf it was written with.
fn check_file(path: &Path, leaves: &[(u64, Hash)]) -> Result<()> {
    let mut reader = ArchiveReader::open(File::open(path).map_err(|e| io(path, e))?)?;
    let mut expected = leaves.iter();
    while let Some(stored) = reader.next_event()? {
        let ok = expected.next().is_some_and(|(seq, leaf)| *seq == stored.event.seq && *leaf == stored.leaf_hash)
            && stored.event.leaf_hash() == stored.leaf_hash;
        if !ok {
            return Err(io(path, format!("event {} did not read back as written", stored.event.seq)));
        }
    }
    if expected.next().is_some() {
        return Err(io(path, "the file ends early"));
    }
    Ok(())
}

async fn commit(
    store: &Store,
    record: &ArchiveRecord,
    leaves: &[(u64, Hash)],
    now: DateTime<Utc>,
    ctx: &AuditContext,
) -> Result<()> {
    let mut tx = store.begin_write(now).await?;
    sqlx::query(
        "INSERT INTO audit_archives (first_seq, end_seq, file, sha256, bytes, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(bind(record.first_seq))
    .bind(bind(record.end_seq))
    .bind(&record.file)
    .bind(&record.sha256)
    .bind(bind(record.bytes))
    .bind(&record.created_at)
    .execute(tx.conn())
    .await
    .map_err(|e| StoreError::conflict_or(e, "an archive of these events"))?;
    for chunk in leaves.chunks(LEAF_ROWS) {
        let sql =
            format!("INSERT INTO audit_archived_leaves (seq, leaf_hash) VALUES {}", crate::value_rows(chunk.len(), 2));
        let mut q = sqlx::query(&sql);
        for (seq, leaf) in chunk {
            q = q.bind(bind(*seq)).bind(leaf.to_string());
        }
        q.execute(tx.conn()).await?;
    }
    // The database's own triggers refuse this for any event younger than the retention period
    // or whose leaf was not kept above.
    let deleted = sqlx::query("DELETE FROM audit_events WHERE seq >= $1 AND seq < $2")
        .bind(bind(record.first_seq))
        .bind(bind(record.end_seq))
        .execute(tx.conn())
        .await?
        .rows_affected();
    if deleted != record.end_seq - record.first_seq {
        return Err(StoreError::Corrupt(format!(
            "archiving {}..{} removed {deleted} rows; run `shuyu audit verify`",
            record.first_seq, record.end_seq
        )));
    }
    tx.audit(
        ctx,
        "audit.archived",
        &format!("audit_archive:{}", record.first_seq),
        Outcome::Success,
        json!({ "first": record.first_seq, "end": record.end_seq, "file": record.file,
                "sha256": record.sha256, "bytes": record.bytes, "basis": "YXO §19" }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The archive directory a data directory uses by default.
pub fn default_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("audit-archive")
}
