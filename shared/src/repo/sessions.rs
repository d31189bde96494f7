//! Sessions and the hashed refresh tokens that renew them.

use uuid::Uuid;

use crate::{db::Statement, stmt};

/// Who opened a session, as far as the request tells.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

pub struct NewSession<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub refresh_hash: &'a str,
    pub client: &'a ClientInfo,
    pub now: &'a str,
    pub expires_at: &'a str,
}

/// The statements that open a session with its first refresh token.
pub fn open(session: &NewSession<'_>) -> Vec<Statement> {
    vec![
        stmt!(
            "INSERT INTO sessions (id, user_id, user_agent, ip, created_at, last_seen_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
            session.id,
            session.user_id,
            session.client.user_agent.clone(),
            session.client.ip.clone(),
            session.now,
            session.expires_at,
        ),
        stmt!(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?1, ?2, ?3)",
            session.refresh_hash,
            session.id,
            session.now,
        ),
    ]
}
