//! The workflows group's SQL: definitions and their versions, runs and their steps, and the
//! jobs table the engine drains. Every write that a role allows carries the role in its own
//! `WHERE`.

use serde::Deserialize;
use serde_json::Value as Json;
use tui_shared::{
    ApiError,
    db::{self, Database, DbResult, Operand, Param, Query, Row, Statement, Value},
    domain::ProjectRole,
    membership::holds_at_least,
    stmt,
};
use uuid::Uuid;

use crate::{
    jobs::Job,
    model::{Kind, MAX_EVENTS, Run, RunStatus, RunStep, Step, StepState, Workflow},
};

fn json(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or(Json::Null)
}

const WORKFLOW: &str = "SELECT w.id, w.project_id, w.name, w.version, v.steps, w.created_by, w.created_at, w.updated_at \
                        FROM workflows w JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = w.version";

/// A row of [`WORKFLOW`].
#[derive(Deserialize)]
struct WorkflowRow {
    id: Uuid,
    project_id: Uuid,
    name: String,
    version: i64,
    steps: db::Json<Vec<Step>>,
    created_by: Uuid,
    created_at: String,
    updated_at: String,
}

fn workflow(row: &Row) -> DbResult<Workflow> {
    let WorkflowRow { id, project_id, name, version, steps: db::Json(steps), created_by, created_at, updated_at } = row.decode()?;
    Ok(Workflow { id, project_id, name, version, steps, created_by, created_at, updated_at })
}

/// Creates a workflow at version 1, if `user` is a maintainer of `project`.
pub fn create(id: Uuid, project: Uuid, user: Uuid, name: &str, steps: &str, now: &str) -> Vec<Statement> {
    let mut q = Query::default();
    let (id_, project, name, user_, now_) = (q.bind(id), q.bind(project), q.bind(name), q.bind(user), q.bind(now));
    let may = holds_at_least(project, user_, ProjectRole::Maintainer);
    q.push(format!(
        "INSERT INTO workflows (id, project_id, name, version, created_by, created_at, updated_at) \
         SELECT {id_}, {project}, {name}, 1, {user_}, {now_}, {now_} WHERE {may}"
    ));
    vec![
        q.finish(),
        stmt!(
            "INSERT INTO workflow_versions (workflow_id, version, steps, created_by, created_at) \
             SELECT id, 1, ?2, ?3, ?4 FROM workflows WHERE id = ?1",
            id,
            steps,
            user,
            now
        ),
    ]
}

/// Makes `steps` (and `name`, if given) the next version of a workflow, if `user` is a
/// maintainer of its project and the workflow is at `expected` (when given).
pub fn edit(id: Uuid, user: Uuid, name: Option<&str>, steps: &str, expected: Option<i64>, now: &str) -> Vec<Statement> {
    let mut q = Query::default();
    let (id_, name, now_, expected) = (q.bind(id), q.bind(name.map(str::to_owned)), q.bind(now), q.bind(expected));
    let may = holds_at_least(Operand::Column("workflows.project_id"), q.bind(user), ProjectRole::Maintainer);
    q.push(format!(
        "UPDATE workflows SET version = version + 1, name = coalesce({name}, name), updated_at = {now_} \
         WHERE id = {id_} AND swarm_id IS NULL AND {may} AND ({expected} IS NULL OR version = {expected})"
    ));
    vec![
        q.finish(),
        // Only the edit above makes a version without its row.
        stmt!(
            "INSERT INTO workflow_versions (workflow_id, version, steps, created_by, created_at) \
             SELECT id, version, ?2, ?3, ?4 FROM workflows w WHERE id = ?1 \
             AND NOT EXISTS (SELECT 1 FROM workflow_versions v WHERE v.workflow_id = w.id AND v.version = w.version)",
            id,
            steps,
            user,
            now
        ),
    ]
}

pub fn delete(id: Uuid, user: Uuid) -> Statement {
    let mut q = Query::default();
    let id = q.bind(id);
    let may = holds_at_least(Operand::Column("workflows.project_id"), q.bind(user), ProjectRole::Maintainer);
    q.push(format!("DELETE FROM workflows WHERE id = {id} AND swarm_id IS NULL AND {may}"));
    q.finish()
}

/// The workflow, if `user` is a member of its project.
pub async fn visible(db: &dyn Database, id: Uuid, user: Uuid) -> Result<Option<Workflow>, ApiError> {
    let sql = format!(
        "{WORKFLOW} JOIN project_members m ON m.project_id = w.project_id AND m.user_id = ?2 WHERE w.id = ?1 AND w.swarm_id IS NULL"
    );
    Ok(db.query_opt(stmt!(sql, id, user)).await?.map(|row| workflow(&row)).transpose()?)
}

/// A project's workflows, newest first, after the one with id `after`.
pub async fn list(db: &dyn Database, project: Uuid, after: Option<Uuid>, limit: usize) -> Result<Vec<Workflow>, ApiError> {
    let sql =
        format!("{WORKFLOW} WHERE w.project_id = ?1 AND w.swarm_id IS NULL AND (?2 IS NULL OR w.id < ?2) ORDER BY w.id DESC LIMIT ?3");
    let rows = db.query(stmt!(sql, project, after.map_or(Value::Null, Value::from), (limit + 1) as i64)).await?;
    tui_shared::repo::decode(rows, workflow)
}

/// The statements that start run `run` of a workflow at its current version, if `user` is a
/// contributor of its project: the run, then its steps (read from the version the run names, in
/// the same transaction), what each needs, and a job for each step that needs nothing.
pub fn start(run: Uuid, workflow: Uuid, user: Uuid, input: &str, now: &str) -> Vec<Statement> {
    // The run's steps, as the version it started with defines them.
    let steps = |run: Param| {
        format!(
            "json_each((SELECT v.steps FROM workflow_versions v JOIN workflow_runs r ON r.workflow_id = v.workflow_id \
             AND r.version = v.version WHERE r.id = {run})) s"
        )
    };
    let mut insert_run = Query::default();
    let (run_, workflow, user, input, now_) =
        (insert_run.bind(run), insert_run.bind(workflow), insert_run.bind(user), insert_run.bind(input), insert_run.bind(now));
    let may = holds_at_least(Operand::Column("w.project_id"), user, ProjectRole::Contributor);
    insert_run.push(format!(
        "INSERT INTO workflow_runs (id, workflow_id, version, project_id, status, input, created_by, created_at, updated_at) \
         SELECT {run_}, w.id, w.version, w.project_id, 'running', {input}, {user}, {now_}, {now_} FROM workflows w \
         WHERE w.id = {workflow} AND w.swarm_id IS NULL AND {may}"
    ));
    let mut insert_steps = Query::default();
    let (run_, now_) = (insert_steps.bind(run), insert_steps.bind(now));
    insert_steps.push(format!(
        "INSERT INTO run_steps (run_id, key, position, spec, kind, state, waiting_on, updated_at) \
         SELECT {run_}, json_extract(s.value, '$.key'), s.key, s.value, json_extract(s.value, '$.kind'), \
             CASE json_array_length(s.value, '$.needs') WHEN 0 THEN 'ready' ELSE 'waiting' END, \
             json_array_length(s.value, '$.needs'), {now_} \
         FROM {}",
        steps(run_)
    ));
    let mut insert_needs = Query::default();
    let run_ = insert_needs.bind(run);
    insert_needs.push(format!(
        "INSERT INTO run_step_needs (run_id, needs, key) \
         SELECT {run_}, n.value, json_extract(s.value, '$.key') FROM {}, json_each(s.value, '$.needs') n",
        steps(run_)
    ));
    vec![
        insert_run.finish(),
        insert_steps.finish(),
        insert_needs.finish(),
        stmt!(
            "INSERT INTO jobs (run_id, step_key, project_id, due_at) SELECT s.run_id, s.key, r.project_id, ?2 \
             FROM run_steps s JOIN workflow_runs r ON r.id = s.run_id WHERE s.run_id = ?1 AND s.state = 'ready'",
            run,
            now
        ),
    ]
}

const RUN: &str = "SELECT r.id, r.workflow_id, r.version, r.project_id, r.status, r.input, r.error, r.created_by, r.created_at, \
                   r.updated_at, r.finished_at FROM workflow_runs r";

/// A row of [`RUN`].
#[derive(Deserialize)]
struct RunRow {
    id: Uuid,
    workflow_id: Uuid,
    version: i64,
    project_id: Uuid,
    status: RunStatus,
    input: String,
    error: Option<String>,
    created_by: Uuid,
    created_at: String,
    updated_at: String,
    finished_at: Option<String>,
}

fn run(row: &Row) -> DbResult<Run> {
    let RunRow { id, workflow_id, version, project_id, status, input, error, created_by, created_at, updated_at, finished_at } =
        row.decode()?;
    Ok(Run {
        id,
        workflow_id,
        version,
        project_id,
        status,
        input: json(&input),
        error,
        created_by,
        created_at,
        updated_at,
        finished_at,
        steps: Vec::new(),
    })
}

/// A row of the steps of a run, as [`visible_run`] reads them.
#[derive(Deserialize)]
struct StepRow {
    key: String,
    kind: Kind,
    state: StepState,
    attempt: i64,
    output: Option<String>,
    error: Option<String>,
    task_id: Option<Uuid>,
    first_started_at: Option<String>,
    finished_at: Option<String>,
    deadline: Option<String>,
}

/// The run with its steps, if `user` is a member of its project.
pub async fn visible_run(db: &dyn Database, id: Uuid, user: Uuid) -> Result<Option<Run>, ApiError> {
    let sql = format!("{RUN} JOIN project_members m ON m.project_id = r.project_id AND m.user_id = ?2 WHERE r.id = ?1");
    let Some(row) = db.query_opt(stmt!(sql, id, user)).await? else { return Ok(None) };
    let mut found = run(&row)?;
    let rows = db
        .query(stmt!(
            "SELECT key, kind, state, attempt, output, error, task_id, first_started_at, finished_at, deadline \
             FROM run_steps WHERE run_id = ?1 ORDER BY position",
            id
        ))
        .await?;
    found.steps = tui_shared::repo::decode(rows, |row| {
        let StepRow { key, kind, state, attempt, output, error, task_id, first_started_at, finished_at, deadline } = row.decode()?;
        let output = output.as_deref().map(json);
        Ok(RunStep { key, kind, state, attempt, output, error, task_id, started_at: first_started_at, finished_at, deadline })
    })?;
    Ok(Some(found))
}

/// A workflow's runs, newest first, after the one with id `after`.
pub async fn runs(
    db: &dyn Database,
    workflow: Uuid,
    status: Option<RunStatus>,
    after: Option<Uuid>,
    limit: usize,
) -> Result<Vec<Run>, ApiError> {
    let sql = format!(
        "{RUN} WHERE r.workflow_id = ?1 AND (?2 IS NULL OR r.status = ?2) AND (?3 IS NULL OR r.id < ?3) ORDER BY r.id DESC LIMIT ?4"
    );
    let rows = db
        .query(stmt!(
            sql,
            workflow,
            status.map_or(Value::Null, |s| Value::from(s.as_str())),
            after.map_or(Value::Null, Value::from),
            (limit + 1) as i64
        ))
        .await?;
    tui_shared::repo::decode(rows, run)
}

/// Moves a run from one of `from` to `to`, if `user` is a contributor of its project.
pub fn control(id: Uuid, user: Uuid, from: &[RunStatus], to: RunStatus, now: &str) -> Statement {
    let mut q = Query::default();
    let (id, now, to_text) = (q.bind(id), q.bind(now), q.bind(to.as_str()));
    let may = holds_at_least(Operand::Column("workflow_runs.project_id"), q.bind(user), ProjectRole::Contributor);
    let from: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
    let finished = if matches!(to, RunStatus::Cancelled) { now.to_string() } else { "finished_at".to_owned() };
    q.push(format!(
        "UPDATE workflow_runs SET status = {to_text}, updated_at = {now}, finished_at = {finished} \
         WHERE id = {id} AND status IN ({}) AND {may}",
        from.join(", ")
    ));
    q.finish()
}

/// Delivers an event to a run that has not ended and holds fewer than [`MAX_EVENTS`], if `user`
/// is a contributor of its project. The count is taken in the insert, so that events delivered
/// at once cannot together pass it.
pub fn signal(id: Uuid, user: Uuid, name: &str, payload: &str, now: &str) -> Statement {
    let mut q = Query::default();
    let (id, name, payload, now) = (q.bind(id), q.bind(name), q.bind(payload), q.bind(now));
    let most = q.bind(MAX_EVENTS as i64);
    let may = holds_at_least(Operand::Column("r.project_id"), q.bind(user), ProjectRole::Contributor);
    q.push(format!(
        "INSERT INTO run_signals (run_id, name, payload, created_at) SELECT {id}, {name}, {payload}, {now} \
         WHERE EXISTS (SELECT 1 FROM workflow_runs r WHERE r.id = {id} AND r.status IN ('running', 'paused') AND {may}) \
         AND (SELECT count(*) FROM run_signals WHERE run_id = {id}) < {most}"
    ));
    q.finish()
}

/// The attempt of a step a write is for, and the claim on its job: what the write is
/// conditional on.
pub struct StepAttempt<'a> {
    pub attempt: i64,
    /// The claimed job that runs the step.
    pub job: &'a Job,
}

/// The task a `task` step creates, as `user` (who must still be a contributor of `project`),
/// with the tasks group's schema: a task without dependencies starts `ready`, and its history,
/// search entry and events follow from that group's triggers. Only while the step's attempt is
/// running in a run that has not ended and its job is held; and the step records the task in
/// the same batch, so that a job delivered again finds it and creates none.
pub fn create_task(task: &NewTask<'_>, project: Uuid, user: Uuid, now: &str, step: &StepAttempt<'_>) -> Vec<Statement> {
    let mut q = Query::default();
    let (id, title, description) = (q.bind(task.id), q.bind(task.title), q.bind(task.description));
    let (project, user, now, priority) = (q.bind(project), q.bind(user), q.bind(now), q.bind(task.priority_rank));
    let (run, key, attempt) = (q.bind(step.job.run_id), q.bind(step.job.step_key.as_str()), q.bind(step.attempt));
    let may = holds_at_least(project, user, ProjectRole::Contributor);
    let held = step.job.held(&mut q);
    q.push(format!(
        "INSERT INTO tasks (id, project_id, title, description, status, priority, assignee, labels, due_at, progress, \
         waiting_on, created_by, changed_by, created_at, updated_at) \
         SELECT {id}, {project}, {title}, {description}, 'ready', {priority}, NULL, '[\"workflow\"]', NULL, 0, 0, {user}, {user}, \
         {now}, {now} WHERE {may} \
         AND EXISTS (SELECT 1 FROM run_steps s JOIN workflow_runs r ON r.id = s.run_id WHERE s.run_id = {run} AND s.key = {key} \
             AND s.attempt = {attempt} AND s.state = 'running' AND r.status IN ('running', 'paused')) \
         AND {held}"
    ));
    vec![
        q.finish(),
        stmt!(
            "UPDATE run_steps SET task_id = ?4 WHERE run_id = ?1 AND key = ?2 AND attempt = ?3 AND EXISTS (SELECT 1 FROM tasks WHERE id = ?4)",
            step.job.run_id,
            step.job.step_key.as_str(),
            step.attempt,
            task.id
        ),
    ]
}

/// A task as a `task` step gives it.
pub struct NewTask<'a> {
    pub id: Uuid,
    pub title: &'a str,
    pub description: &'a str,
    /// 0 critical, 1 high, 2 medium, 3 low, as the tasks table ranks them.
    pub priority_rank: i64,
}
