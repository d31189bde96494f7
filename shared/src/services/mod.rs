//! Services: the use cases, with their policy (who may do what), over repositories and ports.

pub mod accounts;
pub mod api_keys;
pub mod device;
pub mod maintenance;
pub mod sso;
pub mod users;
