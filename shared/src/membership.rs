//! Project membership, as every group that keeps things inside projects checks it.
//!
//! Reads ask [`role_of`]. Writes do not read first: they carry [`holds_at_least`] in their own
//! `WHERE`, so that a member demoted or removed a moment before cannot slip through a check made
//! earlier; when such a write changes nothing, [`why_refused`] tells the caller why, in the
//! contract's terms (404 for outsiders, 403 for a role too low).

use uuid::Uuid;

use crate::{
    ApiError,
    db::{Database, DbError, Operand},
    domain::ProjectRole,
    stmt,
};

/// SQL that holds when `user` holds at least `role` in `project`: each a value bound to the
/// statement it goes into, or a column qualified by its table or alias (`tasks.project_id`). A
/// bare column name is refused: inside the guard's own subquery it would name
/// `project_members`' column and compare it with itself, a guard that always holds.
pub fn holds_at_least(project: impl Into<Operand>, user: impl Into<Operand>, role: ProjectRole) -> String {
    let (project, user) = (project.into(), user.into());
    for operand in [project, user] {
        if let Operand::Column(column) = operand {
            assert!(column.contains('.'), "holds_at_least({column}): use a bound value or a qualified column");
        }
    }
    let roles: Vec<String> = ProjectRole::ALL.iter().filter(|r| r.at_least(role)).map(|r| format!("'{}'", r.as_str())).collect();
    format!("EXISTS (SELECT 1 FROM project_members WHERE project_id = {project} AND user_id = {user} AND role IN ({}))", roles.join(", "))
}

/// The role `user_id` holds in a project, if any.
pub async fn role_of(db: &dyn Database, project: Uuid, user_id: Uuid) -> Result<Option<ProjectRole>, ApiError> {
    let row = db.query_opt(stmt!("SELECT role FROM project_members WHERE project_id = ?1 AND user_id = ?2", project, user_id)).await?;
    Ok(row.map(|row| row.decode::<(ProjectRole,)>().map(|(role,)| role)).transpose()?)
}

/// Of `users`, those who are members of `project`.
pub async fn members_among(db: &dyn Database, project: Uuid, users: &[Uuid]) -> Result<Vec<Uuid>, ApiError> {
    let list = serde_json::Value::from(users.iter().map(Uuid::to_string).collect::<Vec<_>>()).to_string();
    let rows = db
        .query(stmt!(
            "SELECT user_id FROM project_members WHERE project_id = ?1 AND user_id IN (SELECT value FROM json_each(?2))",
            project,
            list
        ))
        .await?;
    Ok(rows.iter().map(|row| row.decode().map(|(id,)| id)).collect::<Result<_, DbError>>()?)
}

/// The role, if it is at least `needed`: 404 for an outsider, 403 for a member below it.
pub async fn require(db: &dyn Database, project: Uuid, user_id: Uuid, needed: ProjectRole) -> Result<ProjectRole, ApiError> {
    let role = role_of(db, project, user_id).await?.ok_or_else(ApiError::not_found)?;
    if !role.at_least(needed) {
        return Err(forbidden(needed));
    }
    Ok(role)
}

/// Why a write guarded by [`holds_at_least`] changed nothing, if the caller's role is the
/// reason: `None` when they do hold `needed` (the reason lies elsewhere: a stale version, a
/// state that moved on).
pub async fn why_refused(db: &dyn Database, project: Uuid, user_id: Uuid, needed: ProjectRole) -> Result<Option<ApiError>, ApiError> {
    Ok(match role_of(db, project, user_id).await? {
        None => Some(ApiError::not_found()),
        Some(role) if !role.at_least(needed) => Some(forbidden(needed)),
        Some(_) => None,
    })
}

pub fn forbidden(needed: ProjectRole) -> ApiError {
    ApiError::forbidden(format!("This needs the {} role in the project.", needed.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::db::Query;

    #[test]
    fn the_guard_lists_the_role_and_every_role_above_it() {
        let mut q = Query::default();
        let (project, user) = (q.bind("p"), q.bind("u"));
        let sql = holds_at_least(Operand::Column("tasks.project_id"), user, ProjectRole::Contributor);
        assert!(sql.contains("project_id = tasks.project_id AND user_id = ?2"));
        assert!(sql.contains("role IN ('contributor', 'maintainer', 'owner')"), "{sql}");
        assert!(holds_at_least(project, user, ProjectRole::Owner).contains("role IN ('owner')"));
    }

    #[test]
    #[should_panic(expected = "qualified column")]
    fn a_bare_column_is_refused_since_the_subquery_would_capture_it() {
        let user = Query::default().bind("u");
        holds_at_least(Operand::Column("project_id"), user, ProjectRole::Contributor);
    }
}
