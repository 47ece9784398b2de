//! `shuyu bench ballista`: the 22 governed TPC-H queries on an Apache Ballista cluster (one
//! scheduler and two executors, each its own process) beside the in-process engine, and raw
//! Ballista reading the same Parquet files, in the same run. Every governed answer from the
//! cluster must equal the in-process one row for row, and refused statements must be refused
//! with the same error; the run fails otherwise.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ballista_core::extension::SessionStateExt;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use shuyu_sandbox::distributed::Cluster;
use shuyu_sandbox::engine::{Limits, Outcome, Workspace};

use crate::bench::{bar, render, write_report, Row, TpchArgs};
use crate::bench_sandbox::{generate, grants, NAMES, TABLES};
use crate::cluster::LocalCluster;
use crate::tpch::QUERIES;

/// Statements beyond TPC-H whose answers are compared: the keyed hash and a mask computed on
/// the executors must equal what this process computes.
const EXTRA: [(&str, &str); 2] = [
    (
        "keyed hash on the cluster",
        "SELECT l_comment, count(*) AS n FROM lineitem GROUP BY l_comment ORDER BY n DESC, l_comment LIMIT 20",
    ),
    ("masked address on the cluster", "SELECT c_custkey, c_address FROM customer ORDER BY c_custkey LIMIT 50"),
];

/// Statements both engines must refuse, with the same error.
const REFUSED: [&str; 3] = [
    "COPY (SELECT * FROM lineitem) TO '/tmp/shuyu-bench-copy.csv'",
    "EXPLAIN SELECT * FROM lineitem",
    "CREATE EXTERNAL TABLE raw_lineitem STORED AS PARQUET LOCATION '/'",
];

/// A batch list as sorted lines, floats to 6 significant digits (partial sums on several
/// executors add in another order), so two engines' answers compare exactly.
fn canonical(batches: &[RecordBatch]) -> Result<Vec<String>> {
    let options = FormatOptions::default().with_null("NULL");
    let mut lines = Vec::new();
    for b in batches {
        let columns: Vec<_> = b.columns().iter().collect();
        let formatters =
            columns.iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options)).collect::<Result<Vec<_>, _>>()?;
        for row in 0..b.num_rows() {
            let cells: Vec<String> = columns
                .iter()
                .zip(&formatters)
                .map(|(c, f)| match c.data_type() {
                    DataType::Float64 if c.is_valid(row) => {
                        format!("{:.6e}", c.as_primitive::<Float64Type>().value(row))
                    }
                    _ => f.value(row).to_string(),
                })
                .collect();
            lines.push(cells.join("|"));
        }
    }
    lines.sort();
    Ok(lines)
}

fn rows_of(out: Outcome) -> Result<Vec<RecordBatch>> {
    match out {
        Outcome::Rows { batches, .. } => Ok(batches),
        other => anyhow::bail!("expected rows, got {other:?}"),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

struct Measured {
    distributed: Duration,
    in_process: Duration,
    raw: Duration,
}

pub async fn run(
    TpchArgs { scale, iterations, dir }: TpchArgs,
    cluster: Option<String>,
    executors: usize,
    report: &Path,
) -> Result<ExitCode> {
    let tmp = tempfile::tempdir()?;
    let base = dir.unwrap_or_else(|| tmp.path().to_path_buf());
    let data = base.join(format!("tpch-sf{scale}"));
    generate(&data, scale)?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    // A cluster given by address is used as it is; otherwise one is started here.
    let (local, url) = match cluster {
        Some(url) => (None, url),
        None => {
            let started = Instant::now();
            let c = LocalCluster::start(executors, (cores / executors.max(1)).max(1)).await?;
            println!("Ballista: 1 scheduler, {executors} executors ready in {:.1} s", started.elapsed().as_secs_f64());
            let url = c.url.clone();
            (Some(c), url)
        }
    };
    let cluster = Cluster::parse(&url)?;
    let workspace = |cluster: Option<Cluster>| -> Result<Workspace> {
        Ok(Workspace {
            key: [7; 32],
            governed: grants(&data, false)?,
            dir: tmp.path().join("workspace"),
            approved_uploads: Vec::new(),
            sealed: false,
            grades: Vec::new(),
            earlier: Vec::new(),
            cluster,
        })
    };
    let here = workspace(None)?;
    let there = workspace(Some(cluster.clone()))?;
    let limits = Limits::unbounded(cores);
    // Raw Ballista with the same partitioning as the governed sessions.
    let raw_state = SessionState::new_ballista_state(cluster.scheduler())?;
    let config = raw_state.config().clone().with_target_partitions(cores);
    let raw =
        SessionContext::new_with_state(SessionStateBuilder::new_from_existing(raw_state).with_config(config).build());
    for table in TABLES {
        raw.register_parquet(table, data.join(table).to_string_lossy().as_ref(), ParquetReadOptions::default()).await?;
    }

    // Answers first: the same on both engines, or the run stops.
    for (what, sql) in NAMES.iter().copied().zip(QUERIES).chain(EXTRA) {
        let a =
            canonical(&rows_of(here.run(sql, &limits).await.with_context(|| format!("in process: {what}"))?.outcome)?)?;
        let b = canonical(&rows_of(
            there.run(sql, &limits).await.with_context(|| format!("on Ballista: {what}"))?.outcome,
        )?)?;
        anyhow::ensure!(
            a == b,
            "{what}: Ballista answered {} rows, the in-process engine {}; they differ",
            b.len(),
            a.len()
        );
    }
    for sql in REFUSED {
        let a = here.run(sql, &limits).await.err().map(|e| e.to_string());
        let b = there.run(sql, &limits).await.err().map(|e| e.to_string());
        anyhow::ensure!(a.is_some() && a == b, "{sql}: refused in process as {a:?}, on Ballista as {b:?}");
    }
    println!(
        "22 TPC-H answers and {} more equal on both engines; {} refused statements refused alike",
        EXTRA.len(),
        REFUSED.len()
    );

    let mut best: Vec<Measured> = (0..QUERIES.len())
        .map(|_| Measured { distributed: Duration::MAX, in_process: Duration::MAX, raw: Duration::MAX })
        .collect();
    let pb = bar(u64::from(iterations) * QUERIES.len() as u64, "TPC-H on Ballista");
    for _ in 0..iterations {
        for (i, sql) in QUERIES.iter().enumerate() {
            let started = Instant::now();
            raw.sql(sql).await?.collect().await.with_context(|| format!("raw Ballista: {}", NAMES[i]))?;
            let raw_time = started.elapsed();
            let started = Instant::now();
            there.run(sql, &limits).await?;
            let distributed = started.elapsed();
            let started = Instant::now();
            here.run(sql, &limits).await?;
            let in_process = started.elapsed();
            let m = &mut best[i];
            m.raw = m.raw.min(raw_time);
            m.distributed = m.distributed.min(distributed);
            m.in_process = m.in_process.min(in_process);
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    drop(local);

    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    for (i, m) in best.iter().enumerate() {
        let ratio = m.distributed.as_secs_f64() / m.raw.as_secs_f64().max(1e-9);
        ratios.push(ratio);
        rows.push(Row {
            what: NAMES[i].into(),
            shuyu: format!("{} (in process {})", ms(m.distributed), ms(m.in_process)),
            raw: ms(m.raw),
            ratio,
            goal: "same answer",
        });
    }
    let total = |f: fn(&Measured) -> Duration| best.iter().map(|m| f(m).as_secs_f64()).sum::<f64>();
    rows.push(Row {
        what: "TPC-H, geometric mean of the 22 ratios".into(),
        shuyu: format!("{:.2} s in all (in process {:.2} s)", total(|m| m.distributed), total(|m| m.in_process)),
        raw: format!("{:.2} s in all", total(|m| m.raw)),
        ratio: (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len().max(1) as f64).exp(),
        goal: "—",
    });
    let command = format!("cargo run --release -- bench ballista --scale {scale} --iterations {iterations}");
    let table = render(
        "ballista",
        &rows,
        &command,
        &format!(
            "TPC-H SF {scale} as Parquet; best of {iterations} runs per query; governed plans (grants, row filters, masking, lineage check) on Apache Ballista with 1 scheduler and {executors} executors, each its own process on this machine, against raw Ballista reading the same files; the in-process governed time beside"
        ),
    );
    print!("{table}");
    write_report(report, "ballista", &table)?;
    println!("written to {}", report.display());
    Ok(ExitCode::SUCCESS)
}
