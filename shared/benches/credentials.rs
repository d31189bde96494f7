//! What credentials cost on this machine: argon2id at the production parameters (19 MiB, t=2),
//! and issuing and checking an access token. `cargo bench -p tui-shared`.

use std::{hint::black_box, time::Duration};

use criterion::{Criterion, criterion_group, criterion_main};
use tui_shared::{
    auth::{
        password::Argon2id,
        tokens::{AccessGrant, SigningKeys},
    },
    config::Argon2Params,
    domain::Role,
    time::Timestamp,
};
use uuid::Uuid;

fn passwords(c: &mut Criterion) {
    let hasher = Argon2id::new(&Argon2Params::default()).expect("valid parameters");
    let hash = hasher.hash("violet-staple-orbit-42").expect("a hash");
    let mut group = c.benchmark_group("argon2id 19 MiB t=2 p=1");
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    group.bench_function("hash", |b| b.iter(|| hasher.hash(black_box("violet-staple-orbit-42"))));
    group.bench_function("verify", |b| b.iter(|| hasher.verify(black_box("violet-staple-orbit-42"), &hash)));
    group.finish();
}

fn tokens(c: &mut Criterion) {
    let keys = SigningKeys::new("a-benchmark-secret-that-is-long-enough", &[]).expect("a long secret");
    let grant = AccessGrant { user_id: Uuid::now_v7(), session_id: Uuid::now_v7(), roles: vec![Role::Member] };
    let now = Timestamp::now_utc();
    let token = keys.issue(&grant, now, Duration::from_secs(900)).expect("a token");
    c.bench_function("HS256 access token: issue", |b| b.iter(|| keys.issue(black_box(&grant), now, Duration::from_secs(900))));
    c.bench_function("HS256 access token: check", |b| b.iter(|| keys.verify(black_box(&token), now)));
}

criterion_group!(benches, passwords, tokens);
criterion_main!(benches);
