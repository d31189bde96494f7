//! Handlers of the swarms group: the contract's shapes in and out, nothing else.

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use tui_shared::{
    ApiError, AppState,
    domain::{Label, Name, Prompt},
    http::{
        extract::{AuthUser, Ids, PageParams, Query},
        json::{Json as Body, whole, whole_or_null},
    },
    repo::{Page, decode_position},
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use tui_swarms_agents::{
    config::MAX_TOKENS_LIMIT,
    model::{Agent, AgentMetrics, AgentType, Algorithm, Orchestration, PatternType, Priority, Strategy, Swarm, SwarmStrategy, Topology},
};

use crate::service::{self, Ask, NewAgent};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSwarm {
    project_id: Uuid,
    /// A name for people (default `swarm`).
    #[serde(default)]
    name: Option<Name>,
    topology: Topology,
    /// 1 to 20 (default 8).
    #[serde(default, deserialize_with = "whole_or_null")]
    #[schema(minimum = 1, maximum = 20)]
    max_agents: Option<u8>,
    #[serde(default)]
    strategy: Option<SwarmStrategy>,
}

/// Create a swarm in a project (contributors and up). It starts without agents: add them, or
/// scale it.
#[utoipa::path(post, path = "/v1/swarms", tag = "swarms", security(("bearer" = [])), request_body = NewSwarm,
    responses((status = 201, body = Swarm, headers(("location" = String))), (status = 403, description = "Viewers cannot"),
        (status = 404, description = "No such project, or not yours")))]
pub async fn create_swarm(State(state): State<AppState>, caller: AuthUser, Body(body): Body<NewSwarm>) -> Result<Response, ApiError> {
    let max_agents = i64::from(body.max_agents.unwrap_or(8));
    if !(1..=20).contains(&max_agents) {
        return Err(ApiError::field("max_agents", "must be 1 to 20"));
    }
    let name = body.name.map_or_else(|| "swarm".to_owned(), String::from);
    let strategy = body.strategy.unwrap_or(SwarmStrategy::Auto);
    let swarm = service::create(&state, body.project_id, caller.id, name, body.topology, strategy, max_agents).await?;
    let location = (header::LOCATION, format!("/v1/swarms/{}", swarm.id));
    Ok((StatusCode::CREATED, [location], axum::Json(swarm)).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SwarmsQuery {
    project_id: Uuid,
    /// How many items, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Where the previous page ended (its `next_cursor`).
    #[param(pattern = "^[A-Za-z0-9_-]{22}$")]
    cursor: Option<String>,
}

/// A project's swarms, newest first.
#[utoipa::path(get, path = "/v1/swarms", tag = "swarms", security(("bearer" = [])), params(SwarmsQuery),
    responses((status = 200, body = Page<Swarm>), (status = 404, description = "No such project, or not yours")))]
pub async fn list_swarms(
    State(state): State<AppState>,
    caller: AuthUser,
    Query(query): Query<SwarmsQuery>,
) -> Result<axum::Json<Page<Swarm>>, ApiError> {
    let page = PageParams { limit: query.limit, cursor: query.cursor };
    service::list(&state, query.project_id, caller.id, page.after()?, page.limit()?).await.map(axum::Json)
}

/// A swarm: its topology, strategy, active agents and tokens used.
#[utoipa::path(get, path = "/v1/swarms/{id}", tag = "swarms", security(("bearer" = [])),
    responses((status = 200, body = Swarm), (status = 404, description = "No such swarm, or not yours")))]
pub async fn get_swarm(State(state): State<AppState>, caller: AuthUser, Ids(id): Ids<Uuid>) -> Result<axum::Json<Swarm>, ApiError> {
    service::visible(&state, id, caller.id).await.map(axum::Json)
}

/// Delete a swarm with its agents, orchestrations, votes and memory (maintainers and up).
#[utoipa::path(delete, path = "/v1/swarms/{id}", tag = "swarms", security(("bearer" = [])),
    responses((status = 204), (status = 403, description = "Below maintainer"), (status = 404, description = "No such swarm, or not yours")))]
pub async fn delete_swarm(State(state): State<AppState>, caller: AuthUser, Ids(id): Ids<Uuid>) -> Result<StatusCode, ApiError> {
    service::delete(&state, id, caller.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    /// How many active agents the swarm should have, up to its `max_agents`.
    #[serde(deserialize_with = "whole")]
    #[schema(minimum = 0, maximum = 20)]
    target_size: u8,
}

#[derive(Serialize, ToSchema)]
pub struct Scaled {
    swarm: Swarm,
    /// The agents not retired (working ones that retire when done included), in their order:
    /// at most the swarm's `max_agents`.
    #[schema(max_items = 20)]
    agents: Vec<Agent>,
}

/// Add agents (a coordinator first, if there is none) or retire them until `target_size` are
/// active (contributors and up). An agent with work under way takes no more, finishes it, then
/// retires.
#[utoipa::path(post, path = "/v1/swarms/{id}/scale", tag = "swarms", security(("bearer" = [])), request_body = Scale,
    responses((status = 200, body = Scaled), (status = 403, description = "Viewers cannot"), (status = 404, description = "No such swarm, or not yours"),
        (status = 422, description = "Beyond max_agents")))]
pub async fn scale(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(id): Ids<Uuid>,
    Body(body): Body<Scale>,
) -> Result<axum::Json<Scaled>, ApiError> {
    let (swarm, agents) = service::scale(&state, id, caller.id, i64::from(body.target_size)).await?;
    Ok(axum::Json(Scaled { swarm, agents }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgentBody {
    #[serde(rename = "type")]
    agent_type: AgentType,
    #[serde(default)]
    name: Option<Name>,
    /// Words the mesh topology matches subtasks against (`code`, `test`, …); up to 20.
    #[serde(default)]
    #[schema(max_items = 20)]
    capabilities: Vec<Label>,
}

/// Add an agent (contributors and up), while the swarm has fewer than `max_agents` active.
#[utoipa::path(post, path = "/v1/swarms/{id}/agents", tag = "swarms", security(("bearer" = [])), request_body = NewAgentBody,
    responses((status = 201, body = Agent), (status = 403, description = "Viewers cannot"), (status = 404, description = "No such swarm, or not yours"),
        (status = 409, description = "The swarm is full")))]
pub async fn add_agent(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(id): Ids<Uuid>,
    Body(body): Body<NewAgentBody>,
) -> Result<Response, ApiError> {
    if body.capabilities.len() > 20 {
        return Err(ApiError::field("capabilities", "at most 20"));
    }
    let agent = NewAgent {
        agent_type: body.agent_type,
        name: body.name.map(String::from),
        capabilities: body.capabilities.into_iter().map(String::from).collect(),
    };
    let agent = service::add_agent(&state, id, caller.id, agent).await?;
    Ok((StatusCode::CREATED, axum::Json(agent)).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AgentsQuery {
    /// How many items, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Where the previous page ended (its `next_cursor`).
    #[param(max_length = 400, pattern = "^[A-Za-z0-9_-]+$")]
    cursor: Option<String>,
}

/// The swarm's agents, retired ones included, in their order. Those not retired, at most its
/// `max_agents`, are also in the answer of `POST /v1/swarms/{id}/scale`.
#[utoipa::path(get, path = "/v1/swarms/{id}/agents", tag = "swarms", security(("bearer" = [])), params(AgentsQuery),
    responses((status = 200, body = Page<Agent>), (status = 404, description = "No such swarm, or not yours")))]
pub async fn list_agents(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(id): Ids<Uuid>,
    Query(query): Query<AgentsQuery>,
) -> Result<axum::Json<Page<Agent>>, ApiError> {
    let limit = PageParams { limit: query.limit, cursor: None }.limit()?;
    let after = query.cursor.as_deref().map(decode_position).transpose()?;
    service::agents(&state, id, caller.id, after, limit).await.map(axum::Json)
}

/// An agent's calls, tokens, latency and results, from its recorded calls.
#[utoipa::path(get, path = "/v1/agents/{id}/metrics", tag = "swarms", security(("bearer" = [])),
    responses((status = 200, body = AgentMetrics), (status = 404, description = "No such agent, or not yours")))]
pub async fn agent_metrics(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(id): Ids<Uuid>,
) -> Result<axum::Json<AgentMetrics>, ApiError> {
    service::metrics(&state, id, caller.id).await.map(axum::Json)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrchestrateBody {
    task: Prompt,
    /// The swarm's own strategy decides when not given.
    #[serde(default)]
    strategy: Option<Strategy>,
    #[serde(default)]
    priority: Option<Priority>,
    /// What the task depends on, for the planner to know; up to 20.
    #[serde(default)]
    #[schema(max_items = 20)]
    dependencies: Vec<Name>,
    /// The Claude model (default the deployment's).
    #[serde(default)]
    model: Option<Label>,
    /// Per call, 1 to 64,000; long answers are streamed.
    #[serde(default, deserialize_with = "whole_or_null")]
    #[schema(minimum = 1, maximum = 64000)]
    max_tokens: Option<u32>,
}

/// Orchestrate a task (contributors and up): the coordinator plans it into subtasks by a forced
/// tool call, agents do them by the swarm's topology and the strategy, and the coordinator
/// synthesises the results. It runs as a workflow run with this id: follow it here, on the
/// `swarm:{id}` topic, or pause and cancel it at `/v1/runs/{id}`.
#[utoipa::path(post, path = "/v1/swarms/{id}/orchestrate", tag = "swarms", security(("bearer" = [])), request_body = OrchestrateBody,
    responses((status = 202, body = Orchestration, headers(("location" = String))), (status = 403, description = "Viewers cannot"),
        (status = 404, description = "No such swarm, or not yours"), (status = 409, description = "The swarm has no active agents"),
        (status = 429, description = "budget_exhausted: the caller's tokens for today are spent")))]
pub async fn orchestrate(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(id): Ids<Uuid>,
    Body(body): Body<OrchestrateBody>,
) -> Result<Response, ApiError> {
    if body.dependencies.len() > 20 {
        return Err(ApiError::field("dependencies", "at most 20"));
    }
    if body.max_tokens.is_some_and(|m| m == 0 || m > MAX_TOKENS_LIMIT) {
        return Err(ApiError::field("max_tokens", format!("must be 1 to {MAX_TOKENS_LIMIT}")));
    }
    let ask = Ask {
        task: body.task.into(),
        strategy: body.strategy,
        priority: body.priority.unwrap_or(Priority::Medium),
        dependencies: body.dependencies.into_iter().map(String::from).collect(),
        model: body.model.map(String::from),
        max_tokens: body.max_tokens,
    };
    let orchestration = service::orchestrate(&state, id, caller.id, ask).await?;
    let location = (header::LOCATION, format!("/v1/orchestrations/{}", orchestration.id));
    Ok((StatusCode::ACCEPTED, [location], axum::Json(orchestration)).into_response())
}

/// An orchestration: its plan, each part's agent, status, tokens and validated result (or what
/// it lacked), every call made, and the synthesis.
#[utoipa::path(get, path = "/v1/orchestrations/{id}", tag = "swarms", security(("bearer" = [])),
    responses((status = 200, body = Orchestration), (status = 404, description = "No such orchestration, or not yours")))]
pub async fn get_orchestration(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(id): Ids<Uuid>,
) -> Result<axum::Json<Orchestration>, ApiError> {
    service::orchestration(&state, id, caller.id).await.map(axum::Json)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Train {
    pattern_type: PatternType,
    /// Accepted for the contract; the model is fitted exactly in one pass.
    #[serde(default, deserialize_with = "whole_or_null")]
    #[schema(minimum = 1, maximum = 1000)]
    epochs: Option<u16>,
}

/// Fit the project's model of agent success per agent type and task kind on its recorded
/// outcomes (contributors and up), store it as the next version, and report its log loss and
/// accuracy on held-out outcomes.
#[utoipa::path(post, path = "/v1/swarms/{id}/patterns/train", tag = "swarms", security(("bearer" = [])), request_body = Train,
    responses((status = 201, description = "The model, its version and training metrics"), (status = 403, description = "Viewers cannot"),
        (status = 404, description = "No such swarm, or not yours"), (status = 409, description = "No outcomes recorded yet")))]
pub async fn train(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(id): Ids<Uuid>,
    Body(body): Body<Train>,
) -> Result<(StatusCode, axum::Json<Json>), ApiError> {
    if body.epochs.is_some_and(|e| !(1..=1000).contains(&e)) {
        return Err(ApiError::field("epochs", "must be 1 to 1000"));
    }
    Ok((StatusCode::CREATED, axum::Json(service::train(&state, id, caller.id, body.pattern_type).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Predict {
    /// The swarm whose project's model answers.
    swarm_id: Uuid,
    task: Prompt,
    #[serde(default)]
    pattern_type: Option<PatternType>,
}

/// The agent type most likely to do a task well, with its confidence and the alternatives, by
/// the project's newest model.
#[utoipa::path(post, path = "/v1/patterns/predict", tag = "swarms", security(("bearer" = [])), request_body = Predict,
    responses((status = 200, description = "agent_type, confidence, alternatives, task_kind, model_version"),
        (status = 404, description = "No such swarm, or not yours")))]
pub async fn predict(State(state): State<AppState>, caller: AuthUser, Body(body): Body<Predict>) -> Result<axum::Json<Json>, ApiError> {
    let pattern = body.pattern_type.unwrap_or(PatternType::Prediction);
    service::predict(&state, body.swarm_id, caller.id, &String::from(body.task), pattern).await.map(axum::Json)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVote {
    proposal: Prompt,
    algorithm: Algorithm,
    /// When the vote closes, 0.05 (3 s) to 10,080 minutes (a week) from now.
    #[schema(minimum = 0.05, maximum = 10080)]
    deadline_minutes: f64,
}

/// Open a vote among the swarm's active agents (contributors and up). A byzantine vote needs at
/// least four voters. It closes when the votes decide it, or at its deadline.
#[utoipa::path(post, path = "/v1/swarms/{id}/consensus", tag = "swarms", security(("bearer" = [])), request_body = NewVote,
    responses((status = 201, description = "The vote"), (status = 403, description = "Viewers cannot"), (status = 404, description = "No such swarm, or not yours"),
        (status = 409, description = "Too few voters for the algorithm")))]
pub async fn open_vote(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(id): Ids<Uuid>,
    Body(body): Body<NewVote>,
) -> Result<(StatusCode, axum::Json<Json>), ApiError> {
    if !(0.05..=10080.0).contains(&body.deadline_minutes) {
        return Err(ApiError::field("deadline_minutes", "must be 0.05 to 10080"));
    }
    let vote = service::open_vote(&state, id, caller.id, &String::from(body.proposal), body.algorithm, body.deadline_minutes).await?;
    Ok((StatusCode::CREATED, axum::Json(vote)))
}

/// A vote, its votes and, once closed, its decision and tally.
#[utoipa::path(get, path = "/v1/consensus/{id}", tag = "swarms", security(("bearer" = [])),
    responses((status = 200, description = "The vote"), (status = 404, description = "No such vote, or not yours")))]
pub async fn get_vote(State(state): State<AppState>, caller: AuthUser, Ids(id): Ids<Uuid>) -> Result<axum::Json<Json>, ApiError> {
    service::vote(&state, id, caller.id).await.map(axum::Json)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Ballot {
    agent_id: Uuid,
    vote: Label,
    /// How sure the agent is, 0 to 1 (default 1): a weighted vote's weight.
    #[serde(default)]
    #[schema(minimum = 0.0, maximum = 1.0)]
    confidence: Option<f64>,
}

/// Cast an agent's vote (contributors and up), once per agent, before the deadline.
#[utoipa::path(post, path = "/v1/consensus/{id}/votes", tag = "swarms", security(("bearer" = [])), request_body = Ballot,
    responses((status = 201, description = "The vote, with this ballot"), (status = 403, description = "Viewers cannot"),
        (status = 404, description = "No such vote, or not yours"), (status = 409, description = "Closed, or the agent voted already"),
        (status = 422, description = "Not one of its voters")))]
pub async fn cast(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(id): Ids<Uuid>,
    Body(body): Body<Ballot>,
) -> Result<(StatusCode, axum::Json<Json>), ApiError> {
    let confidence = body.confidence.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&confidence) {
        return Err(ApiError::field("confidence", "must be 0 to 1"));
    }
    let vote = service::cast(&state, id, caller.id, body.agent_id, &String::from(body.vote), confidence).await?;
    Ok((StatusCode::CREATED, axum::Json(vote)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryValue {
    /// Any JSON of up to 64 KiB.
    value: Json,
    /// Seconds until it is gone, 1 to 31,536,000; kept until deleted without it.
    #[serde(default, deserialize_with = "whole_or_null")]
    #[schema(minimum = 1, maximum = 31536000)]
    ttl_s: Option<u32>,
}

type MemoryPath = (Uuid, Label, Label);

/// Write a value to the swarm's shared memory (contributors and up).
#[utoipa::path(put, path = "/v1/swarms/{id}/memory/{namespace}/{key}", tag = "swarms", security(("bearer" = [])), request_body = MemoryValue,
    params(("id" = Uuid, Path), ("namespace" = String, Path, max_length = 50, pattern = "^[^\\s\\u0000-\\u001f\\u007f-\\u009f]+$"),
        ("key" = String, Path, max_length = 50, pattern = "^[^\\s\\u0000-\\u001f\\u007f-\\u009f]+$")),
    responses((status = 200, description = "The entry"), (status = 403, description = "Viewers cannot"), (status = 404, description = "No such swarm, or not yours"),
        (status = 409, description = "The swarm's memory is full, or the caller's across swarms")))]
pub async fn put_memory(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids((id, namespace, key)): Ids<MemoryPath>,
    Body(body): Body<MemoryValue>,
) -> Result<axum::Json<Json>, ApiError> {
    if body.value.to_string().len() > service::MAX_MEMORY_VALUE {
        return Err(ApiError::field("value", format!("at most {} bytes of JSON", service::MAX_MEMORY_VALUE)));
    }
    if body.ttl_s.is_some_and(|t| !(1..=31_536_000).contains(&t)) {
        return Err(ApiError::field("ttl_s", "must be 1 to 31536000"));
    }
    service::put_memory(&state, id, caller.id, namespace.as_str(), key.as_str(), &body.value, body.ttl_s).await.map(axum::Json)
}

/// A value from the swarm's shared memory, unless its TTL has passed.
#[utoipa::path(get, path = "/v1/swarms/{id}/memory/{namespace}/{key}", tag = "swarms", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("namespace" = String, Path, max_length = 50, pattern = "^[^\\s\\u0000-\\u001f\\u007f-\\u009f]+$"),
        ("key" = String, Path, max_length = 50, pattern = "^[^\\s\\u0000-\\u001f\\u007f-\\u009f]+$")),
    responses((status = 200, description = "The entry"), (status = 404, description = "No such entry, swarm, or not yours")))]
pub async fn get_memory(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids((id, namespace, key)): Ids<MemoryPath>,
) -> Result<axum::Json<Json>, ApiError> {
    service::get_memory(&state, id, caller.id, namespace.as_str(), key.as_str()).await.map(axum::Json)
}

/// Delete a value from the swarm's shared memory (contributors and up).
#[utoipa::path(delete, path = "/v1/swarms/{id}/memory/{namespace}/{key}", tag = "swarms", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("namespace" = String, Path, max_length = 50, pattern = "^[^\\s\\u0000-\\u001f\\u007f-\\u009f]+$"),
        ("key" = String, Path, max_length = 50, pattern = "^[^\\s\\u0000-\\u001f\\u007f-\\u009f]+$")),
    responses((status = 204), (status = 403, description = "Viewers cannot"), (status = 404, description = "No such entry, swarm, or not yours")))]
pub async fn delete_memory(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids((id, namespace, key)): Ids<MemoryPath>,
) -> Result<StatusCode, ApiError> {
    service::delete_memory(&state, id, caller.id, namespace.as_str(), key.as_str()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MemoryQuery {
    /// Words to find in keys and values, best matches first: each word as itself or the start
    /// of a word (a one-letter word only as itself); the first 8 words count.
    #[param(max_length = 200)]
    q: Option<String>,
    /// Only keys starting with this.
    #[param(max_length = 50)]
    prefix: Option<String>,
    /// How many items, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// Search a namespace of the swarm's shared memory: by words (`q`), by key prefix, or all of
/// it by key; entries past their TTL are gone.
#[utoipa::path(get, path = "/v1/swarms/{id}/memory/{namespace}", tag = "swarms", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("namespace" = String, Path, max_length = 50, pattern = "^[^\\s\\u0000-\\u001f\\u007f-\\u009f]+$"), MemoryQuery),
    responses((status = 200, description = "The entries found"), (status = 404, description = "No such swarm, or not yours")))]
pub async fn search_memory(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids((id, namespace)): Ids<(Uuid, Label)>,
    Query(query): Query<MemoryQuery>,
) -> Result<axum::Json<Json>, ApiError> {
    if query.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::field("q", "at most 200 characters"));
    }
    if query.prefix.as_ref().is_some_and(|p| p.chars().count() > 50) {
        return Err(ApiError::field("prefix", "at most 50 characters"));
    }
    let limit = PageParams { limit: query.limit, cursor: None }.limit()?;
    let items =
        service::search_memory(&state, id, caller.id, namespace.as_str(), query.q.as_deref(), query.prefix.as_deref(), limit).await?;
    Ok(axum::Json(serde_json::json!({"items": items})))
}

/// The caller's Claude tokens today against their daily budget, and by project.
#[utoipa::path(get, path = "/v1/swarms/usage", tag = "swarms", security(("bearer" = [])),
    responses((status = 200, description = "day, tokens, reserved, budget, remaining, by_project")))]
pub async fn usage(State(state): State<AppState>, caller: AuthUser) -> Result<axum::Json<Json>, ApiError> {
    service::usage(&state, caller.id).await.map(axum::Json)
}
