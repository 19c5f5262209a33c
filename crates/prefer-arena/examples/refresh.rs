//! Leaderboard refresh at scale: fills a database with `--votes` K = 4 votes among
//! `--models` models (a Plackett-Luce voter with known strengths, bulk-inserted), then
//! times what a refresh costs: opening the arena (every vote read and replayed through
//! K-Sort and Elo), the full Bradley-Terry refit with `--bootstrap` rounds, and the
//! leaderboard view.
//!
//! ```text
//! cargo run --release -p prefer-arena --example refresh -- --db /tmp/refresh.db --votes 1000000
//! cargo run --release -p prefer-arena --example refresh -- --db postgres://prefer:prefer@127.0.0.1/bench --votes 1000000
//! ```

#![allow(clippy::result_large_err)]

use std::time::Instant;

use prefer_arena::catalog::OutputRecord;
use prefer_arena::db::{Db, on_write};
use prefer_arena::{Arena, ArenaConfig};
use rand::{Rng, SeedableRng};

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

fn main() -> prefer_arena::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let url = arg(&args, "--db", "/tmp/prefer-arena-refresh.db");
    let votes: usize = arg(&args, "--votes", "1000000").parse().expect("--votes");
    let models: usize = arg(&args, "--models", "20").parse().expect("--models");
    let rounds: usize = arg(&args, "--bootstrap", "100")
        .parse()
        .expect("--bootstrap");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let names: Vec<String> = (0..models).map(|i| format!("model-{i:02}")).collect();
        {
            let db = Db::open(&url).await?;
            let have = db.counts().await?.2 as usize;
            if have < votes {
                let arena = Arena::with_db(db.clone(), ArenaConfig::default()).await?;
                if arena.inner.catalog().outputs.is_empty() {
                    let out: Vec<OutputRecord> = names
                        .iter()
                        .flat_map(|m| {
                            (0..10).map(move |p| OutputRecord {
                                model: m.clone(),
                                prompt_id: format!("p{p}"),
                                prompt: format!("prompt {p}"),
                                response: format!("{m} on {p}"),
                            })
                        })
                        .collect();
                    arena.import(out).await.map_err(|e| prefer_arena::Error::Invalid(e.to_string()))?;
                }
                let ids: Vec<i64> = db.models().await?.iter().map(|m| m.0).collect();
                let t = Instant::now();
                fill(&db, &ids, have, votes).await?;
                eprintln!("inserted {} votes in {:.1} s", votes - have, t.elapsed().as_secs_f64());
            }
            db.close().await;
        }
        let cfg = ArenaConfig {
            bootstrap_rounds: rounds,
            refit_every_s: 1e9,
            ..Default::default()
        };
        let t = Instant::now();
        let arena = Arena::open(&url, cfg).await?;
        let open = t.elapsed().as_secs_f64();
        let t = Instant::now();
        arena.refit_now().await;
        let refit = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let board = arena.leaderboard();
        let view = t.elapsed().as_secs_f64();
        let r = board.refit.as_ref().expect("refit");
        println!(
            "{} ({}): {} votes, {} models: open (read + replay K-Sort/Elo) {open:.2} s; \
             BT refit with {rounds} bootstrap rounds {refit:.2} s (fit itself {:.2} s){}; leaderboard view {:.2} ms",
            arena.inner.db.backend(),
            url.split('@').next_back().unwrap_or(&url),
            board.votes,
            board.rows.len(),
            r.seconds,
            r.error.as_ref().map_or(String::new(), |e| format!(" ERROR {e}")),
            view * 1e3
        );
        println!(
            "top: {}",
            board.rows.iter().take(3).map(|r| r.model.as_str()).collect::<Vec<_>>().join(", ")
        );
        Ok(())
    })
}

/// Inserts votes `from..to` (a PL voter, strength 0.15·i for model i), 500 per statement.
async fn fill(db: &Db, ids: &[i64], from: usize, to: usize) -> prefer_arena::Result<()> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(from as u64);
    let n = ids.len();
    let mut i = from;
    while i < to {
        let chunk = (to - i).min(20_000);
        let rows: Vec<([i64; 4], [i64; 4])> = (0..chunk)
            .map(|_| {
                let mut pick: Vec<usize> = (0..n).collect();
                for a in 0..4 {
                    let b = rng.random_range(a..n);
                    pick.swap(a, b);
                }
                let mut keys: Vec<(f64, usize)> = (0..4)
                    .map(|j| {
                        (
                            0.15 * pick[j] as f64 - (-(rng.random::<f64>().max(1e-300)).ln()).ln(),
                            j,
                        )
                    })
                    .collect();
                keys.sort_by(|x, y| y.0.total_cmp(&x.0));
                let mut ranks = [0i64; 4];
                for (pos, (_, j)) in keys.iter().enumerate() {
                    ranks[*j] = pos as i64 + 1;
                }
                (
                    [ids[pick[0]], ids[pick[1]], ids[pick[2]], ids[pick[3]]],
                    ranks,
                )
            })
            .collect();
        let start = i;
        on_write!(db, |p| {
            async {
            let mut tx = p.begin().await?;
            for (c, part) in rows.chunks(500).enumerate() {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO votes (battle_id, prompt_id, k, m0, m1, m2, m3, r0, r1, r2, r3, kind, created_ms) ",
                );
                qb.push_values(part.iter().enumerate(), |mut b, (j, (m, r))| {
                    b.push_bind(format!("bench-{}", start + c * 500 + j))
                        .push_bind("p0")
                        .push_bind(4i64)
                        .push_bind(m[0])
                        .push_bind(m[1])
                        .push_bind(m[2])
                        .push_bind(m[3])
                        .push_bind(r[0])
                        .push_bind(r[1])
                        .push_bind(r[2])
                        .push_bind(r[3])
                        .push_bind("ranking")
                        .push_bind(0i64);
                });
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<(), prefer_arena::Error>(())
        }
        .await
        })?;
        i += chunk;
    }
    Ok(())
}
