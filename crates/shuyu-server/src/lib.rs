//! Shuyu's HTTP server: the JSON API, the OpenAPI document, the web console and the scheduler.

pub mod auth;
pub mod catalogue;
pub mod config;
pub mod console;
pub mod demo;
pub mod error;
pub mod extract;
pub mod flight;
pub mod i18n;
pub mod interface;
pub mod leader;
pub mod metrics;
pub mod monitor;
pub mod objects;
pub mod openapi;
pub mod operators;
pub mod quality;
pub mod registry;
pub mod routes;
pub mod sandbox;
pub mod scheduler;
pub mod state;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use shuyu_audit::TreeSigner;
use shuyu_authz::Authorizer;
use shuyu_core::calendar::WorkingCalendar;
use shuyu_core::clock::{Clock, SystemClock, TestClock};
use shuyu_core::profile::PolicyProfile;
use shuyu_store::audit::Ledger;
use shuyu_store::Store;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use config::ServerConfig;
pub use error::{ApiError, ApiResult};
pub use state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("audit signing key {path}: {reason}")]
    SigningKey { path: String, reason: String },
    #[error(transparent)]
    Store(#[from] shuyu_store::StoreError),
    #[error(transparent)]
    Authz(#[from] shuyu_authz::AuthzError),
    #[error(transparent)]
    Core(#[from] shuyu_core::CoreError),
    #[error("search index: {0}")]
    Search(String),
    #[error("sandbox.query_seconds ({query}) must be below request_timeout_secs ({request}), or queries would outlive their requests")]
    QueryLimit { query: u64, request: u64 },
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
    #[error("query_cluster: {0}")]
    Cluster(String),
    #[error("object storage: {0}")]
    Objects(String),
}

/// Loads the signing key, creating it (readable by the owner only) on first start.
pub fn load_or_create_signer(path: &Path) -> Result<TreeSigner, ServerError> {
    let err = |reason: String| ServerError::SigningKey { path: path.display().to_string(), reason };
    if path.exists() {
        let pem = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        return TreeSigner::from_pkcs8_pem(&pem).map_err(|e| err(e.to_string()));
    }
    let signer = TreeSigner::generate();
    let pem = signer.to_pkcs8_pem().map_err(|e| err(e.to_string()))?;
    write_private_file(path, pem.as_bytes()).map_err(|e| err(e.to_string()))?;
    Ok(signer)
}

fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Everything the server needs, opened and checked; errors name what is wrong.
pub async fn build_state(config: ServerConfig) -> Result<AppState, ServerError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|source| ServerError::DataDir { path: config.data_dir.display().to_string(), source })?;
    let profile = load_profile(&config.profile)?;
    if profile.sandbox.query_seconds >= config.request_timeout_secs {
        return Err(ServerError::QueryLimit {
            query: profile.sandbox.query_seconds,
            request: config.request_timeout_secs,
        });
    }
    let mut calendar = WorkingCalendar::shipped()?;
    if let Some(dir) = &config.calendar_dir {
        calendar.load_dir(dir)?;
    }
    if config.provisional_calendar_years {
        let this_year = chrono::Datelike::year(&shuyu_core::clock::SystemClock.today());
        for year in this_year..=this_year + 2 {
            if calendar.add_provisional_year(year) {
                tracing::warn!(
                    year,
                    "no working-day calendar for this year: a provisional one is used (rehearsal only)"
                );
            }
        }
    }
    let store = Store::connect(&config.database_url()).await?;
    let signer = load_or_create_signer(&config.audit_key_path())?;
    let certificate_signer = load_or_create_signer(&config.certificate_key_path())?;
    let authz = Authorizer::new()?;
    let catalogue_index = shuyu_search::CatalogueIndex::in_memory().map_err(|e| ServerError::Search(e.to_string()))?;
    let ledger = Ledger::new();
    ledger.sync(&store).await?;
    // YXO §19: the database refuses to delete events younger than this, whoever asks.
    let years = profile.audit.retention_years;
    let mut conn = store.pool().acquire().await.map_err(shuyu_store::StoreError::from)?;
    let raised = shuyu_store::supervision::ensure_retention(&mut conn, years).await?;
    drop(conn);
    if raised {
        let ctx = shuyu_store::AuditContext::system("startup");
        let details = serde_json::json!({ "years": years, "basis": "YXO §19" });
        store
            .record(
                chrono::Utc::now(),
                &ctx,
                "audit.retention_raised",
                "audit:retention",
                shuyu_audit::Outcome::Success,
                details,
            )
            .await?;
    }
    let test_clock = config.test_clock.then(|| Arc::new(TestClock::new()));
    let clock: Arc<dyn Clock> = match &test_clock {
        Some(tc) => tc.clone(),
        None => Arc::new(SystemClock),
    };
    let mut objects = objects::Objects::open(&config.objects, &config.data_dir)?;
    if config.test_clock {
        objects = objects.with_test_stall(&config.data_dir);
    }
    let cluster = match config.query_cluster.as_deref() {
        Some(url) if !url.is_empty() => {
            Some(shuyu_sandbox::distributed::Cluster::parse(url).map_err(|e| ServerError::Cluster(e.to_string()))?)
        }
        _ => None,
    };
    let writer = {
        let clock = clock.clone();
        shuyu_store::group::GroupWriter::start(store.clone(), Arc::new(move || clock.now()))?
    };
    let state = AppState {
        inner: Arc::new(state::Inner {
            config,
            store,
            authz,
            ledger,
            signer,
            certificate_signer,
            clock,
            test_clock,
            profile,
            catalogue_index,
            calendar,
            metrics: Default::default(),
            running_queries: Default::default(),
            writer,
            objects,
            cluster,
            interfaces: Default::default(),
            monitor: Default::default(),
            leadership: Default::default(),
        }),
    };
    catalogue::rebuild_index(&state).await.map_err(|e| ServerError::Search(e.body.message.clone()))?;
    Ok(state)
}

/// A built-in profile name, or a path to a TOML file.
pub fn load_profile(name: &str) -> Result<PolicyProfile, ServerError> {
    if name.ends_with(".toml") || name.contains('/') {
        Ok(PolicyProfile::from_file(Path::new(name))?)
    } else {
        Ok(PolicyProfile::builtin(name)?)
    }
}

pub fn router(state: AppState) -> Router {
    let config = &state.config;
    Router::new()
        .merge(routes::api(config.test_clock))
        .merge(console::router())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(CatchPanicLayer::custom(|_| ApiError::internal().into_response()))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(config.request_timeout_secs),
        ))
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
        .layer(axum::extract::DefaultBodyLimit::max(config.max_body_bytes))
        // Outside the limits and the timeout, so their plain-text refusals become JSON too.
        .layer(middleware::from_fn(json_errors))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
            let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            // Only the path: query strings may carry search terms about people.
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %request_id)
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

/// Counts requests by route for `/metrics`.
async fn observe(axum::extract::State(app): axum::extract::State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let response = next.run(req).await;
    app.metrics.observe(&method, &route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// Errors produced below the handlers (body too large, timeout, wrong method) are plain text;
/// under `/api` they are rewritten to the uniform JSON error.
async fn json_errors(req: Request, next: Next) -> Response {
    let is_api = req.uri().path().starts_with("/api");
    let response = next.run(req).await;
    let status = response.status();
    let is_json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_api || is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let mut err = ApiError::new(status, code);
    if status == StatusCode::METHOD_NOT_ALLOWED {
        err = err.with_reason("method not allowed on this path", "该路径不支持此请求方法");
    }
    err.into_response()
}

/// A running server, for `shuyu serve` and the integration tests.
pub struct RunningServer {
    pub addr: SocketAddr,
    /// Where Flight SQL listens, when configured.
    pub flight_addr: Option<SocketAddr>,
    pub state: AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<Result<(), ServerError>>,
}

impl RunningServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets requests in flight finish, and waits.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.handle.await {
            Ok(r) => r,
            Err(e) => Err(ServerError::Serve(std::io::Error::other(e.to_string()))),
        }
    }

    /// Waits until the server stops by itself (a signal).
    pub async fn wait(self) -> Result<(), ServerError> {
        match self.handle.await {
            Ok(r) => r,
            Err(e) => Err(ServerError::Serve(std::io::Error::other(e.to_string()))),
        }
    }
}

/// Binds and serves in the background; with `until_signal`, also stops on SIGINT/SIGTERM.
pub async fn start(state: AppState, until_signal: bool) -> Result<RunningServer, ServerError> {
    let addr = state.config.listen;
    let listener = TcpListener::bind(addr).await.map_err(|source| ServerError::Listen { addr, source })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Listen { addr, source })?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    // Flight SQL, when configured, stops with the HTTP server.
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    let flight = match state.config.flight_listen {
        Some(at) => {
            let l = TcpListener::bind(at).await.map_err(|source| ServerError::Listen { addr: at, source })?;
            let bound = l.local_addr().map_err(|source| ServerError::Listen { addr: at, source })?;
            let mut stopped = stopped.clone();
            let task = tokio::spawn(flight::serve(state.clone(), l, async move {
                let _ = stopped.wait_for(|s| *s).await;
            }));
            Some((bound, task))
        }
        None => None,
    };
    let flight_addr = flight.as_ref().map(|(a, _)| *a);
    let leader = leader::start(state.clone()).await;
    let scheduler = scheduler::spawn(state.clone());
    let monitor = monitor::spawn(state.clone());
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let handle = tokio::spawn(async move {
        let stop = async move {
            if until_signal {
                tokio::select! {
                    _ = rx => {},
                    _ = shutdown_signal() => {},
                }
            } else {
                let _ = rx.await;
            }
            let _ = stopping.send(true);
        };
        let result = axum::serve(listener, app).with_graceful_shutdown(stop).await.map_err(ServerError::Serve);
        if let Some((_, task)) = flight {
            match task.await {
                Ok(Err(e)) => tracing::error!(error = %e, "flight sql stopped"),
                Err(e) => tracing::error!(error = %e, "flight sql task failed"),
                Ok(Ok(())) => {}
            }
        }
        scheduler.abort();
        leader.abort();
        if let Some(m) = monitor {
            m.abort();
        }
        result
    });
    Ok(RunningServer { addr, flight_addr, state, shutdown: Some(tx), handle })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Security headers for console pages.
pub fn html_headers() -> [(header::HeaderName, HeaderValue); 4] {
    [
        (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'"),
        ),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    ]
}
