//! The `Database` port over libSQL's Hrana protocol (HTTP, `/v2/pipeline`), for a runtime that
//! reaches Turso only through an `Outbound` port (Workers, Spin). Platform-free: the runtime
//! supplies the HTTP.
//!
//! Each call is one stateless pipeline request that ends with `close`: one HTTP round trip, and
//! no stream (baton) held between calls for a server to expire. An atomic batch is a Hrana
//! `batch` whose steps run `BEGIN`, each statement on the success of the one before, `COMMIT`,
//! and a `ROLLBACK` that runs if the commit did not.
//!
//! When the server cannot be reached, or answers with an error of its own (a restart, an
//! expired stream), a read is tried once more; a write is not, since whether it happened is
//! unknown: it fails as unavailable, and the caller may retry.

use std::sync::Arc;

use async_trait::async_trait;
use base64::{
    Engine, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig, general_purpose::STANDARD},
};
use bytes::Bytes;
use serde_json::{Value as Json, json};

use crate::{
    db::{Backend, Database, DbError, DbResult, Row, Statement, Value, reads_only},
    ports::Outbound,
};

/// Servers differ on padding; accept blobs with or without it.
const BLOB: GeneralPurpose =
    GeneralPurpose::new(&alphabet::STANDARD, GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent));

pub struct Hrana {
    pipeline_url: String,
    token: Option<String>,
    outbound: Arc<dyn Outbound>,
    /// What the last failure to reach the server was, in words safe to publish (readiness is
    /// public; the server's address and answer go to the log only).
    last_error: std::sync::Mutex<Option<String>>,
}

impl Hrana {
    /// `url` may use the `libsql://` scheme, which means HTTPS.
    pub fn new(url: &str, token: Option<String>, outbound: Arc<dyn Outbound>) -> Self {
        let base = url.strip_prefix("libsql://").map_or_else(|| url.to_owned(), |host| format!("https://{host}"));
        Self { pipeline_url: format!("{}/v2/pipeline", base.trim_end_matches('/')), token, outbound, last_error: Default::default() }
    }

    /// A failure to get through: logged whole, remembered for readiness by its kind only.
    fn unreachable(&self, kind: &str, message: String) -> DbError {
        tracing::warn!(%message, "the remote database could not be reached");
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(kind.to_owned());
        }
        DbError::Unreachable(message)
    }

    /// One pipeline: one HTTP request.
    async fn pipeline(&self, requests: Vec<Json>) -> DbResult<Vec<Json>> {
        let body = json!({ "baton": null, "requests": requests });
        let mut request = http::Request::post(&self.pipeline_url).header(http::header::CONTENT_TYPE, "application/json");
        if let Some(token) = &self.token {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request =
            request.body(Bytes::from(serde_json::to_vec(&body).unwrap_or_default())).map_err(|e| DbError::Backend(e.to_string()))?;
        let response = self.outbound.send(request).await.map_err(|e| self.unreachable("the server could not be reached", e.to_string()))?;
        if !response.status().is_success() {
            let text = String::from_utf8_lossy(response.body());
            let message = format!("hrana pipeline answered {}: {text}", response.status());
            // A refused token is the configuration's fault, not the network's: no retry mends it.
            return Err(if response.status() == http::StatusCode::UNAUTHORIZED {
                DbError::Backend(message)
            } else {
                self.unreachable("the server answered with an error", message)
            });
        }
        let mut answer: Json = serde_json::from_slice(response.body())
            .map_err(|e| self.unreachable("the server answered with an error", format!("hrana: {e}")))?;
        let results = answer["results"].take();
        let Json::Array(results) = results else {
            return Err(DbError::Backend("hrana: no results in the response".into()));
        };
        results
            .into_iter()
            .map(|mut result| match result["type"].as_str() {
                Some("ok") => Ok(result["response"].take()),
                _ => Err(error(&result["error"])),
            })
            .collect()
    }

    /// Sends one request on a new stream and closes it: the result of that request. Each stream
    /// is a new connection on the server, with SQLite's defaults, so foreign keys (which the
    /// schema's cascades rely on) are turned on first, in the same HTTP request.
    async fn single(&self, request: Json) -> DbResult<Json> {
        let foreign_keys = json!({"type": "execute", "stmt": {"sql": "PRAGMA foreign_keys = ON", "want_rows": false}});
        let mut results = self.pipeline(vec![foreign_keys, request, json!({"type": "close"})]).await?;
        if results.len() < 2 {
            return Err(DbError::Backend("hrana: short pipeline result".into()));
        }
        Ok(results.swap_remove(1)["result"].take())
    }

    async fn execute_one(&self, stmt: &Statement, want_rows: bool) -> DbResult<Json> {
        self.single(json!({"type": "execute", "stmt": encode(stmt, want_rows)})).await
    }
}

fn error(error: &Json) -> DbError {
    DbError::from_message(error["message"].as_str().unwrap_or("hrana error without a message"))
}

fn encode(stmt: &Statement, want_rows: bool) -> Json {
    let args: Vec<Json> = stmt
        .params
        .iter()
        .map(|v| match v {
            Value::Null => json!({"type": "null"}),
            Value::Integer(i) => json!({"type": "integer", "value": i.to_string()}),
            Value::Real(r) => json!({"type": "float", "value": r}),
            Value::Text(t) => json!({"type": "text", "value": t}),
            Value::Blob(b) => json!({"type": "blob", "base64": STANDARD.encode(b)}),
        })
        .collect();
    json!({"sql": stmt.sql, "args": args, "want_rows": want_rows})
}

fn decode(value: &Json) -> DbResult<Value> {
    let bad = || DbError::decode(format!("hrana value {value}"));
    Ok(match value["type"].as_str() {
        Some("null") => Value::Null,
        Some("integer") => Value::Integer(value["value"].as_str().and_then(|v| v.parse().ok()).ok_or_else(bad)?),
        Some("float") => Value::Real(value["value"].as_f64().ok_or_else(bad)?),
        Some("text") => Value::Text(value["value"].as_str().ok_or_else(bad)?.to_owned()),
        Some("blob") => Value::Blob(value["base64"].as_str().and_then(|b| BLOB.decode(b).ok()).ok_or_else(bad)?),
        _ => return Err(bad()),
    })
}

fn affected(result: &Json) -> u64 {
    result["affected_row_count"].as_u64().unwrap_or(0)
}

#[async_trait]
impl Database for Hrana {
    async fn query(&self, stmt: Statement) -> DbResult<Vec<Row>> {
        let result = match self.execute_one(&stmt, true).await {
            Err(DbError::Unreachable(_)) if reads_only(&stmt.sql) => self.execute_one(&stmt, true).await?,
            other => other?,
        };
        let Some(rows) = result["rows"].as_array() else {
            return Ok(Vec::new());
        };
        let names: Arc<[String]> = result["cols"]
            .as_array()
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(|column| column["name"].as_str().unwrap_or_default().to_owned())
            .collect();
        rows.iter()
            .map(|row| {
                let values = row.as_array().ok_or_else(|| DbError::decode("hrana row is not an array"))?;
                if values.len() != names.len() {
                    return Err(DbError::decode("hrana row and columns differ in width"));
                }
                Ok(Row::new(names.clone(), values.iter().map(decode).collect::<DbResult<_>>()?))
            })
            .collect()
    }

    async fn execute(&self, stmt: Statement) -> DbResult<u64> {
        Ok(affected(&self.execute_one(&stmt, false).await?))
    }

    fn status(&self) -> Backend {
        Backend { kind: "remote", last_error: self.last_error.lock().ok().and_then(|last| last.clone()) }
    }

    async fn batch(&self, stmts: Vec<Statement>) -> DbResult<Vec<u64>> {
        let count = stmts.len();
        let mut steps = vec![json!({"stmt": {"sql": "BEGIN IMMEDIATE", "want_rows": false}})];
        for (index, stmt) in stmts.iter().enumerate() {
            steps.push(json!({"condition": {"type": "ok", "step": index}, "stmt": encode(stmt, false)}));
        }
        steps.push(json!({"condition": {"type": "ok", "step": count}, "stmt": {"sql": "COMMIT", "want_rows": false}}));
        steps.push(json!({
            "condition": {"type": "not", "cond": {"type": "ok", "step": count + 1}},
            "stmt": {"sql": "ROLLBACK", "want_rows": false},
        }));
        let result = self.single(json!({"type": "batch", "batch": {"steps": steps}})).await?;
        let errors = result["step_errors"].as_array().map_or(&[][..], Vec::as_slice);
        if let Some(first) = errors.iter().take(count + 2).find(|e| !e.is_null()) {
            return Err(error(first));
        }
        let step_results = result["step_results"].as_array().map_or(&[][..], Vec::as_slice);
        if step_results.get(count + 1).is_none_or(Json::is_null) {
            return Err(DbError::Backend("hrana: the transaction did not commit".into()));
        }
        Ok(step_results[1..=count].iter().map(affected).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_encode_as_hrana_expects_and_decode_back() {
        let stmt = Statement::new(
            "SELECT ?1, ?2, ?3, ?4, ?5",
            vec![Value::Integer(i64::MAX), Value::Real(0.5), Value::Text("t".into()), Value::Blob(vec![1, 2, 3]), Value::Null],
        );
        let encoded = encode(&stmt, true);
        assert_eq!(encoded["args"][0], json!({"type": "integer", "value": "9223372036854775807"}));
        for (arg, value) in encoded["args"].as_array().unwrap().iter().zip(&stmt.params) {
            assert_eq!(&decode(arg).unwrap(), value);
        }
    }

    #[test]
    fn libsql_urls_mean_https() {
        struct Nowhere;
        #[async_trait]
        impl Outbound for Nowhere {
            async fn send(&self, _: http::Request<Bytes>) -> Result<http::Response<Bytes>, crate::ports::OutboundError> {
                Err(crate::ports::OutboundError("offline".into()))
            }
        }
        let hrana = Hrana::new("libsql://db-org.turso.io/", None, Arc::new(Nowhere));
        assert_eq!(hrana.pipeline_url, "https://db-org.turso.io/v2/pipeline");
    }
}
