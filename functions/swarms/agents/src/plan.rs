//! The plan an orchestration asks Claude for (its JSON schema, given as the forced tool's
//! `input_schema`, and the check that an answer matches it), and the assignment of its subtasks
//! to agents by topology and strategy: which agent does each, and what each waits for.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use uuid::Uuid;

use crate::model::{AgentType, Strategy, TaskKind, Topology, classify};

/// The most subtasks a plan may have.
pub const MAX_SUBTASKS: usize = 12;
/// The tool the planner is made to call.
pub const PLAN_TOOL: &str = "submit_plan";

/// The plan's JSON schema: what the tool's input must be. Written as text, which costs a worker
/// less than the code that would build it.
const SCHEMA: &str = r#"{
    "type": "object",
    "additionalProperties": false,
    "required": ["subtasks"],
    "properties": {
        "subtasks": {
            "type": "array",
            "minItems": 1,
            "maxItems": 12,
            "items": {
                "type": "object",
                "additionalProperties": false,
                "required": ["title", "description"],
                "properties": {
                    "title": {"type": "string", "minLength": 1, "maxLength": 200},
                    "description": {"type": "string", "minLength": 1, "maxLength": 4000},
                    "capability": {"type": "string", "maxLength": 50,
                        "description": "the one skill this subtask needs most, e.g. code, test, research, design"},
                    "format": {"type": "string", "enum": ["text", "json"],
                        "description": "json when the result must be a JSON object"},
                    "sections": {"type": "array", "maxItems": 8,
                        "items": {"type": "string", "minLength": 1, "maxLength": 80},
                        "description": "headings the result must contain"}
                }
            }
        }
    }
}"#;

pub fn schema() -> Json {
    serde_json::from_str(SCHEMA).unwrap_or_default()
}

/// A subtask as planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Planned {
    pub title: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability: Option<String>,
    #[serde(default = "text")]
    pub format: String,
    #[serde(default)]
    pub sections: Vec<String>,
}

fn text() -> String {
    "text".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub subtasks: Vec<Planned>,
}

/// The plan in a tool call's input, or everything in it that breaks the schema.
pub fn validate(input: &Json) -> Result<Plan, Vec<String>> {
    let plan: Plan = match serde_path_to_error::deserialize(input) {
        Ok(plan) => plan,
        Err(error) => return Err(vec![format!("{}: {}", error.path(), error.inner())]),
    };
    let mut errors = Vec::new();
    let count = plan.subtasks.len();
    if count == 0 || count > MAX_SUBTASKS {
        errors.push(format!("subtasks: must have 1 to {MAX_SUBTASKS} items, not {count}"));
    }
    let length = |errors: &mut Vec<String>, field: String, value: &str, min: usize, max: usize| {
        let n = value.chars().count();
        if n < min || n > max {
            errors.push(format!("{field}: must be {min} to {max} characters, not {n}"));
        }
    };
    for (i, s) in plan.subtasks.iter().enumerate() {
        length(&mut errors, format!("subtasks[{i}].title"), s.title.trim(), 1, 200);
        length(&mut errors, format!("subtasks[{i}].description"), s.description.trim(), 1, 4000);
        if let Some(capability) = &s.capability {
            length(&mut errors, format!("subtasks[{i}].capability"), capability, 0, 50);
        }
        if s.format != "text" && s.format != "json" {
            errors.push(format!("subtasks[{i}].format: must be text or json, not {:?}", s.format));
        }
        if s.sections.len() > 8 {
            errors.push(format!("subtasks[{i}].sections: must have at most 8 items"));
        }
        for (j, section) in s.sections.iter().enumerate() {
            length(&mut errors, format!("subtasks[{i}].sections[{j}]"), section.trim(), 1, 80);
        }
    }
    if errors.is_empty() { Ok(plan) } else { Err(errors) }
}

/// An agent as assignment sees it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: Uuid,
    pub agent_type: AgentType,
    pub capabilities: Vec<String>,
    pub load: i64,
}

/// Who does what, and what waits for what. Step keys: `s1`… for subtasks, `review1`… for leads'
/// reviews, `synthesis`; every one of them also waits for `plan`.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub steps: Vec<Assigned>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Assigned {
    pub key: String,
    pub role: &'static str,
    pub title: String,
    pub description: String,
    pub kind: TaskKind,
    pub format: String,
    pub sections: Vec<String>,
    pub agent: Uuid,
    pub agent_type: AgentType,
    pub needs: Vec<String>,
}

/// How well `agent` fits a subtask of `kind` needing `capability`: its type's own kind counts
/// most, then a listed capability naming it.
fn fit(agent: &Candidate, kind: TaskKind, capability: Option<&str>) -> i64 {
    let mut score = 0;
    if kind.natural_type() == Some(agent.agent_type) {
        score += 2;
    }
    let wanted: Vec<String> = capability.into_iter().map(str::to_lowercase).chain([kind.as_str().to_owned()]).collect();
    if agent.capabilities.iter().any(|c| wanted.iter().any(|w| c.to_lowercase() == *w)) {
        score += 1;
    }
    score
}

/// Why a plan cannot be laid out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the swarm has no active agents")]
pub struct NoActiveAgents;

/// The parts the agents play in a topology, as indexes into the agents.
struct Roles {
    coordinator: usize,
    /// Those who review workers' results (hierarchical).
    leads: Vec<usize>,
    /// Those who work under the leads, each under a lead in turn (hierarchical).
    workers: Vec<usize>,
    /// Those subtasks may go to.
    pool: Vec<usize>,
}

impl Roles {
    /// The first coordinator coordinates (or else the first agent). Hierarchical: the first third
    /// of the other agents lead, the rest work; with too few agents, leads work too.
    fn of(topology: Topology, agents: &[Candidate]) -> Self {
        let coordinator = agents.iter().position(|a| a.agent_type == AgentType::Coordinator).unwrap_or(0);
        let others: Vec<usize> = (0..agents.len()).filter(|&i| i != coordinator).collect();
        let (leads, workers): (Vec<usize>, Vec<usize>) = if others.is_empty() {
            (vec![coordinator], vec![coordinator])
        } else {
            let lead_count = others.len().div_ceil(3);
            let (leads, workers) = others.split_at(lead_count);
            (leads.to_vec(), if workers.is_empty() { leads.to_vec() } else { workers.to_vec() })
        };
        let pool: Vec<usize> = match topology {
            Topology::Star => vec![coordinator],
            Topology::Ring => (0..agents.len()).collect(),
            Topology::Hierarchical => workers.clone(),
            Topology::Mesh if others.is_empty() => vec![coordinator],
            Topology::Mesh => others,
        };
        Self { coordinator, leads, workers, pool }
    }
}

/// Assigns a plan. `agents` are the swarm's active agents in their order; `predict` names the
/// agent type the learned model picks for a task's text (adaptive strategy).
pub fn assign(
    topology: Topology,
    strategy: Strategy,
    agents: &[Candidate],
    plan: &Plan,
    predict: &dyn Fn(&str) -> Option<AgentType>,
) -> Result<Layout, NoActiveAgents> {
    if agents.is_empty() {
        return Err(NoActiveAgents);
    }
    let roles = Roles::of(topology, agents);
    let mut loads: Vec<i64> = agents.iter().map(|a| a.load).collect();
    let chain = matches!(topology, Topology::Ring) || strategy == Strategy::Sequential;
    let mut steps = Vec::new();
    for (i, planned) in plan.subtasks.iter().enumerate() {
        let text = format!("{} {}", planned.title, planned.description);
        let kind = classify(&text);
        let chosen = if topology == Topology::Ring {
            // The pipeline's order: the agents in turn, from the coordinator.
            (roles.coordinator + i) % agents.len()
        } else {
            let predicted = if strategy == Strategy::Adaptive { predict(&text) } else { None };
            least_busy_fit(agents, &roles.pool, &loads, strategy, kind, planned.capability.as_deref(), predicted)
                .unwrap_or(roles.coordinator)
        };
        loads[chosen] += 1;
        let mut needs = vec!["plan".to_owned()];
        if chain && i > 0 {
            needs.push(format!("s{i}"));
        }
        steps.push(Assigned {
            key: format!("s{}", i + 1),
            role: "subtask",
            title: planned.title.trim().to_owned(),
            description: planned.description.trim().to_owned(),
            kind,
            format: planned.format.clone(),
            sections: planned.sections.iter().map(|s| s.trim().to_owned()).collect(),
            agent: agents[chosen].id,
            agent_type: agents[chosen].agent_type,
            needs,
        });
    }
    let mut synthesis_needs: Vec<String> = steps.iter().map(|s| s.key.clone()).collect();
    if topology == Topology::Hierarchical {
        // Each lead reviews its workers' results; the coordinator synthesises the reviews.
        let reviews = reviews(agents, &roles, &steps);
        synthesis_needs = reviews.iter().map(|r| r.key.clone()).collect();
        steps.extend(reviews);
    }
    let coordinator = &agents[roles.coordinator];
    steps.push(Assigned {
        key: "synthesis".into(),
        role: "synthesis",
        title: "Synthesis".into(),
        description: "Combine the results into the final answer to the task.".into(),
        kind: TaskKind::General,
        format: "text".into(),
        sections: Vec::new(),
        agent: coordinator.id,
        agent_type: coordinator.agent_type,
        needs: std::iter::once("plan".to_owned()).chain(synthesis_needs).collect(),
    });
    Ok(Layout { steps })
}

/// The agent of `pool` a subtask goes to: the one the model `predicted` (adaptive), then the
/// best fit for its kind and capability (unless balanced), then the least loaded, then the first.
fn least_busy_fit(
    agents: &[Candidate],
    pool: &[usize],
    loads: &[i64],
    strategy: Strategy,
    kind: TaskKind,
    capability: Option<&str>,
    predicted: Option<AgentType>,
) -> Option<usize> {
    let key = |&a: &usize| -> (i64, i64, usize) {
        let by_model = i64::from(predicted == Some(agents[a].agent_type));
        let by_fit = if strategy == Strategy::Balanced { 0 } else { fit(&agents[a], kind, capability) };
        (-(by_model * 10 + by_fit), loads[a], a)
    };
    pool.iter().min_by_key(|a| key(a)).copied()
}

/// A review per lead of the subtasks its workers were given (a lead with none reviews nothing).
fn reviews(agents: &[Candidate], roles: &Roles, subtasks: &[Assigned]) -> Vec<Assigned> {
    let mut reviews = Vec::new();
    for (n, &lead) in roles.leads.iter().enumerate() {
        let under: Vec<String> = subtasks
            .iter()
            .filter(|s| {
                let worker = roles.workers.iter().position(|&w| agents[w].id == s.agent).unwrap_or(0);
                worker % roles.leads.len() == n
            })
            .map(|s| s.key.clone())
            .collect();
        if under.is_empty() {
            continue;
        }
        reviews.push(Assigned {
            key: format!("review{}", n + 1),
            role: "review",
            title: format!("Review of {}", under.join(", ")),
            description: "Check your workers' results against their subtasks; correct and condense them.".into(),
            kind: TaskKind::Review,
            format: "text".into(),
            sections: Vec::new(),
            agent: agents[lead].id,
            agent_type: agents[lead].agent_type,
            needs: std::iter::once("plan".to_owned()).chain(under).collect(),
        });
    }
    reviews
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn agents(types: &[AgentType]) -> Vec<Candidate> {
        types.iter().map(|&t| Candidate { id: Uuid::now_v7(), agent_type: t, capabilities: Vec::new(), load: 0 }).collect()
    }

    fn plan(titles: &[&str]) -> Plan {
        Plan {
            subtasks: titles
                .iter()
                .map(|t| Planned {
                    title: (*t).into(),
                    description: (*t).into(),
                    capability: None,
                    format: "text".into(),
                    sections: vec![],
                })
                .collect(),
        }
    }

    fn none(_: &str) -> Option<AgentType> {
        None
    }

    use AgentType::*;

    #[test]
    fn the_schema_is_json_and_says_what_validate_checks() {
        let schema = schema();
        assert_eq!(schema["properties"]["subtasks"]["maxItems"], MAX_SUBTASKS);
        assert_eq!(schema["properties"]["subtasks"]["items"]["required"], json!(["title", "description"]));
    }

    #[test]
    fn plans_are_checked_against_the_schema() {
        assert!(validate(&json!({"subtasks": [{"title": "a", "description": "b"}]})).is_ok());
        let errors = validate(&json!({"subtasks": [{"title": "a"}]})).unwrap_err();
        assert!(errors[0].contains("description"), "{errors:?}");
        assert!(validate(&json!({"subtasks": []})).is_err());
        assert!(validate(&json!({"subtasks": [{"title": "", "description": "b"}]})).is_err());
        assert!(validate(&json!({"subtasks": [{"title": "a", "description": "b", "format": "xml"}]})).is_err());
        assert!(validate(&json!({"steps": []})).is_err());
    }

    #[test]
    fn without_agents_there_is_no_layout() {
        let refused = assign(Topology::Mesh, Strategy::Parallel, &[], &plan(&["x"]), &none).unwrap_err();
        assert_eq!((refused.clone(), refused.to_string()), (NoActiveAgents, "the swarm has no active agents".to_owned()));
    }

    #[test]
    fn roles_follow_the_topology() {
        let a = agents(&[Coder, Coordinator, Tester, Architect, Documenter]);
        let hierarchy = Roles::of(Topology::Hierarchical, &a);
        assert_eq!((hierarchy.coordinator, hierarchy.leads, hierarchy.workers, hierarchy.pool), (1, vec![0, 2], vec![3, 4], vec![3, 4]));
        assert_eq!(Roles::of(Topology::Star, &a).pool, [1]);
        assert_eq!(Roles::of(Topology::Ring, &a).pool, [0, 1, 2, 3, 4]);
        assert_eq!(Roles::of(Topology::Mesh, &a).pool, [0, 2, 3, 4]);
        let alone = Roles::of(Topology::Mesh, &agents(&[Tester]));
        assert_eq!((alone.coordinator, alone.leads, alone.workers, alone.pool), (0, vec![0], vec![0], vec![0]));
    }

    #[test]
    fn a_subtask_goes_to_the_prediction_then_the_fit_then_the_least_loaded() {
        let a = agents(&[Coder, Tester, Coder]);
        let pick = |loads: &[i64], strategy, predicted| least_busy_fit(&a, &[0, 1, 2], loads, strategy, TaskKind::Code, None, predicted);
        assert_eq!(pick(&[0, 0, 0], Strategy::Parallel, None), Some(0));
        assert_eq!(pick(&[1, 0, 0], Strategy::Parallel, None), Some(2), "the other coder, less loaded");
        assert_eq!(pick(&[1, 0, 1], Strategy::Balanced, None), Some(1), "balanced looks at loads alone");
        assert_eq!(pick(&[0, 5, 0], Strategy::Adaptive, Some(Tester)), Some(1), "the model's pick outweighs fit and load");
        assert_eq!(least_busy_fit(&a, &[], &[0, 0, 0], Strategy::Parallel, TaskKind::Code, None, None), None);
    }

    #[test]
    fn star_sends_everything_through_the_coordinator() {
        let a = agents(&[Coder, Coordinator, Tester]);
        let layout = assign(Topology::Star, Strategy::Parallel, &a, &plan(&["x", "y"]), &none).unwrap();
        assert!(layout.steps.iter().all(|s| s.agent == a[1].id));
        assert_eq!(layout.steps[1].needs, ["plan"]);
        assert_eq!(layout.steps[2].needs, ["plan", "s1", "s2"]);
    }

    #[test]
    fn a_ring_is_a_pipeline_in_the_agents_order() {
        let a = agents(&[Coordinator, Coder, Tester]);
        let layout = assign(Topology::Ring, Strategy::Parallel, &a, &plan(&["x", "y", "z", "w"]), &none).unwrap();
        let ids: Vec<Uuid> = layout.steps[..4].iter().map(|s| s.agent).collect();
        assert_eq!(ids, [a[0].id, a[1].id, a[2].id, a[0].id]);
        assert_eq!(layout.steps[2].needs, ["plan", "s2"]);
    }

    #[test]
    fn a_mesh_matches_capabilities_then_load() {
        let a = agents(&[Coordinator, Coder, Tester, Coder]);
        let p = plan(&["Implement the parser", "Write tests for the parser", "Fix the bug in the lexer"]);
        let layout = assign(Topology::Mesh, Strategy::Parallel, &a, &p, &none).unwrap();
        assert_eq!(layout.steps[0].agent, a[1].id);
        assert_eq!(layout.steps[1].agent, a[2].id);
        // The other coder, the first one being busier.
        assert_eq!(layout.steps[2].agent, a[3].id);
    }

    #[test]
    fn balanced_takes_the_least_loaded_and_sequential_chains() {
        let mut a = agents(&[Coordinator, Coder, Tester]);
        a[1].load = 3;
        let layout = assign(Topology::Mesh, Strategy::Balanced, &a, &plan(&["Implement x", "Implement y"]), &none).unwrap();
        assert_eq!(layout.steps[0].agent, a[2].id);
        let layout = assign(Topology::Mesh, Strategy::Sequential, &a, &plan(&["a", "b"]), &none).unwrap();
        assert_eq!(layout.steps[1].needs, ["plan", "s1"]);
    }

    #[test]
    fn adaptive_follows_the_model() {
        let a = agents(&[Coordinator, Coder, Documenter]);
        let layout = assign(Topology::Mesh, Strategy::Adaptive, &a, &plan(&["Implement x"]), &|_| Some(Documenter)).unwrap();
        assert_eq!(layout.steps[0].agent, a[2].id);
    }

    #[test]
    fn hierarchical_goes_through_leads_to_workers() {
        let a = agents(&[Coordinator, Architect, Coder, Tester]);
        let layout = assign(Topology::Hierarchical, Strategy::Parallel, &a, &plan(&["Implement x", "Test x"]), &none).unwrap();
        // One lead (the architect) over two workers.
        assert_eq!(layout.steps[0].agent, a[2].id);
        assert_eq!(layout.steps[1].agent, a[3].id);
        let review = &layout.steps[2];
        assert_eq!((review.role, review.agent), ("review", a[1].id));
        assert_eq!(review.needs, ["plan", "s1", "s2"]);
        let synthesis = &layout.steps[3];
        assert_eq!((synthesis.agent, synthesis.needs.clone()), (a[0].id, vec!["plan".to_owned(), "review1".to_owned()]));
    }
}
