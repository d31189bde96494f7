//! Projects and their members.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use tui_shared::{
    ApiError,
    db::{Database, DbResult, Operand, Param, Query, Row},
    domain::{Description, Name, ProjectRole},
    membership::holds_at_least,
    repo::{contains, decode, sessions},
    stmt,
};

/// A project as one member sees it: `role` is that member's role.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
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

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Member {
    pub user_id: Uuid,
    pub username: String,
    pub role: ProjectRole,
    pub added_at: String,
}

/// The columns of a [`Project`].
const PROJECT_COLUMNS: &str = "p.id, p.name, p.description, p.archived, m.role, p.created_by, p.version, p.created_at, p.updated_at";

/// A project as one member sees it: `m` is their membership.
const FROM_MEMBERSHIP: &str = "FROM projects p JOIN project_members m ON m.project_id = p.id";

fn project(row: &Row) -> DbResult<Project> {
    row.decode()
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
    let mut q = Query::default();
    let (id, user, session, now) = (q.bind(id), q.bind(user_id), q.bind(session_id), q.bind(now));
    q.push(format!(
        "SELECT {PROJECT_COLUMNS}, s.id IS NOT NULL AS live FROM (SELECT 1) AS one {} \
         LEFT JOIN project_members m ON s.id IS NOT NULL AND m.project_id = {id} AND m.user_id = {user} \
         LEFT JOIN projects p ON p.id = m.project_id",
        sessions::live_join(user, session, now)
    ));
    let Some(row) = db.query_opt(q.finish()).await? else { return Ok((false, None)) };
    let live: bool = row.get("live")?;
    let member = row.get::<Option<Uuid>>("id")?.is_some();
    Ok((live, if member { Some(project(&row)?) } else { None }))
}

pub struct ListFilter {
    pub q: Option<String>,
    pub archived: Option<bool>,
    pub after: Option<Uuid>,
    pub limit: usize,
}

/// The projects `user_id` belongs to, newest first, fetching one more than `limit`.
pub async fn list_for(db: &dyn Database, user_id: Uuid, filter: &ListFilter) -> Result<Vec<Project>, ApiError> {
    let mut sql = Query::new(format!("SELECT {PROJECT_COLUMNS} {FROM_MEMBERSHIP} WHERE m.user_id = "));
    sql.push_bind(user_id);
    if let Some(q) = &filter.q {
        let text = sql.bind(q.to_ascii_lowercase());
        sql.push(format!(" AND ({} OR {})", contains("p.name", text), contains("p.description", text)));
    }
    if let Some(archived) = filter.archived {
        sql.push(" AND p.archived = ").push_bind(archived);
    }
    if let Some(after) = filter.after {
        sql.push(" AND p.id < ").push_bind(after);
    }
    sql.push(" ORDER BY p.id DESC LIMIT ").push_bind(i64::try_from(filter.limit + 1).unwrap_or(i64::MAX));
    decode(db.query(sql.finish()).await?, project)
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
    let mut q = Query::default();
    let (id, version) = (q.bind(id), q.bind(version));
    let name = q.bind(changes.name.as_ref().map(|n| n.as_str().to_owned()));
    let description = q.bind(changes.description.as_ref().map(|d| d.as_str().to_owned()));
    let (archived, now) = (q.bind(changes.archived), q.bind(now));
    let may = holds_at_least(Operand::Column("projects.id"), q.bind(caller), ProjectRole::Maintainer);
    q.push(format!(
        "UPDATE projects SET name = coalesce({name}, name), description = coalesce({description}, description), \
         archived = coalesce({archived}, archived), version = version + 1, updated_at = {now} \
         WHERE id = {id} AND version = {version} AND {may}"
    ));
    Ok(db.execute(q.finish()).await? > 0)
}

/// Deletes a project as `caller` (an owner); its members and everything in it go with it
/// (foreign keys cascade). The role is decided in the delete itself.
pub async fn delete(db: &dyn Database, id: Uuid, caller: Uuid) -> Result<bool, ApiError> {
    let mut q = Query::default();
    let id = q.bind(id);
    let may = holds_at_least(Operand::Column("projects.id"), q.bind(caller), ProjectRole::Owner);
    q.push(format!("DELETE FROM projects WHERE id = {id} AND {may}"));
    Ok(db.execute(q.finish()).await? > 0)
}

const MEMBERS: &str = "SELECT m.user_id, u.username, m.role, m.added_at FROM project_members m JOIN users u ON u.id = m.user_id";

fn member_from(row: &Row) -> DbResult<Member> {
    row.decode()
}

/// Where a page of members ends: the last one's `added_at` and `user_id`.
pub type MemberPosition = (String, Uuid);

impl Member {
    pub fn position(&self) -> MemberPosition {
        (self.added_at.clone(), self.user_id)
    }
}

/// A project's members in the order they joined, after `after`, fetching one more than `limit`.
pub async fn members(db: &dyn Database, id: Uuid, after: Option<&MemberPosition>, limit: usize) -> Result<Vec<Member>, ApiError> {
    let mut q = Query::new(format!("{MEMBERS} WHERE m.project_id = "));
    q.push_bind(id);
    if let Some((added_at, user_id)) = after {
        let (at, user) = (q.bind(added_at.as_str()), q.bind(*user_id));
        q.push(format!(" AND (m.added_at > {at} OR (m.added_at = {at} AND m.user_id > {user}))"));
    }
    let limit = q.bind(i64::try_from(limit + 1).unwrap_or(i64::MAX));
    q.push(format!(" ORDER BY m.added_at, m.user_id LIMIT {limit}"));
    decode(db.query(q.finish()).await?, member_from)
}

pub async fn member(db: &dyn Database, id: Uuid, user_id: Uuid) -> Result<Option<Member>, ApiError> {
    let row = db.query_opt(stmt!(format!("{MEMBERS} WHERE m.project_id = ?1 AND m.user_id = ?2"), id, user_id)).await?;
    Ok(row.as_ref().map(member_from).transpose()?)
}

/// The guard that keeps at least one owner: true unless `user` is `project`'s only owner.
/// Written into the statements so that two concurrent demotions cannot both pass it.
fn not_last_owner(project: Param, user: Param) -> String {
    format!(
        "(SELECT role FROM project_members WHERE project_id = {project} AND user_id = {user}) IS NOT 'owner' \
         OR (SELECT count(*) FROM project_members WHERE project_id = {project} AND role = 'owner') > 1"
    )
}

/// Whether `caller` may give member `user` the role `role` now: owners may do anything;
/// maintainers may manage members below owner. Decided in the write itself, so that a caller
/// demoted (or a member promoted) a moment before cannot slip through a check read earlier.
fn caller_may_set(project: Param, user: Param, role: Param, caller: Param) -> String {
    format!(
        "EXISTS (SELECT 1 FROM project_members c WHERE c.project_id = {project} AND c.user_id = {caller} AND \
         (c.role = 'owner' OR (c.role = 'maintainer' AND {role} != 'owner' \
          AND (SELECT role FROM project_members WHERE project_id = {project} AND user_id = {user}) IS NOT 'owner')))"
    )
}

/// Adds a member or changes their role, as `caller`. Returns false if the caller may not (any
/// more), or if that would leave the project without an owner.
pub async fn put_member(db: &dyn Database, id: Uuid, user_id: Uuid, role: ProjectRole, now: &str, caller: Uuid) -> Result<bool, ApiError> {
    let mut q = Query::default();
    let (id, user, role, now, caller) = (q.bind(id), q.bind(user_id), q.bind(role.as_str()), q.bind(now), q.bind(caller));
    q.push(format!(
        "INSERT INTO project_members (project_id, user_id, role, added_at) \
         SELECT {id}, {user}, {role}, {now} WHERE ({role} = 'owner' OR {}) AND {} \
         ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
        not_last_owner(id, user),
        caller_may_set(id, user, role, caller)
    ));
    Ok(db.execute(q.finish()).await? > 0)
}

/// Removes a member, as `caller`: anyone may leave, maintainers remove members below owner,
/// owners anyone; decided in the statement. Returns false if nothing was removed (not a
/// member, the only owner, or a caller who may not).
pub async fn remove_member(db: &dyn Database, id: Uuid, user_id: Uuid, caller: Uuid) -> Result<bool, ApiError> {
    let mut q = Query::default();
    let (id, user, caller) = (q.bind(id), q.bind(user_id), q.bind(caller));
    q.push(format!(
        "DELETE FROM project_members WHERE project_id = {id} AND user_id = {user} AND ({}) \
         AND ({user} = {caller} OR EXISTS (SELECT 1 FROM project_members c WHERE c.project_id = {id} AND c.user_id = {caller} \
         AND (c.role = 'owner' OR (c.role = 'maintainer' AND project_members.role != 'owner'))))",
        not_last_owner(id, user)
    ));
    Ok(db.execute(q.finish()).await? > 0)
}
