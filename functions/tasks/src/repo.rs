//! The tasks group's SQL. Every write carries "the caller holds at least role R in the task's
//! project" in its own `WHERE` ([`membership::holds_at_least`]); readiness and history are kept
//! by the schema's triggers inside the same statements (see `migrations/0007_tasks.sql`).

use serde_json::Value as Json;
use tui_shared::{
    ApiError,
    db::{Database, DbError, DbResult, Row, Statement, Value},
    domain::ProjectRole,
    membership::holds_at_least,
    stmt,
};
use uuid::Uuid;

use crate::model::{Dependency, DependencyKind, HistoryEntry, Priority, Status, Task};

/// The columns [`task`] reads, in its order: `t` is the task.
const COLUMNS: &str = "t.id, t.project_id, t.title, t.description, t.status, t.priority, t.assignee, t.labels, t.due_at, t.progress, \
     (SELECT json_group_array(json_object('task_id', d.depends_on, 'type', d.kind)) FROM task_dependencies d WHERE d.task_id = t.id), \
     t.waiting_on, t.version, t.created_by, t.created_at, t.updated_at";

/// What a task waits on now: its dependencies not yet satisfied (as the schema's triggers count).
fn waiting_on(task: &str) -> String {
    format!("(SELECT count(*) FROM task_unsatisfied_dependencies WHERE task_id = {task})")
}

fn json<T: serde::de::DeserializeOwned>(text: &str) -> DbResult<T> {
    serde_json::from_str(text).map_err(|e| DbError::decode(format!("stored JSON: {e}")))
}

/// A row of [`COLUMNS`], as stored.
type TaskRow = (Uuid, Uuid, String, String, Status, i64, Option<Uuid>, String, Option<String>, i64, String, i64, i64, Uuid, String, String);

fn task(row: &Row) -> DbResult<Task> {
    let (
        id,
        project_id,
        title,
        description,
        status,
        priority,
        assignee,
        labels,
        due_at,
        progress,
        depends_on,
        waiting_on,
        version,
        created_by,
        created_at,
        updated_at,
    ): TaskRow = row.decode()?;
    let priority = Priority::from_rank(priority).ok_or_else(|| DbError::decode(format!("priority rank {priority}")))?;
    let mut depends_on: Vec<Dependency> = json(&depends_on)?;
    depends_on.sort_by_key(|d| d.task_id);
    Ok(Task {
        id,
        project_id,
        title,
        description,
        status,
        priority,
        assignee,
        labels: json(&labels)?,
        due_at,
        progress,
        depends_on,
        waiting_on,
        version,
        created_by,
        created_at,
        updated_at,
    })
}

fn tasks(rows: Vec<Row>) -> Result<Vec<Task>, ApiError> {
    tui_shared::repo::decode(rows, task)
}

/// The task, if `user_id` is a member of its project.
pub async fn visible(db: &dyn Database, id: Uuid, user_id: Uuid) -> Result<Option<Task>, ApiError> {
    let sql =
        format!("SELECT {COLUMNS} FROM tasks t JOIN project_members m ON m.project_id = t.project_id AND m.user_id = ?2 WHERE t.id = ?1");
    let row = db.query_opt(stmt!(sql, id, user_id)).await?;
    Ok(row.as_ref().map(task).transpose()?)
}

/// A task's project and state, whoever asks: for explaining why a guarded write did nothing.
pub async fn head(db: &dyn Database, id: Uuid) -> Result<Option<(Uuid, Status, i64, i64)>, ApiError> {
    let row = db.query_opt(stmt!("SELECT project_id, status, version, waiting_on FROM tasks WHERE id = ?1", id)).await?;
    Ok(row.map(|r| r.decode()).transpose()?)
}

/// Of `ids`, those that are tasks of `project`.
pub async fn in_project(db: &dyn Database, project: Uuid, ids: &[Uuid]) -> Result<Vec<Uuid>, ApiError> {
    let ids = Json::from(ids.iter().map(Uuid::to_string).collect::<Vec<_>>()).to_string();
    let rows =
        db.query(stmt!("SELECT id FROM tasks WHERE project_id = ?1 AND id IN (SELECT value FROM json_each(?2))", project, ids)).await?;
    rows.iter().map(|r| r.decode().map(|(id,)| id)).collect::<DbResult<_>>().map_err(ApiError::from)
}

/// A task to create, with its dependencies resolved to ids.
pub struct NewTask {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub priority: Priority,
    pub assignee: Option<Uuid>,
    pub labels: Vec<String>,
    pub due_at: Option<String>,
    pub progress: i64,
    pub depends_on: Vec<Dependency>,
}

/// The statements that create `tasks` (ordered so that each comes after the tasks it depends
/// on) in `project`, as `user_id`, if they hold at least the contributor role: every statement
/// is guarded by the same condition, so the batch creates all of them or none. Each task's
/// dependencies go in just before it (the foreign keys are deferred), so that the task is
/// inserted already `ready` or `pending`.
pub fn create(project: Uuid, user_id: Uuid, now: &str, tasks: &[NewTask]) -> Vec<Statement> {
    let may = holds_at_least("?4", "?5", ProjectRole::Contributor);
    let mut statements = Vec::new();
    for new in tasks {
        for dependency in &new.depends_on {
            statements.push(stmt!(
                format!(
                    "INSERT INTO task_dependencies (task_id, depends_on, kind, project_id, created_at) \
                     SELECT ?1, ?2, ?3, ?4, ?6 WHERE {may}"
                ),
                new.id,
                dependency.task_id,
                dependency.kind.as_str(),
                project,
                user_id,
                now,
            ));
        }
        statements.push(Statement::new(
            format!(
                "INSERT INTO tasks (id, project_id, title, description, status, priority, assignee, labels, due_at, progress, \
                 waiting_on, created_by, changed_by, created_at, updated_at) \
                 SELECT ?1, ?4, ?2, ?3, CASE WHEN w.n = 0 THEN 'ready' ELSE 'pending' END, ?7, ?8, ?9, ?10, ?11, w.n, ?5, ?5, ?6, ?6 \
                 FROM (SELECT {} AS n) AS w WHERE {may}",
                waiting_on("?1")
            ),
            vec![
                new.id.into(),
                new.title.as_str().into(),
                new.description.as_str().into(),
                project.into(),
                user_id.into(),
                now.into(),
                new.priority.rank().into(),
                new.assignee.into(),
                Json::from(new.labels.clone()).to_string().into(),
                new.due_at.clone().into(),
                new.progress.into(),
            ],
        ));
    }
    statements
}

/// The tasks with these ids, in this order.
pub async fn by_ids(db: &dyn Database, ids: &[Uuid]) -> Result<Vec<Task>, ApiError> {
    let list = Json::from(ids.iter().map(Uuid::to_string).collect::<Vec<_>>()).to_string();
    let sql = format!("SELECT {COLUMNS} FROM json_each(?1) AS j JOIN tasks t ON t.id = j.value ORDER BY j.key");
    tasks(db.query(stmt!(sql, list)).await?)
}

/// Sort orders of a list; each ends on the id, so that the order is total and a cursor exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Priority,
    DueAt,
    CreatedAt,
    UpdatedAt,
}

impl SortKey {
    /// The SQL of the key; a task without a due date sorts after every dated one.
    fn sql(self) -> &'static str {
        match self {
            Self::Priority => "t.priority",
            Self::DueAt => "coalesce(t.due_at, '~')",
            Self::CreatedAt => "t.created_at",
            Self::UpdatedAt => "t.updated_at",
        }
    }

    fn of(self, task: &Task) -> Json {
        match self {
            Self::Priority => task.priority.rank().into(),
            Self::DueAt => task.due_at.clone().unwrap_or_else(|| "~".into()).into(),
            Self::CreatedAt => task.created_at.clone().into(),
            Self::UpdatedAt => task.updated_at.clone().into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

impl Sort {
    /// Where a page ended: the last task's sort value and id.
    pub fn position(&self, task: &Task) -> (Json, Uuid) {
        (self.key.of(task), task.id)
    }
}

pub struct ListFilter {
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    pub assignee: Option<Uuid>,
    pub label: Option<String>,
    /// An FTS5 query (see `search`), matched against title, description and labels.
    pub matching: Option<String>,
    pub due_before: Option<String>,
    pub sort: Sort,
    /// The position of the last task of the previous page.
    pub after: Option<(Json, Uuid)>,
    pub limit: usize,
}

/// One page of a project's tasks, fetching one more than `limit`.
pub async fn list(db: &dyn Database, project: Uuid, filter: &ListFilter) -> Result<Vec<Task>, ApiError> {
    let mut sql = format!("SELECT {COLUMNS} FROM tasks t WHERE t.project_id = ?1");
    let mut params: Vec<Value> = vec![project.into()];
    fn bind(value: Value, params: &mut Vec<Value>) -> String {
        params.push(value);
        format!("?{}", params.len())
    }
    if let Some(status) = filter.status {
        sql += &format!(" AND t.status = {}", bind(status.as_str().into(), &mut params));
    }
    if let Some(priority) = filter.priority {
        sql += &format!(" AND t.priority = {}", bind(priority.rank().into(), &mut params));
    }
    if let Some(assignee) = filter.assignee {
        sql += &format!(" AND t.assignee = {}", bind(assignee.into(), &mut params));
    }
    if let Some(label) = &filter.label {
        sql += &format!(" AND EXISTS (SELECT 1 FROM json_each(t.labels) WHERE value = {})", bind(label.into(), &mut params));
    }
    if let Some(due_before) = &filter.due_before {
        sql += &format!(" AND t.due_at < {}", bind(due_before.into(), &mut params));
    }
    if let Some(query) = &filter.matching {
        sql += &format!(" AND t.seq IN (SELECT rowid FROM tasks_search WHERE tasks_search MATCH {})", bind(query.into(), &mut params));
    }
    let key = filter.sort.key.sql();
    let (cmp, direction) = if filter.sort.descending { ("<", "DESC") } else { (">", "ASC") };
    if let Some((value, id)) = &filter.after {
        let value = match value {
            Json::Number(n) => Value::Integer(n.as_i64().unwrap_or_default()),
            other => Value::Text(other.as_str().unwrap_or_default().to_owned()),
        };
        let (v, i) = (bind(value, &mut params), bind((*id).into(), &mut params));
        sql += &format!(" AND ({key} {cmp} {v} OR ({key} = {v} AND t.id {cmp} {i}))");
    }
    let limit = bind(i64::try_from(filter.limit + 1).unwrap_or(i64::MAX).into(), &mut params);
    sql += &format!(" ORDER BY {key} {direction}, t.id {direction} LIMIT {limit}");
    tasks(db.query(Statement::new(sql, params)).await?)
}

/// Changes to a task's fields; `Some(None)` clears a field that may be empty.
#[derive(Default)]
pub struct Changes {
    pub title: Option<String>,
    pub description: Option<String>,
    pub priority: Option<Priority>,
    pub assignee: Option<Option<Uuid>>,
    pub labels: Option<Vec<String>>,
    pub due_at: Option<Option<String>>,
    pub progress: Option<i64>,
}

/// Applies `changes` as `user_id` (a contributor or more), if the task is still at `version`
/// when one is given; returns whether it did.
pub async fn update(
    db: &dyn Database,
    id: Uuid,
    user_id: Uuid,
    version: Option<i64>,
    changes: &Changes,
    now: &str,
) -> Result<bool, ApiError> {
    let may = holds_at_least("tasks.project_id", "?3", ProjectRole::Contributor);
    let sql = format!(
        "UPDATE tasks SET title = coalesce(?5, title), description = coalesce(?6, description), priority = coalesce(?7, priority), \
         assignee = CASE WHEN ?8 THEN ?9 ELSE assignee END, labels = coalesce(?10, labels), \
         due_at = CASE WHEN ?11 THEN ?12 ELSE due_at END, progress = coalesce(?13, progress), \
         version = version + 1, changed_by = ?3, updated_at = ?4 \
         WHERE id = ?1 AND (?2 IS NULL OR version = ?2) AND {may}"
    );
    let outcome = db
        .execute(Statement::new(
            sql,
            vec![
                id.into(),
                version.into(),
                user_id.into(),
                now.into(),
                changes.title.clone().into(),
                changes.description.clone().into(),
                changes.priority.map(Priority::rank).into(),
                changes.assignee.is_some().into(),
                changes.assignee.flatten().into(),
                changes.labels.as_ref().map(|l| Json::from(l.clone()).to_string()).into(),
                changes.due_at.is_some().into(),
                changes.due_at.clone().flatten().into(),
                changes.progress.into(),
            ],
        ))
        .await;
    match outcome {
        Ok(changed) => Ok(changed > 0),
        // The schema's trigger: the assignee is not (or no longer) a member of the project.
        Err(DbError::Constraint(_)) => Err(ApiError::field("assignee", "is not a member of the project")),
        Err(error) => Err(error.into()),
    }
}

/// Moves the task from `from` to `to` as `user_id` (a contributor or more), if it is still in
/// `from` (and at `version`, when given). A move that starts work happens only if the task
/// waits on nothing; a move to `ready` lands on `pending` if it does. The triggers record the
/// history and recount the tasks that depend on this one.
pub async fn transition(
    db: &dyn Database,
    id: Uuid,
    user_id: Uuid,
    from: Status,
    to: Status,
    version: Option<i64>,
    now: &str,
) -> Result<bool, ApiError> {
    let may = holds_at_least("tasks.project_id", "?3", ProjectRole::Contributor);
    let target = if to.follows_dependencies() { "CASE WHEN waiting_on = 0 THEN 'ready' ELSE 'pending' END" } else { "?5" };
    let unblocked = if to.starts_work() { " AND waiting_on = 0" } else { "" };
    let sql = format!(
        "UPDATE tasks SET status = {target}, version = version + 1, changed_by = ?3, updated_at = ?4, \
         progress = CASE WHEN ?5 = 'completed' THEN 100 ELSE progress END \
         WHERE id = ?1 AND status = ?2 AND (?6 IS NULL OR version = ?6){unblocked} AND {may}"
    );
    let changed = db.execute(stmt!(sql, id, from.as_str(), user_id, now, to.as_str(), version)).await?;
    Ok(changed > 0)
}

/// Deletes a task as `user_id` (a maintainer or more). Unless `force`, only a task nothing
/// depends on; with it, the dependencies on it go too, and the tasks that had them are
/// recounted by the triggers.
pub async fn delete(db: &dyn Database, id: Uuid, user_id: Uuid, force: bool) -> Result<bool, ApiError> {
    let may = holds_at_least("tasks.project_id", "?2", ProjectRole::Maintainer);
    let sql =
        format!("DELETE FROM tasks WHERE id = ?1 AND {may} AND (?3 OR NOT EXISTS (SELECT 1 FROM task_dependencies WHERE depends_on = ?1))");
    Ok(db.execute(stmt!(sql, id, user_id, force)).await? > 0)
}

/// The most tasks one task depends on directly.
pub const MAX_DEPENDENCIES: usize = 100;

/// How many tasks `id` depends on directly.
pub async fn dependency_count(db: &dyn Database, id: Uuid) -> Result<usize, ApiError> {
    let row = db.query_opt(stmt!("SELECT count(*) FROM task_dependencies WHERE task_id = ?1", id)).await?;
    let count: i64 = row.map(|r| r.decode().map(|(n,)| n)).transpose()?.unwrap_or(0);
    Ok(usize::try_from(count).unwrap_or(0))
}

/// Whether anything depends on the task.
pub async fn has_dependents(db: &dyn Database, id: Uuid) -> Result<bool, ApiError> {
    Ok(db.query_opt(stmt!("SELECT 1 FROM task_dependencies WHERE depends_on = ?1 LIMIT 1", id)).await?.is_some())
}

/// `task`'s dependencies, transitively, and the task itself: what a dependency of a task on it
/// must not reach back to. `limit` stops the walk after that many tasks (for display only: the
/// cycle check walks it all).
fn upstream_of(task: &str, limit: Option<usize>) -> String {
    let limit = limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
    format!(
        "WITH RECURSIVE up(id) AS (SELECT {task} UNION SELECT d.depends_on FROM task_dependencies d JOIN up ON d.task_id = up.id{limit})"
    )
}

/// Makes `id` depend on `depends_on` as `user_id` (a contributor or more), unless that would
/// close a cycle: decided in the insert itself, so that two dependencies added at once in
/// opposite directions cannot both pass. Returns whether it was added (not: a cycle, an
/// existing dependency, or a caller who may not).
pub async fn add_dependency(
    db: &dyn Database,
    id: Uuid,
    depends_on: Uuid,
    kind: DependencyKind,
    user_id: Uuid,
    now: &str,
) -> Result<bool, ApiError> {
    let may = holds_at_least("t.project_id", "?4", ProjectRole::Contributor);
    let sql = format!(
        "INSERT INTO task_dependencies (task_id, depends_on, kind, project_id, created_at) \
         SELECT t.id, ?2, ?3, t.project_id, ?5 FROM tasks t \
         WHERE t.id = ?1 AND {may} AND (SELECT count(*) FROM task_dependencies WHERE task_id = ?1) < {MAX_DEPENDENCIES} \
         AND NOT EXISTS ({} SELECT 1 FROM up WHERE up.id = ?1) \
         ON CONFLICT (task_id, depends_on) DO NOTHING",
        upstream_of("?2", None)
    );
    match db.execute(stmt!(sql, id, depends_on, kind.as_str(), user_id, now)).await {
        Ok(changed) => Ok(changed > 0),
        // One of the two was deleted a moment ago (the deferred foreign keys say so at commit).
        Err(DbError::Constraint(_)) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// The kind of the dependency of `id` on `depends_on`, if there is one.
pub async fn dependency(db: &dyn Database, id: Uuid, depends_on: Uuid) -> Result<Option<DependencyKind>, ApiError> {
    let row = db.query_opt(stmt!("SELECT kind FROM task_dependencies WHERE task_id = ?1 AND depends_on = ?2", id, depends_on)).await?;
    Ok(row.map(|r| r.decode().map(|(kind,)| kind)).transpose()?)
}

/// Every dependency among `id`'s upstream tasks: (task, the task it depends on).
pub async fn upstream_edges(db: &dyn Database, id: Uuid) -> Result<Vec<(Uuid, Uuid)>, ApiError> {
    let sql = format!("{} SELECT d.task_id, d.depends_on FROM task_dependencies d JOIN up ON d.task_id = up.id", upstream_of("?1", None));
    let rows = db.query(stmt!(sql, id)).await?;
    rows.iter().map(Row::decode).collect::<DbResult<_>>().map_err(ApiError::from)
}

/// Removes the dependency of `id` on `depends_on`, as `user_id` (a contributor or more).
pub async fn remove_dependency(db: &dyn Database, id: Uuid, depends_on: Uuid, user_id: Uuid) -> Result<bool, ApiError> {
    let may = holds_at_least("task_dependencies.project_id", "?3", ProjectRole::Contributor);
    let sql = format!("DELETE FROM task_dependencies WHERE task_id = ?1 AND depends_on = ?2 AND {may}");
    Ok(db.execute(stmt!(sql, id, depends_on, user_id)).await? > 0)
}

/// A task as a graph shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Node {
    pub id: Uuid,
    pub title: String,
    pub status: Status,
}

/// A dependency as a graph shows it: `task_id` depends on `depends_on`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Edge {
    pub task_id: Uuid,
    pub depends_on: Uuid,
    #[serde(rename = "type")]
    pub kind: DependencyKind,
}

/// The most tasks a graph shows on each side, and the most dependencies it lists.
pub const GRAPH_NODES: usize = 1_000;
pub const GRAPH_EDGES: usize = 5_000;

/// A task's neighbourhood: the tasks it depends on transitively (upstream), those that depend
/// on it (downstream), the dependencies among them, and whether a limit cut any of it short.
pub struct Graph {
    pub upstream: Vec<Node>,
    pub downstream: Vec<Node>,
    pub edges: Vec<Edge>,
    pub truncated: bool,
}

pub async fn graph(db: &dyn Database, id: Uuid) -> Result<Graph, ApiError> {
    // One more than shown on each side (the task itself is in both walks): a full side is cut.
    let closures = format!(
        "{}, down(id) AS (SELECT ?1 UNION SELECT d.task_id FROM task_dependencies d JOIN down ON d.depends_on = down.id LIMIT {})",
        upstream_of("?1", Some(GRAPH_NODES + 2)),
        GRAPH_NODES + 2
    );
    let nodes = format!(
        "{closures} SELECT 'up', t.id, t.title, t.status FROM up JOIN tasks t ON t.id = up.id WHERE up.id != ?1 \
         UNION ALL SELECT 'down', t.id, t.title, t.status FROM down JOIN tasks t ON t.id = down.id WHERE down.id != ?1 ORDER BY 2"
    );
    let edges = format!(
        "{closures} SELECT d.task_id, d.depends_on, d.kind FROM task_dependencies d JOIN up ON d.task_id = up.id \
         UNION SELECT d.task_id, d.depends_on, d.kind FROM task_dependencies d JOIN down ON d.depends_on = down.id ORDER BY 1, 2 LIMIT {}",
        GRAPH_EDGES + 1
    );
    let (mut upstream, mut downstream) = (Vec::new(), Vec::new());
    for row in db.query(stmt!(nodes, id)).await? {
        let (side, id, title, status): (String, Uuid, String, Status) = row.decode()?;
        let node = Node { id, title, status };
        if side == "up" { upstream.push(node) } else { downstream.push(node) }
    }
    let mut edges: Vec<Edge> = db
        .query(stmt!(edges, id))
        .await?
        .iter()
        .map(|row| row.decode().map(|(task_id, depends_on, kind)| Edge { task_id, depends_on, kind }))
        .collect::<DbResult<_>>()?;
    let truncated = upstream.len() > GRAPH_NODES || downstream.len() > GRAPH_NODES || edges.len() > GRAPH_EDGES;
    upstream.truncate(GRAPH_NODES);
    downstream.truncate(GRAPH_NODES);
    edges.truncate(GRAPH_EDGES);
    Ok(Graph { upstream, downstream, edges, truncated })
}

/// A task's history, oldest first, after its entry numbered `after`, fetching one more than `limit`.
pub async fn history(db: &dyn Database, id: Uuid, after: i64, limit: usize) -> Result<Vec<(i64, HistoryEntry)>, ApiError> {
    let rows = db
        .query(stmt!(
            "SELECT seq, actor, from_status, to_status, at FROM task_history WHERE task_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            id,
            after,
            i64::try_from(limit + 1).unwrap_or(i64::MAX),
        ))
        .await?;
    rows.iter()
        .map(|row| row.decode().map(|(n, actor, from, to, at)| (n, HistoryEntry { actor, from, to, at })))
        .collect::<DbResult<_>>()
        .map_err(ApiError::from)
}

#[cfg(test)]
mod tests {
    use tui_shared::{adapters::native::Sqlite, db::migrate};

    use super::*;

    /// A database with a project `p`, its owner `o` and an outsider `x` who owns another project.
    async fn world() -> (Sqlite, Uuid, Uuid, Uuid) {
        let db = Sqlite::open(":memory:", 1).unwrap();
        migrate::migrate(&db, "2026-01-01T00:00:00.000Z").await.unwrap();
        let (p, other, o, x) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        for (user, name) in [(o, "owner"), (x, "outsider")] {
            db.execute(stmt!(
                "INSERT INTO users (id, email, username, password_hash, created_at, updated_at) VALUES (?1, ?2, ?2, 'x', 'now', 'now')",
                user,
                name,
            ))
            .await
            .unwrap();
        }
        for (project, owner) in [(p, o), (other, x)] {
            db.batch(vec![
                stmt!(
                    "INSERT INTO projects (id, name, created_by, created_at, updated_at) VALUES (?1, 'p', ?2, 'now', 'now')",
                    project,
                    owner
                ),
                stmt!("INSERT INTO project_members (project_id, user_id, role, added_at) VALUES (?1, ?2, 'owner', 'now')", project, owner),
            ])
            .await
            .unwrap();
        }
        (db, p, o, x)
    }

    fn new_task(depends_on: Vec<Dependency>, assignee: Option<Uuid>) -> NewTask {
        NewTask {
            id: Uuid::now_v7(),
            title: "t".into(),
            description: String::new(),
            priority: Priority::Medium,
            assignee,
            labels: Vec::new(),
            due_at: None,
            progress: 0,
            depends_on,
        }
    }

    #[tokio::test]
    async fn a_non_member_is_never_assigned_whatever_was_read_before() {
        let (db, p, o, x) = world().await;
        let refused = db.batch(create(p, o, "now", &[new_task(vec![], Some(x))])).await;
        assert!(matches!(refused, Err(DbError::Constraint(_))), "{refused:?}");
        let task = new_task(vec![], Some(o));
        db.batch(create(p, o, "now", std::slice::from_ref(&task))).await.unwrap();
        let changes = Changes { assignee: Some(Some(x)), ..Changes::default() };
        let refused = update(&db, task.id, o, None, &changes, "now").await.unwrap_err();
        assert_eq!(refused.errors[0].field, "assignee");
    }

    #[tokio::test]
    async fn only_a_role_in_the_tasks_own_project_removes_a_dependency() {
        let (db, p, o, x) = world().await;
        let up = new_task(vec![], None);
        let down = new_task(vec![Dependency { task_id: up.id, kind: DependencyKind::Requires }], None);
        let (up_id, down_id) = (up.id, down.id);
        db.batch(create(p, o, "now", &[up, down])).await.unwrap();
        assert!(!remove_dependency(&db, down_id, up_id, x).await.unwrap(), "an owner of another project");
        assert!(remove_dependency(&db, down_id, up_id, o).await.unwrap());
    }
}
