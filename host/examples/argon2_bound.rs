//! The hashing bound of a login: how many argon2id verifications per second this machine does at
//! the default cost, one thread per core, as scripts/bench.sh compares the login rate with.
//! Usage: argon2_bound [seconds, default 5]. Prints `verifies/s=N cores=C ms_each=M`.

use std::time::{Duration, Instant};

use tui_shared::{auth::password::Argon2id, config::Argon2Params};

fn main() {
    let seconds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let hasher = Argon2id::new(&Argon2Params::default()).expect("the default parameters are valid");
    let phc = hasher.hash("violet-staple-orbit-42").expect("a hash");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let done: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..cores)
            .map(|_| {
                scope.spawn(|| {
                    let mut n = 0u64;
                    while Instant::now() < until {
                        assert!(hasher.verify("violet-staple-orbit-42", &phc));
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("a worker")).sum()
    });
    let elapsed = started.elapsed().as_secs_f64();
    println!("verifies/s={:.0} cores={cores} ms_each={:.1}", done as f64 / elapsed, elapsed * 1000.0 * cores as f64 / done as f64);
}
