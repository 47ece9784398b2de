//! The audit log's rows and tree heads, and the [`Ledger`]: an in-memory copy of the Merkle
//! tree over the committed events, from which tree heads and proofs are served in microseconds.

use chrono::{DateTime, Utc};
use shuyu_audit::{AuditEvent, Hash, MerkleTree, SignedTreeHead, StoredEvent, TreeHead, TreeSigner};
use shuyu_core::clock::{format_instant, parse_instant};
use sqlx::AnyConnection;
use tokio::sync::Mutex;

use crate::{int, text, PlainRow, Result, Store, StoreError};

/// Search criteria for the audit query API; all given criteria must match.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub actor: Option<String>,
    pub organisation: Option<String>,
    pub resource: Option<String>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Keyset pagination: only events with a larger sequence number.
    pub after_seq: Option<u64>,
    pub limit: u32,
}

fn seq_of<R: PlainRow>(row: &R) -> Result<u64> {
    u64::try_from(int(row, "seq")?).map_err(|_| StoreError::Corrupt("negative audit seq".into()))
}

fn hash_of<R: PlainRow>(row: &R, col: &str) -> Result<Hash> {
    text(row, col)?.parse().map_err(|_| StoreError::Corrupt(format!("audit {col} is not a SHA-256 hex digest")))
}

fn event_from_row<R: PlainRow>(row: &R) -> Result<StoredEvent> {
    let seq = seq_of(row)?;
    let time_text = text(row, "time")?;
    // A row whose fields no longer parse was altered; the verifier reports it by its number.
    let time = parse_instant(&time_text)
        .ok_or_else(|| StoreError::Corrupt(format!("event {seq}: time {time_text:?} is not RFC 3339")))?;
    let details_text = text(row, "details")?;
    let details = serde_json::from_str(&details_text)
        .map_err(|_| StoreError::Corrupt(format!("event {seq}: details are not JSON")))?;
    let outcome_text = text(row, "outcome")?;
    let outcome = outcome_text
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("event {seq}: unknown outcome {outcome_text:?}")))?;
    Ok(StoredEvent {
        event: AuditEvent {
            seq,
            time,
            actor: text(row, "actor")?,
            organisation: text(row, "organisation")?,
            action: text(row, "action")?,
            resource: text(row, "resource")?,
            outcome,
            request_id: text(row, "request_id")?,
            client_addr: text(row, "client_addr")?,
            details,
        },
        leaf_hash: hash_of(row, "leaf_hash")?,
    })
}

pub async fn query(conn: &mut AnyConnection, filter: &EventFilter) -> Result<Vec<StoredEvent>> {
    let mut sql = String::from("SELECT * FROM audit_events WHERE 1 = 1");
    let mut binds: Vec<String> = Vec::new();
    let mut add = |sql: &mut String, clause: &str, value: String| {
        binds.push(value);
        sql.push_str(&format!(" AND {clause} ${}", binds.len()));
    };
    if let Some(v) = &filter.actor {
        add(&mut sql, "actor =", v.clone());
    }
    if let Some(v) = &filter.organisation {
        add(&mut sql, "organisation =", v.clone());
    }
    if let Some(v) = &filter.resource {
        add(&mut sql, "resource =", v.clone());
    }
    if let Some(v) = &filter.action {
        add(&mut sql, "action =", v.clone());
    }
    if let Some(v) = filter.from {
        add(&mut sql, "time >=", format_instant(v));
    }
    if let Some(v) = filter.to {
        add(&mut sql, "time <", format_instant(v));
    }
    let after = filter.after_seq.map(|s| i64::try_from(s).unwrap_or(i64::MAX));
    if after.is_some() {
        sql.push_str(&format!(" AND seq > ${}", binds.len() + 1));
    }
    sql.push_str(&format!(" ORDER BY seq LIMIT {}", filter.limit.clamp(1, 1000)));
    let mut q = sqlx::query(&sql);
    for b in &binds {
        q = q.bind(b.clone());
    }
    if let Some(after) = after {
        q = q.bind(after);
    }
    let rows = q.fetch_all(conn).await?;
    rows.iter().map(event_from_row).collect()
}

pub async fn get(conn: &mut AnyConnection, seq: u64) -> Result<Option<StoredEvent>> {
    let row = sqlx::query("SELECT * FROM audit_events WHERE seq = $1")
        .bind(i64::try_from(seq).unwrap_or(i64::MAX))
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(event_from_row).transpose()
}

/// The committed event count, from the head row every writer updates.
pub async fn head_size(conn: &mut AnyConnection) -> Result<u64> {
    let row = sqlx::query("SELECT size FROM audit_head WHERE id = 1").fetch_one(conn).await?;
    u64::try_from(int(&row, "size")?).map_err(|_| StoreError::Corrupt("negative audit size".into()))
}

const LEAF_HASHES: &str = "SELECT seq, leaf_hash FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2";
const ARCHIVED_LEAVES: &str = "SELECT seq, leaf_hash FROM audit_archived_leaves WHERE seq >= $1 ORDER BY seq LIMIT $2";
const BATCH: &str = "SELECT * FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2";
const HEAD_SIZE: &str = "SELECT size FROM audit_head WHERE id = 1";
const TREE_HEADS: &str = "SELECT * FROM audit_tree_heads ORDER BY size";

fn seq_bind(from: u64) -> i64 {
    i64::try_from(from).unwrap_or(i64::MAX)
}

/// Leaf hashes from `from` in order: archived events' from the leaves kept for them, then the
/// events still in the log.
async fn leaf_hashes(store: &Store, from: u64, limit: u32) -> Result<Vec<(u64, Hash)>> {
    let mut out = leaves_of(store, ARCHIVED_LEAVES, from, limit).await?;
    let next = out.last().map_or(from, |(seq, _)| seq + 1);
    let left = limit.saturating_sub(u32::try_from(out.len()).unwrap_or(u32::MAX));
    if left > 0 {
        out.extend(leaves_of(store, LEAF_HASHES, next, left).await?);
    }
    Ok(out)
}

async fn leaves_of(store: &Store, sql: &'static str, from: u64, limit: u32) -> Result<Vec<(u64, Hash)>> {
    if let Some(conn) = store.open_sqlite_reader()? {
        return tokio::task::spawn_blocking(move || {
            sqlite_rows(&conn, sql, (seq_bind(from), i64::from(limit)), |r| leaf_of(r))?.into_iter().collect()
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("reader task failed: {e}")))?;
    }
    let rows = sqlx::query(sql).bind(seq_bind(from)).bind(i64::from(limit)).fetch_all(store.pool()).await?;
    rows.iter().map(leaf_of).collect()
}

fn leaf_of<R: PlainRow>(row: &R) -> Result<(u64, Hash)> {
    Ok((seq_of(row)?, hash_of(row, "leaf_hash")?))
}

/// Committed events from sequence number `from`, in order, for readers that follow the log
/// (the monitor). On SQLite it reads through its own connection, off the writers' pool.
pub async fn events_from(store: &Store, from: u64, limit: u32) -> Result<Vec<StoredEvent>> {
    if let Some(conn) = store.open_sqlite_reader()? {
        return tokio::task::spawn_blocking(move || {
            sqlite_rows(&conn, BATCH, (seq_bind(from), i64::from(limit)), |r| event_from_row(r))?.into_iter().collect()
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("reader task failed: {e}")))?;
    }
    let rows = sqlx::query(BATCH).bind(seq_bind(from)).bind(i64::from(limit)).fetch_all(store.pool()).await?;
    rows.iter().map(event_from_row).collect()
}

/// Events by sequence number (missing numbers are skipped), for an alert's evidence.
pub async fn events_by_seq(conn: &mut AnyConnection, seqs: &[u64]) -> Result<Vec<StoredEvent>> {
    let mut out = Vec::with_capacity(seqs.len());
    for chunk in seqs.chunks(200) {
        let list: Vec<String> = chunk.iter().map(|s| seq_bind(*s).to_string()).collect();
        // Integers formatted by us, not user text: safe to inline.
        let sql = format!("SELECT * FROM audit_events WHERE seq IN ({}) ORDER BY seq", list.join(","));
        for row in sqlx::query(&sql).fetch_all(&mut *conn).await? {
            out.push(event_from_row(&row)?);
        }
    }
    Ok(out)
}

/// One consistent read of the whole audit log (a single snapshot) for `shuyu audit verify`: the
/// head counter and the rows agree even while a server keeps writing. On SQLite it reads the
/// file directly with rusqlite (synchronously: this is for the offline verifier, not for
/// request handlers).
pub enum AuditSnapshot {
    Sqlite(rusqlite::Connection),
    Any(sqlx::Transaction<'static, sqlx::Any>),
}

impl Store {
    pub async fn audit_snapshot(&self) -> Result<AuditSnapshot> {
        match self.open_sqlite_reader()? {
            Some(conn) => {
                // The first read inside BEGIN fixes the snapshot for the rest of the reads.
                conn.execute_batch("BEGIN")?;
                Ok(AuditSnapshot::Sqlite(conn))
            }
            None => {
                let mut tx = self.pool().begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(&mut *tx).await?;
                Ok(AuditSnapshot::Any(tx))
            }
        }
    }
}

fn sqlite_rows<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
    mut each: impl FnMut(&rusqlite::Row<'_>) -> T,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare(&sql.replace('$', "?"))?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(each(r));
    }
    Ok(out)
}

impl AuditSnapshot {
    pub async fn head_size(&mut self) -> Result<u64> {
        let size =
            match self {
                AuditSnapshot::Sqlite(conn) => sqlite_rows(conn, HEAD_SIZE, (), |r| int(r, "size"))?
                    .into_iter()
                    .next()
                    .ok_or_else(|| StoreError::Corrupt("the audit head row is missing".into()))??,
                AuditSnapshot::Any(tx) => int(&sqlx::query(HEAD_SIZE).fetch_one(&mut **tx).await?, "size")?,
            };
        u64::try_from(size).map_err(|_| StoreError::Corrupt("negative audit size".into()))
    }

    pub async fn tree_heads(&mut self) -> Result<Vec<SignedTreeHead>> {
        match self {
            AuditSnapshot::Sqlite(conn) => {
                sqlite_rows(conn, TREE_HEADS, (), |r| tree_head_from_row(r))?.into_iter().collect()
            }
            AuditSnapshot::Any(tx) => {
                sqlx::query(TREE_HEADS).fetch_all(&mut **tx).await?.iter().map(tree_head_from_row).collect()
            }
        }
    }

    /// Every archive the database records, oldest first.
    pub async fn archives(&mut self) -> Result<Vec<crate::audit_archive::ArchiveRecord>> {
        use crate::audit_archive::{archive_from_row, ARCHIVES};
        match self {
            AuditSnapshot::Sqlite(conn) => {
                sqlite_rows(conn, ARCHIVES, (), |r| archive_from_row(r))?.into_iter().collect()
            }
            AuditSnapshot::Any(tx) => {
                sqlx::query(ARCHIVES).fetch_all(&mut **tx).await?.iter().map(archive_from_row).collect()
            }
        }
    }

    /// Archived events' kept leaf hashes in sequence order from `from`.
    pub async fn archived_leaves(&mut self, from: u64, limit: u32) -> Result<Vec<(u64, Hash)>> {
        match self {
            AuditSnapshot::Sqlite(conn) => {
                sqlite_rows(conn, ARCHIVED_LEAVES, (seq_bind(from), i64::from(limit)), |r| leaf_of(r))?
                    .into_iter()
                    .collect()
            }
            AuditSnapshot::Any(tx) => sqlx::query(ARCHIVED_LEAVES)
                .bind(seq_bind(from))
                .bind(i64::from(limit))
                .fetch_all(&mut **tx)
                .await?
                .iter()
                .map(leaf_of)
                .collect(),
        }
    }

    /// Rows in sequence order from `from`; rows that no longer parse are errors naming their
    /// sequence number.
    pub async fn batch(&mut self, from: u64, limit: u32) -> Result<Vec<Result<StoredEvent>>> {
        match self {
            AuditSnapshot::Sqlite(conn) => {
                sqlite_rows(conn, BATCH, (seq_bind(from), i64::from(limit)), |r| event_from_row(r))
            }
            AuditSnapshot::Any(tx) => {
                let rows = sqlx::query(BATCH).bind(seq_bind(from)).bind(i64::from(limit)).fetch_all(&mut **tx).await?;
                Ok(rows.iter().map(event_from_row).collect())
            }
        }
    }
}

pub(crate) fn tree_head_from_row<R: PlainRow>(row: &R) -> Result<SignedTreeHead> {
    let size = u64::try_from(int(row, "size")?).map_err(|_| StoreError::Corrupt("tree head size".into()))?;
    let timestamp = parse_instant(&text(row, "timestamp")?)
        .ok_or_else(|| StoreError::Corrupt(format!("tree head {size}: timestamp")))?;
    let signature = text(row, "signature")?;
    SignedTreeHead::from_parts(TreeHead { size, root: hash_of(row, "root")?, timestamp }, &signature)
        .map_err(|e| StoreError::Corrupt(format!("tree head {size}: {e}")))
}

pub async fn latest_tree_head(conn: &mut AnyConnection) -> Result<Option<SignedTreeHead>> {
    let row = sqlx::query("SELECT * FROM audit_tree_heads ORDER BY size DESC LIMIT 1").fetch_optional(conn).await?;
    row.as_ref().map(tree_head_from_row).transpose()
}

/// The in-memory Merkle tree of committed events. It only ever catches up with the database
/// (events are read in sequence order), so it can be shared by every request and rebuilt from
/// the database at any time.
#[derive(Debug, Default)]
pub struct Ledger {
    tree: Mutex<MerkleTree>,
}

const SYNC_BATCH: u32 = 50_000;

impl Ledger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads events committed since the last sync; returns the tree size.
    pub async fn sync(&self, store: &Store) -> Result<u64> {
        let mut tree = self.tree.lock().await;
        loop {
            let from = tree.size();
            let hashes = leaf_hashes(store, from, SYNC_BATCH).await?;
            let got = hashes.len();
            for (seq, hash) in hashes {
                if seq != tree.size() {
                    return Err(StoreError::Corrupt(format!(
                        "audit event {} is missing; run `shuyu audit verify`",
                        tree.size()
                    )));
                }
                tree.append(hash);
            }
            if got < SYNC_BATCH as usize {
                return Ok(tree.size());
            }
        }
    }

    pub async fn size(&self) -> u64 {
        self.tree.lock().await.size()
    }

    pub async fn inclusion_proof(&self, index: u64, tree_size: u64) -> Result<(Hash, Vec<Hash>, Hash)> {
        let tree = self.tree.lock().await;
        let leaf = tree.leaf(index)?;
        let proof = tree.inclusion_proof(index, tree_size)?;
        let root = tree.root_at(tree_size)?;
        Ok((leaf, proof, root))
    }

    pub async fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>> {
        Ok(self.tree.lock().await.consistency_proof(first, second)?)
    }

    pub async fn root_at(&self, size: u64) -> Result<Hash> {
        Ok(self.tree.lock().await.root_at(size)?)
    }

    /// Signs the current tree head and stores it, unless one at this size already exists.
    pub async fn issue_tree_head(
        &self,
        store: &Store,
        signer: &TreeSigner,
        now: DateTime<Utc>,
    ) -> Result<SignedTreeHead> {
        self.sync(store).await?;
        let tree = self.tree.lock().await;
        let mut conn = store.pool().acquire().await?;
        if let Some(latest) = latest_tree_head(&mut conn).await? {
            if latest.head.size == tree.size() {
                return Ok(latest);
            }
        }
        let sth = signer.sign(&TreeHead { size: tree.size(), root: tree.root(), timestamp: now });
        sqlx::query(
            "INSERT INTO audit_tree_heads (size, root, timestamp, signature) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (size) DO NOTHING",
        )
        .bind(i64::try_from(sth.head.size).unwrap_or(i64::MAX))
        .bind(sth.head.root.to_string())
        .bind(format_instant(sth.head.timestamp))
        .bind(sth.signature_base64())
        .execute(&mut *conn)
        .await?;
        Ok(sth)
    }
}
