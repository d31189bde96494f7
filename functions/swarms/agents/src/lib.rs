//! The swarms group's agents at work, apart from its endpoints (`tui-swarms`), because the
//! workflow engine runs them: an orchestration and a vote are runs of a workflow each swarm
//! owns, and their steps are `agent` steps.
//!
//! Here: what a swarm is made of and the task classifier (`model`), the plan Claude is made to
//! give and its assignment to agents by topology and strategy (`plan`), the learned assignment
//! (`patterns`), vote counting (`consensus`), the coordinator that lays plans out over a swarm's
//! agents one at a time (`coordinator`), what an agent step does (`agent`) and the SQL it reads
//! and writes (`repo`), and the group's settings (`config`).

pub mod agent;
pub mod config;
pub mod consensus;
pub mod coordinator;
pub mod model;
pub mod patterns;
pub mod plan;
mod repo;

pub use config::SwarmsConfig;
