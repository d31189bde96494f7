//! Swarm memory search beside other tenants' memory: what a search in a small swarm costs when
//! the host's one memory index also holds MEGABYTES of other swarms' entries. Run against a
//! native host serving the embedded database DATABASE_FILE (`tui-server --database FILE`).
//!
//! Over HTTP: a user, a project and a small swarm of 200 entries (about 600 bytes each). Then,
//! straight into the database file, through the schema the host migrated (its triggers index
//! every row as the host's own writes would be): other users' swarms, each of 8 MB of memory as
//! the quotas count it (a value and its words), in entries of 1 to 8 KB of text, until MEGABYTES.
//! Every text is lowercase words one space apart, from the same Zipf-distributed vocabulary for
//! everyone, so it is both the value's text and the words a host stores for it, under either
//! schema. Then, one request at a time, p50 and p95 of searches in the small swarm: one letter
//! (`q=a`), a two-letter prefix, a four-letter prefix, and two words.
//!
//! Usage: memory-search-bench BASE_URL DATABASE_FILE MEGABYTES [ROUNDS, default 30]

use std::time::{Duration, Instant};

use serde_json::json;
use tui_blackbox::bench::{call, post, register};
use uuid::Uuid;

/// Memory per other swarm, as the quotas count it.
const SWARM_BYTES: usize = 8 << 20;
const SMALL_ENTRIES: usize = 200;

/// xorshift64*: the same texts on every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Common words first (the searches' among them), then made-up ones, drawn by a Zipf law over
/// their rank, as words of natural text are.
struct Vocabulary {
    words: Vec<String>,
    cumulative: Vec<f64>,
}

const COMMON: &[&str] = &[
    "the", "a", "of", "to", "and", "in", "is", "for", "on", "parser", "cache", "that", "with", "as", "it", "deploy", "api", "be", "at",
    "by", "this", "render", "schema", "pattern", "page", "path", "partial", "payload", "panic", "parse", "passes", "parsing", "cached",
    "caching", "agent", "apple", "apply", "about", "after", "again", "all", "also", "an", "any", "are",
];
const SYLLABLES: &[&str] = &[
    "pa", "ra", "ta", "ca", "de", "lo", "mi", "ne", "so", "ku", "ar", "en", "is", "on", "un", "ex", "al", "or", "st", "ve", "ri", "mo",
    "ba", "te", "li", "ga", "fo", "ze", "pu", "ho",
];

impl Vocabulary {
    fn new(random: &mut Random) -> Self {
        let mut words: Vec<String> = COMMON.iter().map(|w| (*w).to_owned()).collect();
        while words.len() < 30_000 {
            let syllables = 2 + random.below(3);
            words.push((0..syllables).map(|_| SYLLABLES[random.below(SYLLABLES.len())]).collect());
        }
        let mut total = 0.0;
        let cumulative = (0..words.len())
            .map(|rank| {
                total += 1.0 / (rank as f64 + 1.0);
                total
            })
            .collect();
        Self { words, cumulative }
    }

    fn word(&self, random: &mut Random) -> &str {
        let total = self.cumulative[self.cumulative.len() - 1];
        let at = (random.next() >> 11) as f64 / (1u64 << 53) as f64 * total;
        &self.words[self.cumulative.partition_point(|c| *c < at).min(self.words.len() - 1)]
    }

    /// Words up to about `bytes` long, one space apart.
    fn text(&self, random: &mut Random, bytes: usize) -> String {
        let mut text = String::with_capacity(bytes + 16);
        while text.len() < bytes {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(self.word(random));
        }
        text
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Writes other tenants' swarms and memory into the database file until `megabytes` (as the
/// quotas count memory: a value's JSON and its words).
fn seed(path: &str, project: &str, owner: &str, megabytes: usize, vocabulary: &Vocabulary, random: &mut Random) {
    let mut db = rusqlite::Connection::open(path).expect("the host's database file");
    db.busy_timeout(Duration::from_secs(120)).expect("a busy timeout");
    db.execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -524288;").expect("pragmas");
    let now = tui_shared::time::format(tui_shared::time::Timestamp::now_utc());
    let (goal, mut stored, mut text_bytes) = (megabytes << 20, 0, 0);
    let started = Instant::now();
    let mut swarms = 0;
    while stored < goal {
        let swarm = Uuid::now_v7().to_string();
        let writer = Uuid::now_v7().to_string();
        let tx = db.transaction().expect("a transaction");
        tx.execute(
            "INSERT INTO swarms (id, project_id, name, topology, strategy, max_agents, created_by, created_at, updated_at) \
             VALUES (?1, ?2, ?3, 'mesh', 'auto', 8, ?4, ?5, ?5)",
            rusqlite::params![swarm, project, format!("tenant {swarms}"), owner, now],
        )
        .expect("a swarm");
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO swarm_memory (swarm_id, namespace, key, value, body, expires_at, updated_by, created_at, updated_at) \
                     VALUES (?1, 'notes', ?2, ?3, ?4, NULL, ?5, ?6, ?6)",
                )
                .expect("the insert");
            let mut in_swarm = 0;
            let mut entry = 0;
            while in_swarm < SWARM_BYTES && stored < goal {
                let length = 1024 + random.below(7 * 1024);
                let text = vocabulary.text(random, length);
                let value = serde_json::to_string(&text).expect("JSON");
                insert.execute(rusqlite::params![swarm, format!("e{entry}"), value, text, writer, now]).expect("an entry");
                let size = value.len() + text.len();
                (in_swarm, stored, text_bytes, entry) = (in_swarm + size, stored + size, text_bytes + text.len(), entry + 1);
            }
        }
        tx.commit().expect("the commit");
        swarms += 1;
        if swarms % 16 == 0 {
            let elapsed = started.elapsed().as_secs_f64();
            eprintln!("seeded {} MB in {swarms} swarms, {elapsed:.0} s ({:.1} MB/s)", stored >> 20, (stored >> 20) as f64 / elapsed);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "seeded {} MB of other tenants' memory ({} MB of text) in {swarms} swarms: {elapsed:.0} s, {:.1} MB/s",
        stored >> 20,
        text_bytes >> 20,
        (stored >> 20) as f64 / elapsed
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: memory-search-bench BASE_URL DATABASE_FILE MEGABYTES [ROUNDS]";
    let base = args.next().expect(usage).trim_end_matches('/').to_owned();
    let path = args.next().expect(usage);
    let megabytes: usize = args.next().expect(usage).parse().expect("MEGABYTES is a number");
    let rounds: usize = args.next().map_or(30, |n| n.parse().expect("ROUNDS is a number"));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(600)).build().expect("a client");
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let vocabulary = Vocabulary::new(&mut random);

    let (_, token) = register(&http, &base, "ms").await;
    let project = post(&http, format!("{base}/v1/projects"), Some(&token), json!({"name": "small"})).await;
    let body = json!({"project_id": project["id"], "topology": "mesh", "max_agents": 8});
    let swarm = post(&http, format!("{base}/v1/swarms"), Some(&token), body).await["id"].as_str().expect("an id").to_owned();
    for i in 0..SMALL_ENTRIES {
        let url = format!("{base}/v1/swarms/{swarm}/memory/notes/n{i}");
        let text = vocabulary.text(&mut random, 600);
        call(&http, reqwest::Method::PUT, url, Some(&token), Some(json!({"value": text}))).await;
    }

    let (owner, other) = register(&http, &base, "mo").await;
    let others = post(&http, format!("{base}/v1/projects"), Some(&other), json!({"name": "others"})).await;
    let others = others["id"].as_str().expect("an id").to_owned();
    seed(&path, &others, &owner, megabytes, &vocabulary, &mut random);
    let file = std::fs::metadata(&path).map(|m| m.len() >> 20).unwrap_or_default();
    println!("database file: {file} MB");

    let queries = [
        ("a", "one letter, q=a"),
        ("pa", "two-letter prefix, q=pa"),
        ("pars", "four-letter prefix, q=pars"),
        ("parser%20cache", "two words, q=parser cache"),
    ];
    for (q, what) in queries {
        let url = format!("{base}/v1/swarms/{swarm}/memory/notes?q={q}&limit=20");
        let found = call(&http, reqwest::Method::GET, url.clone(), Some(&token), None).await["items"].as_array().map_or(0, Vec::len);
        let mut times = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let started = Instant::now();
            call(&http, reqwest::Method::GET, url.clone(), Some(&token), None).await;
            times.push(started.elapsed());
        }
        times.sort();
        let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).saturating_sub(1).min(times.len() - 1)];
        println!(
            "search in a swarm of {SMALL_ENTRIES} entries, {what}, {megabytes} MB of others' memory: p50 {:.1} ms, p95 {:.1} ms \
             ({rounds} requests, {found} found)",
            ms(at(0.5)),
            ms(at(0.95))
        );
    }
}
