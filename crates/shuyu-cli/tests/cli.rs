//! The `shuyu` binary as a user runs it: calendar, identifier checks, profiles, audit
//! verification after tampering, and a SIGKILL in the middle of a burst of writes.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::Connection;

fn shuyu() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shuyu"));
    cmd.env("RUST_LOG", "warn");
    cmd
}

fn run(args: &[&str]) -> Output {
    shuyu().args(args).output().expect("run shuyu")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn calendar_add_and_is_workday() {
    let o = run(&["calendar", "add", "2025-09-30", "1"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), "2025-10-09");
    let o = run(&["calendar", "is-workday", "2026-02-14"]);
    assert_eq!(stdout(&o), "true");
    let o = run(&["calendar", "is-workday", "2026-02-16"]);
    assert_eq!(stdout(&o), "false");
    // A year with no published calendar is an error, never a guess.
    let o = run(&["calendar", "add", "2023-12-29", "1"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("2023"));
}

#[test]
fn check_prints_valid_or_the_reason() {
    let o = run(&["check", "mobile", "13800138000"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), "valid");
    let o = run(&["check", "bank-card", "6222020000000000001"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).starts_with("invalid: "));
    let o = run(&["check", "resident-id", "11010519491231002X"]);
    assert_eq!(stdout(&o), "valid", "{:?}", o);
    let o = run(&["check", "resident-id", "110105194912310021"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn profile_show_validates_and_names_the_bad_key() {
    let o = run(&["profile", "show", "wuxi"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!stdout(&o).is_empty());
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.toml");
    let text = stdout(&o);
    // Break one number: a zero-day deadline.
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let idx = lines
        .iter()
        .position(|l| l.trim_start().starts_with("acceptance_days"))
        .expect("a registration acceptance deadline");
    lines[idx] = "acceptance_days = 0".into();
    std::fs::write(&broken, lines.join("\n")).unwrap();
    let o = run(&["profile", "show", broken.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("broken.toml") && err.contains("acceptance_days"), "{err}");
}

fn seed_demo(dir: &Path) {
    let o = shuyu().args(["demo", "--no-serve", "--data-dir"]).arg(dir).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("admin-demo-2026"));
}

fn verify(dir: &Path) -> Output {
    shuyu().args(["audit", "verify", "--data-dir"]).arg(dir).output().unwrap()
}

async fn sqlite(dir: &Path) -> sqlx::SqliteConnection {
    sqlx::SqliteConnection::connect(&format!("sqlite://{}", dir.join("shuyu.db").display())).await.unwrap()
}

#[tokio::test]
async fn audit_verify_names_an_altered_or_deleted_event() {
    let dir = tempfile::tempdir().unwrap();
    seed_demo(dir.path());
    let o = verify(dir.path());
    assert!(o.status.success(), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));

    // The database refuses to alter or delete an event (YXO §19)…
    let mut db = sqlite(dir.path()).await;
    let refused = sqlx::query("UPDATE audit_events SET action = 'user.harmless' WHERE seq = 5").execute(&mut db).await;
    assert!(refused.unwrap_err().to_string().contains("append-only"));
    assert!(sqlx::query("DELETE FROM audit_events WHERE seq = 7").execute(&mut db).await.is_err());
    // …but whoever holds the file can drop the guards: the verifier is what catches them.
    for t in ["audit_events_append_only", "audit_events_retained", "audit_events_archived_first"] {
        sqlx::query(&format!("DROP TRIGGER {t}")).execute(&mut db).await.unwrap();
    }
    sqlx::query("UPDATE audit_events SET action = 'user.harmless' WHERE seq = 5").execute(&mut db).await.unwrap();
    let o = verify(dir.path());
    assert!(!o.status.success());
    let text = format!("{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("event 5"), "{text}");

    // Put it back, delete another.
    let dir2 = tempfile::tempdir().unwrap();
    seed_demo(dir2.path());
    let mut db = sqlite(dir2.path()).await;
    for t in ["audit_events_retained", "audit_events_archived_first"] {
        sqlx::query(&format!("DROP TRIGGER {t}")).execute(&mut db).await.unwrap();
    }
    sqlx::query("DELETE FROM audit_events WHERE seq = 7").execute(&mut db).await.unwrap();
    let o = verify(dir2.path());
    assert!(!o.status.success());
    let text = format!("{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("event 7"), "{text}");
}

struct Server {
    child: Child,
    url: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_server(dir: &Path, port: u16) -> Server {
    start_server_with(dir, port, &[])
}

/// `shuyu serve` on `dir` with further flags (`--database-url`, `--config`, …).
fn start_server_with(dir: &Path, port: u16, extra: &[&std::ffi::OsStr]) -> Server {
    start_server_env(dir, port, extra, &[])
}

/// `shuyu serve` with further flags and environment variables.
fn start_server_env(dir: &Path, port: u16, extra: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Server {
    let child = shuyu()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir)
        .args(extra)
        .envs(env.iter().copied())
        .env("SHUYU_ADMIN_PASSWORD", "bootstrap-secret-42")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, url }
}

/// Signs in as the bootstrap administrator; returns the bearer token.
async fn admin_token(client: &reqwest::Client, url: &str) -> String {
    let login: Value = client
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": "bootstrap-secret-42"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_burst_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = start_server(dir.path(), port);
    let client = reqwest::Client::new();
    let token = admin_token(&client, &server.url).await;

    // Eight writers create organisations as fast as they can; the server is killed mid-burst.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (client, url, token, acked) = (client.clone(), server.url.clone(), token.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("突发写入-{w}-{i}");
                let r = client
                    .post(format!("{url}/api/v1/organisations"))
                    .bearer_auth(&token)
                    .json(&json!({"name": name, "kind": "operator"}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().as_u16() == 201 => acked.lock().unwrap().push(name),
                    _ => break,
                }
            }
        }));
    }
    // Two more sign in again and again: sessions go through the group writer.
    let sessions = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    for _ in 0..2 {
        let (client, url, sessions) = (client.clone(), server.url.clone(), sessions.clone());
        writers.push(tokio::spawn(async move {
            loop {
                let r = client
                    .post(format!("{url}/api/v1/auth/login"))
                    .json(&json!({"username": "admin", "password": "bootstrap-secret-42"}))
                    .send()
                    .await;
                let Ok(r) = r else { break };
                if r.status().as_u16() != 200 {
                    break;
                }
                let Ok(body) = r.json::<Value>().await else { break };
                sessions.lock().unwrap().push(body["token"].as_str().unwrap_or_default().to_string());
            }
        }));
    }
    while acked.lock().unwrap().len() < 200 || sessions.lock().unwrap().len() < 4 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    for w in writers {
        let _ = w.await;
    }
    let acked = acked.lock().unwrap().clone();
    let sessions = sessions.lock().unwrap().clone();

    // After a restart every acknowledged write is there, and the log verifies.
    let server = start_server(dir.path(), port);
    let token = admin_token(&client, &server.url).await;
    let orgs: Value = client
        .get(format!("{}/api/v1/organisations", server.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: std::collections::HashSet<&str> =
        orgs.as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    for name in &acked {
        assert!(names.contains(name.as_str()), "acknowledged {name} was lost");
    }
    for (i, session) in sessions.iter().enumerate() {
        let me = client.get(format!("{}/api/v1/me", server.url)).bearer_auth(session).send().await.unwrap();
        assert_eq!(me.status().as_u16(), 200, "acknowledged sign-in {i} was lost");
    }
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let o = verify(dir.path());
    assert!(o.status.success(), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
}

#[test]
fn generated_residents_are_classified_column_by_column() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let o = run(&["gen", "--dataset", "residents", "--rows", "3000", "--seed", "7", "--out", out]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let again = tempfile::tempdir().unwrap();
    run(&["gen", "--dataset", "residents", "--rows", "3000", "--seed", "7", "--out", again.path().to_str().unwrap()]);
    let a = std::fs::read(dir.path().join("residents.csv")).unwrap();
    assert_eq!(a, std::fs::read(again.path().join("residents.csv")).unwrap(), "same seed, same bytes");
    let o = run(&["classify", dir.path().join("residents.csv").to_str().unwrap()]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let kind = |col: &str| {
        let c = v["columns"].as_array().unwrap().iter().find(|c| c["column"] == col).unwrap().clone();
        (c["type"].as_str().map(String::from), c["level"].as_u64().unwrap())
    };
    assert_eq!(kind("resident_id"), (Some("resident_id".into()), 4));
    assert_eq!(kind("name"), (Some("person_name".into()), 3));
    assert_eq!(kind("mobile"), (Some("mobile".into()), 3));
    assert_eq!(kind("address"), (Some("address".into()), 3));
    assert_eq!(kind("birth_date"), (Some("date_of_birth".into()), 3));
    assert_eq!(kind("household_id"), (None, 1));
    assert_eq!(v["rows_sampled"], 1000);
    // Enterprises and traffic violations refer to the same residents.
    let o =
        run(&["gen", "--dataset", "enterprises", "--rows", "200", "--seed", "7", "--residents", "3000", "--out", out]);
    assert!(o.status.success());
    let residents = String::from_utf8(a).unwrap();
    let enterprises = std::fs::read_to_string(dir.path().join("enterprises.csv")).unwrap();
    let rep = enterprises.lines().nth(1).unwrap().split(',').nth(2).unwrap().to_string();
    assert!(residents.contains(&rep), "legal representative {rep} is a generated resident");
}

#[test]
fn social_insurance_and_medical_visits_as_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    for dataset in ["social_insurance", "medical_visits"] {
        let o = run(&[
            "gen",
            "--dataset",
            dataset,
            "--rows",
            "1000",
            "--residents",
            "500",
            "--format",
            "parquet",
            "--out",
            out,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let file = std::fs::File::open(dir.path().join(format!("{dataset}.parquet"))).unwrap();
        let reader = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let rows: i64 = reader.metadata().row_groups().iter().map(|g| g.num_rows()).sum();
        assert_eq!(rows, 1000);
        assert_eq!(reader.schema().field(1).name(), "resident_id");
    }
}

/// `shuyu demo` leaves a workspace the analyst can query at once: generated enterprises behind
/// the grant's row filter, the legal representative's ID usable only to link or count.
/// Signs in as the demo analyst; returns the bearer token and the demo workspace's id.
async fn analyst_workspace(client: &reqwest::Client, server: &Server) -> (String, String) {
    let login: Value = client
        .post(format!("{}/api/v1/auth/login", server.url))
        .json(&json!({"username": "analyst", "password": "analyst-demo-2026"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap().to_string();
    let list: Value = client
        .get(format!("{}/api/v1/workspaces", server.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ws = list["items"][0]["id"].as_str().expect("a demo workspace").to_string();
    (token, ws)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_workspace_answers_its_analyst() {
    let dir = tempfile::tempdir().unwrap();
    seed_demo(dir.path());
    let port = free_port();
    let mut server = start_server(dir.path(), port);
    let client = reqwest::Client::new();
    let (token, ws) = analyst_workspace(&client, &server).await;
    let query = |sql: &str| {
        client
            .post(format!("{}/api/v1/workspaces/{ws}/queries", server.url))
            .bearer_auth(&token)
            .json(&json!({ "sql": sql }))
            .send()
    };
    let r = query("SELECT count(*) AS n, count(DISTINCT legal_rep_id) AS people FROM enterprises").await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let n = v["rows"][0][0].as_i64().unwrap_or_else(|| panic!("{v}"));
    assert!(n > 0 && n < 2000, "deregistered enterprises are filtered out: {v}");
    let r = query("SELECT legal_rep_id FROM enterprises").await.unwrap();
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.unwrap();
    assert!(e["details"]["column"].as_str().is_some_and(|c| c.contains("legal_rep_id")), "{e}");
    let _ = server.child.kill();
}

fn gzip(args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("gzip").args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("gzip");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    out.stdout
}

/// A database for one archive test: the SQLite file of the data directory, or a fresh
/// PostgreSQL database when `SHUYU_TEST_DATABASE_URL` is set.
async fn archive_database(data: &Path, postgres: bool) -> Option<String> {
    if !postgres {
        return Some(format!("sqlite://{}?mode=rwc", data.join("shuyu.db").display()));
    }
    fresh_postgres("archive").await
}

/// A new PostgreSQL database named for the test, when `SHUYU_TEST_DATABASE_URL` is set.
async fn fresh_postgres(tag: &str) -> Option<String> {
    let admin = std::env::var("SHUYU_TEST_DATABASE_URL").ok().filter(|v| !v.is_empty())?;
    let name = format!("shuyu_t_{tag}_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&mut conn).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    Some(format!("{base}/{name}"))
}

/// YXO §19: events past the retention period leave the database only into an archive that ends
/// at a signed tree head and stays verifiable; younger events never move, and an altered
/// archive is named.
async fn archived_events_stay_verifiable(postgres: bool) {
    use shuyu_audit::{Outcome, TreeSigner};
    use shuyu_store::audit::Ledger;
    use shuyu_store::{AuditContext, Store};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let Some(url) = archive_database(data, postgres).await else { return };
    let with_db = |cmd: &mut Command| {
        cmd.arg("--data-dir").arg(data);
        if postgres {
            cmd.arg("--database-url").arg(&url);
        }
    };
    let shuyu_audit_cmd = |sub: &str| {
        let mut cmd = shuyu();
        cmd.args(["audit", sub]);
        with_db(&mut cmd);
        cmd.output().unwrap()
    };
    let signer = TreeSigner::generate();
    std::fs::write(data.join("audit-signing-key.pem"), signer.to_pkcs8_pem().unwrap()).unwrap();
    let store = Store::connect(&url).await.unwrap();
    let ledger = Ledger::new();
    let ctx = AuditContext::system("test");
    let three_years_ago = chrono::Utc::now() - chrono::Duration::days(3 * 366);
    let write = |n: u64, at: chrono::DateTime<chrono::Utc>| {
        let store = &store;
        let ctx = &ctx;
        async move {
            for i in 0..n {
                let at = at + chrono::Duration::seconds(i as i64);
                store
                    .record(
                        at,
                        ctx,
                        "dataset.read",
                        &format!("dataset:{i}"),
                        Outcome::Success,
                        json!({ "i": i, "名": "数据" }),
                    )
                    .await
                    .unwrap();
            }
        }
    };
    // 300 old events under a signed head, 20 more old ones under none, then 20 recent ones.
    write(300, three_years_ago).await;
    ledger.issue_tree_head(&store, &signer, three_years_ago + chrono::Duration::hours(1)).await.unwrap();
    write(20, three_years_ago + chrono::Duration::hours(2)).await;
    write(20, chrono::Utc::now()).await;
    ledger.issue_tree_head(&store, &signer, chrono::Utc::now()).await.unwrap();

    let o = shuyu_audit_cmd("archive");
    assert!(o.status.success(), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("archived events 0..300"), "{}", stdout(&o));
    let file = data.join("audit-archive").join("audit-000000000000-000000000300.jsonl.gz");
    assert!(file.exists());
    let o = shuyu_audit_cmd("archive");
    assert!(stdout(&o).contains("nothing to archive"), "{}", stdout(&o));

    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events").fetch_one(store.pool()).await.unwrap();
    // 40 unarchived events and the one recording the archive.
    assert_eq!(left, 41);
    // The database refuses to delete what was not archived, old or young.
    for seq in [305i64, 330] {
        let err =
            sqlx::query("DELETE FROM audit_events WHERE seq = $1").bind(seq).execute(store.pool()).await.unwrap_err();
        assert!(err.to_string().contains("YXO §19"), "{err}");
    }
    assert!(sqlx::query("DELETE FROM audit_archived_leaves WHERE seq = 3").execute(store.pool()).await.is_err());
    assert!(sqlx::query("UPDATE audit_archives SET file = 'x'").execute(store.pool()).await.is_err());

    // The whole log still verifies, the archive read back event by event…
    let o = shuyu_audit_cmd("verify");
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(stdout(&o).contains("341 events") && stdout(&o).contains("300 archived events; 1 archive files read"));
    // …proofs still work for archived events…
    let ledger = Ledger::new();
    assert_eq!(ledger.sync(&store).await.unwrap(), 341);
    let (leaf, path, root) = ledger.inclusion_proof(17, 340).await.unwrap();
    shuyu_audit::verify_inclusion(&leaf, 17, 340, &path, &root).unwrap();
    store.close().await;
    // …the server proves them and its audit viewer says where they went…
    if !postgres {
        let server = start_server(data, free_port());
        let client = reqwest::Client::new();
        let token = admin_token(&client, &server.url).await;
        let get = |path: &str| client.get(format!("{}{path}", server.url)).bearer_auth(&token).send();
        let list: Value = get("/api/v1/audit/archives").await.unwrap().json().await.unwrap();
        assert_eq!((list[0]["first_seq"].as_u64(), list[0]["end_seq"].as_u64()), (Some(0), Some(300)), "{list}");
        let proof: Value = get("/api/v1/audit/events/17/proof").await.unwrap().json().await.unwrap();
        assert_eq!(proof["leaf_index"], 17, "{proof}");
        let html = get("/console/audit/events/17").await.unwrap().text().await.unwrap();
        assert!(
            html.contains("该事件已超过留存期并归档") && html.contains("audit-000000000000-000000000300.jsonl.gz"),
            "{html}"
        );
        let html = get("/console/audit").await.unwrap().text().await.unwrap();
        assert!(html.contains("已归档事件（超过留存期） 300"), "{html}");
        let mut server = server;
        server.child.kill().unwrap();
        server.child.wait().unwrap();
    }
    // …and an auditor with only the files and the public key can check them.
    let public = data.join("public.pem");
    std::fs::write(&public, signer.verifying_key_pem()).unwrap();
    let standalone = |archives: &Path| {
        shuyu().args(["audit", "verify-archive"]).arg(archives).arg("--public-key").arg(&public).output().unwrap()
    };
    let o = standalone(&data.join("audit-archive"));
    assert!(o.status.success() && stdout(&o).contains("300 events"), "{}", stdout(&o));

    // One event altered inside the archive.
    let original = std::fs::read(&file).unwrap();
    let text = String::from_utf8(gzip(&["-dc"], &original)).unwrap();
    assert!(text.contains("\"dataset:17\""));
    std::fs::write(&file, gzip(&["-c"], text.replacen("\"dataset:17\"", "\"dataset:71\"", 1).as_bytes())).unwrap();
    let o = shuyu_audit_cmd("verify");
    assert!(!o.status.success());
    assert!(stdout(&o).contains("audit-000000000000-000000000300.jsonl.gz was altered"), "{}", stdout(&o));
    let o = standalone(&data.join("audit-archive"));
    assert!(!o.status.success());
    assert!(stdout(&o).contains("event 17 was altered"), "{}", stdout(&o));

    // The file gone: the log verifies on the kept leaves and says what it could not read.
    std::fs::remove_file(&file).unwrap();
    let o = shuyu_audit_cmd("verify");
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("warning: archive audit-000000000000-000000000300.jsonl.gz is not in"),
        "{}",
        stdout(&o)
    );
}

#[tokio::test]
async fn archived_events_stay_verifiable_on_sqlite() {
    archived_events_stay_verifiable(false).await;
}

#[tokio::test]
async fn archived_events_stay_verifiable_on_postgres() {
    if std::env::var("SHUYU_TEST_DATABASE_URL").map(|v| v.is_empty()).unwrap_or(true) {
        assert!(std::env::var("CI").is_err(), "CI runs the PostgreSQL variant");
        return;
    }
    archived_events_stay_verifiable(true).await;
}

/// Issue 9: two servers on one PostgreSQL database; exactly one runs the scheduler. Killing it
/// with SIGKILL hands the lead to the other within seconds (the goal is 30), and the audit log
/// both wrote still verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_scheduler_leader_hands_the_lead_to_the_other_server() {
    if std::env::var("SHUYU_TEST_DATABASE_URL").map(|v| v.is_empty()).unwrap_or(true) {
        assert!(std::env::var("CI").is_err(), "CI runs the PostgreSQL variant");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let url = fresh_postgres("leader").await.unwrap();
    let config = data.join("shuyu.toml");
    std::fs::write(&config, "leader_check_secs = 1\nscheduler_interval_secs = 1\nmonitor_interval_ms = 200\n").unwrap();
    // One data directory, as a shared volume would be: both sign with the same audit key.
    let serve = |port: u16| {
        start_server_with(
            data,
            port,
            &["--database-url".as_ref(), url.as_ref(), "--config".as_ref(), config.as_os_str()],
        )
    };
    let client = reqwest::Client::new();
    let leads = |server: &Server| {
        let url = format!("{}/readyz", server.url);
        let client = client.clone();
        async move {
            let r: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            r["scheduler_leader"].as_bool().unwrap()
        }
    };
    let mut first = serve(free_port());
    let second = serve(free_port());
    assert!(leads(&first).await, "the first server leads");
    assert!(!leads(&second).await, "the second follows");
    // Both serve requests and append to the one log at the same time: the audit head row
    // orders their events across processes.
    let mut writes = Vec::new();
    for s in [&first, &second] {
        for _ in 0..20 {
            let (client, url) = (client.clone(), s.url.clone());
            writes.push(tokio::spawn(async move { admin_token(&client, &url).await }));
        }
    }
    for w in writes {
        assert!(!w.await.unwrap().is_empty());
    }
    for s in [&first, &second] {
        let token = admin_token(&client, &s.url).await;
        let r = client.post(format!("{}/api/v1/audit/tree-head", s.url)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }

    first.child.kill().unwrap(); // SIGKILL: no chance to release anything
    first.child.wait().unwrap();
    let killed = Instant::now();
    while !leads(&second).await {
        assert!(killed.elapsed() < Duration::from_secs(30), "no failover within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("the lead moved {} ms after the leader was killed", killed.elapsed().as_millis());
    let metrics = client.get(format!("{}/metrics", second.url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("shuyu_scheduler_leader 1"), "{metrics}");
    let mut second = second;
    second.child.kill().unwrap();
    second.child.wait().unwrap();

    let o = shuyu().args(["audit", "verify", "--database-url", &url, "--data-dir"]).arg(data).output().unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
}

/// `shuyu migrate` brings a new database to the binary's schema and says which migrations ran;
/// run again, it has nothing to do. On both backends.
async fn migrate_reports_what_ran(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    let mut args: Vec<String> = vec!["migrate".into(), "--data-dir".into(), data.display().to_string()];
    if postgres {
        let Some(url) = fresh_postgres("migrate").await else { return };
        args.extend(["--database-url".into(), url]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let known =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../shuyu-store/migrations/sqlite")).unwrap().count();
    let first = run(&args);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let out = stdout(&first);
    assert!(out.contains(&format!("applied {known} migration(s)")), "{out}");
    let second = run(&args);
    assert!(second.status.success());
    let out = stdout(&second);
    assert!(out.contains(&format!("schema up to date: version {known} ({known} migrations)")), "{out}");
}

#[tokio::test]
async fn migrate_reports_what_ran_on_sqlite() {
    migrate_reports_what_ran(false).await;
}

#[tokio::test]
async fn migrate_reports_what_ran_on_postgres() {
    migrate_reports_what_ran(true).await;
}

/// A Ballista scheduler and two executors, each a `shuyu cluster` process; killed when dropped.
struct Ballista {
    children: Vec<Child>,
    url: String,
}

impl Drop for Ballista {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn start_ballista(work: &Path) -> Ballista {
    let port = free_port();
    let quiet = |args: &[String]| shuyu().args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let mut children = vec![quiet(&[
        "cluster".into(),
        "scheduler".into(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--min-executors".into(),
        "2".into(),
    ])];
    for i in 0..2 {
        children.push(quiet(&[
            "cluster".into(),
            "executor".into(),
            "--scheduler".into(),
            format!("127.0.0.1:{port}"),
            "--listen".into(),
            format!("127.0.0.1:{}", free_port()),
            "--grpc-port".into(),
            free_port().to_string(),
            "--work-dir".into(),
            work.join(format!("executor-{i}")).display().to_string(),
            "--concurrent-tasks".into(),
            "1".into(),
        ]));
    }
    let cluster = Ballista { children, url: format!("df://127.0.0.1:{port}") };
    let started = Instant::now();
    loop {
        let ready = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            return cluster;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the scheduler did not see two executors");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The 22 governed TPC-H queries on a scheduler and two executors (processes the benchmark
/// starts) answer exactly what the in-process engine answers, masks and keyed hashes included,
/// and statements the sandbox refuses are refused the same way; the benchmark fails otherwise.
#[test]
fn governed_tpch_on_ballista_answers_what_the_engine_answers() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("BENCHMARKS.md");
    let o = shuyu()
        .args(["bench", "ballista", "--scale", "0.01", "--iterations", "1", "--report"])
        .arg(&report)
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("1 scheduler, 2 executors ready"), "{out}");
    assert!(
        out.contains("22 TPC-H answers and 2 more equal on both engines; 3 refused statements refused alike"),
        "{out}"
    );
    let report = std::fs::read_to_string(report).unwrap();
    assert!(report.contains("## ballista") && report.contains("TPC-H Q22"), "{report}");
}

/// The demo analyst's queries through a server that sends governed plans to Ballista: the same
/// rows as in process, the same refusal with its article, every query audited; with the cluster
/// gone, a query is refused with an error that says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_workspace_answers_the_same_through_ballista() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed_demo(&data);
    let client = reqwest::Client::new();
    let queries = [
        "SELECT industry, count(*) AS n, sum(registered_capital) AS capital FROM enterprises GROUP BY industry ORDER BY industry",
        "SELECT uscc, name FROM enterprises WHERE name LIKE '%*%' ORDER BY uscc LIMIT 20",
        "SELECT a.industry, count(*) AS pairs FROM enterprises a JOIN enterprises b ON a.legal_rep_id = b.legal_rep_id AND a.uscc < b.uscc GROUP BY a.industry ORDER BY a.industry",
        "SELECT legal_rep_id FROM enterprises",
        "COPY (SELECT * FROM enterprises) TO '/tmp/out.csv'",
    ];
    // Each answer as status, code, article and rows.
    async fn answers(client: &reqwest::Client, server: &Server, queries: &[&str]) -> Vec<Value> {
        let (token, ws) = analyst_workspace(client, server).await;
        let mut out = Vec::new();
        for sql in queries {
            let r = client
                .post(format!("{}/api/v1/workspaces/{ws}/queries", server.url))
                .bearer_auth(&token)
                .json(&json!({ "sql": sql }))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            out.push(
                json!({ "status": status, "code": v["code"], "basis": v["basis"], "column": v["details"]["column"],
                             "columns": v["columns"], "rows": v["rows"] }),
            );
        }
        out
    }
    let port = free_port();
    let mut here = start_server(&data, port);
    let expected = answers(&client, &here, &queries).await;
    here.child.kill().unwrap();
    here.child.wait().unwrap();
    assert_eq!(expected[0]["status"], 200, "{}", expected[0]);
    assert!(expected[1]["rows"].as_array().is_some_and(|r| !r.is_empty()), "masked names: {}", expected[1]);
    assert_eq!(expected[3]["status"], 403);
    assert_eq!(expected[4]["basis"], "WX §16");

    let cluster = start_ballista(dir.path()).await;
    let url = cluster.url.clone();
    let mut there = start_server_with(&data, port, &["--query-cluster".as_ref(), url.as_ref()]);
    let got = answers(&client, &there, &queries).await;
    for (sql, (a, b)) in queries.iter().zip(expected.iter().zip(&got)) {
        assert_eq!(a, b, "{sql}");
    }
    drop(cluster);
    let after = answers(&client, &there, &queries[..1]).await;
    assert_eq!(after[0]["status"], 503, "{}", after[0]);
    assert_eq!(after[0]["code"], "query_cluster_unavailable");
    there.child.kill().unwrap();
    there.child.wait().unwrap();
    let o = verify(&data);
    assert!(o.status.success(), "{}", stdout(&o));
}

/// A server killed while an attachment's upload to object storage has stored its bytes but not
/// completed: after a restart there is neither an object anyone can list or read nor a row
/// naming one; the audit log verifies; uploads work again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_upload_leaves_no_partial_file() {
    use futures::TryStreamExt;
    use object_store::ObjectStore;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let port = free_port();
    let test_clock: &std::ffi::OsStr = "--test-clock".as_ref();
    let mut server = start_server_env(data, port, &[test_clock], &[("SHUYU_TEST_STALL_UPLOADS_UNDER", "attachments/")]);
    let client = reqwest::Client::new();
    let token = admin_token(&client, &server.url).await;
    let body: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
    let upload = {
        let (client, url, token) = (client.clone(), server.url.clone(), token.clone());
        tokio::spawn(async move {
            client
                .post(format!("{url}/api/v1/attachments?filename=evidence.bin"))
                .bearer_auth(token)
                .body(body)
                .send()
                .await
        })
    };
    let marker = data.join("upload-stalled");
    let started = Instant::now();
    while !marker.exists() {
        assert!(started.elapsed() < Duration::from_secs(30), "the upload never reached object storage");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.child.kill().unwrap(); // SIGKILL with the parts stored and the upload not completed
    server.child.wait().unwrap();
    assert!(upload.await.unwrap().is_err(), "the uploader saw the connection drop, not a success");

    // The stored parts are on disk (a staging file), so there was something to hide.
    fn files(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .map_or(0, |d| d.flatten().map(|e| if e.path().is_dir() { files(&e.path()) } else { 1 }).sum())
    }
    assert!(files(&data.join("objects/attachments")) >= 1, "the upload's parts were written");
    let store = object_store::local::LocalFileSystem::new_with_prefix(data.join("objects")).unwrap();
    let listed: Vec<_> = store.list(Some(&"attachments".into())).try_collect().await.unwrap();
    assert!(listed.is_empty(), "no partial object is visible: {listed:?}");
    let mut db = sqlite(data).await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM attachments").fetch_one(&mut db).await.unwrap();
    assert_eq!(rows, 0, "no row names an object that was never completed");
    drop(db);

    let mut server = start_server(data, port);
    let token = admin_token(&client, &server.url).await;
    let r = client
        .post(format!("{}/api/v1/attachments?filename=evidence.bin", server.url))
        .bearer_auth(&token)
        .body(b"second try".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let listed: Vec<_> = store.list(Some(&"attachments".into())).try_collect().await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let o = verify(data);
    assert!(o.status.success(), "{}", stdout(&o));
}
