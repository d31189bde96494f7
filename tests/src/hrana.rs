//! A Hrana-over-HTTP server (`POST /v2/pipeline`) over an embedded SQLite database, standing in
//! for sqld / Turso, which cannot be installed on the machines this project is built on. It
//! behaves like the real one where a client can tell: a pipeline without `close` leaves its
//! stream open under a baton, an idle stream expires (10 s by default, as sqld's do) and is
//! then refused with `STREAM_EXPIRED`, an unknown baton is refused, `close` ends a stream,
//! errors carry SQLite's codes (`SQLITE_CONSTRAINT_UNIQUE`, ...), batches run steps on
//! conditions, and the server can be stopped and started again on the same address with the
//! same data (a restart), losing its streams as a real restart does.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};
use tokio::sync::Mutex;

struct Stream {
    connection: rusqlite::Connection,
    last_used: Instant,
}

struct Db {
    path: std::path::PathBuf,
    token: String,
    idle_expiry: Duration,
    /// Open streams by baton. Held across a whole pipeline: a batch's BEGIN ... COMMIT must
    /// not interleave with another pipeline's statements.
    streams: Mutex<HashMap<String, Stream>>,
    pipelines: AtomicU64,
}

/// A running server and its URL.
pub struct HranaServer {
    pub url: String,
    addr: SocketAddr,
    db: Arc<Db>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    _dir: tempfile::TempDir,
}

impl HranaServer {
    /// Starts a server that accepts `Authorization: Bearer <token>`, with sqld's idle expiry.
    pub async fn start(token: &str) -> Self {
        Self::start_with(token, Duration::from_secs(10)).await
    }

    /// As [`HranaServer::start`], expiring streams idle for `idle_expiry`.
    pub async fn start_with(token: &str, idle_expiry: Duration) -> Self {
        Self::listen("127.0.0.1:0".parse().expect("an address"), token, idle_expiry).await
    }

    /// A server on `addr` (port 0: any free one).
    pub async fn listen(addr: SocketAddr, token: &str, idle_expiry: Duration) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("hrana.db");
        let db = Arc::new(Db { path, token: token.to_owned(), idle_expiry, streams: Mutex::default(), pipelines: AtomicU64::new(0) });
        let listener = tokio::net::TcpListener::bind(addr).await.expect("a port");
        let addr = listener.local_addr().expect("an address");
        let server = Self { url: format!("http://{addr}"), addr, db: db.clone(), task: std::sync::Mutex::new(None), _dir: dir };
        server.serve(listener);
        server
    }

    /// Accepts connections until stopped; stopping drops every connection with the accept loop
    /// (they live in its `JoinSet`), as a process that dies would.
    fn serve(&self, listener: tokio::net::TcpListener) {
        let app = Router::new().route("/v2/pipeline", post(pipeline)).with_state(self.db.clone());
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                connections.spawn(async move {
                    let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                    builder.serve_connection(hyper_util::rt::TokioIo::new(socket), service).await.ok();
                });
                while connections.try_join_next().is_some() {}
            }
        });
        *self.task.lock().expect("not poisoned") = Some(task);
    }

    /// How many pipeline requests (HTTP round trips) the server has answered.
    pub fn pipelines(&self) -> u64 {
        self.db.pipelines.load(Ordering::SeqCst)
    }

    /// Stops serving: connections are cut, streams are lost, the data stays.
    pub async fn stop(&self) {
        let task = self.task.lock().expect("not poisoned").take();
        if let Some(task) = task {
            task.abort();
            task.await.ok();
        }
        self.db.streams.lock().await.clear();
    }

    /// Serves again on the same address, as a restarted server would.
    pub async fn start_again(&self) {
        let mut attempts = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(_) if attempts < 50 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(error) => panic!("cannot listen on {} again: {error}", self.addr),
            }
        };
        self.serve(listener);
    }
}

fn refused(code: &str, message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"message": message, "code": code}))).into_response()
}

async fn pipeline(State(db): State<Arc<Db>>, headers: axum::http::HeaderMap, Json(body): Json<Value>) -> Response {
    db.pipelines.fetch_add(1, Ordering::SeqCst);
    let expected = format!("Bearer {}", db.token);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut streams = db.streams.lock().await;
    let now = Instant::now();
    let connection = match body["baton"].as_str() {
        None => {
            // A new stream is a new connection, with SQLite's defaults (foreign keys off): the
            // client has to turn them on, as it has to with a real server.
            let Ok(connection) = rusqlite::Connection::open(&db.path) else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
            connection.busy_timeout(Duration::from_secs(5)).ok();
            connection
        }
        Some(baton) => match streams.remove(baton) {
            Some(stream) if now.duration_since(stream.last_used) < db.idle_expiry => stream.connection,
            Some(_) => return refused("STREAM_EXPIRED", "The stream has expired due to inactivity"),
            None => return refused("STREAM_INVALID", "The baton names no stream"),
        },
    };
    let Some(requests) = body["requests"].as_array() else { return StatusCode::BAD_REQUEST.into_response() };
    let mut results = Vec::new();
    let mut closed = false;
    for request in requests {
        let result = match request["type"].as_str() {
            Some("execute") => match execute(&connection, &request["stmt"]) {
                Ok(result) => json!({"type": "ok", "response": {"type": "execute", "result": result}}),
                Err(error) => json!({"type": "error", "error": error}),
            },
            Some("batch") => {
                let result = batch(&connection, &request["batch"]["steps"]);
                json!({"type": "ok", "response": {"type": "batch", "result": result}})
            }
            Some("close") => {
                closed = true;
                json!({"type": "ok", "response": {"type": "close"}})
            }
            _ => return StatusCode::BAD_REQUEST.into_response(),
        };
        results.push(result);
    }
    let baton = if closed {
        Value::Null
    } else {
        let baton = uuid::Uuid::now_v7().simple().to_string();
        streams.insert(baton.clone(), Stream { connection, last_used: now });
        Value::String(baton)
    };
    Json(json!({"baton": baton, "base_url": null, "results": results})).into_response()
}

fn arg(value: &Value) -> Result<rusqlite::types::Value, String> {
    use rusqlite::types::Value as Sql;
    Ok(match value["type"].as_str() {
        Some("null") => Sql::Null,
        Some("integer") => Sql::Integer(value["value"].as_str().and_then(|v| v.parse().ok()).ok_or("integers are strings")?),
        Some("float") => Sql::Real(value["value"].as_f64().ok_or("bad float")?),
        Some("text") => Sql::Text(value["value"].as_str().ok_or("bad text")?.to_owned()),
        Some("blob") => Sql::Blob(STANDARD.decode(value["base64"].as_str().ok_or("bad blob")?).map_err(|e| e.to_string())?),
        other => return Err(format!("unknown value type {other:?}")),
    })
}

fn encode(value: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef as Sql;
    match value {
        Sql::Null => json!({"type": "null"}),
        Sql::Integer(i) => json!({"type": "integer", "value": i.to_string()}),
        Sql::Real(r) => json!({"type": "float", "value": r}),
        Sql::Text(t) => json!({"type": "text", "value": String::from_utf8_lossy(t)}),
        Sql::Blob(b) => json!({"type": "blob", "base64": STANDARD.encode(b)}),
    }
}

/// An error as sqld reports it: SQLite's message and its extended code's name.
fn sql_error(message: String) -> Value {
    let code = if message.contains("UNIQUE constraint failed") {
        "SQLITE_CONSTRAINT_UNIQUE"
    } else if message.contains("FOREIGN KEY constraint failed") {
        "SQLITE_CONSTRAINT_FOREIGNKEY"
    } else if message.contains("constraint failed") {
        "SQLITE_CONSTRAINT"
    } else {
        "SQLITE_ERROR"
    };
    json!({"message": message, "code": code})
}

fn execute(conn: &rusqlite::Connection, stmt: &Value) -> Result<Value, Value> {
    let sql = stmt["sql"].as_str().ok_or_else(|| sql_error("no sql".into()))?;
    let args = stmt["args"].as_array().map(|a| a.iter().map(arg).collect::<Result<Vec<_>, _>>()).transpose().map_err(sql_error)?;
    let args = rusqlite::params_from_iter(args.unwrap_or_default());
    let mut statement = conn.prepare(sql).map_err(|e| sql_error(e.to_string()))?;
    let columns: Vec<Value> = statement.column_names().iter().map(|name| json!({"name": name, "decltype": null})).collect();
    let mut rows = Vec::new();
    if columns.is_empty() {
        statement.execute(args).map_err(|e| sql_error(e.to_string()))?;
    } else {
        let mut result = statement.query(args).map_err(|e| sql_error(e.to_string()))?;
        while let Some(row) = result.next().map_err(|e| sql_error(e.to_string()))? {
            let values: Vec<Value> =
                (0..columns.len()).map(|i| row.get_ref(i).map(encode)).collect::<Result<_, _>>().map_err(|e| sql_error(e.to_string()))?;
            rows.push(Value::Array(values));
        }
    }
    let affected = if columns.is_empty() { conn.changes() } else { 0 };
    Ok(json!({
        "cols": columns,
        "rows": rows,
        "affected_row_count": affected,
        "last_insert_rowid": conn.last_insert_rowid().to_string(),
    }))
}

fn holds(condition: &Value, outcomes: &[Option<bool>]) -> bool {
    match condition["type"].as_str() {
        Some("ok") => condition["step"].as_u64().and_then(|s| outcomes.get(s as usize)).copied().flatten() == Some(true),
        Some("error") => condition["step"].as_u64().and_then(|s| outcomes.get(s as usize)).copied().flatten() == Some(false),
        Some("not") => !holds(&condition["cond"], outcomes),
        Some("and") => condition["conds"].as_array().is_some_and(|c| c.iter().all(|c| holds(c, outcomes))),
        Some("or") => condition["conds"].as_array().is_some_and(|c| c.iter().any(|c| holds(c, outcomes))),
        _ => false,
    }
}

fn batch(conn: &rusqlite::Connection, steps: &Value) -> Value {
    let mut outcomes: Vec<Option<bool>> = Vec::new();
    let mut step_results = Vec::new();
    let mut step_errors = Vec::new();
    for step in steps.as_array().into_iter().flatten() {
        let run = step.get("condition").is_none_or(|c| c.is_null() || holds(c, &outcomes));
        if !run {
            outcomes.push(None);
            step_results.push(Value::Null);
            step_errors.push(Value::Null);
            continue;
        }
        match execute(conn, &step["stmt"]) {
            Ok(result) => {
                outcomes.push(Some(true));
                step_results.push(result);
                step_errors.push(Value::Null);
            }
            Err(error) => {
                outcomes.push(Some(false));
                step_results.push(Value::Null);
                step_errors.push(error);
            }
        }
    }
    json!({"step_results": step_results, "step_errors": step_errors})
}
