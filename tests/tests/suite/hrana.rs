//! The Hrana client (the Workers' path to Turso) against a Hrana server over real SQLite.

use std::sync::Arc;

use tui_blackbox::hrana::HranaServer;
use tui_shared::{
    adapters::{hrana::Hrana, native::Reqwest},
    db::{Database, DbError, Value, migrate},
    stmt,
};

async fn client() -> (HranaServer, Hrana) {
    let server = HranaServer::start("test-token").await;
    let hrana = Hrana::new(&server.url, Some("test-token".into()), Arc::new(Reqwest(reqwest::Client::new())));
    (server, hrana)
}

#[tokio::test]
async fn values_of_every_type_round_trip() {
    let (_server, db) = client().await;
    let rows =
        db.query(stmt!("SELECT ?1, ?2, ?3, ?4, ?5", i64::MAX, 2.5, "tëxt '; --", vec![0_u8, 1, 255], Option::<i64>::None)).await.unwrap();
    assert_eq!(
        rows[0].0,
        vec![Value::Integer(i64::MAX), Value::Real(2.5), Value::Text("tëxt '; --".into()), Value::Blob(vec![0, 1, 255]), Value::Null]
    );
}

#[tokio::test]
async fn a_batch_commits_whole_or_not_at_all() {
    let (_server, db) = client().await;
    db.execute(stmt!("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")).await.unwrap();
    let changed = db.batch(vec![stmt!("INSERT INTO t VALUES (1, 'a')"), stmt!("INSERT INTO t VALUES (2, 'b')")]).await.unwrap();
    assert_eq!(changed, vec![1, 1]);
    let failed = db.batch(vec![stmt!("INSERT INTO t VALUES (3, 'c')"), stmt!("INSERT INTO t VALUES (1, 'again')")]).await;
    assert!(matches!(failed, Err(DbError::Unique(ref c)) if c == "t.id"), "{failed:?}");
    let rows = db.query(stmt!("SELECT count(*) FROM t")).await.unwrap();
    assert_eq!(rows[0].get::<i64>(0).unwrap(), 2, "the failed batch left a row behind");
    assert_eq!(db.execute(stmt!("UPDATE t SET v = 'z'")).await.unwrap(), 2);
}

#[tokio::test]
async fn the_schema_migrates_over_hrana_and_verifies() {
    let (_server, db) = client().await;
    let now = "2026-01-01T00:00:00.000Z";
    assert_eq!(migrate::migrate(&db, now).await.unwrap(), migrate::latest_version());
    assert_eq!(migrate::verify(&db).await.unwrap(), migrate::latest_version());
    assert_eq!(migrate::migrate(&db, now).await.unwrap(), migrate::latest_version());
}

#[tokio::test]
async fn a_wrong_token_is_a_backend_error() {
    let server = HranaServer::start("right").await;
    let db = Hrana::new(&server.url, Some("wrong".into()), Arc::new(Reqwest(reqwest::Client::new())));
    assert!(matches!(db.query(stmt!("SELECT 1")).await, Err(DbError::Backend(_))));
}
