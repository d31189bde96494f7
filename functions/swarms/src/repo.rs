//! The swarms group's SQL. Writes a role allows carry the role in their own `WHERE`, and
//! decisions about the swarm's agents (how many there are, which retire) are made inside the
//! statement that acts on them.

use serde_json::{Value as Json, json};
use tui_shared::{
    ApiError,
    db::{Database, DbResult, Row, Statement, Value},
    domain::ProjectRole,
    membership::holds_at_least,
    stmt,
};
use uuid::Uuid;

use tui_swarms_agents::{
    consensus,
    model::{Agent, AgentMetrics, AgentStatus, AgentType, Call, Orchestration, Subtask, Swarm, TaskKind, strings},
    patterns::{self, Model},
};

fn json(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or(Json::Null)
}

const ACTIVE: &str = "status IN ('idle', 'busy')";

// ---- swarms

const SWARM: &str = "SELECT s.id, s.project_id, s.name, s.topology, s.strategy, s.max_agents, \
                     (SELECT count(*) FROM swarm_agents a WHERE a.swarm_id = s.id AND a.status != 'retired'), \
                     s.version, s.input_tokens, s.output_tokens, s.created_by, s.created_at, s.updated_at FROM swarms s";

fn swarm(row: &Row) -> DbResult<Swarm> {
    let (
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
    ) = row.decode()?;
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
    let may = holds_at_least("?2", "?3", ProjectRole::Contributor);
    vec![
        stmt!(
            format!(
                "INSERT INTO swarms (id, project_id, name, topology, strategy, max_agents, created_by, created_at, updated_at) \
                 SELECT ?1, ?2, ?4, ?5, ?6, ?7, ?3, ?8, ?8 WHERE {may} AND (SELECT count(*) FROM swarms WHERE project_id = ?2) < ?9"
            ),
            id,
            project,
            user,
            name,
            topology,
            strategy,
            max_agents,
            now,
            per_project
        ),
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
    let may = holds_at_least("swarms.project_id", "?2", ProjectRole::Maintainer);
    vec![
        stmt!(format!("DELETE FROM swarms WHERE id = ?1 AND {may}"), id, user),
        stmt!("DELETE FROM workflows WHERE id = ?1 AND swarm_id = ?1 AND NOT EXISTS (SELECT 1 FROM swarms WHERE id = ?1)", id),
    ]
}

// ---- agents

const AGENT: &str = "SELECT a.id, a.swarm_id, a.type, a.name, a.capabilities, a.status, a.load, a.created_at FROM swarm_agents a";

fn agent(row: &Row) -> DbResult<Agent> {
    let (id, swarm_id, agent_type, name, capabilities, status, load, created_at): (
        Uuid,
        Uuid,
        AgentType,
        String,
        String,
        AgentStatus,
        i64,
        String,
    ) = row.decode()?;
    Ok(Agent { id, swarm_id, agent_type, name, capabilities: strings(&capabilities), status, load, created_at })
}

/// Adds agents (`[{id, type, name, capabilities}]`, in order) to a swarm, if `user` is a
/// contributor, as many as fit under its `max_agents`; up to `target` active agents when
/// given. One statement counts and adds.
pub fn add_agents(swarm: Uuid, user: Uuid, agents: &Json, target: Option<i64>, now: &str) -> Statement {
    let may = holds_at_least("s.project_id", "?2", ProjectRole::Contributor);
    stmt!(
        format!(
            "INSERT INTO swarm_agents (id, swarm_id, seq, type, name, capabilities, status, created_at, updated_at) \
             SELECT json_extract(j.value, '$.id'), s.id, \
                 (SELECT coalesce(max(seq), 0) FROM swarm_agents WHERE swarm_id = s.id) + 1 + j.key, \
                 json_extract(j.value, '$.type'), json_extract(j.value, '$.name'), json_extract(j.value, '$.capabilities'), 'idle', ?4, ?4 \
             FROM swarms s, json_each(?3) j WHERE s.id = ?1 AND {may} \
                 AND j.key < min(coalesce(?5, s.max_agents), s.max_agents) \
                     - (SELECT count(*) FROM swarm_agents WHERE swarm_id = s.id AND status != 'retired')"
        ),
        swarm,
        user,
        agents.to_string(),
        now,
        target.map_or(Value::Null, Value::from)
    )
}

/// Retires agents down to `target` active ones, if `user` is a contributor: idle ones first,
/// the latest added first; one with work under way takes no more and retires when it is done.
pub fn retire_agents(swarm: Uuid, user: Uuid, target: i64, now: &str) -> Statement {
    let may = holds_at_least("s.project_id", "?2", ProjectRole::Contributor);
    stmt!(
        format!(
            "UPDATE swarm_agents SET status = CASE WHEN load = 0 THEN 'retired' ELSE 'retiring' END, updated_at = ?4 \
             WHERE id IN (SELECT a.id FROM swarm_agents a JOIN swarms s ON s.id = a.swarm_id WHERE a.swarm_id = ?1 AND a.{ACTIVE} AND {may} \
                 ORDER BY a.load, a.seq DESC \
                 LIMIT max(0, (SELECT count(*) FROM swarm_agents WHERE swarm_id = ?1 AND {ACTIVE}) - ?3))"
        ),
        swarm,
        user,
        target,
        now
    )
}

pub async fn agents(db: &dyn Database, swarm: Uuid) -> Result<Vec<Agent>, ApiError> {
    let rows = db.query(stmt!(format!("{AGENT} WHERE a.swarm_id = ?1 ORDER BY a.seq"), swarm)).await?;
    tui_shared::repo::decode(rows, agent)
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
    let (agent_id, agent_type, status, load, calls, failed_calls, completed, failed, input_tokens, output_tokens, latency): (
        Uuid,
        AgentType,
        AgentStatus,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
    ) = row.decode()?;
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
        mean_latency_ms: if calls > failed_calls { latency as f64 / (calls - failed_calls) as f64 } else { 0.0 },
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
    let may = holds_at_least("s.project_id", "?3", ProjectRole::Contributor);
    let spec = json!({"key": "plan", "kind": "agent", "needs": [], "input": {"op": "plan"},
        "retry": {"limit": 2, "backoff": "exponential", "delay_s": 2.0}, "timeout_s": timeout_s});
    vec![
        stmt!(
            format!(
                "INSERT INTO workflow_runs (id, workflow_id, version, project_id, status, input, created_by, created_at, updated_at) \
                 SELECT ?1, s.id, 1, s.project_id, 'running', json_object('task', ?4), ?3, ?5, ?5 FROM swarms s WHERE s.id = ?2 AND {may} \
                 AND EXISTS (SELECT 1 FROM swarm_agents a WHERE a.swarm_id = s.id AND a.{ACTIVE})"
            ),
            id,
            swarm,
            user,
            task,
            now
        ),
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

pub async fn visible_orchestration(db: &dyn Database, id: Uuid, user: Uuid) -> Result<Option<Orchestration>, ApiError> {
    let row = db
        .query_opt(stmt!(
            "SELECT o.id, o.swarm_id, o.task, o.strategy, o.priority, o.model, o.max_tokens, o.status, o.plan, o.result, o.error, \
                 o.input_tokens, o.output_tokens, o.created_by, json_array(o.created_at, o.updated_at, o.finished_at) \
             FROM orchestrations o JOIN project_members m ON m.project_id = o.project_id AND m.user_id = ?2 WHERE o.id = ?1",
            id,
            user
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    #[expect(clippy::type_complexity, reason = "one row, decoded once")]
    let (
        id,
        swarm_id,
        task,
        strategy,
        priority,
        model,
        max_tokens,
        status,
        plan,
        result,
        error,
        input_tokens,
        output_tokens,
        created_by,
        times,
    ): (
        Uuid,
        Uuid,
        String,
        tui_swarms_agents::model::Strategy,
        tui_swarms_agents::model::Priority,
        String,
        i64,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        i64,
        i64,
        Uuid,
        String,
    ) = row.decode()?;
    let (created_at, updated_at, finished_at): (String, String, Option<String>) =
        serde_json::from_str(&times).map_err(|e| tui_shared::db::DbError::decode(e.to_string()))?;
    let rows = db
        .query(stmt!(
            "SELECT st.step_key, st.role, st.title, st.description, st.kind, st.format, st.sections, st.agent_id, a.type, \
                 (SELECT json_group_array(needs) FROM run_step_needs n WHERE n.run_id = st.orchestration_id AND n.key = st.step_key), \
                 st.status, st.result, st.validation_errors, st.calls, st.input_tokens, st.output_tokens \
             FROM orchestration_subtasks st JOIN swarm_agents a ON a.id = st.agent_id WHERE st.orchestration_id = ?1 ORDER BY st.position",
            id
        ))
        .await?;
    let subtasks = tui_shared::repo::decode(rows, |row| {
        #[expect(clippy::type_complexity, reason = "one row, decoded once")]
        let (
            key,
            role,
            title,
            description,
            kind,
            format,
            sections,
            agent_id,
            agent_type,
            needs,
            status,
            result,
            errors,
            calls,
            input_tokens,
            output_tokens,
        ): (
            String,
            String,
            String,
            String,
            TaskKind,
            String,
            String,
            Uuid,
            AgentType,
            String,
            String,
            Option<String>,
            Option<String>,
            i64,
            i64,
            i64,
        ) = row.decode()?;
        let result = result.map(|r| if format == "json" && status == "completed" { json(&r) } else { Json::String(r) });
        Ok(Subtask {
            key,
            role,
            title,
            description,
            kind,
            format,
            sections: strings(&sections),
            agent_id,
            agent_type,
            needs: strings(&needs),
            status,
            result,
            validation_errors: errors.map(|e| strings(&e)),
            calls,
            input_tokens,
            output_tokens,
        })
    })?;
    let rows = db
        .query(stmt!(
            "SELECT purpose, step_key, agent_id, model, ok, attempts, input_tokens, output_tokens, latency_ms, error, created_at \
             FROM claude_calls WHERE orchestration_id = ?1 ORDER BY id",
            id
        ))
        .await?;
    let calls = tui_shared::repo::decode(rows, |row| {
        let (purpose, step, agent_id, model, ok, attempts, input_tokens, output_tokens, latency_ms, error, created_at) = row.decode()?;
        Ok(Call { purpose, step, agent_id, model, ok, attempts, input_tokens, output_tokens, latency_ms, error, created_at })
    })?;
    Ok(Some(Orchestration {
        id,
        swarm_id,
        task,
        strategy,
        priority,
        model,
        max_tokens,
        status,
        plan: plan.as_deref().map(json),
        subtasks,
        calls,
        result,
        error,
        input_tokens,
        output_tokens,
        created_by,
        created_at,
        updated_at,
        finished_at,
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
            "SELECT project_id, count(*), sum(input_tokens), sum(output_tokens) FROM claude_calls WHERE user_id = ?1 AND created_at >= ?2 \
             GROUP BY project_id ORDER BY project_id",
            user,
            since
        ))
        .await?;
    Ok(rows.iter().map(|row| row.decode()).collect::<Result<_, _>>()?)
}

// ---- learned assignment

/// The most outcomes a model is fitted on: the newest.
const MAX_OUTCOMES: i64 = 10_000;

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
        let (id, agent_type, kind, valid, tokens): (i64, AgentType, TaskKind, bool, i64) = row.decode()?;
        Ok(patterns::Outcome { id, agent_type, kind, valid, tokens })
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
    let may = holds_at_least("s.project_id", "?3", ProjectRole::Contributor);
    let row = db
        .query_opt(stmt!(
            format!(
                "INSERT INTO pattern_models (id, project_id, swarm_id, pattern_type, version, parameters, metrics, created_by, created_at) \
                 SELECT ?1, s.project_id, s.id, ?4, \
                     (SELECT coalesce(max(version), 0) + 1 FROM pattern_models WHERE project_id = s.project_id AND pattern_type = ?4), \
                     ?5, ?6, ?3, ?7 FROM swarms s WHERE s.id = ?2 AND {may} RETURNING version"
            ),
            id,
            swarm,
            user,
            pattern_type,
            parameters,
            metrics,
            now
        ))
        .await?;
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
    let may = holds_at_least("s.project_id", "?3", ProjectRole::Contributor);
    let voters = format!("(SELECT count(*) FROM swarm_agents a WHERE a.swarm_id = s.id AND a.{ACTIVE})");
    let spec = json!({"key": "vote", "kind": "agent", "needs": [], "input": {"op": "close_vote"}});
    vec![
        stmt!(
            format!(
                "INSERT INTO workflow_runs (id, workflow_id, version, project_id, status, input, created_by, created_at, updated_at) \
                 SELECT ?1, s.id, 1, s.project_id, 'running', json_object('consensus', ?4), ?3, ?6, ?6 FROM swarms s \
                 WHERE s.id = ?2 AND {may} AND {voters} >= CASE WHEN ?5 = 'byzantine' THEN {} ELSE 1 END",
                consensus::BYZANTINE_MIN_VOTERS
            ),
            run,
            swarm,
            user,
            id,
            algorithm,
            now
        ),
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
    let may = holds_at_least("c.project_id", "?3", ProjectRole::Contributor);
    stmt!(
        format!(
            "INSERT INTO consensus_votes (consensus_id, agent_id, vote, confidence, cast_by, created_at) \
             SELECT c.id, ?2, ?4, ?5, ?3, ?6 FROM consensus c WHERE c.id = ?1 AND c.status = 'open' AND c.deadline > ?6 AND {may} \
             AND EXISTS (SELECT 1 FROM consensus_voters v WHERE v.consensus_id = c.id AND v.agent_id = ?2) \
             ON CONFLICT (consensus_id, agent_id) DO NOTHING"
        ),
        consensus,
        agent,
        user,
        vote,
        confidence,
        now
    )
}

pub async fn visible_vote(db: &dyn Database, id: Uuid, user: Uuid) -> Result<Option<Json>, ApiError> {
    let row = db
        .query_opt(stmt!(
            "SELECT json_object('id', c.id, 'swarm_id', c.swarm_id, 'proposal', c.proposal, 'algorithm', c.algorithm, 'voters', c.voters, \
                 'status', c.status, 'decision', c.decision, 'tally', json(c.tally), 'deadline', c.deadline, 'created_by', c.created_by, \
                 'created_at', c.created_at, 'closed_at', c.closed_at, \
                 'votes', (SELECT json_group_array(json_object('agent_id', v.agent_id, 'vote', v.vote, 'confidence', v.confidence, \
                     'created_at', v.created_at)) FROM consensus_votes v WHERE v.consensus_id = c.id)), c.project_id \
             FROM consensus c JOIN project_members m ON m.project_id = c.project_id AND m.user_id = ?2 WHERE c.id = ?1",
            id,
            user
        ))
        .await?;
    Ok(row.map(|row| row.decode::<(String, Uuid)>()).transpose()?.map(|(j, _)| json(&j)))
}

// ---- memory

/// Writes an entry, if `user` is a contributor and the swarm's memory has room for it (`most`
/// entries and `bytes` in all, expired ones included until they are pruned; a key written again
/// takes only its new size).
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
    most: u32,
    bytes: u32,
) -> Statement {
    let may = holds_at_least("s.project_id", "?2", ProjectRole::Contributor);
    stmt!(
        format!(
            "INSERT INTO swarm_memory (swarm_id, namespace, key, value, body, expires_at, updated_by, created_at, updated_at) \
             SELECT s.id, ?3, ?4, ?5, ?6, ?7, ?2, ?8, ?8 FROM swarms s WHERE s.id = ?1 AND {may} \
                 AND ((SELECT count(*) FROM swarm_memory WHERE swarm_id = ?1) < ?9 \
                     OR EXISTS (SELECT 1 FROM swarm_memory WHERE swarm_id = ?1 AND namespace = ?3 AND key = ?4)) \
                 AND (SELECT coalesce(sum(length(value) + length(body)), 0) FROM swarm_memory \
                     WHERE swarm_id = ?1 AND NOT (namespace = ?3 AND key = ?4)) + length(?5) + length(?6) <= ?10 \
             ON CONFLICT (swarm_id, namespace, key) DO UPDATE SET value = excluded.value, body = excluded.body, \
                 expires_at = excluded.expires_at, updated_by = excluded.updated_by, updated_at = excluded.updated_at, \
                 created_at = CASE WHEN swarm_memory.expires_at <= excluded.updated_at THEN excluded.created_at ELSE swarm_memory.created_at END"
        ),
        swarm,
        user,
        namespace,
        key,
        value,
        body,
        expires.map_or(Value::Null, Value::from),
        now,
        most,
        bytes
    )
}

pub fn delete_memory(swarm: Uuid, user: Uuid, namespace: &str, key: &str, now: &str) -> Statement {
    let may = holds_at_least("s.project_id", "?2", ProjectRole::Contributor);
    stmt!(
        format!(
            "DELETE FROM swarm_memory WHERE swarm_id = ?1 AND namespace = ?3 AND key = ?4 AND (expires_at IS NULL OR expires_at > ?5) \
             AND EXISTS (SELECT 1 FROM swarms s WHERE s.id = ?1 AND {may})"
        ),
        swarm,
        user,
        namespace,
        key,
        now
    )
}

const MEMORY: &str = "SELECT m.namespace, m.key, m.value, m.expires_at, m.updated_by, m.created_at, m.updated_at FROM swarm_memory m";

fn memory(row: &Row) -> DbResult<Json> {
    let (namespace, key, value, expires_at, updated_by, created_at, updated_at): (
        String,
        String,
        String,
        Option<String>,
        Uuid,
        String,
        String,
    ) = row.decode()?;
    Ok(json!({"namespace": namespace, "key": key, "value": json(&value), "expires_at": expires_at, "updated_by": updated_by,
        "created_at": created_at, "updated_at": updated_at}))
}

pub async fn get_memory(db: &dyn Database, swarm: Uuid, namespace: &str, key: &str, now: &str) -> Result<Option<Json>, ApiError> {
    let sql = format!("{MEMORY} WHERE m.swarm_id = ?1 AND m.namespace = ?2 AND m.key = ?3 AND (m.expires_at IS NULL OR m.expires_at > ?4)");
    Ok(db.query_opt(stmt!(sql, swarm, namespace, key, now)).await?.map(|row| memory(&row)).transpose()?)
}

/// A namespace's live entries: with `query`, those matching it in full text (best first);
/// with `prefix`, those whose key starts with it; by key otherwise.
pub async fn search_memory(
    db: &dyn Database,
    swarm: Uuid,
    namespace: &str,
    query: Option<&str>,
    prefix: Option<&str>,
    now: &str,
    limit: usize,
) -> Result<Vec<Json>, ApiError> {
    let live = "m.swarm_id = ?1 AND m.namespace = ?2 AND (m.expires_at IS NULL OR m.expires_at > ?3)";
    let by_prefix = "(?5 IS NULL OR substr(m.key, 1, length(?5)) = ?5)";
    let statement = match query {
        Some(query) => stmt!(
            format!(
                "{MEMORY} JOIN swarm_memory_fts f ON f.rowid = m.id WHERE swarm_memory_fts MATCH ?4 AND {live} AND {by_prefix} \
                 ORDER BY f.rank LIMIT ?6"
            ),
            swarm,
            namespace,
            now,
            query,
            prefix.map_or(Value::Null, Value::from),
            limit as i64
        ),
        None => stmt!(
            format!("{MEMORY} WHERE {live} AND ?4 IS NULL AND {by_prefix} ORDER BY m.key LIMIT ?6"),
            swarm,
            namespace,
            now,
            Value::Null,
            prefix.map_or(Value::Null, Value::from),
            limit as i64
        ),
    };
    tui_shared::repo::decode(db.query(statement).await?, memory)
}
