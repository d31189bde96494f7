//! AI swarms against the fake Messages API (`tui_blackbox::claude`), steered by directives in
//! the task text: plans and assignment by topology and strategy, retries and validation, tokens
//! from call to user, the budget, learned assignment, votes, shared memory, and progress on
//! the swarm's topic.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tui_blackbox::{
    HostProcess, Server, User,
    claude::{INPUT_TOKENS, OUTPUT_TOKENS},
    realtime::Socket,
};

async fn swarm(server: &Server, user: &User, project: &str, topology: &str, strategy: &str) -> String {
    let body = json!({"project_id": project, "topology": topology, "strategy": strategy, "max_agents": 8});
    let reply = server.post("/v1/swarms", Some(&user.token), body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["id"].as_str().unwrap().to_owned()
}

async fn agents(server: &Server, user: &User, swarm: &str, types: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for t in types {
        let reply = server.post(&format!("/v1/swarms/{swarm}/agents"), Some(&user.token), json!({"type": t, "capabilities": [t]})).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        ids.push(reply.body["id"].as_str().unwrap().to_owned());
    }
    ids
}

async fn orchestrate(server: &Server, user: &User, swarm: &str, body: Value) -> String {
    let reply = server.post(&format!("/v1/swarms/{swarm}/orchestrate"), Some(&user.token), body).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    reply.body["id"].as_str().unwrap().to_owned()
}

/// The orchestration once it has ended, within `limit`.
async fn ended(server: &Server, user: &User, id: &str, limit: Duration) -> Value {
    let started = Instant::now();
    loop {
        let reply = server.get(&format!("/v1/orchestrations/{id}"), Some(&user.token)).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        if ["completed", "failed", "cancelled"].contains(&reply.body["status"].as_str().unwrap_or_default()) {
            return reply.body;
        }
        assert!(started.elapsed() < limit, "the orchestration did not end in {limit:?}: {:#}", reply.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A tag no other test's directives use.
fn tag() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

fn part<'a>(orchestration: &'a Value, key: &str) -> &'a Value {
    orchestration["subtasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == key)
        .unwrap_or_else(|| panic!("no {key} in {orchestration:#}"))
}

/// The requests the fake received whose text contains `needle`.
async fn requests(server: &Server, needle: &str) -> Vec<Value> {
    let base = server.claude.as_ref().expect("the fake's address");
    reqwest::Client::new().get(format!("{base}/test/requests")).query(&[("contains", needle)]).send().await.unwrap().json().await.unwrap()
}

struct Setup {
    server: Server,
    me: User,
    project: String,
}

async fn setup() -> Setup {
    let server = Server::start().await;
    let me = server.user().await;
    let project = server.project(&me, "swarm home").await;
    Setup { server, me, project }
}

#[tokio::test]
async fn an_orchestration_plans_assigns_by_capability_and_synthesises_with_every_token_counted() {
    let Setup { server, me, project } = setup().await;
    let swarm = swarm(&server, &me, &project, "mesh", "auto").await;
    let ids = agents(&server, &me, &swarm, &["coordinator", "coder", "tester", "documenter"]).await;
    let task = format!("Ship the parser [fake:kinds=code,test,docs] {}", tag());
    let id = orchestrate(&server, &me, &swarm, json!({"task": task, "strategy": "parallel", "priority": "high"})).await;
    let done = ended(&server, &me, &id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert_eq!(done["plan"]["subtasks"].as_array().unwrap().len(), 3);
    assert_eq!((part(&done, "s1")["agent_id"].as_str(), part(&done, "s1")["kind"].as_str()), (Some(ids[1].as_str()), Some("code")));
    assert_eq!(part(&done, "s2")["agent_id"], ids[2].as_str());
    assert_eq!(part(&done, "s3")["agent_id"], ids[3].as_str());
    let synthesis = part(&done, "synthesis");
    assert_eq!((synthesis["agent_id"].as_str(), synthesis["needs"].clone()), (Some(ids[0].as_str()), json!(["plan", "s1", "s2", "s3"])));
    assert_eq!(part(&done, "s2")["needs"], json!(["plan"]));
    assert!(done["result"].as_str().unwrap().contains("coordinator"), "{done:#}");
    // The plan came from a forced tool whose schema is the plan's.
    let plan_call = &requests(&server, &task).await[0];
    assert_eq!(plan_call["tool_choice"], json!({"type": "tool", "name": "submit_plan"}));
    assert_eq!(plan_call["tools"][0]["input_schema"]["required"], json!(["subtasks"]));
    // Five calls (plan, three subtasks, synthesis), each counted once, everywhere.
    let calls = done["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 5, "{calls:#?}");
    assert!(calls.iter().all(|c| c["ok"] == true && c["attempts"] == 1));
    let per_call = INPUT_TOKENS + OUTPUT_TOKENS;
    assert_eq!((done["input_tokens"].as_u64(), done["output_tokens"].as_u64()), (Some(5 * INPUT_TOKENS), Some(5 * OUTPUT_TOKENS)));
    let coder = server.get(&format!("/v1/agents/{}/metrics", ids[1]), Some(&me.token)).await.body;
    assert_eq!((coder["calls"].as_u64(), coder["completed"].as_u64()), (Some(1), Some(1)));
    assert_eq!(coder["input_tokens"].as_u64().unwrap() + coder["output_tokens"].as_u64().unwrap(), per_call);
    let coordinator = server.get(&format!("/v1/agents/{}/metrics", ids[0]), Some(&me.token)).await.body;
    assert_eq!(coordinator["calls"], 2, "the plan and the synthesis: {coordinator}");
    let whole = server.get(&format!("/v1/swarms/{swarm}"), Some(&me.token)).await.body;
    assert_eq!(whole["input_tokens"].as_u64().unwrap() + whole["output_tokens"].as_u64().unwrap(), 5 * per_call);
    let usage = server.get("/v1/swarms/usage", Some(&me.token)).await.body;
    assert_eq!((usage["tokens"].as_u64(), usage["reserved"].as_u64()), (Some(5 * per_call), Some(0)), "{usage}");
    assert_eq!(usage["by_project"][0]["calls"], 5);
    let agents = server.get(&format!("/v1/swarms/{swarm}/agents"), Some(&me.token)).await.body;
    assert!(agents["items"].as_array().unwrap().iter().all(|a| a["status"] == "idle" && a["load"] == 0), "{agents:#}");
}

#[tokio::test]
async fn each_topology_assigns_as_it_says() {
    let Setup { server, me, project } = setup().await;
    let task = |t: &str| json!({"task": format!("Build it [fake:kinds=code,test,code] {t} {}", tag()), "strategy": "parallel"});
    // Star: everything through the coordinator.
    let star = swarm(&server, &me, &project, "star", "auto").await;
    let star_agents = agents(&server, &me, &star, &["coder", "coordinator", "tester"]).await;
    let done = ended(&server, &me, &orchestrate(&server, &me, &star, task("star")).await, Duration::from_secs(30)).await;
    assert!(done["subtasks"].as_array().unwrap().iter().all(|s| s["agent_id"] == star_agents[1].as_str()), "{done:#}");
    // Ring: a pipeline in the agents' order from the coordinator, each result feeding the next.
    let ring = swarm(&server, &me, &project, "ring", "auto").await;
    let ring_agents = agents(&server, &me, &ring, &["coordinator", "coder", "tester"]).await;
    let text = task("ring");
    let done = ended(&server, &me, &orchestrate(&server, &me, &ring, text.clone()).await, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    for (key, agent, needs) in [("s1", 0, json!(["plan"])), ("s2", 1, json!(["plan", "s1"])), ("s3", 2, json!(["plan", "s2"]))] {
        assert_eq!((&part(&done, key)["agent_id"], &part(&done, key)["needs"]), (&json!(ring_agents[agent]), &needs), "{key}");
    }
    let second = requests(&server, text["task"].as_str().unwrap()).await.into_iter().find(|r| r.to_string().contains("part 2")).unwrap();
    assert!(second.to_string().contains("Result of s1"), "the second stage sees the first's result: {second}");
    // Hierarchical: the coordinator, then leads who review, then workers.
    let tree = swarm(&server, &me, &project, "hierarchical", "auto").await;
    let tree_agents = agents(&server, &me, &tree, &["coordinator", "architect", "coder", "tester"]).await;
    let done = ended(&server, &me, &orchestrate(&server, &me, &tree, task("tree")).await, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert_eq!(part(&done, "s1")["agent_id"], tree_agents[2].as_str());
    assert_eq!(part(&done, "s2")["agent_id"], tree_agents[3].as_str());
    let review = part(&done, "review1");
    assert_eq!(
        (&review["agent_id"], &review["role"], &review["needs"]),
        (&json!(tree_agents[1]), &json!("review"), &json!(["plan", "s1", "s2", "s3"]))
    );
    assert_eq!(part(&done, "synthesis")["needs"], json!(["plan", "review1"]));
}

#[tokio::test]
async fn strategies_chain_spread_or_specialise() {
    let Setup { server, me, project } = setup().await;
    let swarm = swarm(&server, &me, &project, "mesh", "auto").await;
    let ids = agents(&server, &me, &swarm, &["coordinator", "coder", "tester", "documenter"]).await;
    let task = |strategy: &str| json!({"task": format!("Code it [fake:kinds=code,code,code] {}", tag()), "strategy": strategy});
    let parallel = ended(&server, &me, &orchestrate(&server, &me, &swarm, task("parallel")).await, Duration::from_secs(30)).await;
    assert!(["s1", "s2", "s3"].iter().all(|k| part(&parallel, k)["agent_id"] == ids[1].as_str()), "by capability: {parallel:#}");
    assert!(["s1", "s2", "s3"].iter().all(|k| part(&parallel, k)["needs"] == json!(["plan"])));
    let balanced = ended(&server, &me, &orchestrate(&server, &me, &swarm, task("balanced")).await, Duration::from_secs(30)).await;
    let mut chosen: Vec<&str> = ["s1", "s2", "s3"].iter().map(|k| part(&balanced, k)["agent_id"].as_str().unwrap()).collect();
    chosen.sort_unstable();
    let mut workers = vec![ids[1].as_str(), ids[2].as_str(), ids[3].as_str()];
    workers.sort_unstable();
    assert_eq!(chosen, workers, "one each, by load: {balanced:#}");
    let sequential = ended(&server, &me, &orchestrate(&server, &me, &swarm, task("sequential")).await, Duration::from_secs(30)).await;
    assert_eq!(part(&sequential, "s3")["needs"], json!(["plan", "s2"]));
    assert_eq!(sequential["status"], "completed");
}

#[tokio::test]
async fn transient_failures_are_retried_and_refusals_are_not() {
    let Setup { server, me, project } = setup().await;
    let swarm = swarm(&server, &me, &project, "star", "auto").await;
    agents(&server, &me, &swarm, &["coordinator"]).await;
    let mut runs = Vec::new();
    for directive in ["429x1", "529x2", "malformedx1", "slowx1"] {
        let task = format!("Do it [fake:kinds=code] [fake:{directive}#{}]", tag());
        runs.push((directive, orchestrate(&server, &me, &swarm, json!({"task": task})).await));
    }
    for (directive, id) in &runs {
        let done = ended(&server, &me, id, Duration::from_secs(60)).await;
        assert_eq!(done["status"], "completed", "{directive}: {done:#}");
        let expected = if *directive == "529x2" { 3 } else { 2 };
        assert_eq!(done["calls"][0]["attempts"], expected, "{directive}: {done:#}");
        assert_eq!(done["calls"].as_array().unwrap().len(), 3, "{directive}");
    }
    // A 400 is not tried again: the plan fails, visibly.
    let refused = orchestrate(&server, &me, &swarm, json!({"task": format!("No [fake:refuse] {}", tag())})).await;
    let done = ended(&server, &me, &refused, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "failed");
    assert_eq!((done["calls"].as_array().unwrap().len(), &done["calls"][0]["attempts"]), (1, &json!(1)));
    assert!(done["error"].as_str().unwrap().contains("400"), "{done:#}");
}

#[tokio::test]
async fn a_bad_plan_is_sent_back_once_then_fails_the_orchestration() {
    let Setup { server, me, project } = setup().await;
    let swarm = swarm(&server, &me, &project, "star", "auto").await;
    agents(&server, &me, &swarm, &["coordinator"]).await;
    let task = format!("Plan it [fake:kinds=code] [fake:badplanx1#{}]", tag());
    let done = ended(&server, &me, &orchestrate(&server, &me, &swarm, json!({"task": task})).await, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    let plans: Vec<&Value> = done["calls"].as_array().unwrap().iter().filter(|c| c["purpose"] == "plan").collect();
    assert_eq!(plans.len(), 2);
    let second = &requests(&server, &task).await[1];
    let feedback = &second["messages"][2]["content"][0];
    assert_eq!((feedback["type"].as_str(), feedback["is_error"].as_bool()), (Some("tool_result"), Some(true)), "{second}");
    assert!(feedback["content"].as_str().unwrap().contains("description"), "{feedback}");
    let never = format!("Plan it [fake:badplan] {}", tag());
    let done = ended(&server, &me, &orchestrate(&server, &me, &swarm, json!({"task": never})).await, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "failed");
    assert!(done["error"].as_str().unwrap().contains("schema"), "{done:#}");
    assert!(done["subtasks"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn answers_are_validated_retried_once_and_reported() {
    let Setup { server, me, project } = setup().await;
    let swarm = swarm(&server, &me, &project, "mesh", "auto").await;
    let ids = agents(&server, &me, &swarm, &["coordinator", "coder", "tester"]).await;
    let task = format!("Check it [fake:kinds=code,test] [fake:sections] [fake:onlycoder] {}", tag());
    let done = ended(&server, &me, &orchestrate(&server, &me, &swarm, json!({"task": task})).await, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    let (code, test) = (part(&done, "s1"), part(&done, "s2"));
    assert_eq!((&code["status"], &code["calls"], &code["agent_id"]), (&json!("completed"), &json!(1), &json!(ids[1])));
    assert_eq!((&test["status"], &test["calls"]), (&json!("invalid"), &json!(2)), "{test:#}");
    assert_eq!(test["validation_errors"], json!(["no \"Result\" heading"]));
    let tester = server.get(&format!("/v1/agents/{}/metrics", ids[2]), Some(&me.token)).await.body;
    assert_eq!((tester["failed"].as_u64(), tester["success_rate"].as_f64()), (Some(1), Some(0.0)), "{tester}");
}

#[tokio::test]
async fn long_answers_are_streamed() {
    let Setup { server, me, project } = setup().await;
    let swarm = swarm(&server, &me, &project, "star", "auto").await;
    agents(&server, &me, &swarm, &["coordinator"]).await;
    let task = format!("Write a lot [fake:kinds=docs] {}", tag());
    let done =
        ended(&server, &me, &orchestrate(&server, &me, &swarm, json!({"task": task, "max_tokens": 16000})).await, Duration::from_secs(30))
            .await;
    assert_eq!(done["status"], "completed", "{done:#}");
    let sent = requests(&server, &task).await;
    assert!(sent.iter().all(|r| r["stream"] == true && r["max_tokens"] == 16000), "{sent:#?}");
    assert_eq!(done["plan"]["subtasks"][0]["title"], "Document part 1 in the README");
    assert_eq!(done["output_tokens"].as_u64(), Some(3 * OUTPUT_TOKENS));
}

#[tokio::test]
async fn training_on_outcomes_makes_coders_the_choice_for_code() {
    let Setup { server, me, project } = setup().await;
    let swarm = swarm(&server, &me, &project, "mesh", "adaptive").await;
    let ids = agents(&server, &me, &swarm, &["coordinator", "coder", "researcher", "tester"]).await;
    let predict =
        || server.post("/v1/patterns/predict", Some(&me.token), json!({"swarm_id": swarm, "task": "Implement the retry function in Rust"}));
    let before = predict().await.body;
    assert_eq!(
        (before["agent_type"].as_str(), before["confidence"].as_f64(), &before["model_version"]),
        (Some("coder"), Some(0.5), &Value::Null)
    );
    let nothing = server.post(&format!("/v1/swarms/{swarm}/patterns/train"), Some(&me.token), json!({"pattern_type": "prediction"})).await;
    nothing.problem(409, "conflict");
    // Balanced spreads code work over every agent; only the coder's answers pass.
    for _ in 0..2 {
        let task = format!("Code [fake:kinds=code,code,code,code,code,code] [fake:sections] [fake:onlycoder] {}", tag());
        let done = ended(
            &server,
            &me,
            &orchestrate(&server, &me, &swarm, json!({"task": task, "strategy": "balanced"})).await,
            Duration::from_secs(60),
        )
        .await;
        assert_eq!(done["status"], "completed", "{done:#}");
    }
    let trained = server
        .post(&format!("/v1/swarms/{swarm}/patterns/train"), Some(&me.token), json!({"pattern_type": "prediction", "epochs": 10}))
        .await;
    assert_eq!(trained.status, 201, "{}", trained.body);
    assert_eq!(trained.body["version"], 1);
    let metrics = &trained.body["metrics"];
    assert!(metrics["samples"].as_u64().unwrap() >= 12, "{metrics}");
    assert!(metrics["held_out"].as_u64().unwrap() >= 1 && metrics["log_loss"].as_f64().is_some(), "{metrics}");
    let after = predict().await.body;
    assert_eq!((after["agent_type"].as_str(), after["model_version"].as_i64()), (Some("coder"), Some(1)), "{after}");
    assert!(after["confidence"].as_f64().unwrap() > 0.7, "{after}");
    assert!(after["alternatives"].as_array().unwrap().iter().all(|a| a["confidence"].as_f64().unwrap() <= 0.5), "{after}");
    // The adaptive strategy follows the model: code goes to the coder.
    let task = format!("More code [fake:kinds=code,code] {}", tag());
    let done = ended(&server, &me, &orchestrate(&server, &me, &swarm, json!({"task": task})).await, Duration::from_secs(30)).await;
    assert_eq!(done["strategy"], "adaptive");
    assert!(["s1", "s2"].iter().all(|k| part(&done, k)["agent_id"] == ids[1].as_str()), "{done:#}");
}

async fn vote(server: &Server, user: &User, swarm: &str, algorithm: &str, minutes: f64) -> tui_blackbox::Reply {
    let body = json!({"proposal": "Adopt the new parser", "algorithm": algorithm, "deadline_minutes": minutes});
    server.post(&format!("/v1/swarms/{swarm}/consensus"), Some(&user.token), body).await
}

/// The vote once closed, within `limit`.
async fn closed(server: &Server, user: &User, id: &str, limit: Duration) -> Value {
    let started = Instant::now();
    loop {
        let body = server.get(&format!("/v1/consensus/{id}"), Some(&user.token)).await.body;
        if body["status"] != "open" {
            return body;
        }
        assert!(started.elapsed() < limit, "the vote did not close in {limit:?}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn byzantine_votes_tolerate_one_faulty_of_four_and_need_four() {
    let Setup { server, me, project } = setup().await;
    let three = swarm(&server, &me, &project, "mesh", "auto").await;
    agents(&server, &me, &three, &["coordinator", "coder", "tester"]).await;
    vote(&server, &me, &three, "byzantine", 5.0).await.problem(409, "conflict");
    let four = swarm(&server, &me, &project, "mesh", "auto").await;
    let voters = agents(&server, &me, &four, &["coordinator", "coder", "tester", "reviewer"]).await;
    let opened = vote(&server, &me, &four, "byzantine", 5.0).await;
    assert_eq!((opened.status.as_u16(), &opened.body["voters"]), (201, &json!(4)), "{}", opened.body);
    let id = opened.body["id"].as_str().unwrap();
    for (agent, value) in [(&voters[0], "yes"), (&voters[1], "no"), (&voters[2], "yes")] {
        let cast = server.post(&format!("/v1/consensus/{id}/votes"), Some(&me.token), json!({"agent_id": agent, "vote": value})).await;
        assert_eq!(cast.status, 201, "{}", cast.body);
    }
    let again = server.post(&format!("/v1/consensus/{id}/votes"), Some(&me.token), json!({"agent_id": voters[0], "vote": "no"})).await;
    again.problem(409, "conflict");
    let stranger =
        server.post(&format!("/v1/consensus/{id}/votes"), Some(&me.token), json!({"agent_id": uuid::Uuid::now_v7(), "vote": "no"})).await;
    stranger.problem(422, "validation_failed");
    // The faulty "no" cannot stop three of four.
    server.post(&format!("/v1/consensus/{id}/votes"), Some(&me.token), json!({"agent_id": voters[3], "vote": "yes"})).await;
    let done = closed(&server, &me, id, Duration::from_secs(20)).await;
    assert_eq!((&done["status"], &done["decision"]), (&json!("decided"), &json!("yes")), "{done:#}");
    assert_eq!((&done["tally"]["faulty_tolerated"], &done["tally"]["needed"]), (&json!(1), &json!(3)));
}

#[tokio::test]
async fn a_deadline_closes_a_vote_on_time() {
    let Setup { server, me, project } = setup().await;
    let swarm = swarm(&server, &me, &project, "mesh", "auto").await;
    let voters = agents(&server, &me, &swarm, &["coordinator", "coder", "tester"]).await;
    let opened = vote(&server, &me, &swarm, "majority", 0.05).await;
    let id = opened.body["id"].as_str().unwrap().to_owned();
    server.post(&format!("/v1/consensus/{id}/votes"), Some(&me.token), json!({"agent_id": voters[0], "vote": "yes"})).await;
    let started = Instant::now();
    let done = closed(&server, &me, &id, Duration::from_secs(20)).await;
    assert_eq!(done["status"], "no_consensus", "{done:#}");
    assert!(started.elapsed() < Duration::from_secs(10), "closed {:?} after the vote", started.elapsed());
    let late = server.post(&format!("/v1/consensus/{id}/votes"), Some(&me.token), json!({"agent_id": voters[1], "vote": "yes"})).await;
    late.problem(409, "conflict");
    // Weighted: the more confident side carries it at the deadline.
    let weighted = vote(&server, &me, &swarm, "weighted", 0.05).await.body["id"].as_str().unwrap().to_owned();
    for (agent, value, confidence) in [(&voters[0], "a", 0.9), (&voters[1], "b", 0.2), (&voters[2], "b", 0.2)] {
        let body = json!({"agent_id": agent, "vote": value, "confidence": confidence});
        assert_eq!(server.post(&format!("/v1/consensus/{weighted}/votes"), Some(&me.token), body).await.status, 201);
    }
    let done = closed(&server, &me, &weighted, Duration::from_secs(20)).await;
    assert_eq!((&done["status"], &done["decision"]), (&json!("decided"), &json!("a")), "{done:#}");
}

#[tokio::test]
async fn shared_memory_has_namespaces_ttl_and_search() {
    let Setup { server, me, project } = setup().await;
    let swarm = swarm(&server, &me, &project, "mesh", "auto").await;
    let put = |ns: &str, key: &str, body: Value| {
        let path = format!("/v1/swarms/{swarm}/memory/{ns}/{key}");
        let token = me.token.clone();
        let server = &server;
        async move { server.call(Method::PUT, &path, Some(&token), Some(body)).await }
    };
    assert_eq!(put("notes", "parser-design", json!({"value": "Use a Pratt parser for expressions"})).await.status, 200);
    assert_eq!(put("notes", "parser-tests", json!({"value": {"todo": "fuzz the tokenizer"}})).await.status, 200);
    assert_eq!(put("notes", "flash", json!({"value": "gone soon", "ttl_s": 1})).await.status, 200);
    assert_eq!(put("other", "parser-design", json!({"value": "another namespace"})).await.status, 200);
    let got = server.get(&format!("/v1/swarms/{swarm}/memory/notes/parser-design"), Some(&me.token)).await;
    assert_eq!(got.body["value"], "Use a Pratt parser for expressions");
    let found = server.get(&format!("/v1/swarms/{swarm}/memory/notes?q=pratt"), Some(&me.token)).await.body;
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "{found}");
    let found = server.get(&format!("/v1/swarms/{swarm}/memory/notes?q=tokeni"), Some(&me.token)).await.body;
    assert_eq!(found["items"][0]["key"], "parser-tests", "a prefix of a word: {found}");
    let found = server.get(&format!("/v1/swarms/{swarm}/memory/notes?prefix=parser-"), Some(&me.token)).await.body;
    assert_eq!(found["items"].as_array().unwrap().len(), 2, "{found}");
    let odd = server.get(&format!("/v1/swarms/{swarm}/memory/notes?q=%22OR%20NEAR("), Some(&me.token)).await;
    assert_eq!(odd.status, 200, "query syntax is only words: {}", odd.body);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.get(&format!("/v1/swarms/{swarm}/memory/notes/flash"), Some(&me.token)).await.problem(404, "not_found");
    let reply = server.call(Method::DELETE, &format!("/v1/swarms/{swarm}/memory/notes/parser-design"), Some(&me.token), None).await;
    assert_eq!(reply.status, 204);
    server.get(&format!("/v1/swarms/{swarm}/memory/notes/parser-design"), Some(&me.token)).await.problem(404, "not_found");
    assert_eq!(server.get(&format!("/v1/swarms/{swarm}/memory/other/parser-design"), Some(&me.token)).await.status, 200);
    // A viewer reads, does not write; an outsider sees nothing.
    let (viewer, outsider) = (server.user().await, server.user().await);
    server.add_member(&me, &project, &viewer, "viewer").await;
    assert_eq!(server.get(&format!("/v1/swarms/{swarm}/memory/other/parser-design"), Some(&viewer.token)).await.status, 200);
    let path = format!("/v1/swarms/{swarm}/memory/other/x");
    server.call(Method::PUT, &path, Some(&viewer.token), Some(json!({"value": 1}))).await.problem(403, "forbidden");
    server.call(Method::PUT, &path, Some(&outsider.token), Some(json!({"value": 1}))).await.problem(404, "not_found");
}

/// The keys a search of `swarm`'s namespace `notes` finds for `q`.
async fn found(server: &Server, user: &User, swarm: &str, q: &str) -> Vec<String> {
    let reply = server.get(&format!("/v1/swarms/{swarm}/memory/notes?q={q}&limit=100"), Some(&user.token)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mut keys: Vec<String> = reply.body["items"].as_array().unwrap().iter().map(|i| i["key"].as_str().unwrap().to_owned()).collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn memory_search_reads_only_its_own_swarm_and_takes_one_letter_words_whole() {
    let Setup { server, me, project } = setup().await;
    let mine = swarm(&server, &me, &project, "mesh", "auto").await;
    // Another tenant whose memory is full of what a search in `mine` looks for, and of `mine`'s
    // own token followed by words, which must stay that tenant's words.
    let stranger = server.user().await;
    let theirs_project = server.project(&stranger, "elsewhere").await;
    let theirs = swarm(&server, &stranger, &theirs_project, "mesh", "auto").await;
    let token = mine.replace('-', "");
    let put = |user: &User, swarm: &str, key: &str, value: String| {
        let (path, token) = (format!("/v1/swarms/{swarm}/memory/notes/{key}"), user.token.clone());
        let server = &server;
        async move {
            let reply = server.call(Method::PUT, &path, Some(&token), Some(json!({"value": value}))).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
        }
    };
    put(&me, &mine, "article", "a note on the apple harvest".into()).await;
    put(&me, &mine, "plain", "apples and apricots only".into()).await;
    put(&me, &mine, "tokens", "Tokenizer passes over the Parser".into()).await;
    for i in 0..20 {
        put(&stranger, &theirs, &format!("t{i}"), format!("a apple apricot ap {token}zebra {token} tokenizer parser {i}")).await;
    }
    // One letter: the word itself, not every word starting with it.
    assert_eq!(found(&server, &me, &mine, "a").await, ["article"]);
    assert_eq!(found(&server, &me, &mine, "A%20harvest").await, ["article"]);
    // Two letters and more: the start of a word, every word of the query, not only the last.
    assert_eq!(found(&server, &me, &mine, "ap").await, ["article", "plain"]);
    assert_eq!(found(&server, &me, &mine, "apric").await, ["plain"]);
    assert_eq!(found(&server, &me, &mine, "tok%20pars").await, ["tokens"]);
    assert_eq!(found(&server, &me, &mine, "zebra").await, Vec::<String>::new());
    assert_eq!(found(&server, &me, &mine, &format!("{token}zebra")).await, Vec::<String>::new());
    // Keys are words too; and the other tenant finds its own.
    assert_eq!(found(&server, &me, &mine, "artic").await, ["article"]);
    assert_eq!(found(&server, &stranger, &theirs, "zebra").await.len(), 0, "its words are its swarm's, not the one its text names");
    assert_eq!(found(&server, &stranger, &theirs, "a%20apricot").await.len(), 20);
    assert_eq!(found(&server, &stranger, &theirs, &format!("{token}zebra")).await.len(), 20);
}

#[tokio::test]
async fn memory_is_bounded_per_user_across_swarms() {
    let Some(server) = Server::native_with(&[("SWARMS_USER_MEMORY_ENTRIES", "3"), ("SWARMS_USER_MEMORY_BYTES", "4000")]).await else {
        return;
    };
    let (me, colleague) = (server.user().await, server.user().await);
    let project = server.project(&me, "bounded").await;
    server.add_member(&me, &project, &colleague, "contributor").await;
    let (first, second) = (swarm(&server, &me, &project, "mesh", "auto").await, swarm(&server, &me, &project, "mesh", "auto").await);
    let put = |user: &User, swarm: &str, key: &str, value: Value| {
        let (path, token) = (format!("/v1/swarms/{swarm}/memory/notes/{key}"), user.token.clone());
        let server = &server;
        async move { server.call(Method::PUT, &path, Some(&token), Some(json!({"value": value}))).await }
    };
    assert_eq!(put(&me, &first, "one", json!("first note")).await.status, 200);
    assert_eq!(put(&me, &first, "two", json!("second note")).await.status, 200);
    assert_eq!(put(&me, &second, "three", json!("third note")).await.status, 200);
    // A fourth entry anywhere is refused, in the shape of the swarm's own quota.
    let full = put(&me, &second, "four", json!("fourth note")).await;
    full.problem(409, "conflict");
    assert!(full.body["detail"].as_str().unwrap().contains("across swarms"), "{}", full.body);
    // Writing an entry again takes no more room; others write on their own bound.
    assert_eq!(put(&me, &first, "one", json!("first note, again")).await.status, 200);
    assert_eq!(put(&colleague, &second, "four", json!("the colleague's")).await.status, 200);
    // An entry belongs to whoever wrote it last: taken over, it leaves room behind.
    assert_eq!(put(&colleague, &first, "two", json!("taken over")).await.status, 200);
    assert_eq!(put(&me, &second, "five", json!("fits again")).await.status, 200);
    put(&me, &second, "six", json!("no room")).await.problem(409, "conflict");
    // Deleting gives room back, and so does deleting a swarm with its memory.
    let reply = server.call(Method::DELETE, &format!("/v1/swarms/{first}/memory/notes/one"), Some(&me.token), None).await;
    assert_eq!(reply.status, 204);
    assert_eq!(put(&me, &second, "six", json!("fits")).await.status, 200);
    put(&me, &first, "seven", json!("no room")).await.problem(409, "conflict");
    let reply = server.call(Method::DELETE, &format!("/v1/swarms/{second}"), Some(&me.token), None).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(put(&me, &first, "seven", json!("fits")).await.status, 200);
    // Bytes count as well as entries: a value that would take the user past 4,000 bytes is
    // refused; the same bytes fit once what they wrote before is smaller.
    let big = "x".repeat(1800);
    assert_eq!(put(&me, &first, "seven", json!(big)).await.status, 200);
    let refused = put(&me, &first, "eight", json!(big)).await;
    refused.problem(409, "conflict");
    assert!(refused.body["detail"].as_str().unwrap().contains("across swarms"), "{}", refused.body);
    assert_eq!(put(&me, &first, "seven", json!("small")).await.status, 200);
    assert_eq!(put(&me, &first, "eight", json!(big)).await.status, 200);
    // A viewer is still told they may not, not that memory is full.
    let viewer = server.user().await;
    server.add_member(&me, &project, &viewer, "viewer").await;
    put(&viewer, &first, "nine", json!("x")).await.problem(403, "forbidden");
}

#[tokio::test]
async fn only_members_see_a_swarm_and_only_contributors_steer_it() {
    let Setup { server, me, project } = setup().await;
    let swarm = swarm(&server, &me, &project, "star", "auto").await;
    agents(&server, &me, &swarm, &["coordinator"]).await;
    let (viewer, outsider) = (server.user().await, server.user().await);
    server.add_member(&me, &project, &viewer, "viewer").await;
    server.get(&format!("/v1/swarms/{swarm}"), Some(&outsider.token)).await.problem(404, "not_found");
    assert_eq!(server.get(&format!("/v1/swarms/{swarm}"), Some(&viewer.token)).await.status, 200);
    let body = json!({"task": "Anything"});
    server.post(&format!("/v1/swarms/{swarm}/orchestrate"), Some(&viewer.token), body.clone()).await.problem(403, "forbidden");
    server.post(&format!("/v1/swarms/{swarm}/orchestrate"), Some(&outsider.token), body).await.problem(404, "not_found");
    server.post(&format!("/v1/swarms/{swarm}/agents"), Some(&viewer.token), json!({"type": "coder"})).await.problem(403, "forbidden");
    let created = server.post("/v1/swarms", Some(&outsider.token), json!({"project_id": project, "topology": "mesh"})).await;
    created.problem(404, "not_found");
    let predicted = server.post("/v1/patterns/predict", Some(&outsider.token), json!({"swarm_id": swarm, "task": "x"})).await;
    predicted.problem(404, "not_found");
    server.call(Method::DELETE, &format!("/v1/swarms/{swarm}"), Some(&viewer.token), None).await.problem(403, "forbidden");
    // Only the models this deployment offers.
    let model =
        server.post(&format!("/v1/swarms/{swarm}/orchestrate"), Some(&me.token), json!({"task": "x", "model": "claude-priciest-9"})).await;
    model.problem(422, "validation_failed");
    assert_eq!(model.field(), "model");
    // An empty swarm has no one to do the work.
    let empty = self::swarm(&server, &me, &project, "mesh", "auto").await;
    server.post(&format!("/v1/swarms/{empty}/orchestrate"), Some(&me.token), json!({"task": "x"})).await.problem(409, "conflict");
    // The swarm's workflow is its own: not listed, not startable as a user's.
    let workflows = server.get(&format!("/v1/projects/{project}/workflows"), Some(&me.token)).await.body;
    assert_eq!(workflows["items"], json!([]));
    server.post(&format!("/v1/workflows/{swarm}/runs"), Some(&me.token), json!({})).await.problem(404, "not_found");
    assert_eq!(server.call(Method::DELETE, &format!("/v1/swarms/{swarm}"), Some(&me.token), None).await.status, 204);
    server.get(&format!("/v1/swarms/{swarm}"), Some(&me.token)).await.problem(404, "not_found");
}

#[tokio::test]
async fn scaling_adds_a_coordinator_first_and_retires_without_losing_work() {
    let Setup { server, me, project } = setup().await;
    let swarm = swarm(&server, &me, &project, "mesh", "balanced").await;
    let scaled = server.post(&format!("/v1/swarms/{swarm}/scale"), Some(&me.token), json!({"target_size": 4})).await;
    assert_eq!(scaled.status, 200, "{}", scaled.body);
    let types: Vec<&str> = scaled.body["agents"].as_array().unwrap().iter().map(|a| a["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["coordinator", "coder", "researcher", "tester"]);
    let too_many = server.post(&format!("/v1/swarms/{swarm}/scale"), Some(&me.token), json!({"target_size": 9})).await;
    too_many.problem(422, "validation_failed");
    // Work under way when the swarm shrinks is finished by agents that then retire.
    let task = format!("Slowly [fake:kinds=code,test,research] [fake:delay=700] {}", tag());
    let id = orchestrate(&server, &me, &swarm, json!({"task": task})).await;
    let started = Instant::now();
    loop {
        let now = server.get(&format!("/v1/orchestrations/{id}"), Some(&me.token)).await.body;
        if now["subtasks"].as_array().is_some_and(|s| !s.is_empty()) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no plan: {now:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let shrunk = server.post(&format!("/v1/swarms/{swarm}/scale"), Some(&me.token), json!({"target_size": 1})).await;
    assert_eq!(shrunk.body["swarm"]["active_agents"], 4, "busy agents retire when done: {:#}", shrunk.body);
    let retiring = shrunk.body["agents"].as_array().unwrap().iter().filter(|a| a["status"] == "retiring").count();
    assert!(retiring >= 1, "{:#}", shrunk.body);
    let done = ended(&server, &me, &id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    let after = server.get(&format!("/v1/swarms/{swarm}/agents"), Some(&me.token)).await.body;
    let active: Vec<&Value> = after["items"].as_array().unwrap().iter().filter(|a| a["status"] != "retired").collect();
    assert_eq!(active.len(), 1, "{after:#}");
}

#[tokio::test]
async fn retired_agents_are_listed_in_pages_and_scaling_answers_only_the_present_ones() {
    let Setup { server, me, project } = setup().await;
    let swarm = swarm(&server, &me, &project, "ring", "auto").await;
    let scale = format!("/v1/swarms/{swarm}/scale");
    for size in [3_u8, 0, 3, 0, 3] {
        let scaled = server.post(&scale, Some(&me.token), json!({"target_size": size})).await;
        assert_eq!(scaled.status, 200, "{}", scaled.body);
        assert_eq!(scaled.body["agents"].as_array().unwrap().len(), usize::from(size), "{:#}", scaled.body);
    }
    let (mut listed, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let path = cursor
            .as_ref()
            .map_or(format!("/v1/swarms/{swarm}/agents?limit=4"), |c| format!("/v1/swarms/{swarm}/agents?limit=4&cursor={c}"));
        let page = server.get(&path, Some(&me.token)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        listed.extend(page.body["items"].as_array().unwrap().iter().cloned());
        pages += 1;
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!((listed.len(), pages), (9, 3));
    let statuses: Vec<&str> = listed.iter().map(|a| a["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["retired", "retired", "retired", "retired", "retired", "retired", "idle", "idle", "idle"]);
    let mut ids: Vec<&str> = listed.iter().map(|a| a["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 9);
    server.get(&format!("/v1/swarms/{swarm}/agents?limit=0"), Some(&me.token)).await.problem(422, "validation_failed");
    server.get(&format!("/v1/swarms/{swarm}/agents?cursor=nope"), Some(&me.token)).await.problem(422, "validation_failed");
}

#[tokio::test]
async fn progress_and_tokens_are_published_on_the_swarm_topic() {
    let Setup { server, me, project } = setup().await;
    let swarm = swarm(&server, &me, &project, "star", "auto").await;
    agents(&server, &me, &swarm, &["coordinator"]).await;
    let mut socket = Socket::open(&server, &me).await;
    socket.subscribe(&[&format!("swarm:{swarm}")], Some("0")).await;
    let id = orchestrate(&server, &me, &swarm, json!({"task": format!("Watch it [fake:kinds=code] {}", tag())})).await;
    let mut names = Vec::new();
    while names.last().map(String::as_str) != Some("orchestration.completed") {
        let event = socket.next_of("event").await;
        assert_eq!(event["topic"], format!("swarm:{swarm}"));
        if event["event"] == "usage" {
            assert_eq!(event["data"]["orchestration_id"], id.as_str());
            assert_eq!(event["data"]["input_tokens"], INPUT_TOKENS);
        }
        names.push(event["event"].as_str().unwrap().to_owned());
    }
    for expected in
        ["agent.added", "orchestration.started", "usage", "orchestration.running", "agent.status", "subtask.running", "subtask.completed"]
    {
        assert!(names.iter().any(|n| n == expected), "no {expected} in {names:?}");
    }
    assert_eq!(names.iter().filter(|n| *n == "usage").count(), 3, "{names:?}");
    let outsider = server.user().await;
    let mut theirs = Socket::open(&server, &outsider).await;
    let refused = theirs.subscribe(&[&format!("swarm:{swarm}")], None).await;
    assert_eq!(refused[0]["code"], "forbidden", "{refused:?}");
}

#[tokio::test]
async fn a_workflow_agent_step_asks_one_agent_of_a_swarm() {
    let Setup { server, me, project } = setup().await;
    let swarm = swarm(&server, &me, &project, "mesh", "auto").await;
    let ids = agents(&server, &me, &swarm, &["coordinator", "coder", "documenter"]).await;
    let steps = json!([{"key": "ask", "kind": "agent", "input": {"swarm_id": swarm, "task": {"$input": "/task"}, "format": "json"}}]);
    let reply = server.post(&format!("/v1/projects/{project}/workflows"), Some(&me.token), json!({"name": "ask", "steps": steps})).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let workflow = reply.body["id"].as_str().unwrap();
    let task = format!("Implement the function {}", tag());
    let run = server.post(&format!("/v1/workflows/{workflow}/runs"), Some(&me.token), json!({"input": {"task": task}})).await.body;
    let run = run["id"].as_str().unwrap();
    let started = Instant::now();
    let done = loop {
        let body = server.get(&format!("/v1/runs/{run}"), Some(&me.token)).await.body;
        if body["status"] != "running" {
            break body;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{body:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["status"], "completed", "{done:#}");
    let output = &done["steps"][0]["output"];
    assert_eq!(
        (&output["agent_id"], &output["agent_type"], &output["result"]["by"]),
        (&json!(ids[1]), &json!("coder"), &json!("coder")),
        "{output}"
    );
    let coder = server.get(&format!("/v1/agents/{}/metrics", ids[1]), Some(&me.token)).await.body;
    assert_eq!(coder["calls"], 1);
    // A swarm of another project is not the run's to use.
    let elsewhere = server.project(&me, "elsewhere").await;
    let foreign = json!([{"key": "ask", "kind": "agent", "input": {"swarm_id": swarm, "task": "x"}}]);
    let other =
        server.post(&format!("/v1/projects/{elsewhere}/workflows"), Some(&me.token), json!({"name": "x", "steps": foreign})).await.body;
    let run = server.post(&format!("/v1/workflows/{}/runs", other["id"].as_str().unwrap()), Some(&me.token), json!({})).await.body;
    let run = run["id"].as_str().unwrap();
    let started = Instant::now();
    let done = loop {
        let body = server.get(&format!("/v1/runs/{run}"), Some(&me.token)).await.body;
        if body["status"] != "running" {
            break body;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{body:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["status"], "failed");
    assert!(done["error"].as_str().unwrap().contains("no such swarm in the run's project"), "{done:#}");
}

#[tokio::test]
async fn a_budget_stops_calls_before_they_are_made() {
    // Each attempt holds its max_tokens and a token per byte it sends: here the plan call's hold
    // is beyond the day's budget, although its max_tokens alone is not.
    let Some(server) = Server::native_with(&[("SWARMS_DAILY_TOKENS", "150")]).await else { return };
    let me = server.user().await;
    let project = server.project(&me, "thrifty").await;
    let swarm = swarm(&server, &me, &project, "star", "auto").await;
    agents(&server, &me, &swarm, &["coordinator"]).await;
    let task = format!("Spend [fake:kinds=code] {}", tag());
    let id = orchestrate(&server, &me, &swarm, json!({"task": task, "max_tokens": 100})).await;
    let done = ended(&server, &me, &id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "failed", "{done:#}");
    assert!(done["error"].as_str().unwrap().contains("budget_exhausted"), "{done:#}");
    assert!(requests(&server, &task).await.is_empty(), "no call was made");
    let usage = server.get("/v1/swarms/usage", Some(&me.token)).await.body;
    assert_eq!(
        (usage["tokens"].as_u64(), usage["reserved"].as_u64(), usage["remaining"].as_u64()),
        (Some(0), Some(0), Some(150)),
        "{usage}"
    );
    // A call's max_tokens beyond what is left is refused at once.
    let refused =
        server.post(&format!("/v1/swarms/{swarm}/orchestrate"), Some(&me.token), json!({"task": "More", "max_tokens": 151})).await;
    refused.problem(429, "budget_exhausted");
}

#[tokio::test]
#[ignore = "the host process of a fault test, started by it"]
async fn swarm_host_process() {
    tui_blackbox::serve_as_child().await;
}

#[tokio::test]
async fn an_orchestration_survives_its_host_being_killed() {
    if !Server::is_native() {
        return;
    }
    let claude = tui_blackbox::claude::start(0).await;
    let data = tempfile::tempdir().unwrap();
    let database = data.path().join("tui.db");
    let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let host = HostProcess::start("swarms::swarm_host_process", &database, listen, Some(&claude)).await;
    let me = host.server.user().await;
    let project = host.server.project(&me, "fault").await;
    let swarm = swarm(&host.server, &me, &project, "ring", "auto").await;
    agents(&host.server, &me, &swarm, &["coordinator", "coder"]).await;
    let id =
        orchestrate(&host.server, &me, &swarm, json!({"task": format!("Pipeline [fake:kinds=code,code,code] [fake:delay=600] {}", tag())}))
            .await;
    // Killed once the first stage has its result, while the second one's call is under way.
    let started = Instant::now();
    loop {
        let now = host.server.get(&format!("/v1/orchestrations/{id}"), Some(&me.token)).await.body;
        if now["subtasks"].as_array().and_then(|s| s.first()).is_some_and(|s| s["status"] == "completed") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the first stage never finished: {now:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    host.kill();
    let host = HostProcess::start("swarms::swarm_host_process", &database, listen, Some(&claude)).await;
    let done = ended(&host.server, &me, &id, Duration::from_secs(90)).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert_eq!(done["subtasks"].as_array().unwrap().len(), 4);
    assert_eq!(done["subtasks"].as_array().unwrap().iter().filter(|s| s["status"] == "completed").count(), 4, "{done:#}");
    // Every call that ended is recorded (a call made is a cost), the one the kill cut off too if
    // it ended before the host died; the stage itself completed once.
    let recorded = done["calls"].as_array().unwrap().iter().filter(|c| c["step"] == "s2").count();
    assert!((1..=2).contains(&recorded), "{done:#}");
    assert_eq!(part(&done, "s2")["status"], "completed");
}

/// Against the real API, when asked: `TUI_LIVE_CLAUDE=1` and a real `ANTHROPIC_API_KEY`.
#[tokio::test]
async fn a_live_orchestration_with_the_real_claude() {
    let key = std::env::var("ANTHROPIC_API_KEY").unwrap_or_default();
    if std::env::var("TUI_LIVE_CLAUDE").as_deref() != Ok("1") || key.is_empty() {
        return;
    }
    let base = std::env::var("ANTHROPIC_BASE_URL").unwrap_or_else(|_| "https://api.anthropic.com".into());
    let Some(server) =
        Server::native_with(&[("ANTHROPIC_API_KEY", &key), ("ANTHROPIC_BASE_URL", &base), ("CLAUDE_TIMEOUT_S", "120")]).await
    else {
        return;
    };
    let me = server.user().await;
    let project = server.project(&me, "live").await;
    let swarm = swarm(&server, &me, &project, "star", "auto").await;
    agents(&server, &me, &swarm, &["coordinator"]).await;
    let body = json!({"task": "In two short subtasks: name one sorting algorithm, then state its time complexity.", "max_tokens": 400});
    let done = ended(&server, &me, &orchestrate(&server, &me, &swarm, body).await, Duration::from_secs(300)).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert!(done["input_tokens"].as_u64().unwrap() > 0 && !done["result"].as_str().unwrap().is_empty());
}
