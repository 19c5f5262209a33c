//! The demo's arena stage: the vote-collecting service on its embedded SQLite database,
//! driven in this process by simulated voters who prefer correct, concise answers; then
//! the leaderboard, and the export read back by the rating engine.

use std::collections::HashMap;
use std::path::Path;

use prefer_arena::ArenaConfig;
use prefer_arena::battle::VoteBody;
use prefer_arena::blocking;
use prefer_arena::export::Kind;
use prefer_rank::bt::BtConfig;
use prefer_rank::leaderboard::{Interval, Method, leaderboard};
use prefer_rank::load::{OnBad, load};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ui::print_table;

/// Runs the stage; the database and the export go to `out`.
pub fn run(
    out: &Path,
    seed: u64,
    votes: usize,
    summary: &mut serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<()> {
    let db = out.join("arena.db");
    for suffix in ["", "-wal", "-shm"] {
        let p = out.join(format!("arena.db{suffix}"));
        if p.exists() {
            std::fs::remove_file(&p)?;
        }
    }
    // The voters' key: each demo prompt's correct answer (the concise model's output).
    let answers: HashMap<String, String> = prefer_arena::demo::outputs()
        .into_iter()
        .filter(|o| o.model == "concise-3b")
        .map(|o| (o.prompt_id, o.response.to_lowercase()))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let judge = |b: &prefer_arena::view::BattleView| -> VoteBody {
        let key = answers.get(&b.prompt_id).cloned().unwrap_or_default();
        // Correct beats wrong; among correct answers shorter is better; Gumbel noise makes
        // the voter a Plackett-Luce ranker rather than an oracle.
        let scores: Vec<f64> = b
            .responses
            .iter()
            .map(|r| {
                let text = r.text.to_lowercase();
                let correct = if !key.is_empty() && text.contains(&key) {
                    2.0
                } else {
                    0.0
                };
                let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
                correct - 0.004 * text.chars().count() as f64 - 0.5 * (-u.ln()).ln()
            })
            .collect();
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&x, &y| scores[y].total_cmp(&scores[x]));
        let mut ranking = vec![0u32; scores.len()];
        for (r, &i) in order.iter().enumerate() {
            ranking[i] = r as u32 + 1;
        }
        VoteBody {
            winner: None,
            ranking: Some(ranking),
        }
    };
    let db_url = db.to_string_lossy().to_string();
    let board = blocking::simulate(&db_url, ArenaConfig::default(), votes, judge)?;
    println!(
        "    {} 4-wise votes stored in {} (SQLite); models chosen by K-Sort matchmaking",
        board.votes,
        db.display()
    );
    let rows: Vec<Vec<String>> = board
        .rows
        .iter()
        .map(|r| {
            let bt = r.bt.as_ref();
            vec![
                r.rank.to_string(),
                r.model.clone(),
                bt.map_or("-".into(), |b| format!("{:.0}", b.rating)),
                bt.and_then(|b| b.lower.zip(b.upper))
                    .map_or("-".into(), |(lo, hi)| format!("[{lo:.0}, {hi:.0}]")),
                format!("{:.1}", r.ksort.score),
                r.votes.to_string(),
            ]
        })
        .collect();
    print_table(
        &[
            "rank",
            "model",
            "BT",
            "95% bootstrap",
            "K-Sort μ−3σ",
            "votes",
        ],
        &rows,
    );
    let export = out.join("arena_battles.jsonl");
    let n = blocking::export(&db_url, Kind::Battles, &export)?;
    let data = load(&export, &Default::default(), OnBad::Stop, &[])?.data;
    let refit = leaderboard(
        &data,
        &Method::Bt(BtConfig {
            l2: ArenaConfig::default().bt_l2,
            ..Default::default()
        }),
        &Interval::None,
    )?;
    let max_diff = board
        .rows
        .iter()
        .filter_map(|r| {
            let mine = r.bt.as_ref()?.rating;
            let again = refit.rows.iter().find(|x| x.model == r.model)?.rating;
            Some((mine - again).abs())
        })
        .fold(0.0f64, f64::max);
    summary.insert(
        "arena".into(),
        serde_json::json!({
            "votes": board.votes,
            "exported_battles": n,
            "refit_max_difference": max_diff,
            "order": board.rows.iter().map(|r| r.model.clone()).collect::<Vec<_>>(),
        }),
    );
    println!(
        "    exported {n} battles -> {}; `prefer rank fit` on the export gives the same BT \
         ratings (largest difference {max_diff:.1e} points)",
        export.display()
    );
    Ok(())
}
