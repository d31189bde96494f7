//! A Hrana-over-HTTP server (`POST /v2/pipeline`) over an embedded libSQL database, for testing
//! the Hrana client that Workers use to reach Turso. No sqld or Turso server can be installed
//! on the machines this project is built on; this implements the part of the protocol the
//! client speaks (execute, batch with conditions, close) against real SQLite.

use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::Mutex;

struct Db {
    database: libsql::Database,
    token: String,
    /// Serialises pipelines: a batch's BEGIN ... COMMIT must not interleave with another.
    lock: Mutex<()>,
}

/// A running server and its URL.
pub struct HranaServer {
    pub url: String,
    _dir: tempfile::TempDir,
}

impl HranaServer {
    /// Starts a server that accepts `Authorization: Bearer <token>`.
    pub async fn start(token: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let database = libsql::Builder::new_local(dir.path().join("hrana.db")).build().await.expect("a database");
        let state = Arc::new(Db { database, token: token.to_owned(), lock: Mutex::new(()) });
        let app = Router::new().route("/v2/pipeline", post(pipeline)).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, _dir: dir }
    }
}

async fn pipeline(State(db): State<Arc<Db>>, headers: axum::http::HeaderMap, Json(body): Json<Value>) -> Result<Json<Value>, StatusCode> {
    let expected = format!("Bearer {}", db.token);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let _serial = db.lock.lock().await;
    let conn = db.database.connect().map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    conn.execute("PRAGMA foreign_keys = ON", ()).await.ok();
    let mut results = Vec::new();
    for request in body["requests"].as_array().ok_or(StatusCode::BAD_REQUEST)? {
        let result = match request["type"].as_str() {
            Some("execute") => match execute(&conn, &request["stmt"]).await {
                Ok(result) => json!({"type": "ok", "response": {"type": "execute", "result": result}}),
                Err(message) => json!({"type": "error", "error": {"message": message}}),
            },
            Some("batch") => {
                let result = batch(&conn, &request["batch"]["steps"]).await;
                json!({"type": "ok", "response": {"type": "batch", "result": result}})
            }
            Some("close") => json!({"type": "ok", "response": {"type": "close"}}),
            _ => return Err(StatusCode::BAD_REQUEST),
        };
        results.push(result);
    }
    Ok(Json(json!({"baton": null, "base_url": null, "results": results})))
}

fn arg(value: &Value) -> Result<libsql::Value, String> {
    Ok(match value["type"].as_str() {
        Some("null") => libsql::Value::Null,
        Some("integer") => libsql::Value::Integer(value["value"].as_str().and_then(|v| v.parse().ok()).ok_or("integers are strings")?),
        Some("float") => libsql::Value::Real(value["value"].as_f64().ok_or("bad float")?),
        Some("text") => libsql::Value::Text(value["value"].as_str().ok_or("bad text")?.to_owned()),
        Some("blob") => libsql::Value::Blob(STANDARD.decode(value["base64"].as_str().ok_or("bad blob")?).map_err(|e| e.to_string())?),
        other => return Err(format!("unknown value type {other:?}")),
    })
}

fn encode(value: libsql::Value) -> Value {
    match value {
        libsql::Value::Null => json!({"type": "null"}),
        libsql::Value::Integer(i) => json!({"type": "integer", "value": i.to_string()}),
        libsql::Value::Real(r) => json!({"type": "float", "value": r}),
        libsql::Value::Text(t) => json!({"type": "text", "value": t}),
        libsql::Value::Blob(b) => json!({"type": "blob", "base64": STANDARD.encode(b)}),
    }
}

async fn execute(conn: &libsql::Connection, stmt: &Value) -> Result<Value, String> {
    let sql = stmt["sql"].as_str().ok_or("no sql")?;
    let args = stmt["args"].as_array().map(|a| a.iter().map(arg).collect::<Result<Vec<_>, _>>()).transpose()?;
    let args = args.unwrap_or_default();
    let statement = conn.prepare(sql).await.map_err(|e| e.to_string())?;
    let columns: Vec<Value> = statement.columns().iter().map(|c| json!({"name": c.name(), "decltype": c.decl_type()})).collect();
    let mut rows = Vec::new();
    if columns.is_empty() {
        statement.execute(args).await.map_err(|e| e.to_string())?;
    } else {
        let mut result = statement.query(args).await.map_err(|e| e.to_string())?;
        while let Some(row) = result.next().await.map_err(|e| e.to_string())? {
            let values: Vec<Value> =
                (0..columns.len() as i32).map(|i| row.get_value(i).map(encode)).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
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

async fn batch(conn: &libsql::Connection, steps: &Value) -> Value {
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
        match execute(conn, &step["stmt"]).await {
            Ok(result) => {
                outcomes.push(Some(true));
                step_results.push(result);
                step_errors.push(Value::Null);
            }
            Err(message) => {
                outcomes.push(Some(false));
                step_results.push(Value::Null);
                step_errors.push(json!({"message": message}));
            }
        }
    }
    json!({"step_results": step_results, "step_errors": step_errors})
}
