//! The Anthropic Messages API, over the Outbound port: typed requests and answers, retries with
//! backoff on what is worth retrying, and streamed answers read from their server-sent events.
//!
//! No crate for the Messages API runs on all three targets with a pluggable transport, so this
//! is serde structs over the one HTTP port every runtime already implements (fetch on Workers,
//! Spin's outbound HTTP, reqwest natively).

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::{
    config::{ConfigError, Lookup, Section},
    ports::{Clock, Outbound},
};

/// The API version every request names.
pub const API_VERSION: &str = "2023-06-01";

/// Where and how Claude is called: `ANTHROPIC_API_KEY` and `ANTHROPIC_BASE_URL`, the names
/// Anthropic's own SDKs read, and this service's `CLAUDE_*` settings.
#[derive(Clone)]
pub struct ClaudeSettings {
    /// Without a key, calls fail at once with [`Failure::NotConfigured`].
    pub api_key: Option<String>,
    pub base_url: String,
    /// The model a call uses unless it names one.
    pub model: String,
    /// The models a caller may name (`model` among them).
    pub models: Vec<String>,
    /// How long one HTTP attempt may take.
    pub timeout: Duration,
    /// Attempts after the first, on answers worth trying again.
    pub retries: u32,
    /// The first backoff; each next one doubles, with jitter.
    pub retry_base: Duration,
    /// The longest wait between attempts, whatever `retry-after` asks.
    pub retry_max: Duration,
}

/// Never prints the key.
impl std::fmt::Debug for ClaudeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaudeSettings")
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("models", &self.models)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Section for ClaudeSettings {
    /// `ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL` (`https://api.anthropic.com`), `CLAUDE_MODEL`
    /// (`claude-sonnet-4-5`), `CLAUDE_MODELS` (comma-separated others callers may name; none by
    /// default: tokens are budgeted, not prices), `CLAUDE_TIMEOUT_S` (120), `CLAUDE_RETRIES` (4),
    /// `CLAUDE_RETRY_BASE_MS` (1000), `CLAUDE_RETRY_MAX_S` (60).
    fn read(lookup: &Lookup<'_>) -> Result<Self, ConfigError> {
        let base_url = lookup.get("ANTHROPIC_BASE_URL").unwrap_or_else(|| "https://api.anthropic.com".into());
        let parsed = url::Url::parse(&base_url).map_err(|e| ConfigError::Invalid { name: "ANTHROPIC_BASE_URL", reason: e.to_string() })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ConfigError::Invalid { name: "ANTHROPIC_BASE_URL", reason: "must be an http(s) URL".into() });
        }
        let timeout = lookup.seconds("CLAUDE_TIMEOUT_S", 120)?;
        if timeout.is_zero() {
            return Err(ConfigError::Invalid { name: "CLAUDE_TIMEOUT_S", reason: "must be at least 1".into() });
        }
        let model = lookup.get("CLAUDE_MODEL").unwrap_or_else(|| "claude-sonnet-4-5".into());
        let mut models: Vec<String> = lookup
            .get("CLAUDE_MODELS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect();
        models.push(model.clone());
        Ok(Self {
            api_key: lookup.get("ANTHROPIC_API_KEY"),
            base_url: base_url.trim_end_matches('/').to_owned(),
            model,
            models,
            timeout,
            retries: lookup.number("CLAUDE_RETRIES", 4)?,
            retry_base: Duration::from_millis(lookup.number("CLAUDE_RETRY_BASE_MS", 1000)?.into()),
            retry_max: lookup.seconds("CLAUDE_RETRY_MAX_S", 60)?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// A content block of a message. Read by [`Block::read`] rather than a derived `Deserialize`: an
/// internally tagged enum's derived code is large, and every worker that runs agents carries it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: Json,
    },
    ToolResult {
        tool_use_id: String,
        content: String,
        is_error: bool,
    },
    /// Kinds this service does not read (thinking, server tools).
    #[serde(skip)]
    Other,
}

/// Why an answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// The API ended its stream with an `error` event; its message.
    #[error("{0}")]
    Stream(String),
    /// Not what the API documents: what is wrong with it.
    #[error("{0}")]
    Malformed(String),
}

fn malformed(what: impl Into<String>) -> AnswerError {
    AnswerError::Malformed(what.into())
}

impl Block {
    /// A block as the API sends it.
    pub fn read(value: &Json) -> Result<Self, AnswerError> {
        let text = |name: &str| value[name].as_str().map(str::to_owned).ok_or_else(|| malformed(format!("a block without {name}")));
        Ok(match value["type"].as_str() {
            Some("text") => Self::Text { text: text("text")? },
            Some("tool_use") => Self::ToolUse { id: text("id")?, name: text("name")?, input: value["input"].clone() },
            Some("tool_result") => Self::ToolResult {
                tool_use_id: text("tool_use_id")?,
                content: text("content")?,
                is_error: value["is_error"].as_bool().unwrap_or(false),
            },
            Some(_) => Self::Other,
            None => return Err(malformed("a block without a type")),
        })
    }
}

fn blocks<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<Block>, D::Error> {
    let values = Vec::<Json>::deserialize(deserializer)?;
    values.iter().map(Block::read).collect::<Result<_, _>>().map_err(serde::de::Error::custom)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Block>,
}

impl Message {
    pub fn user(text: impl Into<String>) -> Self {
        Self { role: Role::User, content: vec![Block::Text { text: text.into() }] }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: String,
    pub description: String,
    pub input_schema: Json,
}

/// Forces one tool: the documented way to get an answer in a given JSON shape.
#[derive(Debug, Clone, Serialize)]
pub struct ToolChoice {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
}

impl ToolChoice {
    pub fn tool(name: impl Into<String>) -> Self {
        Self { kind: "tool", name: name.into() }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Request {
    pub model: String,
    pub max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    pub messages: Vec<Message>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Asks for server-sent events: long answers keep the connection busy instead of idle.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Response {
    #[serde(deserialize_with = "blocks")]
    pub content: Vec<Block>,
    #[serde(default)]
    pub usage: Usage,
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub model: String,
}

impl Response {
    /// The text blocks, joined.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|b| match b {
                Block::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("")
    }

    /// The first call of tool `name`: its id and input.
    pub fn tool_use(&self, name: &str) -> Option<(&str, &Json)> {
        self.content.iter().find_map(|b| match b {
            Block::ToolUse { id, name: n, input } if n == name => Some((id.as_str(), input)),
            _ => None,
        })
    }
}

/// Why a call gave no answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Failure {
    #[error("Claude is not configured here (ANTHROPIC_API_KEY is not set)")]
    NotConfigured,
    /// An answer that trying again would not change (a 4xx other than 408 and 429).
    #[error("Claude refused the call ({status}): {message}")]
    Refused { status: u16, message: String },
    /// Every attempt failed with something worth retrying; the last one said this.
    #[error("Claude did not answer: {last}")]
    Exhausted { last: String },
    /// The caller's meter allowed no (further) attempt; it says why.
    #[error("{0}")]
    Unmetered(Refusal),
}

impl Failure {
    /// Whether a later try (another step attempt, minutes on) may succeed.
    pub fn transient(&self) -> bool {
        matches!(self, Self::Exhausted { .. })
    }
}

/// A call: its answer or why none, and what it took.
#[derive(Debug, Clone)]
pub struct Call {
    pub result: Result<Response, Failure>,
    /// Attempts made.
    pub attempts: u32,
    /// Attempts cut off after the request went out (timed out, connection lost): Claude may
    /// have worked on them, and their tokens are unknown.
    pub cut_off: u32,
    pub latency: Duration,
}

/// What decides, before each attempt, whether it may be made: the caller's budget, held one
/// attempt at a time, so that retries cannot spend what was held for one.
#[async_trait::async_trait]
pub trait Meter: Send + Sync {
    /// `Err` with the reason when the attempt may not be made.
    async fn allow(&self) -> Result<(), Refusal>;
}

/// Why a meter allows no attempt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The daily token budget of the user the call is for is spent: the code `budget_exhausted`
    /// leads the message, as it does in the API's refusals.
    #[error("budget_exhausted: the daily token budget of the run's creator is spent")]
    BudgetExhausted,
    /// The budget could not be read; why.
    #[error("the budget could not be checked: {0}")]
    Unchecked(String),
}

/// One attempt's result: an answer, or why not and whether (and after how long) to try again.
enum Attempt {
    Answered(Response),
    /// `sent`: the request went out and the answer was lost (Claude may have worked on it).
    Retry {
        error: String,
        after: Option<Duration>,
        sent: bool,
    },
    Refused {
        status: u16,
        message: String,
    },
}

/// Whether an HTTP status is worth another attempt: rate limited (429), overloaded (529), the
/// server failing (5xx), or a request timeout (408).
pub fn retryable(status: u16) -> bool {
    matches!(status, 408 | 429) || (500..=599).contains(&status)
}

/// The wait before attempt `next` (2 for the first retry): what `retry-after` asks, if it
/// does, else `base` doubling each time with full jitter in its upper half; never beyond `max`.
pub fn backoff(next: u32, retry_after: Option<Duration>, base: Duration, max: Duration, unit_random: f64) -> Duration {
    let wait = match retry_after {
        Some(after) => after,
        None => {
            let exponential = base.saturating_mul(1u32 << next.saturating_sub(2).min(16));
            exponential.mul_f64(0.5 + 0.5 * unit_random.clamp(0.0, 1.0))
        }
    };
    wait.min(max)
}

/// The least time an attempt is started with: less, and it would be cut off before Claude could
/// answer, at the full cost of its tokens.
pub const LEAST_ATTEMPT: Duration = Duration::from_secs(1);

/// Calls Claude: every attempt within `budget` (the time the caller can give), each cut off at
/// the configured timeout, and each made only if `meter` allows it.
pub async fn call(
    outbound: &dyn Outbound,
    clock: &dyn Clock,
    settings: &ClaudeSettings,
    request: &Request,
    budget: Duration,
    meter: &dyn Meter,
) -> Call {
    let started = clock.now();
    let elapsed = || -> Duration { (clock.now() - started).try_into().unwrap_or_default() };
    let (mut attempts, mut cut_off) = (0, 0);
    let result = 'call: {
        let Some(key) = settings.api_key.as_deref() else { break 'call Err(Failure::NotConfigured) };
        let body = match serde_json::to_vec(request) {
            Ok(body) => Bytes::from(body),
            Err(error) => break 'call Err(Failure::Refused { status: 0, message: error.to_string() }),
        };
        loop {
            let left = budget.saturating_sub(elapsed());
            if left < LEAST_ATTEMPT {
                break 'call Err(Failure::Exhausted { last: "no time left for an attempt".into() });
            }
            if let Err(reason) = meter.allow().await {
                break 'call Err(Failure::Unmetered(reason));
            }
            attempts += 1;
            let (error, after) = match attempt(outbound, settings, key, body.clone(), request.stream, settings.timeout.min(left)).await {
                Attempt::Answered(response) => break 'call Ok(response),
                Attempt::Refused { status, message } => break 'call Err(Failure::Refused { status, message }),
                Attempt::Retry { error, after, sent } => {
                    cut_off += u32::from(sent);
                    (error, after)
                }
            };
            let wait = backoff(attempts + 1, after, settings.retry_base, settings.retry_max, crate::time::unit_random());
            if attempts > settings.retries || elapsed() + wait + LEAST_ATTEMPT >= budget {
                break 'call Err(Failure::Exhausted { last: format!("{error} (after {attempts} attempts)") });
            }
            tracing::info!(attempt = attempts, wait_ms = wait.as_millis() as u64, %error, "retrying a Claude call");
            crate::adapters::sleep(wait).await;
        }
    };
    Call { result, attempts, cut_off, latency: elapsed() }
}

async fn attempt(outbound: &dyn Outbound, settings: &ClaudeSettings, key: &str, body: Bytes, stream: bool, timeout: Duration) -> Attempt {
    let request = http::Request::post(format!("{}/v1/messages", settings.base_url))
        .header("x-api-key", key)
        .header("anthropic-version", API_VERSION)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body);
    let request = match request {
        Ok(request) => request,
        Err(error) => return Attempt::Refused { status: 0, message: error.to_string() },
    };
    let call = outbound.send(request);
    let cutoff = crate::adapters::sleep(timeout);
    let response = match futures_util::future::select(Box::pin(call), Box::pin(cutoff)).await {
        futures_util::future::Either::Left((Ok(response), _)) => response,
        futures_util::future::Either::Left((Err(error), _)) => return Attempt::Retry { error: error.to_string(), after: None, sent: true },
        futures_util::future::Either::Right(_) => {
            return Attempt::Retry { error: format!("no answer within {} s", timeout.as_secs_f64()), after: None, sent: true };
        }
    };
    let status = response.status().as_u16();
    let after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64);
    let body = response.into_body();
    if !(200..300).contains(&status) {
        let message = error_message(&body);
        return if retryable(status) {
            Attempt::Retry { error: format!("{status}: {message}"), after, sent: false }
        } else {
            Attempt::Refused { status, message }
        };
    }
    let parsed = if stream { from_events(&body) } else { serde_json::from_slice::<Response>(&body).map_err(|e| malformed(e.to_string())) };
    match parsed {
        Ok(response) => Attempt::Answered(response),
        // A garbled answer is the server's fault, and may not happen again.
        Err(error) => Attempt::Retry { error: format!("malformed answer: {error}"), after: None, sent: true },
    }
}

/// The `error.message` of an API error body, or the start of whatever it is.
fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<Json>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned())
}

/// Rebuilds a message from its stream of server-sent events (`message_start`, content blocks
/// started, extended by deltas and stopped, `message_delta` with the stop reason and output
/// tokens); an `error` event, or a stream that ends before `message_stop`, is a failed attempt.
pub fn from_events(body: &[u8]) -> Result<Response, AnswerError> {
    let text = std::str::from_utf8(body).map_err(|e| malformed(e.to_string()))?;
    let mut message: Option<Response> = None;
    // Tool inputs arrive as pieces of JSON text, parsed when their block stops.
    let mut partial: Vec<String> = Vec::new();
    let mut stopped = false;
    for data in text.lines().filter_map(|line| line.strip_prefix("data:")) {
        let event: Json = serde_json::from_str(data.trim()).map_err(|e| malformed(format!("event data: {e}")))?;
        match event["type"].as_str().unwrap_or_default() {
            "message_start" => message = Some(serde_json::from_value(event["message"].clone()).map_err(|e| malformed(e.to_string()))?),
            "content_block_start" => {
                let block = Block::read(&event["content_block"])?;
                let current = message.as_mut().ok_or_else(|| malformed("a block before message_start"))?;
                current.content.push(block);
                partial.push(String::new());
            }
            "content_block_delta" => {
                let index = event["index"].as_u64().ok_or_else(|| malformed("a delta without an index"))? as usize;
                let current = message.as_mut().ok_or_else(|| malformed("a delta before message_start"))?;
                let delta = &event["delta"];
                match (current.content.get_mut(index), delta["type"].as_str()) {
                    (Some(Block::Text { text }), Some("text_delta")) => text.push_str(delta["text"].as_str().unwrap_or_default()),
                    (Some(Block::ToolUse { .. }), Some("input_json_delta")) => {
                        partial[index].push_str(delta["partial_json"].as_str().unwrap_or_default());
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                let index = event["index"].as_u64().ok_or_else(|| malformed("a stop without an index"))? as usize;
                let current = message.as_mut().ok_or_else(|| malformed("a stop before message_start"))?;
                if let (Some(Block::ToolUse { input, .. }), Some(json)) = (current.content.get_mut(index), partial.get(index))
                    && !json.is_empty()
                {
                    *input = serde_json::from_str(json).map_err(|e| malformed(format!("tool input: {e}")))?;
                }
            }
            "message_delta" => {
                let current = message.as_mut().ok_or_else(|| malformed("a delta before message_start"))?;
                if let Some(reason) = event["delta"]["stop_reason"].as_str() {
                    current.stop_reason = Some(reason.to_owned());
                }
                if let Some(tokens) = event["usage"]["output_tokens"].as_u64() {
                    current.usage.output_tokens = tokens;
                }
            }
            "message_stop" => stopped = true,
            "error" => return Err(AnswerError::Stream(event["error"]["message"].as_str().unwrap_or("error event").to_owned())),
            _ => {}
        }
    }
    match message {
        Some(message) if stopped => Ok(message),
        _ => Err(malformed("the stream ended before message_stop")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_worth_retrying_are_rate_limits_overload_server_errors_and_timeouts() {
        for status in [408, 429, 500, 502, 503, 529] {
            assert!(retryable(status), "{status}");
        }
        for status in [400, 401, 403, 404, 413, 422] {
            assert!(!retryable(status), "{status}");
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_retry_after_wins_within_the_cap() {
        let (base, max) = (Duration::from_millis(100), Duration::from_secs(2));
        assert_eq!(backoff(2, None, base, max, 1.0), Duration::from_millis(100));
        assert_eq!(backoff(3, None, base, max, 1.0), Duration::from_millis(200));
        assert_eq!(backoff(4, None, base, max, 0.0), Duration::from_millis(200));
        assert_eq!(backoff(20, None, base, max, 1.0), max);
        assert_eq!(backoff(2, Some(Duration::from_secs(1)), base, max, 0.3), Duration::from_secs(1));
        assert_eq!(backoff(2, Some(Duration::from_secs(30)), base, max, 0.3), max);
    }

    #[test]
    fn a_stream_is_rebuilt_into_the_message_it_carries() {
        let body = concat!(
            "event: message_start\n",
            r#"data: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"model":"claude","usage":{"input_tokens":12,"output_tokens":1}}}"#,
            "\n\nevent: content_block_start\n",
            r#"data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            "\n\n",
            r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello, "}}"#,
            "\n\n",
            r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"world"}}"#,
            "\n\n",
            r#"data: {"type":"content_block_stop","index":0}"#,
            "\n\n",
            r#"data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"plan","input":{}}}"#,
            "\n\n",
            r#"data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\": "}}"#,
            "\n\n",
            r#"data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"[1, 2]}"}}"#,
            "\n\n",
            r#"data: {"type":"content_block_stop","index":1}"#,
            "\n\n",
            r#"data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":34}}"#,
            "\n\n",
            r#"data: {"type":"message_stop"}"#,
            "\n\n"
        );
        let message = from_events(body.as_bytes()).unwrap();
        assert_eq!(message.text(), "Hello, world");
        assert_eq!(message.tool_use("plan").map(|(_, input)| input.clone()), Some(serde_json::json!({"a": [1, 2]})));
        assert_eq!(message.usage, Usage { input_tokens: 12, output_tokens: 34 });
        assert_eq!(message.stop_reason.as_deref(), Some("end_turn"));
    }

    #[test]
    fn a_cut_or_failed_stream_is_an_error() {
        let start = r#"data: {"type":"message_start","message":{"content":[],"usage":{"input_tokens":1}}}"#;
        assert!(from_events(start.as_bytes()).is_err());
        let failed =
            format!("{start}\n\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}}}\n\n");
        assert_eq!(from_events(failed.as_bytes()).unwrap_err(), AnswerError::Stream("Overloaded".into()));
    }

    struct Refusing;

    #[async_trait::async_trait]
    impl Meter for Refusing {
        async fn allow(&self) -> Result<(), Refusal> {
            Err(Refusal::BudgetExhausted)
        }
    }

    struct Unreachable;

    #[async_trait::async_trait]
    impl Outbound for Unreachable {
        async fn send(&self, _: http::Request<Bytes>) -> Result<http::Response<Bytes>, crate::ports::OutboundError> {
            unreachable!("a refused attempt is never sent")
        }
    }

    #[tokio::test]
    async fn a_spent_budget_stops_a_call_before_its_first_attempt() {
        let settings = ClaudeSettings {
            api_key: Some("key".into()),
            base_url: "http://claude.invalid".into(),
            model: "m".into(),
            models: vec!["m".into()],
            timeout: Duration::from_secs(10),
            retries: 2,
            retry_base: Duration::from_millis(1),
            retry_max: Duration::from_millis(1),
        };
        let request = Request {
            model: "m".into(),
            max_tokens: 10,
            system: None,
            messages: vec![Message::user("hi")],
            tools: Vec::new(),
            tool_choice: None,
            stream: false,
        };
        let call = call(&Unreachable, &crate::ports::SystemClock, &settings, &request, Duration::from_secs(60), &Refusing).await;
        assert_eq!((call.result.unwrap_err(), call.attempts), (Failure::Unmetered(Refusal::BudgetExhausted), 0));
    }

    #[test]
    fn requests_say_what_the_api_expects() {
        let request = Request {
            model: "m".into(),
            max_tokens: 10,
            system: None,
            messages: vec![Message::user("hi")],
            tools: vec![Tool { name: "plan".into(), description: "d".into(), input_schema: serde_json::json!({"type": "object"}) }],
            tool_choice: Some(ToolChoice::tool("plan")),
            stream: false,
        };
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(json["tool_choice"], serde_json::json!({"type": "tool", "name": "plan"}));
        assert_eq!(json["messages"][0]["content"][0], serde_json::json!({"type": "text", "text": "hi"}));
        assert!(json.get("stream").is_none() && json.get("system").is_none());
        assert_eq!(Block::read(&serde_json::json!({"type": "thinking", "thinking": "..."})), Ok(Block::Other));
        let used = serde_json::json!({"type": "tool_use", "id": "t", "name": "plan", "input": {"a": 1}});
        assert_eq!(serde_json::to_value(Block::read(&used).unwrap()).unwrap(), used);
    }
}
