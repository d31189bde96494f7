//! Liveness and readiness, served by every group.

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{AppState, db::migrate, stmt};

#[derive(Serialize, ToSchema)]
struct Health {
    status: &'static str,
    group: &'static str,
    version: &'static str,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(live)).routes(routes!(ready))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/v1/health", tag = "health", responses((status = 200, body = Health)))]
async fn live(State(state): State<AppState>) -> axum::Json<Health> {
    axum::Json(Health { status: "ok", group: state.group, version: env!("CARGO_PKG_VERSION") })
}

/// Readiness: the database answers and its schema is the one this build expects. The database
/// check says which kind it is (`embedded`, `remote`, `d1`, `spin`), how long it took, and for
/// a remote one the last failure to reach it, so that a slow or failing Turso shows as such.
#[utoipa::path(get, path = "/v1/health/ready", tag = "health", responses(
    (status = 200, description = "Ready"),
    (status = 503, description = "A check failed; the body says which"),
))]
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let db = state.db.as_ref();
    let started = state.clock.now();
    let mut database = match db.query(stmt!("SELECT 1")).await {
        Ok(_) => json!({"status": "ok", "latency_ms": (state.clock.now() - started).whole_milliseconds()}),
        Err(error) => {
            tracing::warn!(%error, "readiness: database");
            json!({"status": "failing", "error": "the database did not answer", "latency_ms": (state.clock.now() - started).whole_milliseconds()})
        }
    };
    let backend = db.status();
    database["kind"] = backend.kind.into();
    if let Some(last_error) = backend.last_error {
        database["last_error"] = last_error.into();
    }
    let migrations = match migrate::verify(db).await {
        Ok(schema) if schema.current() && schema.newer.is_empty() => json!({"status": "ok", "version": schema.version}),
        Ok(schema) if schema.current() => json!({"status": "ok", "version": schema.version, "newer": schema.newer}),
        Ok(schema) => json!({"status": "failing", "version": schema.version, "pending": schema.pending}),
        Err(error) => {
            tracing::warn!(%error, "readiness: migrations");
            json!({"status": "failing", "error": error.to_string()})
        }
    };
    let ok = database["status"] == "ok" && migrations["status"] == "ok";
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if ok { "ok" } else { "failing" },
        "checks": {"database": database, "migrations": migrations},
    });
    (status, axum::Json(body))
}
