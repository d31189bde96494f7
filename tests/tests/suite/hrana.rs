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
    let hrana = Hrana::new(&server.url, Some("test-token".into()), Arc::new(Reqwest::new(reqwest::Client::new())));
    (server, hrana)
}

#[tokio::test]
async fn values_of_every_type_round_trip() {
    let (_server, db) = client().await;
    let rows =
        db.query(stmt!("SELECT ?1, ?2, ?3, ?4, ?5", i64::MAX, 2.5, "tëxt '; --", vec![0_u8, 1, 255], Option::<i64>::None)).await.unwrap();
    assert_eq!(
        rows[0].values(),
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
    assert_eq!(rows[0].decode::<(i64,)>().unwrap().0, 2, "the failed batch left a row behind");
    assert_eq!(db.execute(stmt!("UPDATE t SET v = 'z'")).await.unwrap(), 2);
}

#[tokio::test]
async fn the_schema_migrates_over_hrana_and_verifies() {
    let (_server, db) = client().await;
    let now = "2026-01-01T00:00:00.000Z";
    assert_eq!(migrate::migrate(&db, now).await.unwrap().version, migrate::latest_version());
    assert!(migrate::verify(&db).await.unwrap().current());
    assert_eq!(migrate::migrate(&db, now).await.unwrap().version, migrate::latest_version());
}

#[tokio::test]
async fn a_wrong_token_is_a_backend_error() {
    let server = HranaServer::start("right").await;
    let db = Hrana::new(&server.url, Some("wrong".into()), Arc::new(Reqwest::new(reqwest::Client::new())));
    assert!(matches!(db.query(stmt!("SELECT 1")).await, Err(DbError::Backend(_))));
}

/// The test server behaves like sqld where a client can tell.
mod server {
    use std::time::Duration;

    use serde_json::{Value, json};
    use tui_blackbox::hrana::HranaServer;

    async fn pipeline(server: &HranaServer, baton: Value, requests: Value) -> (u16, Value) {
        let reply = reqwest::Client::new()
            .post(format!("{}/v2/pipeline", server.url))
            .bearer_auth("test-token")
            .json(&json!({"baton": baton, "requests": requests}))
            .send()
            .await
            .unwrap();
        (reply.status().as_u16(), reply.json().await.unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn an_idle_stream_expires_and_close_ends_one() {
        let server = HranaServer::start_with("test-token", Duration::from_millis(200)).await;
        let select = json!([{"type": "execute", "stmt": {"sql": "SELECT 1", "want_rows": true}}]);
        let (status, open) = pipeline(&server, Value::Null, select.clone()).await;
        assert_eq!(status, 200);
        let baton = open["baton"].clone();
        assert!(baton.is_string(), "a pipeline without close keeps its stream: {open}");
        let (status, kept) = pipeline(&server, baton, select.clone()).await;
        assert_eq!(status, 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (status, expired) = pipeline(&server, kept["baton"].clone(), select.clone()).await;
        assert_eq!((status, expired["code"].as_str()), (400, Some("STREAM_EXPIRED")), "{expired}");

        let (_, closed) =
            pipeline(&server, Value::Null, json!([{"type": "execute", "stmt": {"sql": "SELECT 1"}}, {"type": "close"}])).await;
        assert_eq!(closed["baton"], Value::Null);
    }

    #[tokio::test]
    async fn errors_carry_sqlites_codes() {
        let server = HranaServer::start("test-token").await;
        let requests = json!([
            {"type": "execute", "stmt": {"sql": "CREATE TABLE t (k TEXT PRIMARY KEY)"}},
            {"type": "execute", "stmt": {"sql": "INSERT INTO t VALUES ('a')"}},
            {"type": "execute", "stmt": {"sql": "INSERT INTO t VALUES ('a')"}},
            {"type": "close"},
        ]);
        let (_, answer) = pipeline(&server, Value::Null, requests).await;
        assert_eq!(answer["results"][2]["error"]["code"], "SQLITE_CONSTRAINT_UNIQUE", "{answer}");
    }
}
