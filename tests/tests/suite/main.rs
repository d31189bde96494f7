//! The black-box suite: one binary, so the whole stack is linked once. Every module runs
//! against the host `Server::start` picks (in process, or `TUI_TEST_BASE_URL`).

mod api_keys;
mod auth;
mod authorization;
mod backup;
mod bad_input;
mod device;
mod email_change;
mod health;
mod hrana;
mod lockout;
mod passwords;
mod projects;
mod ratelimits;
mod realtime;
mod roles;
mod sessions;
mod sso;
mod swarms;
mod takeover;
mod tasks;
mod turso;
mod workflows;
