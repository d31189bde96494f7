//! What a swarm is made of, in the contract's words, and the small classifier that names a
//! task's kind for assignment and learning.

use serde::Serialize;
use serde_json::Value as Json;
pub use tui_shared::domain::Priority;
use utoipa::ToSchema;
use uuid::Uuid;

tui_shared::text_enum!(
    /// How agents pass work: `star` all through the coordinator; `hierarchical` coordinator,
    /// then leads, then workers; `ring` a pipeline in the agents' order; `mesh` any agent, by
    /// capability and load.
    Topology { Mesh = "mesh", Hierarchical = "hierarchical", Ring = "ring", Star = "star" }
);

tui_shared::text_enum!(
    /// The swarm's default way of choosing agents, when an orchestration does not name one.
    SwarmStrategy { Auto = "auto", Balanced = "balanced", Specialized = "specialized", Adaptive = "adaptive" }
);

tui_shared::text_enum!(
    AgentType {
        Coordinator = "coordinator",
        Researcher = "researcher",
        Coder = "coder",
        Analyst = "analyst",
        Architect = "architect",
        Tester = "tester",
        Reviewer = "reviewer",
        Optimizer = "optimizer",
        Documenter = "documenter",
        Monitor = "monitor",
        Specialist = "specialist",
    }
);

tui_shared::text_enum!(
    /// How an orchestration runs its subtasks: `parallel` at once, `sequential` one after
    /// another, `adaptive` at once on the agents the learned model picks, `balanced` at once on
    /// the least loaded agents.
    Strategy { Parallel = "parallel", Sequential = "sequential", Adaptive = "adaptive", Balanced = "balanced" }
);

tui_shared::text_enum!(
    /// `majority`: more than half the voters agree; `weighted`: the value with more than half
    /// the voters' possible weight (each vote weighs its confidence); `byzantine`: at least
    /// 2f+1 of 3f+1 voters agree, tolerating f faulty ones (at least 4 voters).
    Algorithm { Majority = "majority", Weighted = "weighted", Byzantine = "byzantine" }
);

tui_shared::text_enum!(
    /// What a trained model predicts for an agent type on a kind of task: `prediction` and
    /// `coordination` the chance of a valid result, `optimization` the chance of a valid result
    /// within the project's median tokens.
    PatternType { Coordination = "coordination", Optimization = "optimization", Prediction = "prediction" }
);

tui_shared::text_enum!(
    AgentStatus { Idle = "idle", Busy = "busy", Retiring = "retiring", Retired = "retired" }
);

tui_shared::text_enum!(
    /// A task's kind, from [`classify`].
    TaskKind {
        Code = "code",
        Test = "test",
        Review = "review",
        Research = "research",
        Design = "design",
        Docs = "docs",
        Analysis = "analysis",
        Optimize = "optimize",
        General = "general",
    }
);

/// The words that mark each kind, matched against a task's words by their start (so `tests`
/// and `testing` count for `test`).
const KIND_WORDS: &[(TaskKind, &[&str])] = &[
    (
        TaskKind::Code,
        &[
            "code",
            "implement",
            "function",
            "bug",
            "fix",
            "refactor",
            "compile",
            "endpoint",
            "api",
            "rust",
            "program",
            "class",
            "module",
            "debug",
        ],
    ),
    (TaskKind::Test, &["test", "coverage", "assert", "qa", "regression", "fuzz"]),
    (TaskKind::Review, &["review", "audit", "inspect", "critique", "approve"]),
    (TaskKind::Research, &["research", "investigat", "survey", "compare", "explore", "find out", "literature"]),
    (TaskKind::Design, &["design", "architect", "schema", "diagram", "interface", "structure"]),
    (TaskKind::Docs, &["document", "readme", "docs", "tutorial", "explain", "guide", "write-up"]),
    (TaskKind::Analysis, &["analy", "metric", "data", "statistic", "measure", "report", "trend"]),
    (TaskKind::Optimize, &["optimi", "performance", "speed", "faster", "latency", "memory", "profil"]),
];

/// A task's kind: the kind whose marker words begin the most of its words; `general` when none
/// does, and the earlier kind in the list above on a tie. Small and predictable on purpose: the
/// kind is a feature of the learned model and a key of its outcomes, so it must not drift.
pub fn classify(text: &str) -> TaskKind {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric() && c != '-').filter(|w| !w.is_empty()).collect();
    let mut best = (TaskKind::General, 0);
    for (kind, markers) in KIND_WORDS {
        let score = words.iter().filter(|w| markers.iter().any(|m| w.starts_with(m))).count();
        if score > best.1 {
            best = (*kind, score);
        }
    }
    best.0
}

impl TaskKind {
    /// The agent type whose work this kind is.
    pub fn natural_type(self) -> Option<AgentType> {
        Some(match self {
            Self::Code => AgentType::Coder,
            Self::Test => AgentType::Tester,
            Self::Review => AgentType::Reviewer,
            Self::Research => AgentType::Researcher,
            Self::Design => AgentType::Architect,
            Self::Docs => AgentType::Documenter,
            Self::Analysis => AgentType::Analyst,
            Self::Optimize => AgentType::Optimizer,
            Self::General => return None,
        })
    }
}

/// A list of words kept as a JSON array in a text column (capabilities, sections); empty if it
/// is not one.
pub fn strings(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Swarm {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub topology: Topology,
    pub strategy: SwarmStrategy,
    pub max_agents: i64,
    /// Agents not retired.
    pub active_agents: i64,
    /// The coordinator's version: it moves with every change to the agents.
    pub version: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub created_by: Uuid,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Agent {
    pub id: Uuid,
    pub swarm_id: Uuid,
    #[serde(rename = "type")]
    pub agent_type: AgentType,
    pub name: String,
    pub capabilities: Vec<String>,
    pub status: AgentStatus,
    /// Subtasks assigned and not finished.
    pub load: i64,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentMetrics {
    pub agent_id: Uuid,
    #[serde(rename = "type")]
    pub agent_type: AgentType,
    pub status: AgentStatus,
    pub load: i64,
    /// Calls to Claude made as this agent, and how many of them failed.
    pub calls: i64,
    pub failed_calls: i64,
    /// Subtasks finished with a valid result, and without one.
    pub completed: i64,
    pub failed: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Mean latency of its calls, in milliseconds (0 before any).
    pub mean_latency_ms: f64,
    /// Valid results over finished subtasks (null before any).
    pub success_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Subtask {
    pub key: String,
    /// `subtask`, a lead's `review`, or the `synthesis`.
    pub role: String,
    pub title: String,
    pub description: String,
    pub kind: TaskKind,
    pub format: String,
    pub sections: Vec<String>,
    pub agent_id: Uuid,
    pub agent_type: AgentType,
    /// Steps of the run this one waits for.
    pub needs: Vec<String>,
    /// `pending`, `running`, `completed`, `invalid` (the answers failed validation), `failed`
    /// (no answer) or `cancelled`.
    pub status: String,
    pub result: Option<Json>,
    pub validation_errors: Option<Vec<String>>,
    pub calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Call {
    pub purpose: String,
    pub step: String,
    pub agent_id: Option<Uuid>,
    pub model: String,
    pub ok: bool,
    pub attempts: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Orchestration {
    pub id: Uuid,
    pub swarm_id: Uuid,
    pub task: String,
    pub strategy: Strategy,
    pub priority: Priority,
    pub model: String,
    pub max_tokens: i64,
    /// `planning`, `running`, `paused`, `completed`, `failed` or `cancelled`; the run with this
    /// id (`/v1/runs/{id}`) pauses, resumes and cancels it.
    pub status: String,
    /// The plan as validated, once made.
    pub plan: Option<Json>,
    pub subtasks: Vec<Subtask>,
    /// Every call to Claude made for it.
    pub calls: Vec<Call>,
    /// The synthesis, once made.
    pub result: Option<String>,
    pub error: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub created_by: Uuid,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_classifier_names_kinds_by_their_words() {
        assert_eq!(classify("Implement the login endpoint in Rust"), TaskKind::Code);
        assert_eq!(classify("Write regression tests for the parser"), TaskKind::Test);
        assert_eq!(classify("Review the pull request"), TaskKind::Review);
        assert_eq!(classify("Investigate and compare three queue libraries"), TaskKind::Research);
        assert_eq!(classify("Design the database schema"), TaskKind::Design);
        assert_eq!(classify("Document the README"), TaskKind::Docs);
        assert_eq!(classify("Optimize latency"), TaskKind::Optimize);
        assert_eq!(classify("Hello there"), TaskKind::General);
        assert_eq!(TaskKind::Code.natural_type(), Some(AgentType::Coder));
    }
}
