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
use shuyu_store::organisations::{self, Organisation};
use shuyu_store::users::{self, UserRecord};
use shuyu_store::{AuditContext, Store};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Audit appends with state changes, inclusion proofs, full verification.
    Audit {
        /// Events in the log for the proof and verification measurements.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// State changes (one transaction each) for the append measurement.
        #[arg(long, default_value_t = 50_000)]
        appends: u64,
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
        /// TPC-H scale factor.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Runs per query; the best is kept.
        #[arg(long, default_value_t = 3)]
        iterations: u32,
        /// Keep the generated TPC-H files here between runs (default: a temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
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
    let (events, appends, proofs, dir, report) = match command {
        BenchCommand::Audit { events, appends, proofs, dir, report } => (events, appends, proofs, dir, report),
        BenchCommand::Sandbox { scale, iterations, dir, gen_rows, evaluate_row_filters, report } => {
            return crate::bench_sandbox::run(scale, iterations, dir, gen_rows, evaluate_row_filters, &report).await;
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

    // 1. Raw engine: the same state change in its own transaction, without the audit event.
    let pb = bar(appends, "raw SQLite state changes");
    let started = Instant::now();
    for i in 0..appends {
        let mut conn_tx = store.pool().begin().await?;
        sqlx::query("UPDATE users SET failed_logins = $1 WHERE id = $2")
            .bind(i64::try_from(i).unwrap_or(0))
            .bind(user.id.to_string())
            .execute(&mut *conn_tx)
            .await?;
        conn_tx.commit().await?;
        pb.inc(1);
    }
    let raw = appends as f64 / started.elapsed().as_secs_f64();
    pb.finish_and_clear();

    // 2. Shuyu: the state change and its audit event in one transaction.
    let pb = bar(appends, "state change + audit event");
    let started = Instant::now();
    for i in 0..appends {
        let mut tx = store.begin_write(Utc::now()).await?;
        users::set_login_state(tx.conn(), user.id, i64::try_from(i).unwrap_or(0) % 5, None).await?;
        tx.audit(&ctx, "session.login", &user.id.resource(), Outcome::Failure, json!({"failures": i % 5})).await?;
        tx.commit().await?;
        pb.inc(1);
    }
    let ours = appends as f64 / started.elapsed().as_secs_f64();
    pb.finish_and_clear();
    rows.push(Row {
        what: "audit appends with their state changes (one transaction each)".into(),
        shuyu: format!("{ours:.0} events/s"),
        raw: format!("{raw:.0} tx/s"),
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
    let command = format!("cargo run --release -- bench audit --events {events} --appends {appends} --proofs {proofs}");
    let table = render("audit", &rows, &command, "SQLite (WAL, synchronous=NORMAL)");
    println!("{table}");
    write_report(&report, "audit", &table)?;
    println!("written to {}", report.display());
    Ok(ExitCode::SUCCESS)
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
pub(crate) fn write_report(path: &PathBuf, name: &str, section: &str) -> Result<()> {
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
