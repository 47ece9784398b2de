//! Arrow Flight SQL for operators' own tools (ADBC drivers, the JDBC Flight SQL driver in
//! DBeaver, Python `adbc-driver-flightsql`). It is another door to the same room: a call carries
//! the operator's bearer token (`authorization: Bearer …`) and names one workspace
//! (`x-shuyu-workspace: …`); every statement goes through [`governed_query`], so it is admitted,
//! governed, limited, recorded and audited exactly as over HTTP, and the catalogue shows only
//! the tables and columns the workspace's grants let a query name.
//!
//! A statement runs when its `FlightInfo` is asked for; its answer (already cut to the display
//! limit) is held for the same session to fetch once with the ticket, for at most
//! [`HELD_FOR`]. Nothing runs twice and nothing is fetched by anyone else.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::flight_service_server::FlightServiceServer;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::FlightSqlService;
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult,
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetSqlInfo, CommandGetTables, CommandPreparedStatementQuery,
    CommandStatementQuery, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{Action, FlightData, FlightDescriptor, FlightEndpoint, FlightInfo, Ticket};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::StatusCode;
use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures::{Stream, StreamExt};
use prost::Message;
use serde_json::Value;
use shuyu_sandbox::engine::Outcome as QueryOutcome;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::sandbox::{governed_query, sandbox_error, workspace_tables, Answered};
use crate::state::AppState;

/// The header that names the workspace a connection works in.
pub const WORKSPACE_HEADER: &str = "x-shuyu-workspace";
/// The catalogue name clients see; each workspace is a schema in it.
const CATALOG: &str = "shuyu";
/// How long an answer waits for its ticket.
pub const HELD_FOR: Duration = Duration::from_secs(300);

static SQL_INFO: LazyLock<Option<SqlInfoData>> = LazyLock::new(|| {
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "Shuyu 数域");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    b.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
    b.append(SqlInfo::FlightSqlServerReadOnly, false);
    b.build().ok()
});

/// An answer waiting for its ticket, or a prepared statement waiting to run: bound to the
/// session that made it.
struct Held<T> {
    session: String,
    until: Instant,
    value: T,
}

struct Answer {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

type HeldMap<T> = Arc<Mutex<HashMap<String, Held<T>>>>;

/// The Flight SQL service over the server's state.
#[derive(Clone)]
pub struct FlightSql {
    app: AppState,
    answers: HeldMap<Answer>,
    prepared: HeldMap<(String, String)>,
}

/// A caller who signed in, and the workspace their connection names.
struct Session {
    caller: Caller,
    token_hash: String,
    workspace: Option<String>,
}

impl Session {
    /// The workspace the call names; every call that reads or runs anything needs one.
    fn workspace(&self) -> Result<&str, Status> {
        self.workspace.as_deref().ok_or_else(workspace_missing)
    }
}

fn status_of(e: ApiError) -> Status {
    let code = match e.status {
        StatusCode::UNAUTHORIZED => tonic::Code::Unauthenticated,
        StatusCode::FORBIDDEN | StatusCode::LOCKED => tonic::Code::PermissionDenied,
        StatusCode::NOT_FOUND => tonic::Code::NotFound,
        StatusCode::CONFLICT => tonic::Code::FailedPrecondition,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::PAYLOAD_TOO_LARGE => tonic::Code::ResourceExhausted,
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => tonic::Code::DeadlineExceeded,
        s if s.is_client_error() => tonic::Code::InvalidArgument,
        _ => tonic::Code::Internal,
    };
    let b = &e.body;
    // The code, both messages and the article in the text every client shows; the whole error
    // body, as over HTTP, in the details.
    let basis = b.basis.as_deref().map(|a| format!(" [basis: {a}]")).unwrap_or_default();
    let message = format!("{}: {} / {}{basis}", b.code, b.message, b.message_zh);
    let details = serde_json::to_vec(b).unwrap_or_default();
    Status::with_details(code, message, details.into())
}

fn internal(what: impl std::fmt::Display) -> Status {
    tracing::error!(error = %what, "flight sql");
    status_of(ApiError::internal())
}

fn unauthenticated() -> Status {
    status_of(ApiError::unauthenticated())
}

fn workspace_missing() -> Status {
    status_of(ApiError::new(StatusCode::BAD_REQUEST, "validation").with_reason(
        "name the workspace in the x-shuyu-workspace header (ADBC: adbc.flight.sql.rpc.call_header.x-shuyu-workspace)",
        "请在 x-shuyu-workspace 请求头中指明工作空间（ADBC 选项 adbc.flight.sql.rpc.call_header.x-shuyu-workspace）",
    ))
}

fn stream_of(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send>> {
    let stream = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(futures::stream::iter(batches.into_iter().map(Ok)))
        .map(|r| r.map_err(Status::from));
    Box::pin(stream)
}

/// A column of JSON values as Arrow: numbers as Int64 or Float64, anything else as text.
fn json_column(values: &[&Value]) -> (DataType, ArrayRef) {
    if values.iter().all(|v| v.is_i64() || v.is_null()) {
        let a: Int64Array = values.iter().map(|v| v.as_i64()).collect();
        (DataType::Int64, Arc::new(a))
    } else if values.iter().all(|v| v.is_number() || v.is_null()) {
        let a: Float64Array = values.iter().map(|v| v.as_f64()).collect();
        (DataType::Float64, Arc::new(a))
    } else {
        let a: StringArray = values
            .iter()
            .map(|v| match v {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            })
            .collect();
        (DataType::Utf8, Arc::new(a))
    }
}

fn table_of(columns: &[String], rows: &[Vec<Value>]) -> Result<Answer, Status> {
    let mut fields = Vec::with_capacity(columns.len());
    let mut arrays = Vec::with_capacity(columns.len());
    for (i, name) in columns.iter().enumerate() {
        let values: Vec<&Value> = rows.iter().map(|r| r.get(i).unwrap_or(&Value::Null)).collect();
        let (t, a) = json_column(&values);
        fields.push(Field::new(name, t, true));
        arrays.push(a);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(internal)?;
    Ok(Answer { schema, batches: vec![batch] })
}

/// What a client receives for an answered statement.
fn answer_of(answered: Answered) -> Result<Answer, Status> {
    match answered.output.outcome {
        QueryOutcome::Rows { schema, batches, .. } => Ok(Answer { schema, batches }),
        QueryOutcome::Created { table, rows, .. } => {
            table_of(&["created".into(), "row_count".into()], &[vec![Value::from(table), Value::from(rows)]])
        }
        QueryOutcome::Dropped { table } => table_of(&["dropped".into()], &[vec![Value::from(table)]]),
        QueryOutcome::Private(p) => {
            // Paid for when the query was recorded; the noise is drawn once, here.
            let released = p.release(&mut rand::rngs::OsRng).map_err(|e| status_of(sandbox_error(e)))?;
            table_of(&released.columns, &released.rows)
        }
    }
}

impl FlightSql {
    pub fn new(app: AppState) -> Self {
        Self { app, answers: Arc::default(), prepared: Arc::default() }
    }

    /// The signed-in caller behind a call's metadata, through the same extractor as HTTP (so a
    /// revoked session, a disabled account or a suspended organisation is refused the same way).
    async fn session(&self, metadata: &MetadataMap, remote: Option<SocketAddr>) -> Result<Session, Status> {
        let workspace = metadata.get(WORKSPACE_HEADER).and_then(|v| v.to_str().ok()).map(|s| s.trim().to_string());
        let mut req = axum::http::Request::builder().uri("/flight-sql").body(()).map_err(internal)?;
        *req.headers_mut() = metadata.clone().into_headers();
        let (mut parts, ()) = req.into_parts();
        if let Some(addr) = remote {
            parts.extensions.insert(ConnectInfo(addr));
        }
        let caller = Caller::from_request_parts(&mut parts, &self.app).await.map_err(status_of)?;
        let (Some(_), Some(token_hash)) = (&caller.user, caller.token_hash.clone()) else {
            return Err(unauthenticated());
        };
        Ok(Session { caller, token_hash, workspace: workspace.filter(|w| !w.is_empty()) })
    }

    fn hold<T>(&self, map: &HeldMap<T>, session: &str, value: T) -> Result<String, Status> {
        let handle = uuid::Uuid::new_v4().to_string();
        let mut m = map.lock().map_err(internal)?;
        let now = Instant::now();
        m.retain(|_, h| h.until > now);
        m.insert(handle.clone(), Held { session: session.to_string(), until: now + HELD_FOR, value });
        Ok(handle)
    }

    fn expired() -> Status {
        status_of(ApiError::not_found("ticket").with_reason(
            "this ticket is unknown, was already used, expired, or belongs to another session: run the statement again",
            "该票据不存在、已使用、已过期或属于其他会话：请重新执行语句",
        ))
    }

    async fn run(&self, s: &Session, sql: &str, descriptor: FlightDescriptor) -> Result<FlightInfo, Status> {
        let workspace = s.workspace()?;
        let answered = governed_query(&self.app, &s.caller, workspace, sql, None, None).await.map_err(status_of)?;
        let answer = answer_of(answered)?;
        let rows: usize = answer.batches.iter().map(RecordBatch::num_rows).sum();
        let schema = answer.schema.clone();
        let handle = self.hold(&self.answers, &s.token_hash, answer)?;
        let ticket = TicketStatementQuery { statement_handle: handle.into_bytes().into() };
        Ok(Self::info_for(&ticket, &schema, descriptor)?.with_total_records(rows as i64))
    }

    async fn catalogue(&self, s: &Session) -> Result<Vec<(String, SchemaRef)>, Status> {
        let workspace = s.workspace()?;
        workspace_tables(&self.app, &s.caller, workspace).await.map_err(status_of)
    }

    /// Where to fetch `query`'s answer: a ticket carrying the message, on this server.
    fn info_for<M: ProstMessageExt>(
        query: &M,
        schema: &Schema,
        descriptor: FlightDescriptor,
    ) -> Result<FlightInfo, Status> {
        let ticket = Ticket::new(query.as_any().encode_to_vec());
        Ok(FlightInfo::new()
            .try_with_schema(schema)
            .map_err(internal)?
            .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
            .with_descriptor(descriptor))
    }
}

type DoGetStream = Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl FlightSqlService for FlightSql {
    type FlightService = FlightSql;

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let s = self.session(request.metadata(), request.remote_addr()).await?;
        let info = self.run(&s, &query.query, request.into_inner()).await?;
        Ok(Response::new(info))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let s = self.session(request.metadata(), request.remote_addr()).await?;
        let handle = String::from_utf8(ticket.statement_handle.to_vec()).map_err(|_| Self::expired())?;
        let held = {
            let mut m = self.answers.lock().map_err(internal)?;
            match m.get(&handle) {
                Some(h) if h.session == s.token_hash && h.until > Instant::now() => m.remove(&handle),
                _ => None,
            }
        };
        let answer = held.ok_or_else(Self::expired)?.value;
        Ok(Response::new(stream_of(answer.schema, answer.batches)))
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let s = self.session(request.metadata(), request.remote_addr()).await?;
        let workspace = s.workspace()?.to_string();
        // Statements are checked when they run, with the grants then in force.
        let handle = self.hold(&self.prepared, &s.token_hash, (workspace, query.query))?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into_bytes().into(),
            dataset_schema: Default::default(),
            parameter_schema: Default::default(),
        })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let s = self.session(request.metadata(), request.remote_addr()).await?;
        let handle = String::from_utf8(cmd.prepared_statement_handle.to_vec()).map_err(|_| Self::expired())?;
        let sql = {
            let m = self.prepared.lock().map_err(internal)?;
            match m.get(&handle) {
                Some(h) if h.session == s.token_hash && Some(&h.value.0) == s.workspace.as_ref() => {
                    Some(h.value.1.clone())
                }
                _ => None,
            }
        };
        let sql = sql.ok_or_else(Self::expired)?;
        let info = self.run(&s, &sql, request.into_inner()).await?;
        Ok(Response::new(info))
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        let s = self.session(request.metadata(), request.remote_addr()).await?;
        let handle = String::from_utf8(query.prepared_statement_handle.to_vec()).unwrap_or_default();
        let mut m = self.prepared.lock().map_err(internal)?;
        if m.get(&handle).is_some_and(|h| h.session == s.token_hash) {
            m.remove(&handle);
        }
        Ok(())
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(request.metadata(), request.remote_addr()).await?;
        let schema = query.into_builder().schema();
        Self::info_for(&query, &schema, request.into_inner()).map(Response::new)
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.session(request.metadata(), request.remote_addr()).await?;
        let mut b = query.into_builder();
        b.append(CATALOG);
        let schema = b.schema();
        let batch = b.build().map_err(internal)?;
        Ok(Response::new(stream_of(schema, vec![batch])))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(request.metadata(), request.remote_addr()).await?;
        let schema = query.clone().into_builder().schema();
        Self::info_for(&query, &schema, request.into_inner()).map(Response::new)
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let s = self.session(request.metadata(), request.remote_addr()).await?;
        let workspace = s.workspace()?;
        // Admitted as a query would be, so a stranger learns nothing about the workspace.
        self.catalogue(&s).await?;
        let mut b = query.into_builder();
        b.append(CATALOG, workspace);
        let schema = b.schema();
        let batch = b.build().map_err(internal)?;
        Ok(Response::new(stream_of(schema, vec![batch])))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(request.metadata(), request.remote_addr()).await?;
        let schema = query.clone().into_builder().schema();
        Self::info_for(&query, &schema, request.into_inner()).map(Response::new)
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let s = self.session(request.metadata(), request.remote_addr()).await?;
        let workspace = s.workspace()?;
        let tables = self.catalogue(&s).await?;
        let mut b = query.into_builder();
        for (name, schema) in &tables {
            b.append(CATALOG, workspace, name, "TABLE", schema).map_err(internal)?;
        }
        let schema = b.schema();
        let batch = b.build().map_err(internal)?;
        Ok(Response::new(stream_of(schema, vec![batch])))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(request.metadata(), request.remote_addr()).await?;
        let info = SQL_INFO.as_ref().ok_or_else(|| internal("sql info"))?;
        let schema = query.clone().into_builder(info).schema();
        Self::info_for(&query, &schema, request.into_inner()).map(Response::new)
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.session(request.metadata(), request.remote_addr()).await?;
        let info = SQL_INFO.as_ref().ok_or_else(|| internal("sql info"))?;
        let b = query.into_builder(info);
        let schema = b.schema();
        let batch = b.build().map_err(internal)?;
        Ok(Response::new(stream_of(schema, vec![batch])))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

/// Serves Flight SQL on `listener` until `stop` resolves.
pub async fn serve(
    app: AppState,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let incoming = futures::stream::unfold(listener, |l| async move {
        let next = l.accept().await.map(|(stream, _)| stream);
        Some((next, l))
    });
    tonic::transport::Server::builder()
        .add_service(FlightServiceServer::new(FlightSql::new(app)))
        .serve_with_incoming_shutdown(incoming, stop)
        .await
}
