//! Group commit for the hot paths: sign-ins, metered interface calls and events that change no
//! state. Requests queue their change; one writer takes everything queued into one
//! transaction, runs each change inside a savepoint of its own (so a change that fails undoes
//! only itself and its caller alone hears why), appends every event, commits once and only then
//! answers the callers. An answer is therefore never released before its audit event is
//! durable, and many requests share one commit instead of queueing for one each.
//!
//! On SQLite the writer is a thread with a rusqlite connection of its own: a prepared statement
//! there costs microseconds, against tens through sqlx's worker hop, and that is what lets one
//! file take tens of thousands of audited changes a second. It takes the store's write gate, so
//! it and ordinary [`crate::WriteTx`]s take turns. On PostgreSQL the writer is a task on the
//! pool and uses the same [`crate::WriteTx`] as every other change.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, OptionalExtension};
use serde_json::Value;
use shuyu_audit::{AuditEvent, Hash, Outcome};
use shuyu_core::clock::format_instant;
use shuyu_core::ids::UserId;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::products::{self, CallRecord};
use crate::tx::{stage_event, EventDraft, AUDIT_COLUMNS, AUDIT_COLUMN_COUNT};
use crate::{sessions, to_json, users, AuditContext, Result, Store, StoreError};

/// The most changes one transaction takes.
pub const MAX_BATCH: usize = 512;

/// What a record changes besides appending its audit event.
#[derive(Debug)]
pub enum Change {
    /// Nothing: the event records a refusal or a read.
    None,
    /// A metered interface call.
    Call(Box<CallRecord>),
    /// A failed sign-in: counts it and, at `lock_after` failures in a row, locks the account for
    /// `lock_for` and starts the count again. The event's details gain `failures` and `locked`.
    SignInFailed { user: UserId, lock_after: i64, lock_for: Duration },
    /// A sign-in: clears the failure count and opens a session (only the token's hash is kept).
    SignIn { user: UserId, token_hash: String, expires_at: DateTime<Utc> },
}

impl Change {
    /// Whether committing it changes state that caches depend on.
    fn changes_state(&self) -> bool {
        matches!(self, Change::SignInFailed { .. } | Change::SignIn { .. })
    }
}

/// One change and the audit event that records it.
#[derive(Debug)]
pub struct Record {
    pub ctx: AuditContext,
    pub action: &'static str,
    pub resource: String,
    pub outcome: Outcome,
    pub details: Value,
    pub change: Change,
}

/// What a committed change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Recorded,
    /// The failure count after this failure, and the lock it caused, if any.
    SignInFailed {
        failures: i64,
        locked_until: Option<DateTime<Utc>>,
    },
    SignedIn,
}

impl Effect {
    /// The event's details: the caller's, plus what only the transaction could know.
    fn details(&self, given: &Value) -> Value {
        match self {
            Effect::SignInFailed { failures, locked_until } => {
                let mut map = match given {
                    Value::Object(m) => m.clone(),
                    Value::Null => serde_json::Map::new(),
                    other => {
                        let mut m = serde_json::Map::new();
                        m.insert("given".into(), other.clone());
                        m
                    }
                };
                map.insert("failures".into(), Value::from(*failures));
                map.insert("locked".into(), Value::from(locked_until.is_some()));
                Value::Object(map)
            }
            Effect::Recorded | Effect::SignedIn => given.clone(),
        }
    }
}

/// A committed record: its audit event's sequence number and what it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    pub seq: u64,
    pub effect: Effect,
}

/// The failure count to store, the count to report and the lock, after one more failure.
fn failed_sign_in(
    current: i64,
    lock_after: i64,
    lock_for: Duration,
    now: DateTime<Utc>,
) -> (i64, i64, Option<DateTime<Utc>>) {
    let failures = current.saturating_add(1);
    if failures >= lock_after {
        (0, failures, Some(now + lock_for))
    } else {
        (failures, failures, None)
    }
}

struct Job {
    record: Record,
    done: oneshot::Sender<Result<Committed>>,
}

/// The handle requests record through; cloning it shares the one writer.
#[derive(Clone)]
pub struct GroupWriter {
    queue: mpsc::Sender<Job>,
    stats: Arc<Stats>,
}

/// What the writer has done: for `/metrics` and the benchmark.
#[derive(Debug, Default)]
pub struct Stats {
    /// Transactions committed (or failed as a whole).
    pub batches: AtomicU64,
    /// Records in them.
    pub records: AtomicU64,
    /// Nanoseconds spent in transactions.
    pub busy_ns: AtomicU64,
}

impl Stats {
    fn count(&self, records: usize, started: std::time::Instant) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.records.fetch_add(records as u64, Ordering::Relaxed);
        let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.busy_ns.fetch_add(ns, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for GroupWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupWriter")
    }
}

/// The time a batch is committed at (the server's clock, which tests can move).
pub type Now = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

impl GroupWriter {
    /// Starts the writer; it ends when every handle is dropped.
    pub fn start(store: Store, now: Now) -> Result<Self> {
        let (queue, rx) = mpsc::channel(8 * MAX_BATCH);
        let stats = Arc::new(Stats::default());
        match (&store.sqlite_file, &store.write_gate) {
            (Some(path), Some(gate)) => {
                let (checkpoints, stop) = std::sync::mpsc::sync_channel(1);
                let at = path.clone();
                std::thread::Builder::new()
                    .name("shuyu-checkpoint".into())
                    .spawn(move || checkpointer(at, stop))
                    .map_err(|e| StoreError::Batch(format!("cannot start the checkpointer thread: {e}")))?;
                let writer = SqliteWriter {
                    _checkpoints: checkpoints,
                    path: path.clone(),
                    gate: gate.clone(),
                    changes: store.changes.clone(),
                    now,
                    conn: None,
                    stats: stats.clone(),
                };
                std::thread::Builder::new()
                    .name("shuyu-group-writer".into())
                    .spawn(move || writer.run(rx))
                    .map_err(|e| StoreError::Batch(format!("cannot start the writer thread: {e}")))?;
            }
            _ => {
                tokio::spawn(postgres_writer(store, now, rx, stats.clone()));
            }
        }
        Ok(Self { queue, stats })
    }

    /// Batches, records and time in transactions so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Queues the record and waits for its commit.
    pub async fn record(&self, record: Record) -> Result<Committed> {
        let (done, wait) = oneshot::channel();
        self.queue.send(Job { record, done }).await.map_err(|_| StoreError::Batch("the writer has stopped".into()))?;
        wait.await.map_err(|_| StoreError::Batch("the writer has stopped".into()))?
    }
}

/// Answers every job: with its own result, or with the batch's failure.
fn answer(batch: &mut Vec<Job>, results: Result<Vec<Result<Committed>>>) {
    match results {
        Ok(each) => {
            for (job, r) in batch.drain(..).zip(each) {
                let _ = job.done.send(r);
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

fn take_batch(first: Job, rx: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>) {
    batch.push(first);
    drain(rx, batch);
}

/// Moves whatever is queued into the batch, up to [`MAX_BATCH`], without waiting.
fn drain(rx: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(j) => batch.push(j),
            Err(_) => break,
        }
    }
}

/// The longest the SQLite writer waits for more changes before it commits.
const LINGER: std::time::Duration = std::time::Duration::from_micros(500);

/// When the last batch had several callers, waits (at most [`LINGER`]) for about as many again
/// before committing. Without this, the writer wakes for the first caller it answered, commits
/// a handful, and a transaction's fixed cost (locks, the head row, index pages written to the
/// WAL) is paid per handful instead of per hundreds. A lone caller never waits.
fn linger(rx: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>, last: usize) {
    let want = last.min(MAX_BATCH);
    if want <= 1 {
        return;
    }
    let deadline = std::time::Instant::now() + LINGER;
    while batch.len() < want && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_micros(50));
        drain(rx, batch);
    }
}

/// A job's event once its change has been applied.
struct Staged {
    event: AuditEvent,
    hash: Hash,
}

fn stage(next: i64, now: DateTime<Utc>, r: &Record, effect: Effect) -> Result<Staged> {
    let details = effect.details(&r.details);
    let draft =
        EventDraft { ctx: &r.ctx, action: r.action, resource: &r.resource, outcome: r.outcome, details: &details };
    let (event, hash) = stage_event(next, now, &draft)?;
    Ok(Staged { event, hash })
}

// --- SQLite ---------------------------------------------------------------------------------

/// Audit rows per multi-row insert statement; the rest go one by one.
const EVENT_ROWS: usize = 64;

/// The writer's inserts, built once: a metered call, and audit rows by [`EVENT_ROWS`] and by one.
static INSERT_CALL: LazyLock<String> = LazyLock::new(|| {
    format!("INSERT INTO interface_calls ({}) VALUES {}", products::CALL_COLUMNS, products::CALL_MARKS)
});
static INSERT_EVENTS: LazyLock<String> = LazyLock::new(|| {
    format!("INSERT INTO audit_events ({AUDIT_COLUMNS}) VALUES {}", crate::value_rows(EVENT_ROWS, AUDIT_COLUMN_COUNT))
});
static INSERT_EVENT: LazyLock<String> = LazyLock::new(|| {
    format!("INSERT INTO audit_events ({AUDIT_COLUMNS}) VALUES {}", crate::value_rows(1, AUDIT_COLUMN_COUNT))
});

struct SqliteWriter {
    path: PathBuf,
    gate: Arc<Mutex<()>>,
    changes: Arc<AtomicU64>,
    now: Now,
    conn: Option<rusqlite::Connection>,
    stats: Arc<Stats>,
    /// Dropping it stops the checkpointer.
    _checkpoints: std::sync::mpsc::SyncSender<()>,
}

/// How often the checkpointer copies the WAL back into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Copies committed WAL frames into the database file on a thread of its own (a PASSIVE
/// checkpoint never blocks the writer), so the WAL stays short without any commit paying for a
/// checkpoint's fsyncs.
fn checkpointer(path: PathBuf, stop: std::sync::mpsc::Receiver<()>) {
    let mut conn = None;
    loop {
        match stop.recv_timeout(CHECKPOINT_EVERY) {
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        }
        if conn.is_none() {
            conn = open_writer(&path).ok();
        }
        if let Some(c) = &conn {
            if let Err(e) = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
                conn = None;
            }
        }
    }
}

fn open_writer(path: &Path) -> Result<rusqlite::Connection> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags)?;
    // The same settings as every pooled connection: durable against a process kill.
    // Checkpoints are the checkpointer thread's: here they would stall a commit on fsync. A
    // batch touches an index page per distinct actor and resource, so the page cache is sized to
    // keep them between batches, and savepoints' journals stay in memory.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;",
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

impl SqliteWriter {
    fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut last = 0;
        while let Some(first) = rx.blocking_recv() {
            take_batch(first, &mut rx, &mut batch);
            linger(&mut rx, &mut batch, last);
            last = batch.len();
            let started = std::time::Instant::now();
            let results = self.write(&batch);
            self.stats.count(batch.len(), started);
            if results.is_err() {
                // Start the next batch on a fresh connection, whatever state this one is in.
                self.conn = None;
            }
            answer(&mut batch, results);
        }
    }

    fn write(&mut self, batch: &[Job]) -> Result<Vec<Result<Committed>>> {
        let conn = match &mut self.conn {
            Some(c) => c,
            None => self.conn.insert(open_writer(&self.path)?),
        };
        let _turn = self.gate.blocking_lock();
        let now = (self.now)();
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        let results = match sqlite_batch(conn, now, batch) {
            Ok(r) => r,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        };
        if let Err(e) = conn.prepare_cached("COMMIT").and_then(|mut s| s.execute([])) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e.into());
        }
        let changed = batch.iter().zip(&results).any(|(j, r)| r.is_ok() && j.record.change.changes_state());
        if changed {
            self.changes.fetch_add(1, Ordering::AcqRel);
        }
        Ok(results)
    }
}

fn sqlite_batch(conn: &rusqlite::Connection, now: DateTime<Utc>, batch: &[Job]) -> Result<Vec<Result<Committed>>> {
    let start: i64 = conn
        .prepare_cached("UPDATE audit_head SET size = size WHERE id = 1 RETURNING size")?
        .query_row([], |r| r.get(0))?;
    let mut next = start;
    let mut staged = Vec::with_capacity(batch.len());
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        let r = &job.record;
        let applied = if matches!(r.change, Change::None) {
            Ok(Effect::Recorded)
        } else {
            conn.prepare_cached("SAVEPOINT job")?.execute([])?;
            match sqlite_apply(conn, now, &r.change) {
                Ok(effect) => {
                    conn.prepare_cached("RELEASE job")?.execute([])?;
                    Ok(effect)
                }
                Err(e) => {
                    conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
                    conn.prepare_cached("RELEASE job")?.execute([])?;
                    Err(e)
                }
            }
        };
        match applied {
            Ok(effect) => {
                let s = stage(next, now, r, effect)?;
                results.push(Ok(Committed { seq: s.event.seq, effect }));
                staged.push(s);
                next += 1;
            }
            Err(e) => results.push(Err(e)),
        }
    }
    sqlite_insert_events(conn, &staged)?;
    if next != start {
        conn.prepare_cached("UPDATE audit_head SET size = $1 WHERE id = 1")?.execute([next])?;
    }
    Ok(results)
}

fn sqlite_apply(conn: &rusqlite::Connection, now: DateTime<Utc>, change: &Change) -> Result<Effect> {
    match change {
        Change::None => Ok(Effect::Recorded),
        Change::Call(c) => {
            conn.prepare_cached(&INSERT_CALL)?.execute(params![
                c.id,
                c.key_id,
                c.contract_id,
                c.product_id,
                c.version,
                c.consumer_org,
                c.operator_org,
                to_json(&c.params)?,
                c.outcome,
                i64::from(c.status),
                c.rows,
                c.elapsed_us,
                c.day.to_string(),
                c.created_at,
            ])?;
            Ok(Effect::Recorded)
        }
        Change::SignInFailed { user, lock_after, lock_for } => {
            let current: Option<i64> = conn
                .prepare_cached("SELECT failed_logins FROM users WHERE id = $1")?
                .query_row([user.to_string()], |r| r.get(0))
                .optional()?;
            let current = current.ok_or_else(|| StoreError::NotFound { what: format!("user {user}") })?;
            let (stored, failures, locked_until) = failed_sign_in(current, *lock_after, *lock_for, now);
            conn.prepare_cached(users::SET_LOGIN_STATE)?.execute(params![
                stored,
                locked_until.map(format_instant),
                user.to_string()
            ])?;
            Ok(Effect::SignInFailed { failures, locked_until })
        }
        Change::SignIn { user, token_hash, expires_at } => {
            let n = conn.prepare_cached(users::SET_LOGIN_STATE)?.execute(params![
                0_i64,
                Option::<String>::None,
                user.to_string()
            ])?;
            if n == 0 {
                return Err(StoreError::NotFound { what: format!("user {user}") });
            }
            conn.prepare_cached(sessions::INSERT)?.execute(params![
                token_hash,
                user.to_string(),
                format_instant(now),
                format_instant(*expires_at)
            ])?;
            Ok(Effect::SignedIn)
        }
    }
}

fn sqlite_insert_events(conn: &rusqlite::Connection, staged: &[Staged]) -> Result<()> {
    let mut chunks = staged.chunks_exact(EVENT_ROWS);
    for chunk in chunks.by_ref() {
        let mut stmt = conn.prepare_cached(&INSERT_EVENTS)?;
        let mut values: Vec<Box<dyn rusqlite::ToSql>> = Vec::with_capacity(chunk.len() * AUDIT_COLUMN_COUNT);
        for s in chunk {
            push_event(&mut values, s);
        }
        stmt.execute(rusqlite::params_from_iter(values.iter()))?;
    }
    for s in chunks.remainder() {
        let mut stmt = conn.prepare_cached(&INSERT_EVENT)?;
        let mut values: Vec<Box<dyn rusqlite::ToSql>> = Vec::with_capacity(AUDIT_COLUMN_COUNT);
        push_event(&mut values, s);
        stmt.execute(rusqlite::params_from_iter(values.iter()))?;
    }
    Ok(())
}

/// The values of one audit row, in [`AUDIT_COLUMNS`] order.
fn push_event(values: &mut Vec<Box<dyn rusqlite::ToSql>>, s: &Staged) {
    let e = &s.event;
    // Sequence numbers are staged from the i64 head, so they fit.
    values.push(Box::new(i64::try_from(e.seq).unwrap_or(i64::MAX)));
    values.push(Box::new(format_instant(e.time)));
    values.push(Box::new(e.actor.clone()));
    values.push(Box::new(e.organisation.clone()));
    values.push(Box::new(e.action.clone()));
    values.push(Box::new(e.resource.clone()));
    values.push(Box::new(e.outcome.as_str()));
    values.push(Box::new(e.request_id.clone()));
    values.push(Box::new(e.client_addr.clone()));
    values.push(Box::new(e.details.to_string()));
    values.push(Box::new(s.hash.to_string()));
}

// --- PostgreSQL -----------------------------------------------------------------------------

async fn postgres_writer(store: Store, now: Now, mut rx: mpsc::Receiver<Job>, stats: Arc<Stats>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        take_batch(first, &mut rx, &mut batch);
        let started = std::time::Instant::now();
        let results = postgres_batch(&store, now(), &batch).await;
        stats.count(batch.len(), started);
        answer(&mut batch, results);
    }
}

async fn postgres_batch(store: &Store, now: DateTime<Utc>, batch: &[Job]) -> Result<Vec<Result<Committed>>> {
    let mut tx = store.begin_write(now).await?;
    let mut effects = Vec::with_capacity(batch.len());
    let mut changed = false;
    for job in batch {
        let change = &job.record.change;
        // Calls go in one multi-row insert below: only a sign-in can fail on its own.
        let applied = if change.changes_state() {
            sqlx::query("SAVEPOINT job").execute(tx.conn()).await?;
            match postgres_apply(tx.conn(), now, change).await {
                Ok(effect) => {
                    sqlx::query("RELEASE SAVEPOINT job").execute(tx.conn()).await?;
                    changed = true;
                    Ok(effect)
                }
                Err(e) => {
                    sqlx::query("ROLLBACK TO SAVEPOINT job").execute(tx.conn()).await?;
                    sqlx::query("RELEASE SAVEPOINT job").execute(tx.conn()).await?;
                    Err(e)
                }
            }
        } else {
            Ok(Effect::Recorded)
        };
        effects.push(applied);
    }
    let calls: Vec<&CallRecord> = batch
        .iter()
        .zip(&effects)
        .filter_map(|(j, e)| match (&j.record.change, e) {
            (Change::Call(c), Ok(_)) => Some(&**c),
            _ => None,
        })
        .collect();
    products::insert_calls(tx.conn(), &calls).await?;
    let details: Vec<Option<Value>> =
        batch.iter().zip(&effects).map(|(j, e)| e.as_ref().ok().map(|e| e.details(&j.record.details))).collect();
    let drafts: Vec<EventDraft<'_>> = batch
        .iter()
        .zip(&details)
        .filter_map(|(j, d)| {
            d.as_ref().map(|details| EventDraft {
                ctx: &j.record.ctx,
                action: j.record.action,
                resource: &j.record.resource,
                outcome: j.record.outcome,
                details,
            })
        })
        .collect();
    if drafts.is_empty() {
        // Every change failed: nothing to commit.
        return Ok(effects.into_iter().map(|e| e.map(|effect| Committed { seq: 0, effect })).collect());
    }
    let mut seqs = tx.audit_many(&drafts).await?.into_iter();
    if changed {
        tx.commit().await?;
    } else {
        tx.commit_records().await?;
    }
    Ok(effects
        .into_iter()
        .map(|e| {
            e.and_then(|effect| {
                let seq = seqs.next().ok_or_else(|| StoreError::Batch("an event went missing".into()))?;
                Ok(Committed { seq, effect })
            })
        })
        .collect())
}

async fn postgres_apply(conn: &mut sqlx::AnyConnection, now: DateTime<Utc>, change: &Change) -> Result<Effect> {
    match change {
        Change::None | Change::Call(_) => Ok(Effect::Recorded),
        Change::SignInFailed { user, lock_after, lock_for } => {
            let current =
                users::get(conn, *user).await?.ok_or_else(|| StoreError::NotFound { what: format!("user {user}") })?;
            let (stored, failures, locked_until) = failed_sign_in(current.failed_logins, *lock_after, *lock_for, now);
            users::set_login_state(conn, *user, stored, locked_until).await?;
            Ok(Effect::SignInFailed { failures, locked_until })
        }
        Change::SignIn { user, token_hash, expires_at } => {
            if users::get(conn, *user).await?.is_none() {
                return Err(StoreError::NotFound { what: format!("user {user}") });
            }
            users::set_login_state(conn, *user, 0, None).await?;
            sessions::insert(conn, token_hash, *user, now, *expires_at).await?;
            Ok(Effect::SignedIn)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shuyu_core::ids::OrgId;
    use shuyu_core::roles::{OrgKind, Role};

    use crate::organisations::{self, Organisation};
    use crate::users::UserRecord;

    fn event(i: usize) -> Record {
        Record {
            ctx: AuditContext::system("t"),
            action: "interface.call",
            resource: format!("product:{i}"),
            outcome: Outcome::Success,
            details: serde_json::json!({ "i": i }),
            change: Change::None,
        }
    }

    async fn account(store: &Store) -> UserId {
        let mut tx = store.begin_write(Utc::now()).await.unwrap();
        let org = Organisation {
            id: OrgId::new(),
            name: "测试机构".into(),
            kind: OrgKind::Operator,
            uscc: None,
            created_at: Utc::now(),
        };
        organisations::insert(tx.conn(), &org).await.unwrap();
        let user = UserRecord::new_account(
            org.id,
            "u".into(),
            "u".into(),
            "-".into(),
            vec![Role::OperatorAnalyst],
            Utc::now(),
        );
        users::insert(tx.conn(), &user).await.unwrap();
        tx.audit(&AuditContext::system("t"), "user.create", &user.id.resource(), Outcome::Success, Value::Null)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        user.id
    }

    fn sign_in_failed(user: UserId) -> Record {
        Record {
            change: Change::SignInFailed { user, lock_after: 3, lock_for: Duration::minutes(30) },
            action: "session.login",
            resource: user.resource(),
            outcome: Outcome::Failure,
            details: Value::Null,
            ctx: AuditContext::system("t"),
        }
    }

    async fn exercise(store: Store) {
        let writer = GroupWriter::start(store.clone(), Arc::new(Utc::now)).unwrap();
        let user = account(&store).await;
        let before = store.changes();

        // Many concurrent records share commits; every one gets its own sequence number.
        let mut tasks = Vec::new();
        for i in 0..500 {
            let writer = writer.clone();
            tasks.push(tokio::spawn(async move { writer.record(event(i)).await.unwrap().seq }));
        }
        let mut seqs = Vec::new();
        for t in tasks {
            seqs.push(t.await.unwrap());
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..501).collect::<Vec<u64>>());
        assert_eq!(store.changes(), before, "records alone do not invalidate caches of state");

        // Failures count up and lock the account at the third; an unknown account fails alone.
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let writer = writer.clone();
            tasks.push(tokio::spawn(async move { writer.record(sign_in_failed(user)).await }));
        }
        let ghost = writer.clone();
        let unknown = tokio::spawn(async move { ghost.record(sign_in_failed(UserId::new())).await });
        let mut effects = Vec::new();
        for t in tasks {
            effects.push(t.await.unwrap().unwrap().effect);
        }
        assert!(matches!(unknown.await.unwrap(), Err(StoreError::NotFound { .. })), "the unknown account fails");
        effects.sort_by_key(|e| match e {
            Effect::SignInFailed { failures, .. } => *failures,
            _ => 0,
        });
        let counts: Vec<i64> = effects
            .iter()
            .map(|e| match e {
                Effect::SignInFailed { failures, .. } => *failures,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(counts, vec![1, 2, 3], "each failure sees the ones committed before it");
        assert!(matches!(effects[2], Effect::SignInFailed { locked_until: Some(_), .. }));
        let mut conn = store.acquire().await.unwrap();
        let stored = users::get(&mut conn, user).await.unwrap().unwrap();
        assert_eq!(stored.failed_logins, 0, "the lock starts the count again");
        assert!(stored.locked_until.is_some());
        assert!(store.changes() > before, "sign-ins change state");

        // A sign-in clears the lock and opens the session.
        let done = writer
            .record(Record {
                change: Change::SignIn {
                    user,
                    token_hash: "ab".repeat(32),
                    expires_at: Utc::now() + Duration::hours(8),
                },
                action: "session.login",
                resource: user.resource(),
                outcome: Outcome::Success,
                details: Value::Null,
                ctx: AuditContext::system("t"),
            })
            .await
            .unwrap();
        assert_eq!(done.effect, Effect::SignedIn);
        let stored = users::get(&mut conn, user).await.unwrap().unwrap();
        assert!(stored.locked_until.is_none());
        let found = sessions::find_user(&mut conn, &"ab".repeat(32), Utc::now()).await.unwrap();
        assert_eq!(found.map(|u| u.id), Some(user));

        // The log holds exactly the committed events, each hashing to its stored leaf.
        assert_eq!(crate::audit::head_size(&mut conn).await.unwrap(), 505);
        drop(conn);
        let mut snap = store.audit_snapshot().await.unwrap();
        let rows = snap.batch(0, 1000).await.unwrap();
        assert_eq!(rows.len(), 505);
        for row in rows {
            let e = row.unwrap();
            assert_eq!(e.leaf_hash, shuyu_audit::leaf_hash(&e.event.canonical_bytes()), "event {}", e.event.seq);
        }
        let locked: Vec<bool> = {
            let mut snap = store.audit_snapshot().await.unwrap();
            snap.batch(501, 3)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.unwrap().event.details["locked"].as_bool().unwrap())
                .collect()
        };
        assert_eq!(locked, vec![false, false, true], "the events say which failure locked the account");
    }

    #[test]
    fn the_audit_column_count_matches_the_columns() {
        assert_eq!(AUDIT_COLUMNS.split(',').count(), AUDIT_COLUMN_COUNT);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_group_commit() {
        let dir = tempfile::tempdir().unwrap();
        exercise(Store::open_sqlite(&dir.path().join("t.db")).await.unwrap()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_group_commit() {
        let Some(store) = crate::testing::postgres_store("group").await else { return };
        exercise(store).await;
    }
}
