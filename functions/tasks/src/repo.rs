//! The tasks group's SQL. Every write carries "the caller holds at least role R in the task's
//! project" in its own `WHERE` ([`membership::holds_at_least`]); readiness and history are kept
//! by the schema's triggers inside the same statements (see `migrations/0007_tasks.sql`).

use serde::Deserialize;
use serde_json::Value as Json;
use tui_shared::{
    ApiError,
    db::{self, Database, DbError, DbResult, Operand, Param, Query, Row, Statement, Value},
    domain::ProjectRole,
    membership::holds_at_least,
    stmt,
};
use uuid::Uuid;

use crate::model::{Dependency, DependencyKind, HistoryEntry, Priority, Status, Task};

/// The columns of a [`TaskRow`]: `t` is the task.
const COLUMNS: &str = "t.id, t.project_id, t.title, t.description, t.status, t.priority, t.assignee, t.labels, t.due_at, t.progress, \
     (SELECT json_group_array(json_object('task_id', d.depends_on, 'type', d.kind)) FROM task_dependencies d WHERE d.task_id = t.id) \
     AS depends_on, t.waiting_on, t.version, t.created_by, t.created_at, t.updated_at";

/// What a task waits on now: its dependencies not yet satisfied (as the schema's triggers count).
fn waiting_on(task: Param) -> String {
    format!("(SELECT count(*) FROM task_unsatisfied_dependencies WHERE task_id = {task})")
}

/// A task as stored: a row of [`COLUMNS`].
#[derive(Deserialize)]
struct TaskRow {
    id: Uuid,
    project_id: Uuid,
    title: String,
    description: String,
    status: Status,
    priority: i64,
    assignee: Option<Uuid>,
    labels: db::Json<Vec<String>>,
    due_at: Option<String>,
    progress: i64,
    depends_on: db::Json<Vec<Dependency>>,
    waiting_on: i64,
    version: i64,
    created_by: Uuid,
    created_at: String,
    updated_at: String,
}

fn task(row: &Row) -> DbResult<Task> {
    let TaskRow {
        id,
        project_id,
        title,
        description,
        status,
        priority,
        assignee,
        labels: db::Json(labels),
        due_at,
        progress,
        depends_on: db::Json(mut depends_on),
        waiting_on,
        version,
        created_by,
        created_at,
        updated_at,
    } = row.decode()?;
    let priority = Priority::from_rank(priority).ok_or_else(|| DbError::decode(format!("priority rank {priority}")))?;
    depends_on.sort_by_key(|d| d.task_id);
    Ok(Task {
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
    let mut statements = Vec::new();
    for new in tasks {
        for dependency in &new.depends_on {
            let mut q = Query::default();
            let (id, depends_on, kind) = (q.bind(new.id), q.bind(dependency.task_id), q.bind(dependency.kind.as_str()));
            let (project, now) = (q.bind(project), q.bind(now));
            let may = holds_at_least(project, q.bind(user_id), ProjectRole::Contributor);
            q.push(format!(
                "INSERT INTO task_dependencies (task_id, depends_on, kind, project_id, created_at) \
                 SELECT {id}, {depends_on}, {kind}, {project}, {now} WHERE {may}"
            ));
            statements.push(q.finish());
        }
        let mut q = Query::default();
        let (id, title, description) = (q.bind(new.id), q.bind(new.title.as_str()), q.bind(new.description.as_str()));
        let (project, user, now) = (q.bind(project), q.bind(user_id), q.bind(now));
        let (priority, assignee) = (q.bind(new.priority.rank()), q.bind(new.assignee));
        let labels = q.bind(Json::from(new.labels.clone()).to_string());
        let (due_at, progress) = (q.bind(new.due_at.clone()), q.bind(new.progress));
        q.push(format!(
            "INSERT INTO tasks (id, project_id, title, description, status, priority, assignee, labels, due_at, progress, \
             waiting_on, created_by, changed_by, created_at, updated_at) \
             SELECT {id}, {project}, {title}, {description}, CASE WHEN w.n = 0 THEN 'ready' ELSE 'pending' END, {priority}, \
             {assignee}, {labels}, {due_at}, {progress}, w.n, {user}, {user}, {now}, {now} \
             FROM (SELECT {} AS n) AS w WHERE {}",
            waiting_on(id),
            holds_at_least(project, user, ProjectRole::Contributor)
        ));
        statements.push(q.finish());
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
    /// An FTS5 query (`tui_shared::search::query`), matched against title, description and labels.
    pub matching: Option<String>,
    pub due_before: Option<String>,
    pub sort: Sort,
    /// The position of the last task of the previous page.
    pub after: Option<(Json, Uuid)>,
    pub limit: usize,
}

/// One page of a project's tasks, fetching one more than `limit`.
pub async fn list(db: &dyn Database, project: Uuid, filter: &ListFilter) -> Result<Vec<Task>, ApiError> {
    let mut q = Query::new(format!("SELECT {COLUMNS} FROM tasks t WHERE t.project_id = "));
    q.push_bind(project);
    if let Some(status) = filter.status {
        q.push(" AND t.status = ").push_bind(status.as_str());
    }
    if let Some(priority) = filter.priority {
        q.push(" AND t.priority = ").push_bind(priority.rank());
    }
    if let Some(assignee) = filter.assignee {
        q.push(" AND t.assignee = ").push_bind(assignee);
    }
    if let Some(label) = &filter.label {
        q.push(" AND EXISTS (SELECT 1 FROM json_each(t.labels) WHERE value = ").push_bind(label).push(")");
    }
    if let Some(due_before) = &filter.due_before {
        q.push(" AND t.due_at < ").push_bind(due_before);
    }
    if let Some(query) = &filter.matching {
        q.push(" AND t.seq IN (SELECT rowid FROM tasks_search WHERE tasks_search MATCH ").push_bind(query).push(")");
    }
    let key = filter.sort.key.sql();
    let (cmp, direction) = if filter.sort.descending { ("<", "DESC") } else { (">", "ASC") };
    if let Some((value, id)) = &filter.after {
        let value = match value {
            Json::Number(n) => Value::Integer(n.as_i64().unwrap_or_default()),
            other => Value::Text(other.as_str().unwrap_or_default().to_owned()),
        };
        let (v, i) = (q.bind(value), q.bind(*id));
        q.push(format!(" AND ({key} {cmp} {v} OR ({key} = {v} AND t.id {cmp} {i}))"));
    }
    let limit = q.bind(i64::try_from(filter.limit + 1).unwrap_or(i64::MAX));
    q.push(format!(" ORDER BY {key} {direction}, t.id {direction} LIMIT {limit}"));
    tasks(db.query(q.finish()).await?)
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
    let mut q = Query::default();
    let (id, version, user, now) = (q.bind(id), q.bind(version), q.bind(user_id), q.bind(now));
    let (title, description) = (q.bind(changes.title.clone()), q.bind(changes.description.clone()));
    let priority = q.bind(changes.priority.map(Priority::rank));
    let (sets_assignee, assignee) = (q.bind(changes.assignee.is_some()), q.bind(changes.assignee.flatten()));
    let labels = q.bind(changes.labels.as_ref().map(|l| Json::from(l.clone()).to_string()));
    let (sets_due_at, due_at) = (q.bind(changes.due_at.is_some()), q.bind(changes.due_at.clone().flatten()));
    let progress = q.bind(changes.progress);
    let may = holds_at_least(Operand::Column("tasks.project_id"), user, ProjectRole::Contributor);
    q.push(format!(
        "UPDATE tasks SET title = coalesce({title}, title), description = coalesce({description}, description), \
         priority = coalesce({priority}, priority), assignee = CASE WHEN {sets_assignee} THEN {assignee} ELSE assignee END, \
         labels = coalesce({labels}, labels), due_at = CASE WHEN {sets_due_at} THEN {due_at} ELSE due_at END, \
         progress = coalesce({progress}, progress), version = version + 1, changed_by = {user}, updated_at = {now} \
         WHERE id = {id} AND ({version} IS NULL OR version = {version}) AND {may}"
    ));
    let outcome = db.execute(q.finish()).await;
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
    let mut q = Query::default();
    let (id, from, user, now) = (q.bind(id), q.bind(from.as_str()), q.bind(user_id), q.bind(now));
    let (to_text, version) = (q.bind(to.as_str()), q.bind(version));
    let target =
        if to.follows_dependencies() { "CASE WHEN waiting_on = 0 THEN 'ready' ELSE 'pending' END".to_owned() } else { to_text.to_string() };
    let unblocked = if to.starts_work() { " AND waiting_on = 0" } else { "" };
    let may = holds_at_least(Operand::Column("tasks.project_id"), user, ProjectRole::Contributor);
    q.push(format!(
        "UPDATE tasks SET status = {target}, version = version + 1, changed_by = {user}, updated_at = {now}, \
         progress = CASE WHEN {to_text} = 'completed' THEN 100 ELSE progress END \
         WHERE id = {id} AND status = {from} AND ({version} IS NULL OR version = {version}){unblocked} AND {may}"
    ));
    Ok(db.execute(q.finish()).await? > 0)
}

/// Deletes a task as `user_id` (a maintainer or more). Unless `force`, only a task nothing
/// depends on; with it, the dependencies on it go too, and the tasks that had them are
/// recounted by the triggers.
pub async fn delete(db: &dyn Database, id: Uuid, user_id: Uuid, force: bool) -> Result<bool, ApiError> {
    let mut q = Query::default();
    let id = q.bind(id);
    let may = holds_at_least(Operand::Column("tasks.project_id"), q.bind(user_id), ProjectRole::Maintainer);
    let force = q.bind(force);
    q.push(format!(
        "DELETE FROM tasks WHERE id = {id} AND {may} AND ({force} OR NOT EXISTS (SELECT 1 FROM task_dependencies WHERE depends_on = {id}))"
    ));
    Ok(db.execute(q.finish()).await? > 0)
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
fn upstream_of(task: Param, limit: Option<usize>) -> String {
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
    let mut q = Query::default();
    let (id, depends_on, kind) = (q.bind(id), q.bind(depends_on), q.bind(kind.as_str()));
    let may = holds_at_least(Operand::Column("t.project_id"), q.bind(user_id), ProjectRole::Contributor);
    let now = q.bind(now);
    q.push(format!(
        "INSERT INTO task_dependencies (task_id, depends_on, kind, project_id, created_at) \
         SELECT t.id, {depends_on}, {kind}, t.project_id, {now} FROM tasks t \
         WHERE t.id = {id} AND {may} AND (SELECT count(*) FROM task_dependencies WHERE task_id = {id}) < {MAX_DEPENDENCIES} \
         AND NOT EXISTS ({} SELECT 1 FROM up WHERE up.id = {id}) \
         ON CONFLICT (task_id, depends_on) DO NOTHING",
        upstream_of(depends_on, None)
    ));
    match db.execute(q.finish()).await {
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
    let mut q = Query::default();
    let id = q.bind(id);
    q.push(format!("{} SELECT d.task_id, d.depends_on FROM task_dependencies d JOIN up ON d.task_id = up.id", upstream_of(id, None)));
    let rows = db.query(q.finish()).await?;
    rows.iter().map(Row::decode).collect::<DbResult<_>>().map_err(ApiError::from)
}

/// Removes the dependency of `id` on `depends_on`, as `user_id` (a contributor or more).
pub async fn remove_dependency(db: &dyn Database, id: Uuid, depends_on: Uuid, user_id: Uuid) -> Result<bool, ApiError> {
    let mut q = Query::default();
    let (id, depends_on) = (q.bind(id), q.bind(depends_on));
    let may = holds_at_least(Operand::Column("task_dependencies.project_id"), q.bind(user_id), ProjectRole::Contributor);
    q.push(format!("DELETE FROM task_dependencies WHERE task_id = {id} AND depends_on = {depends_on} AND {may}"));
    Ok(db.execute(q.finish()).await? > 0)
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
    let closures = |task: Param| {
        format!(
            "{}, down(id) AS (SELECT {task} UNION SELECT d.task_id FROM task_dependencies d JOIN down ON d.depends_on = down.id LIMIT {})",
            upstream_of(task, Some(GRAPH_NODES + 2)),
            GRAPH_NODES + 2
        )
    };
    let mut nodes = Query::default();
    let task = nodes.bind(id);
    nodes.push(format!(
        "{} SELECT 'up', t.id, t.title, t.status FROM up JOIN tasks t ON t.id = up.id WHERE up.id != {task} \
         UNION ALL SELECT 'down', t.id, t.title, t.status FROM down JOIN tasks t ON t.id = down.id WHERE down.id != {task} ORDER BY 2",
        closures(task)
    ));
    let mut edges = Query::default();
    let task = edges.bind(id);
    edges.push(format!(
        "{} SELECT d.task_id, d.depends_on, d.kind FROM task_dependencies d JOIN up ON d.task_id = up.id \
         UNION SELECT d.task_id, d.depends_on, d.kind FROM task_dependencies d JOIN down ON d.depends_on = down.id ORDER BY 1, 2 LIMIT {}",
        closures(task),
        GRAPH_EDGES + 1
    ));
    let (mut upstream, mut downstream) = (Vec::new(), Vec::new());
    for row in db.query(nodes.finish()).await? {
        let (side, id, title, status): (String, Uuid, String, Status) = row.decode()?;
        let node = Node { id, title, status };
        if side == "up" { upstream.push(node) } else { downstream.push(node) }
    }
    let mut edges: Vec<Edge> = db
        .query(edges.finish())
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
    #[derive(Deserialize)]
    struct HistoryRow {
        seq: i64,
        actor: Option<Uuid>,
        from_status: Option<Status>,
        to_status: Status,
        at: String,
    }
    rows.iter()
        .map(|row| {
            row.decode().map(|h: HistoryRow| (h.seq, HistoryEntry { actor: h.actor, from: h.from_status, to: h.to_status, at: h.at }))
        })
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
