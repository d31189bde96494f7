//! Domain types. Request bodies deserialize straight into these, so a value that exists has
//! already been checked: parse, don't validate.

mod priority;
mod roles;
mod text;

pub use priority::Priority;
pub use roles::{ProjectRole, Role};
pub use text::{Description, Email, Invalid, Label, LoginName, Name, NewPassword, OpaqueToken, Password, Prompt, Title, Username};
