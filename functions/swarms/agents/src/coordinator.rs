//! A coordinator per swarm: it lays an orchestration's plan out over the swarm's agents, one
//! assignment at a time, so that two plans never both take the same least-loaded agent from the
//! same view of the loads.
//!
//! Where it runs: on Workers a Durable Object per swarm (the swarms worker's `SwarmCoordinator`,
//! which runs [`apply`]), reached through the `Coordinators` port; natively in this process, one at
//! a time per swarm (an async lock per swarm: the in-process actor); on Spin, where every
//! request is a process of its own, where it is. Wherever it runs, an assignment is written
//! only if the swarm's version is still the one it was made from ([`repo::lay_out`]); otherwise
//! it is made again from a fresh view, so that hosts that do not share a process, or a scale that
//! came between, cannot make it wrong.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
};

use serde::{Deserialize, Serialize};
use tui_shared::{ApiError, AppState, time};
use uuid::Uuid;

use crate::{
    SwarmsConfig,
    agent::Claim,
    model::{Strategy, Topology, classify},
    plan::{self, Plan},
    repo,
};

/// A plan to lay out, for the plan step holding `claim`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assignment {
    pub swarm: Uuid,
    pub project: Uuid,
    pub topology: Topology,
    pub strategy: Strategy,
    pub plan: Plan,
    pub claim: Claim,
}

/// What came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placed {
    /// Laid out (now, or by an earlier attempt).
    Done,
    /// Cannot be: no agent to take the work.
    Refused(String),
    /// The swarm kept changing under it, or the claim was lost: try the step again later.
    Busy,
}

/// How many fresh views an assignment is tried from before the step is tried again later.
const TRIES: usize = 8;

/// Lays the plan out, through the swarm's coordinator.
pub async fn assign(state: &AppState, assignment: &Assignment) -> Result<Placed, ApiError> {
    if let Some(coordinators) = &state.coordinators {
        let request = serde_json::to_value(assignment).map_err(ApiError::internal)?;
        let reply = coordinators.send(assignment.swarm, request).await?;
        return serde_json::from_value(reply).map_err(ApiError::internal);
    }
    let turn = turn(assignment.swarm);
    let _held = turn.lock().await;
    apply(state, assignment).await
}

/// One assignment's turn at a time.
pub type Turn = futures_util::lock::Mutex<()>;

/// The lock that gives this process's assignments for `swarm` their turns, one at a time;
/// dropped when no assignment holds it.
fn turn(swarm: Uuid) -> Arc<Turn> {
    static TURNS: Mutex<Option<HashMap<Uuid, Weak<Turn>>>> = Mutex::new(None);
    let mut turns = TURNS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let turns = turns.get_or_insert_with(HashMap::new);
    if let Some(turn) = turns.get(&swarm).and_then(Weak::upgrade) {
        return turn;
    }
    turns.retain(|_, turn| turn.strong_count() > 0);
    let turn = Arc::new(Turn::new(()));
    turns.insert(swarm, Arc::downgrade(&turn));
    turn
}

/// Lays the plan out from a fresh view of the swarm, and again while the swarm changes under it.
pub async fn apply(state: &AppState, a: &Assignment) -> Result<Placed, ApiError> {
    let db = state.db.as_ref();
    let timeout_s = state.section::<SwarmsConfig>()?.step_timeout.as_secs();
    let plan_json = serde_json::to_value(&a.plan).map_err(ApiError::internal)?;
    for _ in 0..TRIES {
        if repo::planned(db, a.claim.run).await?.is_some() {
            return Ok(Placed::Done);
        }
        let Some(version) = repo::version(db, a.swarm).await? else { return Ok(Placed::Refused("the swarm is gone".into())) };
        let agents = repo::candidates(db, a.swarm).await?;
        let model = if a.strategy == Strategy::Adaptive { repo::latest_model(db, a.project).await? } else { None };
        let predict = |text: &str| model.as_ref().map(|m| m.rank(classify(text))[0].0);
        let layout = match plan::assign(a.topology, a.strategy, &agents, &a.plan, &predict) {
            Ok(layout) => layout,
            Err(error) => return Ok(Placed::Refused(error.to_string())),
        };
        let now = time::format(state.clock.now());
        let statements = repo::lay_out(&a.claim, a.swarm, version, Uuid::now_v7(), &plan_json, &layout, timeout_s, &now);
        let counts = db.batch(statements).await?;
        if tui_shared::db::changed(&counts, 0) {
            return Ok(Placed::Done);
        }
        if !repo::holds(db, &a.claim).await? {
            return Ok(Placed::Busy);
        }
    }
    Ok(Placed::Busy)
}
