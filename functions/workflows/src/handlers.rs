//! Handlers of the workflows group: the contract's shapes in and out, nothing else.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::Value as Json;
use tui_shared::{
    ApiError, AppState,
    auth::tokens::sha256_hex,
    domain::Name,
    http::{
        extract::{AuthUser, Ids, IfMatch, PageParams, Query, etag},
        json::{Json as Body, present},
    },
    repo::Page,
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    config::WorkflowsConfig,
    engine::{self, Budget, Drained},
    model::{Run, RunStatus, Step, Workflow},
    service::{self, Control},
};

fn with_etag(status: StatusCode, workflow: Workflow) -> Response {
    (status, [etag(workflow.version)], axum::Json(workflow)).into_response()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkflow {
    name: Name,
    /// 1 to 1,000 steps; `needs` must form a DAG.
    #[schema(min_items = 1, max_items = 1000)]
    steps: Vec<Step>,
}

/// Define a workflow (maintainers and up). Each step waits for its `needs`; a cycle is a 409
/// naming it, a `needs` naming no step a 422 naming it.
#[utoipa::path(post, path = "/v1/projects/{id}/workflows", tag = "workflows", security(("bearer" = [])), request_body = NewWorkflow,
    responses((status = 201, body = Workflow, headers(("etag" = String), ("location" = String))),
        (status = 403, description = "Below maintainer"), (status = 409, description = "The steps' needs form a cycle"),
        (status = 422, description = "A field is invalid")))]
pub async fn create_workflow(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(project): Ids<Uuid>,
    Body(body): Body<NewWorkflow>,
) -> Result<Response, ApiError> {
    let workflow = service::create(&state, project, caller.id, body.name.into(), body.steps).await?;
    let location = (header::LOCATION, format!("/v1/workflows/{}", workflow.id));
    Ok((StatusCode::CREATED, [etag(workflow.version), location], axum::Json(workflow)).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// How many items, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Where the previous page ended (its `next_cursor`).
    #[param(pattern = "^[A-Za-z0-9_-]{22}$")]
    cursor: Option<String>,
}

/// A project's workflows, newest first.
#[utoipa::path(get, path = "/v1/projects/{id}/workflows", tag = "workflows", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = Page<Workflow>), (status = 404, description = "No such project, or not yours")))]
pub async fn list_workflows(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(project): Ids<Uuid>,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<Page<Workflow>>, ApiError> {
    let page = PageParams { limit: query.limit, cursor: query.cursor };
    service::list(&state, project, caller.id, page.after()?, page.limit()?).await.map(axum::Json)
}

/// A workflow at its current version.
#[utoipa::path(get, path = "/v1/workflows/{id}", tag = "workflows", security(("bearer" = [])),
    responses((status = 200, body = Workflow, headers(("etag" = String))), (status = 404, description = "No such workflow, or not yours")))]
pub async fn get_workflow(State(state): State<AppState>, caller: AuthUser, Ids(id): Ids<Uuid>) -> Result<Response, ApiError> {
    Ok(with_etag(StatusCode::OK, service::visible(&state, id, caller.id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowVersion {
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    name: Option<Name>,
    #[schema(min_items = 1, max_items = 1000)]
    steps: Vec<Step>,
}

/// Write the workflow's next version (maintainers and up). Runs already started keep the
/// version they started with.
#[utoipa::path(put, path = "/v1/workflows/{id}", tag = "workflows", security(("bearer" = [])), request_body = WorkflowVersion,
    params(("If-Match" = Option<String>, Header, pattern = r#"^(\*|(W/)?"[0-9]+")$"#,
        description = "The ETag of the version the edit is meant for, or *")),
    responses((status = 200, body = Workflow, headers(("etag" = String))), (status = 403, description = "Below maintainer"),
        (status = 409, description = "The steps' needs form a cycle"), (status = 412, description = "If-Match names an older version")))]
pub async fn edit_workflow(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(id): Ids<Uuid>,
    if_match: IfMatch,
    Body(body): Body<WorkflowVersion>,
) -> Result<Response, ApiError> {
    let expected = if_match.version()?;
    let workflow = service::edit(&state, id, caller.id, body.name.map(String::from), body.steps, expected).await?;
    Ok(with_etag(StatusCode::OK, workflow))
}

/// Delete a workflow with its versions and runs (maintainers and up).
#[utoipa::path(delete, path = "/v1/workflows/{id}", tag = "workflows", security(("bearer" = [])),
    responses((status = 204), (status = 403, description = "Below maintainer"), (status = 404, description = "No such workflow, or not yours")))]
pub async fn delete_workflow(State(state): State<AppState>, caller: AuthUser, Ids(id): Ids<Uuid>) -> Result<StatusCode, ApiError> {
    service::delete(&state, id, caller.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The largest run input or event payload, as JSON: steps copy them into their inputs and
/// outputs, so their size bounds what a run holds.
const MAX_VALUE: usize = 64 * 1024;

fn small(field: &str, value: &Json) -> Result<(), ApiError> {
    if value.to_string().len() > MAX_VALUE {
        return Err(ApiError::field(field, format!("at most {MAX_VALUE} bytes of JSON")));
    }
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    /// Any JSON of up to 64 KiB, for steps to reference as `{"$input": "/pointer"}`.
    #[serde(default)]
    input: Json,
}

/// Start a run of the workflow's current version (contributors and up). It runs in the
/// background: follow it with `GET /v1/runs/{id}` or on the `run:{id}` topic.
#[utoipa::path(post, path = "/v1/workflows/{id}/runs", tag = "workflows", security(("bearer" = [])), request_body = NewRun,
    responses((status = 202, body = Run, headers(("location" = String))), (status = 403, description = "Viewers cannot"),
        (status = 404, description = "No such workflow, or not yours"),
        (status = 429, description = "More than 30 runs started a minute by this user (WORKFLOWS_RUNS_PER_MINUTE; see retry-after)")))]
pub async fn start_run(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(id): Ids<Uuid>,
    Body(body): Body<NewRun>,
) -> Result<Response, ApiError> {
    let input = if body.input.is_null() { Json::Object(Default::default()) } else { body.input };
    small("input", &input)?;
    let run = service::start(&state, id, caller.id, input).await?;
    let location = (header::LOCATION, format!("/v1/runs/{}", run.id));
    Ok((StatusCode::ACCEPTED, [location], axum::Json(run)).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    status: Option<RunStatus>,
    /// How many items, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Where the previous page ended (its `next_cursor`).
    #[param(pattern = "^[A-Za-z0-9_-]{22}$")]
    cursor: Option<String>,
}

/// A workflow's runs, newest first, without their steps.
#[utoipa::path(get, path = "/v1/workflows/{id}/runs", tag = "workflows", security(("bearer" = [])), params(RunsQuery),
    responses((status = 200, body = Page<Run>), (status = 404, description = "No such workflow, or not yours")))]
pub async fn list_runs(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(id): Ids<Uuid>,
    Query(query): Query<RunsQuery>,
) -> Result<axum::Json<Page<Run>>, ApiError> {
    let page = PageParams { limit: query.limit, cursor: query.cursor };
    service::runs(&state, id, caller.id, query.status, page.after()?, page.limit()?).await.map(axum::Json)
}

/// A run with every step's state, attempts, output, error and timings: all of its steps, at
/// most the 1,000 a definition may have.
#[utoipa::path(get, path = "/v1/runs/{id}", tag = "workflows", security(("bearer" = [])),
    responses((status = 200, body = Run), (status = 404, description = "No such run, or not yours")))]
pub async fn get_run(State(state): State<AppState>, caller: AuthUser, Ids(id): Ids<Uuid>) -> Result<axum::Json<Run>, ApiError> {
    service::run(&state, id, caller.id).await.map(axum::Json)
}

/// Pause a running run: steps under way finish, none starts.
#[utoipa::path(post, path = "/v1/runs/{id}/pause", tag = "workflows", security(("bearer" = [])),
    responses((status = 200, body = Run), (status = 409, description = "The run is not running")))]
pub async fn pause_run(State(state): State<AppState>, caller: AuthUser, Ids(id): Ids<Uuid>) -> Result<axum::Json<Run>, ApiError> {
    service::control(&state, id, caller.id, Control::Pause).await.map(axum::Json)
}

/// Resume a paused run.
#[utoipa::path(post, path = "/v1/runs/{id}/resume", tag = "workflows", security(("bearer" = [])),
    responses((status = 200, body = Run), (status = 409, description = "The run is not paused")))]
pub async fn resume_run(State(state): State<AppState>, caller: AuthUser, Ids(id): Ids<Uuid>) -> Result<axum::Json<Run>, ApiError> {
    service::control(&state, id, caller.id, Control::Resume).await.map(axum::Json)
}

/// Cancel a run: every step not finished is cancelled.
#[utoipa::path(post, path = "/v1/runs/{id}/cancel", tag = "workflows", security(("bearer" = [])),
    responses((status = 200, body = Run), (status = 409, description = "The run has ended")))]
pub async fn cancel_run(State(state): State<AppState>, caller: AuthUser, Ids(id): Ids<Uuid>) -> Result<axum::Json<Run>, ApiError> {
    service::control(&state, id, caller.id, Control::Cancel).await.map(axum::Json)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunEvent {
    /// What `wait_event` steps wait for by name.
    #[schema(min_length = 1, max_length = 100, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    name: String,
    #[serde(default)]
    payload: Json,
}

/// Deliver an event to a run that has not ended. Its `wait_event` steps for that name complete
/// with the payload, those waiting now and those that start later alike (the first event of
/// each name). A run holds at most 1,000 events.
#[utoipa::path(post, path = "/v1/runs/{id}/events", tag = "workflows", security(("bearer" = [])), request_body = RunEvent,
    responses((status = 202, body = Run), (status = 409, description = "The run has ended, or holds its 1,000 events")))]
pub async fn deliver_event(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(id): Ids<Uuid>,
    Body(body): Body<RunEvent>,
) -> Result<(StatusCode, axum::Json<Run>), ApiError> {
    small("payload", &body.payload)?;
    let name = crate::model::event_name(&Json::String(body.name))
        .map_err(|refused| ApiError::field("name", refused.to_string().replace("name ", "")))?;
    let run = service::signal(&state, id, caller.id, &name, &body.payload).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(run)))
}

/// The most one tick runs: well inside an HTTP request's time on any platform.
const TICK: Budget = Budget { jobs: 500, time: std::time::Duration::from_secs(20), lanes: 4 };

/// Run the jobs that are due (for a scheduler: Spin has no queue). Needs
/// `Authorization: Bearer <WORKFLOWS_TICK_SECRET>`; without that setting nothing is accepted.
#[utoipa::path(post, path = "/v1/internal/tick", tag = "workflows", security(("bearer" = [])),
    params(("Authorization" = String, Header, description = "Bearer and the tick secret")),
    responses((status = 200, body = Drained), (status = 401, description = "Not the tick secret, or none is configured")))]
pub async fn tick(State(state): State<AppState>, headers: HeaderMap) -> Result<axum::Json<Drained>, ApiError> {
    let config = state.section::<WorkflowsConfig>()?;
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    // Compared as digests, so that the time taken says nothing of how much of it matched.
    let matches = match (&config.tick_secret, given) {
        (Some(secret), Some(given)) => sha256_hex(given.as_bytes()) == sha256_hex(secret.as_bytes()),
        _ => false,
    };
    if !matches {
        return Err(ApiError::unauthorized("Not the tick secret."));
    }
    engine::drain(&state, TICK).await.map(axum::Json)
}
