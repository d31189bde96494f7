//! Projects and membership, with the contract's project roles: viewers read, contributors
//! write tasks, maintainers manage the project and its members, owners delete. A project the
//! caller is not a member of does not exist for them (404, never 403).

use uuid::Uuid;

use tui_shared::{
    ApiError, AppState, ErrorCode,
    domain::{Description, Name, ProjectRole},
    http::extract::{Bearer, session_revoked},
    membership,
    repo::{Page, encode_position, users},
    time,
};

use crate::repo::{self as projects, Changes, ListFilter, Member, MemberPosition, Project};

/// The project as `user_id` sees it, or 404.
pub async fn visible(state: &AppState, id: Uuid, user_id: Uuid) -> Result<Project, ApiError> {
    projects::get_for(state.db.as_ref(), id, user_id).await?.ok_or_else(ApiError::not_found)
}

/// The project as the bearer sees it, or 404: for an access token, the session's liveness is
/// checked in the same statement that reads the project (the hottest read pays one query).
pub async fn visible_to(state: &AppState, id: Uuid, bearer: Bearer) -> Result<Project, ApiError> {
    match bearer {
        Bearer::Key(caller) => visible(state, id, caller.id).await,
        Bearer::Token(grant) => {
            let (user_id, session_id) = grant.unchecked();
            let now = time::format(state.clock.now());
            match projects::get_in_session(state.db.as_ref(), id, user_id, session_id, &now).await? {
                (false, _) => Err(session_revoked()),
                (true, project) => project.ok_or_else(ApiError::not_found),
            }
        }
    }
}

/// The project, if `user_id` holds at least `needed` in it: 404 for outsiders, 403 for members
/// whose role is too low.
pub async fn require(state: &AppState, id: Uuid, user_id: Uuid, needed: ProjectRole) -> Result<Project, ApiError> {
    let project = visible(state, id, user_id).await?;
    if !project.role.at_least(needed) {
        return Err(membership::forbidden(needed));
    }
    Ok(project)
}

pub async fn create(state: &AppState, owner: Uuid, name: Name, description: Description) -> Result<Project, ApiError> {
    let id = Uuid::now_v7();
    projects::create(&state.acting(owner), id, &name, &description, owner, &time::format(state.clock.now())).await?;
    visible(state, id, owner).await
}

pub async fn list(state: &AppState, user_id: Uuid, filter: ListFilter) -> Result<Page<Project>, ApiError> {
    let items = projects::list_for(state.db.as_ref(), user_id, &filter).await?;
    Ok(Page::from_overfetch(items, filter.limit, |p| p.id))
}

/// Updates a project. With `if_match`, the change applies only to that version (412 otherwise);
/// without it, to the version just read, so that a concurrent change is never overwritten blind.
pub async fn update(state: &AppState, id: Uuid, user_id: Uuid, if_match: Option<i64>, changes: Changes) -> Result<Project, ApiError> {
    let current = require(state, id, user_id, ProjectRole::Maintainer).await?;
    let version = if_match.unwrap_or(current.version);
    if if_match.is_some_and(|v| v != current.version) {
        return Err(stale());
    }
    if !projects::update(&state.acting(user_id), id, version, &changes, &time::format(state.clock.now()), user_id).await? {
        if let Some(refused) = membership::why_refused(state.db.as_ref(), id, user_id, ProjectRole::Maintainer).await? {
            return Err(refused);
        }
        return Err(if if_match.is_some() {
            stale()
        } else {
            ApiError::conflict("The project changed while it was being updated; read it again and retry.")
        });
    }
    visible(state, id, user_id).await
}

fn stale() -> ApiError {
    ApiError::new(ErrorCode::PreconditionFailed, "The project has changed since that version; read it again.")
}

pub async fn delete(state: &AppState, id: Uuid, user_id: Uuid) -> Result<(), ApiError> {
    require(state, id, user_id, ProjectRole::Owner).await?;
    if !projects::delete(&state.acting(user_id), id, user_id).await? {
        return Err(membership::why_refused(state.db.as_ref(), id, user_id, ProjectRole::Owner).await?.unwrap_or_else(ApiError::not_found));
    }
    Ok(())
}

pub async fn members(
    state: &AppState,
    id: Uuid,
    user_id: Uuid,
    after: Option<MemberPosition>,
    limit: usize,
) -> Result<Page<Member>, ApiError> {
    visible(state, id, user_id).await?;
    let items = projects::members(state.db.as_ref(), id, after.as_ref(), limit).await?;
    Ok(Page::from_overfetch_by(items, limit, |member| encode_position(&member.position())))
}

pub async fn member(state: &AppState, id: Uuid, user_id: Uuid, member_id: Uuid) -> Result<Member, ApiError> {
    visible(state, id, user_id).await?;
    projects::member(state.db.as_ref(), id, member_id).await?.ok_or_else(ApiError::not_found)
}

/// Adds a member or changes a member's role. Maintainers manage members below owner; only
/// owners grant or take away ownership; the last owner cannot be demoted.
pub async fn put_member(state: &AppState, id: Uuid, user_id: Uuid, member_id: Uuid, role: ProjectRole) -> Result<Member, ApiError> {
    let project = require(state, id, user_id, ProjectRole::Maintainer).await?;
    let db = state.db.as_ref();
    let current = membership::role_of(db, id, member_id).await?;
    let touches_ownership = role == ProjectRole::Owner || current == Some(ProjectRole::Owner);
    if touches_ownership && project.role != ProjectRole::Owner {
        return Err(ApiError::forbidden("Only owners can grant or take away ownership."));
    }
    if current.is_none() && !users::exists(db, member_id).await? {
        return Err(ApiError::field("user_id", "no such user"));
    }
    if !projects::put_member(&state.acting(user_id), id, member_id, role, &time::format(state.clock.now()), user_id).await? {
        return Err(refused(state, id, user_id).await);
    }
    projects::member(db, id, member_id).await?.ok_or_else(|| ApiError::internal("member vanished"))
}

/// Removes a member. Anyone may leave; maintainers remove others below owner; owners remove
/// anyone; the last owner cannot go.
pub async fn remove_member(state: &AppState, id: Uuid, user_id: Uuid, member_id: Uuid) -> Result<(), ApiError> {
    let project = visible(state, id, user_id).await?;
    let db = state.db.as_ref();
    let target = membership::role_of(db, id, member_id).await?.ok_or_else(ApiError::not_found)?;
    if member_id != user_id {
        if !project.role.at_least(ProjectRole::Maintainer) {
            return Err(ApiError::forbidden("Only maintainers and owners remove other members."));
        }
        if target == ProjectRole::Owner && project.role != ProjectRole::Owner {
            return Err(ApiError::forbidden("Only owners remove an owner."));
        }
    }
    if !projects::remove_member(&state.acting(user_id), id, member_id, user_id).await? {
        return Err(refused(state, id, user_id).await);
    }
    Ok(())
}

/// Why a membership write changed nothing, when its checks had passed a moment before: the
/// caller's role changed meanwhile, or the project would have lost its last owner.
async fn refused(state: &AppState, id: Uuid, user_id: Uuid) -> ApiError {
    match membership::role_of(state.db.as_ref(), id, user_id).await {
        Ok(Some(role)) if role.at_least(ProjectRole::Maintainer) => ApiError::conflict("A project must keep at least one owner."),
        Ok(Some(_)) => ApiError::forbidden("Your role in the project changed; you may no longer do this."),
        Ok(None) => ApiError::not_found(),
        Err(error) => error,
    }
}
