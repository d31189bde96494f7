//! Credentials: password hashing and the tokens a session is made of.

pub mod password;
pub mod tokens;
