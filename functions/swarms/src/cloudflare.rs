//! A swarm's coordinator on Workers: a Durable Object per swarm, which the workflows worker's
//! plan steps reach through the `Coordinators` port (binding `SWARM_COORDINATOR`). It answers
//! one assignment at a time (workerd would otherwise interleave requests at every database
//! call), each with the coordinator's own code (`tui_swarms_agents::coordinator::apply`).

use std::cell::RefCell;

use tui_shared::AppState;
use tui_swarms_agents::coordinator::{Assignment, Turn, apply};
use worker::{DurableObject, Env, Request, Response, Result, State, durable_object};

#[durable_object]
pub struct SwarmCoordinator {
    env: Env,
    turn: Turn,
    services: RefCell<Option<AppState>>,
}

impl DurableObject for SwarmCoordinator {
    fn new(_: State, env: Env) -> Self {
        Self { env, turn: Turn::new(()), services: RefCell::new(None) }
    }

    /// `POST` an assignment; answers what came of it.
    async fn fetch(&self, mut request: Request) -> Result<Response> {
        let assignment: Assignment = request.json().await?;
        let _held = self.turn.lock().await;
        let known = self.services.borrow().clone();
        let state = match known {
            Some(state) => state,
            None => {
                let services = tui_shared::adapters::cloudflare::services("swarms", &self.env)
                    .map_err(|error| worker::Error::RustError(error.to_string()))?;
                let state = AppState::new(services);
                self.services.replace(Some(state.clone()));
                state
            }
        };
        match apply(&state, &assignment).await {
            Ok(placed) => Response::from_json(&placed),
            Err(error) => Response::error(error.detail, 500),
        }
    }
}
