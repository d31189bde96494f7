//! Single sign-on with OpenID Connect: authorization code flow with PKCE (S256), `state` and
//! `nonce` checked, the ID token verified against the provider's JWKS (RS256). A provider
//! identity signs in the user it is linked to, else the user with the same verified email
//! (and is linked), else a new account. A sign-in started from the device page finishes that
//! device login instead of returning tokens.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bytes::Bytes;
use jwt_simple::prelude::*;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use uuid::Uuid;

use tui_shared::{
    ApiError, AppState,
    auth::tokens::{random_token, sha256_hex},
    domain::{Email, Role},
    repo::{audit::Event, sessions::ClientInfo, users},
    stmt, time,
};

use crate::config::{AuthConfig, OidcProvider};
use crate::service::{
    accounts::{self, Tokens},
    device,
};

const STATE_TTL: Duration = Duration::from_secs(600);

/// How a finished sign-in ends.
pub enum Outcome {
    Tokens(Tokens),
    /// The device login it was started for waits for this browser's confirmation; the secret
    /// goes into the cookie that confirmation must carry.
    ConfirmDevice {
        request: device::Request,
        browser_secret: String,
    },
}

/// A sign-in under way: where to send the browser, and the secret for its binding cookie.
pub struct Started {
    pub location: String,
    pub browser_secret: String,
}

fn provider(state: &AppState, name: &str) -> Result<OidcProvider, ApiError> {
    state.section::<AuthConfig>()?.oidc.iter().find(|p| p.name == name).cloned().ok_or_else(ApiError::not_found)
}

fn upstream(detail: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable(format!("identity provider: {detail}"))
}

async fn get_json(state: &AppState, url: &str) -> Result<Value, ApiError> {
    let request = http::Request::get(url).body(Bytes::new()).map_err(upstream)?;
    let response = state.outbound.send(request).await.map_err(upstream)?;
    if !response.status().is_success() {
        return Err(upstream(format!("{url} answered {}", response.status())));
    }
    serde_json::from_slice(response.body()).map_err(upstream)
}

/// The provider's endpoints, from its discovery document; its issuer must be the configured one.
async fn discover(state: &AppState, provider: &OidcProvider) -> Result<Value, ApiError> {
    let document = get_json(state, &format!("{}/.well-known/openid-configuration", provider.issuer)).await?;
    if document["issuer"].as_str().map(|i| i.trim_end_matches('/')) != Some(provider.issuer.as_str()) {
        return Err(upstream("the discovery document names another issuer"));
    }
    Ok(document)
}

fn endpoint<'a>(document: &'a Value, name: &str) -> Result<&'a str, ApiError> {
    document[name].as_str().ok_or_else(|| upstream(format!("the discovery document has no {name}")))
}

/// What a query value keeps as it is: RFC 3986's unreserved characters. (A space is `%20`, which
/// both a query and a form body read as a space.)
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

fn query(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, UNRESERVED))).collect::<Vec<_>>().join("&")
}

/// Starts a sign-in: where to send the browser.
/// `login_hint` (an email, say) is passed on for the provider to pre-fill.
pub async fn start(
    state: &AppState,
    name: &str,
    base_url: &str,
    device_user_code: Option<&str>,
    login_hint: Option<&str>,
) -> Result<Started, ApiError> {
    let provider = &provider(state, name)?;
    let device_user_code = device_user_code
        .map(|code| device::normalize_user_code(code).ok_or_else(|| ApiError::field("device_user_code", "is not a user code")))
        .transpose()?;
    let document = discover(state, provider).await?;
    let authorize = endpoint(&document, "authorization_endpoint")?;
    let (csrf_state, nonce, verifier, browser_secret) = (random_token(""), random_token(""), random_token(""), random_token(""));
    let challenge = URL_SAFE_NO_PAD.encode(<sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()));
    let redirect_uri = format!("{base_url}/v1/auth/oauth/{name}/callback");
    let now = state.clock.now();
    state
        .db
        .execute(stmt!(
            "INSERT INTO oauth_states (state_hash, provider, nonce, code_verifier, redirect_uri, device_user_code, created_at, expires_at, \
             browser_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            sha256_hex(csrf_state.as_bytes()),
            name,
            nonce.as_str(),
            verifier.as_str(),
            redirect_uri.as_str(),
            device_user_code,
            time::format(now),
            time::format(now + STATE_TTL),
            sha256_hex(browser_secret.as_bytes()),
        ))
        .await?;
    let separator = if authorize.contains('?') { '&' } else { '?' };
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", provider.client_id.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("scope", "openid email profile"),
        ("state", csrf_state.as_str()),
        ("nonce", nonce.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if let Some(hint) = login_hint {
        params.push(("login_hint", hint));
    }
    Ok(Started { location: format!("{authorize}{separator}{}", query(&params)), browser_secret })
}

#[derive(Debug, Serialize, Deserialize)]
struct IdentityClaims {
    email: Option<String>,
    email_verified: Option<bool>,
}

/// The ID token's claims, once its signature (a key from the provider's JWKS), issuer,
/// audience, expiry and nonce check out.
async fn verify_id_token(
    state: &AppState,
    provider: &OidcProvider,
    document: &Value,
    id_token: &str,
    nonce: &str,
) -> Result<JWTClaims<IdentityClaims>, ApiError> {
    let refused = |why: &str| ApiError::unauthorized(format!("The identity provider's ID token was refused: {why}."));
    let metadata = Token::decode_metadata(id_token).map_err(|_| refused("malformed"))?;
    if metadata.algorithm() != "RS256" {
        return Err(refused("only RS256 is accepted"));
    }
    let jwks = get_json(state, endpoint(document, "jwks_uri")?).await?;
    let key = jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["kty"] == "RSA" && (metadata.key_id().is_none() || k["kid"].as_str() == metadata.key_id()))
        .ok_or_else(|| refused("no matching key in the provider's JWKS"))?;
    let component = |name: &str| key[name].as_str().and_then(|v| URL_SAFE_NO_PAD.decode(v.trim_end_matches('=')).ok());
    let (Some(n), Some(e)) = (component("n"), component("e")) else {
        return Err(refused("an unreadable key"));
    };
    let public = RS256PublicKey::from_components(&n, &e).map_err(|_| refused("an unusable key"))?;
    let options = VerificationOptions {
        artificial_time: Some(jwt_simple::prelude::Duration::from_secs(state.clock.now().unix_timestamp().max(0) as u64)),
        allowed_issuers: Some(HashSet::from_strings(&[&provider.issuer])),
        allowed_audiences: Some(HashSet::from_strings(&[&provider.client_id])),
        required_nonce: Some(nonce.to_owned()),
        ..Default::default()
    };
    public.verify_token::<IdentityClaims>(id_token, Some(options)).map_err(|e| refused(&e.to_string()))
}

/// A username for a new account: the email's local part, cleaned, and a random tail so that
/// it does not collide.
fn username_for(email: &str) -> String {
    let local: String = email.split('@').next().unwrap_or("user").chars().filter(|c| c.is_ascii_alphanumeric()).take(20).collect();
    let local = if local.is_empty() { "user".to_owned() } else { local };
    format!("{local}-{}", &random_token("").to_ascii_lowercase().replace(['-', '_'], "")[..6])
}

/// Finishes a sign-in at the callback, in the browser that started it (`browser_secret`, from
/// its cookie).
pub async fn callback(
    state: &AppState,
    name: &str,
    code: &str,
    csrf_state: &str,
    browser_secret: &str,
    client: &ClientInfo,
) -> Result<Outcome, ApiError> {
    let provider = &provider(state, name)?;
    let db = state.db.as_ref();
    let stamp = time::format(state.clock.now());
    // Spent as it is read: a state works once, and only in the browser that started it.
    let row = db
        .query_opt(stmt!(
            "DELETE FROM oauth_states WHERE state_hash = ?1 AND provider = ?2 AND expires_at > ?3 AND browser_hash = ?4 \
             RETURNING nonce, code_verifier, redirect_uri, device_user_code",
            sha256_hex(csrf_state.as_bytes()),
            name,
            stamp.as_str(),
            sha256_hex(browser_secret.as_bytes()),
        ))
        .await?
        .ok_or_else(|| ApiError::unauthorized("The sign-in expired, was already used, or was started in another browser; start again."))?;
    let (nonce, verifier, redirect_uri, device_user_code): (String, String, String, Option<String>) = row.decode()?;

    let document = discover(state, provider).await?;
    let form = query(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &redirect_uri),
        ("client_id", &provider.client_id),
        ("client_secret", &provider.client_secret),
        ("code_verifier", &verifier),
    ]);
    let request = http::Request::post(endpoint(&document, "token_endpoint")?)
        .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(http::header::ACCEPT, "application/json")
        .body(Bytes::from(form))
        .map_err(upstream)?;
    let response = state.outbound.send(request).await.map_err(upstream)?;
    if !response.status().is_success() {
        return Err(ApiError::unauthorized("The identity provider did not accept the sign-in."));
    }
    let tokens: Value = serde_json::from_slice(response.body()).map_err(upstream)?;
    let id_token = tokens["id_token"].as_str().ok_or_else(|| upstream("no id_token in the token response"))?;
    let claims = verify_id_token(state, provider, &document, id_token, &nonce).await?;
    let subject = claims.subject.clone().ok_or_else(|| ApiError::unauthorized("The ID token names no subject."))?;
    let user_id = match identity(db, name, &subject).await? {
        Some(user_id) => user_id,
        None => {
            let (Some(email), Some(true)) = (claims.custom.email.clone(), claims.custom.email_verified) else {
                return Err(ApiError::forbidden("The identity provider did not vouch for an email address."));
            };
            let email = Email::try_from(email).map_err(|e| ApiError::forbidden(format!("The provider's email {e}.")))?;
            link(state, provider, &subject, &email, client, &stamp).await?
        }
    };
    if let Some(user_code) = device_user_code {
        let browser_secret = random_token("");
        let request = device::await_confirmation(state, user_id, &user_code, &browser_secret).await?;
        return Ok(Outcome::ConfirmDevice { request, browser_secret });
    }
    let roles: Vec<Role> = users::current_roles(db, user_id).await?;
    let event = Event::new("login.sso", Some(user_id)).target(user_id).detail(serde_json::json!({"provider": name}));
    accounts::sign_in(state, user_id, roles, client, event, Vec::new()).await.map(Outcome::Tokens)
}

async fn identity(db: &dyn tui_shared::db::Database, provider: &str, subject: &str) -> Result<Option<Uuid>, ApiError> {
    let row = db.query_opt(stmt!("SELECT user_id FROM user_identities WHERE provider = ?1 AND subject = ?2", provider, subject)).await?;
    Ok(row.map(|r| r.decode().map(|(user,)| user)).transpose()?)
}

/// Links the identity to the account with this email, or to a new account. An existing account
/// is linked only when the provider is trusted for emails and the account's email is verified:
/// otherwise whoever controls an identity at a careless provider, or registered an address
/// they never proved, could take the account over.
async fn link(
    state: &AppState,
    provider: &OidcProvider,
    subject: &str,
    email: &Email,
    client: &ClientInfo,
    stamp: &str,
) -> Result<Uuid, ApiError> {
    let db = state.db.as_ref();
    // A link is "proven" when someone proved the email it was made by; an unproven one (an
    // untrusted provider's new account) is dropped once the mailbox's owner proves it, by a
    // reset or a verification link, so an identity asserted for someone else's address does
    // not outlive the owner taking the account back.
    let identity = |user_id: Uuid| {
        stmt!(
            "INSERT INTO user_identities (provider, subject, user_id, email, created_at, email_proven) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            provider.name.as_str(),
            subject,
            user_id,
            email.as_str(),
            stamp,
            provider.trust_email,
        )
    };
    let detail = serde_json::json!({"provider": provider.name});
    if let Some((user_id, verified)) = users::by_email(db, email.as_str()).await? {
        if !(provider.trust_email && verified) {
            return Err(ApiError::conflict(
                "An account with this email exists, and this provider cannot be linked to it by email. \
                 Sign in with your password instead.",
            ));
        }
        db.batch(vec![identity(user_id), Event::new("sso.linked", Some(user_id)).target(user_id).detail(detail).record(client, stamp)])
            .await?;
        return Ok(user_id);
    }
    let username = tui_shared::domain::Username::try_from(username_for(email.as_str())).map_err(ApiError::internal)?;
    let user_id = Uuid::now_v7();
    let mut batch = users::insert_without_password(user_id, email, &username, provider.trust_email, stamp);
    batch.push(identity(user_id));
    batch.push(Event::new("user.registered", Some(user_id)).target(user_id).detail(detail).record(client, stamp));
    batch.extend(accounts::bootstrap_admin(state, user_id, None, client, stamp)?);
    db.batch(batch).await.map_err(users::insert_conflict)?;
    Ok(user_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(query(&[("a", "b c"), ("redirect_uri", "http://x/y?z=1")]), "a=b%20c&redirect_uri=http%3A%2F%2Fx%2Fy%3Fz%3D1");
    }

    #[test]
    fn usernames_for_new_accounts_are_valid() {
        for email in ["ada.lovelace@example.com", "+++@example.com", "a@b.c"] {
            let name = username_for(email);
            assert!(tui_shared::domain::Username::try_from(name.clone()).is_ok(), "{name}");
        }
    }
}
