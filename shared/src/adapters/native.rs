//! The native runtime: SQLite (an embedded file, through rusqlite), a remote Turso database
//! through the same Hrana client the Workers use (over reqwest here), reqwest for outbound
//! HTTP, and password hashing on a pool as wide as the machine.
//!
//! Connections: an embedded file gets one writer and a few readers ([`Sqlite`]). A remote
//! database needs none: each call is one stateless HTTP request that closes its stream, so no
//! connection or stream is ever handed out dead.

use std::sync::{
    Arc, Mutex, PoisonError,
    atomic::{AtomicUsize, Ordering},
};

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::{OpenFlags, TransactionBehavior, types::ValueRef};

use crate::{
    auth::password::{Argon2id, PasswordError},
    db::{Backend, Database, DbError, DbResult, Row, Statement, Value},
    ports::{Outbound, OutboundError, PasswordHasher},
    ratelimit::{Decision, LimiterError, RateLimiter, Rule, Window},
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

/// Opens the database at `location`: the embedded file, or the remote server over Hrana.
pub async fn open(location: &Location, pool_size: usize, outbound: Arc<dyn Outbound>) -> DbResult<Arc<dyn Database>> {
    Ok(match location {
        Location::File(path) => Arc::new(Sqlite::open(path, pool_size)?),
        Location::Remote { url, token } => {
            let token = Some(token.clone()).filter(|t| !t.is_empty());
            Arc::new(super::hrana::Hrana::new(url, token, outbound))
        }
    })
}

/// Statements each connection keeps prepared: every statement the groups make, with room over.
const PREPARED_STATEMENTS: usize = 256;

/// The `Database` port over an embedded SQLite file (SQLite compiled in, through rusqlite).
///
/// SQLite in WAL mode reads in parallel with one writer, so the connections are split that
/// way: one writer, on which every write and transaction runs in turn, off the async threads
/// (a write may wait for the disk); and read-only readers, on which a read runs at once, on
/// the calling thread, as the call it is (a point read costs microseconds, less than handing
/// it to another thread would). Each connection keeps its statements prepared.
pub struct Sqlite {
    writer: Arc<Mutex<rusqlite::Connection>>,
    readers: Arc<Vec<Mutex<rusqlite::Connection>>>,
    next: AtomicUsize,
}

/// Opens one connection. `busy_ms`: how long it waits for a lock another connection holds (in
/// WAL mode a reader waits only in rare recoveries, and briefly, since it waits on an async
/// thread).
fn connect(path: &str, flags: OpenFlags, busy_ms: u32) -> DbResult<rusqlite::Connection> {
    let connection = rusqlite::Connection::open_with_flags(path, flags).map_err(backend)?;
    connection.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS);
    // The one place the SQLite pragmas are set.
    let pragmas = format!("PRAGMA busy_timeout = {busy_ms}; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;");
    connection.execute_batch(&pragmas).map_err(backend)?;
    Ok(connection)
}

impl Sqlite {
    /// Opens (creating) the file at `path` with one writer and `pool_size - 1` readers. An
    /// in-memory database is one connection: every connection to `:memory:` is a database of
    /// its own.
    pub fn open(path: &str, pool_size: usize) -> DbResult<Self> {
        if let Some(parent) = std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| DbError::Backend(e.to_string()))?;
        }
        let writer = connect(path, OpenFlags::default(), 5000)?;
        let mut readers = Vec::new();
        if path != ":memory:" {
            writer.pragma_update(None, "journal_mode", "WAL").map_err(backend)?;
            // At least one reader per thread that may read at once, so that a read does not
            // wait for a reader on an async thread.
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            for _ in 0..pool_size.saturating_sub(1).max(cores) {
                readers.push(Mutex::new(connect(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX, 250)?));
            }
        }
        Ok(Self { writer: Arc::new(Mutex::new(writer)), readers: Arc::new(readers), next: AtomicUsize::new(0) })
    }

    /// Runs `f` on a reader now: the first free one, or else one in turn.
    fn read<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> T) -> T {
        if self.readers.is_empty() {
            return f(&self.writer.lock().unwrap_or_else(PoisonError::into_inner));
        }
        for reader in self.readers.iter() {
            if let Ok(connection) = reader.try_lock() {
                return f(&connection);
            }
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        f(&self.readers[turn].lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Runs `f` on the writer, on a blocking thread.
    async fn write<T: Send + 'static>(&self, f: impl FnOnce(&mut rusqlite::Connection) -> DbResult<T> + Send + 'static) -> DbResult<T> {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || f(&mut writer.lock().unwrap_or_else(PoisonError::into_inner)))
            .await
            .map_err(|e| DbError::Backend(format!("the database task failed: {e}")))?
    }
}

fn backend(error: rusqlite::Error) -> DbError {
    DbError::from_message(error.to_string())
}

fn bind(values: Vec<Value>) -> impl rusqlite::Params {
    rusqlite::params_from_iter(values.into_iter().map(|v| match v {
        Value::Null => rusqlite::types::Value::Null,
        Value::Integer(i) => rusqlite::types::Value::Integer(i),
        Value::Real(r) => rusqlite::types::Value::Real(r),
        Value::Text(t) => rusqlite::types::Value::Text(t),
        Value::Blob(b) => rusqlite::types::Value::Blob(b),
    }))
}

fn value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// Runs a statement that returns rows on `connection`.
fn rows(connection: &rusqlite::Connection, stmt: Statement) -> DbResult<Vec<Row>> {
    let prepared = connection.prepare_cached(&stmt.sql).map_err(backend)?;
    rows_of(prepared, stmt)
}

/// Runs `stmt` on a reader if SQLite says it cannot write; hands it back otherwise.
fn read_rows(connection: &rusqlite::Connection, stmt: Statement) -> Result<DbResult<Vec<Row>>, Statement> {
    match connection.prepare_cached(&stmt.sql) {
        Ok(prepared) if prepared.readonly() => Ok(rows_of(prepared, stmt)),
        Ok(_) => Err(stmt),
        Err(error) => Ok(Err(backend(error))),
    }
}

fn rows_of(mut prepared: rusqlite::CachedStatement<'_>, stmt: Statement) -> DbResult<Vec<Row>> {
    let names: Arc<[String]> = prepared.column_names().into_iter().map(str::to_owned).collect();
    let mut rows = prepared.query(bind(stmt.params)).map_err(backend)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(backend)? {
        let values = (0..names.len()).map(|i| row.get_ref(i).map(value)).collect::<Result<_, _>>().map_err(backend)?;
        out.push(Row::new(names.clone(), values));
    }
    Ok(out)
}

/// Runs a statement that returns no rows; the rows it changed, for an INSERT, UPDATE or DELETE
/// (SQLite's count after a statement of any other kind is an earlier statement's).
fn execute(connection: &rusqlite::Connection, stmt: Statement) -> DbResult<u64> {
    let mut prepared = connection.prepare_cached(&stmt.sql).map_err(backend)?;
    let changed = prepared.execute(bind(stmt.params)).map_err(backend)?;
    let first = stmt.sql.split_whitespace().next().unwrap_or_default();
    let counts = ["INSERT", "UPDATE", "DELETE", "REPLACE", "WITH"].iter().any(|k| first.eq_ignore_ascii_case(k));
    Ok(if counts { changed as u64 } else { 0 })
}

#[async_trait]
impl Database for Sqlite {
    async fn query(&self, stmt: Statement) -> DbResult<Vec<Row>> {
        match self.read(|connection| read_rows(connection, stmt)) {
            Ok(read) => read,
            // INSERT ... RETURNING and the like: a write that answers with rows.
            Err(stmt) => self.write(move |connection| rows(connection, stmt)).await,
        }
    }

    async fn execute(&self, stmt: Statement) -> DbResult<u64> {
        self.write(move |connection| execute(connection, stmt)).await
    }

    fn status(&self) -> Backend {
        Backend { kind: "embedded", last_error: None }
    }

    async fn batch(&self, stmts: Vec<Statement>) -> DbResult<Vec<u64>> {
        self.write(move |connection| {
            // IMMEDIATE takes the write lock up front, so that another process writing the same
            // file makes this one wait on busy_timeout instead of failing a lock upgrade.
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            let changed = stmts.into_iter().map(|stmt| execute(&tx, stmt)).collect::<DbResult<Vec<u64>>>()?;
            tx.commit().map_err(backend)?;
            Ok(changed)
        })
        .await
    }
}

/// Outbound HTTP over a reqwest client, reading at most `limit` bytes of a response body: a
/// server that answers without end costs a failed call, not the host's memory.
pub struct Reqwest {
    client: reqwest::Client,
    limit: usize,
}

impl Reqwest {
    pub fn new(client: reqwest::Client) -> Self {
        Self::with_limit(client, crate::ports::MAX_RESPONSE_BYTES)
    }

    pub fn with_limit(client: reqwest::Client, limit: usize) -> Self {
        Self { client, limit }
    }
}

#[async_trait]
impl Outbound for Reqwest {
    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, OutboundError> {
        let (parts, body) = request.into_parts();
        let mut response = self
            .client
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
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| OutboundError(e.to_string()))? {
            if body.len() + chunk.len() > self.limit {
                return Err(OutboundError(format!("the response body is over {} bytes", self.limit)));
            }
            body.extend_from_slice(&chunk);
        }
        builder.body(Bytes::from(body)).map_err(|e| OutboundError(e.to_string()))
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
    async fn hit(&self, key: &str, rule: Rule, now_ms: i64) -> Result<Decision, LimiterError> {
        let mut windows = self.state.lock().map_err(|_| LimiterError::Poisoned)?;
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

/// argon2id off the async workers, at most as many at once as the machine has cores: more
/// would only share the cores and make every sign-in as slow as the slowest; the rest wait
/// their turn, first come first served.
pub struct BlockingPasswords {
    hasher: Argon2id,
    cores: Arc<tokio::sync::Semaphore>,
}

impl BlockingPasswords {
    pub fn new(hasher: Argon2id) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self { hasher, cores: Arc::new(tokio::sync::Semaphore::new(cores)) }
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce(Argon2id) -> T + Send + 'static) -> Result<T, PasswordError> {
        let core = self.cores.clone().acquire_owned().await.map_err(|e| PasswordError::Thread(e.to_string()))?;
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || {
            let done = work(hasher);
            drop(core);
            done
        })
        .await
        .map_err(|e| PasswordError::Thread(e.to_string()))
    }
}

#[async_trait]
impl PasswordHasher for BlockingPasswords {
    async fn hash(&self, password: String) -> Result<String, PasswordError> {
        self.run(move |hasher| hasher.hash(&password)).await?
    }

    async fn verify(&self, password: String, phc: String) -> bool {
        self.run(move |hasher| hasher.verify(&password, &phc)).await.unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{db::migrate, stmt};

    async fn memory() -> Sqlite {
        Sqlite::open(":memory:", 4).unwrap()
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
            rows[0].values(),
            [Value::Integer(7), Value::Real(1.5), Value::Text("text".into()), Value::Blob(vec![0, 255]), Value::Null]
        );
    }

    #[tokio::test]
    async fn writes_that_answer_with_rows_run_on_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let db = Sqlite::open(dir.path().join("t.db").to_str().unwrap(), 3).unwrap();
        db.execute(stmt!("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)")).await.unwrap();
        let inserted = db.query(stmt!("INSERT INTO t (n) VALUES (?1) RETURNING id, n", 5_i64)).await.unwrap();
        assert_eq!(inserted[0].decode::<(i64, i64)>().unwrap(), (1, 5));
        let read = db.query(stmt!("WITH x AS (SELECT n FROM t) SELECT n FROM x")).await.unwrap();
        assert_eq!(read[0].decode::<(i64,)>().unwrap(), (5,));
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
        let db = std::sync::Arc::new(Sqlite::open(&dir.join("db").display().to_string(), 2).unwrap());
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
        let db = Sqlite::open(&dir.join("db").display().to_string(), 2).unwrap();
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
