//! Spin: its SQLite API for the database (a local file under `spin up`, libSQL/Turso when
//! `runtime-config.toml` says so), its variables for configuration, and the entry that serves
//! a group's router.
//!
//! Connection pooling: Spin instantiates a component per request, and the host owns the
//! connections; a request opens the default database once.

use std::sync::Arc;

use async_trait::async_trait;
use axum::{Router, body::Body};
use bytes::Bytes;
use spin_sdk::{
    http::{Fields, OutgoingResponse, ResponseOutparam},
    sqlite::{Connection, Value as SpinValue},
};

use super::edge::{self, SendWrapper};
use crate::{
    AppState,
    db::{Database, DbError, DbResult, Row, Statement, Value},
    http::extract::ClientAddr,
    ports::{MAX_RESPONSE_BYTES, Outbound, OutboundError, SystemClock},
    state::{Platform, Services, StartError},
};

/// The `Database` port over Spin's SQLite interface.
pub struct SpinSqlite(SendWrapper<Connection>);

impl SpinSqlite {
    pub fn open_default() -> DbResult<Self> {
        let connection = Connection::open_default().map_err(spin_error)?;
        let db = Self(SendWrapper::new(connection));
        db.run("PRAGMA foreign_keys = ON", Vec::new())?;
        Ok(db)
    }

    fn run(&self, sql: &str, params: Vec<Value>) -> DbResult<spin_sdk::sqlite::QueryResult> {
        let params: Vec<SpinValue> = params
            .into_iter()
            .map(|v| match v {
                Value::Null => SpinValue::Null,
                Value::Integer(i) => SpinValue::Integer(i),
                Value::Real(r) => SpinValue::Real(r),
                Value::Text(t) => SpinValue::Text(t),
                Value::Blob(b) => SpinValue::Blob(b),
            })
            .collect();
        self.0.execute(sql, &params).map_err(spin_error)
    }

    /// Spin's interface does not report changed rows; SQLite's `changes()` on the same
    /// connection does, and nothing else runs on it in between.
    fn changes(&self) -> DbResult<u64> {
        let result = self.run("SELECT changes()", Vec::new())?;
        match result.rows.first().and_then(|r| r.values.first()) {
            Some(SpinValue::Integer(n)) => Ok(u64::try_from(*n).unwrap_or(0)),
            _ => Err(DbError::decode("changes() returned no integer")),
        }
    }
}

fn spin_error(error: spin_sdk::sqlite::Error) -> DbError {
    let message = match error {
        spin_sdk::sqlite::Error::Io(message) => message,
        other => other.to_string(),
    };
    DbError::from_message(message)
}

#[async_trait]
impl Database for SpinSqlite {
    async fn query(&self, stmt: Statement) -> DbResult<Vec<Row>> {
        let result = self.run(&stmt.sql, stmt.params)?;
        let names: std::sync::Arc<[String]> = result.columns.into();
        Ok(result
            .rows
            .into_iter()
            .map(|row| {
                Row::new(
                    names.clone(),
                    row.values
                        .into_iter()
                        .map(|v| match v {
                            SpinValue::Null => Value::Null,
                            SpinValue::Integer(i) => Value::Integer(i),
                            SpinValue::Real(r) => Value::Real(r),
                            SpinValue::Text(t) => Value::Text(t),
                            SpinValue::Blob(b) => Value::Blob(b),
                        })
                        .collect(),
                )
            })
            .collect())
    }

    async fn execute(&self, stmt: Statement) -> DbResult<u64> {
        self.run(&stmt.sql, stmt.params)?;
        self.changes()
    }

    fn status(&self) -> crate::db::Backend {
        crate::db::Backend { kind: "spin", last_error: None }
    }

    async fn batch(&self, stmts: Vec<Statement>) -> DbResult<Vec<u64>> {
        self.run("BEGIN IMMEDIATE", Vec::new())?;
        let mut changed = Vec::with_capacity(stmts.len());
        for stmt in stmts {
            let outcome = self.run(&stmt.sql, stmt.params).and_then(|_| self.changes());
            match outcome {
                Ok(n) => changed.push(n),
                Err(error) => {
                    if let Err(rollback) = self.run("ROLLBACK", Vec::new()) {
                        tracing::error!(%rollback, "rollback failed");
                    }
                    return Err(error);
                }
            }
        }
        self.run("COMMIT", Vec::new())?;
        Ok(changed)
    }
}

/// Outbound HTTP through Spin's `wasi:http` client (hosts allowed by `allowed_outbound_hosts`).
pub struct SpinHttp;

#[async_trait]
impl Outbound for SpinHttp {
    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, OutboundError> {
        SendWrapper::new(async move {
            let response: spin_sdk::http::IncomingResponse =
                spin_sdk::http::send(request).await.map_err(|e| OutboundError(e.to_string()))?;
            let mut builder = http::Response::builder().status(response.status());
            for (name, value) in response.headers().entries() {
                builder = builder.header(name, value);
            }
            // Read to a limit: a server that answers without end costs a failed call, not the
            // instance's memory.
            let mut stream = response.take_body_stream();
            let mut body = Vec::new();
            while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
                let chunk = chunk.map_err(|e| OutboundError(e.to_string()))?;
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(OutboundError(format!("the response body is over {MAX_RESPONSE_BYTES} bytes")));
                }
                body.extend_from_slice(&chunk);
            }
            builder.body(Bytes::from(body)).map_err(|e| OutboundError(e.to_string()))
        })
        .await
    }
}

/// Spin variable names are lower case: `JWT_SECRET` is read as `jwt_secret`.
fn lookup(name: &str) -> Option<String> {
    spin_sdk::variables::get(&name.to_ascii_lowercase()).ok()
}

fn services(group: &'static str) -> Result<Services, StartError> {
    let db: Arc<dyn Database> = Arc::new(SpinSqlite::open_default()?);
    let platform = Platform {
        settings: Arc::new(lookup),
        db,
        clock: Arc::new(SystemClock),
        outbound: Arc::new(SpinHttp),
        public_outbound: None,
        passwords: None,
        limiter: None,
        // Spin has no queue: a scheduler calls the tick endpoint.
        jobs: None,
        coordinators: None,
    };
    Services::assemble(platform, group)
}

static TRACING: std::sync::Once = std::sync::Once::new();

/// Spin collects a component's stderr as its log.
fn init_tracing() {
    TRACING.call_once(|| {
        tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(false).without_time().init();
    });
}

/// Serves one request with a group's application: the whole body of a component's handler.
/// The response's head is sent at once and its body streamed as it is produced, so a long or
/// never-ending response (Server-Sent Events) is not held back until it ends.
pub async fn serve(group: &'static str, build: fn(AppState) -> Router, request: http::Request<Bytes>, out: ResponseOutparam) {
    init_tracing();
    let mut request = request.map(Body::from);
    if let Some(addr) = request.headers().get("spin-client-addr").and_then(|v| v.to_str().ok()) {
        let ip = addr.rsplit_once(':').map_or(addr, |(ip, _)| ip).trim_matches(['[', ']']).to_owned();
        request.extensions_mut().insert(ClientAddr(ip));
    }
    let response = edge::respond(edge::start(services(group), build).await, request).await;
    let (parts, body) = response.into_parts();
    let headers: Vec<(String, Vec<u8>)> = parts.headers.iter().map(|(name, value)| (name.to_string(), value.as_bytes().to_vec())).collect();
    let Ok(fields) = Fields::from_list(&headers) else {
        tracing::error!("Spin refused the response's headers");
        return;
    };
    let outgoing = OutgoingResponse::new(fields);
    if outgoing.set_status_code(parts.status.as_u16()).is_err() {
        tracing::error!(status = %parts.status, "Spin refused the response's status");
    }
    let mut sink = Box::pin(outgoing.take_body());
    out.set(outgoing);
    if let Err(reason) = crate::http::stream::pump(body, &mut sink).await {
        tracing::debug!(reason, "the response ended early");
    }
}

/// A timer on the WASI monotonic clock, woken by Spin's executor through a clock pollable.
pub struct Sleep {
    deadline: wasi::clocks::monotonic_clock::Instant,
}

impl Sleep {
    pub fn after(duration: std::time::Duration) -> Self {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        Self { deadline: wasi::clocks::monotonic_clock::now().saturating_add(nanos) }
    }
}

impl std::future::Future for Sleep {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if wasi::clocks::monotonic_clock::now() >= self.deadline {
            return std::task::Poll::Ready(());
        }
        spin_executor::push_waker(wasi::clocks::monotonic_clock::subscribe_instant(self.deadline), cx.waker().clone());
        std::task::Poll::Pending
    }
}
