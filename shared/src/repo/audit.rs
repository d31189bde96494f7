//! The audit log: who did what, to what, from where. Entries are statements, so that each is
//! written in the same transaction as the change it records.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{decode, sessions::ClientInfo};
use crate::{
    ApiError,
    db::{Database, Query, Statement, Value},
};

/// What happened; the action names are stable, for filtering.
pub struct Event<'a> {
    pub action: &'a str,
    pub actor: Option<Uuid>,
    pub target: Option<String>,
    pub detail: serde_json::Value,
}

impl<'a> Event<'a> {
    pub fn new(action: &'a str, actor: Option<Uuid>) -> Self {
        Self { action, actor, target: None, detail: serde_json::json!({}) }
    }

    pub fn target(mut self, target: impl ToString) -> Self {
        self.target = Some(target.to_string());
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    pub fn record(self, client: &ClientInfo, now: &str) -> Statement {
        self.insert("VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)".into(), client, now, Vec::new())
    }

    /// The entry, written only if `condition` holds when its batch reaches it: for a change that
    /// a racing request, or an earlier statement of the batch, decides. The condition's
    /// parameters are `?9` onwards, bound to `params`.
    pub fn record_if(self, client: &ClientInfo, now: &str, condition: &str, params: Vec<Value>) -> Statement {
        self.insert(format!("SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE {condition}"), client, now, params)
    }

    /// The entry, written only if the statement just before it in its batch changed a row:
    /// a refused or racing change leaves no trace that it happened.
    pub fn record_if_changed(self, client: &ClientInfo, now: &str) -> Statement {
        self.record_if(client, now, "changes() > 0", Vec::new())
    }

    fn insert(self, values: String, client: &ClientInfo, now: &str, extra: Vec<Value>) -> Statement {
        let mut params: Vec<Value> = vec![
            Uuid::now_v7().into(),
            now.into(),
            self.actor.into(),
            self.action.into(),
            self.target.into(),
            client.ip.clone().into(),
            client.request_id.clone().into(),
            self.detail.to_string().into(),
        ];
        params.extend(extra);
        Statement::new(format!("INSERT INTO audit_log (id, at, actor_id, action, target, ip, request_id, detail) {values}"), params)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: Uuid,
    pub at: String,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub detail: serde_json::Value,
}

pub struct Filter {
    pub actor: Option<Uuid>,
    pub action: Option<String>,
    pub before: Option<Uuid>,
    pub limit: usize,
}

/// Entries newest first, one more than `limit`.
pub async fn list(db: &dyn Database, filter: &Filter) -> Result<Vec<AuditEntry>, ApiError> {
    let mut q = Query::new("SELECT id, at, actor_id, action, target, ip, request_id, detail FROM audit_log WHERE 1 = 1");
    if let Some(actor) = filter.actor {
        q.push(" AND actor_id = ").push_bind(actor);
    }
    if let Some(action) = &filter.action {
        q.push(" AND action = ").push_bind(action);
    }
    if let Some(before) = filter.before {
        q.push(" AND id < ").push_bind(before);
    }
    q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::try_from(filter.limit + 1).unwrap_or(i64::MAX));
    #[derive(Deserialize)]
    struct EntryRow {
        id: Uuid,
        at: String,
        actor_id: Option<Uuid>,
        action: String,
        target: Option<String>,
        ip: Option<String>,
        request_id: Option<String>,
        detail: String,
    }
    decode(db.query(q.finish()).await?, |row| {
        let EntryRow { id, at, actor_id, action, target, ip, request_id, detail } = row.decode()?;
        Ok(AuditEntry { id, at, actor_id, action, target, ip, request_id, detail: serde_json::from_str(&detail).unwrap_or_default() })
    })
}
