//! Load benchmark on loopback: start a battle and vote on it, `--concurrency` voters at
//! once, for `--seconds` (bounded), against a running `prefer arena serve`; report
//! votes/s and the latency percentiles of the vote request (acknowledged = committed)
//! and of the battle request.
//!
//! ```text
//! cargo run --release -p prefer-arena --example loadgen -- --url http://127.0.0.1:8000 --concurrency 16 --seconds 20
//! ```
//! See bench/arena/run.sh for the whole benchmark (SQLite and PostgreSQL).

#[path = "../tests/loadgen.rs"]
mod loadgen;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::Duration;

use loadgen::{LoadConfig, pct_ms};

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = arg(&args, "--url", "http://127.0.0.1:8000");
    let concurrency: usize = arg(&args, "--concurrency", "16")
        .parse()
        .expect("--concurrency");
    let seconds: f64 = arg(&args, "--seconds", "20").parse().expect("--seconds");
    let max_votes: usize = arg(&args, "--max-votes", "10000000")
        .parse()
        .expect("--max-votes");
    let label = arg(&args, "--label", "");
    assert!(seconds <= 600.0, "a load run is bounded: at most 600 s");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let r = rt.block_on(loadgen::run(
        LoadConfig {
            url,
            concurrency,
            duration: Duration::from_secs_f64(seconds),
            max_votes,
            distinct_clients: true,
            seed: 1,
        },
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
    ));
    let secs = r.elapsed.as_secs_f64();
    println!(
        "{label}concurrency {concurrency}: {} votes in {secs:.1} s = {:.0} votes/s (each with its battle); \
         vote p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; battle p50 {:.1} ms, p99 {:.1} ms; {} failed requests",
        r.acked.len(),
        r.acked.len() as f64 / secs,
        pct_ms(&r.vote_latency, 0.5),
        pct_ms(&r.vote_latency, 0.99),
        pct_ms(&r.vote_latency, 1.0),
        pct_ms(&r.battle_latency, 0.5),
        pct_ms(&r.battle_latency, 0.99),
        r.errors
    );
}
