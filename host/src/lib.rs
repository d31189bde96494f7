//! The native host: every endpoint group in one axum server over libSQL, the embedded default.
//! The binary (`tui-server`) and the black-box tests start it through [`start`].

pub mod backup;
pub mod cli;

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use axum::{
    Router,
    extract::{ConnectInfo, Request},
    middleware::Next,
    response::Response,
};
use tokio::net::TcpListener;
use tui_realtime::{
    native::{Hub, LogUnreadable},
    service::RealtimeConfig,
};
use tui_shared::{
    ApiError, AppState,
    adapters::native::{self, BlockingPasswords, InProcessLimiter, Location, Reqwest},
    auth::{password::Argon2id, tokens::random_token},
    config::{Config, ConfigError, Lookup, Section},
    db::{Database, DbError, migrate},
    domain::Role,
    events::Retention,
    http::{client_ip::client_ip, extract::ClientAddr},
    ports::JobWaker,
    ports::SystemClock,
    repo::{audit::Event, sessions::ClientInfo, users},
    services::maintenance,
    state::{Platform, Services, Settings, StartError},
    time,
};
use tui_workflows::{WorkflowsConfig, native::PoolWaker};

/// How to run: where to listen, where the data lives.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    /// A file path (the embedded default), `:memory:`, or a `libsql://` / `https://` URL.
    pub database: String,
    pub database_token: Option<String>,
    /// Holds the generated signing secret when none is configured.
    pub data_dir: PathBuf,
    /// Connections in the database pool.
    pub pool_size: usize,
    /// Settings that take precedence over the environment (tests use these); of two with one
    /// name, the later wins.
    pub settings: Vec<(String, String)>,
}

/// Why the host could not start, or do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("PUBLIC_URL is not set: it must name where users reach this host, which listens on {0}")]
    NoPublicUrl(SocketAddr),
    /// The generated signing secret could not be kept in the data directory.
    #[error("cannot {action} {}: {source}", path.display())]
    Secret { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("cannot open the database: {0}")]
    OpenDatabase(#[source] DbError),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] migrate::MigrateError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The task serving connections panicked or was cancelled.
    #[error(transparent)]
    Served(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Hub(#[from] LogUnreadable),
    #[error("no backup made: {0}")]
    Backup(#[from] backup::BackupError),
    #[error("no user signs in as {0}")]
    NoSuchUser(String),
    /// What a request would have answered: a setting read late, a query of the repositories.
    #[error("{0}")]
    Api(ApiError),
}

impl From<ApiError> for HostError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

/// The settings from the options and the environment; without `JWT_SECRET`, a secret
/// generated on first start and kept in the data directory, so that sessions survive restarts.
/// Without `PUBLIC_URL`, a host listening on loopback (`addr`) uses its own address for links;
/// one that listens beyond loopback refuses to start, since links that carry tokens must not
/// point wherever a request's `Host` header says.
pub fn settings(options: &Options, addr: SocketAddr) -> Result<Settings, HostError> {
    let given = options.settings.clone();
    let setting = move |name: &str| {
        let set = given.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value.clone());
        set.or_else(|| std::env::var(name).ok()).filter(|value| !value.is_empty())
    };
    let generated = match setting("JWT_SECRET") {
        Some(_) => None,
        None => Some(stored_secret(&options.data_dir.join("jwt-secret"))?),
    };
    let public_url = match setting("PUBLIC_URL") {
        Some(url) => url,
        None if addr.ip().is_loopback() => format!("http://{addr}"),
        None => return Err(HostError::NoPublicUrl(addr)),
    };
    Ok(Arc::new(move |name: &str| match (name, &generated) {
        ("JWT_SECRET", Some(secret)) => Some(secret.clone()),
        ("PUBLIC_URL", _) => Some(public_url.clone()),
        _ => setting(name),
    }))
}

fn stored_secret(path: &std::path::Path) -> Result<String, HostError> {
    if let Ok(secret) = std::fs::read_to_string(path) {
        return Ok(secret.trim().to_owned());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| HostError::Secret { action: "create", path: parent.to_owned(), source })?;
    }
    let secret = random_token("");
    write_private(path, &secret).map_err(|source| HostError::Secret { action: "write", path: path.to_owned(), source })?;
    tracing::info!(path = %path.display(), "generated a signing secret");
    Ok(secret)
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// Outbound HTTP, cut off after `timeout` rather than holding a client's request open forever,
/// and never following a redirect (see the port).
fn outbound(timeout: std::time::Duration) -> Arc<dyn tui_shared::ports::Outbound> {
    let client = reqwest::Client::builder().timeout(timeout).redirect(reqwest::redirect::Policy::none()).build().unwrap_or_default();
    Arc::new(Reqwest::new(client))
}

/// The longest any outside call may take: a long answer from Claude (whose calls are cut off
/// sooner by `CLAUDE_TIMEOUT_S`, and identity providers' and the mail API's by their callers'
/// requests ending).
const OUTBOUND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// A remote database's calls are cut off sooner than anything else's: well inside the refresh
/// reuse interval, so that a client retrying a refresh whose answer timed out is still taken
/// for a client that lost an answer, not for a thief.
const DATABASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens the database and applies pending migrations.
pub async fn open_database(options: &Options) -> Result<Arc<dyn Database>, HostError> {
    let location = Location::parse(&options.database, options.database_token.clone());
    let db = native::open(&location, options.pool_size, outbound(DATABASE_TIMEOUT)).await.map_err(HostError::OpenDatabase)?;
    let schema = migrate::migrate(db.as_ref(), &time::format(time::Timestamp::now_utc())).await.map_err(HostError::Migrate)?;
    tracing::info!(version = schema.version, newer = ?schema.newer, "schema is current");
    Ok(db)
}

/// Everything a request needs, for a host reached at `addr`. Every group's own settings are
/// read now, so that a bad one stops the host from starting rather than failing its requests.
pub async fn state(options: &Options, addr: SocketAddr, jobs: Arc<dyn JobWaker>) -> Result<AppState, HostError> {
    let settings = settings(options, addr)?;
    let config = Config::from_lookup(|name| settings(name))?;
    let lookup = Lookup(&|name| settings(name));
    tui_auth::config::AuthConfig::read(&lookup)?;
    RealtimeConfig::read(&lookup)?;
    let workflows = WorkflowsConfig::read(&lookup)?;
    tui_swarms_agents::SwarmsConfig::read(&lookup)?;
    tui_shared::claude::ClaudeSettings::read(&lookup)?;
    Retention::read(&lookup)?;
    let db = open_database(options).await?;
    let passwords = Arc::new(BlockingPasswords::new(Argon2id::new(&config.argon2).map_err(StartError::from)?));
    let platform = Platform {
        settings,
        db,
        clock: Arc::new(SystemClock),
        outbound: outbound(OUTBOUND_TIMEOUT),
        public_outbound: Some(tui_workflows::native::outbound(&workflows)),
        passwords: Some(passwords),
        limiter: Some(Arc::new(InProcessLimiter::default())),
        jobs: Some(jobs),
        // Swarms' coordinators run in this process, one at a time per swarm.
        coordinators: None,
    };
    Ok(AppState::new(Services::assemble(platform, "all")?))
}

/// Makes the user who signs in as `login` an admin: how the first admin of a native
/// deployment comes to be (`tui-server grant-admin`).
pub async fn grant_admin(options: &Options, login: &str) -> Result<(), HostError> {
    let db = open_database(options).await?;
    let user = users::credentials(db.as_ref(), login).await?.ok_or_else(|| HostError::NoSuchUser(login.to_owned()))?;
    let now = time::format(time::Timestamp::now_utc());
    let event = Event::new("role.granted", None).target(user.id).detail(serde_json::json!({"role": "admin", "by": "grant-admin"}));
    db.batch(vec![users::grant_role(user.id, Role::Admin, &now), event.record(&ClientInfo::default(), &now)]).await?;
    Ok(())
}

/// Each group's routes, by the group's name in groups.toml.
pub fn group_routes() -> Vec<(&'static str, tui_shared::http::Routes)> {
    vec![
        ("auth", tui_auth::routes()),
        ("projects", tui_projects::routes()),
        ("tasks", tui_tasks::routes()),
        ("realtime", tui_realtime::routes()),
        ("workflows", tui_workflows::routes()),
        ("swarms", tui_swarms::routes()),
    ]
}

/// Every group's routes together.
fn all_routes() -> tui_shared::http::Routes {
    group_routes().into_iter().fold(tui_shared::http::Routes::new(), |all, (_, routes)| all.merge(routes))
}

/// Every group, mounted in one router, with the real-time hub that fans out their writes and
/// the workflow pool, which a write may have given work (a task a step tracks finished).
pub fn app(state: AppState, hub: Arc<Hub>) -> Router {
    let host = Arc::new(Host { proxies: state.config.trusted_proxies.clone().into(), hub, jobs: state.jobs.clone() });
    tui_shared::http::app(state, all_routes())
        .layer(axum::middleware::from_fn(move |request: Request, next: Next| around(host.clone(), request, next)))
}

/// What the host adds to every request.
struct Host {
    proxies: Arc<[ipnet::IpNet]>,
    hub: Arc<Hub>,
    jobs: Arc<dyn JobWaker>,
}

/// The client's address (through the trusted proxies) and the hub, in the request's
/// extensions; after a write that succeeded, the hub and the workflow pool woken: the write's
/// events go out at once, and a job it made due runs. One layer for all of it, since each
/// layer costs every request a boxed future and a clone of the router below it.
async fn around(host: Arc<Host>, mut request: Request, next: Next) -> Response {
    if let Some(ConnectInfo(addr)) = request.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let ip = client_ip(addr.ip(), request.headers(), &host.proxies);
        request.extensions_mut().insert(ClientAddr(ip.to_string()));
    }
    request.extensions_mut().insert(host.hub.clone());
    let writes = tui_shared::http::may_write(request.method());
    let response = next.run(request).await;
    if writes && response.status().is_success() {
        host.hub.wake();
        host.jobs.wake(std::time::Duration::ZERO).await;
    }
    response
}

/// The OpenAPI document of every group, as the host serves it and the gateway embeds it.
pub fn openapi_document() -> String {
    tui_shared::http::document_json(&tui_shared::http::document_parts(all_routes()).1)
}

/// How often expired rows are pruned.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Prunes expired rows now and then on, for as long as the server runs.
fn prune_on_schedule(state: AppState, retention: Retention) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(PRUNE_EVERY);
        loop {
            ticks.tick().await;
            match maintenance::prune(state.db.as_ref(), state.clock.now(), retention).await {
                Ok(rows) => tracing::debug!(rows, "pruned expired rows"),
                Err(error) => tracing::warn!(%error, "pruning failed; retried at the next tick"),
            }
        }
    });
}

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Opens everything, binds and serves in the background.
pub async fn start(options: &Options) -> Result<Running, HostError> {
    let listener = TcpListener::bind(options.listen).await.map_err(|source| HostError::Listen { addr: options.listen, source })?;
    let addr = listener.local_addr()?;
    let waker = Arc::new(PoolWaker::default());
    let state = state(options, addr, waker.clone()).await?;
    let workflows = state.section::<WorkflowsConfig>()?;
    tui_workflows::native::start(state.clone(), &waker, &workflows);
    let retention = *state.section::<Retention>()?;
    prune_on_schedule(state.clone(), retention);
    let realtime = *state.section::<RealtimeConfig>()?;
    let hub = Hub::start(state.db.clone(), realtime).await?;
    let service = app(state, hub).into_make_service_with_connect_info::<SocketAddr>();
    // Replies and real-time frames are small writes each; none should wait on Nagle's algorithm.
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream: &mut tokio::net::TcpStream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY not set");
        }
    });
    let task = tokio::spawn(async move { axum::serve(listener, service).with_graceful_shutdown(shutdown()).await });
    Ok(Running { addr, task })
}

async fn shutdown() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
    tracing::info!("shutting down");
}
