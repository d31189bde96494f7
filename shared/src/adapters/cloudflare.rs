//! Cloudflare Workers: D1 or Turso (Hrana over `fetch`) for the database, `fetch` for outbound
//! HTTP, the JS clock, and the entry that serves a group's router.
//!
//! Connection pooling: none to do. A D1 binding and Hrana over HTTP are per request; the
//! isolate keeps only the binding handles, built once with the router.

use std::{cell::RefCell, future::Future, sync::Arc};

use async_trait::async_trait;
use axum::{Router, body::Body, response::IntoResponse};
use bytes::Bytes;
use wasm_bindgen::{JsCast, JsValue};
use worker::{D1Database, Env, HttpRequest, worker_sys::web_sys};

use super::{
    edge::{self, SendWrapper},
    hrana::Hrana,
};
use crate::{
    ApiError, AppState,
    db::{Database, DbError, DbResult, Row, Statement, Value},
    http::extract::ClientAddr,
    ports::{Clock, CoordinatorError, Coordinators, JobWaker, MAX_RESPONSE_BYTES, Outbound, OutboundError},
    ratelimit::{Decision, LimiterError, RateLimiter, Rule, Window},
    state::{Platform, Services, StartError},
    time::{Timestamp, from_unix_ms},
};

/// The `Database` port over a D1 binding.
pub struct D1(SendWrapper<D1Database>);

fn d1_error(error: worker::Error) -> DbError {
    DbError::from_message(error.to_string())
}

impl D1 {
    fn prepare(&self, stmt: &Statement) -> DbResult<worker::D1PreparedStatement> {
        let params: Vec<JsValue> = stmt
            .params
            .iter()
            .map(|value| match value {
                Value::Null => JsValue::NULL,
                // D1 takes JS numbers, exact up to 2^53: every integer this service stores.
                Value::Integer(i) => JsValue::from_f64(*i as f64),
                Value::Real(r) => JsValue::from_f64(*r),
                Value::Text(t) => JsValue::from_str(t),
                Value::Blob(b) => js_sys::Uint8Array::from(b.as_slice()).into(),
            })
            .collect();
        self.0.prepare(stmt.sql.as_ref()).bind(&params).map_err(d1_error)
    }
}

fn value(json: serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Integer(b.into()),
        serde_json::Value::Number(n) => n.as_i64().map_or_else(|| Value::Real(n.as_f64().unwrap_or_default()), Value::Integer),
        serde_json::Value::String(s) => Value::Text(s),
        serde_json::Value::Array(bytes) => Value::Blob(bytes.iter().map(|b| b.as_u64().unwrap_or_default() as u8).collect()),
        other @ serde_json::Value::Object(_) => Value::Text(other.to_string()),
    }
}

fn changes(result: &worker::D1Result) -> u64 {
    result.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0) as u64
}

#[async_trait]
impl Database for D1 {
    async fn query(&self, stmt: Statement) -> DbResult<Vec<Row>> {
        SendWrapper::new(async move {
            let prepared = self.prepare(&stmt)?;
            let statement: &RawStatement = prepared.inner().unchecked_ref();
            let options = js_sys::Object::new();
            js_sys::Reflect::set(&options, &"columnNames".into(), &JsValue::TRUE).map_err(|e| d1_error(e.into()))?;
            let answer = async { js_sys::futures::JsFuture::from(statement.raw(&options)?).await };
            let table = answer.await.map_err(|e| d1_error(e.into()))?;
            let table: Vec<Vec<serde_json::Value>> = serde_wasm_bindgen::from_value(table).map_err(|e| DbError::decode(e.to_string()))?;
            let mut lines = table.into_iter();
            let names: Arc<[String]> =
                lines.next().unwrap_or_default().into_iter().map(|name| name.as_str().unwrap_or_default().to_owned()).collect();
            Ok(lines.map(|row| Row::new(names.clone(), row.into_iter().map(value).collect())).collect())
        })
        .await
    }

    async fn execute(&self, stmt: Statement) -> DbResult<u64> {
        SendWrapper::new(async move { Ok(changes(&self.prepare(&stmt)?.run().await.map_err(d1_error)?)) }).await
    }

    fn status(&self) -> crate::db::Backend {
        crate::db::Backend { kind: "d1", last_error: None }
    }

    /// D1 runs a batch as one transaction.
    async fn batch(&self, stmts: Vec<Statement>) -> DbResult<Vec<u64>> {
        SendWrapper::new(async move {
            let prepared = stmts.iter().map(|s| self.prepare(s)).collect::<DbResult<Vec<_>>>()?;
            let results = self.0.batch(prepared).await.map_err(d1_error)?;
            Ok(results.iter().map(changes).collect())
        })
        .await
    }
}

/// Outbound HTTP through the Workers `fetch`.
pub struct Fetch;

#[async_trait]
impl Outbound for Fetch {
    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, OutboundError> {
        SendWrapper::new(async move {
            let fail = |e: worker::Error| OutboundError(e.to_string());
            let (parts, body) = request.into_parts();
            let headers = worker::Headers::new();
            for (name, value) in &parts.headers {
                headers.append(name.as_str(), value.to_str().unwrap_or_default()).map_err(fail)?;
            }
            let mut init = worker::RequestInit::new();
            init.with_method(worker::Method::from(parts.method.to_string()))
                .with_headers(headers)
                .with_redirect(worker::RequestRedirect::Manual);
            if !body.is_empty() {
                init.with_body(Some(js_sys::Uint8Array::from(body.as_ref()).into()));
            }
            let request = worker::Request::new_with_init(&parts.uri.to_string(), &init).map_err(fail)?;
            let mut response = worker::Fetch::Request(request).send().await.map_err(fail)?;
            let mut builder = http::Response::builder().status(response.status_code());
            for (name, value) in response.headers().entries() {
                builder = builder.header(name, value);
            }
            let too_large = || OutboundError(format!("the response body is over {MAX_RESPONSE_BYTES} bytes"));
            let declared = response.headers().get("content-length").ok().flatten().and_then(|n| n.parse::<usize>().ok());
            if declared.is_some_and(|n| n > MAX_RESPONSE_BYTES) {
                return Err(too_large());
            }
            let bytes = match response.stream() {
                Ok(mut stream) => {
                    let mut body = Vec::new();
                    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
                        let chunk = chunk.map_err(fail)?;
                        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                            return Err(too_large());
                        }
                        body.extend_from_slice(&chunk);
                    }
                    body
                }
                // Not a stream: a body already whole (or none).
                Err(_) => response.bytes().await.map_err(fail)?,
            };
            builder.body(Bytes::from(bytes)).map_err(|e| OutboundError(e.to_string()))
        })
        .await
    }
}

/// One rate-limit counter per key: Workers route every hit on a key to the same object, which
/// handles them one at a time, so the count is exact without transactions.
#[worker::durable_object]
pub struct RateLimitCounter {
    state: worker::State,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Hit {
    limit: u32,
    window_ms: u64,
    now_ms: i64,
}

impl worker::DurableObject for RateLimitCounter {
    fn new(state: worker::State, _: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, mut request: worker::Request) -> worker::Result<worker::Response> {
        let hit: Hit = request.json().await?;
        let rule = Rule { limit: hit.limit, window: std::time::Duration::from_millis(hit.window_ms) };
        let storage = self.state.storage();
        let current: Option<Window> = storage.get("window").await?;
        let (window, decision) = Window::hit(current, hit.now_ms, rule);
        storage.put("window", window).await?;
        // Forget the key once its window has ended, so idle keys cost no storage.
        storage.set_alarm(std::time::Duration::from_millis(hit.window_ms)).await?;
        worker::Response::from_json(&decision)
    }

    async fn alarm(&self) -> worker::Result<worker::Response> {
        self.state.storage().delete_all().await?;
        worker::Response::empty()
    }
}

/// The `RateLimiter` port over the `RATE_LIMITER` Durable Object namespace.
pub struct DurableLimiter(SendWrapper<worker::ObjectNamespace>);

#[async_trait]
impl RateLimiter for DurableLimiter {
    async fn hit(&self, key: &str, rule: Rule, now_ms: i64) -> Result<Decision, LimiterError> {
        SendWrapper::new(async move {
            let fail = |e: worker::Error| LimiterError::Unavailable(e.to_string());
            let stub = self.0.id_from_name(key).map_err(fail)?.get_stub().map_err(fail)?;
            let body = serde_json::to_string(&Hit { limit: rule.limit, window_ms: rule.window_ms().unsigned_abs(), now_ms })
                .map_err(|e| LimiterError::Unavailable(e.to_string()))?;
            let mut init = worker::RequestInit::new();
            init.with_method(worker::Method::Post).with_body(Some(JsValue::from_str(&body)));
            let request = worker::Request::new_with_init("https://rate-limiter/hit", &init).map_err(fail)?;
            let mut response = stub.fetch_with_request(request).await.map_err(fail)?;
            response.json().await.map_err(fail)
        })
        .await
    }
}

/// The queue whose messages wake the consumer that drains the jobs table.
pub const JOBS_BINDING: &str = "JOBS";

/// The Durable Object whose alarm wakes the consumer for a job due later than a queue message
/// can be delayed (the workflows worker's `JobTimer`).
pub const JOB_TIMER_BINDING: &str = "JOB_TIMER";

/// The longest a queue message can be delayed (12 h); `WORKFLOWS_QUEUE_DELAY_MAX_S` lowers it,
/// which the tests do so that the alarm path runs too.
const MAX_QUEUE_DELAY_S: u64 = 12 * 3600;

/// The `JobWaker` port over a Cloudflare Queue: a message, delayed until the job is due, tells
/// the consumer to drain. Messages carry no job: the table says what is due. A job due later
/// than a message can wait is left to the `JobTimer` alarm, where the worker binds it, and in any
/// case to the cron trigger's drain.
pub struct QueueWaker {
    queue: SendWrapper<worker::Queue>,
    timer: Option<SendWrapper<worker::ObjectNamespace>>,
    max_delay_s: u64,
}

impl QueueWaker {
    fn new(env: &Env, queue: worker::Queue) -> Self {
        let max_delay_s =
            lookup(env, "WORKFLOWS_QUEUE_DELAY_MAX_S").and_then(|s| s.parse().ok()).unwrap_or(MAX_QUEUE_DELAY_S).min(MAX_QUEUE_DELAY_S);
        let timer = env.durable_object(JOB_TIMER_BINDING).ok().map(SendWrapper::new);
        Self { queue: SendWrapper::new(queue), timer, max_delay_s }
    }
}

#[async_trait]
impl JobWaker for QueueWaker {
    async fn wake(&self, after: std::time::Duration) {
        let seconds = after.as_secs_f64().ceil() as u64;
        let woke = SendWrapper::new(async move {
            if seconds <= self.max_delay_s {
                let message = worker::MessageBuilder::new(serde_json::json!({"wake": true})).delay_seconds(seconds as u32).build();
                return self.queue.send(message).await;
            }
            let Some(timer) = &self.timer else { return Ok(()) };
            let at = js_sys::Date::now() + after.as_millis() as f64;
            let stub = timer.id_from_name("jobs")?.get_stub()?;
            let mut init = worker::RequestInit::new();
            init.with_method(worker::Method::Post).with_body(Some(JsValue::from_str(&(at as i64).to_string())));
            stub.fetch_with_request(worker::Request::new_with_init("https://job-timer/at", &init)?).await.map(drop)
        })
        .await;
        if let Err(error) = woke {
            tracing::warn!(%error, "waking the jobs consumer failed; the cron trigger's drain finds the job");
        }
    }
}

/// The Durable Object namespace of swarms' coordinators (one object per swarm).
pub const COORDINATOR_BINDING: &str = "SWARM_COORDINATOR";

/// The `Coordinators` port over a Durable Object namespace: each key's requests go to the one
/// object named by it.
pub struct DurableCoordinators(SendWrapper<worker::ObjectNamespace>);

#[async_trait]
impl Coordinators for DurableCoordinators {
    async fn send(&self, key: uuid::Uuid, request: serde_json::Value) -> Result<serde_json::Value, CoordinatorError> {
        SendWrapper::new(async move {
            let fail = |e: worker::Error| CoordinatorError::Unreachable(e.to_string());
            let stub = self.0.id_from_name(&key.to_string()).map_err(fail)?.get_stub().map_err(fail)?;
            let mut init = worker::RequestInit::new();
            init.with_method(worker::Method::Post).with_body(Some(JsValue::from_str(&request.to_string())));
            let request = worker::Request::new_with_init("https://coordinator/", &init).map_err(fail)?;
            let mut response = stub.fetch_with_request(request).await.map_err(fail)?;
            if response.status_code() != 200 {
                return Err(CoordinatorError::Failed { status: response.status_code(), body: response.text().await.unwrap_or_default() });
            }
            response.json().await.map_err(fail)
        })
        .await
    }
}

/// `Date.now()`: workerd's clock, which advances between I/O rather than during computation.
pub struct JsClock;

impl Clock for JsClock {
    fn now(&self) -> Timestamp {
        from_unix_ms(js_sys::Date::now() as i64)
    }
}

fn lookup(env: &Env, name: &str) -> Option<String> {
    env.secret(name).ok().map(|s| s.to_string()).or_else(|| env.var(name).ok().map(|v| v.to_string()))
}

/// The services of a group, from the worker's bindings: Turso when `TURSO_DATABASE_URL` is
/// set, the `DB` D1 binding otherwise.
/// The services of `group` over a worker's bindings (also what a Durable Object of the group
/// assembles).
pub fn services(group: &'static str, env: &Env) -> Result<Services, StartError> {
    let outbound: Arc<dyn Outbound> = Arc::new(Fetch);
    let db: Arc<dyn Database> = match lookup(env, "TURSO_DATABASE_URL").filter(|u| !u.is_empty()) {
        Some(url) => Arc::new(Hrana::new(&url, lookup(env, "TURSO_AUTH_TOKEN"), outbound.clone())),
        None => Arc::new(D1(SendWrapper::new(env.d1("DB").map_err(|e| StartError::Binding { name: "DB", reason: e.to_string() })?))),
    };
    // Workers that serve limited routes bind the counters' Durable Objects; others count in SQL.
    let limiter: Option<Arc<dyn RateLimiter>> = match env.durable_object("RATE_LIMITER") {
        Ok(namespace) => Some(Arc::new(DurableLimiter(SendWrapper::new(namespace)))),
        Err(_) => None,
    };
    // Workers that run durable jobs produce to their queue; the others never wake it.
    let jobs: Option<Arc<dyn JobWaker>> = match env.queue(JOBS_BINDING) {
        Ok(queue) => Some(Arc::new(QueueWaker::new(env, queue))),
        Err(_) => None,
    };
    // Workers that run swarms' agent steps bind their coordinators.
    let coordinators: Option<Arc<dyn Coordinators>> = match env.durable_object(COORDINATOR_BINDING) {
        Ok(namespace) => Some(Arc::new(DurableCoordinators(SendWrapper::new(namespace)))),
        Err(_) => None,
    };
    let env = SendWrapper::new(env.clone());
    let settings = Arc::new(move |name: &str| lookup(&env, name));
    // Workers reach only the public internet: fetch cannot connect to a private network.
    let platform =
        Platform { settings, db, clock: Arc::new(JsClock), outbound, public_outbound: None, passwords: None, limiter, jobs, coordinators };
    Services::assemble(platform, group)
}

thread_local! {
    /// The router, built on an isolate's first request and reused while the isolate lives.
    static APP: RefCell<Option<Router>> = const { RefCell::new(None) };
}

async fn app(group: &'static str, build: fn(AppState) -> Router, env: &Env) -> Result<Router, ApiError> {
    if let Some(app) = APP.with(|app| app.borrow().clone()) {
        return Ok(app);
    }
    let app = edge::start(services(group, env), build).await?;
    APP.with(|slot| *slot.borrow_mut() = Some(app.clone()));
    Ok(app)
}

static TRACING: std::sync::Once = std::sync::Once::new();

/// Sends `tracing` output to the console, which Workers collects as logs.
fn init_tracing() {
    TRACING.call_once(|| {
        // Warnings and errors only: every span and event costs calls into JS (console, and
        // performance marks), which showed as most of a request's time under workerd.
        let config = tracing_wasm::WASMLayerConfigBuilder::new()
            .set_max_level(tracing::Level::WARN)
            .set_report_logs_in_timings(false)
            .set_console_config(tracing_wasm::ConsoleConfig::ReportWithoutConsoleColor)
            .build();
        tracing_wasm::set_as_global_default_with_config(config);
    });
}

/// The worker's bindings, in each request's extensions, for a group's own Workers adapter (the
/// real-time group reaches its hub Durable Objects through them).
#[derive(Clone)]
pub struct WorkerEnv(pub SendWrapper<Env>);

/// The binding of the real-time hubs, which every worker that writes binds, and how many shards
/// of hubs there are (`REALTIME_HUB_SHARDS`, default 1): connections are spread over them by
/// user, and every write wakes each.
pub const HUB_BINDING: &str = "HUB";

pub fn hub_shards(env: &Env) -> u32 {
    lookup(env, "REALTIME_HUB_SHARDS").and_then(|n| n.parse().ok()).filter(|n| *n > 0).unwrap_or(1)
}

pub fn hub_name(shard: u32) -> String {
    format!("hub-{shard}")
}

/// Tells every hub that the event log may have grown. The hubs read the log themselves (and on
/// an alarm), so a wake that fails delays events; it loses none.
async fn wake_hubs(env: Env) {
    let Ok(namespace) = env.durable_object(HUB_BINDING) else { return };
    // All at once: a hub answers its wake once it has delivered, so one after another the
    // last shard's sockets would wait for every other shard's.
    let wakes = (0..hub_shards(&env)).map(|shard| {
        let namespace = &namespace;
        async move {
            let woke = match namespace.id_from_name(&hub_name(shard)).and_then(|id| id.get_stub()) {
                Ok(stub) => stub.fetch_with_str("https://hub/wake").await.map(drop),
                Err(error) => Err(error),
            };
            if let Err(error) = woke {
                tracing::warn!(%error, shard, "waking a real-time hub failed");
            }
        }
    });
    futures_util::future::join_all(wakes).await;
}

/// Tells what follows the writes of a request or a job: the real-time hubs, and the jobs
/// consumer where this worker produces to its queue (a write may have made a job due: a task a
/// workflow step tracks finished, a run was started). Both at once: the events need not wait
/// for the queue's answer.
async fn after_writes(env: Env) {
    let jobs = async {
        if let Ok(queue) = env.queue(JOBS_BINDING) {
            QueueWaker::new(&env, queue).wake(std::time::Duration::ZERO).await;
        }
    };
    futures_util::future::join(jobs, wake_hubs(env.clone())).await;
}

/// A worker's fetch handler, the gateway's and every group's: a request for a path another
/// group owns goes on to that group's worker (see [`forward`]); any other is served here with
/// `build`'s router. A write that succeeded wakes what follows writes after the response is on
/// its way.
pub async fn fetch(
    group: &'static str,
    build: fn(AppState) -> Router,
    request: web_sys::Request,
    env: Env,
    context: worker::Context,
) -> worker::Result<web_sys::Response> {
    if let Some(route) = crate::routes::elsewhere(group, crate::http::path_of(&request.url())) {
        let headers = request.headers();
        let too_large = crate::http::declares_too_large(headers.get("content-length").ok().flatten().as_deref());
        // A request that was forwarded once is served where it arrived: two workers built from
        // different groups.toml (a deploy under way) cannot pass it back and forth.
        let forwarded = headers.has(FORWARDED).unwrap_or(true);
        // A path this worker has no binding for (its workers.dev address asked for another
        // group's) is answered here: a 404.
        if let Some(service) = env.service(route.binding).ok().filter(|_| !too_large && !forwarded) {
            return forward(route.binding, service, request).await;
        }
    }
    let request = <HttpRequest as worker::FromRequest>::from_raw(request).map_err(|e| worker::Error::RustError(e.into().to_string()))?;
    let writes = crate::http::may_write(request.method());
    let response = answer(group, build, request, &env).await;
    if writes && response.status().is_success() {
        context.wait_until(after_writes(env));
    }
    to_raw(response).await
}

async fn answer(group: &'static str, build: fn(AppState) -> Router, request: HttpRequest, env: &Env) -> http::Response<Body> {
    init_tracing();
    let mut request = request.map(Body::new);
    if let Some(ip) = request.headers().get("cf-connecting-ip").and_then(|v| v.to_str().ok()) {
        let ip = ClientAddr(ip.to_owned());
        request.extensions_mut().insert(ip);
    }
    request.extensions_mut().insert(WorkerEnv(SendWrapper::new(env.clone())));
    edge::respond(app(group, build, env).await, request).await
}

/// A cron trigger's run: prunes expired rows (see [`crate::services::maintenance`]), then runs
/// the group's own scheduled work, if it has any (`tick`).
pub async fn scheduled<F: Future<Output = ()>>(group: &'static str, env: Env, tick: impl FnOnce(AppState) -> F) {
    init_tracing();
    let state = match services(group, &env) {
        Ok(services) => AppState::new(services),
        Err(error) => return tracing::error!(%error, "scheduled run without its configuration"),
    };
    prune(&state).await;
    tick(state).await;
    wake_hubs(env).await;
}

/// A queue consumer's run: the group's scheduled work (`tick`) for the batch, which is then
/// acknowledged: its messages only said that there was work, and the work is done or queued
/// again in the database.
pub async fn consume<F: Future<Output = ()>>(
    group: &'static str,
    env: Env,
    batch: worker::MessageBatch<serde_json::Value>,
    tick: impl FnOnce(AppState) -> F,
) {
    init_tracing();
    let state = match services(group, &env) {
        Ok(services) => AppState::new(services),
        Err(error) => return tracing::error!(%error, "queue consumer without its configuration"),
    };
    if let Err(error) = edge::ensure_migrated(&state).await {
        return tracing::error!(%error, "queue consumer before the schema is current");
    }
    tick(state).await;
    batch.ack_all();
    // What the jobs wrote is news to the hubs, as a request's writes are.
    wake_hubs(env).await;
}

async fn prune(state: &AppState) {
    let pruned = match edge::ensure_migrated(state).await {
        Ok(()) => match state.section::<crate::events::Retention>() {
            Ok(retention) => crate::services::maintenance::prune(state.db.as_ref(), state.clock.now(), *retention).await.map(drop),
            Err(error) => Err(error),
        },
        Err(error) => Err(ApiError::unavailable(error)),
    };
    if let Err(error) = pruned {
        tracing::error!(%error, "pruning failed");
    }
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// A D1 prepared statement as JavaScript sees it, for `raw({columnNames: true})`: the rows
    /// as arrays, after one array of their columns' names (workers-rs binds `raw()` without
    /// options).
    #[wasm_bindgen(extends = js_sys::Object)]
    type RawStatement;

    #[wasm_bindgen(method, catch)]
    fn raw(this: &RawStatement, options: &js_sys::Object) -> Result<js_sys::Promise, wasm_bindgen::JsValue>;

    /// A service binding as JavaScript sees it: the one method [`forward`] calls.
    #[wasm_bindgen(extends = js_sys::Object)]
    type Service;

    #[wasm_bindgen(method, catch)]
    fn fetch(this: &Service, request: &web_sys::Request) -> Result<js_sys::Promise, wasm_bindgen::JsValue>;
}

/// The header that marks a request one worker forwarded to another.
const FORWARDED: &str = "x-tui-forwarded";

/// A request on to the worker of the group that owns its path, through its service binding,
/// as the very request that came in, JavaScript object to JavaScript object (marked as
/// forwarded), and its answer back the same way, so that the hop costs no conversion into Rust
/// and back. A body declared too large is not forwarded: the group would refuse it unread,
/// which workerd reports to this worker as a lost connection; [`fetch`] answers it here.
async fn forward(binding: &str, service: worker::Fetcher, request: web_sys::Request) -> worker::Result<web_sys::Response> {
    let forwarded = async {
        let request = web_sys::Request::new_with_request(&request)?;
        request.headers().set(FORWARDED, "1")?;
        let service: Service = service.into_rpc();
        let answer = js_sys::futures::JsFuture::from(service.fetch(&request)?).await?;
        Ok::<_, worker::Error>(answer.dyn_into::<web_sys::Response>()?)
    };
    match forwarded.await {
        Ok(response) => Ok(response),
        Err(error) => into_raw(ApiError::unavailable(format!("service binding {binding}: {error}")).into_response()),
    }
}

fn into_raw(response: http::Response<Body>) -> worker::Result<web_sys::Response> {
    worker::IntoResponse::into_raw(response).map_err(|e| worker::Error::RustError(e.into().to_string()))
}

/// A group's response, for JavaScript. A body that is already whole (every JSON answer) goes
/// as one byte array: the generic conversion makes every body a ReadableStream that
/// JavaScript pulls from the module chunk by chunk, a round of promises per response that
/// showed as a fifth of a small read's time under workerd. Streams (events) and sockets keep
/// the generic conversion.
async fn to_raw(response: http::Response<Body>) -> worker::Result<web_sys::Response> {
    use axum::body::HttpBody as _;
    use http_body_util::BodyExt;
    if response.body().size_hint().exact().is_none() || response.extensions().get::<worker::WebSocket>().is_some() {
        return into_raw(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.map_err(|e| worker::Error::RustError(e.to_string()))?.to_bytes();
    // A value that is not UTF-8 is an error, as in the generic conversion (worker's own
    // `Headers::from` would panic on it).
    let headers = web_sys::Headers::new()?;
    for (name, value) in &parts.headers {
        headers.append(name.as_str(), std::str::from_utf8(value.as_bytes())?)?;
    }
    let builder = worker::ResponseBuilder::new().with_status(parts.status.as_u16()).with_headers(worker::Headers(headers));
    let response = if bytes.is_empty() { builder.empty() } else { builder.fixed(bytes.into()) };
    Ok(response.into())
}
