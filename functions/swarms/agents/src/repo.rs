//! The SQL agent steps read and write: the swarm's agents that take work, the project's model,
//! an orchestration's parts laid out as run steps and the results they work from, and a vote's
//! state. Every write is guarded by the attempt ([`Claim::guarded`]).

use serde::Deserialize;
use serde_json::{Value as Json, json};
use tui_shared::{
    ApiError,
    db::{Database, Param, Query, Statement},
    stmt, time,
};
use uuid::Uuid;

use crate::{
    agent::{Claim, VoteState},
    consensus,
    model::{AgentType, Algorithm, TaskKind, strings},
    patterns::Model,
    plan::{Candidate, Layout, Plan},
};

const ACTIVE: &str = "status IN ('idle', 'busy')";

/// The swarm's agents that take work, in their order.
pub async fn candidates(db: &dyn Database, swarm: Uuid) -> Result<Vec<Candidate>, ApiError> {
    let rows = db
        .query(stmt!(format!("SELECT id, type, capabilities, load FROM swarm_agents WHERE swarm_id = ?1 AND {ACTIVE} ORDER BY seq"), swarm))
        .await?;
    tui_shared::repo::decode(rows, |row| {
        let (id, agent_type, capabilities, load): (Uuid, AgentType, String, i64) = row.decode()?;
        Ok(Candidate { id, agent_type, capabilities: strings(&capabilities), load })
    })
}

/// The project's newest `prediction` model.
pub async fn latest_model(db: &dyn Database, project: Uuid) -> Result<Option<Model>, ApiError> {
    let row = db
        .query_opt(stmt!(
            "SELECT parameters FROM pattern_models WHERE project_id = ?1 AND pattern_type = 'prediction' ORDER BY version DESC LIMIT 1",
            project
        ))
        .await?;
    Ok(row.map(|row| row.decode::<(String,)>()).transpose()?.and_then(|(p,)| serde_json::from_str(&p).ok()))
}

pub async fn swarm_in_project(db: &dyn Database, swarm: Uuid, project: Uuid) -> Result<Option<(crate::model::Topology, String)>, ApiError> {
    let row = db.query_opt(stmt!("SELECT topology, strategy FROM swarms WHERE id = ?1 AND project_id = ?2", swarm, project)).await?;
    Ok(row.map(|row| row.decode()).transpose()?)
}

/// The swarm's version: what a coordinator's change is conditional on.
pub async fn version(db: &dyn Database, swarm: Uuid) -> Result<Option<i64>, ApiError> {
    let row = db.query_opt(stmt!("SELECT version FROM swarms WHERE id = ?1", swarm)).await?;
    Ok(row.map(|row| row.decode::<(i64,)>()).transpose()?.map(|(v,)| v))
}

/// The plan an earlier attempt made and could not lay out.
pub async fn draft(db: &dyn Database, run: Uuid) -> Result<Option<Plan>, ApiError> {
    let row = db.query_opt(stmt!("SELECT plan_draft FROM orchestrations WHERE id = ?1 AND plan_draft IS NOT NULL", run)).await?;
    Ok(row.map(|row| row.decode::<(String,)>()).transpose()?.and_then(|(p,)| serde_json::from_str(&p).ok()))
}

/// Whether the orchestration has its plan (laid out once, whoever asks again).
pub async fn planned(db: &dyn Database, run: Uuid) -> Result<Option<Json>, ApiError> {
    let row = db.query_opt(stmt!("SELECT plan FROM orchestrations WHERE id = ?1 AND plan IS NOT NULL", run)).await?;
    Ok(row.map(|row| row.decode::<(String,)>()).transpose()?.and_then(|(p,)| serde_json::from_str(&p).ok()))
}

/// The plan and the run's next steps as it was laid out from the swarm at `version`: the plan
/// recorded with `token`, if the swarm is still at that version and the claim holds; then, only
/// where that token is, the swarm's version moved on (what makes any other change made from the
/// same view fail), each step (waiting on its needs, `plan` among them, so that the plan's
/// completion starts those that need nothing else), what each needs, and each one's row for the
/// agent doing it (which counts on the agent's load).
#[expect(clippy::too_many_arguments, reason = "what one change is made of")]
pub fn lay_out(
    claim: &Claim,
    swarm: Uuid,
    version: i64,
    token: Uuid,
    plan: &Json,
    layout: &Layout,
    timeout_s: u64,
    now: &str,
) -> Vec<Statement> {
    let steps: Vec<Json> = layout
        .steps
        .iter()
        .map(|s| {
            let spec = json!({
                "key": s.key, "kind": "agent", "needs": s.needs,
                "input": {"op": "work"},
                "retry": {"limit": 2, "backoff": "exponential", "delay_s": 2.0},
                "timeout_s": timeout_s,
            });
            json!({
                "key": s.key, "spec": spec.to_string(), "waiting_on": s.needs.len(), "role": s.role, "title": s.title,
                "description": s.description, "kind": s.kind.as_str(), "format": s.format, "sections": json!(s.sections).to_string(),
                "agent": s.agent,
            })
        })
        .collect();
    let needs: Vec<Json> = layout.steps.iter().flat_map(|s| s.needs.iter().map(|n| json!([n, s.key]))).collect();
    let steps = Json::Array(steps).to_string();
    // Only the first statement records this token.
    let recorded = |run: Param, token: Param| format!("EXISTS (SELECT 1 FROM orchestrations WHERE id = {run} AND plan_token = {token})");
    let record_plan = {
        let mut q = Query::default();
        let (run, plan, now, token) = (q.bind(claim.run), q.bind(plan.to_string()), q.bind(now), q.bind(token));
        let (swarm, version) = (q.bind(swarm), q.bind(version));
        q.push(format!(
            "UPDATE orchestrations SET plan = {plan}, plan_token = {token}, \
             status = CASE WHEN status = 'planning' THEN 'running' ELSE status END, updated_at = {now} \
             WHERE id = {run} AND plan IS NULL AND (SELECT version FROM swarms WHERE id = {swarm}) = {version}"
        ));
        claim.guarded(q)
    };
    let move_version = {
        let mut q = Query::default();
        let (run, swarm, token) = (q.bind(claim.run), q.bind(swarm), q.bind(token));
        q.push(format!("UPDATE swarms SET version = version + 1 WHERE id = {swarm} AND {}", recorded(run, token)));
        q.finish()
    };
    let add_steps = {
        let mut q = Query::default();
        let (run, steps, now, token) = (q.bind(claim.run), q.bind(steps.as_str()), q.bind(now), q.bind(token));
        q.push(format!(
            "INSERT INTO run_steps (run_id, key, position, spec, kind, state, waiting_on, updated_at) \
             SELECT {run}, json_extract(value, '$.key'), 1 + key, json_extract(value, '$.spec'), 'agent', 'waiting', \
                 json_extract(value, '$.waiting_on'), {now} FROM json_each({steps}) WHERE {}",
            recorded(run, token)
        ));
        q.finish()
    };
    let add_needs = {
        let mut q = Query::default();
        let (run, needs, token) = (q.bind(claim.run), q.bind(Json::Array(needs).to_string()), q.bind(token));
        q.push(format!(
            "INSERT INTO run_step_needs (run_id, needs, key) SELECT {run}, json_extract(value, '$[0]'), json_extract(value, '$[1]') \
             FROM json_each({needs}) WHERE {}",
            recorded(run, token)
        ));
        q.finish()
    };
    let add_subtasks = {
        let mut q = Query::default();
        let (run, steps, now, token) = (q.bind(claim.run), q.bind(steps), q.bind(now), q.bind(token));
        q.push(format!(
            "INSERT INTO orchestration_subtasks (orchestration_id, step_key, position, role, title, description, kind, format, sections, \
                 agent_id, status, updated_at) \
             SELECT {run}, json_extract(value, '$.key'), key, json_extract(value, '$.role'), json_extract(value, '$.title'), \
                 json_extract(value, '$.description'), json_extract(value, '$.kind'), json_extract(value, '$.format'), \
                 json_extract(value, '$.sections'), json_extract(value, '$.agent'), 'pending', {now} FROM json_each({steps}) WHERE {}",
            recorded(run, token)
        ));
        q.finish()
    };
    vec![record_plan, move_version, add_steps, add_needs, add_subtasks]
}

/// Whether the claim still holds: the step at its attempt, the job with its lease.
pub async fn holds(db: &dyn Database, claim: &Claim) -> Result<bool, ApiError> {
    let check = claim.guarded(Query::new("SELECT 1 WHERE true"));
    Ok(db.query_opt(check).await?.is_some())
}

/// A part of an orchestration, with the agent doing it.
pub struct Part {
    pub role: String,
    pub title: String,
    pub description: String,
    pub kind: TaskKind,
    pub format: String,
    pub sections: Vec<String>,
    pub agent: Uuid,
    pub agent_type: AgentType,
    pub agent_name: String,
}

impl Part {
    pub fn role_purpose(&self) -> &'static str {
        match self.role.as_str() {
            "review" => "review",
            "synthesis" => "synthesis",
            _ => "subtask",
        }
    }
}

#[derive(Deserialize)]
struct PartRow {
    role: String,
    title: String,
    description: String,
    kind: TaskKind,
    format: String,
    sections: String,
    agent_id: Uuid,
    #[serde(rename = "type")]
    agent_type: AgentType,
    name: String,
}

pub async fn part(db: &dyn Database, run: Uuid, key: &str) -> Result<Option<Part>, ApiError> {
    let row = db
        .query_opt(stmt!(
            "SELECT st.role, st.title, st.description, st.kind, st.format, st.sections, st.agent_id, a.type, a.name \
             FROM orchestration_subtasks st JOIN swarm_agents a ON a.id = st.agent_id WHERE st.orchestration_id = ?1 AND st.step_key = ?2",
            run,
            key
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let PartRow { role, title, description, kind, format, sections, agent_id, agent_type, name } = row.decode()?;
    Ok(Some(Part { role, title, description, kind, format, sections: strings(&sections), agent: agent_id, agent_type, agent_name: name }))
}

/// The results a part works from: those of the parts it waits for, in plan order.
pub async fn inputs(db: &dyn Database, run: Uuid, key: &str) -> Result<Vec<(String, String, String, Option<String>)>, ApiError> {
    let rows = db
        .query(stmt!(
            "SELECT st.step_key, st.title, st.status, st.result FROM orchestration_subtasks st \
             JOIN run_step_needs n ON n.run_id = st.orchestration_id AND n.needs = st.step_key \
             WHERE n.run_id = ?1 AND n.key = ?2 ORDER BY st.position",
            run,
            key
        ))
        .await?;
    Ok(tui_shared::db::decode_all(&rows)?)
}

pub async fn vote_state(db: &dyn Database, run: Uuid) -> Result<Option<VoteState>, ApiError> {
    let row = db.query_opt(stmt!("SELECT id, algorithm, voters, deadline FROM consensus WHERE run_id = ?1", run)).await?;
    let Some(row) = row else { return Ok(None) };
    let (id, algorithm, voters, deadline): (Uuid, Algorithm, i64, String) = row.decode()?;
    let rows = db.query(stmt!("SELECT vote, confidence FROM consensus_votes WHERE consensus_id = ?1", id)).await?;
    let votes = tui_shared::repo::decode(rows, |row| {
        let (value, confidence): (String, f64) = row.decode()?;
        Ok(consensus::Vote { value, confidence })
    })?;
    let deadline = time::parse(&deadline).ok_or_else(|| ApiError::internal("a vote's deadline does not parse"))?;
    Ok(Some(VoteState { id, algorithm, voters: voters as usize, deadline, votes }))
}
