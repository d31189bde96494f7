//! How urgent a piece of work is, and the number the tasks table stores for it. Tasks, the
//! swarms' orchestrations and the workflows' `task` steps all speak of the same four priorities.

crate::text_enum!(
    /// How urgent a task is.
    Priority { Low = "low", Medium = "medium", High = "high", Critical = "critical" }
);

impl Priority {
    /// The stored rank (the tasks table's `priority` column, which its triggers read back as
    /// text): sorting by it ascending puts the most urgent first.
    pub fn rank(self) -> i64 {
        match self {
            Self::Critical => 0,
            Self::High => 1,
            Self::Medium => 2,
            Self::Low => 3,
        }
    }

    pub fn from_rank(rank: i64) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.rank() == rank)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_put_the_most_urgent_first_and_round_trip() {
        assert!(Priority::Critical.rank() < Priority::High.rank());
        assert!(Priority::High.rank() < Priority::Medium.rank());
        assert!(Priority::Medium.rank() < Priority::Low.rank());
        for priority in Priority::ALL {
            assert_eq!(Priority::from_rank(priority.rank()), Some(*priority));
            assert_eq!(Priority::parse(priority.as_str()), Some(*priority));
        }
        assert_eq!(Priority::from_rank(4), None);
    }

    #[test]
    fn ranks_are_the_ones_the_tasks_table_holds() {
        // Migration 0007 documents them and migration 0008's triggers turn them back into text.
        let ranks: Vec<(i64, &str)> = Priority::ALL.iter().map(|p| (p.rank(), p.as_str())).collect();
        assert_eq!(ranks, [(3, "low"), (2, "medium"), (1, "high"), (0, "critical")]);
    }
}
