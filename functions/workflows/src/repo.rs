//! The workflows group's SQL: definitions and their versions, runs and their steps, and the
//! jobs table the engine drains. Every write that a role allows carries the role in its own
//! `WHERE`.

use serde_json::Value as Json;
use tui_shared::{
    ApiError,
    db::{Database, DbResult, Row, Statement, Value},
    domain::ProjectRole,
    membership::holds_at_least,
    stmt,
};
use uuid::Uuid;

use crate::model::{Kind, Run, RunStatus, RunStep, Step, StepState, Workflow};

fn json(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or(Json::Null)
}

fn optional(value: Option<String>) -> Value {
    value.map_or(Value::Null, Value::from)
}

const WORKFLOW: &str = "SELECT w.id, w.project_id, w.name, w.version, v.steps, w.created_by, w.created_at, w.updated_at \
                        FROM workflows w JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = w.version";

fn workflow(row: &Row) -> DbResult<Workflow> {
    let (id, project_id, name, version, steps, created_by, created_at, updated_at): (
        Uuid,
        Uuid,
        String,
        i64,
        String,
        Uuid,
        String,
        String,
    ) = row.decode()?;
    let steps: Vec<Step> = serde_json::from_str(&steps).map_err(|e| tui_shared::db::DbError::decode(e.to_string()))?;
    Ok(Workflow { id, project_id, name, version, steps, created_by, created_at, updated_at })
}

/// Creates a workflow at version 1, if `user` is a maintainer of `project`.
pub fn create(id: Uuid, project: Uuid, user: Uuid, name: &str, steps: &str, now: &str) -> Vec<Statement> {
    let may = holds_at_least("?2", "?4", ProjectRole::Maintainer);
    vec![
        stmt!(
            format!(
                "INSERT INTO workflows (id, project_id, name, version, created_by, created_at, updated_at) \
                 SELECT ?1, ?2, ?3, 1, ?4, ?5, ?5 WHERE {may}"
            ),
            id,
            project,
            name,
            user,
            now
        ),
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
    let may = holds_at_least("workflows.project_id", "?2", ProjectRole::Maintainer);
    vec![
        stmt!(
            format!(
                "UPDATE workflows SET version = version + 1, name = coalesce(?3, name), updated_at = ?4 \
                 WHERE id = ?1 AND swarm_id IS NULL AND {may} AND (?5 IS NULL OR version = ?5)"
            ),
            id,
            user,
            optional(name.map(str::to_owned)),
            now,
            expected.map_or(Value::Null, Value::from)
        ),
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
    let may = holds_at_least("workflows.project_id", "?2", ProjectRole::Maintainer);
    stmt!(format!("DELETE FROM workflows WHERE id = ?1 AND swarm_id IS NULL AND {may}"), id, user)
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
    let may = holds_at_least("w.project_id", "?3", ProjectRole::Contributor);
    // The run's steps, as the version it started with defines them.
    let steps = "json_each((SELECT v.steps FROM workflow_versions v JOIN workflow_runs r ON r.workflow_id = v.workflow_id \
                 AND r.version = v.version WHERE r.id = ?1)) s";
    vec![
        stmt!(
            format!(
                "INSERT INTO workflow_runs (id, workflow_id, version, project_id, status, input, created_by, created_at, updated_at) \
                 SELECT ?1, w.id, w.version, w.project_id, 'running', ?4, ?3, ?5, ?5 FROM workflows w WHERE w.id = ?2 AND w.swarm_id IS NULL AND {may}"
            ),
            run,
            workflow,
            user,
            input,
            now
        ),
        stmt!(
            format!(
                "INSERT INTO run_steps (run_id, key, position, spec, kind, state, waiting_on, updated_at) \
                 SELECT ?1, json_extract(s.value, '$.key'), s.key, s.value, json_extract(s.value, '$.kind'), \
                     CASE json_array_length(s.value, '$.needs') WHEN 0 THEN 'ready' ELSE 'waiting' END, \
                     json_array_length(s.value, '$.needs'), ?2 \
                 FROM {steps}"
            ),
            run,
            now
        ),
        stmt!(
            format!(
                "INSERT INTO run_step_needs (run_id, needs, key) \
                 SELECT ?1, n.value, json_extract(s.value, '$.key') FROM {steps}, json_each(s.value, '$.needs') n"
            ),
            run
        ),
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

fn run(row: &Row) -> DbResult<Run> {
    #[expect(clippy::type_complexity, reason = "one row of the run query, decoded once")]
    let (id, workflow_id, version, project_id, status, input, error, created_by, created_at, updated_at, finished_at): (
        Uuid,
        Uuid,
        i64,
        Uuid,
        RunStatus,
        String,
        Option<String>,
        Uuid,
        String,
        String,
        Option<String>,
    ) = row.decode()?;
    let input = json(&input);
    Ok(Run {
        id,
        workflow_id,
        version,
        project_id,
        status,
        input,
        error,
        created_by,
        created_at,
        updated_at,
        finished_at,
        steps: Vec::new(),
    })
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
        #[expect(clippy::type_complexity, reason = "one row of the steps query, decoded once")]
        let (key, kind, state, attempt, output, error, task_id, started_at, finished_at, deadline): (
            String,
            Kind,
            StepState,
            i64,
            Option<String>,
            Option<String>,
            Option<Uuid>,
            Option<String>,
            Option<String>,
            Option<String>,
        ) = row.decode()?;
        Ok(RunStep { key, kind, state, attempt, output: output.as_deref().map(json), error, task_id, started_at, finished_at, deadline })
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
    let may = holds_at_least("workflow_runs.project_id", "?2", ProjectRole::Contributor);
    let from: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
    let finished = if matches!(to, RunStatus::Cancelled) { "?3" } else { "finished_at" };
    stmt!(
        format!(
            "UPDATE workflow_runs SET status = ?4, updated_at = ?3, finished_at = {finished} \
             WHERE id = ?1 AND status IN ({}) AND {may}",
            from.join(", ")
        ),
        id,
        user,
        now,
        to.as_str()
    )
}

/// Delivers an event to a run that has not ended, if `user` is a contributor of its project.
pub fn signal(id: Uuid, user: Uuid, name: &str, payload: &str, now: &str) -> Statement {
    let may = holds_at_least("r.project_id", "?5", ProjectRole::Contributor);
    stmt!(
        format!(
            "INSERT INTO run_signals (run_id, name, payload, created_at) SELECT ?1, ?2, ?3, ?4 \
             WHERE EXISTS (SELECT 1 FROM workflow_runs r WHERE r.id = ?1 AND r.status IN ('running', 'paused') AND {may})"
        ),
        id,
        name,
        payload,
        now,
        user
    )
}

/// The attempt of a step a write is for, and the claim on its job: what the write is
/// conditional on.
pub struct StepAttempt<'a> {
    pub run: Uuid,
    pub key: &'a str,
    pub attempt: i64,
    pub claim: [Value; 2],
}

/// The task a `task` step creates, as `user` (who must still be a contributor of `project`),
/// with the tasks group's schema: a task without dependencies starts `ready`, and its history,
/// search entry and events follow from that group's triggers. Only while the step's attempt is
/// running in a run that has not ended and its job is held; and the step records the task in
/// the same batch, so that a job delivered again finds it and creates none.
pub fn create_task(task: &NewTask<'_>, project: Uuid, user: Uuid, now: &str, step: &StepAttempt<'_>) -> Vec<Statement> {
    let may = holds_at_least("?4", "?5", ProjectRole::Contributor);
    let [job, lease] = step.claim.clone();
    vec![
        Statement::new(
            format!(
                "INSERT INTO tasks (id, project_id, title, description, status, priority, assignee, labels, due_at, progress, \
                 waiting_on, created_by, changed_by, created_at, updated_at) \
                 SELECT ?1, ?4, ?2, ?3, 'ready', ?7, NULL, '[\"workflow\"]', NULL, 0, 0, ?5, ?5, ?6, ?6 WHERE {may} \
                 AND EXISTS (SELECT 1 FROM run_steps s JOIN workflow_runs r ON r.id = s.run_id WHERE s.run_id = ?8 AND s.key = ?9 \
                     AND s.attempt = ?10 AND s.state = 'running' AND r.status IN ('running', 'paused')) \
                 AND EXISTS (SELECT 1 FROM jobs WHERE id = ?11 AND lease_until = ?12)"
            ),
            vec![
                task.id.into(),
                task.title.into(),
                task.description.into(),
                project.into(),
                user.into(),
                now.into(),
                task.priority_rank.into(),
                step.run.into(),
                step.key.into(),
                step.attempt.into(),
                job,
                lease,
            ],
        ),
        stmt!(
            "UPDATE run_steps SET task_id = ?4 WHERE run_id = ?1 AND key = ?2 AND attempt = ?3 AND EXISTS (SELECT 1 FROM tasks WHERE id = ?4)",
            step.run,
            step.key,
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
