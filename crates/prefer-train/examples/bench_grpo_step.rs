//! One GRPO optimizer step of prefer-train, timed: the Rust side of
//! `bench/train/grpo_bench.sh` (which runs TRL's GRPOTrainer in the same script).
//!
//! ```text
//! CANDLE_NUM_THREADS=1 RAYON_NUM_THREADS=1 cargo run --release -p prefer-train \
//!     --example bench_grpo_step -- ../shared/models/stories260K 3
//! ```
//! Arguments: a model folder (with tokenizer.json) and the timed steps. Each step: one
//! prompt, a group of 8 completions of up to 64 tokens, a word-count reward, the `dapo`
//! loss with β = 0 (TRL's defaults), lr 1e-6. Generation is timed apart by sampling the
//! same group with the same settings outside the step. Prints one JSON line.

use std::time::Instant;

use prefer_nn::model::{CausalLm, LoadOptions};
use prefer_nn::sample::{SampleConfig, generate};
use prefer_nn::tokenizer::Tokenizer;
use prefer_train::config::{Objective, TrainConfig};
use prefer_train::data::{Examples, PromptExample};
use prefer_train::online::GrpoConfig;
use prefer_train::reward::{RewardKind, RewardSpec};
use prefer_train::trainer::Trainer;

#[path = "shared/bench.rs"]
mod bench;
use bench::peak_rss_mb;

// The allocator of the `prefer` binary, so the step is measured as users run it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(
        args.get(1)
            .map_or("../shared/models/stories260K", String::as_str),
    );
    let steps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let tok = Tokenizer::from_dir(&dir)?;
    let policy = CausalLm::load(&dir, &LoadOptions::trainable())?;
    let prompts: Vec<PromptExample> = (0..=steps)
        .map(|i| {
            let text = format!("Once upon a time, there was a little girl named Amy{i}.");
            Ok(PromptExample {
                ids: tok.encode(&text, true)?,
                text,
                truncated: false,
            })
        })
        .collect::<Result<_, prefer_nn::Error>>()?;
    // Generation alone, as the step samples it (same group, length and temperature).
    let eos: Vec<u32> = tok.eos_id().into_iter().collect();
    let mut gen_times = Vec::new();
    let mut gen_tokens = 0usize;
    for (i, p) in prompts.iter().enumerate() {
        let ids = vec![p.ids.clone(); 8];
        let cfg = SampleConfig {
            max_new_tokens: 64,
            temperature: 1.0,
            seed: i as u64,
            stop_at_eos: true,
            ..Default::default()
        };
        let t = Instant::now();
        let g = generate(&policy, &ids, &eos, &cfg)?;
        if i > 0 {
            gen_times.push(t.elapsed().as_secs_f64());
            gen_tokens += g.iter().map(|o| o.tokens.len()).sum::<usize>();
        }
    }
    let out = std::env::temp_dir().join(format!("prefer-grpo-bench-{}", std::process::id()));
    let mut tc = TrainConfig::default();
    tc.model.path = dir.clone();
    tc.data.train = "prompts".into();
    tc.run.out_dir = out.clone();
    tc.run.batch_size = 8;
    tc.run.shuffle = false;
    tc.run.max_steps = Some((steps + 1) as u64);
    tc.optim.lr = 1e-6;
    tc.objective = Objective::Grpo(GrpoConfig {
        num_generations: 8,
        max_completion_length: 64,
        reward: vec![RewardSpec {
            kind: RewardKind::Length { target: 1000 },
            weight: 1.0,
        }],
        ..GrpoConfig::default()
    });
    let mut t = Trainer::with_model(tc, policy, Examples::Prompts(prompts), None)?;
    let mut times = Vec::new();
    let mut len = Vec::new();
    for i in 0..=steps {
        let s = Instant::now();
        let m = t.step()?;
        if i > 0 {
            times.push(s.elapsed().as_secs_f64());
            len.push(m.get("completions/mean_length").unwrap_or(f64::NAN));
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    println!(
        "{}",
        serde_json::json!({
            "impl": "prefer", "step_s_median": median(times.clone()),
            "gen_s_median": median(gen_times),
            "mean_completion_tokens": len.iter().sum::<f64>() / len.len() as f64,
            "gen_mean_tokens": gen_tokens as f64 / (8 * steps) as f64,
            "peak_rss_mb": peak_rss_mb(), "step_s_all": times,
        })
    );
    Ok(())
}
