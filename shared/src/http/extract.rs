//! Extractors that turn a request into what a handler needs, failing in the contract's shape.

use axum::extract::{FromRequestParts, Path};
use http::{Method, header, request::Parts};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::{
    ApiError, AppState, ErrorCode,
    auth::tokens::{AccessGrant, sha256_hex},
    domain::Role,
    repo::{
        api_keys::{self, Scope},
        decode_cursor,
        sessions::{self, ClientInfo},
    },
    time::Timestamp,
};

/// Personal API keys start with this, so they are told apart from JWTs without parsing.
pub const API_KEY_PREFIX: &str = "tui_pat_";

/// The signed-in caller: an access token's bearer, or a personal API key's. A missing,
/// malformed, expired, revoked or forged credential is a 401; there is no "maybe signed in"
/// extractor because silently treating a bad token as anonymous would hide the client's mistake.
///
/// An access token is only as good as its session: the signature is checked first (no database
/// for a forgery), then one point read finds the session live and the user's current roles, so
/// that a sign-out, a revocation or a password change ends the token at once.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: Uuid,
    /// The session of an access token; `None` for an API key.
    pub session_id: Option<Uuid>,
    /// The user's roles now, read with the credential.
    pub roles: Vec<Role>,
    /// When the session's user last proved who they are (its sign-in); `None` for an API key.
    pub signed_in_at: Option<Timestamp>,
}

impl AuthUser {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The caller's session; managing sessions, passwords, emails and keys needs one, not an API key.
    pub fn session(&self) -> Result<Uuid, ApiError> {
        self.session_id.ok_or_else(|| ApiError::forbidden("This needs a signed-in session, not an API key."))
    }

    /// Whether the session signed in within `window` of `now` (sudo mode: minting an API key,
    /// changing the email).
    pub fn signed_in_recently(&self, now: Timestamp, window: std::time::Duration) -> bool {
        self.signed_in_at.is_some_and(|at| now - at < window)
    }
}

/// The bearer token of a request, or the 401 for its absence or scheme.
fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("Send an access token as 'Authorization: Bearer <token>'."))?;
    header
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| ApiError::unauthorized("The Authorization header must use the Bearer scheme."))
}

/// The 401 for a well-signed access token whose session has ended.
pub fn session_revoked() -> ApiError {
    ApiError::new(ErrorCode::SessionRevoked, "This session has ended; sign in again.")
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Bearer::from_request_parts(parts, state).await? {
            Bearer::Key(caller) => Ok(caller),
            Bearer::Token(SessionGrant { user_id, session_id }) => {
                let now = crate::time::format(state.clock.now());
                let live = sessions::live(state.db.as_ref(), session_id, user_id, &now).await?.ok_or_else(session_revoked)?;
                Ok(Self { id: user_id, session_id: Some(session_id), roles: live.roles, signed_in_at: Some(live.signed_in_at) })
            }
        }
    }
}

/// A caller whose credential is checked but for one thing: an access token's session is still
/// to be found live. For the hottest reads only, which fold that check into the one statement
/// they make anyway (and answer [`session_revoked`] when it fails); every other route takes
/// [`AuthUser`], which checks the session itself.
pub enum Bearer {
    /// A well-signed, unexpired access token.
    Token(SessionGrant),
    /// A personal API key, checked whole.
    Key(AuthUser),
}

/// Whom an access token names, before its session is found live. Its ids are read only through
/// [`SessionGrant::unchecked`], by a statement that joins [`sessions::live_join`], so that no
/// handler takes it for a checked caller by accident.
pub struct SessionGrant {
    user_id: Uuid,
    session_id: Uuid,
}

impl SessionGrant {
    /// The user and the session, not yet found live: bind them to a statement that checks the
    /// session in its own SQL ([`sessions::live_join`]) and answers [`session_revoked`] when not.
    pub fn unchecked(&self) -> (Uuid, Uuid) {
        (self.user_id, self.session_id)
    }
}

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts)?;
        if token.starts_with(API_KEY_PREFIX) {
            return api_key(parts, state, token).await.map(Self::Key);
        }
        let AccessGrant { user_id, session_id, .. } = state
            .config
            .keys
            .verify(token, state.clock.now())
            .ok_or_else(|| ApiError::unauthorized("The access token is invalid or has expired."))?;
        Ok(Self::Token(SessionGrant { user_id, session_id }))
    }
}

async fn api_key(parts: &Parts, state: &AppState, key: &str) -> Result<AuthUser, ApiError> {
    let now = crate::time::format(state.clock.now());
    let (_, user_id, scopes, roles) = api_keys::authenticate(state.db.as_ref(), &sha256_hex(key.as_bytes()), &now)
        .await?
        .ok_or_else(|| ApiError::unauthorized("The API key is invalid, revoked or expired."))?;
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && !scopes.contains(&Scope::Write) {
        return Err(ApiError::forbidden("This API key is read-only: it lacks the write scope."));
    }
    Ok(AuthUser { id: user_id, session_id: None, roles, signed_in_at: None })
}

/// The account and live session the request's access token belongs to, if it carries one: on
/// sign-in, a device already signed in to the account is not locked out of it by strangers'
/// guesses. Never a rejection: a bad token here only means "no known device".
pub struct KnownDevice(pub Option<(Uuid, Uuid)>);

impl FromRequestParts<AppState> for KnownDevice {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(Self(None));
        }
        let caller = AuthUser::from_request_parts(parts, state).await.ok();
        Ok(Self(caller.and_then(|c| c.session_id.map(|session| (c.id, session)))))
    }
}

/// A site-wide role an extractor can demand.
pub trait RoleMarker {
    const ROLES: &'static [Role];
}

/// Admins only.
pub struct AdminRole;
impl RoleMarker for AdminRole {
    const ROLES: &'static [Role] = &[Role::Admin];
}

/// The caller, if they hold one of `R`'s roles now (read with the credential, not taken from
/// the token, so that a revoked role stops working at once): 403 otherwise.
pub struct RequireRole<R: RoleMarker>(pub AuthUser, std::marker::PhantomData<R>);

pub type Admin = RequireRole<AdminRole>;

impl<R: RoleMarker + Send + Sync> FromRequestParts<AppState> for RequireRole<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = AuthUser::from_request_parts(parts, state).await?;
        if !R::ROLES.iter().any(|role| caller.has_role(*role)) {
            return Err(ApiError::forbidden("Your role does not allow this."));
        }
        Ok(Self(caller, std::marker::PhantomData))
    }
}

/// The client's address, put into the request extensions by each host (the socket natively,
/// `cf-connecting-ip` on Workers, `spin-client-addr` on Spin).
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let user_agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|v| v.chars().take(256).collect());
        let ip = parts.extensions.get::<ClientAddr>().map(|a| a.0.clone());
        let request_id = parts.extensions.get::<super::middleware::RequestId>().map(|r| r.0.clone());
        Ok(ClientInfo { user_agent, ip, request_id })
    }
}

/// The base URL of this service for links that leave it (mail, OAuth redirects, the device
/// page): `PUBLIC_URL`, never the request's `Host` header, which a client chooses and which
/// would otherwise decide where a mailed token leads.
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(state.config.public_url.clone()))
    }
}

/// Path parameters; one that does not parse (an id that is not a UUID) names nothing that
/// exists, so it is a 404.
pub struct Ids<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Ids<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state).await.map(|Path(ids)| Ids(ids)).map_err(|_| ApiError::not_found())
    }
}

/// Query parameters, with unknown or malformed ones as 422 field errors.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        axum::extract::Query::<T>::try_from_uri(&parts.uri).map(|q| Query(q.0)).map_err(|rejection| {
            let text = rejection.body_text();
            let field = ["unknown field `", "missing field `"]
                .iter()
                .find_map(|p| text.split(p).nth(1))
                .and_then(|rest| rest.split('`').next())
                .or_else(|| text.split(": ").nth(1).and_then(|t| t.split(':').next()))
                .unwrap_or("query")
                .to_owned();
            tracing::debug!(%query, %text, "rejected query");
            ApiError::field(field, text.rsplit(": ").next().unwrap_or("is invalid").to_owned())
        })
    }
}

/// `limit` (1..100, default 20) and `cursor`, as every list takes them. Each list's query
/// struct carries the two fields itself: `flatten` does not work with `deny_unknown_fields`.
#[derive(Debug)]
pub struct PageParams {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            None => Ok(20),
            Some(limit @ 1..=100) => Ok(limit as usize),
            Some(_) => Err(ApiError::field("limit", "must be between 1 and 100")),
        }
    }

    pub fn after(&self) -> Result<Option<Uuid>, ApiError> {
        self.cursor.as_deref().map(decode_cursor).transpose()
    }
}

/// `If-Match`, as the precondition it states. Anything that is not shaped like one of our
/// ETags, an empty value included, is a 422 at once: a precondition the service cannot read is
/// never dropped.
pub struct IfMatch(Precondition);

enum Precondition {
    /// No header, or `*`: anything matches.
    Any,
    Version(i64),
    /// A weak ETag: If-Match compares strongly, so it never matches.
    Never,
}

impl IfMatch {
    /// The version the change is meant for (`None`: any), or the 412 of a weak ETag; asked for
    /// after the body is read, so that a bad body is a 422 whatever the header says.
    pub fn version(self) -> Result<Option<i64>, ApiError> {
        match self.0 {
            Precondition::Any => Ok(None),
            Precondition::Version(version) => Ok(Some(version)),
            Precondition::Never => {
                Err(ApiError::new(ErrorCode::PreconditionFailed, "A weak ETag never matches If-Match; send the ETag as given."))
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else {
            return Ok(IfMatch(Precondition::Any));
        };
        let malformed = || ApiError::field("If-Match", "must be an ETag this service gave, such as \"3\", or *");
        let value = value.to_str().map_err(|_| malformed())?.trim();
        if value == "*" {
            return Ok(IfMatch(Precondition::Any));
        }
        let (weak, tag) = match value.strip_prefix("W/") {
            Some(tag) => (true, tag),
            None => (false, value),
        };
        let version: i64 = tag.strip_prefix('"').and_then(|v| v.strip_suffix('"')).and_then(|v| v.parse().ok()).ok_or_else(malformed)?;
        Ok(IfMatch(if weak { Precondition::Never } else { Precondition::Version(version) }))
    }
}

/// The ETag of a versioned resource.
pub fn etag(version: i64) -> (http::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}
