//! Topics and who may read them: `project:ID`, `task:ID`, `run:ID` (a workflow run) and
//! `swarm:ID` for the project's members, `user:me` (written `user:ID` in the log) for the user
//! alone.

use std::collections::HashMap;

use tui_shared::{
    ApiError,
    db::{Database, Statement, Value},
};
use uuid::Uuid;

use crate::protocol::Refusal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    Project(Uuid),
    Task(Uuid),
    Run(Uuid),
    Swarm(Uuid),
    User(Uuid),
}

impl Topic {
    /// Reads a topic as `user` names it: `user:me` (or their own id) is theirs.
    pub fn parse(text: &str, user: Uuid) -> Result<Self, Refusal> {
        let (kind, id) = text.split_once(':').ok_or(Refusal::InvalidTopic)?;
        if kind == "user" && id == "me" {
            return Ok(Self::User(user));
        }
        let id = Uuid::parse_str(id).map_err(|_| Refusal::InvalidTopic)?;
        match kind {
            "project" => Ok(Self::Project(id)),
            "task" => Ok(Self::Task(id)),
            "run" => Ok(Self::Run(id)),
            "user" if id == user => Ok(Self::User(id)),
            "user" => Err(Refusal::Forbidden),
            "swarm" => Ok(Self::Swarm(id)),
            _ => Err(Refusal::InvalidTopic),
        }
    }

    /// The topic's name in the log (and in every frame): `user:me` is logged under the id.
    pub fn name(&self) -> String {
        match self {
            Self::Project(id) => format!("project:{id}"),
            Self::Task(id) => format!("task:{id}"),
            Self::Run(id) => format!("run:{id}"),
            Self::Swarm(id) => format!("swarm:{id}"),
            Self::User(id) => format!("user:{id}"),
        }
    }
}

/// Whether the topic named `name` keeps presence (who is on it): project topics do; a task, a
/// run, a swarm or the user's own topic is not where people meet.
pub fn keeps_presence(name: &str) -> bool {
    name.starts_with("project:")
}

/// For each of `topics` that `user` may read now, the project it belongs to (`None` for the
/// user's own topic): what a removal from that project revokes. Two queries at most, whatever
/// the number of topics.
pub async fn readable(db: &dyn Database, user: Uuid, topics: &[Topic]) -> Result<HashMap<Topic, Option<Uuid>>, ApiError> {
    let mut readable = HashMap::new();
    let (mut projects, mut tasks, mut runs, mut swarms) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for topic in topics {
        match topic {
            Topic::User(id) if *id == user => {
                readable.insert(*topic, None);
            }
            Topic::User(_) => {}
            Topic::Project(id) => projects.push(*id),
            Topic::Task(id) => tasks.push(*id),
            Topic::Run(id) => runs.push(*id),
            Topic::Swarm(id) => swarms.push(*id),
        }
    }
    if !projects.is_empty() {
        for (project,) in
            ids_query(db, "SELECT project_id FROM project_members WHERE user_id = ?1 AND project_id IN", user, &projects).await?
        {
            readable.insert(Topic::Project(project), Some(project));
        }
    }
    if !tasks.is_empty() {
        let sql = "SELECT t.id, t.project_id FROM tasks t JOIN project_members m ON m.project_id = t.project_id AND m.user_id = ?1 \
                   WHERE t.id IN";
        for (task, project) in ids_query::<(Uuid, Uuid)>(db, sql, user, &tasks).await? {
            readable.insert(Topic::Task(task), Some(project));
        }
    }
    if !runs.is_empty() {
        let sql = "SELECT r.id, r.project_id FROM workflow_runs r JOIN project_members m ON m.project_id = r.project_id AND m.user_id = ?1 \
                   WHERE r.id IN";
        for (run, project) in ids_query::<(Uuid, Uuid)>(db, sql, user, &runs).await? {
            readable.insert(Topic::Run(run), Some(project));
        }
    }
    if !swarms.is_empty() {
        let sql = "SELECT s.id, s.project_id FROM swarms s JOIN project_members m ON m.project_id = s.project_id AND m.user_id = ?1 \
                   WHERE s.id IN";
        for (swarm, project) in ids_query::<(Uuid, Uuid)>(db, sql, user, &swarms).await? {
            readable.insert(Topic::Swarm(swarm), Some(project));
        }
    }
    Ok(readable)
}

async fn ids_query<T: serde::de::DeserializeOwned>(db: &dyn Database, sql: &str, user: Uuid, ids: &[Uuid]) -> Result<Vec<T>, ApiError> {
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let params: Vec<Value> = vec![user.into(), tui_shared::events::json_list(&ids)];
    let rows = db.query(Statement::new(format!("{sql} (SELECT value FROM json_each(?2))"), params)).await?;
    Ok(rows.iter().map(|row| row.decode::<T>()).collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_parse_by_kind_and_me_means_the_caller() {
        let me = Uuid::now_v7();
        let other = Uuid::now_v7();
        assert_eq!(Topic::parse("user:me", me), Ok(Topic::User(me)));
        assert_eq!(Topic::parse(&format!("user:{me}"), me), Ok(Topic::User(me)));
        assert_eq!(Topic::parse(&format!("user:{other}"), me), Err(Refusal::Forbidden));
        assert_eq!(Topic::parse(&format!("project:{other}"), me), Ok(Topic::Project(other)));
        assert_eq!(Topic::parse(&format!("run:{other}"), me), Ok(Topic::Run(other)));
        assert_eq!(Topic::parse(&format!("swarm:{other}"), me), Ok(Topic::Swarm(other)));
        assert_eq!(Topic::parse("project:12", me), Err(Refusal::InvalidTopic));
        assert_eq!(Topic::parse("project", me), Err(Refusal::InvalidTopic));
        assert_eq!(Topic::User(me).name(), format!("user:{me}"));
    }
}
