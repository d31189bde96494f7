//! The black-box harness: one suite, any host.
//!
//! By default each test starts the native host in-process on a free port with a fresh
//! database of its own: an embedded file, or with `TUI_TEST_DATABASE=hrana` a remote database
//! behind a Hrana server of its own (the way the native host reaches Turso). With
//! `TUI_TEST_BASE_URL` set (the test command does this for `wrangler dev`), the same tests run
//! against that server instead; they then share its database, so every test makes its own
//! uniquely named users and projects.

pub mod bench;
pub mod claude;
pub mod hrana;
pub mod mail;
pub mod oidc;
pub mod realtime;
pub mod sink;

use std::time::Duration;

use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use tui_shared::{auth::tokens::SigningKeys, time::Timestamp};
use uuid::Uuid;

/// The signing secret the test hosts are configured with, so that tests can forge and expire
/// tokens the way an attacker or a clock would.
pub const TEST_JWT_SECRET: &str = "black-box-test-secret-0123456789abcdef";

/// The secret of the workflow tick endpoint on the hosts under test.
pub const TEST_TICK_SECRET: &str = "tick-secret-for-the-black-box-tests-0123";

/// What every native host under test is configured with.
const BASE_SETTINGS: &[(&str, &str)] = &[
    ("JWT_SECRET", TEST_JWT_SECRET),
    // Cheap hashing in tests only; production uses the configured default.
    ("ARGON2_MEMORY_KIB", "64"),
    ("ARGON2_ITERATIONS", "1"),
    // Workflow steps may call the tests' own services on loopback, and a killed worker's job
    // is taken over within seconds.
    ("WORKFLOWS_HTTP_PRIVATE", "127.0.0.1/32"),
    ("WORKFLOWS_TICK_SECRET", TEST_TICK_SECRET),
    ("WORKFLOWS_LEASE_S", "3"),
    // Claude is the fake (`claude`); its attempts are cut off and retried within seconds.
    ("ANTHROPIC_API_KEY", claude::KEY),
    ("CLAUDE_TIMEOUT_S", "2"),
    ("CLAUDE_RETRY_BASE_MS", "200"),
    ("CLAUDE_RETRY_MAX_S", "2"),
    ("SWARMS_STEP_TIMEOUT_S", "30"),
];

/// The token the test Hrana servers accept.
pub const HRANA_TOKEN: &str = "hrana-test-token";

/// The bootstrap admin's email: its account becomes admin once the email is verified (the hosts under
/// test are configured so).
pub const ADMIN_EMAIL: &str = "admin@bootstrap.test";

/// A host under test.
pub struct Server {
    pub base: String,
    http: reqwest::Client,
    /// The issuer URL of the fake identity provider the host is configured with (`fake`).
    pub oidc_issuer: Option<String>,
    /// Mail the host sent; `None` against a host whose mail this suite cannot see.
    pub mail: Option<mail::Sink>,
    /// The fake Messages API the host calls as Claude.
    pub claude: Option<String>,
    /// The Hrana server the native host's database is behind, when it is remote.
    pub hrana: Option<hrana::HranaServer>,
    /// Keeps the native host's database directory alive as long as the test.
    _data: Option<tempfile::TempDir>,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json error with this status and code, and returns it for more checks.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Self {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "{}", self.body);
        assert_eq!(self.body["code"], code, "{}", self.body);
        assert_eq!(self.body["status"], status);
        assert!(self.body["request_id"].is_string(), "no request_id in {}", self.body);
        self
    }

    /// The field named by the first field error.
    pub fn field(&self) -> &str {
        self.body["errors"][0]["field"].as_str().unwrap_or_default()
    }

    /// The value of a cookie this response sets, as `name=value` for a `Cookie` header.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|pair| pair.split_once('=').is_some_and(|(key, value)| key == name && !value.is_empty()))
            .map(str::to_owned)
    }
}

/// A registered user with a live access token.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub username: String,
    pub password: String,
    pub token: String,
    pub refresh_token: String,
}

pub const PASSWORD: &str = "violet-staple-orbit-42";

impl Server {
    /// A host with the test settings; per-address rate limits are lifted, because every test
    /// comes from the same address.
    pub async fn start() -> Self {
        Self::start_with(&[
            ("RATE_LIMIT_LOGIN_PER_MINUTE_PER_IP", "1000000"),
            ("RATE_LIMIT_REGISTER_PER_HOUR_PER_IP", "1000000"),
            ("RATE_LIMIT_RESET_PER_HOUR_PER_IP", "1000000"),
            ("RATE_LIMIT_STARTS_PER_MINUTE_PER_IP", "1000000"),
        ])
        .await
    }

    /// A native host with the test settings plus `extra`; against another host (which has
    /// the settings it was started with) `None`.
    pub async fn native_with(extra: &[(&str, &str)]) -> Option<Self> {
        if std::env::var("TUI_TEST_BASE_URL").is_ok() {
            return None;
        }
        Some(Self::start_with(extra).await)
    }

    async fn start_with(extra: &[(&str, &str)]) -> Self {
        let hrana = match std::env::var("TUI_TEST_DATABASE").as_deref() {
            Ok("hrana") => Some(hrana::HranaServer::start(HRANA_TOKEN).await),
            _ => None,
        };
        Self::start_on(extra, hrana).await
    }

    /// A native host whose database is behind `hrana`; against another host `None`.
    pub async fn native_over(hrana: hrana::HranaServer, extra: &[(&str, &str)]) -> Option<Self> {
        if std::env::var("TUI_TEST_BASE_URL").is_ok() {
            return None;
        }
        Some(Self::start_on(extra, Some(hrana)).await)
    }

    async fn start_on(extra: &[(&str, &str)], hrana: Option<hrana::HranaServer>) -> Self {
        // Redirects are not followed: the single sign-on tests follow them step by step.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        if let Ok(base) = std::env::var("TUI_TEST_BASE_URL") {
            let oidc_issuer = std::env::var("TUI_TEST_OIDC_ISSUER").ok();
            let claude = std::env::var("TUI_TEST_CLAUDE_URL").ok();
            let base = base.trim_end_matches('/').to_owned();
            return Self { base, http, oidc_issuer, mail: mail::Sink::external(), claude, hrana: None, _data: None };
        }
        let data = tempfile::tempdir().expect("a temporary directory");
        let sink = mail::Sink::start().await;
        let issuer = oidc::start(0).await;
        let claude = claude::start(0).await;
        let options = tui_host::Options {
            listen: "127.0.0.1:0".parse().expect("an address"),
            database: hrana.as_ref().map_or_else(|| data.path().join("tui.db").display().to_string(), |h| h.url.clone()),
            database_token: hrana.as_ref().map(|_| HRANA_TOKEN.to_owned()),
            data_dir: data.path().to_owned(),
            pool_size: 4,
            settings: BASE_SETTINGS
                .iter()
                .chain(&[
                    ("BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL),
                    ("MAIL_API_URL", &sink.url),
                    ("MAIL_API_KEY", mail::KEY),
                    ("OIDC_PROVIDERS", "fake"),
                    ("OIDC_FAKE_ISSUER", &issuer),
                    ("OIDC_FAKE_CLIENT_ID", oidc::CLIENT_ID),
                    ("OIDC_FAKE_CLIENT_SECRET", oidc::CLIENT_SECRET),
                    ("OIDC_FAKE_TRUST_EMAIL", "true"),
                    ("ANTHROPIC_BASE_URL", &claude),
                ])
                .chain(extra)
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        let running = tui_host::start(&options).await.expect("the native host starts");
        Self {
            base: format!("http://{}", running.addr),
            http,
            oidc_issuer: Some(issuer),
            mail: Some(sink),
            claude: Some(claude),
            hrana,
            _data: Some(data),
        }
    }

    /// A host that is already running at `base` (its mail and identity provider unseen).
    pub fn at(base: &str) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("a client");
        Self { base: base.to_owned(), http, oidc_issuer: None, mail: None, claude: None, hrana: None, _data: None }
    }

    /// Whether this suite runs against a native host it started itself.
    pub fn is_native() -> bool {
        std::env::var("TUI_TEST_BASE_URL").is_err()
    }

    /// The embedded database file of a native host on its own file; `None` for any other.
    pub fn database_path(&self) -> Option<std::path::PathBuf> {
        if self.hrana.is_some() {
            return None;
        }
        self._data.as_ref().map(|data| data.path().join("tui.db"))
    }

    pub async fn raw(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Option<Vec<u8>>) -> Reply {
        self.try_raw(method, path, headers, body).await.expect("the server answers")
    }

    /// [`Server::raw`], with a connection that ended before its answer as an error.
    pub async fn try_raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Reply, reqwest::Error> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Ok(Reply { status, headers, body })
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![];
        if let Some(auth) = &auth {
            headers.push(("authorization", auth.as_str()));
        }
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        self.raw(method, path, &headers, body.map(|b| serde_json::to_vec(&b).expect("json"))).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Registers a new user with a unique name.
    pub async fn user(&self) -> User {
        let username = format!("u{}", &Uuid::now_v7().simple().to_string()[16..]);
        let email = format!("{username}@example.com");
        let reply = self.post("/v1/auth/register", None, json!({"email": email, "username": username, "password": PASSWORD})).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        User {
            id: reply.body["user"]["id"].as_str().expect("an id").to_owned(),
            email,
            username,
            password: PASSWORD.to_owned(),
            token: reply.body["access_token"].as_str().expect("a token").to_owned(),
            refresh_token: reply.body["refresh_token"].as_str().expect("a refresh token").to_owned(),
        }
    }

    /// Signs in as `login`, returning the token pair.
    pub async fn login(&self, login: &str, password: &str) -> Reply {
        self.post("/v1/auth/login", None, json!({"login": login, "password": password})).await
    }

    /// The newest token with `prefix` mailed to `to`; panics against a host whose mail this
    /// suite cannot see.
    pub fn mailed_token(&self, to: &str, prefix: &str) -> String {
        let sink = self.mail.as_ref().expect("this host's mail is visible to the suite");
        sink.to(to)
            .iter()
            .rev()
            .filter_map(|mail| mail["text"].as_str())
            .find_map(|text| text.split_whitespace().find(|word| word.starts_with(prefix)).map(str::to_owned))
            .unwrap_or_else(|| panic!("no mail to {to} carries a {prefix} token"))
    }

    /// Uses the newest email link mailed to `to` (verification or change).
    pub async fn confirm_email(&self, to: &str) -> Reply {
        let token = self.mailed_token(to, "tui_ev_");
        self.post("/v1/auth/verify-email/confirm", None, json!({"token": token})).await
    }

    /// The admin: registered with the bootstrap email the first time (which becomes admin once
    /// its email is verified), signed in after that (a wrangler dev database is shared by every
    /// test).
    pub async fn admin(&self) -> User {
        let body = json!({"email": ADMIN_EMAIL, "username": "bootstrap-admin", "password": PASSWORD});
        let reply = self.post("/v1/auth/register", None, body).await;
        let reply = if reply.status == StatusCode::CONFLICT {
            self.login(ADMIN_EMAIL, PASSWORD).await
        } else {
            assert!(reply.status.is_success(), "{}", reply.body);
            assert_eq!(reply.body["user"]["roles"], json!(["member"]), "not an admin before the email is verified");
            let confirmed = self.confirm_email(ADMIN_EMAIL).await;
            assert_eq!(confirmed.status, StatusCode::NO_CONTENT, "{}", confirmed.body);
            reply
        };
        assert!(reply.status.is_success(), "{}", reply.body);
        let token = reply.body["access_token"].as_str().expect("a token").to_owned();
        let mut me = self.get("/v1/auth/me", Some(&token)).await;
        // Against a shared database another test may have registered the admin a moment ago
        // and not yet verified its email.
        for _ in 0..50 {
            if me.body["roles"] == json!(["admin", "member"]) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            me = self.get("/v1/auth/me", Some(&token)).await;
        }
        assert_eq!(me.body["roles"], json!(["admin", "member"]), "the bootstrap email makes an admin");
        User {
            id: me.body["id"].as_str().expect("an id").to_owned(),
            email: ADMIN_EMAIL.to_owned(),
            username: "bootstrap-admin".to_owned(),
            password: PASSWORD.to_owned(),
            token,
            refresh_token: reply.body["refresh_token"].as_str().expect("a refresh token").to_owned(),
        }
    }

    /// Creates a project owned by `owner` and returns its id.
    pub async fn project(&self, owner: &User, name: &str) -> String {
        let reply = self.post("/v1/projects", Some(&owner.token), json!({"name": name})).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["id"].as_str().expect("an id").to_owned()
    }

    /// Makes `user` a member of `project` with `role`, as `by`.
    pub async fn add_member(&self, by: &User, project: &str, user: &User, role: &str) {
        let reply = self
            .call(Method::PUT, &format!("/v1/projects/{project}/members/{}", user.id), Some(&by.token), Some(json!({"role": role})))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
}

/// An access token for `user_id` in session `session_id` (the `sid` of a real token, say),
/// signed with `secret`, issued at `issued` for `ttl`.
pub fn forge_token(secret: &str, user_id: &str, session_id: Uuid, issued: Timestamp, ttl: Duration) -> String {
    let keys = SigningKeys::new(secret, &[]).expect("a long secret");
    let grant = tui_shared::auth::tokens::AccessGrant {
        user_id: user_id.parse().expect("a uuid"),
        session_id,
        roles: vec![tui_shared::domain::Role::Admin],
    };
    keys.issue(&grant, issued, ttl).expect("a token")
}

/// The session id (`sid`) an access token names, read without checking it.
pub fn session_of(token: &str) -> Uuid {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json");
    claims["sid"].as_str().expect("a sid").parse().expect("a uuid")
}

/// A native host in a process of its own, for tests that kill it: this very test binary, run
/// again with only the test named `entry` selected, which serves through [`serve_as_child`].
pub struct HostProcess {
    child: std::process::Child,
    pub server: Server,
}

const CHILD_DATABASE: &str = "TUI_TEST_CHILD_DATABASE";
const CHILD_LISTEN: &str = "TUI_TEST_CHILD_LISTEN";
const CHILD_CLAUDE: &str = "TUI_TEST_CHILD_CLAUDE";

impl HostProcess {
    /// Starts a host on `listen` over the embedded database at `database`, and waits until it
    /// answers.
    /// Its Claude is the fake at `claude`, if given.
    pub async fn start(entry: &str, database: &std::path::Path, listen: std::net::SocketAddr, claude: Option<&str>) -> Self {
        let child = std::process::Command::new(std::env::current_exe().expect("the test binary"))
            .args(["--exact", entry, "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_DATABASE, database)
            .env(CHILD_LISTEN, listen.to_string())
            .env(CHILD_CLAUDE, claude.unwrap_or_default())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("the test binary starts again");
        // Owned at once, so that the child is killed and reaped whatever happens next.
        let host = Self { child, server: Server::at(&format!("http://{listen}")) };
        for _ in 0..200 {
            if let Ok(response) = host.server.http.get(format!("{}/v1/health", host.server.base)).send().await
                && response.status().is_success()
            {
                return host;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the host process did not start on {listen}");
    }

    /// Kills the host with SIGKILL: no shutdown, no flush, as a crash or the OOM killer would.
    pub fn kill(self) {
        drop(self);
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of the test that [`HostProcess`] runs: serves until killed when it is run as a
/// child, and returns at once when the suite runs it itself.
pub async fn serve_as_child() {
    let (Ok(database), Ok(listen)) = (std::env::var(CHILD_DATABASE), std::env::var(CHILD_LISTEN)) else { return };
    let database = std::path::PathBuf::from(database);
    let claude = std::env::var(CHILD_CLAUDE).unwrap_or_default();
    let options = tui_host::Options {
        listen: listen.parse().expect("an address"),
        database: database.display().to_string(),
        database_token: None,
        data_dir: database.parent().expect("a directory").to_owned(),
        pool_size: 4,
        settings: BASE_SETTINGS
            .iter()
            .chain(&[
                ("RATE_LIMIT_REGISTER_PER_HOUR_PER_IP", "1000000"),
                ("RATE_LIMIT_LOGIN_PER_MINUTE_PER_IP", "1000000"),
                ("ANTHROPIC_BASE_URL", claude.as_str()),
            ])
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    let running = tui_host::start(&options).await.expect("the host starts");
    let _ = running.task.await;
}
