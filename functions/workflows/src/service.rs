//! The workflows group's use cases and their policy: members read definitions and runs,
//! maintainers write definitions, contributors start, steer and signal runs. Writes carry the
//! role in their own statements; when one changes nothing, the service finds out why.
//!
//! A write here that makes a job due (a run started or resumed, an event delivered) needs no
//! call to wake the drain: every host wakes it after any request that wrote, as it wakes the
//! real-time hubs, since writes of other groups make jobs due too (a task a step tracks).

use serde_json::Value as Json;
use tui_shared::{ApiError, AppState, ErrorCode, db::Database, domain::ProjectRole, membership, repo::Page, time};
use uuid::Uuid;

use crate::{
    WorkflowsConfig,
    model::{self, Kind, MAX_EVENTS, Run, RunStatus, Step, Workflow},
    repo,
};

fn now(state: &AppState) -> String {
    time::format(state.clock.now())
}

/// Checks a definition, and that each `http` step's URL, where it is given as it is, is one
/// this deployment lets steps call (a URL made of references is checked when the step runs), and
/// that its timeout is within what this deployment allows.
fn check(state: &AppState, steps: &[Step]) -> Result<(), ApiError> {
    model::check(steps)?;
    let config = state.section::<WorkflowsConfig>()?;
    for (i, step) in steps.iter().enumerate() {
        if step.kind == Kind::Http && step.timeout_s.is_some_and(|s| u64::from(s) > config.http_timeout.as_secs()) {
            let most = config.http_timeout.as_secs();
            return Err(ApiError::field(format!("steps[{i}].timeout_s"), format!("an http step may take at most {most} s here")));
        }
        if step.kind == Kind::Http
            && let Some(url) = step.input["url"].as_str()
            && let Ok(url) = crate::outbound::parse(url)
        {
            config.guard.allows(&url).map_err(|refused| ApiError::field(format!("steps[{i}].input.url"), refused.to_string()))?;
        }
    }
    Ok(())
}

fn steps_json(steps: &[Step]) -> Result<String, ApiError> {
    serde_json::to_string(steps).map_err(ApiError::internal)
}

pub async fn create(state: &AppState, project: Uuid, user: Uuid, name: String, steps: Vec<Step>) -> Result<Workflow, ApiError> {
    let db = state.db.as_ref();
    membership::require(db, project, user, ProjectRole::Maintainer).await?;
    check(state, &steps)?;
    let id = Uuid::now_v7();
    let counts = db.batch(repo::create(id, project, user, &name, &steps_json(&steps)?, &now(state))).await?;
    if !tui_shared::db::changed(&counts, 0) {
        return Err(membership::why_refused(db, project, user, ProjectRole::Maintainer).await?.unwrap_or_else(ApiError::not_found));
    }
    visible(state, id, user).await
}

pub async fn visible(state: &AppState, id: Uuid, user: Uuid) -> Result<Workflow, ApiError> {
    repo::visible(state.db.as_ref(), id, user).await?.ok_or_else(ApiError::not_found)
}

pub async fn list(state: &AppState, project: Uuid, user: Uuid, after: Option<Uuid>, limit: usize) -> Result<Page<Workflow>, ApiError> {
    membership::require(state.db.as_ref(), project, user, ProjectRole::Viewer).await?;
    let items = repo::list(state.db.as_ref(), project, after, limit).await?;
    Ok(Page::from_overfetch(items, limit, |w| w.id))
}

/// Makes a new version; runs already started keep theirs.
pub async fn edit(
    state: &AppState,
    id: Uuid,
    user: Uuid,
    name: Option<String>,
    steps: Vec<Step>,
    expected: Option<i64>,
) -> Result<Workflow, ApiError> {
    let db = state.db.as_ref();
    let current = visible(state, id, user).await?;
    membership::require(db, current.project_id, user, ProjectRole::Maintainer).await?;
    check(state, &steps)?;
    let counts = state.acting(user).batch(repo::edit(id, user, name.as_deref(), &steps_json(&steps)?, expected, &now(state))).await?;
    if !tui_shared::db::changed(&counts, 0) {
        if let Some(refused) = membership::why_refused(db, current.project_id, user, ProjectRole::Maintainer).await? {
            return Err(refused);
        }
        return Err(ApiError::new(ErrorCode::PreconditionFailed, "The workflow has changed since that version; read it again."));
    }
    visible(state, id, user).await
}

pub async fn delete(state: &AppState, id: Uuid, user: Uuid) -> Result<(), ApiError> {
    let db = state.db.as_ref();
    let current = visible(state, id, user).await?;
    if state.acting(user).execute(repo::delete(id, user)).await? == 0 {
        return Err(membership::why_refused(db, current.project_id, user, ProjectRole::Maintainer)
            .await?
            .unwrap_or_else(ApiError::not_found));
    }
    Ok(())
}

/// Starts a run of the workflow's current version; its first steps are queued with it. Starts
/// are counted per user, since each may queue up to a thousand steps at once.
pub async fn start(state: &AppState, workflow: Uuid, user: Uuid, input: Json) -> Result<Run, ApiError> {
    let db = state.db.as_ref();
    let definition = visible(state, workflow, user).await?;
    let rule = state.section::<WorkflowsConfig>()?.run_starts;
    tui_shared::ratelimit::check(state.limiter.as_ref(), &[(format!("run_start:{user}"), rule)], time::to_unix_ms(state.clock.now()))
        .await?;
    let id = Uuid::now_v7();
    let counts = db.batch(repo::start(id, workflow, user, &input.to_string(), &now(state))).await?;
    if !tui_shared::db::changed(&counts, 0) {
        // Not allowed, or the workflow was deleted meanwhile.
        return Err(membership::why_refused(db, definition.project_id, user, ProjectRole::Contributor)
            .await?
            .unwrap_or_else(ApiError::not_found));
    }
    run(state, id, user).await
}

pub async fn run(state: &AppState, id: Uuid, user: Uuid) -> Result<Run, ApiError> {
    repo::visible_run(state.db.as_ref(), id, user).await?.ok_or_else(ApiError::not_found)
}

pub async fn runs(
    state: &AppState,
    workflow: Uuid,
    user: Uuid,
    status: Option<RunStatus>,
    after: Option<Uuid>,
    limit: usize,
) -> Result<Page<Run>, ApiError> {
    visible(state, workflow, user).await?;
    let items = repo::runs(state.db.as_ref(), workflow, status, after, limit).await?;
    Ok(Page::from_overfetch(items, limit, |r| r.id))
}

/// What a client can do to a run.
#[derive(Debug, Clone, Copy)]
pub enum Control {
    Pause,
    Resume,
    Cancel,
}

pub async fn control(state: &AppState, id: Uuid, user: Uuid, control: Control) -> Result<Run, ApiError> {
    let (from, to): (&[RunStatus], RunStatus) = match control {
        Control::Pause => (&[RunStatus::Running], RunStatus::Paused),
        Control::Resume => (&[RunStatus::Paused], RunStatus::Running),
        Control::Cancel => (&[RunStatus::Running, RunStatus::Paused], RunStatus::Cancelled),
    };
    let changed = state.acting(user).batch(vec![repo::control(id, user, from, to, &now(state))]).await?;
    if !tui_shared::db::changed(&changed, 0) {
        return Err(refusal(state, id, user, in_status).await?);
    }
    run(state, id, user).await
}

/// Delivers an event to the run; its `wait_event` steps waiting for that name complete.
pub async fn signal(state: &AppState, id: Uuid, user: Uuid, name: &str, payload: &Json) -> Result<Run, ApiError> {
    let db = state.db.as_ref();
    if db.execute(repo::signal(id, user, name, &payload.to_string(), &now(state))).await? == 0 {
        let refused = refusal(state, id, user, |status| match status {
            RunStatus::Running | RunStatus::Paused => {
                ApiError::conflict(format!("The run holds {MAX_EVENTS} events, the most a run takes; it takes no more."))
            }
            ended => in_status(ended),
        });
        return Err(refused.await?);
    }
    run(state, id, user).await
}

fn in_status(status: RunStatus) -> ApiError {
    ApiError::conflict(format!("The run is {}.", status.as_str()))
}

/// Why a contributor's write to a run changed nothing: not theirs to see (404), their role (403),
/// or else what `because` makes of the run's status (409).
async fn refusal(state: &AppState, id: Uuid, user: Uuid, because: impl FnOnce(RunStatus) -> ApiError) -> Result<ApiError, ApiError> {
    let current = run(state, id, user).await?;
    if let Some(refused) = membership::why_refused(state.db.as_ref(), current.project_id, user, ProjectRole::Contributor).await? {
        return Ok(refused);
    }
    Ok(because(current.status))
}
