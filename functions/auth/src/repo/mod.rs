//! The auth group's own tables: email tokens and the lockout's sign-in tries. The sessions,
//! users, API keys and audit log are the kernel's, which checks every caller with them.

pub mod email_tokens;
pub mod logins;
