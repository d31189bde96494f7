//! Handlers of the auth group: the contract's shapes in and out.

pub mod accounts;
pub mod api_keys;
pub mod device;
pub mod passwords;
pub mod sso;
pub mod users;
