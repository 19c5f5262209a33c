//! One DPO optimizer step of prefer-train on a random Llama, timed: the Rust side of
//! `bench/train/run.sh` (which runs the PyTorch and TRL peers in the same script).
//!
//! ```text
//! CANDLE_NUM_THREADS=1 RAYON_NUM_THREADS=1 cargo run --release -p prefer-train \
//!     --example bench_dpo_step -- tiny 5 live
//! ```
//! Arguments: config (`tiny`: hidden 256, 4 layers, vocab 8000, 4 pairs of 128 tokens;
//! `smollm`: SmolLM-135M's shape, 2 pairs of 256 tokens), timed steps, reference
//! (`live`: a frozen copy run every step, as the peers do; `cached`: precomputed), and
//! `ckpt` as a fourth argument for gradient checkpointing.
//! Prints one JSON line: step times, peak resident memory, tokens/s, matmul GFLOP/s.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use prefer_nn::logprobs::PairIds;
use prefer_nn::model::{CausalLm, InitConfig, LoadOptions, ModelConfig};
use prefer_train::config::{ReferenceMode, TrainConfig};
use prefer_train::data::{Examples, PairExample};
use prefer_train::trainer::Trainer;
use rand::{Rng, SeedableRng};

#[path = "shared/bench.rs"]
mod bench;
use bench::peak_rss_mb;

// The allocator of the `prefer` binary, so the step is measured as users run it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Single-thread f32 matmul throughput (GFLOP/s), n×n by n×n, best of 5.
fn matmul_gflops(n: usize) -> Result<f64, Box<dyn std::error::Error>> {
    let a = Tensor::randn(0f32, 1.0, (n, n), &Device::Cpu)?;
    let b = Tensor::randn(0f32, 1.0, (n, n), &Device::Cpu)?;
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        let c = a.matmul(&b)?;
        let _ = c.sum_all()?.to_scalar::<f32>()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(2.0 * (n * n * n) as f64 / best / 1e9)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("tiny", String::as_str).to_string();
    let steps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let mode = match args.get(3).map_or("live", String::as_str) {
        "cached" => ReferenceMode::Cached,
        _ => ReferenceMode::Live,
    };
    let ckpt = args.get(4).is_some_and(|a| a == "ckpt");
    let (cfg, pairs, len) = match which.as_str() {
        "smollm" => {
            let mut c = ModelConfig::tiny(49152, 576, 30, 9, 3);
            c.intermediate_size = 1536;
            c.tie_word_embeddings = true;
            c.rope_theta = 10000.0;
            (c, 2usize, 256usize)
        }
        _ => {
            let mut c = ModelConfig::tiny(8000, 256, 4, 8, 8);
            c.intermediate_size = 688;
            (c, 4usize, 128usize)
        }
    };
    let gflops = matmul_gflops(1024)?;
    let model = CausalLm::random(
        &cfg,
        &InitConfig { seed: 0, std: 0.02 },
        &LoadOptions::trainable(),
    )?;
    let n_params = model.num_parameters();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let half = len / 2;
    let mut seq = |n: usize| {
        (0..n)
            .map(|_| rng.random_range(3..cfg.vocab_size as u32))
            .collect::<Vec<u32>>()
    };
    let ex: Vec<PairExample> = (0..pairs * (steps + 1))
        .map(|_| PairExample {
            ids: PairIds {
                prompt: seq(half),
                chosen: seq(half),
                rejected: seq(half),
            },
            strength: None,
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("prefer-bench-{}", std::process::id()));
    let mut tc = TrainConfig::default();
    tc.model.path = "random".into();
    tc.data.train = "random".into();
    tc.run.out_dir = dir.clone();
    tc.run.batch_size = pairs;
    tc.run.shuffle = false;
    tc.run.max_steps = Some((steps + 1) as u64);
    tc.optim.lr = 1e-6;
    tc.reference.mode = mode;
    tc.model.gradient_checkpointing = ckpt;
    let mut t = Trainer::with_model(tc, model, Examples::Pairs(ex), None)?;
    let mut times = Vec::new();
    let mut loss = 0.0;
    for i in 0..=steps {
        let s = Instant::now();
        let m = t.step()?;
        if i > 0 {
            times.push(s.elapsed().as_secs_f64());
        }
        loss = m.get("loss").unwrap_or(f64::NAN);
    }
    let _ = std::fs::remove_dir_all(&dir);
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let tokens = (2 * pairs * len) as f64;
    println!(
        "{}",
        serde_json::json!({
            "impl": format!(
                "prefer ({} reference{})",
                if mode == ReferenceMode::Live { "live" } else { "cached" },
                if ckpt { ", checkpointed" } else { "" }
            ),
            "config": which, "params": n_params, "pairs": pairs, "seq_len": len,
            "step_s_median": median, "step_s_all": times, "peak_rss_mb": peak_rss_mb(),
            "tokens_per_s": tokens / median, "matmul_gflops": gflops, "last_loss": loss,
            "dtype": format!("{:?}", DType::F32),
        })
    );
    Ok(())
}
