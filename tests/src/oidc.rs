//! A fake OpenID Connect provider: discovery, an authorization endpoint that signs in the
//! person its `login_hint` names (no login form), a token endpoint that checks the client, the
//! redirect URI and the PKCE verifier, RS256 ID tokens, and a JWKS. `POST /test/person` says
//! who signs in as a login hint (tests run concurrently against one provider), and can ask for
//! an ID token signed with a rogue key.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Form, Json, Router,
    extract::{Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jwt_simple::prelude::*;
use serde_json::{Value, json};
use sha2::Digest;

pub const CLIENT_ID: &str = "claude-tui-test";
pub const CLIENT_SECRET: &str = "fake-provider-client-secret";
const KEY_ID: &str = "fake-key-1";

/// Who the provider signs in when the login hint is `hint`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Person {
    pub hint: String,
    pub subject: String,
    pub email: String,
    pub email_verified: bool,
    /// Sign the ID token with a key that is not in the JWKS.
    #[serde(default)]
    pub rogue: bool,
}

struct Grant {
    person: Person,
    nonce: String,
    challenge: String,
    redirect_uri: String,
}

struct Provider {
    issuer: String,
    key: RS256KeyPair,
    rogue: RS256KeyPair,
    people: Mutex<HashMap<String, Person>>,
    grants: Mutex<HashMap<String, Grant>>,
}

/// Starts the provider on `port` (0 for any) and returns its issuer URL.
pub async fn start(port: u16) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("a port");
    let issuer = format!("http://{}", listener.local_addr().expect("an address"));
    let fixture = |name: &str| {
        let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let pem = std::fs::read_to_string(&path).expect("the test key");
        RS256KeyPair::from_pem(&pem).expect("an RSA key").with_key_id(KEY_ID)
    };
    let provider = Arc::new(Provider {
        issuer: issuer.clone(),
        key: fixture("oidc-provider-key.pem"),
        rogue: fixture("oidc-rogue-key.pem"),
        people: Mutex::new(HashMap::new()),
        grants: Mutex::new(HashMap::new()),
    });
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/jwks", get(jwks))
        .route("/test/person", post(next_person))
        .with_state(provider);
    tokio::spawn(async move { axum::serve(listener, app).await });
    issuer
}

async fn discovery(State(p): State<Arc<Provider>>) -> Json<Value> {
    Json(json!({
        "issuer": p.issuer,
        "authorization_endpoint": format!("{}/authorize", p.issuer),
        "token_endpoint": format!("{}/token", p.issuer),
        "jwks_uri": format!("{}/jwks", p.issuer),
        "response_types_supported": ["code"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn next_person(State(p): State<Arc<Provider>>, Json(person): Json<Person>) -> StatusCode {
    p.people.lock().expect("not poisoned").insert(person.hint.clone(), person);
    StatusCode::NO_CONTENT
}

async fn authorize(State(p): State<Arc<Provider>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let field = |name: &str| q.get(name).cloned().unwrap_or_default();
    let complete = q.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && field("response_type") == "code"
        && field("code_challenge_method") == "S256"
        && !field("code_challenge").is_empty()
        && !field("nonce").is_empty()
        && field("scope").split(' ').any(|s| s == "openid");
    let person = p.people.lock().expect("not poisoned").remove(&field("login_hint"));
    let Some(person) = person.filter(|_| complete) else {
        return (StatusCode::BAD_REQUEST, "incomplete authorization request, or nobody to sign in").into_response();
    };
    let code = uuid::Uuid::now_v7().simple().to_string();
    let grant = Grant { person, nonce: field("nonce"), challenge: field("code_challenge"), redirect_uri: field("redirect_uri") };
    p.grants.lock().expect("not poisoned").insert(code.clone(), grant);
    let separator = if field("redirect_uri").contains('?') { '&' } else { '?' };
    let location = format!("{}{separator}code={code}&state={}", field("redirect_uri"), field("state"));
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

async fn token(State(p): State<Arc<Provider>>, Form(form): Form<HashMap<String, String>>) -> Response {
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let refuse = |why: &str| (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant", "error_description": why}))).into_response();
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"}))).into_response();
    }
    let Some(grant) = p.grants.lock().expect("not poisoned").remove(&field("code")) else { return refuse("unknown or used code") };
    if grant.redirect_uri != field("redirect_uri") {
        return refuse("redirect_uri differs");
    }
    if URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(field("code_verifier").as_bytes())) != grant.challenge {
        return refuse("PKCE verifier does not match");
    }
    let claims = Claims::with_custom_claims(
        json!({"email": grant.person.email, "email_verified": grant.person.email_verified}),
        jwt_simple::prelude::Duration::from_mins(5),
    )
    .with_issuer(&p.issuer)
    .with_audience(CLIENT_ID)
    .with_subject(&grant.person.subject)
    .with_nonce(&grant.nonce);
    let key = if grant.person.rogue { &p.rogue } else { &p.key };
    let id_token = key.sign(claims).expect("signing");
    Json(json!({"access_token": "opaque", "token_type": "Bearer", "expires_in": 300, "id_token": id_token})).into_response()
}

async fn jwks(State(p): State<Arc<Provider>>) -> Json<Value> {
    let components = p.key.public_key().to_components();
    Json(json!({"keys": [{
        "kty": "RSA", "alg": "RS256", "use": "sig", "kid": KEY_ID,
        "n": URL_SAFE_NO_PAD.encode(components.n), "e": URL_SAFE_NO_PAD.encode(components.e),
    }]}))
}
