//! The engine: runs one claimed job (a step's next move), and drains the due jobs. The same code
//! runs wherever the jobs are drained: the native worker pool, a Workers queue consumer or cron
//! trigger, the Spin tick endpoint.
//!
//! A step moves only by conditional writes on `(state, attempt)`, each in one batch with what it
//! does to its job (guarded by the job's lease), so a job delivered twice, or run by a worker
//! that lost its lease, changes nothing the second time. Effects outside the database carry the
//! attempt's idempotency key, `{run}/{step}/{attempt}`: the `Idempotency-Key` header of an
//! `http` call, and the id of the task a `task` step creates (derived from it, and written in the
//! same batch that records it on the step).

use std::{collections::HashMap, time::Duration};

use futures_util::future::Either;

use serde::Deserialize;
use serde_json::{Value as Json, json};
use tui_shared::{
    ApiError, AppState,
    db::{self, Operand, Query, Statement},
    domain::{Description, ProjectRole, Title},
    events::json_list,
    membership::holds_at_least,
    stmt,
    time::{self, Timestamp},
};
use uuid::Uuid;

use crate::{
    config::WorkflowsConfig,
    jobs::{self, Job},
    model::{self, Kind, Reference, RunStatus, Step, StepState},
    outbound, repo,
};

/// How a step's attempt turned out.
#[derive(Debug)]
enum Outcome {
    Done(Json),
    /// Failed; `retry` if another attempt may succeed.
    Failed {
        error: String,
        retry: bool,
    },
    /// Not finished: look again at `until` (or sooner, if something makes the job due).
    Wait(Timestamp),
}

/// The step a job is for, with what its run says.
struct Current {
    step: Step,
    state: StepState,
    attempt: i64,
    /// Calls made for this attempt (`http` steps).
    calls: i64,
    started_at: Option<Timestamp>,
    deadline: Option<Timestamp>,
    task_id: Option<Uuid>,
    run_status: RunStatus,
    input: Json,
    created_by: Uuid,
    project: Uuid,
    /// Whether whoever started the run may still: a contributor of its project.
    creator_may: bool,
}

/// SQL that holds while the creator of run `r` is still a contributor of its project: a run
/// acts on their authority, and stops when they lose it.
fn creator_may() -> String {
    holds_at_least(Operand::Column("r.project_id"), Operand::Column("r.created_by"), ProjectRole::Contributor)
}

/// A row of the query in [`current`]: a step with what its run says.
#[derive(Deserialize)]
struct CurrentRow {
    spec: db::Json<Step>,
    state: StepState,
    attempt: i64,
    calls: i64,
    started_at: Option<String>,
    deadline: Option<String>,
    task_id: Option<Uuid>,
    run_status: RunStatus,
    input: String,
    created_by: Uuid,
    project_id: Uuid,
    creator_may: bool,
}

async fn current(state: &AppState, job: &Job) -> Result<Option<Current>, ApiError> {
    let row = state
        .db
        .query_opt(stmt!(
            format!(
                "SELECT s.spec, s.state, s.attempt, s.calls, s.started_at, s.deadline, s.task_id, r.status AS run_status, r.input, \
                 r.created_by, r.project_id, {} AS creator_may FROM run_steps s JOIN workflow_runs r ON r.id = s.run_id \
                 WHERE s.run_id = ?1 AND s.key = ?2",
                creator_may()
            ),
            job.run_id,
            job.step_key.as_str()
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let row: CurrentRow = row.decode()?;
    Ok(Some(Current {
        step: row.spec.0,
        state: row.state,
        attempt: row.attempt,
        calls: row.calls,
        started_at: row.started_at.as_deref().and_then(time::parse),
        deadline: row.deadline.as_deref().and_then(time::parse),
        task_id: row.task_id,
        run_status: row.run_status,
        input: serde_json::from_str(&row.input).unwrap_or(Json::Null),
        created_by: row.created_by,
        project: row.project_id,
        creator_may: row.creator_may,
    }))
}

fn seconds(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.0, model::MAX_SECONDS))
}

/// `delay` with jitter: within 15 % either way, so that retries of many runs spread out.
fn jittered(delay: f64) -> f64 {
    delay * (0.85 + 0.3 * time::unit_random())
}

/// How many times one attempt's call is made before the attempt fails: a call is made again
/// only when the worker making it died, and a call that kills its worker must not come back for
/// ever.
const MAX_CALLS: i64 = 3;

/// Starts an attempt: the first (from `ready`, in a running run) or a retry whose delay is over
/// (`running` without a start), while the job is held and the run's creator may still act.
async fn begin(state: &AppState, job: &Job, current: &Current, deadline: Option<&str>, stamp: &str) -> Result<bool, ApiError> {
    let mut q = Query::default();
    let (run, key, attempt) = (q.bind(job.run_id), q.bind(job.step_key.as_str()), q.bind(current.attempt));
    let (now, deadline) = (q.bind(stamp), q.bind(deadline));
    let held = job.held(&mut q);
    let creator_may = creator_may();
    q.push(if current.state == StepState::Ready {
        format!(
            "UPDATE run_steps SET state = 'running', attempt = 1, calls = 0, started_at = {now}, first_started_at = {now}, \
             deadline = {deadline}, updated_at = {now} WHERE run_id = {run} AND key = {key} AND state = 'ready' AND attempt = {attempt} \
             AND EXISTS (SELECT 1 FROM workflow_runs r WHERE r.id = {run} AND r.status = 'running' AND {creator_may}) AND {held}"
        )
    } else {
        format!(
            "UPDATE run_steps SET started_at = {now}, deadline = {deadline}, updated_at = {now} \
             WHERE run_id = {run} AND key = {key} AND state = 'running' AND attempt = {attempt} AND started_at IS NULL \
             AND EXISTS (SELECT 1 FROM workflow_runs r WHERE r.id = {run} AND {creator_may}) AND {held}"
        )
    });
    Ok(state.db.execute(q.finish()).await? > 0)
}

/// Runs the job's step as far as it goes now.
pub async fn run(state: &AppState, mut job: Job) -> Result<(), ApiError> {
    let db = state.db.as_ref();
    let Some(mut current) = current(state, &job).await? else {
        db.execute(job.finish()).await?;
        return Ok(());
    };
    let now = state.clock.now();
    let stamp = time::format(now);
    let config = state.section::<WorkflowsConfig>()?;
    let timeout = match current.step.kind {
        Kind::Http => Some(current.step.timeout_s.map_or(config.http_timeout, |s| Duration::from_secs(s.into()))),
        Kind::Agent => {
            let most = state.section::<tui_swarms_agents::SwarmsConfig>()?.step_timeout;
            Some(current.step.timeout_s.map_or(most, |s| Duration::from_secs(s.into())))
        }
        _ => current.step.timeout_s.map(|s| Duration::from_secs(s.into())),
    };
    let live =
        matches!(current.state, StepState::Running) || (current.state == StepState::Ready && current.run_status == RunStatus::Running);
    if !live {
        // Ready in a paused run (resuming queues it again), waiting, or finished: nothing to do.
        db.execute(job.finish()).await?;
        return Ok(());
    }
    if !current.creator_may {
        let error = "the run's creator is no longer a contributor of the project".to_owned();
        return settle(state, &job, &current, Outcome::Failed { error, retry: false }, Vec::new()).await;
    }
    if current.state == StepState::Ready || current.started_at.is_none() {
        let deadline = timeout.map(|t| time::format(now + t));
        if !begin(state, &job, &current, deadline.as_deref(), &stamp).await? {
            // Something moved first (a pause, a cancel, another worker): look again.
            db.execute(job.release(&stamp, &stamp)).await?;
            return Ok(());
        }
        if current.state == StepState::Ready {
            current.attempt = 1;
        }
        current.state = StepState::Running;
        current.calls = 0;
        current.started_at = Some(now);
        current.deadline = deadline.as_deref().and_then(time::parse);
    } else if matches!(current.step.kind, Kind::Http | Kind::Agent) {
        // A call whose worker died before it answered is made again, as the same attempt with
        // the same key and a full timeout: the callee has the effect once, whichever call it saw
        // (an agent's call to Claude is made again, and recorded once, with the step's move).
        current.deadline = timeout.map(|t| now + t);
    }

    let (outcome, writes) = match current.deadline {
        Some(deadline) if now >= deadline => (timed_out(&current, timeout), Vec::new()),
        _ => attempt(state, &mut job, &current, &config).await?,
    };
    let outcome = match outcome {
        // A wait never outlasts the attempt's deadline.
        Outcome::Wait(until) => match current.deadline {
            Some(deadline) if state.clock.now() >= deadline => timed_out(&current, timeout),
            Some(deadline) => Outcome::Wait(until.min(deadline)),
            None => Outcome::Wait(until),
        },
        other => other,
    };
    settle(state, &job, &current, outcome, writes).await
}

fn timed_out(current: &Current, timeout: Option<Duration>) -> Outcome {
    let seconds = timeout.map_or(0, |t| t.as_secs());
    Outcome::Failed { error: format!("attempt {} timed out after {seconds} s", current.attempt), retry: true }
}

/// A move of the step, made only from its current state and attempt and while the job is held:
/// `set` binds its values to the statement and gives its `SET` clause.
fn step_move(job: &Job, current: &Current, set: impl FnOnce(&mut Query) -> String) -> Statement {
    let mut q = Query::new("UPDATE run_steps SET ");
    let set = set(&mut q);
    q.push(set);
    let (run, key) = (q.bind(job.run_id), q.bind(job.step_key.as_str()));
    let (state, attempt) = (q.bind(current.state.as_str()), q.bind(current.attempt));
    let held = job.held(&mut q);
    q.push(format!(" WHERE run_id = {run} AND key = {key} AND state = {state} AND attempt = {attempt} AND {held}"));
    q.finish()
}

/// Records an attempt's outcome, with what it means for the job, in one batch; `writes` (what
/// the attempt did besides, each guarded by the attempt) go first, so that the step's move sees
/// them (an orchestration's plan adds the steps that wait for it).
async fn settle(state: &AppState, job: &Job, current: &Current, outcome: Outcome, writes: Vec<Statement>) -> Result<(), ApiError> {
    let db = state.db.as_ref();
    let now = state.clock.now();
    let stamp = time::format(now);
    match outcome {
        Outcome::Done(output) => {
            let moved = step_move(job, current, |q| {
                let (output, now) = (q.bind(output.to_string()), q.bind(stamp.as_str()));
                format!("state = 'completed', output = {output}, error = NULL, deadline = NULL, finished_at = {now}, updated_at = {now}")
            });
            db.batch(chain(writes, [moved, job.finish()])).await?;
            // Its dependents may be due now.
            state.jobs.wake(Duration::ZERO).await;
        }
        Outcome::Failed { error, retry } => {
            let limit = current.step.retry.as_ref().map_or(0, |r| i64::from(r.limit));
            if retry && current.state == StepState::Running && current.attempt <= limit {
                let delay = jittered(current.step.retry.as_ref().map_or(0.0, |r| r.delay(current.attempt as u32 + 1)));
                let due = time::format(now + seconds(delay));
                // The next attempt makes its own task, if it is a task step: the last one's no
                // longer moves the step.
                let moved = step_move(job, current, |q| {
                    let (error, now) = (q.bind(error), q.bind(stamp.as_str()));
                    format!(
                        "attempt = attempt + 1, calls = 0, task_id = NULL, error = {error}, started_at = NULL, deadline = NULL, \
                         updated_at = {now}"
                    )
                });
                db.batch(chain(writes, [moved, job.release(&due, &due)])).await?;
                state.jobs.wake(seconds(delay)).await;
            } else {
                let moved = step_move(job, current, |q| {
                    let (error, now) = (q.bind(error), q.bind(stamp.as_str()));
                    format!("state = 'failed', error = {error}, deadline = NULL, finished_at = {now}, updated_at = {now}")
                });
                db.batch(chain(writes, [moved, job.finish()])).await?;
            }
        }
        Outcome::Wait(until) => {
            let due = if until.year() >= 9999 { jobs::NEVER.to_owned() } else { time::format(until) };
            db.batch(chain(writes, [job.release(&due, &stamp)])).await?;
            if until.year() < 9999 {
                state.jobs.wake((until - now).try_into().unwrap_or_default()).await;
            }
        }
    }
    Ok(())
}

fn chain(mut first: Vec<Statement>, then: impl IntoIterator<Item = Statement>) -> Vec<Statement> {
    first.extend(then);
    first
}

/// The far future, for a wait without end.
fn never() -> Timestamp {
    time::parse(jobs::NEVER).unwrap_or(time::Timestamp::UNIX_EPOCH)
}

/// The current attempt's work, by the step's kind, and what it wrote besides (an agent's calls).
async fn attempt(
    state: &AppState,
    job: &mut Job,
    current: &Current,
    config: &WorkflowsConfig,
) -> Result<(Outcome, Vec<Statement>), ApiError> {
    let input = resolved_input(state, job.run_id, current).await?;
    let now = state.clock.now();
    if current.step.kind == Kind::Agent {
        return agent(state, job, current, &input, config).await;
    }
    let outcome = match current.step.kind {
        Kind::Sleep => match model::sleep_seconds(&input["seconds"]) {
            Err(refused) => Outcome::Failed { error: refused.to_string(), retry: false },
            Ok(s) => {
                let until = current.started_at.unwrap_or(now) + seconds(s);
                if now >= until { Outcome::Done(json!({"slept_s": s})) } else { Outcome::Wait(until) }
            }
        },
        Kind::WaitEvent => match model::event_name(&input["name"]) {
            Err(refused) => Outcome::Failed { error: refused.to_string(), retry: false },
            Ok(name) => {
                let row = state
                    .db
                    .query_opt(stmt!(
                        "SELECT payload FROM run_signals WHERE run_id = ?1 AND name = ?2 ORDER BY seq LIMIT 1",
                        job.run_id,
                        name.as_str()
                    ))
                    .await?;
                match row.map(|row| row.decode::<(String,)>()).transpose()? {
                    Some((payload,)) => {
                        Outcome::Done(json!({"name": name, "payload": serde_json::from_str::<Json>(&payload).unwrap_or(Json::Null)}))
                    }
                    None => Outcome::Wait(never()),
                }
            }
        },
        Kind::Task => task(state, job, current, &input).await?,
        Kind::Http => http(state, job, current, &input, config).await?,
        Kind::Agent => unreachable!("agent steps return above"),
    };
    Ok((outcome, Vec::new()))
}

/// An `agent` step: the job held through its calls to Claude, if it makes any, then the swarms
/// group's agent at work.
async fn agent(
    state: &AppState,
    job: &mut Job,
    current: &Current,
    input: &Json,
    config: &WorkflowsConfig,
) -> Result<(Outcome, Vec<Statement>), ApiError> {
    let now = state.clock.now();
    let deadline = current.deadline.unwrap_or(now + config.http_timeout);
    if tui_swarms_agents::agent::calls_claude(input) {
        if current.calls >= MAX_CALLS {
            let error = format!("the calls were cut off {MAX_CALLS} times: the worker making them stopped each time");
            return Ok((Outcome::Failed { error, retry: false }, Vec::new()));
        }
        if !hold_for_call(state, job, current, deadline, config).await? {
            return Ok((Outcome::Wait(now), Vec::new()));
        }
    }
    let claim = tui_swarms_agents::agent::Claim {
        run: job.run_id,
        key: job.step_key.clone(),
        attempt: current.attempt,
        job: job.id,
        lease: job.lease.clone(),
    };
    let at = tui_swarms_agents::agent::Attempt { claim, project: current.project, user: current.created_by, input, deadline };
    let (outcome, writes) = tui_swarms_agents::agent::step(state, &at).await?;
    let outcome = match outcome {
        tui_swarms_agents::agent::Outcome::Done(output) => Outcome::Done(output),
        tui_swarms_agents::agent::Outcome::Failed { error, retry } => Outcome::Failed { error, retry },
        tui_swarms_agents::agent::Outcome::Wait(until) => Outcome::Wait(until),
    };
    Ok((outcome, writes))
}

/// Before a call that may outlast the claim: holds the job until well after the attempt's
/// deadline, so that no other worker repeats the call meanwhile, and counts the call, in one
/// batch. False if another worker holds the job now, or the step moved on.
async fn hold_for_call(
    state: &AppState,
    job: &mut Job,
    current: &Current,
    deadline: Timestamp,
    config: &WorkflowsConfig,
) -> Result<bool, ApiError> {
    let until = time::format(deadline + config.lease);
    let counted = state
        .db
        .batch(vec![
            stmt!("UPDATE jobs SET lease_until = ?3 WHERE id = ?1 AND lease_until = ?2", job.id, job.lease.as_str(), until.as_str()),
            stmt!(
                "UPDATE run_steps SET calls = calls + 1 WHERE run_id = ?1 AND key = ?2 AND attempt = ?3 AND state = 'running' \
                 AND EXISTS (SELECT 1 FROM jobs WHERE id = ?4 AND lease_until = ?5)",
                job.run_id,
                job.step_key.as_str(),
                current.attempt,
                job.id,
                until.as_str(),
            ),
        ])
        .await?;
    if tui_shared::db::changed(&counted, 0) {
        job.lease = until;
    }
    Ok(tui_shared::db::changed(&counted, 1))
}

/// The step's input with its references resolved: outputs of the steps it names, the run's input.
async fn resolved_input(state: &AppState, run: Uuid, current: &Current) -> Result<Json, ApiError> {
    let mut found = Vec::new();
    model::references(&current.step.input, &mut found);
    let keys: Vec<String> = found
        .into_iter()
        .filter_map(|r| match r {
            Ok(Reference::Step { key, .. }) => Some(key),
            _ => None,
        })
        .collect();
    let mut outputs = HashMap::new();
    if !keys.is_empty() {
        let rows = state
            .db
            .query(Statement::new(
                "SELECT key, output FROM run_steps WHERE run_id = ?1 AND state = 'completed' AND key IN (SELECT value FROM json_each(?2))",
                vec![run.into(), json_list(&keys)],
            ))
            .await?;
        for row in rows {
            let (key, output): (String, Option<String>) = row.decode()?;
            outputs.insert(key, output.and_then(|o| serde_json::from_str(&o).ok()).unwrap_or(Json::Null));
        }
    }
    Ok(model::resolve(&current.step.input, &outputs, &current.input))
}

/// A `task` step: creates its attempt's task once (as the run's creator, in the run's project),
/// then completes when the task does.
async fn task(state: &AppState, job: &Job, current: &Current, input: &Json) -> Result<Outcome, ApiError> {
    let db = state.db.as_ref();
    let id = Uuid::new_v5(&job.run_id, format!("{}/{}", job.step_key, current.attempt).as_bytes());
    if current.task_id != Some(id) {
        // The tasks group's own rules for what a task says.
        let title = match Title::try_from(input["title"].as_str().unwrap_or_default().to_owned()) {
            Ok(title) => String::from(title),
            Err(error) => return Ok(Outcome::Failed { error: format!("title {error}"), retry: false }),
        };
        let description = match Description::try_from(input["description"].as_str().unwrap_or_default().to_owned()) {
            Ok(description) => String::from(description),
            Err(error) => return Ok(Outcome::Failed { error: format!("description {error}"), retry: false }),
        };
        use tui_shared::domain::Priority;
        let priority = match input["priority"].as_str().map(Priority::parse) {
            None => Priority::Medium,
            Some(Some(priority)) => priority,
            Some(None) => return Ok(Outcome::Failed { error: "priority must be low, medium, high or critical".into(), retry: false }),
        };
        let new = repo::NewTask { id, title: &title, description: &description, priority_rank: priority.rank() };
        let now = time::format(state.clock.now());
        let step = repo::StepAttempt { attempt: current.attempt, job };
        let counts = db.batch(repo::create_task(&new, current.project, current.created_by, &now, &step)).await?;
        if !tui_shared::db::changed(&counts, 1) {
            // Not created: the creator lost their role, or the step or the job moved on. The
            // next look at the step says which.
            return Ok(Outcome::Wait(state.clock.now()));
        }
    }
    let row = db.query_opt(stmt!("SELECT status FROM tasks WHERE id = ?1", id)).await?;
    Ok(match row.map(|row| row.decode::<(String,)>()).transpose()?.map(|(status,)| status).as_deref() {
        Some("completed") => Outcome::Done(json!({"task_id": id, "status": "completed"})),
        Some(status @ ("failed" | "cancelled")) => Outcome::Failed { error: format!("task {id} {status}"), retry: true },
        Some(_) => Outcome::Wait(never()),
        None => Outcome::Failed { error: format!("task {id} was deleted"), retry: true },
    })
}

/// The most of a response body an `http` step keeps as its output.
pub(crate) const MAX_RESPONSE: usize = 64 * 1024;

/// An `http` step: one call, with the attempt's idempotency key, cut off at its deadline.
async fn http(state: &AppState, job: &mut Job, current: &Current, input: &Json, config: &WorkflowsConfig) -> Result<Outcome, ApiError> {
    let call = match outbound::Call::read(input, &config.guard) {
        Ok(call) => call,
        Err(refused) => return Ok(Outcome::Failed { error: refused.to_string(), retry: false }),
    };
    let now = state.clock.now();
    let deadline = current.deadline.unwrap_or(now + config.http_timeout);
    if current.calls >= MAX_CALLS {
        let error = format!("the call was cut off {MAX_CALLS} times: the worker making it stopped each time");
        return Ok(Outcome::Failed { error, retry: false });
    }
    if !hold_for_call(state, job, current, deadline, config).await? {
        // Another worker holds the job now, or the step moved on.
        return Ok(Outcome::Wait(now));
    }
    let key = format!("{}/{}/{}", job.run_id, job.step_key, current.attempt);
    let request = call.request(&key).map_err(ApiError::internal)?;
    let left: Duration = (deadline - now).try_into().unwrap_or_default();
    let sent = state.public_outbound.send(request);
    let timed_out = tui_shared::adapters::sleep(left);
    let response =
        match futures_util::future::select(Box::pin(sent), futures_util::future::select(Box::pin(timed_out), Box::pin(lost(state, job))))
            .await
        {
            Either::Left((response, _)) => response,
            Either::Right((Either::Left(_), _)) => {
                return Ok(Outcome::Failed {
                    error: format!("attempt {} timed out after {} s", current.attempt, left.as_secs()),
                    retry: true,
                });
            }
            // Nothing this attempt does can move the step any more.
            Either::Right((Either::Right(_), _)) => return Ok(Outcome::Wait(state.clock.now())),
        };
    Ok(match response {
        Ok(response) => answered(&call.url, response.status(), response.body()),
        Err(error) => Outcome::Failed { error: error.to_string(), retry: true },
    })
}

/// How often a call under way looks whether its job is still held.
const HELD_CHECK: Duration = Duration::from_secs(2);

/// Ends once this worker no longer holds `job`: its run was cancelled or failed, its workflow or
/// project deleted (each deletes the job), or its lease passed to another worker. A call is then
/// dropped rather than left holding a worker until its timeout: a deleted job no longer counts
/// among its user's and project's claims, so a user cancelling runs of slow calls and starting
/// others would otherwise occupy every worker while holding no claim. A failed look is not
/// taken for a lost job.
async fn lost(state: &AppState, job: &Job) {
    loop {
        tui_shared::adapters::sleep(HELD_CHECK).await;
        let held = state.db.query_opt(stmt!("SELECT 1 FROM jobs WHERE id = ?1 AND lease_until = ?2", job.id, job.lease.as_str())).await;
        if matches!(held, Ok(None)) {
            return;
        }
    }
}

/// What an `http` step's answer makes of its attempt: done, with the status and the body (JSON,
/// or else text); or failed, to be tried again if a later call may be answered otherwise.
fn answered(url: &url::Url, status: http::StatusCode, body: &[u8]) -> Outcome {
    if body.len() > MAX_RESPONSE {
        return Outcome::Failed { error: format!("the response body is over {MAX_RESPONSE} bytes"), retry: false };
    }
    if status.is_success() {
        let body = serde_json::from_slice::<Json>(body).unwrap_or_else(|_| Json::String(String::from_utf8_lossy(body).into_owned()));
        Outcome::Done(json!({"status": status.as_u16(), "body": body}))
    } else {
        let retry = status.is_server_error() || matches!(status.as_u16(), 408 | 425 | 429);
        Outcome::Failed { error: format!("{} answered {status}", url.host_str().unwrap_or_default()), retry }
    }
}

/// How much one drain may do before it returns, and how many jobs it runs at once (their
/// database calls and outbound requests overlap, on one thread or many).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub jobs: usize,
    pub time: Duration,
    pub lanes: usize,
}

/// What a drain did.
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub struct Drained {
    /// Jobs run.
    pub ran: usize,
    /// Whether jobs were still due when the budget ran out.
    pub more: bool,
}

/// How long a lane that found nothing it may take waits before it looks again, while another
/// lane still claims or runs a job (the drain lasts until that one ends anyway).
const LOOK_AGAIN: Duration = Duration::from_secs(1);

/// Runs due jobs, `budget.lanes` at a time, until none is due or the budget is spent; at most
/// [`jobs::http_lanes`] of the lanes run `http` steps at once.
///
/// A drain lasts as long as its slowest step, and an `http` step may take minutes. Meanwhile the
/// other lanes keep looking for work (past the time budget too, but then taking no `http` step,
/// which could only make the drain longer): a step that falls due meanwhile, a vote closing, an
/// orchestration's next step, is run by this drain, not left for the next one, which a scheduler
/// that waits for a tick's answer, or a queue whose consumer is busy, starts only after the slow
/// step ends.
pub async fn drain(state: &AppState, budget: Budget) -> Result<Drained, ApiError> {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    let started = state.clock.now();
    let config = state.section::<WorkflowsConfig>()?;
    let lanes = budget.lanes.max(1);
    let most_calling = jobs::http_lanes(lanes);
    // Jobs taken; lanes claiming or running a job; lanes holding one of the http lanes.
    let (taken, busy, calling) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
    let lane = || async {
        loop {
            let within = state.clock.now() - started < budget.time;
            if !within && busy.load(Relaxed) == 0 {
                return Ok::<_, ApiError>(true);
            }
            if taken.fetch_add(1, Relaxed) >= budget.jobs {
                return Ok(true);
            }
            busy.fetch_add(1, Relaxed);
            // An http lane is held before the claim, so that lanes claiming at once cannot
            // together take more than the share.
            let calls = within && calling.fetch_update(Relaxed, Relaxed, |n| (n < most_calling).then_some(n + 1)).is_ok();
            let claimed = jobs::claim(state.db.as_ref(), state.clock.now(), &config, calls).await;
            let is_call = matches!(&claimed, Ok(Some(job)) if job.kind == Kind::Http);
            if calls && !is_call {
                calling.fetch_sub(1, Relaxed);
            }
            let job = match claimed {
                Ok(Some(job)) => job,
                Ok(None) => {
                    taken.fetch_sub(1, Relaxed);
                    if busy.fetch_sub(1, Relaxed) == 1 {
                        // Nothing this lane may take, and no other lane at work to wait for.
                        return Ok(!within);
                    }
                    tui_shared::adapters::sleep(LOOK_AGAIN).await;
                    continue;
                }
                Err(error) => {
                    busy.fetch_sub(1, Relaxed);
                    return Err(error);
                }
            };
            if let Err(error) = run(state, job).await {
                // The job's lease runs out and it is claimed again.
                tracing::warn!(%error, "a workflow job failed; it is retried when its lease ends");
            }
            busy.fetch_sub(1, Relaxed);
            if is_call {
                calling.fetch_sub(1, Relaxed);
            }
        }
    };
    let lanes = futures_util::future::join_all((0..lanes).map(|_| lane())).await;
    let more = lanes.into_iter().collect::<Result<Vec<bool>, _>>()?.into_iter().any(|more| more);
    let ran = taken.load(Relaxed).min(budget.jobs);
    Ok(Drained { ran, more })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Outcome {
        let url = url::Url::parse("https://hooks.example.com/build").unwrap();
        answered(&url, http::StatusCode::from_u16(status).unwrap(), body.as_bytes())
    }

    #[test]
    fn a_successful_answer_is_the_steps_output_as_json_or_text() {
        let Outcome::Done(output) = answer(201, r#"{"id": 7}"#) else { panic!("not done") };
        assert_eq!(output, json!({"status": 201, "body": {"id": 7}}));
        let Outcome::Done(output) = answer(200, "plain words") else { panic!("not done") };
        assert_eq!(output, json!({"status": 200, "body": "plain words"}));
    }

    #[test]
    fn an_error_status_fails_the_attempt_and_is_retried_if_it_may_pass() {
        for (status, retried) in [(500, true), (503, true), (408, true), (425, true), (429, true), (400, false), (404, false)] {
            let Outcome::Failed { error, retry } = answer(status, "") else { panic!("{status} did not fail") };
            assert!(error.starts_with("hooks.example.com answered "), "{error}");
            assert_eq!(retry, retried, "{status}");
        }
    }

    #[test]
    fn an_answer_too_large_to_keep_fails_for_good() {
        let Outcome::Failed { error, retry } = answer(200, &"x".repeat(MAX_RESPONSE + 1)) else { panic!("kept") };
        assert_eq!((error.as_str(), retry), ("the response body is over 65536 bytes", false));
    }
}
