//! The workflows group's settings.

use std::time::Duration;

use tui_shared::{
    config::{ConfigError, Lookup, Section},
    ratelimit::Rule,
};

use crate::outbound::Guard;

#[derive(Debug, Clone)]
pub struct WorkflowsConfig {
    /// What `http` steps may call.
    pub guard: Guard,
    /// How long an `http` step's attempt may take when the step does not say.
    pub http_timeout: Duration,
    /// The bearer secret of `POST /v1/internal/tick`; without it the endpoint is off (404).
    pub tick_secret: Option<String>,
    /// How many jobs the native host runs at once.
    pub workers: usize,
    /// How many jobs of one project may be claimed at once, anywhere: one project's slow steps
    /// leave the other workers to the other projects.
    pub per_project: u32,
    /// How many jobs of runs one user started may be claimed at once, anywhere and across all
    /// their projects: projects cost nothing, so without this one user with slow steps in a few
    /// of them takes every worker.
    pub per_user: u32,
    /// How many runs one user may start a minute: each start may queue up to a definition's
    /// 1,000 steps at once.
    pub run_starts: Rule,
    /// How long a claim on a job lasts: after a worker dies, its job waits this long (beyond
    /// an `http` step's timeout) before another worker takes it over.
    pub lease: Duration,
}

impl Section for WorkflowsConfig {
    /// `WORKFLOWS_HTTP_HOSTS` (comma-separated host names `http` steps may call; `*`, the
    /// default, is any public host, except on Spin, where names must be listed), `WORKFLOWS_HTTP_PRIVATE` (comma-separated CIDRs of private
    /// networks they may call anyway; none by default), `WORKFLOWS_HTTP_TIMEOUT_S` (300),
    /// `WORKFLOWS_TICK_SECRET` (at least 32 characters, or unset), `WORKFLOWS_WORKERS` (8),
    /// `WORKFLOWS_LEASE_S` (30), `WORKFLOWS_PROJECT_CLAIMS` (4), `WORKFLOWS_USER_CLAIMS` (4),
    /// `WORKFLOWS_RUNS_PER_MINUTE` (30 per user).
    fn read(lookup: &Lookup<'_>) -> Result<Self, ConfigError> {
        let list = |name: &str| -> Vec<String> {
            lookup.get(name).unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
        };
        let hosts = list("WORKFLOWS_HTTP_HOSTS");
        let hosts = if hosts.is_empty() || hosts.iter().any(|h| h == "*") {
            None
        } else {
            Some(hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect())
        };
        let private = list("WORKFLOWS_HTTP_PRIVATE")
            .iter()
            .map(|cidr| cidr.parse())
            .collect::<Result<_, _>>()
            .map_err(|e: ipnet::AddrParseError| ConfigError::Invalid { name: "WORKFLOWS_HTTP_PRIVATE", reason: e.to_string() })?;
        let tick_secret = lookup.get("WORKFLOWS_TICK_SECRET");
        if tick_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err(ConfigError::Invalid { name: "WORKFLOWS_TICK_SECRET", reason: "must be at least 32 characters".into() });
        }
        let http_timeout = lookup.seconds("WORKFLOWS_HTTP_TIMEOUT_S", 300)?;
        if http_timeout.is_zero() {
            return Err(ConfigError::Invalid { name: "WORKFLOWS_HTTP_TIMEOUT_S", reason: "must be at least 1".into() });
        }
        let workers = match lookup.number("WORKFLOWS_WORKERS", 8)? {
            0 => return Err(ConfigError::Invalid { name: "WORKFLOWS_WORKERS", reason: "must be at least 1".into() }),
            n => n as usize,
        };
        let lease = lookup.seconds("WORKFLOWS_LEASE_S", 30)?;
        if lease.is_zero() {
            return Err(ConfigError::Invalid { name: "WORKFLOWS_LEASE_S", reason: "must be at least 1".into() });
        }
        // Spin's outbound HTTP connects wherever a name resolves: names must be listed there.
        let names_checked = !cfg!(feature = "spin");
        let per_project = match lookup.number("WORKFLOWS_PROJECT_CLAIMS", 4)? {
            0 => return Err(ConfigError::Invalid { name: "WORKFLOWS_PROJECT_CLAIMS", reason: "must be at least 1".into() }),
            n => n,
        };
        let per_user = match lookup.number("WORKFLOWS_USER_CLAIMS", 4)? {
            0 => return Err(ConfigError::Invalid { name: "WORKFLOWS_USER_CLAIMS", reason: "must be at least 1".into() }),
            n => n,
        };
        let run_starts = Rule { limit: lookup.number("WORKFLOWS_RUNS_PER_MINUTE", 30)?, window: Duration::from_secs(60) };
        Ok(Self {
            guard: Guard { hosts, private, names_checked },
            http_timeout,
            tick_secret,
            workers,
            per_project,
            per_user,
            run_starts,
            lease,
        })
    }
}
