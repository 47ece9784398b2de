//! Liveness, readiness, metrics and the OpenAPI document.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use crate::state::AppState;

pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Ready when the database answers; says whether this process leads (runs the scheduler).
pub async fn readyz(State(app): State<AppState>) -> impl IntoResponse {
    match app.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "database": app.store.backend().as_str(),
                         "scheduler_leader": app.leadership.is_leader() })),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "database": app.store.backend().as_str() })),
        ),
    }
}

pub async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    let size = app.ledger.size().await;
    let mut text = app.metrics.render(size);
    text.push_str("# HELP shuyu_scheduler_leader 1 when this process runs the scheduler and the monitor.\n");
    text.push_str("# TYPE shuyu_scheduler_leader gauge\n");
    text.push_str(&format!("shuyu_scheduler_leader {}\n", u8::from(app.leadership.is_leader())));
    // The group writer (sign-ins, metered calls): records per transaction is the batch size.
    let g = app.writer.stats();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    for (name, help, value) in [
        ("shuyu_group_commit_transactions_total", "Transactions the group writer committed.", load(&g.batches)),
        ("shuyu_group_commit_records_total", "Records (changes with their audit events) in them.", load(&g.records)),
    ] {
        text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}

pub async fn openapi() -> impl IntoResponse {
    Json(crate::openapi::document())
}
