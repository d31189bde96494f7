//! Handlers of the projects group.

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use tui_shared::{
    ApiError, AppState,
    domain::{Description, Name, ProjectRole},
    http::{
        extract::{AuthUser, Bearer, Ids, IfMatch, PageParams, Query, etag},
        json::Json,
    },
    repo::{Page, decode_position},
};
use utoipa::{IntoParams, ToSchema};

use crate::{
    repo::{Changes, ListFilter, Member, Project},
    service as projects,
};
use uuid::Uuid;

fn with_etag(status: StatusCode, project: Project) -> Response {
    (status, [etag(project.version)], axum::Json(project)).into_response()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    name: Name,
    #[serde(default, deserialize_with = "tui_shared::http::json::present")]
    #[schema(nullable = false)]
    description: Option<Description>,
}

/// Create a project; the caller becomes its owner.
#[utoipa::path(post, path = "/v1/projects", tag = "projects", security(("bearer" = [])), request_body = NewProject,
    responses((status = 201, body = Project), (status = 422, description = "A field is invalid")))]
pub async fn create_project(State(state): State<AppState>, caller: AuthUser, Json(body): Json<NewProject>) -> Result<Response, ApiError> {
    let project = projects::create(&state, caller.id, body.name, body.description.unwrap_or_else(Description::empty)).await?;
    let location = (header::LOCATION, format!("/v1/projects/{}", project.id));
    Ok((StatusCode::CREATED, [etag(project.version), location], axum::Json(project)).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Text to find in the name or description.
    #[param(max_length = 200, pattern = "^[^\\u0000]*$")]
    q: Option<String>,
    archived: Option<bool>,
    /// How many items, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Where the previous page ended (its `next_cursor`).
    #[param(pattern = "^[A-Za-z0-9_-]{22}$")]
    cursor: Option<String>,
}

/// The caller's projects, newest first.
#[utoipa::path(get, path = "/v1/projects", tag = "projects", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = Page<Project>)))]
pub async fn list_projects(
    State(state): State<AppState>,
    caller: AuthUser,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<Page<Project>>, ApiError> {
    let page = PageParams { limit: query.limit, cursor: query.cursor };
    if query.q.as_ref().is_some_and(|q| q.chars().count() > 200 || q.contains('\0')) {
        return Err(ApiError::field("q", "must be at most 200 characters, without NUL"));
    }
    let filter = ListFilter { q: query.q, archived: query.archived, after: page.after()?, limit: page.limit()? };
    projects::list(&state, caller.id, filter).await.map(axum::Json)
}

/// A project the caller is a member of.
#[utoipa::path(get, path = "/v1/projects/{id}", tag = "projects", security(("bearer" = [])),
    responses((status = 200, body = Project, headers(("etag" = String))), (status = 404, description = "No such project, or not yours")))]
pub async fn get_project(State(state): State<AppState>, bearer: Bearer, Ids(id): Ids<Uuid>) -> Result<Response, ApiError> {
    Ok(with_etag(StatusCode::OK, projects::visible_to(&state, id, bearer).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectChanges {
    #[serde(default, deserialize_with = "tui_shared::http::json::present")]
    #[schema(nullable = false)]
    name: Option<Name>,
    #[serde(default, deserialize_with = "tui_shared::http::json::present")]
    #[schema(nullable = false)]
    description: Option<Description>,
    #[serde(default, deserialize_with = "tui_shared::http::json::present")]
    #[schema(nullable = false)]
    archived: Option<bool>,
}

/// Change a project (maintainers and owners). Send `If-Match` with the ETag you read to be
/// sure not to overwrite a change you have not seen.
#[utoipa::path(patch, path = "/v1/projects/{id}", tag = "projects", security(("bearer" = [])), request_body = ProjectChanges,
    params(("If-Match" = Option<String>, Header, pattern = r#"^(\*|(W/)?"[0-9]+")$"#,
        description = "The ETag of the version the change is meant for, or *")),
    responses((status = 200, body = Project), (status = 403, description = "Viewers and contributors cannot"),
        (status = 412, description = "If-Match names an older version")))]
pub async fn update_project(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(id): Ids<Uuid>,
    if_match: IfMatch,
    Json(body): Json<ProjectChanges>,
) -> Result<Response, ApiError> {
    if body.name.is_none() && body.description.is_none() && body.archived.is_none() {
        return Err(ApiError::field("body", "send at least one of name, description, archived"));
    }
    let version = if_match.version()?;
    let changes = Changes { name: body.name, description: body.description, archived: body.archived };
    Ok(with_etag(StatusCode::OK, projects::update(&state, id, caller.id, version, changes).await?))
}

/// Delete a project and everything in it (owners only).
#[utoipa::path(delete, path = "/v1/projects/{id}", tag = "projects", security(("bearer" = [])),
    responses((status = 204), (status = 403, description = "Only owners delete")))]
pub async fn delete_project(State(state): State<AppState>, caller: AuthUser, Ids(id): Ids<Uuid>) -> Result<StatusCode, ApiError> {
    projects::delete(&state, id, caller.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MembersQuery {
    /// How many items, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Where the previous page ended (its `next_cursor`).
    #[param(max_length = 400, pattern = "^[A-Za-z0-9_-]+$")]
    cursor: Option<String>,
}

/// The members of a project, in the order they joined.
#[utoipa::path(get, path = "/v1/projects/{id}/members", tag = "projects", security(("bearer" = [])), params(MembersQuery),
    responses((status = 200, body = Page<Member>), (status = 404, description = "No such project, or not yours")))]
pub async fn list_members(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids(id): Ids<Uuid>,
    Query(query): Query<MembersQuery>,
) -> Result<axum::Json<Page<Member>>, ApiError> {
    let limit = PageParams { limit: query.limit, cursor: None }.limit()?;
    let after = query.cursor.as_deref().map(decode_position).transpose()?;
    projects::members(&state, id, caller.id, after, limit).await.map(axum::Json)
}

/// One member of a project.
#[utoipa::path(get, path = "/v1/projects/{id}/members/{user_id}", tag = "projects", security(("bearer" = [])),
    responses((status = 200, body = Member)))]
pub async fn get_member(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids((id, user_id)): Ids<(Uuid, Uuid)>,
) -> Result<axum::Json<Member>, ApiError> {
    projects::member(&state, id, caller.id, user_id).await.map(axum::Json)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRole {
    role: ProjectRole,
}

/// Add a member or change their role (maintainers; ownership only by owners).
#[utoipa::path(put, path = "/v1/projects/{id}/members/{user_id}", tag = "projects", security(("bearer" = [])),
    request_body = MemberRole, responses((status = 200, body = Member),
        (status = 409, description = "The project would be left without an owner")))]
pub async fn put_member(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids((id, user_id)): Ids<(Uuid, Uuid)>,
    Json(body): Json<MemberRole>,
) -> Result<axum::Json<Member>, ApiError> {
    projects::put_member(&state, id, caller.id, user_id, body.role).await.map(axum::Json)
}

/// Remove a member, or leave a project.
#[utoipa::path(delete, path = "/v1/projects/{id}/members/{user_id}", tag = "projects", security(("bearer" = [])),
    responses((status = 204), (status = 409, description = "The last owner cannot leave")))]
pub async fn remove_member(
    State(state): State<AppState>,
    caller: AuthUser,
    Ids((id, user_id)): Ids<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    projects::remove_member(&state, id, caller.id, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
