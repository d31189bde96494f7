//! The swarms group's SQL. Writes a role allows carry the role in their own `WHERE`, and
//! decisions about the swarm's agents (how many there are, which retire) are made inside the
//! statement that acts on them.

use serde::Deserialize;
use serde_json::{Value as Json, json};
use tui_shared::{
    ApiError,
    db::{Database, DbResult, Operand, Param, Query, Row, Statement, Value},
    domain::ProjectRole,
    membership::holds_at_least,
    search, stmt,
};
use uuid::Uuid;

use tui_swarms_agents::{
    consensus,
    model::{
        Agent, AgentMetrics, AgentStatus, AgentType, Call, Orchestration, Priority, Strategy, Subtask, Swarm, SwarmStrategy, TaskKind,
        Topology, strings,
    },
    patterns::{self, Model},
};

fn json(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or(Json::Null)
}

const ACTIVE: &str = "status IN ('idle', 'busy')";

// ---- swarms

const SWARM: &str = "SELECT s.id, s.project_id, s.name, s.topology, s.strategy, s.max_agents, \
                     (SELECT count(*) FROM swarm_agents a WHERE a.swarm_id = s.id AND a.status != 'retired') AS active_agents, \
                     s.version, s.input_tokens, s.output_tokens, s.created_by, s.created_at, s.updated_at FROM swarms s";

#[derive(Deserialize)]
struct SwarmRow {
    id: Uuid,
    project_id: Uuid,
    name: String,
    topology: Topology,
    strategy: SwarmStrategy,
    max_agents: i64,
    active_agents: i64,
    version: i64,
    input_tokens: i64,
    output_tokens: i64,
    created_by: Uuid,
    created_at: String,
    updated_at: String,
}

fn swarm(row: &Row) -> DbResult<Swarm> {
    let SwarmRow {
        id,
        project_id,
        name,
        topology,
        strategy,
        max_agents,
        active_agents,
        version,
        input_tokens,
        output_tokens,
        created_by,
        created_at,
        updated_at,
    } = row.decode()?;
    Ok(Swarm {
        id,
        project_id,
        name,
        topology,
        strategy,
        max_agents,
        active_agents,
        version,
        input_tokens,
        output_tokens,
        created_by,
        created_at,
        updated_at,
    })
}

/// A swarm and the workflow whose runs are its orchestrations and votes, if `user` is a
/// contributor of the project.
#[expect(clippy::too_many_arguments, reason = "one row's columns")]
pub fn create_swarm(
    id: Uuid,
    project: Uuid,
    user: Uuid,
    name: &str,
    topology: &str,
    strategy: &str,
    max_agents: i64,
    now: &str,
    per_project: u32,
) -> Vec<Statement> {
    let insert = {
        let mut q = Query::default();
        let (id, project, user, name, topology) = (q.bind(id), q.bind(project), q.bind(user), q.bind(name), q.bind(topology));
        let (strategy, max_agents, now, per_project) = (q.bind(strategy), q.bind(max_agents), q.bind(now), q.bind(per_project));
        let may = holds_at_least(project, user, ProjectRole::Contributor);
        q.push(format!(
            "INSERT INTO swarms (id, project_id, name, topology, strategy, max_agents, created_by, created_at, updated_at) \
             SELECT {id}, {project}, {name}, {topology}, {strategy}, {max_agents}, {user}, {now}, {now} \
             WHERE {may} AND (SELECT count(*) FROM swarms WHERE project_id = {project}) < {per_project}"
        ));
        q.finish()
    };
    vec![
        insert,
        stmt!(
            "INSERT INTO workflows (id, project_id, name, version, created_by, created_at, updated_at, swarm_id) \
             SELECT id, project_id, 'swarm ' || name, 1, created_by, created_at, created_at, id FROM swarms WHERE id = ?1",
            id
        ),
        stmt!(
            "INSERT INTO workflow_versions (workflow_id, version, steps, created_by, created_at) \
             SELECT id, 1, '[]', created_by, created_at FROM workflows WHERE id = ?1",
            id
        ),
    ]
}

pub async fn visible_swarm(db: &dyn Database, id: Uuid, user: Uuid) -> Result<Option<Swarm>, ApiError> {
    let sql = format!("{SWARM} JOIN project_members m ON m.project_id = s.project_id AND m.user_id = ?2 WHERE s.id = ?1");
    Ok(db.query_opt(stmt!(sql, id, user)).await?.map(|row| swarm(&row)).transpose()?)
}

pub async fn list_swarms(db: &dyn Database, project: Uuid, after: Option<Uuid>, limit: usize) -> Result<Vec<Swarm>, ApiError> {
    let sql = format!("{SWARM} WHERE s.project_id = ?1 AND (?2 IS NULL OR s.id < ?2) ORDER BY s.id DESC LIMIT ?3");
    let rows = db.query(stmt!(sql, project, after.map_or(Value::Null, Value::from), (limit + 1) as i64)).await?;
    tui_shared::repo::decode(rows, swarm)
}

/// Deletes a swarm (maintainers), then its workflow: its runs, their jobs, with it.
pub fn delete_swarm(id: Uuid, user: Uuid) -> Vec<Statement> {
    let delete = {
        let mut q = Query::default();
        let (id, user) = (q.bind(id), q.bind(user));
        let may = holds_at_least(Operand::Column("swarms.project_id"), user, ProjectRole::Maintainer);
        q.push(format!("DELETE FROM swarms WHERE id = {id} AND {may}"));
        q.finish()
    };
    vec![delete, stmt!("DELETE FROM workflows WHERE id = ?1 AND swarm_id = ?1 AND NOT EXISTS (SELECT 1 FROM swarms WHERE id = ?1)", id)]
}

// ---- agents

const AGENT: &str = "SELECT a.id, a.swarm_id, a.seq, a.type, a.name, a.capabilities, a.status, a.load, a.created_at FROM swarm_agents a";

#[derive(Deserialize)]
struct AgentRow {
    id: Uuid,
    swarm_id: Uuid,
    #[serde(rename = "type")]
    agent_type: AgentType,
    name: String,
    capabilities: String,
    status: AgentStatus,
    load: i64,
    created_at: String,
}

fn agent(row: &Row) -> DbResult<Agent> {
    let AgentRow { id, swarm_id, agent_type, name, capabilities, status, load, created_at } = row.decode()?;
    Ok(Agent { id, swarm_id, agent_type, name, capabilities: strings(&capabilities), status, load, created_at })
}

/// Adds agents (`[{id, type, name, capabilities}]`, in order) to a swarm, if `user` is a
/// contributor, as many as fit under its `max_agents`; up to `target` active agents when
/// given. One statement counts and adds.
pub fn add_agents(swarm: Uuid, user: Uuid, agents: &Json, target: Option<i64>, now: &str) -> Statement {
    let mut q = Query::default();
    let (swarm, user, agents, now, target) = (q.bind(swarm), q.bind(user), q.bind(agents.to_string()), q.bind(now), q.bind(target));
    let may = holds_at_least(Operand::Column("s.project_id"), user, ProjectRole::Contributor);
    q.push(format!(
        "INSERT INTO swarm_agents (id, swarm_id, seq, type, name, capabilities, status, created_at, updated_at) \
         SELECT json_extract(j.value, '$.id'), s.id, \
             (SELECT coalesce(max(seq), 0) FROM swarm_agents WHERE swarm_id = s.id) + 1 + j.key, \
             json_extract(j.value, '$.type'), json_extract(j.value, '$.name'), json_extract(j.value, '$.capabilities'), 'idle', \
             {now}, {now} \
         FROM swarms s, json_each({agents}) j WHERE s.id = {swarm} AND {may} \
             AND j.key < min(coalesce({target}, s.max_agents), s.max_agents) \
                 - (SELECT count(*) FROM swarm_agents WHERE swarm_id = s.id AND status != 'retired')"
    ));
    q.finish()
}

/// Retires agents down to `target` active ones, if `user` is a contributor: idle ones first,
/// the latest added first; one with work under way takes no more and retires when it is done.
pub fn retire_agents(swarm: Uuid, user: Uuid, target: i64, now: &str) -> Statement {
    let mut q = Query::default();
    let (swarm, user, target, now) = (q.bind(swarm), q.bind(user), q.bind(target), q.bind(now));
    let may = holds_at_least(Operand::Column("s.project_id"), user, ProjectRole::Contributor);
    q.push(format!(
        "UPDATE swarm_agents SET status = CASE WHEN load = 0 THEN 'retired' ELSE 'retiring' END, updated_at = {now} \
         WHERE id IN (SELECT a.id FROM swarm_agents a JOIN swarms s ON s.id = a.swarm_id \
             WHERE a.swarm_id = {swarm} AND a.{ACTIVE} AND {may} \
             ORDER BY a.load, a.seq DESC \
             LIMIT max(0, (SELECT count(*) FROM swarm_agents WHERE swarm_id = {swarm} AND {ACTIVE}) - {target}))"
    ));
    q.finish()
}

/// The agents of a swarm that have not retired, in their order: at most its `max_agents`, which
/// [`add_agents`] holds to.
pub async fn present_agents(db: &dyn Database, swarm: Uuid) -> Result<Vec<Agent>, ApiError> {
    let rows = db.query(stmt!(format!("{AGENT} WHERE a.swarm_id = ?1 AND a.status != 'retired' ORDER BY a.seq"), swarm)).await?;
    tui_shared::repo::decode(rows, agent)
}

/// A swarm's agents, retired ones included, each with its place, after the one at `after`,
/// fetching one more than `limit`: retired agents stay for their metrics, so a swarm scaled up
/// and down again and again has ever more of them.
pub async fn agents(db: &dyn Database, swarm: Uuid, after: Option<i64>, limit: usize) -> Result<Vec<(i64, Agent)>, ApiError> {
    let rows = db
        .query(stmt!(
            format!("{AGENT} WHERE a.swarm_id = ?1 AND (?2 IS NULL OR a.seq > ?2) ORDER BY a.seq LIMIT ?3"),
            swarm,
            after,
            i64::try_from(limit + 1).unwrap_or(i64::MAX)
        ))
        .await?;
    tui_shared::repo::decode(rows, |row| Ok((row.get("seq")?, agent(row)?)))
}

pub async fn agent_in(db: &dyn Database, swarm: Uuid, id: Uuid) -> Result<Option<Agent>, ApiError> {
    let row = db.query_opt(stmt!(format!("{AGENT} WHERE a.swarm_id = ?1 AND a.id = ?2"), swarm, id)).await?;
    Ok(row.as_ref().map(agent).transpose()?)
}

#[derive(Deserialize)]
struct MetricsRow {
    id: Uuid,
    #[serde(rename = "type")]
    agent_type: AgentType,
    status: AgentStatus,
    load: i64,
    calls: i64,
    failed_calls: i64,
    completed: i64,
    failed: i64,
    input_tokens: i64,
    output_tokens: i64,
    latency_ms: i64,
}

pub async fn agent_metrics(db: &dyn Database, id: Uuid, user: Uuid) -> Result<Option<AgentMetrics>, ApiError> {
    let row = db
        .query_opt(stmt!(
            "SELECT a.id, a.type, a.status, a.load, a.calls, a.failed_calls, a.completed, a.failed, a.input_tokens, a.output_tokens, \
                 a.latency_ms FROM swarm_agents a JOIN swarms s ON s.id = a.swarm_id \
                 JOIN project_members m ON m.project_id = s.project_id AND m.user_id = ?2 WHERE a.id = ?1",
            id,
            user
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let MetricsRow {
        id: agent_id,
        agent_type,
        status,
        load,
        calls,
        failed_calls,
        completed,
        failed,
        input_tokens,
        output_tokens,
        latency_ms,
    } = row.decode()?;
    let finished = completed + failed;
    Ok(Some(AgentMetrics {
        agent_id,
        agent_type,
        status,
        load,
        calls,
        failed_calls,
        completed,
        failed,
        input_tokens,
        output_tokens,
        mean_latency_ms: if calls > failed_calls { latency_ms as f64 / (calls - failed_calls) as f64 } else { 0.0 },
        success_rate: (finished > 0).then(|| completed as f64 / finished as f64),
    }))
}

// ---- orchestrations

/// Starts an orchestration: a run of the swarm's workflow whose one step, the plan, is queued
/// with it; if `user` is a contributor and the swarm has an agent to do the work.
#[expect(clippy::too_many_arguments, reason = "one row's columns")]
pub fn orchestrate(
    id: Uuid,
    swarm: Uuid,
    user: Uuid,
    task: &str,
    strategy: &str,
    priority: &str,
    dependencies: &str,
    model: &str,
    max_tokens: i64,
    timeout_s: u64,
    now: &str,
) -> Vec<Statement> {
    let spec = json!({"key": "plan", "kind": "agent", "needs": [], "input": {"op": "plan"},
        "retry": {"limit": 2, "backoff": "exponential", "delay_s": 2.0}, "timeout_s": timeout_s});
    let run = {
        let mut q = Query::default();
        let (id, swarm, user, task, now) = (q.bind(id), q.bind(swarm), q.bind(user), q.bind(task), q.bind(now));
        let may = holds_at_least(Operand::Column("s.project_id"), user, ProjectRole::Contributor);
        q.push(format!(
            "INSERT INTO workflow_runs (id, workflow_id, version, project_id, status, input, created_by, created_at, updated_at) \
             SELECT {id}, s.id, 1, s.project_id, 'running', json_object('task', {task}), {user}, {now}, {now} FROM swarms s \
             WHERE s.id = {swarm} AND {may} AND EXISTS (SELECT 1 FROM swarm_agents a WHERE a.swarm_id = s.id AND a.{ACTIVE})"
        ));
        q.finish()
    };
    vec![
        run,
        stmt!(
            "INSERT INTO orchestrations (id, swarm_id, project_id, task, strategy, priority, dependencies, model, max_tokens, status, \
                 created_by, created_at, updated_at) \
             SELECT r.id, ?2, r.project_id, ?3, ?4, ?5, ?6, ?7, ?8, 'planning', r.created_by, r.created_at, r.created_at \
             FROM workflow_runs r WHERE r.id = ?1",
            id,
            swarm,
            task,
            strategy,
            priority,
            dependencies,
            model,
            max_tokens
        ),
        stmt!(
            "INSERT INTO run_steps (run_id, key, position, spec, kind, state, waiting_on, updated_at) \
             SELECT id, 'plan', 0, ?2, 'agent', 'ready', 0, created_at FROM workflow_runs WHERE id = ?1",
            id,
            spec.to_string()
        ),
        stmt!(
            "INSERT INTO jobs (run_id, step_key, project_id, due_at) SELECT id, 'plan', project_id, created_at FROM workflow_runs WHERE id = ?1",
            id
        ),
    ]
}

#[derive(Deserialize)]
struct OrchestrationRow {
    id: Uuid,
    swarm_id: Uuid,
    task: String,
    strategy: Strategy,
    priority: Priority,
    model: String,
    max_tokens: i64,
    status: String,
    plan: Option<String>,
    result: Option<String>,
    error: Option<String>,
    input_tokens: i64,
    output_tokens: i64,
    created_by: Uuid,
    created_at: String,
    updated_at: String,
    finished_at: Option<String>,
}

#[derive(Deserialize)]
struct SubtaskRow {
    step_key: String,
    role: String,
    title: String,
    description: String,
    kind: TaskKind,
    format: String,
    sections: String,
    agent_id: Uuid,
    #[serde(rename = "type")]
    agent_type: AgentType,
    needs: String,
    status: String,
    result: Option<String>,
    validation_errors: Option<String>,
    calls: i64,
    input_tokens: i64,
    output_tokens: i64,
}

#[derive(Deserialize)]
struct CallRow {
    purpose: String,
    step_key: String,
    agent_id: Option<Uuid>,
    model: String,
    ok: bool,
    attempts: i64,
    input_tokens: i64,
    output_tokens: i64,
    latency_ms: i64,
    error: Option<String>,
    created_at: String,
}

pub async fn visible_orchestration(db: &dyn Database, id: Uuid, user: Uuid) -> Result<Option<Orchestration>, ApiError> {
    let row = db
        .query_opt(stmt!(
            "SELECT o.id, o.swarm_id, o.task, o.strategy, o.priority, o.model, o.max_tokens, o.status, o.plan, o.result, o.error, \
                 o.input_tokens, o.output_tokens, o.created_by, o.created_at, o.updated_at, o.finished_at \
             FROM orchestrations o JOIN project_members m ON m.project_id = o.project_id AND m.user_id = ?2 WHERE o.id = ?1",
            id,
            user
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let o: OrchestrationRow = row.decode()?;
    let rows = db
        .query(stmt!(
            "SELECT st.step_key, st.role, st.title, st.description, st.kind, st.format, st.sections, st.agent_id, a.type, \
                 (SELECT json_group_array(needs) FROM run_step_needs n WHERE n.run_id = st.orchestration_id AND n.key = st.step_key) \
                     AS needs, \
                 st.status, st.result, st.validation_errors, st.calls, st.input_tokens, st.output_tokens \
             FROM orchestration_subtasks st JOIN swarm_agents a ON a.id = st.agent_id WHERE st.orchestration_id = ?1 ORDER BY st.position",
            o.id
        ))
        .await?;
    let subtasks = tui_shared::repo::decode(rows, |row| {
        let st: SubtaskRow = row.decode()?;
        let result = st.result.map(|r| if st.format == "json" && st.status == "completed" { json(&r) } else { Json::String(r) });
        Ok(Subtask {
            key: st.step_key,
            role: st.role,
            title: st.title,
            description: st.description,
            kind: st.kind,
            format: st.format,
            sections: strings(&st.sections),
            agent_id: st.agent_id,
            agent_type: st.agent_type,
            needs: strings(&st.needs),
            status: st.status,
            result,
            validation_errors: st.validation_errors.map(|e| strings(&e)),
            calls: st.calls,
            input_tokens: st.input_tokens,
            output_tokens: st.output_tokens,
        })
    })?;
    let rows = db
        .query(stmt!(
            "SELECT purpose, step_key, agent_id, model, ok, attempts, input_tokens, output_tokens, latency_ms, error, created_at \
             FROM claude_calls WHERE orchestration_id = ?1 ORDER BY id",
            o.id
        ))
        .await?;
    let calls = tui_shared::repo::decode(rows, |row| {
        let c: CallRow = row.decode()?;
        Ok(Call {
            purpose: c.purpose,
            step: c.step_key,
            agent_id: c.agent_id,
            model: c.model,
            ok: c.ok,
            attempts: c.attempts,
            input_tokens: c.input_tokens,
            output_tokens: c.output_tokens,
            latency_ms: c.latency_ms,
            error: c.error,
            created_at: c.created_at,
        })
    })?;
    Ok(Some(Orchestration {
        id: o.id,
        swarm_id: o.swarm_id,
        task: o.task,
        strategy: o.strategy,
        priority: o.priority,
        model: o.model,
        max_tokens: o.max_tokens,
        status: o.status,
        plan: o.plan.as_deref().map(json),
        subtasks,
        calls,
        result: o.result,
        error: o.error,
        input_tokens: o.input_tokens,
        output_tokens: o.output_tokens,
        created_by: o.created_by,
        created_at: o.created_at,
        updated_at: o.updated_at,
        finished_at: o.finished_at,
    }))
}

/// A user's tokens today: used, and held for calls under way.
pub async fn usage_today(db: &dyn Database, user: Uuid, day: &str) -> Result<(i64, i64), ApiError> {
    let row = db.query_opt(stmt!("SELECT tokens, reserved FROM claude_usage WHERE user_id = ?1 AND day = ?2", user, day)).await?;
    Ok(row.map(|row| row.decode()).transpose()?.unwrap_or((0, 0)))
}

/// A user's tokens by project, over their calls since `since`.
pub async fn usage_by_project(db: &dyn Database, user: Uuid, since: &str) -> Result<Vec<(Uuid, i64, i64, i64)>, ApiError> {
    let rows = db
        .query(stmt!(
            "SELECT project_id, count(*) AS calls, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens \
             FROM claude_calls WHERE user_id = ?1 AND created_at >= ?2 GROUP BY project_id ORDER BY project_id",
            user,
            since
        ))
        .await?;
    Ok(tui_shared::db::decode_all(&rows)?)
}

// ---- learned assignment

/// The most outcomes a model is fitted on: the newest.
const MAX_OUTCOMES: i64 = 10_000;

#[derive(Deserialize)]
struct OutcomeRow {
    id: i64,
    agent_type: AgentType,
    task_kind: TaskKind,
    valid: bool,
    tokens: i64,
}

pub async fn outcomes(db: &dyn Database, project: Uuid) -> Result<Vec<patterns::Outcome>, ApiError> {
    let rows = db
        .query(stmt!(
            "SELECT id, agent_type, task_kind, valid, tokens FROM (SELECT * FROM agent_outcomes WHERE project_id = ?1 ORDER BY id DESC LIMIT ?2) \
             ORDER BY id",
            project,
            MAX_OUTCOMES
        ))
        .await?;
    tui_shared::repo::decode(rows, |row| {
        let OutcomeRow { id, agent_type, task_kind, valid, tokens } = row.decode()?;
        Ok(patterns::Outcome { id, agent_type, kind: task_kind, valid, tokens })
    })
}

/// Stores a model as the next version of its type in the swarm's project, if `user` is a
/// contributor; returns the version.
#[expect(clippy::too_many_arguments, reason = "one row's columns")]
pub async fn store_model(
    db: &dyn Database,
    id: Uuid,
    swarm: Uuid,
    user: Uuid,
    pattern_type: &str,
    parameters: &str,
    metrics: &str,
    now: &str,
) -> Result<Option<i64>, ApiError> {
    let mut q = Query::default();
    let (id, swarm, user, pattern_type) = (q.bind(id), q.bind(swarm), q.bind(user), q.bind(pattern_type));
    let (parameters, metrics, now) = (q.bind(parameters), q.bind(metrics), q.bind(now));
    let may = holds_at_least(Operand::Column("s.project_id"), user, ProjectRole::Contributor);
    q.push(format!(
        "INSERT INTO pattern_models (id, project_id, swarm_id, pattern_type, version, parameters, metrics, created_by, created_at) \
         SELECT {id}, s.project_id, s.id, {pattern_type}, \
             (SELECT coalesce(max(version), 0) + 1 FROM pattern_models WHERE project_id = s.project_id AND pattern_type = {pattern_type}), \
             {parameters}, {metrics}, {user}, {now} FROM swarms s WHERE s.id = {swarm} AND {may} RETURNING version"
    ));
    let row = db.query_opt(q.finish()).await?;
    Ok(row.map(|row| row.decode::<(i64,)>()).transpose()?.map(|(v,)| v))
}

/// The newest model of a type in a project: its version and parameters.
pub async fn model(db: &dyn Database, project: Uuid, pattern_type: &str) -> Result<Option<(i64, Model)>, ApiError> {
    let row = db
        .query_opt(stmt!(
            "SELECT version, parameters FROM pattern_models WHERE project_id = ?1 AND pattern_type = ?2 ORDER BY version DESC LIMIT 1",
            project,
            pattern_type
        ))
        .await?;
    Ok(row.map(|row| row.decode::<(i64, String)>()).transpose()?.and_then(|(v, p)| serde_json::from_str(&p).ok().map(|m| (v, m))))
}

// ---- consensus

/// Opens a vote: its closing run (one step, queued), the vote, and its voters (the swarm's
/// active agents now), if `user` is a contributor, the swarm has a voter, and a byzantine vote
/// has at least 3f + 1 with f = 1.
#[expect(clippy::too_many_arguments, reason = "one row's columns")]
pub fn open_vote(
    id: Uuid,
    run: Uuid,
    swarm: Uuid,
    user: Uuid,
    proposal: &str,
    algorithm: &str,
    deadline: &str,
    now: &str,
) -> Vec<Statement> {
    let voters = format!("(SELECT count(*) FROM swarm_agents a WHERE a.swarm_id = s.id AND a.{ACTIVE})");
    let spec = json!({"key": "vote", "kind": "agent", "needs": [], "input": {"op": "close_vote"}});
    let closing_run = {
        let mut q = Query::default();
        let (run, swarm, user, id, algorithm, now) = (q.bind(run), q.bind(swarm), q.bind(user), q.bind(id), q.bind(algorithm), q.bind(now));
        let may = holds_at_least(Operand::Column("s.project_id"), user, ProjectRole::Contributor);
        q.push(format!(
            "INSERT INTO workflow_runs (id, workflow_id, version, project_id, status, input, created_by, created_at, updated_at) \
             SELECT {run}, s.id, 1, s.project_id, 'running', json_object('consensus', {id}), {user}, {now}, {now} FROM swarms s \
             WHERE s.id = {swarm} AND {may} AND {voters} >= CASE WHEN {algorithm} = 'byzantine' THEN {} ELSE 1 END",
            consensus::BYZANTINE_MIN_VOTERS
        ));
        q.finish()
    };
    vec![
        closing_run,
        stmt!(
            format!(
                "INSERT INTO consensus (id, swarm_id, project_id, run_id, proposal, algorithm, voters, status, deadline, created_by, created_at) \
                 SELECT ?1, s.id, s.project_id, r.id, ?3, ?4, {voters}, 'open', ?5, r.created_by, r.created_at \
                 FROM workflow_runs r JOIN swarms s ON s.id = r.workflow_id WHERE r.id = ?2"
            ),
            id,
            run,
            proposal,
            algorithm,
            deadline
        ),
        stmt!(
            format!(
                "INSERT INTO consensus_voters (consensus_id, agent_id) SELECT c.id, a.id FROM consensus c JOIN swarm_agents a ON a.swarm_id = c.swarm_id AND a.{ACTIVE} WHERE c.id = ?1"
            ),
            id
        ),
        stmt!(
            "INSERT INTO run_steps (run_id, key, position, spec, kind, state, waiting_on, updated_at) \
             SELECT id, 'vote', 0, ?2, 'agent', 'ready', 0, created_at FROM workflow_runs WHERE id = ?1",
            run,
            spec.to_string()
        ),
        stmt!(
            "INSERT INTO jobs (run_id, step_key, project_id, due_at) SELECT id, 'vote', project_id, created_at FROM workflow_runs WHERE id = ?1",
            run
        ),
    ]
}

/// Casts `agent`'s vote, if `user` is a contributor, the vote is open and before its deadline,
/// and the agent is one of its voters who has not voted.
pub fn cast(consensus: Uuid, agent: Uuid, user: Uuid, vote: &str, confidence: f64, now: &str) -> Statement {
    let mut q = Query::default();
    let (consensus, agent, user) = (q.bind(consensus), q.bind(agent), q.bind(user));
    let (vote, confidence, now) = (q.bind(vote), q.bind(confidence), q.bind(now));
    let may = holds_at_least(Operand::Column("c.project_id"), user, ProjectRole::Contributor);
    q.push(format!(
        "INSERT INTO consensus_votes (consensus_id, agent_id, vote, confidence, cast_by, created_at) \
         SELECT c.id, {agent}, {vote}, {confidence}, {user}, {now} FROM consensus c \
         WHERE c.id = {consensus} AND c.status = 'open' AND c.deadline > {now} AND {may} \
         AND EXISTS (SELECT 1 FROM consensus_voters v WHERE v.consensus_id = c.id AND v.agent_id = {agent}) \
         ON CONFLICT (consensus_id, agent_id) DO NOTHING"
    ));
    q.finish()
}

pub async fn visible_vote(db: &dyn Database, id: Uuid, user: Uuid) -> Result<Option<Json>, ApiError> {
    let row = db
        .query_opt(stmt!(
            "SELECT json_object('id', c.id, 'swarm_id', c.swarm_id, 'proposal', c.proposal, 'algorithm', c.algorithm, 'voters', c.voters, \
                 'status', c.status, 'decision', c.decision, 'tally', json(c.tally), 'deadline', c.deadline, 'created_by', c.created_by, \
                 'created_at', c.created_at, 'closed_at', c.closed_at, \
                 'votes', (SELECT json_group_array(json_object('agent_id', v.agent_id, 'vote', v.vote, 'confidence', v.confidence, \
                     'created_at', v.created_at)) FROM consensus_votes v WHERE v.consensus_id = c.id)) AS vote, c.project_id \
             FROM consensus c JOIN project_members m ON m.project_id = c.project_id AND m.user_id = ?2 WHERE c.id = ?1",
            id,
            user
        ))
        .await?;
    Ok(row.map(|row| row.decode::<(String, Uuid)>()).transpose()?.map(|(j, _)| json(&j)))
}

// ---- memory

/// How much shared memory a write may fill: the swarm's quota, and its writer's bound across
/// every swarm.
#[derive(Debug, Clone, Copy)]
pub struct MemoryLimits {
    pub swarm_entries: u32,
    pub swarm_bytes: u32,
    pub user_entries: u32,
    pub user_bytes: u32,
}

/// An entry's size as both bounds count it: the bytes of its value and of its words
/// (`swarm_memory_usage`'s triggers in `migrations/0011_swarm_memory_search.sql` count the same).
const ENTRY_BYTES: &str = "length(CAST(value AS BLOB)) + length(CAST(body AS BLOB))";

/// Whether an entry of `size` bytes written at (`namespace`, `key`) by `user` fits the swarm's
/// memory and the user's, as two conditions. Expired entries count until they are pruned; a key
/// written again takes only its new size, and from the user's count only if they wrote it last
/// (an overwrite moves the entry to its new writer).
struct Room {
    swarm: String,
    user: String,
}

impl Room {
    fn new(q: &mut Query, at: (Param, Param, Param), user: Param, size: Param, limits: MemoryLimits) -> Self {
        let (swarm, namespace, key) = at;
        let (swarm_entries, swarm_bytes) = (q.bind(limits.swarm_entries), q.bind(limits.swarm_bytes));
        let (user_entries, user_bytes) = (q.bind(limits.user_entries), q.bind(limits.user_bytes));
        let entry = format!("FROM swarm_memory WHERE swarm_id = {swarm} AND namespace = {namespace} AND key = {key}");
        let usage = |column: &str| format!("coalesce((SELECT {column} FROM swarm_memory_usage WHERE user_id = {user}), 0)");
        Self {
            swarm: format!(
                "((SELECT count(*) FROM swarm_memory WHERE swarm_id = {swarm}) < {swarm_entries} OR EXISTS (SELECT 1 {entry})) \
                 AND (SELECT coalesce(sum({ENTRY_BYTES}), 0) FROM swarm_memory \
                     WHERE swarm_id = {swarm} AND NOT (namespace = {namespace} AND key = {key})) + {size} <= {swarm_bytes}"
            ),
            user: format!(
                "{} - EXISTS (SELECT 1 {entry} AND updated_by = {user}) < {user_entries} \
                 AND {} - coalesce((SELECT {ENTRY_BYTES} {entry} AND updated_by = {user}), 0) + {size} <= {user_bytes}",
                usage("entries"),
                usage("bytes"),
            ),
        }
    }
}

/// Writes an entry, if `user` is a contributor and both the swarm's memory and the user's have
/// room for it (see [`Room`]).
#[expect(clippy::too_many_arguments, reason = "one row's columns")]
pub fn put_memory(
    swarm: Uuid,
    user: Uuid,
    namespace: &str,
    key: &str,
    value: &str,
    body: &str,
    expires: Option<&str>,
    now: &str,
    limits: MemoryLimits,
) -> Statement {
    let mut q = Query::default();
    let size = q.bind((value.len() + body.len()) as i64);
    let (swarm, user, namespace, key, value) = (q.bind(swarm), q.bind(user), q.bind(namespace), q.bind(key), q.bind(value));
    let (body, expires, now) = (q.bind(body), q.bind(expires), q.bind(now));
    let may = holds_at_least(Operand::Column("s.project_id"), user, ProjectRole::Contributor);
    let room = Room::new(&mut q, (swarm, namespace, key), user, size, limits);
    q.push(format!(
        "INSERT INTO swarm_memory (swarm_id, namespace, key, value, body, expires_at, updated_by, created_at, updated_at) \
         SELECT s.id, {namespace}, {key}, {value}, {body}, {expires}, {user}, {now}, {now} FROM swarms s WHERE s.id = {swarm} AND {may} \
             AND {} AND {} \
         ON CONFLICT (swarm_id, namespace, key) DO UPDATE SET value = excluded.value, body = excluded.body, \
             expires_at = excluded.expires_at, updated_by = excluded.updated_by, updated_at = excluded.updated_at, \
             created_at = CASE WHEN swarm_memory.expires_at <= excluded.updated_at THEN excluded.created_at ELSE swarm_memory.created_at END",
        room.swarm, room.user
    ));
    q.finish()
}

/// Whether `user`'s memory across swarms has room now for the write [`put_memory`] refused:
/// which of the two bounds to name.
pub async fn user_has_room(
    db: &dyn Database,
    at: (Uuid, &str, &str),
    user: Uuid,
    size: usize,
    limits: MemoryLimits,
) -> Result<bool, ApiError> {
    let (swarm, namespace, key) = at;
    let mut q = Query::default();
    let (swarm, namespace, key, user, size) = (q.bind(swarm), q.bind(namespace), q.bind(key), q.bind(user), q.bind(size as i64));
    let room = Room::new(&mut q, (swarm, namespace, key), user, size, limits);
    q.push(format!("SELECT {} AS room", room.user));
    let rows = db.query(q.finish()).await?;
    Ok(rows.first().map(|row| row.get("room")).transpose()?.unwrap_or(true))
}

pub fn delete_memory(swarm: Uuid, user: Uuid, namespace: &str, key: &str, now: &str) -> Statement {
    let mut q = Query::default();
    let (swarm, user, namespace, key, now) = (q.bind(swarm), q.bind(user), q.bind(namespace), q.bind(key), q.bind(now));
    let may = holds_at_least(Operand::Column("s.project_id"), user, ProjectRole::Contributor);
    q.push(format!(
        "DELETE FROM swarm_memory WHERE swarm_id = {swarm} AND namespace = {namespace} AND key = {key} \
         AND (expires_at IS NULL OR expires_at > {now}) AND EXISTS (SELECT 1 FROM swarms s WHERE s.id = {swarm} AND {may})"
    ));
    q.finish()
}

const MEMORY: &str = "SELECT m.namespace, m.key, m.value, m.expires_at, m.updated_by, m.created_at, m.updated_at FROM swarm_memory m";

#[derive(Deserialize)]
struct MemoryRow {
    namespace: String,
    key: String,
    value: String,
    expires_at: Option<String>,
    updated_by: Uuid,
    created_at: String,
    updated_at: String,
}

fn memory(row: &Row) -> DbResult<Json> {
    let MemoryRow { namespace, key, value, expires_at, updated_by, created_at, updated_at } = row.decode()?;
    Ok(json!({"namespace": namespace, "key": key, "value": json(&value), "expires_at": expires_at, "updated_by": updated_by,
        "created_at": created_at, "updated_at": updated_at}))
}

pub async fn get_memory(db: &dyn Database, swarm: Uuid, namespace: &str, key: &str, now: &str) -> Result<Option<Json>, ApiError> {
    let sql = format!("{MEMORY} WHERE m.swarm_id = ?1 AND m.namespace = ?2 AND m.key = ?3 AND (m.expires_at IS NULL OR m.expires_at > ?4)");
    Ok(db.query_opt(stmt!(sql, swarm, namespace, key, now)).await?.map(|row| memory(&row)).transpose()?)
}

/// A namespace's live entries: with `words`, those holding every one of them, each as a word or
/// the start of one (`tui_shared::search`), best first by FTS5's bm25; with `prefix`, those
/// whose key starts with it; by key otherwise. The full-text query names the swarm's own words
/// only (its every term starts with the swarm's token, as the index's `terms` column does), so
/// what it reads and ranks is this swarm's entries whatever the others hold.
pub async fn search_memory(
    db: &dyn Database,
    swarm: Uuid,
    namespace: &str,
    words: Option<&str>,
    prefix: Option<&str>,
    now: &str,
    limit: usize,
) -> Result<Vec<Json>, ApiError> {
    let matching = words.and_then(|words| search::query_in(&swarm.simple().to_string(), words));
    let mut q = Query::new(MEMORY);
    let (swarm, namespace, now) = (q.bind(swarm), q.bind(namespace), q.bind(now));
    let live = format!("m.swarm_id = {swarm} AND m.namespace = {namespace} AND (m.expires_at IS NULL OR m.expires_at > {now})");
    let order = match matching {
        Some(matching) => {
            let matching = q.bind(matching);
            q.push(format!(" JOIN swarm_memory_fts f ON f.rowid = m.id WHERE swarm_memory_fts MATCH {matching} AND {live}"));
            "f.rank"
        }
        None => {
            q.push(format!(" WHERE {live}"));
            "m.key"
        }
    };
    let (prefix, limit) = (q.bind(prefix), q.bind(limit as i64));
    q.push(format!(" AND ({prefix} IS NULL OR substr(m.key, 1, length({prefix})) = {prefix}) ORDER BY {order} LIMIT {limit}"));
    tui_shared::repo::decode(db.query(q.finish()).await?, memory)
}

#[cfg(test)]
mod tests {
    use tui_shared::{adapters::native::Sqlite, db::migrate};

    use super::*;

    /// The index's words carry their swarm's token only if no ASCII separator reaches `body`: the
    /// schema refuses one, whoever writes it.
    #[tokio::test]
    async fn memory_bodies_other_than_lowercase_words_are_refused_by_the_schema() {
        let db = Sqlite::open(":memory:", 1).unwrap();
        migrate::migrate(&db, "2026-01-01T00:00:00.000Z").await.unwrap();
        let (user, project, swarm) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        db.batch(vec![
            stmt!("INSERT INTO users (id, email, username, password_hash, created_at, updated_at) VALUES (?1, 'a@b.c', 'a', 'x', 'now', 'now')", user),
            stmt!("INSERT INTO projects (id, name, created_by, created_at, updated_at) VALUES (?1, 'p', ?2, 'now', 'now')", project, user),
            stmt!(
                "INSERT INTO swarms (id, project_id, name, topology, strategy, max_agents, created_by, created_at, updated_at) \
                 VALUES (?1, ?2, 's', 'mesh', 'auto', 4, ?3, 'now', 'now')",
                swarm,
                project,
                user
            ),
        ])
        .await
        .unwrap();
        let put = |key: &str, body: &str| {
            stmt!(
                "INSERT INTO swarm_memory (swarm_id, namespace, key, value, body, updated_by, created_at, updated_at) \
                 VALUES (?1, 'n', ?2, '1', ?3, ?4, 'now', 'now')",
                swarm,
                key,
                body,
                user
            )
        };
        db.execute(put("ok", "parser design über 42")).await.unwrap();
        for body in ["x:0190abcdword", "tab\there", "Upper"] {
            assert!(db.execute(put(body, body)).await.is_err(), "{body:?} was indexed");
        }
        let rewrite = stmt!("UPDATE swarm_memory SET body = 'a,b' WHERE key = 'ok'");
        assert!(db.execute(rewrite).await.is_err());
    }
}
