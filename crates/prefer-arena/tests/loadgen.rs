//! A bounded load generator on loopback: `concurrency` voters, each starting a battle
//! and voting on it (a random best pick or a random ranking), until a deadline, a vote
//! budget, or a stop flag. Shared by the durability test and `examples/loadgen.rs`.
//!
//! Each voter may use its own source address in 127.0.0.0/8 (`distinct_clients`), so a
//! server's per-client bookkeeping sees many clients, as in real use.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// Settings.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Server base URL (must be on loopback).
    pub url: String,
    /// Concurrent voters.
    pub concurrency: usize,
    /// Stop after this long.
    pub duration: Duration,
    /// Stop after this many acknowledged votes (all voters together).
    pub max_votes: usize,
    /// One source address per voter (127.0.0.2, 127.0.0.3, ...).
    pub distinct_clients: bool,
    /// Seed of the votes.
    pub seed: u64,
}

/// A vote the server acknowledged (201).
#[derive(Debug, Clone, PartialEq)]
pub struct Acked {
    /// The vote id.
    pub vote_id: i64,
    /// Revealed models, display order.
    pub models: Vec<String>,
    /// Ranks the receipt shows.
    pub ranks: Vec<u32>,
}

/// What happened.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Acknowledged votes.
    pub acked: Vec<Acked>,
    /// Requests that failed (connection errors, non-2xx).
    pub errors: usize,
    /// Latency of each acknowledged vote request.
    pub vote_latency: Vec<Duration>,
    /// Latency of each successful battle request.
    pub battle_latency: Vec<Duration>,
    /// Wall time.
    pub elapsed: Duration,
}

/// Percentile (0..=1) of durations, in milliseconds.
pub fn pct_ms(xs: &[Duration], q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v: Vec<f64> = xs.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    v.sort_by(f64::total_cmp);
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i]
}

/// Runs the load; `acked` counts acknowledged votes as they come, `stop` ends it early.
pub async fn run(cfg: LoadConfig, acked: Arc<AtomicUsize>, stop: Arc<AtomicBool>) -> LoadReport {
    assert!(
        cfg.url.starts_with("http://127.")
            || cfg.url.starts_with("http://localhost")
            || cfg.url.starts_with("http://[::1]"),
        "the load generator only targets loopback: {}",
        cfg.url
    );
    let start = Instant::now();
    let deadline = start + cfg.duration;
    let mut tasks = Vec::new();
    for w in 0..cfg.concurrency {
        let cfg = cfg.clone();
        let acked = acked.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut b = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .pool_max_idle_per_host(1);
            if cfg.distinct_clients {
                let n = w as u32 + 2;
                b = b.local_address(IpAddr::V4(Ipv4Addr::new(127, 0, (n >> 8) as u8, n as u8)));
            }
            let http = b.build().expect("client");
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_add(w as u64));
            let mut rep = LoadReport::default();
            while Instant::now() < deadline
                && !stop.load(Ordering::Relaxed)
                && acked.load(Ordering::Relaxed) < cfg.max_votes
            {
                let t = Instant::now();
                let battle: Value = match http.post(format!("{}/api/battles", cfg.url)).send().await
                {
                    Ok(r) if r.status().as_u16() == 201 => match r.json().await {
                        Ok(v) => v,
                        Err(_) => {
                            rep.errors += 1;
                            continue;
                        }
                    },
                    _ => {
                        rep.errors += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                rep.battle_latency.push(t.elapsed());
                let id = battle["battle_id"].as_str().unwrap_or("").to_string();
                let k = battle["k"].as_u64().unwrap_or(2) as usize;
                let body = if rng.random_bool(0.5) {
                    {
                        let label = ["A", "B", "C", "D"][rng.random_range(0..k)];
                        json!({ "winner": label })
                    }
                } else {
                    let mut r: Vec<u32> = (1..=k as u32).collect();
                    r.shuffle(&mut rng);
                    json!({"ranking": r})
                };
                let t = Instant::now();
                match http
                    .post(format!("{}/api/battles/{id}/vote", cfg.url))
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(r) if r.status().as_u16() == 201 => {
                        let lat = t.elapsed();
                        let Ok(v) = r.json::<Value>().await else {
                            // The server committed, but the body was cut: not counted
                            // as acknowledged (the client never saw the answer).
                            rep.errors += 1;
                            continue;
                        };
                        let models = v["models"].as_array().cloned().unwrap_or_default();
                        rep.acked.push(Acked {
                            vote_id: v["vote_id"].as_i64().unwrap_or(-1),
                            models: models
                                .iter()
                                .map(|m| m["model"].as_str().unwrap_or("").to_string())
                                .collect(),
                            ranks: models
                                .iter()
                                .map(|m| m["rank"].as_u64().unwrap_or(0) as u32)
                                .collect(),
                        });
                        rep.vote_latency.push(lat);
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        rep.errors += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            rep
        }));
    }
    let mut all = LoadReport::default();
    for t in tasks {
        if let Ok(r) = t.await {
            all.acked.extend(r.acked);
            all.errors += r.errors;
            all.vote_latency.extend(r.vote_latency);
            all.battle_latency.extend(r.battle_latency);
        }
    }
    all.elapsed = start.elapsed();
    all
}
