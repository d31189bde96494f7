//! What a workflow is: its steps and their kinds, retry policies, the DAG their `needs` form,
//! references between steps' inputs and outputs, and the records the API returns.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use tui_shared::{
    ApiError,
    domain::{Description, Label, Priority, Title},
    graph::topological_order,
};
use utoipa::ToSchema;
use uuid::Uuid;

tui_shared::text_enum!(
    /// What a step does. `task` creates a task in the run's project and completes when it does;
    /// `http` calls an allowed URL; `sleep` waits; `wait_event` waits for an event delivered to
    /// the run; `agent` asks an agent of a swarm in the run's project.
    Kind { Task = "task", Agent = "agent", Http = "http", Sleep = "sleep", WaitEvent = "wait_event" }
);

/// How the delay between attempts grows: `delay_s` each time, `delay_s` times the attempt,
/// or doubling from `delay_s`; never beyond `max_delay_s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    Constant,
    Linear,
    Exponential,
}

tui_shared::text_enum!(
    /// Where a run is: `running` until every step completed (`completed`), one failed for good
    /// (`failed`) or someone cancelled it; `paused` starts no new step.
    RunStatus { Running = "running", Paused = "paused", Completed = "completed", Failed = "failed", Cancelled = "cancelled" }
);

tui_shared::text_enum!(
    /// Where a step is: `waiting` on its needs, `ready` to start, `running` (retries included),
    /// then `completed`, `failed` or `cancelled`.
    StepState {
        Waiting = "waiting",
        Ready = "ready",
        Running = "running",
        Completed = "completed",
        Failed = "failed",
        Cancelled = "cancelled",
    }
);

/// The most steps a workflow has.
pub const MAX_STEPS: usize = 1_000;
/// The most events one run holds: only the first of each name is ever read, so this lets every
/// `wait_event` step of the largest definition have an event of its own, and no more.
pub const MAX_EVENTS: usize = MAX_STEPS;
/// The most needs of all a workflow's steps together: each is a row of every run.
pub const MAX_NEEDS: usize = 5_000;
/// The most references in one step's input: each is a copy of a value when the step runs.
pub const MAX_REFERENCES: usize = 100;
/// The most attempts after the first.
pub const MAX_RETRIES: u32 = 20;
/// The longest delay between attempts, and the longest sleep or timeout: 30 days.
pub const MAX_SECONDS: f64 = 30.0 * 24.0 * 3600.0;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Attempts after the first, 0 to 20.
    #[schema(minimum = 0, maximum = 20)]
    pub limit: u32,
    #[serde(default = "constant")]
    pub backoff: Backoff,
    /// Seconds before the first retry (fractions allowed).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 2592000)]
    pub delay_s: f64,
    /// The longest delay, in seconds; none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 2592000, nullable = false)]
    pub max_delay_s: Option<f64>,
}

fn constant() -> Backoff {
    Backoff::Constant
}

impl Retry {
    /// The delay before attempt `next` (2 for the first retry), before jitter.
    pub fn delay(&self, next: u32) -> f64 {
        let retry = f64::from(next.saturating_sub(1).max(1));
        let delay = match self.backoff {
            Backoff::Constant => self.delay_s,
            Backoff::Linear => self.delay_s * retry,
            Backoff::Exponential => self.delay_s * 2f64.powf(retry - 1.0),
        };
        delay.min(self.max_delay_s.unwrap_or(MAX_SECONDS)).min(MAX_SECONDS)
    }
}

/// One step of a definition.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique within the workflow; what `needs` and references name.
    pub key: Label,
    pub kind: Kind,
    /// Steps that must complete before this one starts.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub needs: Vec<Label>,
    /// What the step works on, by kind: `http` `{url, method?, headers?, body?}`, `sleep`
    /// `{seconds}`, `task` `{title, description?, priority?}`, `wait_event` `{name}`, `agent`
    /// `{swarm_id, task, agent_type?, format?: text | json, sections?}`. Any value
    /// inside may be a reference: `{"$step": key, "path": "/json/pointer"}` to an output of a
    /// step this one needs (directly or not), or `{"$input": "/json/pointer"}` into the run's input.
    /// Every member of the project reads definitions, runs' inputs and steps' outputs: keep
    /// secrets out of them.
    #[serde(default)]
    pub input: Json,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub retry: Option<Retry>,
    /// How long one attempt may take, in seconds (`http` defaults to 300; `task` and
    /// `wait_event` wait without end unless given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 2592000, nullable = false)]
    pub timeout_s: Option<u32>,
}

impl Step {
    pub fn key(&self) -> &str {
        self.key.as_str()
    }
}

/// Why a step's input is refused: what the 422 says of it when the workflow is defined, or the
/// step's error when a value known only then is refused as it runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InputError(String);

impl From<&str> for InputError {
    fn from(message: &str) -> Self {
        Self(message.to_owned())
    }
}

impl From<String> for InputError {
    fn from(message: String) -> Self {
        Self(message)
    }
}

/// A reference found in an input: to a step's output, or into the run's input.
#[derive(Debug, Clone, PartialEq)]
pub enum Reference {
    Step { key: String, path: String },
    Input { path: String },
}

/// The reference `value` is, if it is one: an object of exactly `$step` (with an optional
/// `path`) or exactly `$input`.
pub fn reference(value: &Json) -> Option<Result<Reference, InputError>> {
    let object = value.as_object()?;
    let text = |v: &Json| v.as_str().map(str::to_owned);
    let pointer = |path: Option<String>| match path {
        Some(p) if !p.is_empty() && !p.starts_with('/') => Err(format!("path {p:?} must be a JSON pointer, starting with /").into()),
        Some(p) => Ok(p),
        None => Ok(String::new()),
    };
    if let Some(key) = object.get("$step") {
        let ok = object.keys().all(|k| k == "$step" || k == "path");
        return Some(match (text(key), object.get("path").map(text), ok) {
            (Some(key), None, true) => Ok(Reference::Step { key, path: String::new() }),
            (Some(key), Some(Some(path)), true) => pointer(Some(path)).map(|path| Reference::Step { key, path }),
            _ => Err("a reference is {\"$step\": key, \"path\": \"/pointer\"}".into()),
        });
    }
    if let Some(path) = object.get("$input") {
        return Some(match (text(path), object.len()) {
            (Some(path), 1) => pointer(Some(path)).map(|path| Reference::Input { path }),
            _ => Err("a reference is {\"$input\": \"/pointer\"}".into()),
        });
    }
    None
}

/// Every reference in `value`, depth first.
pub fn references(value: &Json, found: &mut Vec<Result<Reference, InputError>>) {
    if let Some(reference) = reference(value) {
        found.push(reference);
        return;
    }
    match value {
        Json::Array(items) => items.iter().for_each(|item| references(item, found)),
        Json::Object(fields) => fields.values().for_each(|item| references(item, found)),
        _ => {}
    }
}

/// `value` with every reference replaced by what it points to (`null` where nothing is there).
pub fn resolve(value: &Json, outputs: &HashMap<String, Json>, input: &Json) -> Json {
    match reference(value) {
        Some(Ok(Reference::Step { key, path })) => {
            outputs.get(&key).and_then(|output| output.pointer(&path)).cloned().unwrap_or(Json::Null)
        }
        Some(Ok(Reference::Input { path })) => input.pointer(&path).cloned().unwrap_or(Json::Null),
        Some(Err(_)) => Json::Null,
        None => match value {
            Json::Array(items) => Json::Array(items.iter().map(|item| resolve(item, outputs, input)).collect()),
            Json::Object(fields) => fields.iter().map(|(k, v)| (k.clone(), resolve(v, outputs, input))).collect(),
            other => other.clone(),
        },
    }
}

/// Checks a definition: unique keys, known needs, no cycle, references only to steps needed
/// (directly or not), each kind's input, and retry and timeout bounds. Field errors name the
/// step by position (`steps[3].needs[0]`); a cycle is a 409 naming it.
pub fn check(steps: &[Step]) -> Result<(), ApiError> {
    if steps.is_empty() || steps.len() > MAX_STEPS {
        return Err(ApiError::field("steps", format!("between 1 and {MAX_STEPS} steps")));
    }
    let edges: usize = steps.iter().map(|s| s.needs.len()).sum();
    if edges > MAX_NEEDS {
        return Err(ApiError::field("steps", format!("at most {MAX_NEEDS} needs in all")));
    }
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, step) in steps.iter().enumerate() {
        // Keys name steps in idempotency keys (a header) and references: plain ASCII.
        if !step.key().bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) {
            return Err(ApiError::field(format!("steps[{i}].key"), "letters, digits, _ - and . only"));
        }
        if index.insert(step.key(), i).is_some() {
            return Err(ApiError::field(format!("steps[{i}].key"), "is the key of another step"));
        }
    }
    let mut needs: Vec<Vec<usize>> = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        if step.needs.len() > 100 {
            return Err(ApiError::field(format!("steps[{i}].needs"), "at most 100 needs"));
        }
        let mut mine = Vec::new();
        for (j, need) in step.needs.iter().enumerate() {
            match index.get(need.as_str()) {
                None => return Err(ApiError::field(format!("steps[{i}].needs[{j}]"), format!("names no step: {}", need.as_str()))),
                Some(&k) if mine.contains(&k) => {
                    return Err(ApiError::field(format!("steps[{i}].needs[{j}]"), "names the same step twice"));
                }
                Some(&k) => mine.push(k),
            }
        }
        needs.push(mine);
    }
    if let Err(cycle) = topological_order(&needs) {
        return Err(ApiError::conflict(format!("The steps' needs form a cycle: {}.", cycle.describe(|i| steps[i].key()))));
    }
    for (i, step) in steps.iter().enumerate() {
        check_step(i, step, &ancestors(i, &needs).into_iter().map(|k| steps[k].key()).collect())?;
    }
    Ok(())
}

fn check_step(i: usize, step: &Step, upstream: &HashSet<&str>) -> Result<(), ApiError> {
    let field = |name: &str| format!("steps[{i}].{name}");
    if let Some(retry) = &step.retry {
        if retry.limit > MAX_RETRIES {
            return Err(ApiError::field(field("retry.limit"), format!("at most {MAX_RETRIES}")));
        }
        let seconds = |s: f64| s.is_finite() && (0.0..=MAX_SECONDS).contains(&s);
        if !seconds(retry.delay_s) {
            return Err(ApiError::field(field("retry.delay_s"), "must be between 0 and 2592000 seconds"));
        }
        if retry.max_delay_s.is_some_and(|s| !seconds(s)) {
            return Err(ApiError::field(field("retry.max_delay_s"), "must be between 0 and 2592000 seconds"));
        }
    }
    if step.timeout_s.is_some_and(|s| s == 0 || f64::from(s) > MAX_SECONDS) {
        return Err(ApiError::field(field("timeout_s"), "must be between 1 and 2592000 seconds"));
    }
    let mut found = Vec::new();
    references(&step.input, &mut found);
    if found.len() > MAX_REFERENCES {
        return Err(ApiError::field(field("input"), format!("at most {MAX_REFERENCES} references")));
    }
    for reference in found {
        match reference.map_err(|refused| ApiError::field(field("input"), refused.to_string()))? {
            Reference::Step { key, .. } if !upstream.contains(key.as_str()) => {
                return Err(ApiError::field(field("input"), format!("references step {key}, which this step does not need")));
            }
            _ => {}
        }
    }
    check_input(step.kind, &step.input).map_err(|refused| ApiError::field(field("input"), refused.to_string()))
}

/// A field of a step's input: absent, a reference (known only when the step runs), or a value.
fn literal<'a>(input: &'a Json, name: &str) -> Option<&'a Json> {
    input.get(name).filter(|value| reference(value).is_none())
}

/// The shape each kind's input must have, as far as it is known before the run: literal values
/// are checked now, references when the step runs.
fn check_input(kind: Kind, input: &Json) -> Result<(), InputError> {
    let Some(object) = input.as_object() else { return Err("must be an object".into()) };
    let allowed: &[&str] = match kind {
        Kind::Http => &["url", "method", "headers", "body"],
        Kind::Sleep => &["seconds"],
        Kind::Task => &["title", "description", "priority"],
        Kind::WaitEvent => &["name"],
        Kind::Agent => &["swarm_id", "task", "agent_type", "format", "sections"],
    };
    if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!("{unknown} is not an input of a {} step (they are: {})", kind.as_str(), allowed.join(", ")).into());
    }
    let required = |name: &str| if object.contains_key(name) { Ok(()) } else { Err(format!("{name} is required")) };
    match kind {
        Kind::Http => {
            required("url")?;
            if let Some(url) = literal(input, "url") {
                let url = url.as_str().ok_or("url must be a string")?;
                crate::outbound::parse(url)?;
            }
            if let Some(method) = literal(input, "method") {
                crate::outbound::method(method.as_str().ok_or("method must be a string")?)?;
            }
            if let Some(headers) = literal(input, "headers") {
                crate::outbound::headers(headers)?;
            }
        }
        Kind::Sleep => {
            required("seconds")?;
            if let Some(seconds) = literal(input, "seconds") {
                sleep_seconds(seconds)?;
            }
        }
        Kind::Task => {
            required("title")?;
            if let Some(title) = literal(input, "title") {
                Title::try_from(title.as_str().ok_or("title must be text")?.to_owned()).map_err(|e| format!("title {e}"))?;
            }
            if let Some(description) = literal(input, "description") {
                Description::try_from(description.as_str().ok_or("description must be text")?.to_owned())
                    .map_err(|e| format!("description {e}"))?;
            }
            if let Some(priority) = literal(input, "priority") {
                priority.as_str().and_then(Priority::parse).ok_or("priority must be low, medium, high or critical")?;
            }
        }
        Kind::WaitEvent => {
            required("name")?;
            if let Some(name) = literal(input, "name") {
                event_name(name)?;
            }
        }
        Kind::Agent => {
            required("swarm_id")?;
            required("task")?;
            if literal(input, "swarm_id").is_some_and(|id| id.as_str().and_then(|id| uuid::Uuid::parse_str(id).ok()).is_none()) {
                return Err("swarm_id must be the id of a swarm".into());
            }
            if literal(input, "task").is_some_and(|task| task.as_str().is_none_or(|t| t.trim().is_empty())) {
                return Err("task must be a non-empty string".into());
            }
            if literal(input, "task").and_then(Json::as_str).is_some_and(|t| t.chars().count() > tui_swarms_agents::agent::MAX_TASK_CHARS) {
                return Err("task must be at most 10000 characters".into());
            }
            if let Some(sections) = literal(input, "sections") {
                let fine = sections
                    .as_array()
                    .is_some_and(|s| s.len() <= 8 && s.iter().all(|h| h.as_str().is_some_and(|h| h.chars().count() <= 80)));
                if !fine {
                    return Err("sections must be at most 8 headings of at most 80 characters".into());
                }
            }
            if literal(input, "format").is_some_and(|f| f.as_str().is_none_or(|f| f != "text" && f != "json")) {
                return Err("format must be text or json".into());
            }
        }
    }
    Ok(())
}

/// A sleep's length, as resolved.
pub fn sleep_seconds(value: &Json) -> Result<f64, InputError> {
    value
        .as_f64()
        .filter(|s| s.is_finite() && (0.0..=MAX_SECONDS).contains(s))
        .ok_or_else(|| "seconds must be a number from 0 to 2592000".into())
}

/// The name of an event a `wait_event` step waits for, as resolved.
pub fn event_name(value: &Json) -> Result<String, InputError> {
    value
        .as_str()
        .filter(|n| !n.is_empty() && n.chars().count() <= 100 && !n.chars().any(char::is_control))
        .map(str::to_owned)
        .ok_or_else(|| "name must be text of 1 to 100 characters".into())
}

/// Every step `i` needs, directly or not.
fn ancestors(i: usize, needs: &[Vec<usize>]) -> HashSet<usize> {
    let mut seen = HashSet::new();
    let mut stack = needs[i].clone();
    while let Some(k) = stack.pop() {
        if seen.insert(k) {
            stack.extend(&needs[k]);
        }
    }
    seen
}

/// A workflow at its current version.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Workflow {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub version: i64,
    pub steps: Vec<Step>,
    pub created_by: Uuid,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// A step of a run, as far as it got.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunStep {
    pub key: String,
    pub kind: Kind,
    pub state: StepState,
    /// The attempt under way or last made (0 before the first).
    pub attempt: i64,
    pub output: Option<Json>,
    /// The last attempt's error.
    pub error: Option<String>,
    /// The task a `task` step created.
    pub task_id: Option<Uuid>,
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    /// By when the current attempt must end.
    #[schema(format = DateTime)]
    pub deadline: Option<String>,
}

/// A run of a workflow, at the version it started with.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Run {
    pub id: Uuid,
    pub workflow_id: Uuid,
    pub version: i64,
    pub project_id: Uuid,
    pub status: RunStatus,
    pub input: Json,
    pub error: Option<String>,
    pub created_by: Uuid,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    /// Every step, in the definition's order (in lists: none): at most the 1,000 a definition
    /// may have, so the run carries them all rather than a page.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 1000)]
    pub steps: Vec<RunStep>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn steps(value: Json) -> Vec<Step> {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn needs_must_name_steps_and_form_no_cycle() {
        let unknown = steps(json!([{"key": "a", "kind": "sleep", "input": {"seconds": 1}, "needs": ["nope"]}]));
        assert_eq!(check(&unknown).unwrap_err().errors[0].field, "steps[0].needs[0]");
        let cycle = steps(json!([
            {"key": "a", "kind": "sleep", "input": {"seconds": 1}, "needs": ["c"]},
            {"key": "b", "kind": "sleep", "input": {"seconds": 1}, "needs": ["a"]},
            {"key": "c", "kind": "sleep", "input": {"seconds": 1}, "needs": ["b"]},
        ]));
        let error = check(&cycle).unwrap_err();
        assert_eq!(error.code.status().as_u16(), 409);
        assert!(error.detail.contains("a -> c -> b -> a"), "{}", error.detail);
    }

    #[test]
    fn references_reach_only_steps_needed() {
        let ok = steps(json!([
            {"key": "a", "kind": "http", "input": {"url": "https://example.com/a"}},
            {"key": "b", "kind": "sleep", "input": {"seconds": 0}, "needs": ["a"]},
            {"key": "c", "kind": "http", "needs": ["b"], "input": {"url": "https://example.com/c", "body": {"x": {"$step": "a", "path": "/body"}}}},
        ]));
        check(&ok).unwrap();
        let bad = steps(json!([
            {"key": "a", "kind": "http", "input": {"url": "https://example.com/a"}},
            {"key": "c", "kind": "http", "input": {"url": "https://example.com/c", "body": {"$step": "a"}}},
        ]));
        assert_eq!(check(&bad).unwrap_err().errors[0].field, "steps[1].input");
    }

    #[test]
    fn resolving_follows_pointers_into_outputs_and_input() {
        let outputs = HashMap::from([("a".to_owned(), json!({"body": {"artifact": "x.tar"}}))]);
        let value = json!({"file": {"$step": "a", "path": "/body/artifact"}, "who": {"$input": "/user"}, "n": [1, {"$step": "a"}]});
        let resolved = resolve(&value, &outputs, &json!({"user": "ada"}));
        assert_eq!(resolved, json!({"file": "x.tar", "who": "ada", "n": [1, {"body": {"artifact": "x.tar"}}]}));
    }

    #[test]
    fn refused_inputs_say_why_in_the_fields_terms() {
        let http =
            |input: Json| check(&steps(json!([{"key": "a", "kind": "http", "input": input}]))).unwrap_err().errors[0].message.clone();
        assert_eq!(http(json!({"url": "ftp://example.com/"})), "url must be http or https");
        assert_eq!(
            http(json!({"url": "https://example.com/", "verb": "GET"})),
            "verb is not an input of a http step (they are: url, method, headers, body)"
        );
        assert_eq!(http(json!({"url": {"$step": "a", "path": "body"}})), "path \"body\" must be a JSON pointer, starting with /");
        assert_eq!(sleep_seconds(&json!(-1)).unwrap_err().to_string(), "seconds must be a number from 0 to 2592000");
        assert_eq!(event_name(&json!("")).unwrap_err().to_string(), "name must be text of 1 to 100 characters");
    }

    #[test]
    fn backoff_grows_by_its_kind_and_stops_at_the_cap() {
        let retry = |backoff, max| Retry { limit: 5, backoff, delay_s: 2.0, max_delay_s: max };
        let delays = |r: Retry| (2..=5).map(|n| r.delay(n)).collect::<Vec<_>>();
        assert_eq!(delays(retry(Backoff::Constant, None)), [2.0, 2.0, 2.0, 2.0]);
        assert_eq!(delays(retry(Backoff::Linear, None)), [2.0, 4.0, 6.0, 8.0]);
        assert_eq!(delays(retry(Backoff::Exponential, None)), [2.0, 4.0, 8.0, 16.0]);
        assert_eq!(delays(retry(Backoff::Exponential, Some(5.0))), [2.0, 4.0, 5.0, 5.0]);
    }

    #[test]
    fn agent_steps_name_a_swarm_and_a_task() {
        let agent = |input: Json| check(&steps(json!([{"key": "a", "kind": "agent", "input": input}])));
        let swarm = uuid::Uuid::now_v7().to_string();
        assert!(agent(json!({"swarm_id": swarm, "task": "Implement it", "format": "json"})).is_ok());
        assert!(agent(json!({"swarm_id": swarm, "task": {"$input": "/task"}})).is_ok());
        assert_eq!(agent(json!({"task": "x"})).unwrap_err().errors[0].field, "steps[0].input");
        assert!(agent(json!({"swarm_id": "nope", "task": "x"})).is_err());
        assert!(agent(json!({"swarm_id": swarm, "task": " "})).is_err());
        // The swarms group's own steps are not for definitions.
        assert!(agent(json!({"swarm_id": swarm, "task": "x", "op": "plan"})).is_err());
    }
}

#[cfg(test)]
mod pointer_properties {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// Keys that JSON pointers find hard (escapes, slashes, digits, the empty key) and the
    /// words references are made of.
    fn keys() -> impl Strategy<Value = String> {
        prop_oneof!["[a-z0-9~/]{0,3}", Just("$step".to_owned()), Just("$input".to_owned()), Just("path".to_owned()), any::<String>()]
    }

    fn json() -> impl Strategy<Value = Json> {
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::from),
            any::<i64>().prop_map(Json::from),
            "[a-z0-9~/]{0,3}".prop_map(Json::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
                prop::collection::btree_map(keys(), inner, 0..6).prop_map(|m| m.into_iter().collect()),
            ]
        })
    }

    /// Pointers made of the tokens that matter to RFC 6901 (escapes good and bad, indices with
    /// leading zeros or signs, `-`), and any text at all, which need not start with `/`.
    fn pointers() -> impl Strategy<Value = String> {
        let token = prop_oneof![
            "[a-z0-9~/]{0,3}",
            prop::sample::select(vec!["", "0", "1", "01", "-", "+1", "~0", "~1", "~", "~2", "a~1b", "18446744073709551616"])
                .prop_map(str::to_owned),
        ];
        prop_oneof![prop::collection::vec(token, 0..4).prop_map(|tokens| tokens.iter().map(|t| format!("/{t}")).collect()), any::<String>()]
    }

    /// Every pointer that finds something in `document`, escaped as RFC 6901 says.
    fn paths_in(document: &Json, at: String, found: &mut Vec<String>) {
        match document {
            Json::Array(items) => items.iter().enumerate().for_each(|(i, item)| paths_in(item, format!("{at}/{i}"), found)),
            Json::Object(fields) => {
                fields.iter().for_each(|(k, v)| paths_in(v, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), found))
            }
            _ => {}
        }
        found.push(at);
    }

    /// A document and a pointer, half the time one that finds something in it.
    fn documents_and_pointers() -> impl Strategy<Value = (Json, String)> {
        json().prop_flat_map(|document| {
            let mut found = Vec::new();
            paths_in(&document, String::new(), &mut found);
            (Just(document), prop_oneof![prop::sample::select(found), pointers()])
        })
    }

    /// What a reference to `path` in `document` resolves to, by the reference model: serde_json's
    /// own pointer, for any path that is a pointer; nothing for any other.
    fn expected(document: &Json, path: &str) -> Json {
        if path.is_empty() || path.starts_with('/') { document.pointer(path).cloned().unwrap_or(Json::Null) } else { Json::Null }
    }

    proptest! {
        #[test]
        fn an_input_reference_resolves_as_json_pointer((input, path) in documents_and_pointers()) {
            let value = json!({"$input": path});
            let refused = !path.is_empty() && !path.starts_with('/');
            prop_assert_eq!(reference(&value).unwrap().is_err(), refused);
            prop_assert_eq!(resolve(&value, &HashMap::new(), &input), expected(&input, &path));
        }

        #[test]
        fn a_step_reference_resolves_as_json_pointer((output, path) in documents_and_pointers(), bare: bool, known: bool) {
            let path = (!bare).then_some(path);
            let value = match &path {
                Some(path) => json!({"$step": "a", "path": path}),
                None => json!({"$step": "a"}),
            };
            let outputs = if known { HashMap::from([("a".to_owned(), output.clone())]) } else { HashMap::new() };
            let resolved = resolve(&json!([{"x": value}]), &outputs, &Json::Null);
            let want = if known { expected(&output, path.as_deref().unwrap_or("")) } else { Json::Null };
            prop_assert_eq!(resolved, json!([{"x": want}]));
        }

        /// Any input a definition may hold is checked and resolved without a panic, and one
        /// without references is left as it is.
        #[test]
        fn any_value_resolves_without_panic(value in json(), output in json(), input in json()) {
            for kind in Kind::ALL {
                // Refused or not, only that it answers matters here.
                let _ = check_input(*kind, &value);
            }
            let mut found = Vec::new();
            references(&value, &mut found);
            let resolved = resolve(&value, &HashMap::from([("a".to_owned(), output)]), &input);
            if found.is_empty() {
                prop_assert_eq!(resolved, value);
            }
        }
    }
}
