//! The tasks group's use cases and their policy: viewers read, contributors create, change,
//! move and link tasks, maintainers delete them. Writes are guarded in their own statements;
//! when one changes nothing, the service finds out why and answers in the contract's terms.

use std::collections::{HashMap, HashSet};

use tui_shared::{ApiError, AppState, ErrorCode, db::DbError, domain::ProjectRole, membership, repo::Page, time};
use uuid::Uuid;

use crate::{
    graph,
    model::{Dependency, DependencyKind, HistoryEntry, Status, Task},
    repo::{self, Changes, Graph, ListFilter, NewTask},
};

/// The most tasks one batch creates.
pub const MAX_BATCH: usize = 500;

/// The most dependencies one batch creates: each is a statement of the batch's transaction.
pub const MAX_BATCH_DEPENDENCIES: usize = 2_000;

/// Where a new task's dependency points: a task that exists, or one of the same batch by its key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Task(Uuid),
    Key(String),
}

/// A task as a client asks for it, checked field by field already.
pub struct Draft {
    pub key: Option<String>,
    pub task: NewTask,
    /// Where each dependency points, with `task.depends_on` still empty.
    pub depends_on: Vec<(Target, DependencyKind)>,
}

fn now(state: &AppState) -> String {
    time::format(state.clock.now())
}

/// The task as `user_id` sees it, or 404.
pub async fn visible(state: &AppState, id: Uuid, user_id: Uuid) -> Result<Task, ApiError> {
    repo::visible(state.db.as_ref(), id, user_id).await?.ok_or_else(ApiError::not_found)
}

/// Creates `drafts` in a project, all or nothing. `field` names the drafts in errors (`tasks`
/// for a batch: `tasks[3].depends_on[0].key`).
pub async fn create(state: &AppState, project: Uuid, user_id: Uuid, drafts: Vec<Draft>, field: &str) -> Result<Vec<Task>, ApiError> {
    let db = state.db.as_ref();
    membership::require(db, project, user_id, ProjectRole::Contributor).await?;
    let name = |i: usize| if field.is_empty() { String::new() } else { format!("{field}[{i}].") };

    if drafts.iter().map(|d| d.depends_on.len()).sum::<usize>() > MAX_BATCH_DEPENDENCIES {
        return Err(ApiError::field(field.to_owned(), format!("at most {MAX_BATCH_DEPENDENCIES} dependencies in one batch")));
    }
    let mut keys: HashMap<String, usize> = HashMap::new();
    for (i, draft) in drafts.iter().enumerate() {
        if let Some(key) = &draft.key
            && keys.insert(key.clone(), i).is_some()
        {
            return Err(ApiError::field(format!("{}key", name(i)), "is used by another task of the batch"));
        }
    }
    // Resolve the batch's keys to indexes, and collect the existing tasks named.
    let mut upstream: Vec<Vec<usize>> = vec![Vec::new(); drafts.len()];
    let mut existing: Vec<Uuid> = Vec::new();
    for (i, draft) in drafts.iter().enumerate() {
        let mut seen = HashSet::new();
        for (j, (target, _)) in draft.depends_on.iter().enumerate() {
            if !seen.insert(target.clone()) {
                return Err(ApiError::field(format!("{}depends_on[{j}]", name(i)), "names the same task twice"));
            }
            match target {
                Target::Key(key) => match keys.get(key) {
                    Some(&k) if k == i => {
                        return Err(ApiError::field(format!("{}depends_on[{j}].key", name(i)), "a task cannot depend on itself"));
                    }
                    Some(&k) => upstream[i].push(k),
                    None => return Err(ApiError::field(format!("{}depends_on[{j}].key", name(i)), "names no task of this batch")),
                },
                Target::Task(id) => existing.push(*id),
            }
        }
    }
    let order = graph::creation_order(&upstream).map_err(|cycle| {
        let names: Vec<String> = cycle.iter().map(|&i| drafts[i].key.clone().unwrap_or_else(|| format!("#{i}"))).collect();
        ApiError::conflict(format!("The batch's dependencies form a cycle: {}.", names.join(" -> ")))
    })?;
    if !existing.is_empty() {
        existing.sort();
        existing.dedup();
        let found: HashSet<Uuid> = repo::in_project(db, project, &existing).await?.into_iter().collect();
        for (i, draft) in drafts.iter().enumerate() {
            for (j, (target, _)) in draft.depends_on.iter().enumerate() {
                if matches!(target, Target::Task(id) if !found.contains(id)) {
                    return Err(ApiError::field(format!("{}depends_on[{j}].task_id", name(i)), "names no task of this project"));
                }
            }
        }
    }
    let mut assignees: Vec<Uuid> = drafts.iter().filter_map(|d| d.task.assignee).collect();
    if !assignees.is_empty() {
        assignees.sort();
        assignees.dedup();
        let members: HashSet<Uuid> = membership::members_among(db, project, &assignees).await?.into_iter().collect();
        if let Some(i) = drafts.iter().position(|d| d.task.assignee.is_some_and(|a| !members.contains(&a))) {
            return Err(ApiError::field(format!("{}assignee", name(i)), "is not a member of the project"));
        }
    }

    let ids: Vec<Uuid> = drafts.iter().map(|d| d.task.id).collect();
    let mut rank = vec![0; drafts.len()];
    for (position, &i) in order.iter().enumerate() {
        rank[i] = position;
    }
    let mut ordered: Vec<(usize, NewTask)> = drafts
        .into_iter()
        .enumerate()
        .map(|(i, draft)| {
            let mut task = draft.task;
            task.depends_on = draft
                .depends_on
                .into_iter()
                .map(|(target, kind)| {
                    let task_id = match target {
                        Target::Task(id) => id,
                        Target::Key(key) => ids[keys[&key]],
                    };
                    Dependency { task_id, kind }
                })
                .collect();
            (rank[i], task)
        })
        .collect();
    ordered.sort_by_key(|(rank, _)| *rank);
    let ordered: Vec<NewTask> = ordered.into_iter().map(|(_, task)| task).collect();
    let changed = match db.batch(repo::create(project, user_id, &now(state), &ordered)).await {
        Ok(changed) => changed,
        // Checked a moment ago, changed since: a task depended on was deleted, or an assignee
        // left the project. The schema refused it in the write; nothing was created.
        Err(DbError::Constraint(_)) => {
            return Err(ApiError::conflict(
                "A task depended on was deleted, or an assignee left the project, meanwhile; nothing was created.",
            ));
        }
        Err(error) => return Err(error.into()),
    };
    if changed.contains(&0) {
        let refused = membership::why_refused(db, project, user_id, ProjectRole::Contributor).await?;
        return Err(refused.unwrap_or_else(|| ApiError::internal("a guarded task insert changed nothing")));
    }
    repo::by_ids(db, &ids).await
}

pub async fn list(state: &AppState, project: Uuid, user_id: Uuid, filter: ListFilter) -> Result<Page<Task>, ApiError> {
    membership::require(state.db.as_ref(), project, user_id, ProjectRole::Viewer).await?;
    let sort = filter.sort;
    let items = repo::list(state.db.as_ref(), project, &filter).await?;
    Ok(Page::from_overfetch_by(items, filter.limit, |task| tui_shared::repo::encode_position(&sort.position(task))))
}

/// Why a write guarded by the contributor role (or `needed`) and by a state changed nothing:
/// the task is gone or not the caller's to see (404), their role is too low (403), or else
/// `otherwise` says what moved on.
async fn refused(
    state: &AppState,
    id: Uuid,
    user_id: Uuid,
    needed: ProjectRole,
    otherwise: impl FnOnce(Status, i64, i64) -> ApiError,
) -> ApiError {
    let db = state.db.as_ref();
    let head = match repo::head(db, id).await {
        Ok(Some(head)) => head,
        Ok(None) => return ApiError::not_found(),
        Err(error) => return error,
    };
    let (project, status, version, waiting_on) = head;
    match membership::why_refused(db, project, user_id, needed).await {
        Ok(Some(error)) => error,
        Ok(None) => otherwise(status, version, waiting_on),
        Err(error) => error,
    }
}

fn stale() -> ApiError {
    ApiError::new(ErrorCode::PreconditionFailed, "The task has changed since that version; read it again.")
}

pub async fn update(state: &AppState, id: Uuid, user_id: Uuid, version: Option<i64>, changes: Changes) -> Result<Task, ApiError> {
    let db = state.db.as_ref();
    if let Some(Some(assignee)) = changes.assignee {
        let task = visible(state, id, user_id).await?;
        membership::require(db, task.project_id, user_id, ProjectRole::Contributor).await?;
        if membership::members_among(db, task.project_id, &[assignee]).await?.is_empty() {
            return Err(ApiError::field("assignee", "is not a member of the project"));
        }
    }
    if !repo::update(db, id, user_id, version, &changes, &now(state)).await? {
        return Err(refused(state, id, user_id, ProjectRole::Contributor, |_, _, _| stale()).await);
    }
    visible(state, id, user_id).await
}

fn illegal(from: Status, to: Status) -> ApiError {
    let allowed: Vec<&str> = from.moves().iter().map(|s| s.as_str()).collect();
    let allowed = if allowed.is_empty() { "none: it is finished".to_owned() } else { allowed.join(", ") };
    ApiError::conflict(format!(
        "A {} task cannot move to {}; from {} it may move to: {allowed}.",
        from.as_str(),
        to.as_str(),
        from.as_str()
    ))
}

/// Moves a task to `to`, if the state machine allows it from where the task is.
pub async fn transition(state: &AppState, id: Uuid, user_id: Uuid, to: Status, version: Option<i64>) -> Result<Task, ApiError> {
    let current = visible(state, id, user_id).await?;
    membership::require(state.db.as_ref(), current.project_id, user_id, ProjectRole::Contributor).await?;
    if version.is_some_and(|v| v != current.version) {
        return Err(stale());
    }
    if !current.status.may_move_to(to) {
        return Err(illegal(current.status, to));
    }
    if to.starts_work() && current.waiting_on > 0 {
        return Err(waiting(current.waiting_on));
    }
    let moved = repo::transition(state.db.as_ref(), id, user_id, current.status, to, version, &now(state)).await?;
    if !moved {
        let expected = current.status;
        return Err(refused(state, id, user_id, ProjectRole::Contributor, |status, found, waiting_on| {
            if version.is_some_and(|v| v != found) {
                stale()
            } else if status != expected {
                illegal(status, to)
            } else if waiting_on > 0 {
                waiting(waiting_on)
            } else {
                ApiError::conflict("The task changed while it was being moved; read it again and retry.")
            }
        })
        .await);
    }
    visible(state, id, user_id).await
}

fn waiting(n: i64) -> ApiError {
    ApiError::conflict(format!("The task waits on {n} unfinished dependencies and cannot start yet."))
}

pub async fn delete(state: &AppState, id: Uuid, user_id: Uuid, force: bool) -> Result<(), ApiError> {
    let db = state.db.as_ref();
    if !repo::delete(&state.acting(user_id), id, user_id, force).await? {
        let has_dependents = repo::has_dependents(db, id).await?;
        return Err(refused(state, id, user_id, ProjectRole::Maintainer, |_, _, _| {
            if has_dependents {
                ApiError::conflict("Other tasks depend on this one; remove those dependencies, or delete with ?force=true.")
            } else {
                ApiError::conflict("The task changed while it was being deleted; try again.")
            }
        })
        .await);
    }
    Ok(())
}

/// Makes `id` depend on `depends_on`; a dependency that would close a cycle is refused with the
/// cycle named in order. Returns the task, and whether the dependency is new.
pub async fn add_dependency(
    state: &AppState,
    id: Uuid,
    user_id: Uuid,
    depends_on: Uuid,
    kind: DependencyKind,
) -> Result<(Task, bool), ApiError> {
    let db = state.db.as_ref();
    let task = visible(state, id, user_id).await?;
    membership::require(db, task.project_id, user_id, ProjectRole::Contributor).await?;
    if depends_on == id {
        return Err(ApiError::field("depends_on", "a task cannot depend on itself"));
    }
    if repo::in_project(db, task.project_id, &[depends_on]).await?.is_empty() {
        return Err(ApiError::field("depends_on", "names no task of this project"));
    }
    if !repo::add_dependency(&state.acting(user_id), id, depends_on, kind, user_id, &now(state)).await? {
        match repo::dependency(db, id, depends_on).await? {
            Some(existing) if existing == kind => return Ok((visible(state, id, user_id).await?, false)),
            Some(existing) => {
                return Err(ApiError::conflict(format!(
                    "The task already {} that one; remove that dependency first to change its type.",
                    if existing == DependencyKind::Requires { "requires" } else { "is blocked by" }
                )));
            }
            None => {}
        }
        if let Some(error) = membership::why_refused(db, task.project_id, user_id, ProjectRole::Contributor).await? {
            return Err(error);
        }
        if repo::dependency_count(db, id).await? >= repo::MAX_DEPENDENCIES {
            return Err(ApiError::field("depends_on", format!("a task depends on at most {} tasks", repo::MAX_DEPENDENCIES)));
        }
        let edges = repo::upstream_edges(db, depends_on).await?;
        if let Some(path) = graph::path(&edges, depends_on, id) {
            let cycle: Vec<String> = std::iter::once(id).chain(path).map(|t| t.to_string()).collect();
            return Err(ApiError::conflict(format!("This dependency would close a cycle: {}.", cycle.join(" -> "))));
        }
        return Err(ApiError::conflict("The tasks changed while the dependency was being added; try again."));
    }
    Ok((visible(state, id, user_id).await?, true))
}

pub async fn remove_dependency(state: &AppState, id: Uuid, user_id: Uuid, depends_on: Uuid) -> Result<Task, ApiError> {
    let db = state.db.as_ref();
    let task = visible(state, id, user_id).await?;
    if !repo::remove_dependency(&state.acting(user_id), id, depends_on, user_id).await? {
        return Err(membership::why_refused(db, task.project_id, user_id, ProjectRole::Contributor)
            .await?
            .unwrap_or_else(ApiError::not_found));
    }
    visible(state, id, user_id).await
}

/// A task's upstream and downstream closure.
pub async fn graph(state: &AppState, id: Uuid, user_id: Uuid) -> Result<Graph, ApiError> {
    visible(state, id, user_id).await?;
    repo::graph(state.db.as_ref(), id).await
}

pub async fn history(state: &AppState, id: Uuid, user_id: Uuid, after: i64, limit: usize) -> Result<Page<HistoryEntry>, ApiError> {
    visible(state, id, user_id).await?;
    let entries = repo::history(state.db.as_ref(), id, after, limit).await?;
    let page = Page::from_overfetch_by(entries, limit, |(n, _)| tui_shared::repo::encode_position(n));
    Ok(Page { items: page.items.into_iter().map(|(_, entry)| entry).collect(), next_cursor: page.next_cursor })
}
