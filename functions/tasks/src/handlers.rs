//! Handlers of the tasks group: the contract's shapes in and out, nothing else.

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use tui_shared::{
    ApiError, AppState,
    domain::{Description, Label, Title},
    http::{
        extract::{AuthUser, Ids, IfMatch, PageParams, Query, etag},
        json::{Json, present},
    },
    repo::{Page, decode_position},
    search, time,
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    model::{DependencyKind, HistoryEntry, Priority, Status, Task},
    repo::{Changes, Edge, ListFilter, NewTask, Node, Sort, SortKey},
    service::{self, Draft, MAX_BATCH, Target},
};

fn with_etag(status: StatusCode, task: Task) -> Response {
    (status, [etag(task.version)], axum::Json(task)).into_response()
}

/// A dependency of a new task: on a task that exists (`task_id`), or on another task of the
/// same batch (`key`); exactly one of the two.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDependency {
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    task_id: Option<Uuid>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    key: Option<Label>,
    /// `requires` (the default) or `blocks`.
    #[serde(rename = "type", default, deserialize_with = "present")]
    #[schema(nullable = false)]
    kind: Option<DependencyKind>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTaskBody {
    /// A name for this task within its batch, for other tasks of the batch to depend on.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    key: Option<Label>,
    title: Title,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    description: Option<Description>,
    /// `medium` unless given.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    priority: Option<Priority>,
    /// A member of the project.
    #[serde(default)]
    assignee: Option<Uuid>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, max_items = 20)]
    labels: Option<Vec<Label>>,
    #[serde(default)]
    #[schema(format = DateTime)]
    due_at: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, minimum = 0, maximum = 100)]
    progress: Option<u8>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, max_items = 100)]
    depends_on: Option<Vec<NewDependency>>,
}

fn due_at(field: &str, text: Option<String>) -> Result<Option<String>, ApiError> {
    text.map(|t| time::parse(&t).map(time::format).ok_or_else(|| ApiError::field(field, "must be an RFC 3339 date and time"))).transpose()
}

fn labels(field: &str, labels: Option<Vec<Label>>) -> Result<Vec<String>, ApiError> {
    let mut labels: Vec<String> = labels.unwrap_or_default().into_iter().map(String::from).collect();
    if labels.len() > 20 {
        return Err(ApiError::field(field, "at most 20 labels"));
    }
    labels.sort();
    labels.dedup();
    Ok(labels)
}

fn progress(field: &str, progress: Option<u8>) -> Result<Option<i64>, ApiError> {
    match progress {
        Some(p) if p > 100 => Err(ApiError::field(field, "must be between 0 and 100")),
        other => Ok(other.map(i64::from)),
    }
}

impl NewTaskBody {
    /// The checked draft; `prefix` names this task in errors (`tasks[2].`).
    fn draft(self, prefix: &str) -> Result<Draft, ApiError> {
        let depends_on = self.depends_on.unwrap_or_default();
        if depends_on.len() > 100 {
            return Err(ApiError::field(format!("{prefix}depends_on"), "at most 100 dependencies"));
        }
        let depends_on = depends_on
            .into_iter()
            .enumerate()
            .map(|(j, d)| {
                let target = match (d.task_id, d.key) {
                    (Some(id), None) => Target::Task(id),
                    (None, Some(key)) => Target::Key(key.into()),
                    _ => return Err(ApiError::field(format!("{prefix}depends_on[{j}]"), "give exactly one of task_id and key")),
                };
                Ok((target, d.kind.unwrap_or(DependencyKind::Requires)))
            })
            .collect::<Result<_, _>>()?;
        Ok(Draft {
            key: self.key.map(String::from),
            task: NewTask {
                id: Uuid::now_v7(),
                title: self.title.into(),
                description: self.description.map(String::from).unwrap_or_default(),
                priority: self.priority.unwrap_or(Priority::Medium),
                assignee: self.assignee,
                labels: labels(&format!("{prefix}labels"), self.labels)?,
                due_at: due_at(&format!("{prefix}due_at"), self.due_at)?,
                progress: progress(&format!("{prefix}progress"), self.progress)?.unwrap_or(0),
                depends_on: Vec::new(),
            },
            depends_on,
        })
    }
}

/// Create a task (contributors and up). It starts `ready`, or `pending` while it waits on
/// the tasks it depends on.
#[utoipa::path(post, path = "/v1/projects/{id}/tasks", tag = "tasks", security(("bearer" = [])), request_body = NewTaskBody,
    responses((status = 201, body = Task, headers(("etag" = String), ("location" = String))),
        (status = 403, description = "Viewers cannot"), (status = 422, description = "A field is invalid")))]
pub async fn create_task(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(project): Ids<Uuid>,
    Json(body): Json<NewTaskBody>,
) -> Result<Response, ApiError> {
    let draft = body.draft("")?;
    let task = service::create_one(&state, project, caller.id, draft).await?;
    let location = (header::LOCATION, format!("/v1/tasks/{}", task.id));
    Ok((StatusCode::CREATED, [etag(task.version), location], axum::Json(task)).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTasks {
    /// 1 to 500 tasks, created all together or not at all. Tasks depend on each other by `key`.
    #[schema(min_items = 1, max_items = 500)]
    tasks: Vec<NewTaskBody>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedTasks {
    /// The tasks, in the order they were sent.
    items: Vec<Task>,
}

/// Create up to 500 tasks at once, with dependencies among them: all of them, or none.
#[utoipa::path(post, path = "/v1/projects/{id}/tasks/batch", tag = "tasks", security(("bearer" = [])), request_body = NewTasks,
    responses((status = 201, body = CreatedTasks), (status = 409, description = "The batch's dependencies form a cycle"),
        (status = 422, description = "A task is invalid; nothing was created")))]
pub async fn create_tasks(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(project): Ids<Uuid>,
    Json(body): Json<NewTasks>,
) -> Result<(StatusCode, axum::Json<CreatedTasks>), ApiError> {
    if body.tasks.is_empty() || body.tasks.len() > MAX_BATCH {
        return Err(ApiError::field("tasks", format!("send 1 to {MAX_BATCH} tasks")));
    }
    let drafts = body.tasks.into_iter().enumerate().map(|(i, t)| t.draft(&format!("tasks[{i}]."))).collect::<Result<_, _>>()?;
    let items = service::create_batch(&state, project, caller.id, drafts).await?;
    Ok((StatusCode::CREATED, axum::Json(CreatedTasks { items })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<Status>,
    priority: Option<Priority>,
    assignee: Option<Uuid>,
    #[param(min_length = 1, max_length = 50, pattern = "^[^\\s\\u0000-\\u001f\\u007f-\\u009f]+$")]
    label: Option<String>,
    /// Words to find in the title, description or labels (each as a word or its start).
    #[param(max_length = 200, pattern = "^[^\\u0000]*$")]
    q: Option<String>,
    /// Only tasks due before this time (RFC 3339).
    #[param(format = DateTime)]
    due_before: Option<String>,
    /// `priority` (most urgent first), `due_at` (soonest first, undated last), `created_at` or
    /// `updated_at` (oldest first); a leading `-` reverses. Default `created_at`.
    #[param(pattern = "^-?(priority|due_at|created_at|updated_at)$")]
    sort: Option<String>,
    /// How many items, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Where the previous page ended (its `next_cursor`).
    #[param(max_length = 400, pattern = "^[A-Za-z0-9_-]+$")]
    cursor: Option<String>,
}

fn sort(text: Option<&str>) -> Result<Sort, ApiError> {
    let text = text.unwrap_or("created_at");
    let (descending, name) = match text.strip_prefix('-') {
        Some(name) => (true, name),
        None => (false, text),
    };
    let key = match name {
        "priority" => SortKey::Priority,
        "due_at" => SortKey::DueAt,
        "created_at" => SortKey::CreatedAt,
        "updated_at" => SortKey::UpdatedAt,
        _ => return Err(ApiError::field("sort", "must be priority, due_at, created_at or updated_at, with an optional leading -")),
    };
    Ok(Sort { key, descending })
}

/// A project's tasks, filtered and sorted.
#[utoipa::path(get, path = "/v1/projects/{id}/tasks", tag = "tasks", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = Page<Task>)))]
pub async fn list_tasks(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(project): Ids<Uuid>,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<Page<Task>>, ApiError> {
    let page = PageParams { limit: query.limit, cursor: None };
    if let Some(label) = &query.label {
        Label::try_from(label.clone()).map_err(|invalid| ApiError::field("label", invalid.to_string()))?;
    }
    if query.q.as_ref().is_some_and(|q| q.chars().count() > 200 || q.contains('\0')) {
        return Err(ApiError::field("q", "must be at most 200 characters, without NUL"));
    }
    let filter = ListFilter {
        status: query.status,
        priority: query.priority,
        assignee: query.assignee,
        label: query.label,
        // Text without a single word matches everything, as no text does.
        matching: query.q.as_deref().and_then(search::query),
        due_before: due_at("due_before", query.due_before)?,
        sort: sort(query.sort.as_deref())?,
        after: query.cursor.as_deref().map(decode_position).transpose()?,
        limit: page.limit()?,
    };
    service::list(&state, project, caller.id, filter).await.map(axum::Json)
}

/// A task of a project the caller is a member of.
#[utoipa::path(get, path = "/v1/tasks/{id}", tag = "tasks", security(("bearer" = [])),
    responses((status = 200, body = Task, headers(("etag" = String))), (status = 404, description = "No such task, or not yours")))]
pub async fn get_task(State(state): State<AppState>, caller: AuthUser, Ids(id): Ids<Uuid>) -> Result<Response, ApiError> {
    Ok(with_etag(StatusCode::OK, service::visible(&state, id, caller.id).await?))
}

/// Sets a field that may also be cleared: absent is "no change", `null` clears it.
fn nullable<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskChanges {
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    title: Option<Title>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    description: Option<Description>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    priority: Option<Priority>,
    /// A member of the project, or `null` to unassign.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    assignee: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, max_items = 20)]
    labels: Option<Vec<Label>>,
    /// RFC 3339, or `null` to clear.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = DateTime)]
    due_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, minimum = 0, maximum = 100)]
    progress: Option<u8>,
}

/// Change a task's fields (contributors and up); its status moves through `transitions`. Send
/// `If-Match` with the ETag you read so as not to overwrite a change you have not seen.
#[utoipa::path(patch, path = "/v1/tasks/{id}", tag = "tasks", security(("bearer" = [])), request_body = TaskChanges,
    params(("If-Match" = Option<String>, Header, pattern = r#"^(\*|(W/)?"[0-9]+")$"#,
        description = "The ETag of the version the change is meant for, or *")),
    responses((status = 200, body = Task), (status = 403, description = "Viewers cannot"),
        (status = 412, description = "If-Match names an older version")))]
pub async fn update_task(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(id): Ids<Uuid>,
    if_match: IfMatch,
    Json(body): Json<TaskChanges>,
) -> Result<Response, ApiError> {
    let changes = Changes {
        labels: body.labels.map(|l| labels("labels", Some(l))).transpose()?,
        due_at: body.due_at.map(|d| due_at("due_at", d)).transpose()?,
        progress: progress("progress", body.progress)?,
        title: body.title.map(String::from),
        description: body.description.map(String::from),
        priority: body.priority,
        assignee: body.assignee,
    };
    let empty = changes.title.is_none()
        && changes.description.is_none()
        && changes.priority.is_none()
        && changes.assignee.is_none()
        && changes.labels.is_none()
        && changes.due_at.is_none()
        && changes.progress.is_none();
    if empty {
        return Err(ApiError::field("body", "send at least one field to change"));
    }
    let version = if_match.version()?;
    Ok(with_etag(StatusCode::OK, service::update(&state, id, caller.id, version, changes).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// Delete even if other tasks depend on this one, removing those dependencies.
    force: Option<bool>,
}

/// Delete a task (maintainers and up). A task others depend on: 409 unless `force=true`.
#[utoipa::path(delete, path = "/v1/tasks/{id}", tag = "tasks", security(("bearer" = [])), params(DeleteQuery),
    responses((status = 204), (status = 403, description = "Only maintainers and owners delete"),
        (status = 409, description = "Other tasks depend on it")))]
pub async fn delete_task(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(id): Ids<Uuid>,
    Query(query): Query<DeleteQuery>,
) -> Result<StatusCode, ApiError> {
    service::delete(&state, id, caller.id, query.force.unwrap_or(false)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTaskDependency {
    depends_on: Uuid,
    /// `requires` (the default) or `blocks`.
    #[serde(rename = "type", default, deserialize_with = "present")]
    #[schema(nullable = false)]
    kind: Option<DependencyKind>,
}

/// Make the task depend on another task of its project. A dependency that would close a cycle
/// is refused (409) with the cycle in `detail`, in order.
#[utoipa::path(post, path = "/v1/tasks/{id}/dependencies", tag = "tasks", security(("bearer" = [])), request_body = NewTaskDependency,
    responses((status = 201, body = Task, description = "Added"), (status = 200, body = Task, description = "It was there already"),
        (status = 409, description = "It would close a cycle")))]
pub async fn add_dependency(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(id): Ids<Uuid>,
    Json(body): Json<NewTaskDependency>,
) -> Result<Response, ApiError> {
    let kind = body.kind.unwrap_or(DependencyKind::Requires);
    let (task, added) = service::add_dependency(&state, id, caller.id, body.depends_on, kind).await?;
    Ok(with_etag(if added { StatusCode::CREATED } else { StatusCode::OK }, task))
}

/// Remove a dependency.
#[utoipa::path(delete, path = "/v1/tasks/{id}/dependencies/{other_id}", tag = "tasks", security(("bearer" = [])),
    responses((status = 200, body = Task)))]
pub async fn remove_dependency(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids((id, other_id)): Ids<(Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    Ok(with_etag(StatusCode::OK, service::remove_dependency(&state, id, caller.id, other_id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    to: Status,
}

/// Move a task through its states. Legal moves: pending -> blocked | cancelled; ready ->
/// running | blocked | cancelled; running -> completed | failed | blocked | cancelled; blocked
/// -> running | ready | cancelled; failed -> ready (a retry) | cancelled. `ready` lands on
/// `pending` while the task waits on a dependency; `running` needs it to wait on none. An
/// illegal move is a 409 listing the legal ones.
#[utoipa::path(post, path = "/v1/tasks/{id}/transitions", tag = "tasks", security(("bearer" = [])), request_body = Transition,
    params(("If-Match" = Option<String>, Header, pattern = r#"^(\*|(W/)?"[0-9]+")$"#,
        description = "The ETag of the version the move is meant for, or *")),
    responses((status = 200, body = Task), (status = 409, description = "Not a legal move from the task's state")))]
pub async fn transition(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(id): Ids<Uuid>,
    if_match: IfMatch,
    Json(body): Json<Transition>,
) -> Result<Response, ApiError> {
    let version = if_match.version()?;
    Ok(with_etag(StatusCode::OK, service::transition(&state, id, caller.id, body.to, version).await?))
}

#[derive(Serialize, ToSchema)]
pub struct Graph {
    task_id: Uuid,
    /// Every task this one depends on, directly or not (at most 1,000).
    upstream: Vec<Node>,
    /// Every task that depends on this one, directly or not (at most 1,000).
    downstream: Vec<Node>,
    /// The dependencies among all of them (at most 5,000).
    edges: Vec<Edge>,
    /// Whether a limit left some of the graph out.
    truncated: bool,
}

/// A task's dependency graph: its upstream and downstream closure.
#[utoipa::path(get, path = "/v1/tasks/{id}/graph", tag = "tasks", security(("bearer" = [])),
    responses((status = 200, body = Graph)))]
pub async fn graph(State(state): State<AppState>, caller: AuthUser, Ids(id): Ids<Uuid>) -> Result<axum::Json<Graph>, ApiError> {
    let graph = service::graph(&state, id, caller.id).await?;
    Ok(axum::Json(Graph {
        task_id: id,
        upstream: graph.upstream,
        downstream: graph.downstream,
        edges: graph.edges,
        truncated: graph.truncated,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// How many items, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Where the previous page ended (its `next_cursor`).
    #[param(max_length = 100, pattern = "^[A-Za-z0-9_-]+$")]
    cursor: Option<String>,
}

/// Every change of a task's state, oldest first: who, when, from, to.
#[utoipa::path(get, path = "/v1/tasks/{id}/history", tag = "tasks", security(("bearer" = [])), params(HistoryQuery),
    responses((status = 200, body = Page<HistoryEntry>)))]
pub async fn history(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(id): Ids<Uuid>,
    Query(query): Query<HistoryQuery>,
) -> Result<axum::Json<Page<HistoryEntry>>, ApiError> {
    let limit = PageParams { limit: query.limit, cursor: None }.limit()?;
    let after: i64 = query.cursor.as_deref().map(decode_position).transpose()?.unwrap_or(0);
    service::history(&state, id, caller.id, after, limit).await.map(axum::Json)
}
