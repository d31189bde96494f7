//! The benchmark baseline: the least work an authenticated read can cost. A bare axum (hyper)
//! server that checks an HS256 token and reads one row from the same SQLite file, with none of
//! the service's middleware, validation or membership check. `scripts/bench.sh` runs it beside
//! `tui-server` so that both are measured in the same run on the same machine.
//!
//! Usage: bare_read <listen address> <database file> <JWT secret>

use std::sync::Arc;

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::get,
};
use jwt_simple::prelude::*;

struct Bare {
    key: HS256Key,
    db: libsql::Connection,
}

async fn read(State(bare): State<Arc<Bare>>, Path(id): Path<String>, headers: HeaderMap) -> Result<String, StatusCode> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(StatusCode::UNAUTHORIZED)?;
    bare.key.verify_token::<NoCustomClaims>(token, None).map_err(|_| StatusCode::UNAUTHORIZED)?;
    let mut rows = bare
        .db
        .query("SELECT id, name, description, version FROM projects WHERE id = ?1", [id])
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let row = rows.next().await.map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?.ok_or(StatusCode::NOT_FOUND)?;
    let name: String = row.get(1).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(format!("{{\"name\":{name:?}}}"))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, listen, file, secret] = args.as_slice() else {
        eprintln!("usage: bare_read <listen address> <database file> <JWT secret>");
        std::process::exit(2);
    };
    let database = libsql::Builder::new_local(file).build().await.expect("the database opens");
    let db = database.connect().expect("a connection");
    let bare = Arc::new(Bare { key: HS256Key::from_bytes(secret.as_bytes()), db });
    let app = Router::new().route("/v1/projects/{id}", get(read)).with_state(bare);
    let listener = tokio::net::TcpListener::bind(listen).await.expect("the address is free");
    axum::serve(listener, app).await.expect("serving");
}
