//! The demo's rating stage: battles among models of known strength, the leaderboard with
//! bootstrap intervals, and how it compares with the truth; then the K-Sort simulator
//! at a small size.

use std::path::Path;

use prefer_data::synth::{BattleSpec, battles};
use prefer_data::{Record, RecordWriter, WriteOptions};
use prefer_plot::{Whisker, interval_chart};
use prefer_rank::bt::BtConfig;
use prefer_rank::intervals::BootstrapConfig;
use prefer_rank::leaderboard::{Interval, Method, leaderboard};
use prefer_rank::load::{OnBad, load};
use prefer_rank::simulate::{SimConfig, SimMethod, run_all};

use crate::ui::print_table;

/// Runs the stage; files go to `out`.
pub fn run(
    out: &Path,
    seed: u64,
    summary: &mut serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<()> {
    let spec = BattleSpec {
        models: 12,
        battles: 20_000,
        tie_rate: 0.0,
        spread: 120.0,
        skew: 0.6,
        seed,
    };
    let world = battles(&spec);
    let path = out.join("battles.jsonl");
    let mut w = RecordWriter::create(&path, &WriteOptions::default())?;
    for b in &world.battles {
        w.write(&Record::Battle(b.clone()))?;
    }
    w.finish()?;
    println!(
        "    {} battles among {} models of hidden strength (popularity uneven) -> {}",
        world.battles.len(),
        spec.models,
        path.display()
    );
    let data = load(&path, &Default::default(), OnBad::Stop, &[])?.data;
    let board = leaderboard(
        &data,
        &Method::Bt(BtConfig::default()),
        &Interval::Bootstrap(BootstrapConfig {
            rounds: 200,
            seed,
            level: 0.95,
        }),
    )?;
    let mean_true = world.ratings.iter().sum::<f64>() / world.ratings.len() as f64;
    let truth = |m: &str| {
        world
            .models
            .iter()
            .position(|x| x == m)
            .map_or(f64::NAN, |i| 1000.0 + world.ratings[i] - mean_true)
    };
    let mut covered = 0;
    let rows: Vec<Vec<String>> = board
        .rows
        .iter()
        .map(|r| {
            let t = truth(&r.model);
            let (lo, hi) = (r.lower.unwrap_or(r.rating), r.upper.unwrap_or(r.rating));
            if lo <= t && t <= hi {
                covered += 1;
            }
            vec![
                r.rank.to_string(),
                r.model.clone(),
                format!("{:.1}", r.rating),
                format!("[{lo:.1}, {hi:.1}]"),
                format!("{t:.1}"),
                r.votes.to_string(),
            ]
        })
        .collect();
    print_table(
        &[
            "rank",
            "model",
            "BT rating",
            "95% bootstrap",
            "truth",
            "votes",
        ],
        &rows,
    );
    println!(
        "    the interval holds the true rating for {covered}/{} models (95% expected on average)",
        board.rows.len()
    );
    // The hidden strengths, for whoever checks a fit of battles.jsonl against them.
    let truth_path = out.join("battles.truth.json");
    let truths: serde_json::Map<String, serde_json::Value> = world
        .models
        .iter()
        .map(|m| (m.clone(), truth(m).into()))
        .collect();
    let mut f = prefer_data::AtomicFile::create(&truth_path)?;
    serde_json::to_writer_pretty(f.file(), &truths)?;
    f.commit()?;
    summary.insert(
        "rank".into(),
        serde_json::json!({
            "battles": world.battles.len(),
            "models": board.rows.len(),
            "covered": covered,
            "truth": truth_path.file_name().map(|n| n.to_string_lossy().into_owned()),
        }),
    );
    let plot = out.join("ratings.png");
    let whiskers: Vec<Whisker> = board
        .rows
        .iter()
        .map(|r| Whisker {
            label: r.model.clone(),
            value: r.rating,
            lower: r.lower.unwrap_or(r.rating),
            upper: r.upper.unwrap_or(r.rating),
        })
        .collect();
    interval_chart(
        &plot,
        "Bradley-Terry ratings (95% bootstrap)",
        "rating",
        &whiskers,
    )?;
    println!("    plot -> {}", plot.display());

    println!("    K-Sort Arena's claim, small: 20 models 100 Elo points apart, 3 seeds");
    let cfg = SimConfig {
        models: 20,
        gap: 100.0,
        max_votes: 20_000,
        seeds: vec![seed, seed + 1, seed + 2],
        ..Default::default()
    };
    let runs = run_all(&cfg, &[SimMethod::EloRandom, SimMethod::KsortSimilar])?;
    let rows: Vec<Vec<String>> = [SimMethod::EloRandom, SimMethod::KsortSimilar]
        .iter()
        .map(|m| {
            let mut v: Vec<usize> = runs
                .iter()
                .filter(|r| r.method == *m)
                .filter_map(|r| r.first_zero)
                .collect();
            v.sort_unstable();
            vec![
                m.name().to_string(),
                v.get(v.len() / 2).map_or("-".into(), |x| x.to_string()),
            ]
        })
        .collect();
    print_table(
        &["method", "median votes until the ranking is right"],
        &rows,
    );
    Ok(())
}
