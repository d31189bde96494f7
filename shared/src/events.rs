//! The event log, a transactional outbox. Triggers on the watched tables write each change's
//! event in the change's own transaction (migration 0008), so a crash between a commit and its
//! fan-out loses nothing; fan-out and replay both read this log afterwards. Here: who made a
//! change ([`Acting`]), reading the log (replay, tail), and retention.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use uuid::Uuid;

use crate::{
    ApiError,
    config::{ConfigError, Lookup, Section},
    db::{Backend, Database, DbResult, Row, Statement, Value, decode_all},
    stmt,
    time::{self, Timestamp},
};

/// One event as the log holds it. `data` is the JSON object the trigger wrote.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Event {
    pub id: i64,
    pub topic: String,
    pub event: String,
    pub data: String,
    pub actor: Option<String>,
    pub created_at: String,
}

const COLUMNS: &str = "id, topic, event, data, actor, created_at";

/// A database whose writes are made by `actor` at `at`: each batch first states who is acting
/// (`change_context`) for the triggers that write events, and clears it as its last statement,
/// inside the same transaction, so no other batch ever sees it.
pub struct Acting {
    db: Arc<dyn Database>,
    actor: Uuid,
    at: String,
}

impl Acting {
    pub fn new(db: Arc<dyn Database>, actor: Uuid, at: &str) -> Self {
        Self { db, actor, at: at.to_owned() }
    }

    fn wrapped(&self, stmts: Vec<Statement>) -> Vec<Statement> {
        let mut all = Vec::with_capacity(stmts.len() + 2);
        all.push(stmt!("INSERT OR REPLACE INTO change_context (one, actor, at) VALUES (1, ?1, ?2)", self.actor, self.at.as_str()));
        all.extend(stmts);
        all.push(stmt!("DELETE FROM change_context"));
        all
    }
}

#[async_trait]
impl Database for Acting {
    async fn query(&self, stmt: Statement) -> DbResult<Vec<Row>> {
        self.db.query(stmt).await
    }

    async fn execute(&self, stmt: Statement) -> DbResult<u64> {
        let counts = self.db.batch(self.wrapped(vec![stmt])).await?;
        Ok(counts.get(1).copied().unwrap_or(0))
    }

    async fn batch(&self, stmts: Vec<Statement>) -> DbResult<Vec<u64>> {
        let given = stmts.len();
        let counts = self.db.batch(self.wrapped(stmts)).await?;
        Ok(counts.into_iter().skip(1).take(given).collect())
    }

    fn status(&self) -> Backend {
        self.db.status()
    }
}

/// A list of topics as one bound value, a JSON array read with `json_each`: one parameter
/// however many topics (D1 binds at most 100 per statement).
pub fn json_list(items: &[String]) -> Value {
    Value::Text(serde_json::to_string(items).unwrap_or_else(|_| "[]".into()))
}

/// The events of `topics` after `after`, oldest first, at most `limit`.
pub async fn since(db: &dyn Database, topics: &[String], after: i64, limit: u32) -> Result<Vec<Event>, ApiError> {
    if topics.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {COLUMNS} FROM events WHERE topic IN (SELECT value FROM json_each(?3)) AND id > ?1 ORDER BY id LIMIT ?2");
    Ok(decode_all(&db.query(stmt!(sql, after, i64::from(limit), json_list(topics))).await?)?)
}

/// Every event after `after`, oldest first, at most `limit`: what a hub fans out.
pub async fn tail(db: &dyn Database, after: i64, limit: u32) -> Result<Vec<Event>, ApiError> {
    let rows = db.query(stmt!(format!("SELECT {COLUMNS} FROM events WHERE id > ?1 ORDER BY id LIMIT ?2"), after, i64::from(limit))).await?;
    Ok(decode_all(&rows)?)
}

/// The id of the newest event (0 for an empty log).
pub async fn latest(db: &dyn Database) -> Result<i64, ApiError> {
    let row = db.query_opt(stmt!("SELECT coalesce(max(id), 0) FROM events")).await?;
    Ok(row.map(|row| row.decode::<(i64,)>()).transpose()?.map_or(0, |(id,)| id))
}

/// Those of `topics` whose retained log no longer reaches back to `after`: a replay from there
/// would miss events that retention pruned. A replay from 0 asks for what is retained.
pub async fn gaps(db: &dyn Database, topics: &[String], after: i64) -> Result<Vec<String>, ApiError> {
    if after <= 0 || topics.is_empty() {
        return Ok(Vec::new());
    }
    let sql = "SELECT topic FROM event_horizons WHERE topic IN (SELECT value FROM json_each(?2)) AND pruned_through > ?1 ORDER BY topic";
    let rows = db.query(stmt!(sql, after, json_list(topics))).await?;
    Ok(rows.iter().map(|row| row.decode::<(String,)>().map(|(topic,)| topic)).collect::<DbResult<_>>()?)
}

/// How many events `topics` logged after `after`, counted up to `cap` at most.
pub async fn count_since(db: &dyn Database, topics: &[String], after: i64, cap: i64) -> Result<i64, ApiError> {
    if topics.is_empty() {
        return Ok(0);
    }
    let sql = "SELECT count(*) FROM (SELECT 1 FROM events WHERE topic IN (SELECT value FROM json_each(?3)) AND id > ?1 LIMIT ?2)";
    let row = db.query_opt(stmt!(sql, after, cap, json_list(topics))).await?;
    Ok(row.map(|row| row.decode::<(i64,)>()).transpose()?.map_or(0, |(n,)| n))
}

/// How much of each topic's log is kept: the newest `per_topic` events, none older than `age`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub per_topic: u32,
    pub age: Duration,
}

impl Section for Retention {
    /// `EVENTS_KEEP_PER_TOPIC` (default 1000) and `EVENTS_KEEP_DAYS` (default 7).
    fn read(lookup: &Lookup<'_>) -> Result<Self, ConfigError> {
        let per_topic = lookup.number("EVENTS_KEEP_PER_TOPIC", 1000)?;
        let days = lookup.number("EVENTS_KEEP_DAYS", 7)?;
        if per_topic == 0 || days == 0 {
            return Err(ConfigError::Invalid { name: "EVENTS_KEEP_PER_TOPIC", reason: "keep at least one event for a day".into() });
        }
        Ok(Self { per_topic, age: Duration::from_secs(u64::from(days) * 24 * 3600) })
    }
}

/// Statements that cut every topic's log to `retention` as of `now`, recording per topic the
/// newest id cut, first, so that a replay from before it reports the gap. One condition for
/// both, run in one batch: nothing between them can change which rows it selects.
pub fn prune(now: Timestamp, retention: Retention) -> Vec<Statement> {
    let cut = time::format(now - retention.age);
    let doomed = "created_at < ?1 OR id IN (SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY topic ORDER BY id DESC) AS n \
                  FROM events) WHERE n > ?2)";
    vec![
        stmt!(
            format!(
                "INSERT INTO event_horizons (topic, pruned_through) SELECT topic, max(id) FROM events WHERE {doomed} GROUP BY topic \
                 ON CONFLICT (topic) DO UPDATE SET pruned_through = max(pruned_through, excluded.pruned_through)"
            ),
            cut.as_str(),
            retention.per_topic,
        ),
        stmt!(format!("DELETE FROM events WHERE {doomed}"), cut.as_str(), retention.per_topic),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_one_json_array() {
        assert_eq!(json_list(&["project:a".into(), "user:b".into()]), Value::Text(r#"["project:a","user:b"]"#.into()));
        assert_eq!(json_list(&[]), Value::Text("[]".into()));
    }

    #[test]
    fn retention_needs_something_kept() {
        let none = |_: &str| None;
        assert_eq!(Retention::read(&Lookup(&none)).unwrap(), Retention { per_topic: 1000, age: Duration::from_secs(7 * 86400) });
        let zero = |name: &str| (name == "EVENTS_KEEP_PER_TOPIC").then(|| "0".to_owned());
        assert!(Retention::read(&Lookup(&zero)).is_err());
    }
}
