//! Batched sampling with a KV cache: temperature, top-k, top-p, a token budget, stop at
//! EOS, seeded.
//!
//! Prompts of different lengths are left-padded; RoPE positions count real tokens and
//! padded keys are masked, so a prompt's continuation does not depend on the others in
//! its batch (greedy decoding of a batch equals decoding each prompt alone).
//!
//! The warpers are applied in transformers' order: temperature, then top-k, then top-p
//! (`TemperatureLogitsWarper`, `TopKLogitsWarper`, `TopPLogitsWarper`).
//!
//! # Quickstart
//! ```no_run
//! use prefer_nn::{model::*, sample::*};
//! let dir = std::path::Path::new("../shared/models/stories260K");
//! let model = CausalLm::load(dir, &LoadOptions::frozen())?;
//! let cfg = SampleConfig { temperature: 0.0, max_new_tokens: 40, ..Default::default() };
//! let out = generate(&model, &[vec![1]], &[2], &cfg)?; // greedy from BOS
//! # Ok::<(), prefer_nn::Error>(())
//! ```

use candle_core::{DType, Tensor};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::model::{CausalLm, KvCache};
use crate::{Error, Result};

/// Sampling settings (transformers' `generate` names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SampleConfig {
    /// Most tokens generated per prompt (default 128).
    pub max_new_tokens: usize,
    /// Softmax temperature τ (default 1.0); 0 means greedy (argmax).
    pub temperature: f64,
    /// Keep only the k most likely tokens (default `None`: all).
    pub top_k: Option<usize>,
    /// Nucleus sampling: keep the most likely tokens whose probabilities sum to at least
    /// p (default 1.0: all).
    pub top_p: f64,
    /// Seed of the ChaCha8 generator (default 0): same seed, same samples.
    pub seed: u64,
    /// Stop a row at its first EOS (default true).
    pub stop_at_eos: bool,
}

impl Default for SampleConfig {
    fn default() -> Self {
        SampleConfig {
            max_new_tokens: 128,
            temperature: 1.0,
            top_k: None,
            top_p: 1.0,
            seed: 0,
            stop_at_eos: true,
        }
    }
}

impl SampleConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(Error::Config(format!(
                "temperature {} must be ≥ 0",
                self.temperature
            )));
        }
        if self.top_p.is_nan() || self.top_p <= 0.0 || self.top_p > 1.0 {
            return Err(Error::Config(format!(
                "top_p {} must be in (0, 1]",
                self.top_p
            )));
        }
        if self.top_k == Some(0) {
            return Err(Error::Config("top_k must be ≥ 1".into()));
        }
        Ok(())
    }
}

/// The continuation of one prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// The new tokens (the EOS that stopped it included).
    pub tokens: Vec<u32>,
    /// Whether it stopped at an EOS (else it ran out of `max_new_tokens`).
    pub stopped_at_eos: bool,
}

/// Picks one token from a row of logits.
pub fn sample_token<R: Rng>(logits: &[f32], cfg: &SampleConfig, rng: &mut R) -> u32 {
    if cfg.temperature == 0.0 {
        return argmax(logits);
    }
    let inv_t = 1.0 / cfg.temperature;
    let mut cand: Vec<(u32, f64)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as u32, l as f64 * inv_t))
        .collect();
    // Descending by logit; ties keep the lower id first.
    cand.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if let Some(k) = cfg.top_k
        && k < cand.len()
    {
        // transformers keeps every token whose logit ties the k-th.
        let kth = cand[k - 1].1;
        let keep = cand.iter().take_while(|c| c.1 >= kth).count();
        cand.truncate(keep);
    }
    let m = cand[0].1;
    let mut probs: Vec<f64> = cand.iter().map(|c| (c.1 - m).exp()).collect();
    let total: f64 = probs.iter().sum();
    if cfg.top_p < 1.0 {
        let mut cum = 0.0;
        let mut keep = probs.len();
        for (i, p) in probs.iter().enumerate() {
            cum += p / total;
            if cum >= cfg.top_p {
                keep = i + 1;
                break;
            }
        }
        probs.truncate(keep);
        cand.truncate(keep);
    }
    let total: f64 = probs.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (c, p) in cand.iter().zip(&probs) {
        if u < *p {
            return c.0;
        }
        u -= p;
    }
    cand[cand.len() - 1].0
}

fn argmax(xs: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if x > xs[best] {
            best = i;
        }
    }
    best as u32
}

/// Continues each prompt (batched, one KV cache). `eos_ids`: tokens that end a row.
pub fn generate(
    model: &CausalLm,
    prompts: &[Vec<u32>],
    eos_ids: &[u32],
    cfg: &SampleConfig,
) -> Result<Vec<Generation>> {
    cfg.validate()?;
    let b = prompts.len();
    if b == 0 {
        return Ok(Vec::new());
    }
    if let Some(i) = prompts.iter().position(Vec::is_empty) {
        return Err(Error::Invalid(format!(
            "prompt {i} is empty (start with BOS)"
        )));
    }
    let t = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(b * t);
    let mut real = Vec::with_capacity(b);
    for p in prompts {
        let pad = t - p.len();
        ids.extend(std::iter::repeat_n(0u32, pad));
        ids.extend_from_slice(p);
        let mut r = vec![false; pad];
        r.extend(std::iter::repeat_n(true, p.len()));
        real.push(r);
    }
    let dev = model.device();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut cache = KvCache::new(model, b);
    let mut out: Vec<Generation> = vec![
        Generation {
            tokens: Vec::new(),
            stopped_at_eos: false,
        };
        b
    ];
    if cfg.max_new_tokens == 0 {
        return Ok(out);
    }
    let mut logits = model.step(
        &Tensor::from_vec(ids, (b, t), dev)?,
        Some(&real),
        &mut cache,
    )?;
    let step_real = vec![vec![true]; b];
    for step in 0..cfg.max_new_tokens {
        let rows = logits.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let mut next = Vec::with_capacity(b);
        for (g, row) in out.iter_mut().zip(&rows) {
            if g.stopped_at_eos {
                next.push(*g.tokens.last().unwrap_or(&0));
                continue;
            }
            let tok = sample_token(row, cfg, &mut rng);
            g.tokens.push(tok);
            if cfg.stop_at_eos && eos_ids.contains(&tok) {
                g.stopped_at_eos = true;
            }
            next.push(tok);
        }
        if out.iter().all(|g| g.stopped_at_eos) || step + 1 == cfg.max_new_tokens {
            break;
        }
        logits = model.step(
            &Tensor::from_vec(next, (b, 1), dev)?,
            Some(&step_real),
            &mut cache,
        )?;
    }
    Ok(out)
}
