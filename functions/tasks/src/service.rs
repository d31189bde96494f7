//! The tasks group's use cases and their policy: viewers read, contributors create, change,
//! move and link tasks, maintainers delete them. Writes are guarded in their own statements;
//! when one changes nothing, the service finds out why and answers in the contract's terms.

use std::collections::{HashMap, HashSet};

use tui_shared::{ApiError, AppState, ErrorCode, db::DbError, domain::ProjectRole, graph::topological_order, membership, repo::Page, time};
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

/// How a request names a draft's fields in errors.
#[derive(Debug, Clone, Copy)]
enum Naming {
    /// One task: its fields by their own names (`depends_on[0].key`).
    Alone,
    /// A batch: through the request's `tasks` (`tasks[3].depends_on[0].key`).
    Batch,
}

impl Naming {
    /// The field that holds the drafts.
    fn field(self) -> &'static str {
        match self {
            Self::Alone => "",
            Self::Batch => "tasks",
        }
    }

    /// What names draft `i`'s fields.
    fn prefix(self, i: usize) -> String {
        match self {
            Self::Alone => String::new(),
            Self::Batch => format!("tasks[{i}]."),
        }
    }
}

/// Drafts that fit together, decided without the database: keys name one draft each, every
/// dependency names a draft of the batch or an existing task once, and there is no cycle. What
/// only the database knows (whether those tasks and assignees are of the project) is checked
/// against what it answers.
struct Batch {
    drafts: Vec<Draft>,
    naming: Naming,
    /// The draft each key names.
    keys: HashMap<String, usize>,
    /// The drafts' indexes, each after those it depends on.
    order: Vec<usize>,
}

impl Batch {
    fn new(drafts: Vec<Draft>, naming: Naming) -> Result<Self, ApiError> {
        let name = |i: usize| naming.prefix(i);
        if drafts.iter().map(|d| d.depends_on.len()).sum::<usize>() > MAX_BATCH_DEPENDENCIES {
            return Err(ApiError::field(naming.field(), format!("at most {MAX_BATCH_DEPENDENCIES} dependencies in one batch")));
        }
        let mut keys: HashMap<String, usize> = HashMap::new();
        for (i, draft) in drafts.iter().enumerate() {
            if let Some(key) = &draft.key
                && keys.insert(key.clone(), i).is_some()
            {
                return Err(ApiError::field(format!("{}key", name(i)), "is used by another task of the batch"));
            }
        }
        let mut upstream: Vec<Vec<usize>> = vec![Vec::new(); drafts.len()];
        for (i, draft) in drafts.iter().enumerate() {
            let mut seen = HashSet::new();
            for (j, (target, _)) in draft.depends_on.iter().enumerate() {
                if !seen.insert(target.clone()) {
                    return Err(ApiError::field(format!("{}depends_on[{j}]", name(i)), "names the same task twice"));
                }
                if let Target::Key(key) = target {
                    match keys.get(key) {
                        Some(&k) if k == i => {
                            return Err(ApiError::field(format!("{}depends_on[{j}].key", name(i)), "a task cannot depend on itself"));
                        }
                        Some(&k) => upstream[i].push(k),
                        None => return Err(ApiError::field(format!("{}depends_on[{j}].key", name(i)), "names no task of this batch")),
                    }
                }
            }
        }
        let order = topological_order(&upstream).map_err(|cycle| {
            let name = |i: usize| drafts[i].key.clone().unwrap_or_else(|| format!("#{i}"));
            ApiError::conflict(format!("The batch's dependencies form a cycle: {}.", cycle.describe(name)))
        })?;
        Ok(Self { drafts, naming, keys, order })
    }

    /// The existing tasks depended on, each once: to be looked for in the project.
    fn existing(&self) -> Vec<Uuid> {
        let targets = self.drafts.iter().flat_map(|d| &d.depends_on);
        let ids = targets.filter_map(|(target, _)| match target {
            Target::Task(id) => Some(*id),
            Target::Key(_) => None,
        });
        sorted_once(ids.collect())
    }

    /// The assignees, each once: to be looked for among the project's members.
    fn assignees(&self) -> Vec<Uuid> {
        sorted_once(self.drafts.iter().filter_map(|d| d.task.assignee).collect())
    }

    /// Refused unless every existing task depended on is one of `found` in the project.
    fn check_existing(&self, found: &HashSet<Uuid>) -> Result<(), ApiError> {
        for (i, draft) in self.drafts.iter().enumerate() {
            for (j, (target, _)) in draft.depends_on.iter().enumerate() {
                if matches!(target, Target::Task(id) if !found.contains(id)) {
                    let field = format!("{}depends_on[{j}].task_id", self.naming.prefix(i));
                    return Err(ApiError::field(field, "names no task of this project"));
                }
            }
        }
        Ok(())
    }

    /// Refused unless every assignee is one of the project's `members`.
    fn check_assignees(&self, members: &HashSet<Uuid>) -> Result<(), ApiError> {
        match self.drafts.iter().position(|d| d.task.assignee.is_some_and(|a| !members.contains(&a))) {
            Some(i) => Err(ApiError::field(format!("{}assignee", self.naming.prefix(i)), "is not a member of the project")),
            None => Ok(()),
        }
    }

    /// The tasks to insert, in creation order with their dependencies named by id, and their
    /// ids in the drafts' order.
    fn into_tasks(self) -> (Vec<NewTask>, Vec<Uuid>) {
        let ids: Vec<Uuid> = self.drafts.iter().map(|d| d.task.id).collect();
        let mut rank = vec![0; self.drafts.len()];
        for (position, &i) in self.order.iter().enumerate() {
            rank[i] = position;
        }
        let mut ordered: Vec<(usize, NewTask)> = self
            .drafts
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
                            Target::Key(key) => ids[self.keys[&key]],
                        };
                        Dependency { task_id, kind }
                    })
                    .collect();
                (rank[i], task)
            })
            .collect();
        ordered.sort_by_key(|(rank, _)| *rank);
        (ordered.into_iter().map(|(_, task)| task).collect(), ids)
    }
}

fn sorted_once(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids.dedup();
    ids
}

/// Creates one task.
pub async fn create_one(state: &AppState, project: Uuid, user_id: Uuid, draft: Draft) -> Result<Task, ApiError> {
    create(state, project, user_id, vec![draft], Naming::Alone).await?.pop().ok_or_else(|| ApiError::internal("no task"))
}

/// Creates `drafts` in a project, all or nothing; the tasks come back in the drafts' order.
pub async fn create_batch(state: &AppState, project: Uuid, user_id: Uuid, drafts: Vec<Draft>) -> Result<Vec<Task>, ApiError> {
    create(state, project, user_id, drafts, Naming::Batch).await
}

async fn create(state: &AppState, project: Uuid, user_id: Uuid, drafts: Vec<Draft>, naming: Naming) -> Result<Vec<Task>, ApiError> {
    let db = state.db.as_ref();
    membership::require(db, project, user_id, ProjectRole::Contributor).await?;
    let batch = Batch::new(drafts, naming)?;
    let existing = batch.existing();
    if !existing.is_empty() {
        batch.check_existing(&repo::in_project(db, project, &existing).await?.into_iter().collect())?;
    }
    let assignees = batch.assignees();
    if !assignees.is_empty() {
        batch.check_assignees(&membership::members_among(db, project, &assignees).await?.into_iter().collect())?;
    }
    let (tasks, ids) = batch.into_tasks();
    let changed = match db.batch(repo::create(project, user_id, &now(state), &tasks)).await {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Priority;

    fn draft(key: Option<&str>, depends_on: Vec<Target>) -> Draft {
        Draft {
            key: key.map(str::to_owned),
            task: NewTask {
                id: Uuid::now_v7(),
                title: key.unwrap_or("task").to_owned(),
                description: String::new(),
                priority: Priority::Medium,
                assignee: None,
                labels: Vec::new(),
                due_at: None,
                progress: 0,
                depends_on: Vec::new(),
            },
            depends_on: depends_on.into_iter().map(|target| (target, DependencyKind::Requires)).collect(),
        }
    }

    fn key(name: &str) -> Target {
        Target::Key(name.to_owned())
    }

    fn refusal(result: Result<Batch, ApiError>) -> (String, String) {
        let Err(error) = result else { panic!("the batch was taken") };
        match error.errors.first() {
            Some(field) => (field.field.clone(), field.message.clone()),
            None => (error.code.as_str().to_owned(), error.detail),
        }
    }

    #[test]
    fn a_batch_is_created_each_task_after_those_it_depends_on_with_keys_resolved_to_ids() {
        let existing = Uuid::now_v7();
        let drafts =
            vec![draft(Some("c"), vec![key("b"), Target::Task(existing)]), draft(Some("b"), vec![key("a")]), draft(Some("a"), vec![])];
        let asked: Vec<Uuid> = drafts.iter().map(|d| d.task.id).collect();
        let batch = Batch::new(drafts, Naming::Batch).unwrap();
        assert_eq!(batch.existing(), [existing]);
        let (tasks, ids) = batch.into_tasks();
        assert_eq!(ids, asked, "the answer keeps the drafts' order");
        assert_eq!(tasks.iter().map(|t| t.title.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        let c: Vec<Uuid> = tasks[2].depends_on.iter().map(|d| d.task_id).collect();
        assert_eq!(c, [asked[1], existing]);
    }

    #[test]
    fn keys_and_dependencies_that_do_not_fit_are_named_in_the_requests_terms() {
        let twice = vec![draft(Some("a"), vec![]), draft(Some("a"), vec![])];
        assert_eq!(refusal(Batch::new(twice, Naming::Batch)), ("tasks[1].key".into(), "is used by another task of the batch".into()));
        let same = vec![draft(Some("x"), vec![]), draft(None, vec![key("x"), key("x")])];
        assert_eq!(refusal(Batch::new(same, Naming::Batch)), ("tasks[1].depends_on[1]".into(), "names the same task twice".into()));
        let itself = vec![draft(Some("a"), vec![key("a")])];
        assert_eq!(refusal(Batch::new(itself, Naming::Alone)), ("depends_on[0].key".into(), "a task cannot depend on itself".into()));
        let nothing = vec![draft(None, vec![key("nope")])];
        assert_eq!(refusal(Batch::new(nothing, Naming::Alone)), ("depends_on[0].key".into(), "names no task of this batch".into()));
    }

    #[test]
    fn a_cycle_in_a_batch_is_a_conflict_naming_it() {
        let cycle = vec![draft(Some("a"), vec![key("b")]), draft(Some("b"), vec![key("a")]), draft(None, vec![key("a")])];
        let (code, detail) = refusal(Batch::new(cycle, Naming::Batch));
        assert_eq!(code, "conflict");
        assert_eq!(detail, "The batch's dependencies form a cycle: a -> b -> a.");
    }

    #[test]
    fn a_batch_holds_at_most_its_dependencies() {
        let each = MAX_BATCH_DEPENDENCIES / 4 + 1;
        let drafts = (0..4).map(|_| draft(None, (0..each).map(|_| Target::Task(Uuid::now_v7())).collect())).collect();
        let (field, message) = refusal(Batch::new(drafts, Naming::Batch));
        assert_eq!((field.as_str(), message), ("tasks", format!("at most {MAX_BATCH_DEPENDENCIES} dependencies in one batch")));
    }

    #[test]
    fn tasks_and_assignees_the_project_lacks_are_named_first_to_last() {
        let (gone, kept, outsider) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mut assigned = draft(None, vec![Target::Task(kept), Target::Task(gone)]);
        assigned.task.assignee = Some(outsider);
        let batch = Batch::new(vec![draft(None, vec![Target::Task(kept)]), assigned], Naming::Batch).unwrap();
        assert_eq!(batch.existing(), sorted_once(vec![gone, kept]));
        assert_eq!(batch.assignees(), [outsider]);
        let error = batch.check_existing(&HashSet::from([kept])).unwrap_err();
        assert_eq!(error.errors[0].field, "tasks[1].depends_on[1].task_id");
        assert!(batch.check_existing(&HashSet::from([kept, gone])).is_ok());
        let error = batch.check_assignees(&HashSet::new()).unwrap_err();
        assert_eq!(
            (error.errors[0].field.as_str(), error.errors[0].message.as_str()),
            ("tasks[1].assignee", "is not a member of the project")
        );
        assert!(batch.check_assignees(&HashSet::from([outsider])).is_ok());
    }
}
