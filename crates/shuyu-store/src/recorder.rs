//! Group commit for records that change no state: metered interface calls and their audit
//! events. One writer drains whatever is queued into one transaction, commits once and
//! acknowledges every caller after the commit, so a call's answer is released only once its
//! audit event is durable, and many concurrent calls share one commit instead of queueing for
//! one each.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use shuyu_audit::Outcome;
use tokio::sync::{mpsc, oneshot};

use crate::products::{self, CallRecord};
use crate::tx::EventDraft;
use crate::{AuditContext, Result, Store, StoreError};

/// The most records one transaction takes.
const MAX_BATCH: usize = 512;

/// One record: an audit event, with the metered call it describes.
#[derive(Debug)]
pub struct Record {
    pub ctx: AuditContext,
    pub action: &'static str,
    pub resource: String,
    pub outcome: Outcome,
    pub details: serde_json::Value,
    pub call: Option<CallRecord>,
}

struct Job {
    record: Record,
    done: oneshot::Sender<Result<u64>>,
}

/// The handle requests record through; cloning it shares the one writer.
#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recorder")
    }
}

type Now = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

impl Recorder {
    /// Starts the writer task; it ends when every handle is dropped.
    pub fn start(store: Store, now: Now) -> Self {
        let (queue, rx) = mpsc::channel(8 * MAX_BATCH);
        tokio::spawn(writer(store, now, rx));
        Self { queue }
    }

    /// Records and waits for the commit; returns the audit event's sequence number.
    pub async fn record(&self, record: Record) -> Result<u64> {
        let (done, wait) = oneshot::channel();
        self.queue
            .send(Job { record, done })
            .await
            .map_err(|_| StoreError::Batch("the recorder has stopped".into()))?;
        wait.await.map_err(|_| StoreError::Batch("the recorder has stopped".into()))?
    }
}

async fn writer(store: Store, now: Now, mut rx: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        match write(&store, now(), &batch).await {
            Ok(seqs) => {
                for (job, seq) in batch.drain(..).zip(seqs) {
                    let _ = job.done.send(Ok(seq));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for job in batch.drain(..) {
                    let _ = job.done.send(Err(StoreError::Batch(msg.clone())));
                }
            }
        }
    }
}

async fn write(store: &Store, now: DateTime<Utc>, batch: &[Job]) -> Result<Vec<u64>> {
    let mut tx = store.begin_write(now).await?;
    let calls: Vec<&products::CallRecord> = batch.iter().filter_map(|j| j.record.call.as_ref()).collect();
    products::insert_calls(tx.conn(), &calls).await?;
    let drafts: Vec<EventDraft<'_>> = batch
        .iter()
        .map(|j| EventDraft {
            ctx: &j.record.ctx,
            action: j.record.action,
            resource: &j.record.resource,
            outcome: j.record.outcome,
            details: &j.record.details,
        })
        .collect();
    let seqs = tx.audit_many(&drafts).await?;
    tx.commit_records().await?;
    Ok(seqs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn concurrent_records_share_commits_and_all_land_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
        let rec = Recorder::start(store.clone(), Arc::new(Utc::now));
        let mut tasks = Vec::new();
        for i in 0..500 {
            let rec = rec.clone();
            tasks.push(tokio::spawn(async move {
                rec.record(Record {
                    ctx: AuditContext::system("t"),
                    action: "interface.call",
                    resource: format!("product:{i}"),
                    outcome: Outcome::Success,
                    details: serde_json::json!({ "i": i }),
                    call: None,
                })
                .await
                .unwrap()
            }));
        }
        let mut seqs = Vec::new();
        for t in tasks {
            seqs.push(t.await.unwrap());
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (0..500).collect::<Vec<u64>>(), "every record got its own sequence number");
        let mut conn = store.acquire().await.unwrap();
        assert_eq!(crate::audit::head_size(&mut conn).await.unwrap(), 500);
        assert_eq!(store.changes(), 0, "records do not invalidate caches of state");
        // Each stored row hashes to its leaf exactly as the verifier recomputes it.
        let mut snap = store.audit_snapshot().await.unwrap();
        for row in snap.batch(0, 1000).await.unwrap() {
            let e = row.unwrap();
            assert_eq!(e.leaf_hash, shuyu_audit::leaf_hash(&e.event.canonical_bytes()), "event {}", e.event.seq);
        }
    }
}
