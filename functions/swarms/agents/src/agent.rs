//! What an `agent` step of the workflow engine does: the agents' Claude calls. An
//! orchestration's run has a `plan` step (the coordinator's plan, by a forced tool call, laid
//! out by topology and strategy into the run's next steps), a step per subtask, leads' reviews
//! and the synthesis; a vote's run has one step that closes it. A user's own workflow step asks
//! one agent of a swarm in its project.
//!
//! What a step's work decides (a part's result, an outcome to learn from, a vote closed) goes in
//! the one batch that moves the step, each statement guarded by the attempt (still running, job
//! still held), so a step run twice decides once. A call to Claude is made only after the tokens
//! it may cost are held against its user's daily budget, in the statement that holds them, and
//! is recorded as soon as it ends, whatever becomes of the attempt: a call made is a cost.

use serde::Deserialize;
use serde_json::{Value as Json, json};
use tui_shared::{
    ApiError, AppState,
    claude::{self, Block, ClaudeSettings, Failure, Message, Request, Role, Tool, ToolChoice},
    db::{Query, Statement, Value},
    stmt,
    time::{self, Timestamp},
};
use uuid::Uuid;

use crate::{
    config::{STREAM_FROM, SwarmsConfig},
    consensus::{self, Verdict},
    coordinator::{self, Assignment, Placed},
    model::{AgentType, Algorithm, Strategy, TaskKind, Topology, classify},
    plan::{self, Plan},
    repo,
};

/// The attempt of an `agent` step being run.
pub struct Attempt<'a> {
    pub claim: Claim,
    /// The run's project, and the user it acts for.
    pub project: Uuid,
    pub user: Uuid,
    pub input: &'a Json,
    pub deadline: Timestamp,
}

/// What an attempt's writes are conditional on: the step's attempt, and the job's claim.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Claim {
    pub run: Uuid,
    pub key: String,
    pub attempt: i64,
    pub job: i64,
    pub lease: String,
}

impl std::ops::Deref for Attempt<'_> {
    type Target = Claim;
    fn deref(&self) -> &Claim {
        &self.claim
    }
}

impl Claim {
    /// SQL that holds while this attempt is the step's current one and its job is still held,
    /// over the claim's values, bound to `q`.
    fn guard(&self, q: &mut Query) -> String {
        let (run, key, attempt) = (q.bind(self.run), q.bind(self.key.as_str()), q.bind(self.attempt));
        let (job, lease) = (q.bind(self.job), q.bind(self.lease.as_str()));
        format!(
            "EXISTS (SELECT 1 FROM run_steps WHERE run_id = {run} AND key = {key} AND state = 'running' AND attempt = {attempt}) \
             AND EXISTS (SELECT 1 FROM jobs WHERE id = {job} AND lease_until = {lease})"
        )
    }

    /// A statement whose SQL ends in a `WHERE` clause (or `WHERE true`), guarded by the attempt.
    pub(crate) fn guarded(&self, mut q: Query) -> Statement {
        let guard = self.guard(&mut q);
        q.push(format!(" AND {guard}"));
        q.finish()
    }
}

/// How the attempt turned out, for the engine.
#[derive(Debug)]
pub enum Outcome {
    Done(Json),
    Failed { error: String, retry: bool },
    Wait(Timestamp),
}

/// What a call is for and whom it is charged to.
struct Charge {
    purpose: &'static str,
    swarm: Uuid,
    agent: Option<Uuid>,
    orchestration: Option<Uuid>,
}

/// Runs the step's attempt; the statements returned go in the batch that settles it.
pub async fn step(state: &AppState, at: &Attempt<'_>) -> Result<(Outcome, Vec<Statement>), ApiError> {
    let mut writes = Vec::new();
    let swarm = state
        .db
        .query_opt(stmt!("SELECT w.swarm_id FROM workflow_runs r JOIN workflows w ON w.id = r.workflow_id WHERE r.id = ?1", at.run))
        .await?
        .map(|row| row.decode::<(Option<Uuid>,)>())
        .transpose()?
        .and_then(|(swarm,)| swarm);
    let outcome = match (swarm, at.input["op"].as_str()) {
        (Some(_), Some("plan")) => make_plan(state, at).await?,
        (Some(_), Some("work")) => work(state, at, &mut writes).await?,
        (Some(_), Some("close_vote")) => close_vote(state, at, &mut writes).await?,
        (Some(_), _) => Outcome::Failed { error: "not a step of this swarm's runs".into(), retry: false },
        (None, _) => ask_one(state, at, &mut writes).await?,
    };
    Ok((outcome, writes))
}

/// Whether a step with this input calls Claude (all but a vote's closing step, which only
/// counts): the engine holds the job through such calls, and counts them.
pub fn calls_claude(input: &Json) -> bool {
    input["op"] != "close_vote"
}

fn today(now: Timestamp) -> String {
    time::format(now)[..10].to_owned()
}

/// Holds `tokens` of the user's budget for `day`, if they fit; in one statement.
async fn hold(state: &AppState, at: &Attempt<'_>, day: &str, tokens: i64, budget: u64) -> Result<bool, ApiError> {
    let mut q = Query::default();
    let (user, day, tokens, budget) = (q.bind(at.user), q.bind(day), q.bind(tokens), q.bind(budget as i64));
    let guard = at.guard(&mut q);
    q.push(format!(
        "INSERT INTO claude_usage (user_id, day, tokens, reserved) SELECT {user}, {day}, 0, {tokens} WHERE {tokens} <= {budget} AND {guard}"
    ));
    // An existing day's row: only while what is used and held leaves room.
    q.push(format!(
        " ON CONFLICT (user_id, day) DO UPDATE SET reserved = reserved + excluded.reserved \
         WHERE tokens + reserved + excluded.reserved <= {budget}"
    ));
    Ok(state.db.execute(q.finish()).await? > 0)
}

/// What one attempt of a request may cost before its answer says: all the tokens it may write,
/// and a token for every byte it sends (the prompt, the system prompt, the tools' schemas): no
/// text has more tokens than bytes.
fn estimate(request: &Request) -> i64 {
    i64::from(request.max_tokens) + serde_json::to_vec(request).map_or(0, |body| body.len() as i64) + 64
}

/// Holds an attempt's possible cost against the user's budget before it is made.
struct Budget<'a> {
    state: &'a AppState,
    at: &'a Attempt<'a>,
    day: &'a str,
    each: i64,
    most: u64,
    held: std::sync::atomic::AtomicI64,
}

#[async_trait::async_trait]
impl claude::Meter for Budget<'_> {
    async fn allow(&self) -> Result<(), claude::Refusal> {
        match hold(self.state, self.at, self.day, self.each, self.most).await {
            Ok(true) => {
                self.held.fetch_add(self.each, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
            Ok(false) => Err(claude::Refusal::BudgetExhausted),
            Err(error) => Err(claude::Refusal::Unchecked(error.detail)),
        }
    }
}

/// One call to Claude for the attempt, each of its attempts held against the user's budget
/// first, then the call recorded as soon as it ends (whatever becomes of the step's attempt):
/// it charges the tokens used, and for every attempt cut off after it went out (whose use is
/// unknown) all that attempt might have used, and gives the holds back.
async fn call(
    state: &AppState,
    at: &Attempt<'_>,
    charge: &Charge,
    request: &Request,
) -> Result<Result<claude::Response, Failure>, ApiError> {
    let config = state.section::<SwarmsConfig>()?;
    let settings = state.section::<ClaudeSettings>()?;
    let day = today(state.clock.now());
    let each = estimate(request);
    let meter = Budget { state, at, day: &day, each, most: config.daily_tokens, held: Default::default() };
    let left: std::time::Duration = (at.deadline - state.clock.now()).try_into().unwrap_or_default();
    let call = claude::call(state.outbound.as_ref(), state.clock.as_ref(), &settings, request, left, &meter).await;
    if call.attempts == 0 {
        return Ok(call.result);
    }
    let usage = call.result.as_ref().map(|r| r.usage).unwrap_or_default();
    let charged = usage.total() as i64 + i64::from(call.cut_off) * each;
    let record = Statement::new(
        "INSERT INTO claude_calls (project_id, swarm_id, agent_id, orchestration_id, run_id, step_key, user_id, purpose, model, ok, \
         attempts, input_tokens, output_tokens, latency_ms, reserved, charged, day, error, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
        vec![
            at.project.into(),
            charge.swarm.into(),
            charge.agent.map_or(Value::Null, Value::from),
            charge.orchestration.map_or(Value::Null, Value::from),
            at.run.into(),
            at.key.as_str().into(),
            at.user.into(),
            charge.purpose.into(),
            request.model.as_str().into(),
            i64::from(call.result.is_ok()).into(),
            i64::from(call.attempts).into(),
            (usage.input_tokens as i64).into(),
            (usage.output_tokens as i64).into(),
            (call.latency.as_millis() as i64).into(),
            meter.held.load(std::sync::atomic::Ordering::Relaxed).into(),
            charged.into(),
            day.as_str().into(),
            call.result.as_ref().err().map_or(Value::Null, |e| Value::from(e.to_string())),
            time::format(state.clock.now()).into(),
        ],
    );
    state.db.execute(record).await?;
    Ok(call.result)
}

fn failed(failure: &Failure) -> Outcome {
    Outcome::Failed { error: failure.to_string(), retry: failure.transient() }
}

/// The orchestration a step belongs to, with its swarm.
struct Orchestration {
    swarm: Uuid,
    topology: Topology,
    strategy: Strategy,
    task: String,
    priority: String,
    dependencies: String,
    model: String,
    max_tokens: u32,
}

#[derive(Deserialize)]
struct OrchestrationRow {
    swarm_id: Uuid,
    topology: Topology,
    strategy: Strategy,
    task: String,
    priority: String,
    dependencies: String,
    model: String,
    max_tokens: i64,
}

async fn orchestration(state: &AppState, run: Uuid) -> Result<Option<Orchestration>, ApiError> {
    let row = state
        .db
        .query_opt(stmt!(
            "SELECT o.swarm_id, s.topology, o.strategy, o.task, o.priority, o.dependencies, o.model, o.max_tokens \
             FROM orchestrations o JOIN swarms s ON s.id = o.swarm_id WHERE o.id = ?1",
            run
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let OrchestrationRow { swarm_id: swarm, topology, strategy, task, priority, dependencies, model, max_tokens } = row.decode()?;
    Ok(Some(Orchestration { swarm, topology, strategy, task, priority, dependencies, model, max_tokens: max_tokens as u32 }))
}

fn request(model: &str, max_tokens: u32, system: String, messages: Vec<Message>) -> Request {
    Request {
        model: model.into(),
        max_tokens,
        system: Some(system),
        messages,
        tools: Vec::new(),
        tool_choice: None,
        stream: max_tokens >= STREAM_FROM,
    }
}

/// The coordinator's plan, checked against its schema (a bad one is sent back once with what is
/// wrong), then laid out into the run's next steps.
async fn make_plan(state: &AppState, at: &Attempt<'_>) -> Result<Outcome, ApiError> {
    let Some(o) = orchestration(state, at.run).await? else {
        return Ok(Outcome::Failed { error: "the orchestration is gone".into(), retry: false });
    };
    // Laid out already, by an attempt whose worker stopped before the step moved on.
    if let Some(plan) = repo::planned(state.db.as_ref(), at.run).await? {
        return Ok(Outcome::Done(plan));
    }
    // Made already, by an attempt that could not lay it out: asked once, paid once.
    let plan = match repo::draft(state.db.as_ref(), at.run).await? {
        Some(plan) => plan,
        None => match ask_plan(state, at, &o).await? {
            Ok(plan) => {
                let draft = serde_json::to_string(&plan).map_err(ApiError::internal)?;
                let mut q = Query::default();
                let (run, draft) = (q.bind(at.run), q.bind(draft));
                q.push(format!("UPDATE orchestrations SET plan_draft = {draft} WHERE id = {run} AND plan IS NULL"));
                state.db.execute(at.guarded(q)).await?;
                plan
            }
            Err(outcome) => return Ok(outcome),
        },
    };
    let plan_json = serde_json::to_value(&plan).map_err(ApiError::internal)?;
    let assignment =
        Assignment { swarm: o.swarm, project: at.project, topology: o.topology, strategy: o.strategy, plan, claim: at.claim.clone() };
    Ok(match coordinator::assign(state, &assignment).await? {
        Placed::Done => Outcome::Done(plan_json),
        Placed::Refused(error) => Outcome::Failed { error, retry: false },
        Placed::Busy => Outcome::Failed { error: "the swarm kept changing while its coordinator laid the plan out".into(), retry: true },
    })
}

/// The coordinator's plan, by a call forcing the plan tool; a plan that breaks the schema is
/// sent back once with what is wrong. The outcome of the step when there is none.
async fn ask_plan(state: &AppState, at: &Attempt<'_>, o: &Orchestration) -> Result<Result<Plan, Outcome>, ApiError> {
    let agents = repo::candidates(state.db.as_ref(), o.swarm).await?;
    let types: Vec<&str> = agents.iter().map(|a| a.agent_type.as_str()).collect();
    let coordinator = agents.iter().find(|a| a.agent_type == AgentType::Coordinator).or(agents.first()).map(|a| a.id);
    let charge = Charge { purpose: "plan", swarm: o.swarm, agent: coordinator, orchestration: Some(at.run) };
    let system = format!(
        "You coordinate a {} swarm of AI agents ({}). Split the user's task into at most {} subtasks that these agents can \
         each do in one answer, in the order they should be done, and submit them with the {} tool.",
        o.topology.as_str(),
        types.join(", "),
        plan::MAX_SUBTASKS,
        plan::PLAN_TOOL
    );
    let mut messages = vec![Message::user(format!("Task: {}\nPriority: {}\nDepends on: {}", o.task, o.priority, o.dependencies))];
    let mut ask = request(&o.model, o.max_tokens, system, Vec::new());
    ask.tools =
        vec![Tool { name: plan::PLAN_TOOL.into(), description: "Submit the plan of subtasks.".into(), input_schema: plan::schema() }];
    ask.tool_choice = Some(ToolChoice::tool(plan::PLAN_TOOL));
    let mut plan = None;
    let mut problems = Vec::new();
    for _ in 0..2 {
        ask.messages = messages.clone();
        let answer = match call(state, at, &charge, &ask).await? {
            Ok(answer) => answer,
            Err(failure) => return Ok(Err(failed(&failure))),
        };
        let used = answer.tool_use(plan::PLAN_TOOL).map(|(id, input)| (id.to_owned(), input.clone()));
        problems = match &used {
            None => vec![format!("no call of {}", plan::PLAN_TOOL)],
            Some((_, input)) => match plan::validate(input) {
                Ok(valid) => {
                    plan = Some(valid);
                    break;
                }
                Err(errors) => errors,
            },
        };
        let feedback =
            format!("The plan does not match the schema: {}. Call {} again with a corrected plan.", problems.join("; "), plan::PLAN_TOOL);
        messages.push(Message { role: Role::Assistant, content: answer.content.clone() });
        messages.push(Message {
            role: Role::User,
            content: vec![match used {
                Some((id, _)) => Block::ToolResult { tool_use_id: id, content: feedback, is_error: true },
                None => Block::Text { text: feedback },
            }],
        });
    }
    Ok(plan.ok_or_else(|| Outcome::Failed {
        error: format!("the plan did not match its schema twice: {}", problems.join("; ")),
        retry: false,
    }))
}

/// What an answer lacks: the JSON object or the headings asked for, or a size within bounds.
pub fn check_answer(text: &str, format: &str, sections: &[String], most: usize) -> Result<Json, Vec<String>> {
    let mut errors = Vec::new();
    if text.trim().is_empty() {
        errors.push("the answer is empty".to_owned());
    }
    if text.len() > most {
        errors.push(format!("the answer is {} bytes, more than {most}", text.len()));
    }
    let mut value = Json::String(text.to_owned());
    if format == "json" {
        let trimmed = text.trim();
        let body =
            trimmed.strip_prefix("```json").or_else(|| trimmed.strip_prefix("```")).and_then(|t| t.strip_suffix("```")).unwrap_or(trimmed);
        match serde_json::from_str::<Json>(body.trim()) {
            Ok(object @ Json::Object(_)) => value = object,
            Ok(_) => errors.push("the answer must be a JSON object".to_owned()),
            Err(error) => errors.push(format!("the answer is not JSON: {error}")),
        }
    }
    let headings: Vec<String> = text
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix('#'))
        .map(|h| h.trim_start_matches('#').trim().to_lowercase())
        .collect();
    for section in sections {
        if !headings.iter().any(|h| *h == section.to_lowercase()) {
            errors.push(format!("no \"{section}\" heading"));
        }
    }
    if errors.is_empty() { Ok(value) } else { Err(errors) }
}

/// Asks until an answer passes the checks, twice at most: the second time with what the first
/// lacked. The last answer's text and its problems, if any.
async fn ask_checked(
    state: &AppState,
    at: &Attempt<'_>,
    charge: &Charge,
    mut ask: Request,
    format: &str,
    sections: &[String],
) -> Result<Result<(Json, Vec<String>, u64), Failure>, ApiError> {
    let most = state.section::<SwarmsConfig>()?.result_bytes;
    let mut tokens = 0;
    for round in 0..2 {
        let answer = match call(state, at, charge, &ask).await? {
            Ok(answer) => answer,
            Err(failure) => return Ok(Err(failure)),
        };
        tokens += answer.usage.total();
        let text = answer.text();
        match check_answer(&text, format, sections, most) {
            Ok(value) => return Ok(Ok((value, Vec::new(), tokens))),
            // Kept to report, within the size a result may have.
            Err(errors) if round == 1 => return Ok(Ok((Json::String(truncated(text, most)), errors, tokens))),
            Err(errors) => {
                ask.messages.push(Message { role: Role::Assistant, content: vec![Block::Text { text }] });
                ask.messages.push(Message::user(format!("Your answer was not accepted: {}. Answer again, in full.", errors.join("; "))));
            }
        }
    }
    unreachable!("the loop returns by its second round")
}

/// `text` cut to at most `most` bytes, at a character's edge.
fn truncated(mut text: String, most: usize) -> String {
    if text.len() > most {
        let mut end = most;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn instructions(format: &str, sections: &[String]) -> String {
    let mut text = String::new();
    if format == "json" {
        text.push_str(" Answer with one JSON object and nothing else.");
    }
    if !sections.is_empty() {
        text.push_str(&format!(
            " Your answer must have these markdown headings: {}.",
            sections.iter().map(|s| format!("## {s}")).collect::<Vec<_>>().join(", ")
        ));
    }
    text
}

/// A subtask, a review or the synthesis, by the agent assigned to it.
async fn work(state: &AppState, at: &Attempt<'_>, writes: &mut Vec<Statement>) -> Result<Outcome, ApiError> {
    let Some(o) = orchestration(state, at.run).await? else {
        return Ok(Outcome::Failed { error: "the orchestration is gone".into(), retry: false });
    };
    let Some(part) = repo::part(state.db.as_ref(), at.run, &at.key).await? else {
        return Ok(Outcome::Failed { error: "no such part of the orchestration".into(), retry: false });
    };
    let mut q = Query::default();
    let (run, key, now) = (q.bind(at.run), q.bind(at.key.as_str()), q.bind(time::format(state.clock.now())));
    q.push(format!(
        "UPDATE orchestration_subtasks SET status = 'running', updated_at = {now} WHERE orchestration_id = {run} AND step_key = {key} \
         AND status = 'pending'"
    ));
    state.db.execute(at.guarded(q)).await?;
    let inputs = repo::inputs(state.db.as_ref(), at.run, &at.key).await?;
    let mut prompt = format!("Task: {}\n\nYour part: {}\n{}\n", o.task, part.title, part.description);
    for (key, title, status, result) in &inputs {
        prompt.push_str(&format!("\nResult of {key} ({title}, {status}):\n{}\n", result.as_deref().unwrap_or("(none)")));
    }
    let system = format!(
        "You are {}, a {} agent in a {} swarm of AI agents working on one task. Do your part and answer with its result only.{}",
        part.agent_name,
        part.agent_type.as_str(),
        o.topology.as_str(),
        instructions(&part.format, &part.sections)
    );
    let charge = Charge { purpose: part.role_purpose(), swarm: o.swarm, agent: Some(part.agent), orchestration: Some(at.run) };
    let started = state.clock.now();
    let ask = request(&o.model, o.max_tokens, system, vec![Message::user(prompt)]);
    let (value, errors, tokens) = match ask_checked(state, at, &charge, ask, &part.format, &part.sections).await? {
        Ok(answered) => answered,
        Err(failure) => return Ok(failed(&failure)),
    };
    let latency = (state.clock.now() - started).whole_milliseconds() as i64;
    let valid = errors.is_empty();
    let result = match &value {
        Json::String(text) => text.clone(),
        other => other.to_string(),
    };
    let now = time::format(state.clock.now());
    writes.push({
        let mut q = Query::default();
        let (run, key, status) = (q.bind(at.run), q.bind(at.key.as_str()), q.bind(if valid { "completed" } else { "invalid" }));
        let (result, errors, now) =
            (q.bind(result.as_str()), q.bind(if valid { Value::Null } else { json!(errors).to_string().into() }), q.bind(now.as_str()));
        q.push(format!(
            "UPDATE orchestration_subtasks SET status = {status}, result = {result}, validation_errors = {errors}, updated_at = {now} \
             WHERE orchestration_id = {run} AND step_key = {key}"
        ));
        at.guarded(q)
    });
    writes.push(outcome(at, o.swarm, part.agent, part.agent_type, part.kind, valid, latency, tokens, &now));
    if part.role == "synthesis" {
        let mut q = Query::default();
        let (run, result) = (q.bind(at.run), q.bind(result.as_str()));
        q.push(format!("UPDATE orchestrations SET result = {result} WHERE id = {run}"));
        writes.push(at.guarded(q));
    }
    Ok(Outcome::Done(json!({"agent_id": part.agent, "valid": valid, "result": value, "validation_errors": errors})))
}

#[expect(clippy::too_many_arguments, reason = "one row's columns")]
fn outcome(
    at: &Attempt<'_>,
    swarm: Uuid,
    agent: Uuid,
    agent_type: AgentType,
    kind: TaskKind,
    valid: bool,
    latency: i64,
    tokens: u64,
    now: &str,
) -> Statement {
    let mut q = Query::default();
    let (project, swarm, agent, agent_type) = (q.bind(at.project), q.bind(swarm), q.bind(agent), q.bind(agent_type.as_str()));
    let (kind, valid, latency, tokens, now) = (q.bind(kind.as_str()), q.bind(valid), q.bind(latency), q.bind(tokens as i64), q.bind(now));
    q.push(format!(
        "INSERT INTO agent_outcomes (project_id, swarm_id, agent_id, agent_type, task_kind, success, valid, latency_ms, tokens, created_at) \
         SELECT {project}, {swarm}, {agent}, {agent_type}, {kind}, {valid}, {valid}, {latency}, {tokens}, {now} WHERE true"
    ));
    at.guarded(q)
}

/// The longest task a user's `agent` step may give (what `Prompt` allows an orchestration).
pub const MAX_TASK_CHARS: usize = 10_000;

/// A user's `agent` step: `{swarm_id, task, agent_type?, format?, sections?}`, answered by one
/// agent of that swarm, which must be in the run's project.
async fn ask_one(state: &AppState, at: &Attempt<'_>, writes: &mut Vec<Statement>) -> Result<Outcome, ApiError> {
    let refused = |error: &str| Ok(Outcome::Failed { error: error.to_owned(), retry: false });
    let Some(swarm) = at.input["swarm_id"].as_str().and_then(|s| Uuid::parse_str(s).ok()) else {
        return refused("swarm_id must be the id of a swarm");
    };
    let Some(task) = at.input["task"].as_str().filter(|t| !t.trim().is_empty()) else { return refused("task must be a non-empty string") };
    if task.chars().count() > MAX_TASK_CHARS {
        return refused("task must be at most 10000 characters");
    }
    let wanted = match at.input["agent_type"].as_str() {
        None => None,
        Some(t) => match AgentType::parse(t) {
            Some(t) => Some(t),
            None => return refused("agent_type is not an agent type"),
        },
    };
    let format = at.input["format"].as_str().unwrap_or("text").to_owned();
    let sections: Vec<String> =
        at.input["sections"].as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default();
    if sections.len() > 8 || sections.iter().any(|s| s.chars().count() > 80) {
        return refused("sections must be at most 8 headings of at most 80 characters");
    }
    let Some((topology, strategy)) = repo::swarm_in_project(state.db.as_ref(), swarm, at.project).await? else {
        return refused("no such swarm in the run's project");
    };
    let agents = repo::candidates(state.db.as_ref(), swarm).await?;
    let kind = classify(task);
    let model = if strategy == "adaptive" { repo::latest_model(state.db.as_ref(), at.project).await? } else { None };
    let pick = wanted.or_else(|| model.as_ref().map(|m| m.rank(kind)[0].0)).or(kind.natural_type());
    let agent = agents
        .iter()
        .filter(|a| wanted.is_none() || Some(a.agent_type) == wanted)
        .min_by_key(|a| (Some(a.agent_type) != pick, a.load))
        .cloned();
    let Some(agent) = agent else { return refused("the swarm has no active agent of that type") };
    let config = state.section::<SwarmsConfig>()?;
    let settings = state.section::<ClaudeSettings>()?;
    let system = format!(
        "You are a {} agent in a {} swarm of AI agents. Answer with the result only.{}",
        agent.agent_type.as_str(),
        topology.as_str(),
        instructions(&format, &sections)
    );
    let ask = request(&settings.model, config.max_tokens, system, vec![Message::user(task)]);
    let charge = Charge { purpose: "agent_step", swarm, agent: Some(agent.id), orchestration: None };
    let started = state.clock.now();
    let (value, errors, tokens) = match ask_checked(state, at, &charge, ask, &format, &sections).await? {
        Ok(answered) => answered,
        Err(failure) => return Ok(failed(&failure)),
    };
    let latency = (state.clock.now() - started).whole_milliseconds() as i64;
    let now = time::format(state.clock.now());
    writes.push(outcome(at, swarm, agent.id, agent.agent_type, kind, errors.is_empty(), latency, tokens, &now));
    if !errors.is_empty() {
        return Ok(Outcome::Failed { error: format!("the answer was not accepted: {}", errors.join("; ")), retry: true });
    }
    Ok(Outcome::Done(json!({"agent_id": agent.id, "agent_type": agent.agent_type, "result": value})))
}

/// A vote's closing step: decided as soon as the votes settle it, or at its deadline.
async fn close_vote(state: &AppState, at: &Attempt<'_>, writes: &mut Vec<Statement>) -> Result<Outcome, ApiError> {
    let Some(vote) = repo::vote_state(state.db.as_ref(), at.run).await? else {
        return Ok(Outcome::Failed { error: "the vote is gone".into(), retry: false });
    };
    let now = state.clock.now();
    let closed = now >= vote.deadline;
    let (verdict, tally) = consensus::tally(vote.algorithm, vote.voters, &vote.votes, closed);
    let (status, decision) = match verdict {
        Verdict::Open => return Ok(Outcome::Wait(vote.deadline)),
        Verdict::Decided(value) => ("decided", Some(value)),
        Verdict::NoConsensus => ("no_consensus", None),
    };
    writes.push({
        let mut q = Query::default();
        let (id, status, decision) = (q.bind(vote.id), q.bind(status), q.bind(decision.clone()));
        let (tally, now) = (q.bind(tally.to_string()), q.bind(time::format(now)));
        q.push(format!(
            "UPDATE consensus SET status = {status}, decision = {decision}, tally = {tally}, closed_at = {now} \
             WHERE id = {id} AND status = 'open'"
        ));
        at.guarded(q)
    });
    Ok(Outcome::Done(json!({"status": status, "decision": decision, "tally": tally})))
}

/// What `close_vote` reads.
pub struct VoteState {
    pub id: Uuid,
    pub algorithm: Algorithm,
    pub voters: usize,
    pub deadline: Timestamp,
    pub votes: Vec<consensus::Vote>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_checked_for_json_headings_and_size() {
        assert!(check_answer("hello", "text", &[], 100).is_ok());
        assert_eq!(check_answer("```json\n{\"a\": 1}\n```", "json", &[], 100).unwrap(), json!({"a": 1}));
        assert!(check_answer("[1]", "json", &[], 100).is_err());
        assert!(check_answer("{oops", "json", &[], 100).is_err());
        let sections = vec!["Summary".to_owned(), "Risks".to_owned()];
        assert!(check_answer("## Summary\nx\n## Risks\ny", "text", &sections, 100).is_ok());
        let errors = check_answer("## Summary\nx", "text", &sections, 100).unwrap_err();
        assert_eq!(errors, ["no \"Risks\" heading"]);
        assert!(check_answer(&"x".repeat(101), "text", &[], 100).is_err());
    }

    #[test]
    fn the_guard_binds_the_claim_after_the_statements_own_values() {
        let claim = Claim { run: Uuid::nil(), key: "work-1".into(), attempt: 2, job: 7, lease: "until".into() };
        let mut q = Query::default();
        let (result, run) = (q.bind("done"), q.bind(claim.run));
        q.push(format!("UPDATE orchestrations SET result = {result} WHERE id = {run}"));
        let statement = claim.guarded(q);
        assert!(statement.sql.starts_with("UPDATE orchestrations SET result = ?1 WHERE id = ?2 AND EXISTS"), "{}", statement.sql);
        assert!(statement.sql.contains("run_id = ?3 AND key = ?4 AND state = 'running' AND attempt = ?5"), "{}", statement.sql);
        assert!(statement.sql.contains("id = ?6 AND lease_until = ?7"), "{}", statement.sql);
        let claimed: [Value; 5] = [claim.run.into(), "work-1".into(), 2_i64.into(), 7_i64.into(), "until".into()];
        assert_eq!(statement.params[2..], claimed);
    }

    #[test]
    fn kept_answers_are_cut_at_a_character_edge() {
        assert_eq!(truncated("héllo".into(), 2), "h");
        assert_eq!(truncated("héllo".into(), 3), "hé");
        assert_eq!(truncated("short".into(), 100), "short");
    }
}
