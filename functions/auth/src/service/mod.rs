//! The auth group's use cases, with their policy (who may do what).

pub mod accounts;
pub mod api_keys;
pub mod device;
pub mod sso;
pub mod users;
