//! The training stage of `prefer demo`: stories260K learns to tell happier stories from
//! its own samples, judged by a word list a reader can check.
//!
//! 1. sample 4 stories for each training prompt; score them with the sentiment lexicon
//!    (+1 per positive word, −1 per negative word); the best and the worst make a pair;
//! 2. train DPO on those pairs (reference log-probs cached);
//! 3. on held-out prompts, compare the trained model with the starting one: the rule's
//!    mean score, the win rate, and the KL divergence to the starting model.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use prefer_data::{Record, RecordWriter, WriteOptions};
use prefer_nn::model::{CausalLm, LoadOptions};
use prefer_nn::sample::SampleConfig;
use prefer_nn::tokenizer::Tokenizer;
use prefer_train::config::TrainConfig;
use prefer_train::rollout::{self, Lexicon};
use prefer_train::trainer::Trainer;

/// Runs the stage with `prompts` training prompts (half as many held out); prints the
/// before/after figures. Skips with a message when the model folder is absent.
pub fn run(
    out: &Path,
    model_dir: &Path,
    prompts: usize,
    seed: u64,
    summary: &mut serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<()> {
    println!("\n[7] train: stories260K learns happier stories from its own samples (DPO)");
    if !model_dir.join("config.json").exists() {
        println!(
            "    skipped: no model in {} (pass --model)",
            model_dir.display()
        );
        summary.insert("train".into(), serde_json::json!({ "skipped": "no model" }));
        return Ok(());
    }
    let t0 = Instant::now();
    let dir = out.join("train");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let base = CausalLm::load(model_dir, &LoadOptions::frozen())?;
    let tok = Tokenizer::from_dir(model_dir)?;
    let rule = Lexicon::sentiment();
    let sample = SampleConfig {
        max_new_tokens: 48,
        temperature: 1.0,
        seed,
        ..Default::default()
    };
    let train_prompts = rollout::story_prompts(prompts, 0);
    let (pairs, st) = rollout::rule_pairs(&base, &tok, &train_prompts, 4, &sample, &rule)?;
    let pairs_path = dir.join("pairs.jsonl");
    let mut w = RecordWriter::create(&pairs_path, &WriteOptions::default())?;
    for p in pairs {
        w.write(&Record::Pair(p))?;
    }
    w.finish()?;
    println!(
        "    {} pairs from {} prompts x 4 samples (mean score {:.2}; chosen {:.2}, rejected {:.2}) -> {}",
        st.pairs,
        st.prompts,
        st.mean_score,
        st.mean_chosen,
        st.mean_rejected,
        pairs_path.display()
    );
    let mut cfg = TrainConfig::default();
    cfg.model.path = model_dir.to_path_buf();
    cfg.data.train = pairs_path;
    cfg.run.out_dir = dir.join("dpo");
    cfg.run.batch_size = 8;
    cfg.run.epochs = 8.0;
    cfg.run.seed = seed;
    cfg.optim.lr = 2e-4;
    cfg.schedule.warmup_ratio = 0.1;
    cfg.set("objective.loss", "{ type = \"sigmoid\", beta = 0.1 }")?;
    let mut t = Trainer::new(cfg)?;
    let total = t.total_steps();
    let s = t.train(&mut |_| ControlFlow::Continue(()))?;
    println!(
        "    DPO: {total} steps, loss {:.3}, reward accuracy {:.2} (last step)",
        s.last.get("loss").unwrap_or(f64::NAN),
        s.last.get("rewards/accuracies").unwrap_or(f64::NAN)
    );
    let held_out = rollout::story_prompts((prompts / 2).max(8), 200);
    let eval_sample = SampleConfig {
        seed: seed + 1,
        ..sample
    };
    let r = rollout::rule_report(t.policy(), &base, &tok, &held_out, 4, &eval_sample, &rule)?;
    println!(
        "    held-out prompts ({}): sentiment score {:.2} -> {:.2}, win rate over the start {:.2}, KL {:.1} ± {:.1} nats",
        held_out.len(),
        r.base_score,
        r.score,
        r.win_rate,
        r.kl,
        r.kl_se
    );
    summary.insert(
        "train".into(),
        serde_json::json!({
            "pairs": st.pairs,
            "steps": total,
            "held_out_prompts": held_out.len(),
            "base_score": r.base_score,
            "score": r.score,
            "win_rate": r.win_rate,
            "kl": r.kl,
        }),
    );
    if let Some(c) = s.checkpoint {
        println!(
            "    trained model: {} ({:.0} s)",
            c.display(),
            t0.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
