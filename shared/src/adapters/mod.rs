//! Runtime adapters: each port implemented once per runtime, behind that runtime's feature.
//! Function crates call these from a one-line entry point; domain code never does.

#[cfg(feature = "cloudflare")]
pub mod cloudflare;
#[cfg(any(feature = "cloudflare", feature = "spin"))]
mod edge;
mod entry;
pub mod hrana;
pub mod mail;
#[cfg(feature = "native")]
pub mod native;
#[cfg(feature = "spin")]
pub mod spin;
