//! The native runtime: libSQL (an embedded file), a remote Turso database through the same
//! Hrana client the Workers use (over reqwest here), reqwest for outbound HTTP, and password
//! hashing on tokio's blocking threads.
//!
//! Connection pooling: an embedded file gets a bounded pool of connections (SQLite in WAL mode
//! serves readers in parallel with one writer, and a transaction needs a connection of its
//! own). A remote database needs none: each call is one stateless HTTP request that closes its
//! stream, so no connection or stream is ever handed out dead (the libsql crate's remote
//! connection kept a stream open between statements, which the server expires after 10 s of
//! quiet, and cost two round trips per read).

use async_trait::async_trait;
use bytes::Bytes;
use deadpool::managed::{self, Metrics, Pool, RecycleResult};
use libsql::TransactionBehavior;

use crate::{
    auth::password::Argon2id,
    db::{Backend, Database, DbError, DbResult, Row, Statement, Value},
    ports::{Outbound, OutboundError, PasswordHasher},
    ratelimit::{Decision, RateLimiter, Rule, Window},
};

/// Where the data lives: a local file (or `:memory:`), or a remote libSQL server.
#[derive(Debug, Clone)]
pub enum Location {
    File(String),
    Remote { url: String, token: String },
}

impl Location {
    /// `libsql://`, `https://` and `http://` URLs are remote; anything else is a file path
    /// (with an optional `file:` prefix).
    pub fn parse(url: &str, token: Option<String>) -> Self {
        if ["libsql://", "https://", "http://"].iter().any(|scheme| url.starts_with(scheme)) {
            Self::Remote { url: url.to_owned(), token: token.unwrap_or_default() }
        } else {
            Self::File(url.strip_prefix("file:").unwrap_or(url).to_owned())
        }
    }
}

struct Manager {
    database: libsql::Database,
}

impl managed::Manager for Manager {
    type Type = libsql::Connection;
    type Error = libsql::Error;

    async fn create(&self) -> Result<libsql::Connection, libsql::Error> {
        let connection = self.database.connect()?;
        // The one place the SQLite pragmas are set.
        for pragma in ["PRAGMA journal_mode = WAL", "PRAGMA busy_timeout = 5000", "PRAGMA foreign_keys = ON", "PRAGMA synchronous = NORMAL"]
        {
            connection.query(pragma, ()).await?;
        }
        Ok(connection)
    }

    async fn recycle(&self, _: &mut libsql::Connection, _: &Metrics) -> RecycleResult<libsql::Error> {
        Ok(())
    }
}

/// Opens the database at `location`: the embedded file, or the remote server over Hrana.
pub async fn open(location: &Location, pool_size: usize, outbound: std::sync::Arc<dyn Outbound>) -> DbResult<std::sync::Arc<dyn Database>> {
    Ok(match location {
        Location::File(path) => std::sync::Arc::new(Libsql::open(path, pool_size).await?),
        Location::Remote { url, token } => {
            let token = Some(token.clone()).filter(|t| !t.is_empty());
            std::sync::Arc::new(super::hrana::Hrana::new(url, token, outbound))
        }
    })
}

/// The `Database` port over an embedded libSQL file.
pub struct Libsql {
    pool: Pool<Manager>,
}

impl Libsql {
    pub async fn open(path: &str, pool_size: usize) -> DbResult<Self> {
        if let Some(parent) = std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| DbError::Backend(e.to_string()))?;
        }
        // Every connection to ":memory:" would be a database of its own.
        let pool_size = if path == ":memory:" { 1 } else { pool_size };
        let database = libsql::Builder::new_local(path).build().await.map_err(backend)?;
        let pool = Pool::builder(Manager { database }).max_size(pool_size.max(1)).build().map_err(|e| DbError::Backend(e.to_string()))?;
        Ok(Self { pool })
    }

    async fn connection(&self) -> DbResult<managed::Object<Manager>> {
        self.pool.get().await.map_err(|e| DbError::Backend(format!("no database connection: {e}")))
    }
}

fn backend(error: libsql::Error) -> DbError {
    DbError::from_message(error.to_string())
}

fn params(values: Vec<Value>) -> Vec<libsql::Value> {
    values
        .into_iter()
        .map(|v| match v {
            Value::Null => libsql::Value::Null,
            Value::Integer(i) => libsql::Value::Integer(i),
            Value::Real(r) => libsql::Value::Real(r),
            Value::Text(t) => libsql::Value::Text(t),
            Value::Blob(b) => libsql::Value::Blob(b),
        })
        .collect()
}

fn value(v: libsql::Value) -> Value {
    match v {
        libsql::Value::Null => Value::Null,
        libsql::Value::Integer(i) => Value::Integer(i),
        libsql::Value::Real(r) => Value::Real(r),
        libsql::Value::Text(t) => Value::Text(t),
        libsql::Value::Blob(b) => Value::Blob(b),
    }
}

#[async_trait]
impl Database for Libsql {
    async fn query(&self, stmt: Statement) -> DbResult<Vec<Row>> {
        let connection = self.connection().await?;
        let mut rows = connection.query(&stmt.sql, params(stmt.params)).await.map_err(backend)?;
        let columns = rows.column_count();
        let mut out = Vec::new();
        while let Some(row) = rows.next().await.map_err(backend)? {
            out.push(Row((0..columns).map(|i| row.get_value(i).map(value)).collect::<Result<_, _>>().map_err(backend)?));
        }
        Ok(out)
    }

    async fn execute(&self, stmt: Statement) -> DbResult<u64> {
        let connection = self.connection().await?;
        connection.execute(&stmt.sql, params(stmt.params)).await.map_err(backend)
    }

    fn status(&self) -> Backend {
        Backend { kind: "embedded", last_error: None }
    }

    async fn batch(&self, stmts: Vec<Statement>) -> DbResult<Vec<u64>> {
        let connection = self.connection().await?;
        // IMMEDIATE takes the write lock up front, so two writers wait on busy_timeout instead
        // of deadlocking on a lock upgrade.
        let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).await.map_err(backend)?;
        let mut changed = Vec::with_capacity(stmts.len());
        for stmt in stmts {
            match tx.execute(&stmt.sql, params(stmt.params)).await {
                Ok(n) => changed.push(n),
                Err(error) => {
                    let error = backend(error);
                    if let Err(rollback) = tx.rollback().await {
                        tracing::error!(%rollback, "rollback failed");
                    }
                    return Err(error);
                }
            }
        }
        tx.commit().await.map_err(backend)?;
        Ok(changed)
    }
}

/// Outbound HTTP through reqwest.
pub struct Reqwest(pub reqwest::Client);

#[async_trait]
impl Outbound for Reqwest {
    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, OutboundError> {
        let (parts, body) = request.into_parts();
        let response = self
            .0
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|e| OutboundError(e.to_string()))?;
        let mut builder = http::Response::builder().status(response.status());
        if let Some(headers) = builder.headers_mut() {
            headers.extend(response.headers().clone());
        }
        let body = response.bytes().await.map_err(|e| OutboundError(e.to_string()))?;
        builder.body(body).map_err(|e| OutboundError(e.to_string()))
    }
}

/// Rate-limit counters in this process: one native host serves every request, so its memory
/// is the one place that sees them all. Memory is bounded: at most `capacity` keys are kept,
/// and when a new key arrives at that bound the key whose window started earliest is dropped
/// (an ended window first, since windows are dropped oldest first). Dropping a counter can
/// only make its key's limit more lenient, never refuse anyone wrongly. Every hit is O(1),
/// amortised.
pub struct InProcessLimiter {
    capacity: usize,
    state: std::sync::Mutex<Windows>,
}

#[derive(Default)]
struct Windows {
    by_key: std::collections::HashMap<String, Window>,
    /// Keys in the order their current windows started; an entry whose start no longer matches
    /// its key's window is stale and skipped.
    started: std::collections::VecDeque<(String, i64)>,
}

impl Default for InProcessLimiter {
    fn default() -> Self {
        Self::with_capacity(100_000)
    }
}

impl InProcessLimiter {
    pub fn with_capacity(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), state: Default::default() }
    }

    /// How many keys are counted now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.state.lock().map(|s| s.by_key.len()).unwrap_or(0)
    }
}

impl Windows {
    fn evict_oldest(&mut self) {
        while let Some((key, start)) = self.started.pop_front() {
            if self.by_key.get(&key).is_some_and(|w| w.start_ms == start) {
                self.by_key.remove(&key);
                return;
            }
        }
    }

    /// Stale entries are dropped once they outnumber the live ones, so the queue stays
    /// within twice the key count.
    fn compact(&mut self) {
        if self.started.len() > 2 * self.by_key.len() + 16 {
            let by_key = &self.by_key;
            self.started.retain(|(key, start)| by_key.get(key).is_some_and(|w| w.start_ms == *start));
        }
    }
}

#[async_trait]
impl RateLimiter for InProcessLimiter {
    async fn hit(&self, key: &str, rule: Rule, now_ms: i64) -> Result<Decision, String> {
        let mut windows = self.state.lock().map_err(|_| "the rate limiter's lock is poisoned".to_owned())?;
        let current = windows.by_key.get(key).copied();
        if current.is_none() && windows.by_key.len() >= self.capacity {
            windows.evict_oldest();
        }
        let (window, decision) = Window::hit(current, now_ms, rule);
        if current.is_none_or(|c| c.start_ms != window.start_ms) {
            windows.started.push_back((key.to_owned(), window.start_ms));
        }
        match windows.by_key.get_mut(key) {
            Some(kept) => *kept = window,
            None => {
                windows.by_key.insert(key.to_owned(), window);
            }
        }
        windows.compact();
        Ok(decision)
    }
}

/// argon2id on tokio's blocking pool, so that hashing never stalls the async workers.
pub struct BlockingPasswords(pub Argon2id);

#[async_trait]
impl PasswordHasher for BlockingPasswords {
    async fn hash(&self, password: String) -> Result<String, String> {
        let hasher = self.0.clone();
        tokio::task::spawn_blocking(move || hasher.hash(&password)).await.map_err(|e| e.to_string())?
    }

    async fn verify(&self, password: String, phc: String) -> bool {
        let hasher = self.0.clone();
        tokio::task::spawn_blocking(move || hasher.verify(&password, &phc)).await.unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{db::migrate, stmt};

    async fn memory() -> Libsql {
        Libsql::open(":memory:", 4).await.unwrap()
    }

    #[tokio::test]
    async fn a_failed_batch_changes_nothing() {
        let db = memory().await;
        db.execute(stmt!("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")).await.unwrap();
        let result = db.batch(vec![stmt!("INSERT INTO t VALUES (1, 'a')"), stmt!("INSERT INTO t VALUES (1, 'duplicate')")]).await;
        assert!(matches!(result, Err(DbError::Unique(ref columns)) if columns == "t.id"), "{result:?}");
        assert!(db.query(stmt!("SELECT * FROM t")).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn values_round_trip_through_libsql() {
        let db = memory().await;
        let rows = db.query(stmt!("SELECT ?1, ?2, ?3, ?4, ?5", 7_i64, 1.5, "text", vec![0_u8, 255], Option::<i64>::None)).await.unwrap();
        assert_eq!(
            rows[0].0,
            vec![Value::Integer(7), Value::Real(1.5), Value::Text("text".into()), Value::Blob(vec![0, 255]), Value::Null]
        );
    }

    #[tokio::test]
    async fn the_in_process_limiter_keeps_at_most_its_capacity_dropping_the_oldest_window() {
        let limiter = InProcessLimiter::with_capacity(3);
        let rule = Rule { limit: 1, window: std::time::Duration::from_secs(60) };
        for (i, key) in ["a", "b", "c"].iter().enumerate() {
            assert!(limiter.hit(key, rule, i as i64).await.unwrap().allowed);
        }
        assert!(!limiter.hit("b", rule, 10).await.unwrap().allowed, "b is counted");
        for i in 0..1_000 {
            limiter.hit(&format!("flood{i}"), rule, 20 + i).await.unwrap();
            assert!(limiter.len() <= 3);
        }
        assert!(limiter.hit("a", rule, 2_000).await.unwrap().allowed, "a's window was dropped, so it starts over");
        assert!(!limiter.hit("a", rule, 2_001).await.unwrap().allowed);
        assert!(limiter.state.lock().unwrap().started.len() <= 2 * 3 + 16);
    }

    #[tokio::test]
    async fn sql_and_in_process_limiters_count_the_same_windows() {
        use crate::ratelimit::SqlLimiter;
        let dir = std::env::temp_dir().join(format!("tui-limits-{}", uuid::Uuid::now_v7()));
        let db = std::sync::Arc::new(Libsql::open(&dir.join("db").display().to_string(), 2).await.unwrap());
        migrate::migrate(db.as_ref(), "2026-01-01T00:00:00.000Z").await.unwrap();
        let rule = Rule { limit: 2, window: std::time::Duration::from_secs(10) };
        let limiters: [Box<dyn RateLimiter>; 2] = [Box::new(SqlLimiter(db)), Box::new(InProcessLimiter::default())];
        for limiter in limiters {
            let mut seen = Vec::new();
            for now_ms in [0, 1_000, 2_000, 10_000] {
                let decision = limiter.hit("k", rule, now_ms).await.unwrap();
                seen.push((decision.allowed, decision.remaining, decision.reset_s));
            }
            assert_eq!(seen, [(true, 1, 10), (true, 0, 9), (false, 0, 8), (true, 1, 10)]);
            assert!(limiter.hit("other", rule, 2_500).await.unwrap().allowed, "keys count apart");
        }
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn migrations_apply_once_tolerate_a_newer_schema_and_refuse_a_changed_one() {
        let dir = std::env::temp_dir().join(format!("tui-migrate-{}", uuid::Uuid::now_v7()));
        let db = Libsql::open(&dir.join("db").display().to_string(), 2).await.unwrap();
        let now = "2026-01-01T00:00:00.000Z";
        assert_eq!(migrate::migrate(&db, now).await.unwrap().version, migrate::latest_version());
        assert!(migrate::migrate(&db, now).await.unwrap().current());
        // A newer build of another group migrated first: this one keeps serving.
        let ahead = migrate::latest_version() + 1;
        db.execute(stmt!("INSERT INTO schema_migrations VALUES (?1, 'from_a_newer_build', 'x', ?2)", ahead, now)).await.unwrap();
        let schema = migrate::migrate(&db, now).await.unwrap();
        assert!(schema.current());
        assert_eq!((schema.version, schema.newer), (migrate::latest_version(), vec![ahead]));
        db.execute(stmt!("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")).await.unwrap();
        assert!(matches!(migrate::verify(&db).await, Err(migrate::MigrateError::Changed { version: 1, .. })));
        std::fs::remove_dir_all(dir).ok();
    }
}
