//! The `Database` port: SQLite-dialect statements with typed parameters and rows.
//!
//! Every runtime implements it once (embedded or remote libSQL natively, D1 or Hrana on Workers,
//! Spin's SQLite on Spin). There are no interactive transactions because D1 and Hrana-over-HTTP
//! have none; a write that touches several rows is one atomic `batch`, and conditions that must
//! hold across rows are written into the statements themselves (`WHERE version = ?`,
//! `INSERT ... SELECT ... WHERE`), so a batch never has to decide anything half-way.

pub mod migrate;
mod query;
mod row;

pub use query::{Operand, Param, Query};
pub use row::{Json, Row, decode_all};

use std::borrow::Cow;

use async_trait::async_trait;
use uuid::Uuid;

/// A SQLite value, as bound or as read.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Integer(v.into())
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Integer(v.into())
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<Uuid> for Value {
    fn from(v: Uuid) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<&Uuid> for Value {
    fn from(v: &Uuid) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// One SQL statement with `?1, ?2, ...` placeholders and their values.
#[derive(Debug, Clone)]
pub struct Statement {
    pub sql: Cow<'static, str>,
    pub params: Vec<Value>,
}

impl Statement {
    pub fn new(sql: impl Into<Cow<'static, str>>, params: Vec<Value>) -> Self {
        let statement = Self { sql: sql.into(), params };
        // D1 refuses a statement bound with more or fewer values than it numbers, where libSQL
        // lets it pass: catch the mismatch in every build that runs tests, on any runtime.
        debug_assert_eq!(highest_parameter(&statement.sql), statement.params.len(), "parameters bound to: {}", statement.sql);
        statement
    }
}

/// The highest `?N` a statement names (statements here number every parameter).
fn highest_parameter(sql: &str) -> usize {
    let bytes = sql.as_bytes();
    let mut highest = 0;
    for (at, _) in sql.match_indices('?') {
        let digits: String = bytes[at + 1..].iter().take_while(|b| b.is_ascii_digit()).map(|b| *b as char).collect();
        highest = highest.max(digits.parse().unwrap_or(0));
    }
    highest
}

/// Builds a [`Statement`]: `stmt!("SELECT ... WHERE id = ?1", id)`.
#[macro_export]
macro_rules! stmt {
    ($sql:expr $(, $param:expr)* $(,)?) => {
        $crate::db::Statement::new($sql, vec![$($crate::db::Value::from($param)),*])
    };
}

/// Declares a string enum stored as its name (`pending`) in the database and written the same
/// way in JSON and the OpenAPI document, with `ALL`, `as_str` and `parse`; rows read it by its name too. The
/// crate that uses it depends on serde and utoipa.
#[macro_export]
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize, ::utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            #[allow(dead_code, reason = "declared for every such enum; not every one is listed whole")]
            pub const ALL: &[$name] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

/// Whether statement `index` of a batch changed anything, by the counts the batch returned (see
/// [`Database::execute`] for why that is `> 0`, never `== 1`).
pub fn changed(counts: &[u64], index: usize) -> bool {
    counts.get(index).is_some_and(|n| *n > 0)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// A UNIQUE constraint failed; holds SQLite's `table.column` list.
    #[error("unique constraint failed: {0}")]
    Unique(String),
    #[error("constraint failed: {0}")]
    Constraint(String),
    #[error("could not decode a row: {0}")]
    Decode(String),
    /// The database answered with an error of its own.
    #[error("database error: {0}")]
    Backend(String),
    /// The database could not be reached, or the exchange broke: a write's outcome is unknown.
    #[error("database unreachable: {0}")]
    Unreachable(String),
}

/// What a database port says about itself, for readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// `embedded`, `remote`, `d1`, `spin`.
    pub kind: &'static str,
    /// The last failure to reach a remote database, if any.
    pub last_error: Option<String>,
}

pub type DbResult<T> = Result<T, DbError>;

impl DbError {
    pub fn decode(message: impl Into<String>) -> Self {
        Self::Decode(message.into())
    }

    /// Classifies an engine's error message. Every backend here wraps SQLite, so they all
    /// carry SQLite's wording ("UNIQUE constraint failed: users.email").
    pub fn from_message(message: impl Into<String>) -> Self {
        let message = message.into();
        if let Some(at) = message.find("UNIQUE constraint failed: ") {
            let columns = &message[at + "UNIQUE constraint failed: ".len()..];
            let end = columns.find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '.' | ',' | ' '))).unwrap_or(columns.len());
            return Self::Unique(columns[..end].trim().trim_end_matches(',').to_owned());
        }
        if message.contains("constraint failed") {
            return Self::Constraint(message);
        }
        Self::Backend(message)
    }

    /// Whether this is a unique violation on `table.column`.
    pub fn is_unique(&self, column: &str) -> bool {
        matches!(self, Self::Unique(columns) if columns.split(", ").any(|c| c == column))
    }
}

impl From<DbError> for crate::ApiError {
    fn from(error: DbError) -> Self {
        match error {
            // A client may try again in a moment: the database is coming back.
            DbError::Backend(_) | DbError::Unreachable(_) => crate::ApiError::unavailable(error).with_retry_after(1),
            _ => crate::ApiError::internal(error),
        }
    }
}

/// The database port.
#[async_trait]
pub trait Database: Send + Sync + 'static {
    /// Runs a statement and returns its rows.
    async fn query(&self, stmt: Statement) -> DbResult<Vec<Row>>;

    /// Runs a statement and returns how many rows it changed: 0 exactly when the statement
    /// itself changed none. D1 also counts the rows its triggers and cascades changed, SQLite's
    /// own count does not; so a statement that changes at most one row itself is asked `> 0`,
    /// never `== 1`.
    async fn execute(&self, stmt: Statement) -> DbResult<u64>;

    /// Runs every statement in one transaction: all of them or none. Returns the rows each
    /// changed, counted as [`Database::execute`] counts them.
    async fn batch(&self, stmts: Vec<Statement>) -> DbResult<Vec<u64>>;

    /// What kind of database this is, and how reaching it last went.
    fn status(&self) -> Backend;

    async fn query_opt(&self, stmt: Statement) -> DbResult<Option<Row>> {
        Ok(self.query(stmt).await?.into_iter().next())
    }
}

/// Whether a statement only reads, told by its keywords (whole words: a column named
/// `updated_at` is no UPDATE): what may be retried after a lost answer, or run on a read-only
/// connection.
pub fn reads_only(sql: &str) -> bool {
    let mut words = sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty());
    match words.next() {
        // A SELECT cannot write (only a statement that starts otherwise can), whatever it names.
        Some(first) if first.eq_ignore_ascii_case("SELECT") => true,
        // A common table expression may lead into an INSERT, UPDATE or DELETE.
        Some(first) if first.eq_ignore_ascii_case("WITH") => {
            !words.any(|w| ["INSERT", "UPDATE", "DELETE", "REPLACE", "RETURNING"].iter().any(|k| w.eq_ignore_ascii_case(k)))
        }
        _ => false,
    }
}

/// Splits a migration file into single statements, because D1's batch and Spin's execute take
/// one statement at a time. Semicolons inside quotes, comments and `BEGIN ... END` bodies
/// (triggers, which may hold `CASE ... END`) do not split.
pub fn split_statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    let mut word = String::new();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            current.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        if c == '-' && chars.peek() == Some(&'-') {
            for skipped in chars.by_ref() {
                if skipped == '\n' {
                    current.push('\n');
                    break;
                }
            }
            continue;
        }
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else if !word.is_empty() {
            match word.to_ascii_uppercase().as_str() {
                // CASE closes with END too, so it must count, or a CASE in a trigger would
                // end the trigger's body early.
                "BEGIN" | "CASE" => depth += 1,
                "END" => depth = depth.saturating_sub(1),
                _ => {}
            }
            word.clear();
        }
        match c {
            '\'' | '"' | '`' => {
                quote = Some(c);
                current.push(c);
            }
            ';' if depth == 0 => {
                let statement = current.trim();
                if !statement.is_empty() {
                    statements.push(statement.to_owned());
                }
                current.clear();
            }
            _ => current.push(c),
        }
    }
    let statement = current.trim();
    if !statement.is_empty() {
        statements.push(statement.to_owned());
    }
    statements
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_violations_are_recognised_in_every_backends_wording() {
        let libsql = DbError::from_message("SQLite failure: `UNIQUE constraint failed: users.email`");
        assert!(libsql.is_unique("users.email"));
        let d1 = DbError::from_message("D1_ERROR: UNIQUE constraint failed: users.username: SQLITE_CONSTRAINT");
        assert!(d1.is_unique("users.username"));
        let pair = DbError::from_message("UNIQUE constraint failed: members.project_id, members.user_id");
        assert!(pair.is_unique("members.user_id"));
        assert!(matches!(DbError::from_message("disk I/O error"), DbError::Backend(_)));
    }

    #[test]
    fn only_plain_reads_count_as_reads() {
        assert!(reads_only("  select 1"));
        assert!(reads_only("WITH x AS (SELECT 1) SELECT * FROM x"));
        assert!(reads_only("SELECT p.updated_at, s.created_at FROM projects p"), "a column is not a keyword");
        assert!(!reads_only("INSERT INTO t VALUES (1) RETURNING id"));
        assert!(!reads_only("DELETE FROM oauth_states WHERE 1 RETURNING nonce"));
        assert!(!reads_only("UPDATE t SET a = 1"));
    }

    #[test]
    fn statements_split_on_semicolons_outside_quotes_comments_and_trigger_bodies() {
        let sql = "CREATE TABLE a (x TEXT DEFAULT ';'); -- a comment; with a semicolon\n\
                   CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE a SET x = 'y'; END;\n\
                   INSERT INTO a VALUES ('it''s');\n\
                   CREATE TRIGGER u AFTER UPDATE ON a WHEN (CASE WHEN new.x = '' THEN 1 ELSE 0 END) = 1 \
                   BEGIN UPDATE a SET x = CASE WHEN x = 'y' THEN 'z' ELSE x END; DELETE FROM a; END;";
        let statements = split_statements(sql);
        assert_eq!(statements.len(), 4, "{statements:#?}");
        assert!(statements[3].ends_with("DELETE FROM a; END"), "{statements:#?}");
        assert!(statements[1].ends_with("END"));
        assert_eq!(statements[2], "INSERT INTO a VALUES ('it''s')");
    }
}
