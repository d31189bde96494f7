//! What a task is: its states and the one table of moves between them, its priorities, its
//! dependency kinds, and the record the API returns.

use serde::{Deserialize, Serialize};
pub use tui_shared::domain::Priority;
use utoipa::ToSchema;
use uuid::Uuid;

tui_shared::text_enum!(
    /// Where a task is in its life.
    Status {
        Pending = "pending",
        Ready = "ready",
        Running = "running",
        Blocked = "blocked",
        Completed = "completed",
        Failed = "failed",
        Cancelled = "cancelled",
    }
);

tui_shared::text_enum!(
    /// What a dependency means: `requires`, the task may start only once the other completed;
    /// `blocks`, the other blocks it until it has finished in any way (completed, failed or
    /// cancelled).
    DependencyKind { Blocks = "blocks", Requires = "requires" }
);

/// The moves a caller may ask for, from each state: the one table the state machine is. Moves
/// the dependencies make on their own (`pending` <-> `ready`) are not in it: a task that has not
/// started is `ready` exactly when it waits on nothing.
const MOVES: &[(Status, &[Status])] = &[
    (Status::Pending, &[Status::Blocked, Status::Cancelled]),
    (Status::Ready, &[Status::Running, Status::Blocked, Status::Cancelled]),
    (Status::Running, &[Status::Completed, Status::Failed, Status::Blocked, Status::Cancelled]),
    // Unblocking returns a task to where it can go on: running again, or back to waiting.
    (Status::Blocked, &[Status::Running, Status::Ready, Status::Cancelled]),
    // A retry: the task is ready again (or pending, if it now waits on something).
    (Status::Failed, &[Status::Ready, Status::Cancelled]),
    (Status::Completed, &[]),
    (Status::Cancelled, &[]),
];

impl Status {
    /// The states a caller may move a task to from this one.
    pub fn moves(self) -> &'static [Status] {
        MOVES.iter().find(|(from, _)| *from == self).map_or(&[], |(_, to)| to)
    }

    pub fn may_move_to(self, to: Status) -> bool {
        self.moves().contains(&to)
    }

    /// Whether a move to this state starts work, which a task may do only when it waits on
    /// nothing.
    pub fn starts_work(self) -> bool {
        self == Status::Running
    }

    /// Whether a move to this state lands on `ready` or `pending` by the dependencies.
    pub fn follows_dependencies(self) -> bool {
        self == Status::Ready
    }
}

/// One dependency as a task lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Dependency {
    pub task_id: Uuid,
    #[serde(rename = "type")]
    pub kind: DependencyKind,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Task {
    pub id: Uuid,
    pub project_id: Uuid,
    pub title: String,
    pub description: String,
    pub status: Status,
    pub priority: Priority,
    pub assignee: Option<Uuid>,
    pub labels: Vec<String>,
    pub due_at: Option<String>,
    /// Percent done, 0 to 100.
    pub progress: i64,
    /// The tasks this one depends on.
    pub depends_on: Vec<Dependency>,
    /// How many of those are not yet satisfied.
    pub waiting_on: i64,
    pub version: i64,
    pub created_by: Uuid,
    pub created_at: String,
    pub updated_at: String,
}

/// One change of a task's state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryEntry {
    /// Who made the change; `null` when the dependencies did (a task became ready).
    pub actor: Option<Uuid>,
    /// `null` for the task's creation.
    pub from: Option<Status>,
    pub to: Status,
    pub at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_is_in_the_table_once_and_finished_states_have_no_way_out() {
        for status in Status::ALL {
            assert_eq!(MOVES.iter().filter(|(from, _)| from == status).count(), 1, "{status:?}");
            assert!(!status.may_move_to(*status), "{status:?} moves to itself");
        }
        assert!(Status::Completed.moves().is_empty());
        assert!(Status::Cancelled.moves().is_empty());
        assert!(Status::Failed.may_move_to(Status::Ready), "retry");
        assert!(!Status::Pending.may_move_to(Status::Running), "a waiting task cannot start");
        assert!(!Status::Pending.may_move_to(Status::Ready), "readiness is the dependencies' to decide");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// The state machine as the README's "The state machine" states it, written apart from
    /// `MOVES` so that a change to either shows.
    const README: &[(&str, &[&str])] = &[
        ("pending", &["blocked", "cancelled"]),
        ("ready", &["running", "blocked", "cancelled"]),
        ("running", &["completed", "failed", "blocked", "cancelled"]),
        ("blocked", &["running", "ready", "cancelled"]),
        ("failed", &["ready", "cancelled"]),
        ("completed", &[]),
        ("cancelled", &[]),
    ];

    /// 49 pairs: checked every one rather than sampled.
    #[test]
    fn the_table_is_the_documented_one() {
        for from in Status::ALL {
            let documented = README.iter().find(|(name, _)| *name == from.as_str()).map(|(_, to)| *to).unwrap();
            for to in Status::ALL {
                assert_eq!(from.may_move_to(*to), documented.contains(&to.as_str()), "{from:?} -> {to:?}");
            }
        }
    }

    /// What happens to one task: a caller asks for a move, or what it depends on changes so
    /// that it waits on something or on nothing.
    #[derive(Debug, Clone)]
    enum Event {
        Move(Status),
        Waiting(bool),
    }

    fn events() -> impl Strategy<Value = Vec<Event>> {
        let event = prop_oneof![3 => prop::sample::select(Status::ALL).prop_map(Event::Move), 1 => any::<bool>().prop_map(Event::Waiting)];
        prop::collection::vec(event, 0..40)
    }

    /// A task as the database keeps it: `repo::transition` takes a move only if the table has
    /// it and, for one that starts work, only if the task waits on nothing, and lands a move to
    /// `ready` on `pending` while it waits; the readiness trigger (`migrations/0007_tasks.sql`)
    /// keeps a task that has not started `ready` exactly when it waits on nothing.
    #[derive(Debug)]
    struct Task {
        status: Status,
        waiting: bool,
    }

    impl Task {
        fn not_started(waiting: bool) -> Status {
            if waiting { Status::Pending } else { Status::Ready }
        }

        /// Whether the move was taken.
        fn apply(&mut self, event: &Event) -> bool {
            match *event {
                Event::Move(to) if self.status.may_move_to(to) && !(to.starts_work() && self.waiting) => {
                    self.status = if to.follows_dependencies() { Self::not_started(self.waiting) } else { to };
                    true
                }
                Event::Move(_) => false,
                Event::Waiting(waiting) => {
                    self.waiting = waiting;
                    if matches!(self.status, Status::Pending | Status::Ready) {
                        self.status = Self::not_started(waiting);
                    }
                    false
                }
            }
        }
    }

    proptest! {
        #[test]
        fn any_sequence_of_moves_keeps_the_invariants(waiting in any::<bool>(), events in events()) {
            let mut task = Task { status: Task::not_started(waiting), waiting };
            for event in &events {
                let before = task.status;
                let taken = task.apply(event);
                let now = task.status;
                // Readiness is never stale, whatever moved the task.
                prop_assert!(!matches!(now, Status::Pending | Status::Ready) || now == Task::not_started(task.waiting), "{:?}", task);
                // Finished is final.
                if matches!(before, Status::Completed | Status::Cancelled) {
                    prop_assert!(!taken && now == before, "{:?} left {:?}", event, before);
                }
                // Work starts only on a task that waits on nothing, and is completed only after it ran.
                if now != before {
                    prop_assert!(now != Status::Running || !task.waiting, "{:?} -> running while waiting", before);
                    prop_assert!(now != Status::Completed || before == Status::Running, "{:?} -> completed", before);
                }
                // A caller can always give up on a task that is not finished.
                prop_assert!(matches!(now, Status::Completed | Status::Cancelled) || now.may_move_to(Status::Cancelled), "{:?}", now);
            }
        }
    }
}
