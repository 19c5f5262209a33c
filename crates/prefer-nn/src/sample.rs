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
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The new tokens (the EOS that stopped it included).
    pub tokens: Vec<u32>,
    /// The log-prob of each new token under the temperature-scaled softmax of the
    /// model's logits, `log softmax(z/τ)[y]` (τ = 1 when greedy), before top-k and top-p:
    /// what TRL's GRPO recomputes as the sampling policy's log-probs.
    pub logprobs: Vec<f32>,
    /// Whether it stopped at an EOS (else it ran out of `max_new_tokens`).
    pub stopped_at_eos: bool,
}

/// Picks one token from a row of logits: temperature, then top-k, then top-p, then a
/// draw from the renormalised softmax (greedy when the temperature is 0).
pub fn sample_token<R: Rng>(logits: &[f32], cfg: &SampleConfig, rng: &mut R) -> u32 {
    if cfg.temperature == 0.0 || logits.len() <= 1 {
        return argmax(logits);
    }
    let inv_t = 1.0 / cfg.temperature;
    let k = cfg.top_k.filter(|&k| k < logits.len());
    if k.is_none() && cfg.top_p >= 1.0 {
        // Plain sampling: one pass over the vocabulary, no sort.
        let m = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64 * inv_t;
        let probs: Vec<f64> = logits
            .iter()
            .map(|&l| (l as f64 * inv_t - m).exp())
            .collect();
        return draw(&probs, rng).unwrap_or_else(|| argmax(logits));
    }
    let mut cand: Vec<(u32, f64)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as u32, l as f64 * inv_t))
        .collect();
    // Descending by logit; ties keep the lower id first.
    let order = |a: &(u32, f64), b: &(u32, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if let Some(k) = k {
        // transformers keeps every token whose logit ties the k-th.
        cand.select_nth_unstable_by(k - 1, order);
        let kth = cand[k - 1].1;
        let (head, tail) = cand.split_at(k);
        let mut kept: Vec<(u32, f64)> = head.to_vec();
        kept.extend(tail.iter().filter(|c| c.1 >= kth));
        cand = kept;
    }
    cand.sort_by(order);
    let m = cand[0].1;
    let mut probs: Vec<f64> = cand.iter().map(|c| (c.1 - m).exp()).collect();
    if cfg.top_p < 1.0 {
        let total: f64 = probs.iter().sum();
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
    }
    match draw(&probs, rng) {
        Some(i) => cand[i as usize].0,
        None => cand[0].0,
    }
}

/// Index drawn with probability proportional to `weights`.
fn draw<R: Rng>(weights: &[f64], rng: &mut R) -> Option<u32> {
    let total: f64 = weights.iter().sum();
    if !(total.is_finite() && total > 0.0) {
        return None;
    }
    let mut u = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return Some(i as u32);
        }
        u -= w;
    }
    weights.iter().rposition(|&w| w > 0.0).map(|i| i as u32)
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

/// `log softmax(logits/τ)[tok]` in f64 (τ = 0 counts as 1).
pub fn token_logprob(logits: &[f32], tok: u32, temperature: f64) -> f32 {
    let inv_t = if temperature > 0.0 {
        1.0 / temperature
    } else {
        1.0
    };
    let m = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64 * inv_t;
    let lse = logits
        .iter()
        .map(|&l| (l as f64 * inv_t - m).exp())
        .sum::<f64>()
        .ln()
        + m;
    (logits[tok as usize] as f64 * inv_t - lse) as f32
}

/// Continues each prompt (batched, one KV cache). `eos_ids`: tokens that end a row.
pub fn generate(
    model: &CausalLm,
    prompts: &[Vec<u32>],
    eos_ids: &[u32],
    cfg: &SampleConfig,
) -> Result<Vec<Generation>> {
    generate_mixture(&[(model, 1.0)], prompts, eos_ids, cfg)
}

/// Continues each prompt from the geometric mixture of `models`: each next token from
/// `softmax(Σ_k w_k z_k)` with `z_k` model k's logits (TRL's `GeometricMixtureWrapper`,
/// Nash-MD's `π^(1−β) π_ref^β` with weights `1 − β` and `β`), one KV cache per model. A
/// single model of weight 1 is [`generate`]; the models share the vocabulary.
pub fn generate_mixture(
    models: &[(&CausalLm, f64)],
    prompts: &[Vec<u32>],
    eos_ids: &[u32],
    cfg: &SampleConfig,
) -> Result<Vec<Generation>> {
    cfg.validate()?;
    let Some(&(model, _)) = models.first() else {
        return Err(Error::Invalid("a mixture of no models".into()));
    };
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
    let mut caches: Vec<KvCache> = models.iter().map(|(m, _)| KvCache::new(m, b)).collect();
    let mix = |input: &Tensor, real: &[Vec<bool>], caches: &mut [KvCache]| -> Result<Tensor> {
        if let [(m, w)] = models
            && *w == 1.0
        {
            return m.step(input, Some(real), &mut caches[0]);
        }
        let mut acc: Option<Tensor> = None;
        for ((m, w), c) in models.iter().zip(caches.iter_mut()) {
            let z = (m.step(input, Some(real), c)?.to_dtype(DType::F32)? * *w)?;
            acc = Some(match acc {
                None => z,
                Some(a) => (a + z)?,
            });
        }
        acc.ok_or_else(|| Error::Invalid("a mixture of no models".into()))
    };
    let mut out: Vec<Generation> = vec![
        Generation {
            tokens: Vec::new(),
            logprobs: Vec::new(),
            stopped_at_eos: false,
        };
        b
    ];
    if cfg.max_new_tokens == 0 {
        return Ok(out);
    }
    let mut logits = mix(&Tensor::from_vec(ids, (b, t), dev)?, &real, &mut caches)?;
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
            g.logprobs.push(token_logprob(row, tok, cfg.temperature));
            if cfg.stop_at_eos && eos_ids.contains(&tok) {
                g.stopped_at_eos = true;
            }
            next.push(tok);
        }
        if out.iter().all(|g| g.stopped_at_eos) || step + 1 == cfg.max_new_tokens {
            break;
        }
        logits = mix(
            &Tensor::from_vec(next, (b, 1), dev)?,
            &step_real,
            &mut caches,
        )?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(seed: u64) -> CausalLm {
        use crate::model::{InitConfig, LoadOptions, ModelConfig};
        let cfg = ModelConfig::tiny(11, 8, 1, 2, 1);
        CausalLm::random(&cfg, &InitConfig { seed, std: 0.5 }, &LoadOptions::frozen())
            .unwrap_or_else(|e| panic!("tiny model: {e}"))
    }

    /// The geometric mixture samples its first token with the frequencies of
    /// `softmax(0.3 z₁ + 0.7 z₂)` (within 4 standard errors over 6,000 draws); a model mixed
    /// with itself half and half samples exactly what it samples alone.
    #[test]
    fn mixture_sampling_follows_the_mixed_logits() -> Result<()> {
        let (a, b) = (tiny(1), tiny(2));
        let first = |m: &CausalLm| -> Result<Vec<f64>> {
            let mut c = KvCache::new(m, 1);
            let z = m.step(&Tensor::new(&[[1u32]], m.device())?, None, &mut c)?;
            Ok(z.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?)
        };
        let (za, zb) = (first(&a)?, first(&b)?);
        let mixed: Vec<f64> = za.iter().zip(&zb).map(|(x, y)| 0.3 * x + 0.7 * y).collect();
        let p = softmax(&mixed);
        let n = 6000;
        let cfg = SampleConfig {
            temperature: 1.0,
            max_new_tokens: 1,
            seed: 5,
            stop_at_eos: false,
            ..Default::default()
        };
        let out = generate_mixture(&[(&a, 0.3), (&b, 0.7)], &vec![vec![1u32]; n], &[], &cfg)?;
        let mut f = vec![0.0; p.len()];
        for g in &out {
            f[g.tokens[0] as usize] += 1.0 / n as f64;
        }
        for (k, (fk, pk)) in f.iter().zip(&p).enumerate() {
            let se = (pk * (1.0 - pk) / n as f64).sqrt();
            assert!((fk - pk).abs() < 4.0 * se + 1e-3, "token {k}: {fk} vs {pk}");
        }
        // Far from either model alone somewhere, or the check above says little.
        let pa = softmax(&za);
        assert!(
            p.iter().zip(&pa).any(|(x, y)| (x - y).abs() > 0.02),
            "{p:?} vs {pa:?}"
        );
        let cfg = SampleConfig {
            max_new_tokens: 12,
            ..cfg
        };
        let prompts = vec![vec![1u32, 3], vec![1u32]];
        let alone = generate(&a, &prompts, &[], &cfg)?;
        let halves = generate_mixture(&[(&a, 0.5), (&a, 0.5)], &prompts, &[], &cfg)?;
        for (x, y) in alone.iter().zip(&halves) {
            assert_eq!(x.tokens, y.tokens);
        }
        Ok(())
    }

    #[test]
    fn token_logprob_is_the_tempered_log_softmax() {
        let z = [1.0f32, 2.0, 0.5];
        for t in [0.5, 1.0, 2.0] {
            let e: Vec<f64> = z.iter().map(|&x| (x as f64 / t).exp()).collect();
            let want = (e[1] / e.iter().sum::<f64>()).ln();
            assert!(
                (token_logprob(&z, 1, t) as f64 - want).abs() < 1e-6,
                "τ = {t}"
            );
        }
        // Greedy counts as τ = 1.
        assert_eq!(token_logprob(&z, 0, 0.0), token_logprob(&z, 0, 1.0));
    }

    fn freqs(logits: &[f32], cfg: &SampleConfig, n: usize) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
        let mut c = vec![0f64; logits.len()];
        for _ in 0..n {
            c[sample_token(logits, cfg, &mut rng) as usize] += 1.0;
        }
        c.iter().map(|x| x / n as f64).collect()
    }

    fn softmax(xs: &[f64]) -> Vec<f64> {
        let m = xs.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let e: Vec<f64> = xs.iter().map(|x| (x - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|x| x / s).collect()
    }

    /// 40k draws: a frequency's standard error is at most 0.0025; 5 of them.
    const N: usize = 40_000;
    const FREQ_TOL: f64 = 0.0125;

    const LOGITS: [f32; 6] = [1.0, 2.0, 0.5, 2.0, -1.0, 0.0];

    #[test]
    fn greedy_and_top_k_one_pick_the_argmax() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let greedy = SampleConfig {
            temperature: 0.0,
            ..Default::default()
        };
        // Ties go to the lower id, as torch.argmax.
        assert_eq!(sample_token(&LOGITS, &greedy, &mut rng), 1);
        let k1 = SampleConfig {
            top_k: Some(1),
            ..Default::default()
        };
        for _ in 0..100 {
            let t = sample_token(&LOGITS, &k1, &mut rng);
            assert!(t == 1 || t == 3, "top-1 keeps both tied maxima, got {t}");
        }
    }

    #[test]
    fn temperature_sampling_matches_the_softmax() {
        for t in [1.0, 0.5, 2.0] {
            let cfg = SampleConfig {
                temperature: t,
                seed: 3,
                ..Default::default()
            };
            let want = softmax(&LOGITS.iter().map(|&l| l as f64 / t).collect::<Vec<_>>());
            for (f, w) in freqs(&LOGITS, &cfg, N).iter().zip(&want) {
                assert!((f - w).abs() < FREQ_TOL, "temperature {t}: {f} vs {w}");
            }
        }
    }

    #[test]
    fn top_k_and_top_p_renormalise_over_the_kept_tokens() {
        // top-k 3 keeps ids 1, 3 (tied 2.0) and 0 (1.0).
        let cfg = SampleConfig {
            top_k: Some(3),
            seed: 5,
            ..Default::default()
        };
        let kept = softmax(&[1.0, 2.0, 2.0]);
        let f = freqs(&LOGITS, &cfg, N);
        for (id, w) in [(0, kept[0]), (1, kept[1]), (3, kept[2])] {
            assert!(
                (f[id] - w).abs() < FREQ_TOL,
                "top-k id {id}: {} vs {w}",
                f[id]
            );
        }
        assert_eq!(f[2] + f[4] + f[5], 0.0);
        // top-p: p(1) = p(3) ≈ 0.34, p(0) ≈ 0.125: 0.6 needs ids 1 and 3 only.
        let cfg = SampleConfig {
            top_p: 0.6,
            seed: 6,
            ..Default::default()
        };
        let f = freqs(&LOGITS, &cfg, N);
        assert!(
            (f[1] - 0.5).abs() < FREQ_TOL && (f[3] - 0.5).abs() < FREQ_TOL,
            "{f:?}"
        );
    }

    #[test]
    fn bad_settings_are_rejected() {
        assert!(
            SampleConfig {
                temperature: -1.0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            SampleConfig {
                top_p: 0.0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            SampleConfig {
                top_k: Some(0),
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}
