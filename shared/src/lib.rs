//! The kernel of the Claude TUI backend: what every endpoint group needs, and nothing that only
//! one group does (a group's repositories, services and handlers live in its crate under
//! `functions/`).
//!
//! Here: domain types used across groups (`domain`), ordering by dependencies (`graph`), the
//! ports each runtime implements once (`db`, `ports`) and their adapters (`adapters`, each
//! behind the cargo feature of its runtime), the authenticated caller (`http::extract`, over
//! the sessions, users and API keys in `repo`) and project membership (`membership`), the audit
//! log, the HTTP conventions every group serves (`http`), which group owns which path
//! (`routes`), full-text queries (`search`), configuration, migrations, and the pruning every
//! deployment runs on a schedule (`services::maintenance`). Domain and service code never names
//! a runtime.

#[cfg(any(
    all(feature = "native", feature = "cloudflare"),
    all(feature = "native", feature = "spin"),
    all(feature = "cloudflare", feature = "spin")
))]
compile_error!(
    "the runtime features native, cloudflare and spin are mutually exclusive: build one artifact per runtime \
     (cargo features unify across a build, so build each runtime's packages in its own cargo invocation)"
);

pub mod adapters;
pub mod auth;
pub mod claude;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod events;
pub mod graph;
pub mod http;
pub mod membership;
pub mod ports;
pub mod ratelimit;
pub mod repo;
pub mod routes;
pub mod search;
pub mod services;
pub mod state;
pub mod time;

pub use error::{ApiError, ErrorCode, Result};
pub use state::AppState;
