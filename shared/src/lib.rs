//! The common crate of the Claude TUI backend.
//!
//! Everything an endpoint group needs and that is not its own routes lives here: domain types,
//! the ports each runtime implements once (`db`, `ports`), repositories and services, the HTTP
//! conventions every group serves (`http`), and the runtime adapters (`adapters`), each behind the
//! cargo feature of its runtime. Domain and service code never names a runtime.

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
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod membership;
pub mod ports;
pub mod ratelimit;
pub mod repo;
pub mod services;
pub mod state;
pub mod time;

pub use error::{ApiError, ErrorCode, Result};
pub use state::AppState;
