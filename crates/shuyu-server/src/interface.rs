//! Generated data interfaces (接口生成, WX §3; SPEC §5.3): `GET /data-api/v1/{product}/{version}`.
//!
//! A call is admitted by its API key (only the key's SHA-256 is stored), its contract, the
//! product's and the operator's standing and the contract's quotas; its parameters are parsed to
//! their declared types and bound to the approved query; the workspace's grants govern the query
//! exactly as in the sandbox (masking, aggregation threshold, differencing, differential privacy);
//! and the call, answered or refused, is metered and audited before anything is returned.
//!
//! What a call needs to know about its key, contract, product and workspace is cached and read
//! again after any committed state change in this process, and at least every few seconds (other
//! processes on the same database).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use shuyu_audit::Outcome;
use shuyu_core::clock::format_instant;
use shuyu_core::operators::OrgStatus;
use shuyu_core::products::{InterfaceSpec, ProductStatus, VersionState};
use shuyu_sandbox::differencing::Earlier;
use shuyu_sandbox::engine::{self, Limits, Outcome as QueryOutcome};
use shuyu_sandbox::SandboxError;
use shuyu_store::group::{Change, Record};
use shuyu_store::products::{self as store, CallRecord, ContractRecord, KeyRecord, ProductRecord, VersionRecord};
use shuyu_store::sandbox::WorkspaceRecord;
use shuyu_store::AuditContext;

use crate::auth::token_hash;
use crate::error::{ApiError, ApiResult, FieldProblem};
use crate::routes::sandbox::{
    budget_exhausted, budget_json, grant_of_table, limits, readable, rows_as_json, sandbox_error, EARLIER_QUERIES,
};
use crate::state::AppState;

/// How long a cached fact may be used without looking again, for changes made by other processes.
const FRESH: Duration = Duration::from_secs(2);
/// Caches are dropped whole beyond this many entries.
const MAX_ENTRIES: usize = 10_000;
/// The result cache is dropped whole beyond this many rows.
const MAX_CACHED_ROWS: usize = 2_000_000;

/// Prefix of every API key, so a leaked one is recognisable in logs and scanners.
pub const KEY_PREFIX: &str = "sk_";

struct Cached<T> {
    value: T,
    generation: u64,
    at: Instant,
}

impl<T> Cached<T> {
    /// Read after the last committed state change, and recently enough for other processes'.
    fn fresh(&self, generation: u64) -> bool {
        self.generation == generation && self.at.elapsed() < FRESH
    }
}

/// What a key stands for.
#[derive(Clone)]
struct Target {
    key: KeyRecord,
    contract: ContractRecord,
    product: ProductRecord,
    operator: OrgStatus,
    operator_reason: Option<String>,
    workspace: WorkspaceRecord,
}

/// One contract's use: answered calls today and the instants of those in the last minute.
#[derive(Default)]
struct Usage {
    day: Option<chrono::NaiveDate>,
    today: u64,
    minute: VecDeque<DateTime<Utc>>,
}

/// A governed answer of one version for one set of parameters (never a differentially private
/// one: each of those is paid for and drawn afresh).
struct Answer {
    columns: Vec<String>,
    batches: Vec<datafusion::arrow::array::RecordBatch>,
    rows: usize,
    truncated: bool,
    suppressed: Option<u64>,
    touched: Value,
    /// Pages already rendered, by (offset, limit).
    pages: Mutex<HashMap<(usize, usize), Arc<RenderedPage>>>,
}

/// One page of an answer as it is sent.
struct RenderedPage {
    body: axum::body::Bytes,
    range: String,
    rows: i64,
}

/// Kept answers, with the rows they hold in all.
#[derive(Default)]
struct Answers {
    rows: usize,
    by_key: HashMap<String, Cached<Arc<Answer>>>,
}

/// A cache by key, each entry with the state generation it was read at.
type Cache<K, T> = Mutex<HashMap<K, Cached<T>>>;

/// The interfaces' shared caches and quota counters.
#[derive(Default)]
pub struct Interfaces {
    answers: Mutex<Answers>,
    targets: Cache<String, Option<Arc<Target>>>,
    versions: Cache<(String, i64), Option<Arc<VersionRecord>>>,
    workspaces: Cache<String, Arc<engine::Workspace>>,
    usage: Mutex<HashMap<String, Usage>>,
}

fn cached<K: std::hash::Hash + Eq, T: Clone>(map: &Cache<K, T>, key: &K, generation: u64) -> Option<T> {
    let map = map.lock().ok()?;
    map.get(key).filter(|c| c.fresh(generation)).map(|c| c.value.clone())
}

fn remember<K: std::hash::Hash + Eq, T>(map: &Cache<K, T>, key: K, value: T, generation: u64) {
    if let Ok(mut map) = map.lock() {
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, Cached { value, generation, at: Instant::now() });
    }
}

impl Interfaces {
    async fn target(&self, app: &AppState, hash: &str) -> ApiResult<Option<Arc<Target>>> {
        let generation = app.store.changes();
        if let Some(t) = cached(&self.targets, &hash.to_string(), generation) {
            return Ok(t);
        }
        let mut conn = app.store.acquire().await?;
        let found = async {
            let Some(key) = store::key_by_hash(&mut conn, hash).await? else { return Ok::<_, ApiError>(None) };
            let Some(contract) = store::get_contract(&mut conn, &key.contract_id).await? else { return Ok(None) };
            let Some(product) = store::get_product(&mut conn, &contract.product_id).await? else { return Ok(None) };
            let Some(workspace) = shuyu_store::sandbox::get_workspace(&mut conn, &product.workspace_id).await? else {
                return Ok(None);
            };
            let standing = shuyu_store::operators::standing(&mut conn, product.operator_org).await?;
            Ok(Some(Arc::new(Target {
                key,
                contract,
                product,
                operator: standing.status,
                operator_reason: standing.reason,
                workspace,
            })))
        }
        .await?;
        remember(&self.targets, hash.to_string(), found.clone(), generation);
        Ok(found)
    }

    async fn version(&self, app: &AppState, product: &str, version: i64) -> ApiResult<Option<Arc<VersionRecord>>> {
        let generation = app.store.changes();
        let k = (product.to_string(), version);
        if let Some(v) = cached(&self.versions, &k, generation) {
            return Ok(v);
        }
        let mut conn = app.store.acquire().await?;
        let v = store::get_version(&mut conn, product, version).await?.map(Arc::new);
        remember(&self.versions, k, v.clone(), generation);
        Ok(v)
    }

    async fn workspace(&self, app: &AppState, w: &WorkspaceRecord) -> ApiResult<Arc<engine::Workspace>> {
        let generation = app.store.changes();
        if let Some(ws) = cached(&self.workspaces, &w.id, generation) {
            return Ok(ws);
        }
        // Without the workspace's own queries: an interface's earlier calls are loaded per call.
        let ws = Arc::new(readable(app, w).await?);
        remember(&self.workspaces, w.id.clone(), ws.clone(), generation);
        Ok(ws)
    }

    fn answer(&self, key: &str, generation: u64) -> Option<Arc<Answer>> {
        let map = self.answers.lock().ok()?;
        map.by_key.get(key).filter(|c| c.fresh(generation)).map(|c| c.value.clone())
    }

    fn keep_answer(&self, key: String, a: Arc<Answer>, generation: u64) {
        if let Ok(mut map) = self.answers.lock() {
            if map.rows + a.rows > MAX_CACHED_ROWS || map.by_key.len() >= MAX_ENTRIES {
                map.by_key.clear();
                map.rows = 0;
            }
            map.rows += a.rows;
            if let Some(old) = map.by_key.insert(key, Cached { value: a, generation, at: Instant::now() }) {
                map.rows = map.rows.saturating_sub(old.value.rows);
            }
        }
    }

    /// Takes one call from the contract's quotas, or says which quota is spent and for how long.
    async fn take(&self, app: &AppState, c: &ContractRecord, now: DateTime<Utc>) -> ApiResult<Result<(), Exceeded>> {
        let today = app.clock.today();
        let known =
            self.usage.lock().map_err(|_| ApiError::internal())?.get(&c.id).is_some_and(|u| u.day == Some(today));
        if !known {
            // First call of the day in this process: count what is already recorded.
            let mut conn = app.store.acquire().await?;
            let n = store::answered_calls(&mut conn, &c.id, today).await?;
            let mut usage = self.usage.lock().map_err(|_| ApiError::internal())?;
            let u = usage.entry(c.id.clone()).or_default();
            if u.day != Some(today) {
                *u = Usage { day: Some(today), today: n, minute: VecDeque::new() };
            }
        }
        let mut usage = self.usage.lock().map_err(|_| ApiError::internal())?;
        let u = usage.entry(c.id.clone()).or_default();
        let minute_ago = now - chrono::Duration::seconds(60);
        while u.minute.front().is_some_and(|t| *t <= minute_ago) {
            u.minute.pop_front();
        }
        if u.today >= u64::from(c.terms.quota_per_day) {
            return Ok(Err(Exceeded {
                per: "day",
                limit: c.terms.quota_per_day,
                retry_after: seconds_to_midnight(now),
            }));
        }
        if u.minute.len() as u64 >= u64::from(c.terms.quota_per_minute) {
            let oldest = u.minute.front().copied().unwrap_or(now);
            let wait = (oldest + chrono::Duration::seconds(60) - now).num_seconds().max(1) as u64;
            return Ok(Err(Exceeded { per: "minute", limit: c.terms.quota_per_minute, retry_after: wait }));
        }
        u.today += 1;
        u.minute.push_back(now);
        Ok(Ok(()))
    }

    /// Gives back a call that was not answered: only answered calls count against quotas.
    fn give_back(&self, contract: &str, at: DateTime<Utc>) {
        if let Ok(mut usage) = self.usage.lock() {
            if let Some(u) = usage.get_mut(contract) {
                u.today = u.today.saturating_sub(1);
                if let Some(i) = u.minute.iter().rposition(|t| *t == at) {
                    u.minute.remove(i);
                }
            }
        }
    }
}

struct Exceeded {
    per: &'static str,
    limit: u32,
    retry_after: u64,
}

fn seconds_to_midnight(now: DateTime<Utc>) -> u64 {
    let local = now.with_timezone(&shuyu_core::clock::china_offset());
    let secs = chrono::Timelike::num_seconds_from_midnight(&local.time());
    u64::from(86_400 - secs.min(86_399))
}

/// The key a call presents: `Authorization: Bearer sk_…` or `X-Api-Key: sk_…`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
        })
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

fn parse_query(raw: Option<&str>) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(ApiError::validation(vec![FieldProblem::new(&k, "given twice", "参数重复")]));
        }
    }
    Ok(out)
}

/// Which rows of the result a call asks for: `offset`/`limit`, or `Range: rows=a-b`.
fn page(q: &BTreeMap<String, String>, headers: &HeaderMap, spec: &InterfaceSpec) -> Result<(usize, usize), ApiError> {
    let bad = |f: &str, en: &str, zh: &str| ApiError::validation(vec![FieldProblem::new(f, en, zh)]);
    let max_page = spec.page_size as usize;
    if let Some(range) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        let parsed = range
            .strip_prefix("rows=")
            .and_then(|r| r.split_once('-'))
            .and_then(|(a, b)| Some((a.trim().parse::<usize>().ok()?, b.trim().parse::<usize>().ok()?)));
        let Some((a, b)) = parsed.filter(|(a, b)| a <= b) else {
            return Err(bad("Range", "use rows=FIRST-LAST, e.g. rows=0-99", "请使用 rows=起始-结束，如 rows=0-99"));
        };
        return Ok((a, (b - a + 1).min(max_page)));
    }
    let num = |k: &str, default: usize| -> Result<usize, ApiError> {
        match q.get(k) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| bad(k, "a whole number", "须为非负整数")),
        }
    };
    let offset = num("offset", 0)?;
    let limit = num("limit", max_page)?;
    if limit == 0 || limit > max_page {
        return Err(bad("limit", &format!("from 1 to {max_page}"), &format!("须在1至{max_page}之间")));
    }
    Ok((offset, limit))
}

struct Refusal {
    error: ApiError,
    outcome: Outcome,
}

impl From<shuyu_store::StoreError> for Refusal {
    fn from(e: shuyu_store::StoreError) -> Self {
        Refusal::from(ApiError::from(e))
    }
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        let outcome = if error.status.is_server_error() { Outcome::Failure } else { Outcome::Denied };
        Refusal { error, outcome }
    }
}

/// What is known of a call as it goes, for its record.
struct Call {
    id: String,
    started: Instant,
    at: DateTime<Utc>,
    ctx: AuditContext,
    product: String,
    version: i64,
    key: Option<String>,
    contract: Option<String>,
    consumer: Option<String>,
    operator: String,
    params: Value,
    rows: i64,
    taken: bool,
}

impl Call {
    fn record(&self, outcome_name: &str, status: StatusCode, outcome: Outcome, extra: Value) -> Record {
        let call = CallRecord {
            id: self.id.clone(),
            key_id: self.key.clone(),
            contract_id: self.contract.clone(),
            product_id: self.product.clone(),
            version: self.version,
            consumer_org: self.consumer.clone(),
            operator_org: self.operator.clone(),
            params: self.params.clone(),
            outcome: outcome_name.to_string(),
            status: status.as_u16(),
            rows: self.rows,
            elapsed_us: i64::try_from(self.started.elapsed().as_micros()).unwrap_or(i64::MAX),
            day: self.at.with_timezone(&shuyu_core::clock::china_offset()).date_naive(),
            created_at: format_instant(self.at),
        };
        Record {
            ctx: self.ctx.clone(),
            action: "interface.call",
            resource: format!("product:{}", self.product),
            outcome,
            details: json!({ "call": self.id, "version": self.version, "key": self.key, "contract": self.contract,
                             "params": self.params, "outcome": outcome_name, "status": status.as_u16(),
                             "rows": self.rows, "detail": extra }),
            change: Change::Call(Box::new(call)),
        }
    }
}

pub async fn call(
    State(app): State<AppState>,
    Path((product, version)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    req: axum::extract::Request,
) -> Response {
    handle(app, product, version, raw, req, false).await
}

/// `GET /data-api/v1/{product}/{version}/file`: a dataset product's file (its approved,
/// watermarked export), under the same key, contract, standing and quota checks, metered and
/// audited like a call.
pub async fn file(
    State(app): State<AppState>,
    Path((product, version)): Path<(String, String)>,
    req: axum::extract::Request,
) -> Response {
    handle(app, product, version, None, req, true).await
}

async fn handle(
    app: AppState,
    product: String,
    version: String,
    raw: Option<String>,
    req: axum::extract::Request,
    file: bool,
) -> Response {
    let connect = req.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0);
    let headers = req.headers().clone();
    let now = app.clock.now();
    let mut c = Call {
        id: uuid::Uuid::now_v7().to_string(),
        started: Instant::now(),
        at: now,
        ctx: AuditContext {
            actor: "anonymous".into(),
            organisation: String::new(),
            request_id: headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_string(),
            client_addr: connect.map(|c| c.ip().to_string()).unwrap_or_default(),
        },
        product: product.chars().take(64).collect(),
        version: version.parse().unwrap_or(0),
        key: None,
        contract: None,
        consumer: None,
        operator: String::new(),
        params: Value::Null,
        rows: 0,
        taken: false,
    };
    let result = match file {
        false => serve(&app, &mut c, raw.as_deref(), &headers).await,
        true => deliver(&app, &mut c, &headers).await,
    };
    let (response, status, outcome_name, outcome, extra) = match result {
        Ok((response, extra)) => (response, StatusCode::OK, "answered", Outcome::Success, extra),
        Err(r) => {
            if c.taken {
                if let Some(contract) = &c.contract {
                    app.interfaces.give_back(contract, c.at);
                }
            }
            let status = r.error.status;
            let detail =
                json!({ "code": r.error.body.code, "basis": r.error.body.basis, "details": r.error.body.details });
            let name = if status == StatusCode::TOO_MANY_REQUESTS { "over_quota" } else { "refused" };
            let outcome_name = if r.outcome == Outcome::Failure { "failed" } else { name };
            let retry = r.error.body.details.get("retry_after_seconds").and_then(Value::as_u64);
            let mut response = r.error.into_response();
            if let Some(v) = retry.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            (response, status, outcome_name, r.outcome, detail)
        }
    };
    // Nothing leaves before its record is durable.
    match app.writer.record(c.record(outcome_name, status, outcome, extra)).await {
        Ok(_) => response,
        Err(e) => {
            tracing::error!(error = %e, "interface call not recorded");
            ApiError::internal().into_response()
        }
    }
}

/// Who may call: the key, its contract, the product's and the operator's standing, the version.
async fn admit(
    app: &AppState,
    c: &mut Call,
    headers: &HeaderMap,
) -> Result<(Arc<Target>, Arc<VersionRecord>), Refusal> {
    let Some(key) = presented_key(headers) else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "api_key_missing").into());
    };
    let hash = token_hash(key);
    let Some(t) = app.interfaces.target(app, &hash).await? else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "api_key_invalid").into());
    };
    c.ctx.actor = format!("api_key:{}", t.key.id);
    c.ctx.organisation = t.contract.consumer_org.to_string();
    c.key = Some(t.key.id.clone());
    c.contract = Some(t.contract.id.clone());
    c.consumer = Some(t.contract.consumer_org.to_string());
    c.operator = t.product.operator_org.to_string();
    if t.key.state != "active" {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "api_key_revoked").into());
    }
    if t.product.id != c.product {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "api_key_wrong_product")
            .with_details(json!({ "product": t.product.id }))
            .into());
    }
    match t.operator {
        OrgStatus::Active => {}
        _ => {
            let basis = app.profile.citation("operators.suspension").unwrap_or("WX §10").to_string();
            return Err(ApiError::new(StatusCode::FORBIDDEN, "operator_suspended")
                .with_details(json!({ "reason": t.operator_reason }))
                .with_basis(basis)
                .into());
        }
    }
    if t.product.status != ProductStatus::Active {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "product_suspended")
            .with_details(json!({ "status": t.product.status, "reason": t.product.status_reason }))
            .into());
    }
    let today = app.clock.today();
    if t.contract.state != "active" {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "contract_inactive")
            .with_details(json!({ "state": t.contract.state }))
            .into());
    }
    if today < t.contract.terms.valid_from || today > t.contract.terms.valid_until {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "contract_expired")
            .with_details(
                json!({ "valid_from": t.contract.terms.valid_from, "valid_until": t.contract.terms.valid_until }),
            )
            .into());
    }
    let Some(v) = app.interfaces.version(app, &t.product.id, c.version).await? else {
        return Err(ApiError::not_found("product version").into());
    };
    if v.state != VersionState::Published {
        return Err(ApiError::new(StatusCode::GONE, "version_not_available")
            .with_details(json!({ "state": v.state, "published_version": t.product.published_version }))
            .into());
    }
    Ok((t, v))
}

/// Takes the call from the contract's quotas.
async fn take_quota(app: &AppState, c: &mut Call, contract: &ContractRecord) -> Result<(), Refusal> {
    match app.interfaces.take(app, contract, c.at).await? {
        Ok(()) => {
            c.taken = true;
            Ok(())
        }
        Err(x) => Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded")
            .with_details(json!({ "per": x.per, "limit": x.limit, "retry_after_seconds": x.retry_after }))
            .into()),
    }
}

async fn deliver(app: &AppState, c: &mut Call, headers: &HeaderMap) -> Result<(Response, Value), Refusal> {
    let (t, v) = admit(app, c, headers).await?;
    let Some(export) = v.definition.export_id.as_deref() else {
        return Err(ApiError::not_found("dataset file").into());
    };
    take_quota(app, c, &t.contract).await?;
    let mut conn = app.store.acquire().await?;
    let e = shuyu_store::sandbox::get_export(&mut conn, export)
        .await?
        .filter(|e| e.state == "approved")
        .ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "interface_unavailable"))?;
    drop(conn);
    let bytes = crate::routes::sandbox::export_file(app, &e)
        .await
        .ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "interface_unavailable"))?;
    c.rows = e.rows;
    let resp = (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}-v{}.csv\"", t.product.id, c.version)),
        ],
        bytes,
    )
        .into_response();
    Ok((resp, json!({ "export": e.id, "sha256": e.sha256, "bytes": e.bytes })))
}

async fn serve(
    app: &AppState,
    c: &mut Call,
    raw: Option<&str>,
    headers: &HeaderMap,
) -> Result<(Response, Value), Refusal> {
    let (t, v) = admit(app, c, headers).await?;
    let Some(spec) = v.definition.interface.as_ref() else {
        return Err(ApiError::not_found("interface").into());
    };
    let query = parse_query(raw)?;
    let values = spec.bind(&query).map_err(|problems| {
        ApiError::validation(problems.into_iter().map(|p| FieldProblem::new(&p.field, p.en, p.zh)).collect())
    })?;
    c.params = json!(query.iter().filter(|(k, _)| values.contains_key(*k)).collect::<BTreeMap<_, _>>());
    let (offset, limit) = page(&query, headers, spec)?;
    if offset >= spec.max_rows as usize {
        return Err(ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable")
            .with_details(json!({ "max_rows": spec.max_rows }))
            .into());
    }
    take_quota(app, c, &t.contract).await?;
    // The same version with the same values gives the same governed answer until something
    // changes: it is kept, and only the checks, quotas, metering and audit run again.
    let generation = app.store.changes();
    let answer_key = format!("{}\u{1f}{}\u{1f}{}", t.product.id, c.version, c.params);
    if app.config.interface_result_cache {
        if let Some(a) = app.interfaces.answer(&answer_key, generation) {
            return Ok(rows_response(c, &t.product.id, &a, offset, limit)?);
        }
    }
    let ws = app.interfaces.workspace(app, &t.workspace).await?;
    let ws = if ws.governed.iter().any(|g| !g.grant.privacy.reads_rows()) {
        let mut with = ws.as_ref().clone();
        with.earlier = earlier_calls(app, &t.product.id, c.version, spec).await?;
        Arc::new(with)
    } else {
        ws
    };
    let lim = Limits { display_rows: spec.max_rows as usize, ..limits(app) };
    let bound = shuyu_sandbox::interface::values(&values);
    let out = match ws.run_bound(&spec.sql, &bound, &lim).await {
        Ok(o) => o,
        Err(e @ SandboxError::Refused { .. }) => return Err(sandbox_error(e).into()),
        Err(e) => {
            let error = sandbox_error(e);
            if !error.status.is_client_error() {
                return Err(error.into());
            }
            // The approved query no longer runs (a grant expired, a table changed): the
            // interface is unavailable, not the consumer's fault.
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "interface_unavailable")
                .with_details(error.body.details.clone())
                .into());
        }
    };
    match out.outcome {
        QueryOutcome::Rows { schema, batches, rows, truncated, suppressed, .. } => {
            let answer = Arc::new(Answer {
                columns: schema.fields().iter().map(|f| f.name().clone()).collect(),
                batches,
                rows,
                truncated,
                suppressed,
                touched: json!(out.touched),
                pages: Mutex::default(),
            });
            if app.config.interface_result_cache {
                app.interfaces.keep_answer(answer_key, answer.clone(), generation);
            }
            Ok(rows_response(c, &t.product.id, &answer, offset, limit)?)
        }
        QueryOutcome::Private(p) => {
            // Paid for in the grant's budget before any noise is drawn, as in the sandbox.
            let mut tx = app.begin().await.map_err(Refusal::from)?;
            let grant = grant_of_table(tx.conn(), &t.workspace.id, &p.table).await?;
            let now = tx.now();
            let spent = shuyu_store::privacy::spend(tx.conn(), &grant, &c.id, p.epsilon, p.delta, &c.ctx.actor, now)
                .await
                .map_err(ApiError::from)?;
            let audit = json!({ "call": c.id, "budget": budget_json(&grant, &spent) });
            let paid = matches!(spent, shuyu_store::privacy::Spend::Spent(_));
            let outcome = if paid { Outcome::Success } else { Outcome::Denied };
            tx.audit(&c.ctx, "interface.privacy_spend", &format!("grant:{grant}"), outcome, audit)
                .await
                .map_err(ApiError::from)?;
            tx.commit().await.map_err(ApiError::from)?;
            if !paid {
                return Err(budget_exhausted(&grant, &spent).into());
            }
            let released = p.release(&mut rand::rngs::OsRng).map_err(sandbox_error)?;
            c.rows = released.rows.len() as i64;
            let body = json!({
                "product": t.product.id, "version": c.version, "columns": released.columns, "rows": released.rows,
                "offset": 0, "limit": released.rows.len(), "total": released.rows.len(), "truncated": false,
                "privacy": { "epsilon": released.epsilon, "delta": released.delta, "mechanism": released.mechanism,
                             "noise": released.noise },
            });
            Ok((Json(body).into_response(), json!({ "touched": out.touched, "privacy": budget_json(&grant, &spent) })))
        }
        _ => Err(ApiError::internal().into()),
    }
}

/// One page of an answer, with its `Content-Range`; rendered once per answer and page.
fn rows_response(c: &mut Call, product: &str, a: &Answer, offset: usize, limit: usize) -> ApiResult<(Response, Value)> {
    let cached = a.pages.lock().ok().and_then(|p| p.get(&(offset, limit)).cloned());
    let page = match cached {
        Some(p) => p,
        None => {
            // Only the page is turned into JSON.
            let slice = rows_as_json(&page_of(&a.batches, offset, limit), &a.columns)?;
            let total = if a.truncated { "*".to_string() } else { a.rows.to_string() };
            let range = if slice.is_empty() {
                format!("rows */{total}")
            } else {
                format!("rows {}-{}/{total}", offset, offset + slice.len() - 1)
            };
            let rows = slice.len() as i64;
            let body = json!({
                "product": product, "version": c.version, "columns": a.columns, "rows": slice,
                "offset": offset, "limit": limit, "total": if a.truncated { Value::Null } else { json!(a.rows) },
                "truncated": a.truncated, "suppressed_groups": a.suppressed,
            });
            let body = serde_json::to_vec(&body).map_err(|_| ApiError::internal())?;
            let page = Arc::new(RenderedPage { body: body.into(), range, rows });
            if let Ok(mut pages) = a.pages.lock() {
                if pages.len() < 64 {
                    pages.insert((offset, limit), page.clone());
                }
            }
            page
        }
    };
    c.rows = page.rows;
    let mut resp = ([(header::CONTENT_TYPE, "application/json")], page.body.clone()).into_response();
    if let Ok(v) = HeaderValue::from_str(&page.range) {
        resp.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    Ok((resp, json!({ "touched": a.touched, "suppressed_groups": a.suppressed })))
}

/// Rows `offset..offset + limit` of a result, as slices of its batches (no copy).
fn page_of(
    batches: &[datafusion::arrow::array::RecordBatch],
    offset: usize,
    limit: usize,
) -> Vec<datafusion::arrow::array::RecordBatch> {
    let (mut skip, mut left) = (offset, limit);
    let mut out = Vec::new();
    for b in batches {
        if left == 0 {
            break;
        }
        let n = b.num_rows();
        if skip >= n {
            skip -= n;
            continue;
        }
        let take = (n - skip).min(left);
        out.push(b.slice(skip, take));
        left -= take;
        skip = 0;
    }
    out
}

/// The version's recent answered calls, with their parameters bound again, so that a call whose
/// groups differ from an earlier call's by fewer than k subjects is refused (SPEC §4.5).
async fn earlier_calls(app: &AppState, product: &str, version: i64, spec: &InterfaceSpec) -> ApiResult<Vec<Earlier>> {
    let mut conn = app.store.acquire().await?;
    let calls = store::recent_calls(&mut conn, product, version, EARLIER_QUERIES).await?;
    let mut out = Vec::new();
    for (id, params) in calls {
        let raw: BTreeMap<String, String> = serde_json::from_value(params).unwrap_or_default();
        if let Ok(values) = spec.bind(&raw) {
            out.push(Earlier {
                query: format!("call {id}"),
                sql: spec.sql.clone(),
                params: Some(shuyu_sandbox::interface::values(&values)),
            });
        }
    }
    Ok(out)
}

/// The OpenAPI document of one published interface, generated from its declaration.
pub async fn openapi(
    State(app): State<AppState>,
    Path((product, version)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let version: i64 = version.parse().map_err(|_| ApiError::not_found("product version"))?;
    let mut conn = app.store.acquire().await?;
    let p = store::get_product(&mut conn, &product).await?.ok_or_else(|| ApiError::not_found("product"))?;
    let v = store::get_version(&mut conn, &product, version)
        .await?
        .ok_or_else(|| ApiError::not_found("product version"))?;
    drop(conn);
    let Some(spec) = v.definition.interface.as_ref().filter(|_| v.state == VersionState::Published) else {
        return Err(ApiError::not_found("interface"));
    };
    Ok(Json(document(&p, &v, spec)))
}

fn json_type(arrow: &str) -> &'static str {
    let a = arrow.to_ascii_lowercase();
    if a.starts_with("int") || a.starts_with("uint") {
        "integer"
    } else if a.starts_with("float") || a.starts_with("decimal") {
        "number"
    } else if a == "boolean" {
        "boolean"
    } else {
        "string"
    }
}

pub fn document(p: &ProductRecord, v: &VersionRecord, spec: &InterfaceSpec) -> Value {
    let mut params: Vec<Value> = spec
        .parameters
        .iter()
        .map(|q| {
            let mut schema = json!({ "type": match q.kind {
                shuyu_core::products::ParamType::String | shuyu_core::products::ParamType::Date => "string",
                shuyu_core::products::ParamType::Integer => "integer",
                shuyu_core::products::ParamType::Number => "number",
                shuyu_core::products::ParamType::Boolean => "boolean",
            }});
            if q.kind == shuyu_core::products::ParamType::Date {
                schema["format"] = json!("date");
            }
            if let Some(m) = q.min {
                schema["minimum"] = json!(m);
            }
            if let Some(m) = q.max {
                schema["maximum"] = json!(m);
            }
            if let Some(m) = q.max_length {
                schema["maxLength"] = json!(m);
            }
            if !q.allowed.is_empty() {
                schema["enum"] = json!(q.allowed);
            }
            if let Some(d) = &q.default {
                schema["default"] = json!(d);
            }
            json!({ "name": q.name, "in": "query", "required": q.required, "description": q.description, "schema": schema })
        })
        .collect();
    params.push(
        json!({ "name": "offset", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 0 } }),
    );
    params.push(json!({ "name": "limit", "in": "query", "required": false,
                        "schema": { "type": "integer", "minimum": 1, "maximum": spec.page_size } }));
    let columns =
        v.prepared.as_ref().and_then(|p| p.get("columns")).and_then(Value::as_array).cloned().unwrap_or_default();
    let names: Vec<Value> = columns.iter().filter_map(|c| c.get(0).cloned()).collect();
    let cell_types: Vec<Value> =
        columns.iter().map(|c| json!({ "type": json_type(c.get(1).and_then(Value::as_str).unwrap_or("")) })).collect();
    let path = format!("/data-api/v1/{}/{}", p.id, v.version);
    let error = json!({ "$ref": "#/components/schemas/Error" });
    json!({
        "openapi": "3.0.3",
        "info": { "title": p.name, "version": v.version.to_string(), "description": v.definition.description,
                  "x-certificate-code": v.certificate_code,
                  "x-scenarios": v.definition.scenarios, "x-usage-scope": v.definition.usage_scope },
        "paths": { path: { "get": {
            "summary": p.name,
            "parameters": params,
            "security": [{ "apiKey": [] }, { "bearer": [] }],
            "responses": {
                "200": { "description": "One page of the result; Content-Range: rows FIRST-LAST/TOTAL",
                         "headers": { "Content-Range": { "schema": { "type": "string" } } },
                         "content": { "application/json": { "schema": { "type": "object", "properties": {
                             "columns": { "type": "array", "items": { "type": "string" }, "example": names },
                             "rows": { "type": "array", "items": { "type": "array", "items": { "oneOf": cell_types } } },
                             "offset": { "type": "integer" }, "limit": { "type": "integer" },
                             "total": { "type": "integer", "nullable": true },
                             "suppressed_groups": { "type": "integer", "nullable": true } } } } } },
                "401": { "description": "No key, an unknown key or a revoked key", "content": { "application/json": { "schema": error } } },
                "403": { "description": "Contract, product or operator not active; query refused by the grant's rules", "content": { "application/json": { "schema": error } } },
                "422": { "description": "A parameter is invalid", "content": { "application/json": { "schema": error } } },
                "429": { "description": "Quota per minute or per day spent; Retry-After says when", "content": { "application/json": { "schema": error } } }
            }
        } } },
        "components": {
            "securitySchemes": {
                "apiKey": { "type": "apiKey", "in": "header", "name": "X-Api-Key" },
                "bearer": { "type": "http", "scheme": "bearer" }
            },
            "schemas": { "Error": { "type": "object", "required": ["code", "message", "message_zh"], "properties": {
                "code": { "type": "string" }, "message": { "type": "string" }, "message_zh": { "type": "string" },
                "basis": { "type": "string", "nullable": true }, "details": { "type": "object" } } } }
        }
    })
}
