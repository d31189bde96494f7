//! Projects and their members.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use tui_shared::{
    ApiError,
    db::{Database, DbResult, Row, Statement, Value},
    domain::{Description, Name, ProjectRole},
    membership::holds_at_least,
    repo::{decode, sessions},
    stmt,
};

/// A project as one member sees it: `role` is that member's role.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Project {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub archived: bool,
    pub role: ProjectRole,
    pub created_by: Uuid,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Member {
    pub user_id: Uuid,
    pub username: String,
    pub role: ProjectRole,
    pub added_at: String,
}

/// The columns [`project`] reads, in its order.
const PROJECT_COLUMNS: &str = "p.id, p.name, p.description, p.archived, m.role, p.created_by, p.version, p.created_at, p.updated_at";

/// A project as one member sees it: `m` is their membership.
const FROM_MEMBERSHIP: &str = "FROM projects p JOIN project_members m ON m.project_id = p.id";

fn project(row: &Row) -> DbResult<Project> {
    let (id, name, description, archived, role, created_by, version, created_at, updated_at) = row.decode()?;
    Ok(Project { id, name, description, archived, role, created_by, version, created_at, updated_at })
}

/// The project, if `user_id` is a member of it.
pub async fn get_for(db: &dyn Database, id: Uuid, user_id: Uuid) -> Result<Option<Project>, ApiError> {
    let row =
        db.query_opt(stmt!(format!("SELECT {PROJECT_COLUMNS} {FROM_MEMBERSHIP} WHERE p.id = ?1 AND m.user_id = ?2"), id, user_id)).await?;
    Ok(row.as_ref().map(project).transpose()?)
}

/// The project as `user_id` sees it, read in the same statement that finds `session_id` a live
/// session of theirs: whether the session lives, and the project if it does and is theirs.
pub async fn get_in_session(
    db: &dyn Database,
    id: Uuid,
    user_id: Uuid,
    session_id: Uuid,
    now: &str,
) -> Result<(bool, Option<Project>), ApiError> {
    let row = db
        .query_opt(stmt!(
            format!(
                "SELECT {PROJECT_COLUMNS}, s.id IS NOT NULL FROM (SELECT 1) AS one {} \
                 LEFT JOIN project_members m ON s.id IS NOT NULL AND m.project_id = ?1 AND m.user_id = ?2 \
                 LEFT JOIN projects p ON p.id = m.project_id",
                sessions::live_join("?2", "?3", "?4")
            ),
            id,
            user_id,
            session_id,
            now,
        ))
        .await?;
    let Some(Row(mut columns)) = row else { return Ok((false, None)) };
    let live = columns.pop().is_some_and(|flag| flag == Value::Integer(1));
    let project = if columns.first() == Some(&Value::Null) { None } else { Some(project(&Row(columns))?) };
    Ok((live, project))
}

pub struct ListFilter {
    pub q: Option<String>,
    pub archived: Option<bool>,
    pub after: Option<Uuid>,
    pub limit: usize,
}

/// The projects `user_id` belongs to, newest first, fetching one more than `limit`.
pub async fn list_for(db: &dyn Database, user_id: Uuid, filter: &ListFilter) -> Result<Vec<Project>, ApiError> {
    let mut sql = format!("SELECT {PROJECT_COLUMNS} {FROM_MEMBERSHIP} WHERE m.user_id = ?1");
    let mut params: Vec<Value> = vec![user_id.into()];
    if let Some(q) = &filter.q {
        params.push(q.to_ascii_lowercase().into());
        sql.push_str(&format!(
            " AND ({} OR {})",
            tui_shared::repo::contains("p.name", params.len()),
            tui_shared::repo::contains("p.description", params.len())
        ));
    }
    if let Some(archived) = filter.archived {
        params.push(archived.into());
        sql.push_str(&format!(" AND p.archived = ?{}", params.len()));
    }
    if let Some(after) = filter.after {
        params.push(after.into());
        sql.push_str(&format!(" AND p.id < ?{}", params.len()));
    }
    params.push(i64::try_from(filter.limit + 1).unwrap_or(i64::MAX).into());
    sql.push_str(&format!(" ORDER BY p.id DESC LIMIT ?{}", params.len()));
    decode(db.query(Statement::new(sql, params)).await?, project)
}

/// Creates a project with its creator as owner, atomically.
pub async fn create(db: &dyn Database, id: Uuid, name: &Name, description: &Description, owner: Uuid, now: &str) -> Result<(), ApiError> {
    db.batch(vec![
        stmt!(
            "INSERT INTO projects (id, name, description, created_by, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            id,
            name.as_str(),
            description.as_str(),
            owner,
            now,
        ),
        stmt!("INSERT INTO project_members (project_id, user_id, role, added_at) VALUES (?1, ?2, 'owner', ?3)", id, owner, now,),
    ])
    .await?;
    Ok(())
}

pub struct Changes {
    pub name: Option<Name>,
    pub description: Option<Description>,
    pub archived: Option<bool>,
}

/// Applies `changes` as `caller` (a maintainer or more) if the project is still at `version`;
/// returns whether it did. The role is decided in the update itself.
pub async fn update(db: &dyn Database, id: Uuid, version: i64, changes: &Changes, now: &str, caller: Uuid) -> Result<bool, ApiError> {
    let may = holds_at_least("projects.id", "?7", ProjectRole::Maintainer);
    let changed = db
        .execute(stmt!(
            format!(
                "UPDATE projects SET name = coalesce(?3, name), description = coalesce(?4, description), \
                 archived = coalesce(?5, archived), version = version + 1, updated_at = ?6 \
                 WHERE id = ?1 AND version = ?2 AND {may}"
            ),
            id,
            version,
            changes.name.as_ref().map(|n| n.as_str().to_owned()),
            changes.description.as_ref().map(|d| d.as_str().to_owned()),
            changes.archived,
            now,
            caller,
        ))
        .await?;
    Ok(changed > 0)
}

/// Deletes a project as `caller` (an owner); its members and everything in it go with it
/// (foreign keys cascade). The role is decided in the delete itself.
pub async fn delete(db: &dyn Database, id: Uuid, caller: Uuid) -> Result<bool, ApiError> {
    let may = holds_at_least("projects.id", "?2", ProjectRole::Owner);
    Ok(db.execute(stmt!(format!("DELETE FROM projects WHERE id = ?1 AND {may}"), id, caller)).await? > 0)
}

const MEMBERS: &str = "SELECT m.user_id, u.username, m.role, m.added_at FROM project_members m JOIN users u ON u.id = m.user_id";

fn member_from(row: &Row) -> DbResult<Member> {
    let (user_id, username, role, added_at) = row.decode()?;
    Ok(Member { user_id, username, role, added_at })
}

pub async fn members(db: &dyn Database, id: Uuid) -> Result<Vec<Member>, ApiError> {
    let rows = db.query(stmt!(format!("{MEMBERS} WHERE m.project_id = ?1 ORDER BY m.added_at, m.user_id"), id)).await?;
    decode(rows, member_from)
}

pub async fn member(db: &dyn Database, id: Uuid, user_id: Uuid) -> Result<Option<Member>, ApiError> {
    let row = db.query_opt(stmt!(format!("{MEMBERS} WHERE m.project_id = ?1 AND m.user_id = ?2"), id, user_id)).await?;
    Ok(row.as_ref().map(member_from).transpose()?)
}

/// The guard that keeps at least one owner: true unless `user_id` is the project's only owner.
/// Written into the statements so that two concurrent demotions cannot both pass it.
const NOT_LAST_OWNER: &str = "(SELECT role FROM project_members WHERE project_id = ?1 AND user_id = ?2) IS NOT 'owner' \
     OR (SELECT count(*) FROM project_members WHERE project_id = ?1 AND role = 'owner') > 1";

/// Whether `?5`, the caller, may give member `?2` the role `?3` now: owners may do anything;
/// maintainers may manage members below owner. Decided in the write itself, so that a caller
/// demoted (or a member promoted) a moment before cannot slip through a check read earlier.
const CALLER_MAY_SET: &str = "EXISTS (SELECT 1 FROM project_members c WHERE c.project_id = ?1 AND c.user_id = ?5 AND \
     (c.role = 'owner' OR (c.role = 'maintainer' AND ?3 != 'owner' \
      AND (SELECT role FROM project_members WHERE project_id = ?1 AND user_id = ?2) IS NOT 'owner')))";

/// Adds a member or changes their role, as `caller`. Returns false if the caller may not (any
/// more), or if that would leave the project without an owner.
pub async fn put_member(db: &dyn Database, id: Uuid, user_id: Uuid, role: ProjectRole, now: &str, caller: Uuid) -> Result<bool, ApiError> {
    let changed = db
        .execute(stmt!(
            format!(
                "INSERT INTO project_members (project_id, user_id, role, added_at) \
                 SELECT ?1, ?2, ?3, ?4 WHERE (?3 = 'owner' OR {NOT_LAST_OWNER}) AND {CALLER_MAY_SET} \
                 ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role"
            ),
            id,
            user_id,
            role.as_str(),
            now,
            caller,
        ))
        .await?;
    Ok(changed > 0)
}

/// Removes a member, as `caller`: anyone may leave, maintainers remove members below owner,
/// owners anyone; decided in the statement. Returns false if nothing was removed (not a
/// member, the only owner, or a caller who may not).
pub async fn remove_member(db: &dyn Database, id: Uuid, user_id: Uuid, caller: Uuid) -> Result<bool, ApiError> {
    let changed = db
        .execute(stmt!(
            format!(
                "DELETE FROM project_members WHERE project_id = ?1 AND user_id = ?2 AND ({NOT_LAST_OWNER}) \
                 AND (?2 = ?3 OR EXISTS (SELECT 1 FROM project_members c WHERE c.project_id = ?1 AND c.user_id = ?3 \
                 AND (c.role = 'owner' OR (c.role = 'maintainer' AND project_members.role != 'owner'))))"
            ),
            id,
            user_id,
            caller,
        ))
        .await?;
    Ok(changed > 0)
}
