//! Sign-up and sign-in.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    ApiError, AppState,
    auth::tokens::{AccessGrant, random_token, sha256_hex},
    domain::{Email, NewPassword, Password, Role, Username},
    repo::{
        sessions::{self, ClientInfo, NewSession},
        users::{self, User},
    },
    time,
};

/// A fresh token pair.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

pub const REFRESH_PREFIX: &str = "tui_rt_";

/// Makes the statements of a new session and the tokens that go with it; the caller batches
/// the statements with whatever else must be atomic with them.
fn new_session(
    state: &AppState,
    user_id: Uuid,
    roles: Vec<Role>,
    client: &ClientInfo,
    now: time::Timestamp,
) -> Result<(Vec<crate::db::Statement>, Tokens), ApiError> {
    let session_id = Uuid::now_v7();
    let refresh_token = random_token(REFRESH_PREFIX);
    let refresh_hash = sha256_hex(refresh_token.as_bytes());
    let statements = sessions::open(&NewSession {
        id: session_id,
        user_id,
        refresh_hash: &refresh_hash,
        client,
        now: &time::format(now),
        expires_at: &time::format(now + state.config.refresh_ttl),
    });
    let grant = AccessGrant { user_id, session_id, roles };
    let access_token = state.config.keys.issue(&grant, now, state.config.access_ttl).map_err(ApiError::internal)?;
    Ok((
        statements,
        Tokens { access_token, refresh_token, token_type: "Bearer", expires_in: state.config.access_ttl.as_secs() },
    ))
}

/// Creates an account and signs it in, in one transaction.
pub async fn register(
    state: &AppState,
    email: Email,
    username: Username,
    password: NewPassword,
    client: &ClientInfo,
) -> Result<(User, Tokens), ApiError> {
    let hash = state.passwords.hash(password.into()).await.map_err(ApiError::internal)?;
    let now = state.clock.now();
    let id = Uuid::now_v7();
    let mut batch = users::insert(id, &email, &username, &hash, &time::format(now));
    let (session, tokens) = new_session(state, id, vec![Role::Member], client, now)?;
    batch.extend(session);
    state.db.batch(batch).await.map_err(users::insert_conflict)?;
    let user = users::get(state.db.as_ref(), id).await?.ok_or_else(|| ApiError::internal("new user vanished"))?;
    tracing::info!(user_id = %id, "registered");
    Ok((user, tokens))
}

/// Signs in with email or username. Unknown users cost as much time as wrong passwords, and
/// both get the same answer, so the response does not tell which accounts exist.
pub async fn login(state: &AppState, login: &str, password: Password, client: &ClientInfo) -> Result<Tokens, ApiError> {
    let found = users::credentials(state.db.as_ref(), login).await?;
    let (user_id, hash, roles) = match found {
        Some((id, Some(hash), roles)) => (Some(id), hash, roles),
        _ => (None, dummy_hash(state).await?, Vec::new()),
    };
    let valid = state.passwords.verify(password.into(), hash).await;
    let (Some(user_id), true) = (user_id, valid) else {
        tracing::info!(known_user = user_id.is_some(), "failed sign-in");
        return Err(ApiError::unauthorized("Wrong login or password."));
    };
    let (batch, tokens) = new_session(state, user_id, roles, client, state.clock.now())?;
    state.db.batch(batch).await?;
    tracing::info!(%user_id, "signed in");
    Ok(tokens)
}

/// A hash with the configured cost, to verify against when the user does not exist.
async fn dummy_hash(state: &AppState) -> Result<String, ApiError> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash.clone());
    }
    let hash = state.passwords.hash(random_token("")).await.map_err(ApiError::internal)?;
    Ok(DUMMY.get_or_init(|| hash).clone())
}
