//! `shuyu bench audit`: audit appends with their state changes, inclusion proofs and full
//! verification, each against the raw engine measured in the same run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;
use serde_json::json;
use shuyu_audit::{Outcome, TreeSigner};
use shuyu_core::ids::OrgId;
use shuyu_core::roles::{OrgKind, Role};
use shuyu_store::audit::Ledger;
use shuyu_store::group::{Change, GroupWriter, Record};
use shuyu_store::organisations::{self, Organisation};
use shuyu_store::users::{self, UserRecord};
use shuyu_store::{AuditContext, Store};

/// The TPC-H run the sandbox and Ballista benchmarks share.
#[derive(Debug, clap::Args)]
pub struct TpchArgs {
    /// TPC-H scale factor.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Runs per query; the best is kept.
    #[arg(long, default_value_t = 3)]
    pub iterations: u32,
    /// Keep the generated TPC-H files here between runs (default: a temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Audit appends with state changes, inclusion proofs, full verification.
    Audit {
        /// Events in the log for the proof and verification measurements.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// State changes for the group-commit append measurement (a tenth of them are also
        /// measured one transaction each, from a single caller).
        #[arg(long, default_value_t = 200_000)]
        appends: u64,
        /// Concurrent callers for the group-commit measurement.
        #[arg(long, default_value_t = 256)]
        clients: usize,
        /// Inclusion proofs to time.
        #[arg(long, default_value_t = 10_000)]
        proofs: u64,
        /// Where to keep the benchmark database (default: a temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Write the results into this Markdown file's "audit" section.
        #[arg(long, default_value = "BENCHMARKS.md")]
        report: PathBuf,
    },
    /// Public catalogue search: index build and query latency over many published entries,
    /// through the API handler and through tantivy alone.
    Catalogue {
        /// Published entries to index.
        #[arg(long, default_value_t = 100_000)]
        entries: u64,
        /// Queries to time (a mix of words, word pairs, filters).
        #[arg(long, default_value_t = 2_000)]
        queries: u64,
        /// Write the results into this Markdown file's "catalogue" section.
        #[arg(long, default_value = "BENCHMARKS.md")]
        report: PathBuf,
    },
    /// The 22 TPC-H queries governed and raw; `shuyu gen` and ingestion throughput.
    Sandbox {
        #[command(flatten)]
        tpch: TpchArgs,
        /// Resident rows for the generation and ingestion measurements.
        #[arg(long, default_value_t = 10_000_000)]
        gen_rows: u64,
        /// Use row filters that Parquet statistics cannot prove true (`abs(key) > 0`), so that
        /// every scan evaluates them: the cost of a filter that must run.
        #[arg(long)]
        evaluate_row_filters: bool,
        /// Write the results into this Markdown file's "sandbox" section.
        #[arg(long, default_value = "BENCHMARKS.md")]
        report: PathBuf,
    },
    /// The 22 TPC-H queries governed on an Apache Ballista cluster (1 scheduler and 2 executors
    /// started here as processes, unless --cluster names one) beside the in-process engine and
    /// raw Ballista; fails unless every answer equals the in-process one.
    Ballista {
        #[command(flatten)]
        tpch: TpchArgs,
        /// A running cluster's scheduler, df://host:port (its executors must read the files at
        /// the same paths).
        #[arg(long)]
        cluster: Option<String>,
        /// Executors to start when no --cluster is given.
        #[arg(long, default_value_t = 2)]
        executors: usize,
        /// Write the results into this Markdown file's "ballista" section.
        #[arg(long, default_value = "BENCHMARKS.md")]
        report: PathBuf,
    },
    /// Aggregation-only and differential-privacy queries over residents, against raw DataFusion.
    Privacy {
        /// Residents (one row each).
        #[arg(long, default_value_t = 10_000_000)]
        rows: u64,
        /// Runs per query; the best is kept.
        #[arg(long, default_value_t = 3)]
        iterations: u32,
        /// Keep the generated file here between runs (default: a temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Write the results into this Markdown file's "privacy" section.
        #[arg(long, default_value = "BENCHMARKS.md")]
        report: PathBuf,
    },
    /// A generated data interface (key check, quota, masking, metering and audit on) under
    /// concurrent clients, beside the same query served by Datasette from the same data.
    Interface {
        /// Enterprises in the table the interface reads.
        #[arg(long, default_value_t = 100_000)]
        rows: u64,
        /// Concurrent clients.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Seconds of load per server (after a warm-up of a fifth of it).
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// The Datasette executable (`pip install datasette`).
        #[arg(long, default_value = "datasette")]
        datasette: String,
        /// Write the results into this Markdown file's "interface" section.
        #[arg(long, default_value = "BENCHMARKS.md")]
        report: PathBuf,
    },
    /// The monitor over a generated audit log with planted misuse: reading, every monitoring
    /// rule and the alerts, against the raw engine reading the same rows.
    Monitoring {
        /// Audit events to generate (two hours of activity).
        #[arg(long, default_value_t = 500_000)]
        events: u64,
        /// Write the results into this Markdown file's "monitoring" section.
        #[arg(long, default_value = "BENCHMARKS.md")]
        report: PathBuf,
    },
    /// Ingests one residents CSV in a process of its own and prints its rows, time and peak
    /// resident memory as JSON: `bench sandbox` runs it so that the memory is ingestion's alone.
    #[command(hide = true)]
    IngestProbe {
        #[arg(long)]
        csv: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

pub(crate) fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>28} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

pub(crate) struct Row {
    pub what: std::borrow::Cow<'static, str>,
    pub shuyu: String,
    pub raw: String,
    pub ratio: f64,
    pub goal: &'static str,
}

pub async fn run(command: BenchCommand) -> Result<ExitCode> {
    let (events, appends, clients, proofs, dir, report) = match command {
        BenchCommand::Audit { events, appends, clients, proofs, dir, report } => {
            (events, appends, clients, proofs, dir, report)
        }
        BenchCommand::Sandbox { tpch, gen_rows, evaluate_row_filters, report } => {
            return crate::bench_sandbox::run(tpch, gen_rows, evaluate_row_filters, &report).await;
        }
        BenchCommand::Ballista { tpch, cluster, executors, report } => {
            return crate::bench_ballista::run(tpch, cluster, executors, &report).await;
        }
        BenchCommand::Catalogue { entries, queries, report } => {
            return crate::bench_catalogue::run(entries, queries, &report).await;
        }
        BenchCommand::IngestProbe { csv, out } => return crate::bench_sandbox::ingest_probe(&csv, &out),
        BenchCommand::Interface { rows, clients, seconds, datasette, report } => {
            return crate::bench_interface::run(rows, clients, seconds, &datasette, &report).await;
        }
        BenchCommand::Monitoring { events, report } => return crate::bench_monitoring::run(events, &report).await,
        BenchCommand::Privacy { rows, iterations, dir, report } => {
            return crate::bench_privacy::run(rows, iterations, dir, &report).await;
        }
    };
    let tmp = tempfile::tempdir().context("temporary directory")?;
    let dir = dir.unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("bench.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let store = Store::open_sqlite(&db).await?;
    let ctx = AuditContext {
        actor: "bench".into(),
        organisation: String::new(),
        request_id: "bench".into(),
        client_addr: "127.0.0.1".into(),
    };

    // A person whose lockout counter is the state being changed.
    let mut tx = store.begin_write(Utc::now()).await?;
    let org = Organisation {
        id: OrgId::new(),
        name: "基准测试机构".into(),
        kind: OrgKind::Operator,
        uscc: None,
        created_at: Utc::now(),
    };
    organisations::insert(tx.conn(), &org).await?;
    let user = UserRecord::new_account(
        org.id,
        "bench".into(),
        "bench".into(),
        "-".into(),
        vec![Role::OperatorAnalyst],
        Utc::now(),
    );
    users::insert(tx.conn(), &user).await?;
    tx.audit(&ctx, "user.create", &user.id.resource(), Outcome::Success, json!({})).await?;
    tx.commit().await?;

    let mut rows = Vec::new();
    let single = (appends / 10).max(1);

    // 1. One caller, one transaction per change: the raw engine without the audit event, then
    //    Shuyu's ordinary write transaction with it.
    let pb = bar(single, "raw SQLite state changes");
    let started = Instant::now();
    for i in 0..single {
        let mut conn_tx = store.pool().begin().await?;
        sqlx::query("UPDATE users SET failed_logins = $1 WHERE id = $2")
            .bind(i64::try_from(i).unwrap_or(0))
            .bind(user.id.to_string())
            .execute(&mut *conn_tx)
            .await?;
        conn_tx.commit().await?;
        pb.inc(1);
    }
    let raw = single as f64 / started.elapsed().as_secs_f64();
    pb.finish_and_clear();
    let pb = bar(single, "state change + audit event");
    let started = Instant::now();
    for i in 0..single {
        let mut tx = store.begin_write(Utc::now()).await?;
        users::set_login_state(tx.conn(), user.id, i64::try_from(i).unwrap_or(0) % 5, None).await?;
        tx.audit(&ctx, "session.login", &user.id.resource(), Outcome::Failure, json!({"failures": i % 5})).await?;
        tx.commit().await?;
        pb.inc(1);
    }
    let ours = single as f64 / started.elapsed().as_secs_f64();
    pb.finish_and_clear();
    rows.push(Row {
        what: "audit appends with their state changes, one caller, one transaction each".into(),
        shuyu: format!("{ours:.0} events/s"),
        raw: format!("{raw:.0} tx/s"),
        ratio: ours / raw,
        goal: "—",
    });

    // 2. Many callers through the group writer: sign-ins (four failures, then a success that
    //    opens a session), each committed with its audit event before its caller hears back.
    let (ours, raw) = group_appends(&store, &db, &org, appends, clients).await?;
    rows.push(Row {
        what: format!("audit appends with their state changes, {clients} concurrent callers, group commit").into(),
        shuyu: format!("{ours:.0} events/s"),
        raw: format!("{raw:.0} changes/s (same statements, 512 per transaction, no audit)"),
        ratio: ours / raw,
        goal: "≥ 20,000 events/s",
    });

    // Fill the log up to `events` (batched: this is set-up, not measured).
    let mut conn = store.pool().acquire().await?;
    let have = shuyu_store::audit::head_size(&mut conn).await?;
    drop(conn);
    if have < events {
        let pb = bar(events - have, "filling the log");
        let mut left = events - have;
        while left > 0 {
            let n = left.min(10_000);
            let mut tx = store.begin_write(Utc::now()).await?;
            for i in 0..n {
                tx.audit(
                    &ctx,
                    "dataset.read",
                    &format!("dataset:{}", i % 977),
                    Outcome::Success,
                    json!({"rows": i % 1000}),
                )
                .await?;
            }
            tx.commit().await?;
            left -= n;
            pb.inc(n);
        }
        pb.finish_and_clear();
    }

    // 3. Inclusion proofs against the in-memory tree, versus a raw point lookup of the row.
    let ledger = Ledger::new();
    let started = Instant::now();
    let size = ledger.sync(&store).await?;
    let load = started.elapsed();
    let mut rng = rand::thread_rng();
    let pb = bar(proofs, "inclusion proofs");
    let mut worst = Duration::ZERO;
    let started = Instant::now();
    for _ in 0..proofs {
        let index = rng.gen_range(0..size);
        let t = Instant::now();
        let (leaf, path, root) = ledger.inclusion_proof(index, size).await?;
        worst = worst.max(t.elapsed());
        shuyu_audit::verify_inclusion(&leaf, index, size, &path, &root)?;
        pb.inc(1);
    }
    let per_proof = started.elapsed() / u32::try_from(proofs.max(1)).unwrap_or(u32::MAX);
    pb.finish_and_clear();
    let mut conn = store.pool().acquire().await?;
    let started = Instant::now();
    for _ in 0..proofs {
        let index = rng.gen_range(0..size);
        let _ = shuyu_store::audit::get(&mut conn, index).await?;
    }
    let per_lookup = started.elapsed() / u32::try_from(proofs.max(1)).unwrap_or(u32::MAX);
    drop(conn);
    rows.push(Row {
        what: "inclusion proof (generate + check), mean".into(),
        shuyu: format!(
            "{:.1} µs (worst {:.1} µs; tree of {size} loaded in {:.2} s)",
            micros(per_proof),
            micros(worst),
            load.as_secs_f64()
        ),
        raw: format!("{:.1} µs per row lookup", micros(per_lookup)),
        ratio: per_proof.as_secs_f64() / per_lookup.as_secs_f64().max(1e-9),
        goal: "< 1 ms",
    });

    // 4. Full verification versus SQLite itself stepping through the same rows (no decoding).
    let started = Instant::now();
    let raw_conn = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = raw_conn.prepare("SELECT * FROM audit_events ORDER BY seq")?;
    let mut cursor = stmt.query(())?;
    let mut scanned = 0usize;
    while cursor.next()?.is_some() {
        scanned += 1;
    }
    let raw_scan = started.elapsed();
    drop(cursor);
    drop(stmt);
    drop(raw_conn);
    let signer = TreeSigner::generate();
    ledger.issue_tree_head(&store, &signer, Utc::now()).await?;
    let started = Instant::now();
    let (report_v, _) = crate::verify::verify_store(&store, &signer.verifying_key(), None, true).await?;
    let full = started.elapsed();
    rows.push(Row {
        what: "full verification of the log".into(),
        shuyu: format!("{:.2} s for {} events", full.as_secs_f64(), report_v.events),
        raw: format!("{:.2} s to read {scanned} rows", raw_scan.as_secs_f64()),
        ratio: full.as_secs_f64() / raw_scan.as_secs_f64().max(1e-9),
        goal: "< 10 s for 1,000,000",
    });

    store.close().await;
    let command = format!(
        "cargo run --release -- bench audit --events {events} --appends {appends} --clients {clients} --proofs {proofs}"
    );
    let table = render("audit", &rows, &command, "SQLite (WAL, synchronous=NORMAL)");
    println!("{table}");
    write_report(&report, "audit", &table)?;
    println!("written to {}", report.display());
    Ok(ExitCode::SUCCESS)
}

/// One account per caller, then `appends` sign-in changes from `clients` concurrent callers
/// through the group writer; and the raw engine running the same statements in transactions of
/// 512 with no audit. Returns (Shuyu events/s, raw changes/s).
async fn group_appends(
    store: &Store,
    db: &std::path::Path,
    org: &Organisation,
    appends: u64,
    clients: usize,
) -> Result<(f64, f64)> {
    let clients = clients.max(1);
    let mut accounts = Vec::with_capacity(clients);
    let mut tx = store.begin_write(Utc::now()).await?;
    for i in 0..clients {
        let u = UserRecord::new_account(
            org.id,
            format!("caller{i}"),
            format!("caller{i}"),
            "-".into(),
            vec![Role::OperatorAnalyst],
            Utc::now(),
        );
        users::insert(tx.conn(), &u).await?;
        tx.audit(&AuditContext::system("bench"), "user.create", &u.id.resource(), Outcome::Success, json!({})).await?;
        accounts.push(u.id);
    }
    tx.commit().await?;

    let writer = GroupWriter::start(store.clone(), std::sync::Arc::new(Utc::now))?;
    let per_client = appends.div_ceil(clients as u64);
    let total = per_client * clients as u64;
    let pb = bar(total, "group commit, concurrent");
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for (c, user) in accounts.iter().copied().enumerate() {
        let writer = writer.clone();
        let pb = pb.clone();
        tasks.push(tokio::spawn(async move {
            let ctx = AuditContext {
                actor: user.to_string(),
                organisation: String::new(),
                request_id: format!("bench-{c}"),
                client_addr: "127.0.0.1".into(),
            };
            for i in 0..per_client {
                let (change, outcome) = if i % 5 == 4 {
                    let token_hash = format!("{c:08x}{i:056x}");
                    (
                        Change::SignIn { user, token_hash, expires_at: Utc::now() + chrono::Duration::hours(8) },
                        Outcome::Success,
                    )
                } else {
                    (
                        Change::SignInFailed { user, lock_after: i64::MAX, lock_for: chrono::Duration::minutes(30) },
                        Outcome::Failure,
                    )
                };
                writer
                    .record(Record {
                        ctx: ctx.clone(),
                        action: "session.login",
                        resource: user.resource(),
                        outcome,
                        details: json!({}),
                        change,
                    })
                    .await?;
                pb.inc(1);
            }
            Ok::<_, shuyu_store::StoreError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = started.elapsed();
    let ours = total as f64 / elapsed.as_secs_f64();
    pb.finish_and_clear();
    let stats = writer.stats();
    let batches = stats.batches.load(std::sync::atomic::Ordering::Relaxed).max(1);
    let busy = stats.busy_ns.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e9;
    println!(
        "group commit: {batches} transactions, {:.1} changes each, writer busy {:.0}% of {:.1} s",
        stats.records.load(std::sync::atomic::Ordering::Relaxed) as f64 / batches as f64,
        100.0 * busy / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    drop(writer);

    // The raw engine: the same reads and writes, in big transactions, without audit.
    let conn = rusqlite::Connection::open(db)?;
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let ids: Vec<String> = accounts.iter().map(|u| u.to_string()).collect();
    let pb = bar(total, "raw SQLite, 512 per transaction");
    let started = Instant::now();
    let mut done = 0u64;
    while done < total {
        let n = (total - done).min(512);
        conn.execute_batch("BEGIN IMMEDIATE")?;
        for k in done..done + n {
            let id = &ids[usize::try_from(k).unwrap_or(0) % ids.len()];
            if k % 5 == 4 {
                conn.prepare_cached("UPDATE users SET failed_logins = $1, locked_until = $2 WHERE id = $3")?
                    .execute(rusqlite::params![0_i64, Option::<String>::None, id])?;
                conn.prepare_cached(
                    "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, revoked) VALUES ($1, $2, $3, $4, 0)",
                )?
                .execute(rusqlite::params![format!("raw{k:061x}"), id, "2026-01-01T00:00:00Z", "2026-01-01T08:00:00Z"])?;
            } else {
                let current: i64 = conn
                    .prepare_cached("SELECT failed_logins FROM users WHERE id = $1")?
                    .query_row([id], |r| r.get(0))?;
                conn.prepare_cached("UPDATE users SET failed_logins = $1, locked_until = $2 WHERE id = $3")?
                    .execute(rusqlite::params![current + 1, Option::<String>::None, id])?;
            }
        }
        conn.execute_batch("COMMIT")?;
        done += n;
        pb.inc(n);
    }
    let raw = total as f64 / started.elapsed().as_secs_f64();
    pb.finish_and_clear();
    Ok((ours, raw))
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

pub(crate) fn render(section: &str, rows: &[Row], command: &str, setup: &str) -> String {
    let mut out = String::new();
    out.push_str(&format!("## {section}\n\n"));
    out.push_str(&format!("Command: `{command}`  \n"));
    out.push_str(&format!(
        "Machine: {} cores, measured {}. {setup}. Ratio = Shuyu / raw engine in the same run.\n\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        Utc::now().format("%Y-%m-%d")
    ));
    out.push_str("| measurement | Shuyu | raw engine | ratio | goal |\n|---|---|---|---|---|\n");
    for r in rows {
        out.push_str(&format!("| {} | {} | {} | {:.2} | {} |\n", r.what, r.shuyu, r.raw, r.ratio, r.goal));
    }
    out
}

/// Replaces the `## {name}` section of the report, keeping the others.
pub(crate) fn write_report(path: &std::path::Path, name: &str, section: &str) -> Result<()> {
    let existing = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n\n".into());
    let mut out = String::new();
    let mut skipping = false;
    let mut replaced = false;
    for line in existing.lines() {
        if line.starts_with("## ") {
            skipping = line.trim() == format!("## {name}");
            if skipping {
                out.push_str(section);
                out.push('\n');
                replaced = true;
                continue;
            }
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !replaced {
        out.push_str(section);
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}
