//! `shuyu bench interface`: the demo's generated data interface (API key check, contract and
//! standing checks, quotas, typed parameters, the grant's masking, metering and an audit event per
//! call committed before the answer) under concurrent clients, beside Datasette serving the same
//! query from the same rows in the same run. Datasette is the "raw engine" column: a popular way
//! to publish a database as a JSON API, with nothing of the above.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rand::Rng;
use shuyu_server::demo::DEMO_INDUSTRIES;
use shuyu_server::ServerConfig;

use crate::bench::{render, write_report, Row};

/// The interface's query, as Datasette runs it: the same rows, filter, order and page.
const DATASETTE_SQL: &str = "SELECT uscc, name, industry, registered_capital, status FROM enterprises \
                             WHERE industry = :industry ORDER BY uscc LIMIT 50";

/// What one server did under load.
#[derive(Debug, Clone)]
pub struct Load {
    pub calls: u64,
    pub errors: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Load {
    pub fn rps(&self) -> f64 {
        self.calls as f64 / self.seconds.max(1e-9)
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

/// `clients` loops calling `url(industry)` for `seconds`, after a warm-up; every answer must be 200.
pub async fn load(
    client: &reqwest::Client,
    clients: usize,
    seconds: f64,
    url: Arc<dyn Fn(&str) -> String + Send + Sync>,
    header: Option<(&'static str, String)>,
) -> Result<Load> {
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::<u64>::new()));
    let measuring = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url, header) = (client.clone(), url.clone(), header.clone());
        let (stop, errors, latencies, measuring) = (stop.clone(), errors.clone(), latencies.clone(), measuring.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let industry = DEMO_INDUSTRIES[rand::thread_rng().gen_range(0..DEMO_INDUSTRIES.len())];
                let mut req = client.get(url(industry));
                if let Some((k, v)) = &header {
                    req = req.header(*k, v);
                }
                let started = Instant::now();
                let ok = match req.send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if measuring.load(Ordering::Relaxed) {
                    if ok {
                        mine.push(started.elapsed().as_micros() as u64);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            if let Ok(mut all) = latencies.lock() {
                all.extend(mine);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64((seconds / 5.0).max(0.5))).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.context("a client task failed")?;
    }
    let mut all = latencies.lock().map(|v| v.clone()).unwrap_or_default();
    all.sort_unstable();
    Ok(Load {
        calls: all.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        seconds: elapsed,
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
    })
}

/// A Shuyu server with the demo's published interface over `rows` enterprises: its URL, the
/// product, the consumer's key, and the CSV the rows came from.
pub struct Setup {
    pub server: shuyu_server::RunningServer,
    pub product: String,
    pub key: String,
    pub csv: PathBuf,
}

pub async fn setup(dir: &Path, rows: u64, cache: bool) -> Result<Setup> {
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse()?,
        data_dir: dir.join("shuyu"),
        profile: "wuxi".into(),
        interface_result_cache: cache,
        // A benchmark is a rehearsal: its deadlines may fall in a year without a notice.
        provisional_calendar_years: true,
        ..ServerConfig::default()
    };
    let state = shuyu_server::build_state(config).await?;
    let err = |e: shuyu_server::ApiError| anyhow::anyhow!("{}: {}", e.body.code, e.body.message);
    shuyu_server::demo::seed(&state).await.map_err(err)?;
    shuyu_server::demo::seed_showcase(&state).await.map_err(err)?;
    crate::load_demo_data(&state, &dir.join("shuyu"), rows).await?;
    shuyu_server::demo::seed_workspace(&state).await.map_err(err)?;
    // Quotas stay on and are counted, but set above what the benchmark can reach.
    let Some((product, key)) = shuyu_server::demo::seed_products(&state, 1_000_000_000).await.map_err(err)? else {
        bail!("the demo product could not be created");
    };
    let server = shuyu_server::start(state, false).await?;
    Ok(Setup { server, product, key, csv: dir.join("shuyu/demo-input/enterprises.csv") })
}

/// The same rows as a SQLite file for Datasette, with the index a publisher would add for this query.
fn sqlite_copy(csv: &Path, db: &Path) -> Result<()> {
    let mut conn = rusqlite::Connection::open(db)?;
    conn.execute_batch(
        "CREATE TABLE enterprises (uscc TEXT PRIMARY KEY, name TEXT, legal_rep_id TEXT, industry TEXT, \
         registered_capital INTEGER, status TEXT); CREATE INDEX enterprises_industry ON enterprises(industry, uscc);",
    )?;
    let text = std::fs::read_to_string(csv).with_context(|| format!("reading {}", csv.display()))?;
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare("INSERT INTO enterprises VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            if f.len() != 6 {
                continue;
            }
            let capital: i64 = f[4].parse().unwrap_or(0);
            insert.execute(rusqlite::params![f[0], f[1], f[2], f[3], capital, f[5]])?;
        }
    }
    tx.commit()?;
    conn.execute_batch("ANALYZE")?;
    Ok(())
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn start_datasette(exe: &str, db: &Path, client: &reqwest::Client) -> Result<(Killed, u16)> {
    let port = free_port()?;
    let child = Command::new(exe)
        .arg("serve")
        .arg("--immutable")
        .arg(db)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--setting", "max_returned_rows", "1000", "--setting", "sql_time_limit_ms", "5000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {exe}: install it with `pip install datasette`"))?;
    let child = Killed(child);
    for _ in 0..100 {
        if client
            .get(format!("http://127.0.0.1:{port}/-/versions.json"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok((child, port));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("Datasette did not answer on port {port}")
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn run(rows: u64, clients: usize, seconds: u64, datasette: &str, report: &Path) -> Result<ExitCode> {
    let tmp = tempfile::tempdir().context("temporary directory")?;
    println!("setting up: {rows} enterprises, the demo product, its contract and key");
    let s = setup(&tmp.path().join("cached"), rows, true).await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
    let db = tmp.path().join("enterprises.db");
    sqlite_copy(&s.csv, &db)?;
    let (_datasette, port) = start_datasette(datasette, &db, &client).await?;
    let version = Command::new(datasette)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();

    let audit_before = audit_size(&s).await?;
    let base = s.server.url();
    let product = s.product.clone();
    println!("loading Shuyu: {clients} clients for {seconds} s");
    let shuyu = load(
        &client,
        clients,
        seconds as f64,
        Arc::new(move |i: &str| format!("{base}/data-api/v1/{product}/1?industry={i}&limit=50")),
        Some(("x-api-key", s.key.clone())),
    )
    .await?;
    let audited = audit_size(&s).await? - audit_before;
    s.server.shutdown().await?;
    println!("setting up again without the result cache");
    let u = setup(&tmp.path().join("uncached"), rows, false).await?;
    let base = u.server.url();
    let product = u.product.clone();
    println!("loading Shuyu without the result cache: {clients} clients for {seconds} s");
    let cold = load(
        &client,
        clients,
        seconds as f64,
        Arc::new(move |i: &str| format!("{base}/data-api/v1/{product}/1?industry={i}&limit=50")),
        Some(("x-api-key", u.key.clone())),
    )
    .await?;
    u.server.shutdown().await?;
    let sql = encode(DATASETTE_SQL);
    println!("loading Datasette: {clients} clients for {seconds} s");
    let raw = load(
        &client,
        clients,
        seconds as f64,
        Arc::new(move |i: &str| {
            format!("http://127.0.0.1:{port}/enterprises.json?sql={sql}&industry={i}&_shape=array")
        }),
        None,
    )
    .await?;
    if shuyu.errors > 0 || raw.errors > 0 || cold.errors > 0 {
        bail!("errors under load: Shuyu {} (uncached {}), Datasette {}", shuyu.errors, cold.errors, raw.errors);
    }
    let rows_out = vec![
        Row {
            what: "throughput, 64 clients (requests/s)".replace("64", &clients.to_string()).into(),
            shuyu: format!(
                "{:.0} req/s ({} calls, each metered and audited: {audited} events)",
                shuyu.rps(),
                shuyu.calls
            ),
            raw: format!("{:.0} req/s ({} calls)", raw.rps(), raw.calls),
            ratio: shuyu.rps() / raw.rps().max(1e-9),
            goal: "≥ 10× Datasette",
        },
        Row {
            what: "throughput without the result cache (every call runs the governed query)".into(),
            shuyu: format!("{:.0} req/s (p50 {:.2} ms, p99 {:.2} ms)", cold.rps(), cold.p50_ms, cold.p99_ms),
            raw: format!("{:.0} req/s", raw.rps()),
            ratio: cold.rps() / raw.rps().max(1e-9),
            goal: "—",
        },
        Row {
            what: "latency p50".into(),
            shuyu: format!("{:.2} ms", shuyu.p50_ms),
            raw: format!("{:.2} ms", raw.p50_ms),
            ratio: shuyu.p50_ms / raw.p50_ms.max(1e-9),
            goal: "—",
        },
        Row {
            what: "latency p99".into(),
            shuyu: format!("{:.2} ms", shuyu.p99_ms),
            raw: format!("{:.2} ms", raw.p99_ms),
            ratio: shuyu.p99_ms / raw.p99_ms.max(1e-9),
            goal: "p99 < 20 ms",
        },
    ];
    let setup = format!(
        "{rows} enterprises; the demo interface (industry = $industry, ORDER BY uscc, 50 rows a page, names masked) \
         with key check, contract, standing and quota checks, metering and an audit event per call committed before \
         the answer; {version} (immutable, index on (industry, uscc)) runs the same SELECT … LIMIT 50 from a SQLite \
         copy of the same rows; clients and servers share the machine; ratio = Shuyu / Datasette"
    );
    let command =
        format!("cargo run --release -- bench interface --rows {rows} --clients {clients} --seconds {seconds}");
    let section = render("interface", &rows_out, &command, &setup);
    println!("{section}");
    write_report(report, "interface", &section)?;
    Ok(ExitCode::SUCCESS)
}

async fn audit_size(s: &Setup) -> Result<u64> {
    let mut conn = s.server.state.store.acquire().await?;
    Ok(shuyu_store::audit::head_size(&mut conn).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_call_under_load_is_answered_masked_and_audited() {
        let tmp = tempfile::tempdir().unwrap();
        let s = setup(tmp.path(), 600, false).await.unwrap();
        let client = reqwest::Client::new();
        let url = format!("{}/data-api/v1/{}/1?industry=I64&limit=5", s.server.url(), s.product);
        let r = client.get(&url).header("x-api-key", &s.key).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = r.json().await.unwrap();
        let csv = std::fs::read_to_string(&s.csv).unwrap();
        for row in body["rows"].as_array().unwrap() {
            let name = row[1].as_str().unwrap();
            assert!(name.contains('*') && !csv.contains(&format!(",{name},")), "masked: {name}");
        }
        let before = audit_size(&s).await.unwrap();
        let base = s.server.url();
        let product = s.product.clone();
        let l = load(
            &client,
            4,
            1.0,
            Arc::new(move |i: &str| format!("{base}/data-api/v1/{product}/1?industry={i}")),
            Some(("x-api-key", s.key.clone())),
        )
        .await
        .unwrap();
        assert_eq!(l.errors, 0);
        assert!(l.calls > 0);
        // Calls in the warm-up and in flight at the end are audited too.
        assert!(audit_size(&s).await.unwrap() - before >= l.calls, "every measured call left an audit event");
    }
}
