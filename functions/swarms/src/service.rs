//! The swarms group's use cases and their policy: members read swarms, agents, orchestrations,
//! votes and memory; contributors create swarms, add, scale and steer agents, orchestrate,
//! train, vote and write memory; maintainers delete swarms. Writes carry the role in their own
//! statements; when one changes nothing, the service finds out why.

use serde_json::{Value as Json, json};
use tui_shared::{
    ApiError, AppState, ErrorCode,
    claude::ClaudeSettings,
    db::Database,
    domain::ProjectRole,
    membership,
    ratelimit::Rule,
    repo::{Page, encode_position},
    search, time,
};
use uuid::Uuid;

use tui_swarms_agents::{
    config::{MAX_TOKENS_LIMIT, SwarmsConfig},
    consensus,
    model::{
        Agent, AgentMetrics, AgentStatus, AgentType, Algorithm, Orchestration, PatternType, Priority, Strategy, Swarm, SwarmStrategy,
        Topology, classify,
    },
    patterns,
};

use crate::repo;

fn now(state: &AppState) -> String {
    time::format(state.clock.now())
}

async fn why(state: &AppState, project: Uuid, user: Uuid, role: ProjectRole, otherwise: ApiError) -> Result<ApiError, ApiError> {
    Ok(membership::why_refused(state.db.as_ref(), project, user, role).await?.unwrap_or(otherwise))
}

pub async fn create(
    state: &AppState,
    project: Uuid,
    user: Uuid,
    name: String,
    topology: Topology,
    strategy: SwarmStrategy,
    max_agents: i64,
) -> Result<Swarm, ApiError> {
    let id = Uuid::now_v7();
    let most = state.section::<SwarmsConfig>()?.per_project;
    let statements = repo::create_swarm(id, project, user, &name, topology.as_str(), strategy.as_str(), max_agents, &now(state), most);
    let counts = state.db.batch(statements).await?;
    if !tui_shared::db::changed(&counts, 0) {
        let full = ApiError::conflict(format!("The project has its {most} swarms; delete one first."));
        return Err(why(state, project, user, ProjectRole::Contributor, full).await?);
    }
    visible(state, id, user).await
}

pub async fn visible(state: &AppState, id: Uuid, user: Uuid) -> Result<Swarm, ApiError> {
    repo::visible_swarm(state.db.as_ref(), id, user).await?.ok_or_else(ApiError::not_found)
}

pub async fn list(state: &AppState, project: Uuid, user: Uuid, after: Option<Uuid>, limit: usize) -> Result<Page<Swarm>, ApiError> {
    membership::require(state.db.as_ref(), project, user, ProjectRole::Viewer).await?;
    let items = repo::list_swarms(state.db.as_ref(), project, after, limit).await?;
    Ok(Page::from_overfetch(items, limit, |s| s.id))
}

pub async fn delete(state: &AppState, id: Uuid, user: Uuid) -> Result<(), ApiError> {
    let swarm = visible(state, id, user).await?;
    let counts = state.acting(user).batch(repo::delete_swarm(id, user)).await?;
    if !tui_shared::db::changed(&counts, 0) {
        return Err(why(state, swarm.project_id, user, ProjectRole::Maintainer, ApiError::not_found()).await?);
    }
    Ok(())
}

/// An agent to add: its type, name and capabilities.
pub struct NewAgent {
    pub agent_type: AgentType,
    pub name: Option<String>,
    pub capabilities: Vec<String>,
}

fn agents_json(agents: &[NewAgent], first_seq: i64) -> Json {
    agents
        .iter()
        .enumerate()
        .map(|(i, a)| {
            json!({
                "id": Uuid::now_v7(),
                "type": a.agent_type.as_str(),
                "name": a.name.clone().unwrap_or_else(|| format!("{}-{}", a.agent_type.as_str(), first_seq + i as i64)),
                "capabilities": json!(a.capabilities).to_string(),
            })
        })
        .collect()
}

pub async fn add_agent(state: &AppState, swarm: Uuid, user: Uuid, agent: NewAgent) -> Result<Agent, ApiError> {
    let current = visible(state, swarm, user).await?;
    let added = agents_json(std::slice::from_ref(&agent), current.active_agents + 1);
    let id: Uuid = added[0]["id"].as_str().and_then(|s| s.parse().ok()).ok_or_else(|| ApiError::internal("an agent without an id"))?;
    if state.acting(user).execute(repo::add_agents(swarm, user, &added, None, &now(state))).await? == 0 {
        let full = ApiError::conflict(format!("The swarm has its {} agents; scale it or raise max_agents.", current.max_agents));
        return Err(why(state, current.project_id, user, ProjectRole::Contributor, full).await?);
    }
    repo::agent_in(state.db.as_ref(), swarm, id).await?.ok_or_else(ApiError::not_found)
}

pub async fn agents(state: &AppState, swarm: Uuid, user: Uuid, after: Option<i64>, limit: usize) -> Result<Page<Agent>, ApiError> {
    visible(state, swarm, user).await?;
    let page = Page::from_overfetch_by(repo::agents(state.db.as_ref(), swarm, after, limit).await?, limit, |(seq, _)| encode_position(seq));
    Ok(Page { items: page.items.into_iter().map(|(_, agent)| agent).collect(), next_cursor: page.next_cursor })
}

pub async fn metrics(state: &AppState, agent: Uuid, user: Uuid) -> Result<AgentMetrics, ApiError> {
    repo::agent_metrics(state.db.as_ref(), agent, user).await?.ok_or_else(ApiError::not_found)
}

/// The types a scale-up adds, in turn: a coordinator first if there is none, then the kinds of
/// work most tasks have.
const ROSTER: &[AgentType] = &[
    AgentType::Coder,
    AgentType::Researcher,
    AgentType::Tester,
    AgentType::Reviewer,
    AgentType::Architect,
    AgentType::Analyst,
    AgentType::Documenter,
    AgentType::Optimizer,
    AgentType::Monitor,
    AgentType::Specialist,
];

/// Adds or retires agents until `target` are active. Retiring agents with work finish it first.
pub async fn scale(state: &AppState, swarm: Uuid, user: Uuid, target: i64) -> Result<(Swarm, Vec<Agent>), ApiError> {
    let current = visible(state, swarm, user).await?;
    if target > current.max_agents {
        return Err(ApiError::field("target_size", format!("at most the swarm's max_agents, {}", current.max_agents)));
    }
    let present = repo::present_agents(state.db.as_ref(), swarm).await?;
    let active: Vec<&Agent> = present.iter().filter(|a| matches!(a.status, AgentStatus::Idle | AgentStatus::Busy)).collect();
    let has_coordinator = active.iter().any(|a| a.agent_type == AgentType::Coordinator);
    let wanted = (target - active.len() as i64).max(0) as usize;
    let mut types: Vec<AgentType> = Vec::new();
    if !has_coordinator {
        types.push(AgentType::Coordinator);
    }
    types.extend(ROSTER.iter().cycle().take(wanted));
    types.truncate(wanted);
    let now = now(state);
    let db = state.acting(user);
    let changed = if types.is_empty() {
        db.execute(repo::retire_agents(swarm, user, target, &now)).await?
    } else {
        let new: Vec<NewAgent> =
            types.into_iter().map(|agent_type| NewAgent { agent_type, name: None, capabilities: Vec::new() }).collect();
        db.execute(repo::add_agents(swarm, user, &agents_json(&new, current.active_agents + 1), Some(target), &now)).await?
    };
    if changed == 0
        && let Some(refused) = membership::why_refused(state.db.as_ref(), current.project_id, user, ProjectRole::Contributor).await?
    {
        return Err(refused);
    }
    Ok((visible(state, swarm, user).await?, repo::present_agents(state.db.as_ref(), swarm).await?))
}

/// What an orchestration is asked to do.
pub struct Ask {
    pub task: String,
    pub strategy: Option<Strategy>,
    pub priority: Priority,
    pub dependencies: Vec<String>,
    pub model: Option<String>,
    pub max_tokens: Option<u32>,
}

fn default_strategy(strategy: SwarmStrategy) -> Strategy {
    match strategy {
        SwarmStrategy::Auto | SwarmStrategy::Specialized => Strategy::Parallel,
        SwarmStrategy::Balanced => Strategy::Balanced,
        SwarmStrategy::Adaptive => Strategy::Adaptive,
    }
}

/// Refuses a user whose tokens for today (used, and held for calls under way) leave no room for
/// a call of `max_tokens`.
async fn within_budget(state: &AppState, user: Uuid, max_tokens: u32) -> Result<(), ApiError> {
    let config = state.section::<SwarmsConfig>()?;
    let day = &now(state)[..10];
    let (used, held) = repo::usage_today(state.db.as_ref(), user, day).await?;
    if (used + held) as u64 + u64::from(max_tokens) > config.daily_tokens {
        let detail = format!("Your {} tokens for today are spent; the budget renews at 00:00 UTC.", config.daily_tokens);
        return Err(ApiError::new(ErrorCode::BudgetExhausted, detail));
    }
    Ok(())
}

pub async fn orchestrate(state: &AppState, swarm: Uuid, user: Uuid, ask: Ask) -> Result<Orchestration, ApiError> {
    let current = visible(state, swarm, user).await?;
    membership::require(state.db.as_ref(), current.project_id, user, ProjectRole::Contributor).await?;
    let config = state.section::<SwarmsConfig>()?;
    let settings = state.section::<ClaudeSettings>()?;
    if let Some(model) = &ask.model
        && !settings.models.contains(model)
    {
        return Err(ApiError::field("model", format!("not one this deployment offers ({})", settings.models.join(", "))));
    }
    let max_tokens = ask.max_tokens.unwrap_or(config.max_tokens).min(MAX_TOKENS_LIMIT);
    within_budget(state, user, max_tokens).await?;
    let rule = Rule { limit: config.orchestrations_per_minute, window: std::time::Duration::from_secs(60) };
    tui_shared::ratelimit::check(state.limiter.as_ref(), &[(format!("orchestrate:{user}"), rule)], time::to_unix_ms(state.clock.now()))
        .await?;
    let strategy = ask.strategy.unwrap_or(default_strategy(current.strategy));
    let id = Uuid::now_v7();
    let statements = repo::orchestrate(
        id,
        swarm,
        user,
        &ask.task,
        strategy.as_str(),
        ask.priority.as_str(),
        &json!(ask.dependencies).to_string(),
        ask.model.as_deref().unwrap_or(&settings.model),
        i64::from(max_tokens),
        config.step_timeout.as_secs(),
        &now(state),
    );
    let counts = state.db.batch(statements).await?;
    if !tui_shared::db::changed(&counts, 0) {
        let empty = ApiError::conflict("The swarm has no active agents; add some or scale it first.");
        return Err(why(state, current.project_id, user, ProjectRole::Contributor, empty).await?);
    }
    orchestration(state, id, user).await
}

pub async fn orchestration(state: &AppState, id: Uuid, user: Uuid) -> Result<Orchestration, ApiError> {
    repo::visible_orchestration(state.db.as_ref(), id, user).await?.ok_or_else(ApiError::not_found)
}

/// Fits a model of `pattern_type` on the project's outcomes and stores it as its next version.
pub async fn train(state: &AppState, swarm: Uuid, user: Uuid, pattern_type: PatternType) -> Result<Json, ApiError> {
    let current = visible(state, swarm, user).await?;
    membership::require(state.db.as_ref(), current.project_id, user, ProjectRole::Contributor).await?;
    let outcomes = repo::outcomes(state.db.as_ref(), current.project_id).await?;
    if outcomes.is_empty() {
        return Err(ApiError::conflict("No agent outcomes are recorded in this project yet: orchestrate first."));
    }
    let (model, metrics) = patterns::train(pattern_type, &outcomes);
    let id = Uuid::now_v7();
    let parameters = serde_json::to_string(&model).map_err(ApiError::internal)?;
    let metrics_json = serde_json::to_value(&metrics).map_err(ApiError::internal)?;
    let stored =
        repo::store_model(state.db.as_ref(), id, swarm, user, pattern_type.as_str(), &parameters, &metrics_json.to_string(), &now(state))
            .await?;
    let Some(version) = stored else {
        return Err(why(state, current.project_id, user, ProjectRole::Contributor, ApiError::not_found()).await?);
    };
    let cells: Json = model
        .cells
        .iter()
        .map(|(k, (a, b))| (k.clone(), json!({"alpha": a, "beta": b, "chance": a / (a + b)})))
        .collect::<serde_json::Map<_, _>>()
        .into();
    Ok(json!({
        "model_id": id, "project_id": current.project_id, "pattern_type": pattern_type, "version": version,
        "model": "beta_posteriors", "metrics": metrics_json, "parameters": cells,
    }))
}

/// The agent type the project's newest model picks for a task, with its confidence (the chance
/// of a good result) and the next best; without a model, every type is even and the task
/// kind's own type leads.
pub async fn predict(state: &AppState, swarm: Uuid, user: Uuid, task: &str, pattern_type: PatternType) -> Result<Json, ApiError> {
    let current = visible(state, swarm, user).await?;
    let found = repo::model(state.db.as_ref(), current.project_id, pattern_type.as_str()).await?;
    let (version, model) = match found {
        Some((version, model)) => (Some(version), model),
        None => (None, patterns::Model::default()),
    };
    let kind = classify(task);
    let ranked = model.rank(kind);
    let alternatives: Vec<Json> = ranked[1..4].iter().map(|(t, p)| json!({"agent_type": t, "confidence": p})).collect();
    Ok(json!({
        "agent_type": ranked[0].0, "confidence": ranked[0].1, "alternatives": alternatives, "task_kind": kind,
        "pattern_type": pattern_type, "model_version": version,
    }))
}

pub async fn open_vote(
    state: &AppState,
    swarm: Uuid,
    user: Uuid,
    proposal: &str,
    algorithm: Algorithm,
    minutes: f64,
) -> Result<Json, ApiError> {
    let current = visible(state, swarm, user).await?;
    let (id, run) = (Uuid::now_v7(), Uuid::now_v7());
    let now_at = state.clock.now();
    let deadline = time::format(now_at + std::time::Duration::from_secs_f64(minutes * 60.0));
    let counts =
        state.db.batch(repo::open_vote(id, run, swarm, user, proposal, algorithm.as_str(), &deadline, &time::format(now_at))).await?;
    if !tui_shared::db::changed(&counts, 0) {
        let too_few = if algorithm == Algorithm::Byzantine {
            ApiError::conflict(format!(
                "A byzantine vote needs at least {} voters (3f + 1 with f = 1); the swarm has {} active agents.",
                consensus::BYZANTINE_MIN_VOTERS,
                current.active_agents
            ))
        } else {
            ApiError::conflict("The swarm has no active agents to vote.")
        };
        return Err(why(state, current.project_id, user, ProjectRole::Contributor, too_few).await?);
    }
    vote(state, id, user).await
}

pub async fn vote(state: &AppState, id: Uuid, user: Uuid) -> Result<Json, ApiError> {
    repo::visible_vote(state.db.as_ref(), id, user).await?.ok_or_else(ApiError::not_found)
}

pub async fn cast(state: &AppState, id: Uuid, user: Uuid, agent: Uuid, value: &str, confidence: f64) -> Result<Json, ApiError> {
    let current = vote(state, id, user).await?;
    if state.db.execute(repo::cast(id, agent, user, value, confidence, &now(state))).await? > 0 {
        return vote(state, id, user).await;
    }
    let swarm = current["swarm_id"].as_str().and_then(|s| s.parse().ok()).ok_or_else(ApiError::not_found)?;
    let swarm = visible(state, swarm, user).await?;
    if let Some(refused) = membership::why_refused(state.db.as_ref(), swarm.project_id, user, ProjectRole::Contributor).await? {
        return Err(refused);
    }
    let now = now(state);
    if current["status"] != "open" || current["deadline"].as_str().is_some_and(|d| d <= now.as_str()) {
        return Err(ApiError::conflict("The vote is closed."));
    }
    let voted = current["votes"].as_array().is_some_and(|v| v.iter().any(|v| v["agent_id"] == agent.to_string()));
    if voted {
        return Err(ApiError::conflict("That agent has voted already."));
    }
    Err(ApiError::field("agent_id", "not one of the vote's voters (the swarm's active agents when it opened)"))
}

/// The most bytes of one memory value, as JSON.
pub const MAX_MEMORY_VALUE: usize = 64 * 1024;

pub async fn put_memory(
    state: &AppState,
    swarm: Uuid,
    user: Uuid,
    namespace: &str,
    key: &str,
    value: &Json,
    ttl_s: Option<u32>,
) -> Result<Json, ApiError> {
    let current = visible(state, swarm, user).await?;
    let now_at = state.clock.now();
    let expires = ttl_s.map(|s| time::format(now_at + std::time::Duration::from_secs(s.into())));
    let text = match value {
        Json::String(text) => text.clone(),
        other => other.to_string(),
    };
    let (value, body) = (value.to_string(), search::indexed_words(&format!("{key} {text}")));
    let config = state.section::<SwarmsConfig>()?;
    let limits = repo::MemoryLimits {
        swarm_entries: config.memory_entries,
        swarm_bytes: config.memory_bytes,
        user_entries: config.user_memory_entries,
        user_bytes: config.user_memory_bytes,
    };
    let statement = repo::put_memory(swarm, user, namespace, key, &value, &body, expires.as_deref(), &time::format(now_at), limits);
    if state.db.execute(statement).await? == 0 {
        if let Some(refused) = membership::why_refused(state.db.as_ref(), current.project_id, user, ProjectRole::Contributor).await? {
            return Err(refused);
        }
        let size = value.len() + body.len();
        return Err(if repo::user_has_room(state.db.as_ref(), (swarm, namespace, key), user, size, limits).await? {
            ApiError::conflict(format!(
                "The swarm's memory is full ({} entries, {} bytes at most); delete some first.",
                limits.swarm_entries, limits.swarm_bytes
            ))
        } else {
            ApiError::conflict(format!(
                "Your memory across swarms is full ({} entries, {} bytes at most); delete some of what you wrote first.",
                limits.user_entries, limits.user_bytes
            ))
        });
    }
    get_memory(state, swarm, user, namespace, key).await
}

pub async fn get_memory(state: &AppState, swarm: Uuid, user: Uuid, namespace: &str, key: &str) -> Result<Json, ApiError> {
    visible(state, swarm, user).await?;
    repo::get_memory(state.db.as_ref(), swarm, namespace, key, &now(state)).await?.ok_or_else(ApiError::not_found)
}

pub async fn delete_memory(state: &AppState, swarm: Uuid, user: Uuid, namespace: &str, key: &str) -> Result<(), ApiError> {
    let current = visible(state, swarm, user).await?;
    if state.db.execute(repo::delete_memory(swarm, user, namespace, key, &now(state))).await? == 0 {
        return Err(why(state, current.project_id, user, ProjectRole::Contributor, ApiError::not_found()).await?);
    }
    Ok(())
}

pub async fn search_memory(
    state: &AppState,
    swarm: Uuid,
    user: Uuid,
    namespace: &str,
    query: Option<&str>,
    prefix: Option<&str>,
    limit: usize,
) -> Result<Vec<Json>, ApiError> {
    visible(state, swarm, user).await?;
    repo::search_memory(state.db.as_ref(), swarm, namespace, query, prefix, &now(state), limit).await
}

/// The caller's tokens today, against their budget, and by project over the day.
pub async fn usage(state: &AppState, user: Uuid) -> Result<Json, ApiError> {
    let config = state.section::<SwarmsConfig>()?;
    let now = now(state);
    let day = &now[..10];
    let (used, held) = repo::usage_today(state.db.as_ref(), user, day).await?;
    let projects: Vec<Json> = repo::usage_by_project(state.db.as_ref(), user, day)
        .await?
        .into_iter()
        .map(|(project, calls, input, output)| json!({"project_id": project, "calls": calls, "input_tokens": input, "output_tokens": output}))
        .collect();
    Ok(json!({
        "day": day, "tokens": used, "reserved": held, "budget": config.daily_tokens,
        "remaining": config.daily_tokens.saturating_sub((used + held) as u64), "by_project": projects,
    }))
}
