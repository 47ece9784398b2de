//! `shuyu bench monitoring`: the monitor (JS §24, WH §33) over a generated audit log — reading
//! the events, running every monitoring rule and recording the alerts it raises — against the
//! raw engine reading the same rows in the same run. The goal is to keep up with 5,000 audit
//! events a second.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::Rng;
use serde_json::{json, Value};
use shuyu_audit::Outcome;
use shuyu_server::ServerConfig;
use shuyu_store::{AuditContext, EventDraft};

use crate::bench::{bar, render, write_report, Row};

const CONTRACTS: usize = 500;
const WORKSPACES: usize = 50;

struct Generated {
    events: u64,
    /// Contracts that burst at 50× their rate, and the other planted patterns.
    planted: Vec<&'static str>,
}

fn ctx(actor: &str, org: &str, addr: &str) -> AuditContext {
    AuditContext { actor: actor.into(), organisation: org.into(), request_id: String::new(), client_addr: addr.into() }
}

/// Two hours of a busy platform: interface calls by many contracts, workspace queries, exports,
/// sign-ins; then, in the last half hour, planted misuse the rules must find.
async fn generate(store: &shuyu_store::Store, events: u64) -> Result<Generated> {
    let start: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 3, 10, 1, 0, 0).single().unwrap_or_else(Utc::now);
    let seconds = 7200u64;
    let per_second = (events / seconds).max(1);
    let consumers: Vec<AuditContext> = (0..CONTRACTS)
        .map(|i| ctx("consumer", &format!("org-c{}", i % 50), &format!("10.1.{}.{}", i % 50, i % 200)))
        .collect();
    let analysts: Vec<AuditContext> = (0..WORKSPACES)
        .map(|i| ctx(&format!("user:a{i}"), &format!("org-op{}", i % 10), &format!("10.2.{i}.5")))
        .collect();
    let stranger = ctx("anonymous", "", "198.51.100.7");
    let mut rng = rand::thread_rng();
    let pb = bar(seconds, "generating the audit log");
    let mut written = 0u64;
    for s in 0..seconds {
        let t = start + Duration::seconds(s as i64);
        let mut details: Vec<(usize, &'static str, String, Outcome, Value)> =
            Vec::with_capacity(per_second as usize + 64);
        for _ in 0..per_second {
            let roll = rng.gen_range(0..100);
            if roll < 75 {
                let c = rng.gen_range(0..CONTRACTS);
                details.push((
                    c,
                    "interface.call",
                    format!("product:p{}", c % 40),
                    Outcome::Success,
                    json!({ "contract": format!("k{c}"), "params": { "industry": rng.gen_range(0..12) },
                            "status": 200, "rows": rng.gen_range(1..50), "outcome": "answered" }),
                ));
            } else if roll < 92 {
                let w = rng.gen_range(0..WORKSPACES);
                details.push((
                    CONTRACTS + w,
                    "workspace.query",
                    format!("workspace:w{w}"),
                    Outcome::Success,
                    json!({ "sql": format!("SELECT district, count(*) FROM t{} WHERE age > {} GROUP BY district", rng.gen_range(0..20), rng.gen_range(0..90)),
                            "rows": rng.gen_range(0..20), "level": rng.gen_range(1..4) }),
                ));
            } else if roll < 93 {
                let w = rng.gen_range(0..WORKSPACES);
                details.push((
                    CONTRACTS + w,
                    "export.requested",
                    format!("workspace:w{w}"),
                    Outcome::Success,
                    json!({ "rows": 100 }),
                ));
            } else {
                let w = rng.gen_range(0..WORKSPACES);
                details.push((CONTRACTS + w, "session.login", format!("user:a{w}"), Outcome::Success, json!({})));
            }
        }
        // Planted in the last half hour: bursts by five contracts, a failed-login storm, an
        // export burst.
        if (6000..6060).contains(&s) {
            for k in 0..5 {
                for _ in 0..5 {
                    details.push((
                        k,
                        "interface.call",
                        format!("product:p{k}"),
                        Outcome::Success,
                        json!({ "contract": format!("k{k}"), "params": { "industry": 1 }, "status": 200, "rows": 10 }),
                    ));
                }
            }
        }
        if (6500..6530).contains(&s) {
            details.push((
                usize::MAX,
                "session.login",
                "user:unknown".into(),
                Outcome::Failure,
                json!({ "username": "admin" }),
            ));
        }
        if (6600..6612).contains(&s) {
            details.push((
                CONTRACTS + 7,
                "export.requested",
                "workspace:w7".into(),
                Outcome::Success,
                json!({ "rows": 5000 }),
            ));
        }
        let drafts: Vec<EventDraft<'_>> = details
            .iter()
            .map(|(who, action, resource, outcome, d)| EventDraft {
                ctx: match *who {
                    usize::MAX => &stranger,
                    i if i < CONTRACTS => &consumers[i],
                    i => &analysts[i - CONTRACTS],
                },
                action,
                resource,
                outcome: *outcome,
                details: d,
            })
            .collect();
        let mut tx = store.begin_write(t).await?;
        tx.audit_many(&drafts).await?;
        tx.commit_records().await?;
        written += drafts.len() as u64;
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(Generated {
        events: written,
        planted: vec!["5 contracts at 50× their rate", "a failed sign-in storm", "an export burst"],
    })
}

pub async fn run(events: u64, report: &Path) -> Result<ExitCode> {
    let tmp = tempfile::tempdir()?;
    let config = ServerConfig {
        data_dir: tmp.path().to_path_buf(),
        profile: "wuxi".into(),
        monitor_interval_ms: 0,
        // A benchmark is a rehearsal: its deadlines may fall in a year without a notice.
        provisional_calendar_years: true,
        ..ServerConfig::default()
    };
    let state = shuyu_server::build_state(config).await?;
    let generated = generate(&state.store, events).await?;
    println!("{} events generated", generated.events);

    // Raw engine: the same rows read in the same batches, nothing parsed, no rules.
    let started = Instant::now();
    let mut from = 0i64;
    let mut raw_rows = 0u64;
    loop {
        let rows = sqlx::query(
            "SELECT seq, time, actor, organisation, action, resource, outcome, client_addr, details \
                                FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT 5000",
        )
        .bind(from)
        .fetch_all(state.store.pool())
        .await?;
        let Some(last) = rows.last() else { break };
        use sqlx::Row as _;
        from = last.try_get::<i64, _>("seq")? + 1;
        raw_rows += rows.len() as u64;
    }
    let raw_secs = started.elapsed().as_secs_f64();

    // Shuyu: the monitor's own round — read, parse, every rule, alerts written with the cursor.
    let mut detector = shuyu_server::monitor::detector(&state);
    let mut cursor = 0u64;
    let mut saved = Instant::now();
    let started = Instant::now();
    let raised = shuyu_server::monitor::step(&state, &mut detector, &mut cursor, &mut saved)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.body.message))?;
    let secs = started.elapsed().as_secs_f64();
    let alerts = shuyu_store::supervision::list_alerts(&mut *state.store.acquire().await?, None, 1000).await?;
    let mut by_rule = std::collections::BTreeMap::<String, usize>::new();
    for a in &alerts {
        *by_rule.entry(a.rule.clone()).or_default() += 1;
    }
    let found: Vec<String> = by_rule.iter().map(|(r, n)| format!("{r} {n}")).collect();
    println!("alerts: {}", found.join(", "));

    let rate = cursor as f64 / secs;
    let raw_rate = raw_rows as f64 / raw_secs;
    let rows = vec![Row {
        what: "monitor throughput (events/s): read, all rules, alerts recorded".into(),
        shuyu: format!("{rate:.0} events/s ({cursor} events in {secs:.1} s; {raised} alerts: {})", found.join(", ")),
        raw: format!("{raw_rate:.0} events/s (the rows read, nothing parsed)"),
        ratio: rate / raw_rate,
        goal: "≥ 5,000 events/s",
    }];
    let table = render(
        "monitoring",
        &rows,
        &format!("cargo run --release -- bench monitoring --events {events}"),
        &format!(
            "SQLite; two hours of generated audit log ({} events: interface calls by {CONTRACTS} contracts, queries in {WORKSPACES} workspaces, exports, sign-ins) with planted misuse ({})",
            generated.events,
            generated.planted.join(", ")
        ),
    );
    println!("{table}");
    write_report(report, "monitoring", &table)?;
    println!("written to {}", report.display());
    Ok(if rate >= 5000.0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
