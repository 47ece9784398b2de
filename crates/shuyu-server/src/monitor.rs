//! The monitor (JS §24, WH §33): follows the audit log in order and runs the monitoring rules
//! of `shuyu_core::monitoring` over it. A finding becomes an alert in the authority's queue (or
//! adds its evidence to the open alert on the same rule and subject), in one transaction with
//! the monitor's new position, so a restart neither loses nor repeats an alert.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use shuyu_audit::{Outcome, StoredEvent};
use shuyu_core::monitoring::{Detector, Finding, Signal, MAX_EVIDENCE};
use shuyu_store::supervision::{self as store, AlertRecord};
use shuyu_store::AuditContext;

use crate::error::ApiResult;
use crate::state::AppState;

/// Events read per round trip.
const BATCH: u32 = 5000;
/// Events replayed at start so the rules' windows and baselines are warm.
const WARMUP: u64 = 200_000;
/// The cursor is written at least this often even when nothing is found.
const CURSOR_EVERY: Duration = Duration::from_secs(10);

/// What the console's status line shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MonitorStatus {
    pub running: bool,
    /// Audit events read so far (the next sequence number to read).
    pub position: u64,
    pub last_run: Option<DateTime<Utc>>,
    /// Events per second over the last round that read any.
    pub events_per_second: f64,
    pub alerts_raised: u64,
    pub subjects_tracked: usize,
    pub last_error: Option<String>,
}

#[derive(Default)]
pub struct Monitor {
    status: std::sync::Mutex<MonitorStatus>,
}

impl Monitor {
    pub fn status(&self) -> MonitorStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn update(&self, f: impl FnOnce(&mut MonitorStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }
}

pub fn detector(app: &AppState) -> Detector {
    Detector::new(app.profile.monitoring.clone(), app.profile.sandbox.sensitive_level, app.calendar.clone())
}

pub fn spawn(app: AppState) -> Option<tokio::task::JoinHandle<()>> {
    let every = app.config.monitor_interval_ms;
    if every == 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_millis(every));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Only the leading process monitors; one that gains the lead starts from the cursor
            // the last leader saved, with freshly warmed windows.
            while !app.leadership.is_leader() {
                app.monitor.update(|s| s.running = false);
                ticker.tick().await;
            }
            let mut detector = detector(&app);
            let mut cursor = match start(&app, &mut detector).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(code = %e.body.code, "monitor could not start; retrying");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
            };
            app.monitor.update(|s| s.running = true);
            let mut saved = Instant::now();
            while app.leadership.is_leader() {
                ticker.tick().await;
                if let Err(e) = step(&app, &mut detector, &mut cursor, &mut saved).await {
                    tracing::warn!(code = %e.body.code, "monitor round failed");
                    app.monitor.update(|s| s.last_error = Some(e.body.message.clone()));
                }
            }
        }
    }))
}

/// Reads the saved position and replays the events before it without raising anything.
async fn start(app: &AppState, detector: &mut Detector) -> ApiResult<u64> {
    let cursor = store::monitor_cursor(&mut *app.store.acquire().await?).await?;
    let mut from = cursor.saturating_sub(WARMUP);
    while from < cursor {
        let events = shuyu_store::audit::events_from(&app.store, from, BATCH).await?;
        let Some(last) = events.last().map(|e| e.event.seq) else { break };
        for e in events.iter().filter(|e| e.event.seq < cursor) {
            detector.observe(&signal(e));
        }
        from = last + 1;
    }
    app.monitor.update(|s| s.position = cursor);
    Ok(cursor)
}

fn signal(e: &StoredEvent) -> Signal<'_> {
    let ev = &e.event;
    Signal {
        seq: ev.seq,
        time: ev.time,
        actor: &ev.actor,
        organisation: &ev.organisation,
        action: &ev.action,
        resource: &ev.resource,
        outcome: match ev.outcome {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failure => "failure",
        },
        client_addr: &ev.client_addr,
        details: &ev.details,
    }
}

/// Reads everything new, runs the rules, and records what they found.
pub async fn step(app: &AppState, detector: &mut Detector, cursor: &mut u64, saved: &mut Instant) -> ApiResult<usize> {
    let mut raised = 0;
    loop {
        let started = Instant::now();
        let events = shuyu_store::audit::events_from(&app.store, *cursor, BATCH).await?;
        let Some(last) = events.last().map(|e| e.event.seq) else { break };
        let mut findings = Vec::new();
        for e in &events {
            findings.extend(detector.observe(&signal(e)));
        }
        let next = last + 1;
        if findings.is_empty() {
            if saved.elapsed() >= CURSOR_EVERY {
                store::set_monitor_cursor(&mut *app.store.acquire().await?, next).await?;
                *saved = Instant::now();
            }
        } else {
            raised += record(app, &findings, next).await?;
            *saved = Instant::now();
        }
        *cursor = next;
        let rate = events.len() as f64 / started.elapsed().as_secs_f64().max(1e-6);
        let tracked = detector.tracked();
        app.monitor.update(|s| {
            s.position = next;
            s.events_per_second = rate;
            s.subjects_tracked = tracked;
            s.alerts_raised += raised as u64;
            s.last_error = None;
        });
        if events.len() < BATCH as usize {
            break;
        }
    }
    app.monitor.update(|s| s.last_run = Some(app.clock.now()));
    Ok(raised)
}

/// New alerts, or more evidence for open ones, with the cursor, in one transaction.
async fn record(app: &AppState, findings: &[Finding], next: u64) -> ApiResult<usize> {
    let ctx = AuditContext::system("monitor");
    let mut tx = app.begin().await?;
    let mut raised = 0;
    for f in findings {
        if let Some(open) = store::open_alert_for(tx.conn(), f.rule.as_str(), &f.subject).await? {
            store::extend_alert(tx.conn(), &open, &f.evidence, &f.observed, MAX_EVIDENCE).await?;
            tx.audit(
                &ctx,
                "alert.extended",
                &format!("alert:{}", open.id),
                Outcome::Success,
                json!({ "rule": f.rule, "subject": f.subject, "evidence_added": f.evidence.len() }),
            )
            .await?;
            continue;
        }
        let now = shuyu_core::clock::format_instant(tx.now());
        let alert = AlertRecord {
            id: uuid::Uuid::now_v7().to_string(),
            rule: f.rule.as_str().into(),
            subject: f.subject.clone(),
            related: f.related.clone(),
            evidence: f.evidence.clone(),
            observed: f.observed.clone(),
            state: "open".into(),
            resolution: None,
            handled_by: None,
            handled_at: None,
            raised_at: shuyu_core::clock::format_instant(f.at),
            created_at: now,
        };
        store::insert_alert(tx.conn(), &alert).await?;
        tx.audit(
            &ctx,
            "alert.raised",
            &format!("alert:{}", alert.id),
            Outcome::Success,
            json!({ "rule": f.rule, "subject": f.subject, "evidence": f.evidence.len(), "observed": f.observed }),
        )
        .await?;
        raised += 1;
    }
    store::set_monitor_cursor(tx.conn(), next).await?;
    tx.commit().await?;
    Ok(raised)
}
