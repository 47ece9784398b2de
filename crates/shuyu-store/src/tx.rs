//! The write transaction: a state change and its audit events commit together or not at all.

use chrono::{DateTime, Utc};
use shuyu_audit::{leaf_hash, AuditEvent, Outcome};
use shuyu_core::clock::format_instant;
use sqlx::{Any, AnyConnection, Transaction};
use tokio::sync::OwnedMutexGuard;

use crate::{int, Result, Store, StoreError};

/// One event for [`WriteTx::audit_many`].
#[derive(Debug, Clone)]
pub struct EventDraft<'a> {
    pub ctx: &'a AuditContext,
    pub action: &'a str,
    pub resource: &'a str,
    pub outcome: Outcome,
    pub details: &'a serde_json::Value,
}

/// The audit row's columns, in the order every insert binds them.
pub(crate) const AUDIT_COLUMNS: &str =
    "seq, time, actor, organisation, action, resource, outcome, request_id, client_addr, details, leaf_hash";
/// How many [`AUDIT_COLUMNS`] there are: the values bound per audit row.
pub(crate) const AUDIT_COLUMN_COUNT: usize = 11;

/// The event a draft becomes at sequence number `seq`, with its leaf hash: exactly what the
/// verifier recomputes from the stored row.
pub(crate) fn stage_event(seq: i64, now: DateTime<Utc>, d: &EventDraft<'_>) -> Result<(AuditEvent, shuyu_audit::Hash)> {
    let seq = u64::try_from(seq).map_err(|_| StoreError::Corrupt("negative audit size".into()))?;
    let event = AuditEvent {
        seq,
        time: now,
        actor: d.ctx.actor.clone(),
        organisation: d.ctx.organisation.clone(),
        action: d.action.to_string(),
        resource: d.resource.to_string(),
        outcome: d.outcome,
        request_id: d.ctx.request_id.clone(),
        client_addr: d.ctx.client_addr.clone(),
        details: d.details.clone(),
    };
    let hash = leaf_hash(&event.canonical_bytes());
    Ok((event, hash))
}

/// Who did something, and over which request: copied into every audit event.
#[derive(Debug, Clone, Default)]
pub struct AuditContext {
    pub actor: String,
    pub organisation: String,
    pub request_id: String,
    pub client_addr: String,
}

impl AuditContext {
    /// Background work (the deadline scheduler, start-up) acts as `system`.
    pub fn system(request_id: impl Into<String>) -> Self {
        Self {
            actor: "system".into(),
            organisation: String::new(),
            request_id: request_id.into(),
            client_addr: String::new(),
        }
    }
}

pub struct WriteTx {
    tx: Transaction<'static, Any>,
    _gate: Option<OwnedMutexGuard<()>>,
    now: DateTime<Utc>,
    start: i64,
    next: i64,
    changes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for WriteTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTx").field("start", &self.start).field("next", &self.next).finish()
    }
}

impl Store {
    /// Starts a write transaction at time `now`. The first statement takes the audit head row,
    /// so writers queue here and audit sequence numbers are committed in order.
    pub async fn begin_write(&self, now: DateTime<Utc>) -> Result<WriteTx> {
        let gate = match &self.write_gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        };
        let mut tx = self.pool.begin().await?;
        let row =
            sqlx::query("UPDATE audit_head SET size = size WHERE id = 1 RETURNING size").fetch_one(&mut *tx).await?;
        let size = int(&row, "size")?;
        Ok(WriteTx { tx, _gate: gate, now, start: size, next: size, changes: self.changes.clone() })
    }

    /// Records one event on its own, e.g. a refused request or a read of personal data.
    pub async fn record(
        &self,
        now: DateTime<Utc>,
        ctx: &AuditContext,
        action: &str,
        resource: &str,
        outcome: Outcome,
        details: serde_json::Value,
    ) -> Result<u64> {
        let mut tx = self.begin_write(now).await?;
        let seq = tx.audit(ctx, action, resource, outcome, details).await?;
        tx.commit().await?;
        Ok(seq)
    }
}

impl WriteTx {
    /// The connection to run the state change's own statements on.
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Appends an audit event to this transaction; returns its sequence number.
    pub async fn audit(
        &mut self,
        ctx: &AuditContext,
        action: &str,
        resource: &str,
        outcome: Outcome,
        details: serde_json::Value,
    ) -> Result<u64> {
        let draft = EventDraft { ctx, action, resource, outcome, details: &details };
        let (event, hash) = stage_event(self.next, self.now, &draft)?;
        let seq = event.seq;
        sqlx::query(
            "INSERT INTO audit_events (seq, time, actor, organisation, action, resource, outcome, \
             request_id, client_addr, details, leaf_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(self.next)
        .bind(format_instant(event.time))
        .bind(&event.actor)
        .bind(&event.organisation)
        .bind(&event.action)
        .bind(&event.resource)
        .bind(event.outcome.as_str())
        .bind(&event.request_id)
        .bind(&event.client_addr)
        .bind(event.details.to_string())
        .bind(hash.to_string())
        .execute(&mut *self.tx)
        .await?;
        self.next += 1;
        Ok(seq)
    }

    /// Appends many events with multi-row inserts (the recorder's group commit); returns their
    /// sequence numbers in order. The events are exactly what [`WriteTx::audit`] would write.
    pub async fn audit_many(&mut self, events: &[EventDraft<'_>]) -> Result<Vec<u64>> {
        // Well under SQLite's and PostgreSQL's limits on bound values per statement.
        const ROWS: usize = 256;
        let mut seqs = Vec::with_capacity(events.len());
        for chunk in events.chunks(ROWS) {
            let sql = format!(
                "INSERT INTO audit_events ({AUDIT_COLUMNS}) VALUES {}",
                crate::value_rows(chunk.len(), AUDIT_COLUMN_COUNT)
            );
            let mut rows = Vec::with_capacity(chunk.len());
            for d in chunk {
                let (event, hash) = stage_event(self.next, self.now, d)?;
                let seq = event.seq;
                rows.push((self.next, event, hash));
                seqs.push(seq);
                self.next += 1;
            }
            let mut q = sqlx::query(&sql);
            for (n, event, hash) in &rows {
                q = q
                    .bind(*n)
                    .bind(format_instant(event.time))
                    .bind(event.actor.clone())
                    .bind(event.organisation.clone())
                    .bind(event.action.clone())
                    .bind(event.resource.clone())
                    .bind(event.outcome.as_str())
                    .bind(event.request_id.clone())
                    .bind(event.client_addr.clone())
                    .bind(event.details.to_string())
                    .bind(hash.to_string());
            }
            q.execute(&mut *self.tx).await?;
        }
        Ok(seqs)
    }

    /// Commits the change with its events. A change without an event is refused: nothing may
    /// change unseen.
    pub async fn commit(self) -> Result<std::ops::Range<u64>> {
        let changes = self.changes.clone();
        let range = self.commit_records().await?;
        changes.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Ok(range)
    }

    /// Commits events that record what happened without changing any state (metered calls,
    /// reads): caches of state stay valid.
    pub async fn commit_records(mut self) -> Result<std::ops::Range<u64>> {
        if self.next == self.start {
            return Err(StoreError::Unaudited);
        }
        sqlx::query("UPDATE audit_head SET size = $1 WHERE id = 1").bind(self.next).execute(&mut *self.tx).await?;
        self.tx.commit().await?;
        let start = u64::try_from(self.start).unwrap_or_default();
        let end = u64::try_from(self.next).unwrap_or_default();
        Ok(start..end)
    }
}
