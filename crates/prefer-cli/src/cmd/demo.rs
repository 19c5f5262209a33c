//! `prefer demo`: the whole loop on generated data with a known ground truth, on the
//! embedded defaults (local files, CPU). Each stage prints what it did and how it
//! compares with the truth the data was generated from.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use prefer_data::convert::{Binarizer, PairMode, ScoreBy};
use prefer_data::split::Splitter;
use prefer_data::stats::StatsBuilder;
use prefer_data::{
    AtomicFile, Dataset, Error, OpenOptions, Record, RecordWriter, RejectWriter, WriteOptions,
    synth,
};

/// `prefer demo`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder for the demo's files.
    #[arg(long, default_value = "prefer-demo")]
    pub out: PathBuf,
    /// Seed for everything generated.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Prompts in the generated rating set (4 rated responses each).
    #[arg(long, default_value_t = 2000)]
    pub prompts: usize,
    /// Skip the training stage (stories260K learns happier stories by DPO).
    #[arg(long)]
    pub skip_train: bool,
    /// Skip the reward-model stage (heads on sentence embeddings, GPM, PAL, LM reward model).
    #[arg(long)]
    pub skip_reward: bool,
    /// Skip the arena stage.
    #[arg(long)]
    pub skip_arena: bool,
    /// Votes the arena stage's simulated voters cast.
    #[arg(long, default_value_t = 300)]
    pub arena_votes: usize,
    /// Training prompts of the training stage (a few minutes on 2 cores at 48).
    #[arg(long, default_value_t = 48)]
    pub train_prompts: usize,
    /// The model of the training stage.
    #[arg(long, default_value = "../shared/models/stories260K")]
    pub model: PathBuf,
}

fn stage(n: usize, title: &str) {
    println!("\n[{n}] {title}");
}

/// Runs the demo.
pub fn run(a: &Args) -> anyhow::Result<ExitCode> {
    let t0 = Instant::now();
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    println!(
        "prefer demo: generated data with a known ground truth, files in {}",
        a.out.display()
    );

    // 1. Generate ratings (UltraFeedback-like) and plant a few bad records.
    stage(
        1,
        "generate rated responses (4 per prompt, hidden quality known)",
    );
    let ratings = synth::ratings(a.prompts, 4, 0.6, a.seed);
    let quality: HashMap<String, f64> = ratings
        .iter()
        .map(|(r, q)| (r.response.flat(), *q))
        .collect();
    let ratings_path = a.out.join("ratings.jsonl");
    write_with_planted_errors(&ratings_path, &ratings)?;
    println!(
        "    wrote {} ratings (3 of them deliberately broken) to {}",
        ratings.len(),
        ratings_path.display()
    );

    // 2. Validate: every bad record is named by line and field.
    stage(2, "validate");
    let mut good = 0usize;
    let mut bad = Vec::new();
    for item in Dataset::open(&ratings_path, &OpenOptions::default())? {
        match item {
            Ok(_) => good += 1,
            Err(Error::Record(e)) => bad.push(e),
            Err(e) => return Err(e.into()),
        }
    }
    for e in &bad {
        println!("    {e}");
    }
    println!("    {good} valid, {} invalid", bad.len());

    // 3. Convert ratings -> pairs (UltraFeedback binarization), skipping bad records
    //    into a side file, writing Parquet.
    stage(
        3,
        "convert ratings -> pairs (best vs random lower), Parquet, bad records to a side file",
    );
    let pairs_path = a.out.join("pairs.parquet");
    let rejects_path = a.out.join("pairs.rejected.jsonl");
    let mut out = RecordWriter::create(&pairs_path, &WriteOptions::default())?;
    let mut rejects = RejectWriter::create(&rejects_path)?;
    let mut bin = Binarizer::new(PairMode::BestVsRandom, ScoreBy::OverallOrMean, a.seed);
    for item in Dataset::open(&ratings_path, &OpenOptions::default())? {
        match item {
            Ok(i) => {
                if let Record::Rating(r) = i.record {
                    for p in bin.push(r).map_err(anyhow::Error::msg)? {
                        out.write(&Record::Pair(p))?;
                    }
                }
            }
            Err(Error::Record(e)) => rejects.reject(&e)?,
            Err(e) => return Err(e.into()),
        }
    }
    for p in bin.finish() {
        out.write(&Record::Pair(p))?;
    }
    let n_pairs = out.count();
    out.finish()?;
    let n_rejected = rejects.count();
    rejects.finish()?;
    println!(
        "    {n_pairs} pairs -> {}; {n_rejected} rejected with reasons -> {}",
        pairs_path.display(),
        rejects_path.display()
    );

    // 4. Read the Parquet back and check the labels against the hidden quality.
    stage(4, "read back and compare with the ground truth");
    let (mut agree, mut total) = (0usize, 0usize);
    let mut stats = StatsBuilder::chars();
    for item in Dataset::open(&pairs_path, &OpenOptions::default())? {
        let item = item?;
        stats.add(&item.record);
        if let Record::Pair(p) = &item.record {
            let (qc, qr) = (
                quality.get(&p.chosen.flat()),
                quality.get(&p.rejected.flat()),
            );
            if let (Some(qc), Some(qr)) = (qc, qr) {
                total += 1;
                if qc > qr {
                    agree += 1;
                }
            }
        }
    }
    let stats = stats.finish();
    println!(
        "    chosen has the higher hidden quality in {agree}/{total} pairs ({:.1}%; \
         chance is 50%)",
        100.0 * agree as f64 / total.max(1) as f64
    );
    if let Some(l) = stats.lengths.get("chosen") {
        println!(
            "    chosen length: mean {:.0} chars, p50 {}, p90 {}",
            l.mean, l.p50, l.p90
        );
    }

    // 5. Split by prompt, reproducibly.
    stage(5, "split 90/10 by prompt");
    let splitter = Splitter::new(&[0.9, 0.1], a.seed).map_err(anyhow::Error::msg)?;
    let mut w = [
        RecordWriter::create(&a.out.join("train.jsonl"), &WriteOptions::default())?,
        RecordWriter::create(&a.out.join("test.jsonl"), &WriteOptions::default())?,
    ];
    for item in Dataset::open(&pairs_path, &OpenOptions::default())? {
        let item = item?;
        if let Record::Pair(p) = &item.record {
            let key = p.prompt.as_ref().map(|t| t.flat()).unwrap_or_default();
            w[splitter.assign(key.as_bytes())].write(&item.record)?;
        }
    }
    let counts = [w[0].count(), w[1].count()];
    for x in w {
        x.finish()?;
    }
    println!("    train {} pairs, test {} pairs", counts[0], counts[1]);
    let mut summary = serde_json::Map::new();
    summary.insert(
        "data".into(),
        serde_json::json!({
            "ratings": ratings.len(),
            "valid": good,
            "invalid": bad.len(),
            "pairs": n_pairs,
            "rejected": n_rejected,
            "agree_with_truth": agree,
            "compared": total,
            "train_pairs": counts[0],
            "test_pairs": counts[1],
        }),
    );

    stage(
        6,
        "rate models from votes: Bradley-Terry with bootstrap intervals vs the truth",
    );
    super::demo_rank::run(&a.out, a.seed, &mut summary)?;

    if !a.skip_train {
        super::demo_train::run(&a.out, &a.model, a.train_prompts, a.seed, &mut summary)?;
    }

    if !a.skip_reward {
        stage(
            8,
            "reward models: heads on sentence embeddings, GPM vs BT, PAL vs BT, an LM reward model",
        );
        super::demo_reward::run(&a.out, &a.model, a.seed, &mut summary)?;
    }

    if !a.skip_arena {
        stage(
            9,
            "the arena on its embedded SQLite database: simulated voters, live leaderboard, export",
        );
        super::demo_arena::run(&a.out, a.seed, a.arena_votes, &mut summary)?;
    }

    // Every stage's figures, for scripts and tests (written whole or not at all).
    let summary_path = a.out.join("summary.json");
    let mut f = AtomicFile::create(&summary_path)?;
    serde_json::to_writer_pretty(f.file(), &summary)?;
    f.commit()?;
    println!("\nfigures -> {}", summary_path.display());
    println!("done in {:.1} s", t0.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

/// Writes the ratings as JSONL with three planted bad records: an empty response, a
/// score that is not a number, and a line cut in half.
fn write_with_planted_errors(
    path: &Path,
    ratings: &[(prefer_data::Rating, f64)],
) -> anyhow::Result<()> {
    let mut f = AtomicFile::create(path)?;
    let file = f.file();
    let mut w = std::io::BufWriter::new(file);
    for (i, (r, _)) in ratings.iter().enumerate() {
        let mut v = serde_json::to_value(r)?;
        match i {
            5 => v["response"] = "".into(),
            17 => v["scores"]["honesty"] = "very".into(),
            29 => {
                let s = v.to_string();
                writeln!(w, "{}", &s[..s.len() / 2])?;
                continue;
            }
            _ => {}
        }
        writeln!(w, "{v}")?;
    }
    w.flush()?;
    drop(w);
    f.commit()?;
    Ok(())
}
