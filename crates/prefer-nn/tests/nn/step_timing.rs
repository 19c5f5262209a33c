//! By-hand timing of one forward + backward over a DPO-shaped batch (not a timed test:
//! `#[ignore]`d; run with
//! `CANDLE_NUM_THREADS=1 cargo test --release -p prefer-nn step_timing -- --ignored --nocapture`).

use std::time::Instant;

use candle_core::DType;
use prefer_nn::logprobs::{BatchConfig, PairBatch, PairIds, pair_logps};
use prefer_nn::model::{CausalLm, InitConfig, LoadOptions, ModelConfig};

#[test]
#[ignore]
fn step_timing_tiny_4_pairs_of_128() -> prefer_nn::Result<()> {
    // The notes' "tiny" shape: hidden 256, 4 layers, vocab 8000, 4 + 4 sequences of 128.
    let mut cfg = ModelConfig::tiny(8000, 256, 4, 8, 4);
    cfg.intermediate_size = 688;
    let m = CausalLm::random(&cfg, &InitConfig::default(), &LoadOptions::trainable())?;
    let pairs: Vec<PairIds> = (0..4u32)
        .map(|i| PairIds {
            prompt: (0..32).map(|j| 3 + (i * 31 + j * 7) % 7990).collect(),
            chosen: (0..95).map(|j| 3 + (i * 13 + j * 11) % 7990).collect(),
            rejected: (0..95).map(|j| 3 + (i * 17 + j * 5) % 7990).collect(),
        })
        .collect();
    let batch = PairBatch::new(
        &pairs,
        &BatchConfig {
            eos_id: Some(2),
            ..Default::default()
        },
        m.device(),
    )?;
    let mut times = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        let out = pair_logps(&m, &batch)?;
        let loss = (out.chosen.sum_all()? - out.rejected.sum_all()?)?;
        let t1 = Instant::now();
        let grads = loss.backward()?;
        let t2 = Instant::now();
        assert_eq!(
            grads.get(&m.vars()?[0].1).map(|g| g.dtype()),
            Some(DType::F32)
        );
        times.push(((t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64()));
    }
    times.sort_by(|a, b| (a.0 + a.1).total_cmp(&(b.0 + b.1)));
    let (f, b) = times[times.len() / 2];
    println!(
        "tiny 4+4 x 128: forward {f:.3} s, backward {b:.3} s, total {:.3} s (median of 5)",
        f + b
    );
    Ok(())
}
