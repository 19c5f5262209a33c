//! The clipped policy-gradient surrogate of GRPO (Shao et al. 2024, arXiv:2402.03300) and
//! its variants, on per-token log-probs: TRL's `GRPOTrainer._compute_loss` for the loss
//! types `grpo`, `bnpo`, `dr_grpo` and `dapo`, token- or sequence-level importance sampling
//! (GSPO, Zheng et al. 2025), and the k3 KL estimator to a reference.
//!
//! With `w_it = log π(y_it) − log π_old(y_it)` (token level) or
//! `w_i = Σ_t m_it w_it / Σ_t m_it` (sequence level), `r = exp(w)`:
//!
//! `ℓ_it = −min(r A_i, clip(r, 1 − ε_low, 1 + ε_high) A_i) + β [exp(q − p) − (q − p) − 1]`
//!
//! with `p = log π(y_it)`, `q = log π_ref(y_it)` (the KL term only when β ≠ 0), reduced over
//! the mask `m` as the loss type says:
//! - `grpo`: the mean over sequences of each sequence's token mean;
//! - `bnpo`: Σ m ℓ / Σ m over the micro-batch;
//! - `dr_grpo` (Liu et al. 2025): Σ m ℓ / (n · max_completion_length);
//! - `dapo` (Yu et al. 2025; TRL's default): Σ m ℓ / (the tokens of the whole optimizer
//!   step), so micro-batches add up to the token mean of the step.
//!
//! Defaults are TRL 1.16's `GRPOConfig`: `loss_type = "dapo"`, `epsilon = 0.2`,
//! `epsilon_high = epsilon`, `beta = 0.0`, `importance_sampling_level = "token"`. With one
//! iteration per rollout `π_old = π` (detached), so `r = 1` and the gradient is the plain
//! `−A ∇log π`. The fixture `tests/fixtures/trl/grpo_loss.json` is TRL's own
//! `_compute_loss` on prepared log-probs.

use candle_core::{D, DType, Tensor};
use serde::{Deserialize, Serialize};

use super::ops::{as_dtype, check_param};
use crate::error::{Error, Result};

/// How per-token losses are reduced (TRL's `loss_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PgLossType {
    /// Mean over sequences of the per-sequence token mean.
    Grpo,
    /// Token mean over the micro-batch.
    Bnpo,
    /// Token sum over `n · max_completion_length`.
    DrGrpo,
    /// Token sum over the tokens of the whole step (default).
    #[default]
    Dapo,
}

/// Where the importance ratio is taken (TRL's `importance_sampling_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IsLevel {
    /// One ratio per token (GRPO; default).
    #[default]
    Token,
    /// One ratio per sequence: the exponential of the mean token log-ratio (GSPO).
    Sequence,
}

/// The surrogate's settings (TRL `GRPOConfig` names).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClipConfig {
    /// The reduction (default `dapo`).
    pub loss_type: PgLossType,
    /// ε_low, the lower clip (default 0.2).
    pub epsilon: f64,
    /// ε_high, the upper clip (default: `epsilon`; DAPO's clip-higher uses 0.28).
    pub epsilon_high: Option<f64>,
    /// β, the weight of the k3 KL estimate to the reference (default 0: no reference).
    pub beta: f64,
    /// Token or sequence ratios (default `token`).
    pub importance_sampling_level: IsLevel,
}

impl Default for ClipConfig {
    fn default() -> Self {
        ClipConfig {
            loss_type: PgLossType::Dapo,
            epsilon: 0.2,
            epsilon_high: None,
            beta: 0.0,
            importance_sampling_level: IsLevel::Token,
        }
    }
}

impl ClipConfig {
    /// ε_high.
    pub fn epsilon_high(&self) -> f64 {
        self.epsilon_high.unwrap_or(self.epsilon)
    }

    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        let e = self.epsilon;
        check_param("epsilon", e, (0.0..1.0).contains(&e), "in [0, 1)")?;
        let h = self.epsilon_high();
        check_param("epsilon_high", h, h >= 0.0, "≥ 0")?;
        check_param("beta", self.beta, self.beta >= 0.0, "≥ 0")
    }
}

/// Per-token inputs of a policy-gradient loss, `[n, t]` over completion positions.
#[derive(Debug, Clone)]
pub struct TokenLogps {
    /// `[n, t]` log π(y_it), differentiable; zero where masked.
    pub logps: Tensor,
    /// `[n, t]` log-probs of the policy that sampled (detached); `None`: `logps` detached.
    pub old: Option<Tensor>,
    /// `[n, t]` reference log-probs (needed when β ≠ 0).
    pub reference: Option<Tensor>,
    /// `[n]` advantages (one per sequence), or `[n, t]` per token (REINFORCE++, PPO).
    pub advantages: Tensor,
    /// `[n, t]` 1 at completion tokens, 0 at padding.
    pub mask: Tensor,
}

/// The reduced loss of a micro-batch and its TRL metrics as (sum, count) pairs, so that
/// micro-batches combine into the step's masked means.
#[derive(Debug, Clone)]
pub struct PgOutput {
    /// The micro-batch's loss (a scalar, differentiable).
    pub loss: Tensor,
    /// Σ and count of the k3 KL estimate over tokens (β ≠ 0).
    pub kl: Option<(f64, f64)>,
    /// Σ and count of `clip_ratio/low_mean`, `high_mean`, `region_mean`.
    pub clip: [(f64, f64); 3],
}

/// The surrogate loss of one micro-batch. `step_tokens`: the completion tokens of the whole
/// optimizer step (`dapo`); `max_completion_length`: `dr_grpo`'s constant.
pub fn clipped_surrogate(
    x: &TokenLogps,
    cfg: &ClipConfig,
    step_tokens: f64,
    max_completion_length: usize,
) -> Result<PgOutput> {
    let (n, t) = x.logps.dims2()?;
    let adv_ok = x.advantages.dims() == [n] || x.advantages.dims() == [n, t];
    if x.mask.dims() != [n, t] || !adv_ok {
        return Err(Error::Invalid(format!(
            "policy-gradient inputs: logps {:?}, mask {:?}, advantages {:?} (want [n, t], [n, t], [n] or [n, t])",
            x.logps.dims(),
            x.mask.dims(),
            x.advantages.dims()
        )));
    }
    let dt = x.logps.dtype();
    let mask = as_dtype(&x.mask, dt)?;
    let adv = as_dtype(&x.advantages, dt)?;
    let adv = if adv.rank() == 1 {
        adv.unsqueeze(1)?
    } else {
        adv
    };
    let old = match &x.old {
        Some(o) => as_dtype(o, dt)?.detach(),
        None => x.logps.detach(),
    };
    let log_ratio = (&x.logps - &old)?;
    let lens = mask.sum(D::Minus1)?.maximum(1.0)?;
    let log_w = match cfg.importance_sampling_level {
        IsLevel::Token => log_ratio,
        IsLevel::Sequence => ((log_ratio * &mask)?.sum(D::Minus1)? / &lens)?.unsqueeze(1)?,
    };
    let coef1 = log_w.exp()?;
    let (lo, hi) = (1.0 - cfg.epsilon, 1.0 + cfg.epsilon_high());
    let coef2 = coef1.clamp(lo, hi)?;
    let l1 = coef1.broadcast_mul(&adv)?;
    let l2 = coef2.broadcast_mul(&adv)?;
    let mut per_token = l1.minimum(&l2)?.neg()?;
    if per_token.dims() != [n, t] {
        per_token = per_token.broadcast_as((n, t))?.contiguous()?;
    }
    let mut kl = None;
    if cfg.beta != 0.0 {
        let r = x
            .reference
            .as_ref()
            .ok_or_else(|| Error::Invalid("beta ≠ 0 needs reference log-probs".into()))?;
        let d = (as_dtype(r, dt)?.detach() - &x.logps)?;
        let k3 = ((d.exp()? - &d)? - 1.0)?;
        kl = Some((sum64(&(k3.detach() * &mask)?)?, sum64(&mask)?));
        per_token = (per_token + (k3 * cfg.beta)?)?;
    }
    let masked = (per_token * &mask)?;
    let loss = match cfg.loss_type {
        PgLossType::Grpo => (masked.sum(D::Minus1)? / &lens)?.mean_all()?,
        PgLossType::Bnpo => (masked.sum_all()? / sum64(&mask)?.max(1.0))?,
        PgLossType::DrGrpo => (masked.sum_all()? / (n * max_completion_length).max(1) as f64)?,
        PgLossType::Dapo => (masked.sum_all()? / step_tokens.max(1.0))?,
    };
    // Clip fractions: over tokens, or over sequences when the ratio is per sequence (as
    // TRL's `global_masked_mean` of a `(B, 1)` tensor).
    let per_token_adv = adv.dims() == [n, t];
    let c = if per_token_adv {
        coef1.detach().broadcast_as((n, t))?.to_dtype(DType::F64)?
    } else {
        coef1.detach().to_dtype(DType::F64)?
    };
    let a = adv.detach().broadcast_as(c.dims())?.to_dtype(DType::F64)?;
    let weight = match cfg.importance_sampling_level {
        IsLevel::Sequence if !per_token_adv => Tensor::ones((n, 1), DType::F64, c.device())?,
        _ => mask.to_dtype(DType::F64)?,
    };
    let flag = |x: Tensor| -> Result<Tensor> { Ok(x.to_dtype(DType::F64)?) };
    let low = (flag(c.lt(lo)?)? * flag(a.lt(0.0)?)?)?;
    let high = (flag(c.gt(hi)?)? * flag(a.gt(0.0)?)?)?;
    let region = (&low + &high)?;
    let count = sum64(&weight)?;
    let clip = [
        (sum64(&(low * &weight)?)?, count),
        (sum64(&(high * &weight)?)?, count),
        (sum64(&(region * &weight)?)?, count),
    ];
    Ok(PgOutput { loss, kl, clip })
}

/// RLOO's sequence-level clipped loss (TRL's `RLOOTrainer`): with the summed log-probs
/// `s_i = Σ_t m_it log π(y_it)` and `ρ_i = exp(s_i − s_i^old)`,
/// `ℓ = mean_i −min(ρ_i A_i, clip(ρ_i, 1 − ε_low, 1 + ε_high) A_i)`. `old`: `None` for
/// `s` detached (one pass per rollout, `ρ = 1`). Returns the loss and the clip fractions
/// over sequences as (sum, count) (low, high, region).
pub fn sequence_surrogate(
    logps: &Tensor,
    mask: &Tensor,
    old: Option<&Tensor>,
    advantages: &Tensor,
    epsilon_low: f64,
    epsilon_high: f64,
) -> Result<(Tensor, [(f64, f64); 3])> {
    let dt = logps.dtype();
    let s = (logps * as_dtype(mask, dt)?)?.sum(D::Minus1)?;
    let n = s.dims1()?;
    let old = match old {
        Some(o) => as_dtype(o, dt)?.detach(),
        None => s.detach(),
    };
    let adv = as_dtype(advantages, dt)?;
    let (lo, hi) = (1.0 - epsilon_low, 1.0 + epsilon_high);
    let c1 = (&s - &old)?.exp()?;
    let c2 = c1.clamp(lo, hi)?;
    let loss = (&c1 * &adv)?.minimum(&(&c2 * &adv)?)?.neg()?.mean_all()?;
    let c = c1.detach().to_dtype(DType::F64)?.to_vec1::<f64>()?;
    let a = adv.detach().to_dtype(DType::F64)?.to_vec1::<f64>()?;
    let low = c
        .iter()
        .zip(&a)
        .filter(|(c, a)| **c < lo && **a < 0.0)
        .count() as f64;
    let high = c
        .iter()
        .zip(&a)
        .filter(|(c, a)| **c > hi && **a > 0.0)
        .count() as f64;
    let nf = n as f64;
    Ok((loss, [(low, nf), (high, nf), (low + high, nf)]))
}

fn sum64(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?)
}

/// The unbiased standard deviation (Bessel's n − 1, as `torch.std`); 0 for fewer than
/// two values.
pub fn sample_std(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = xs.iter().sum::<f64>() / xs.len() as f64;
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

/// Group-relative advantages (TRL's `GRPOTrainer`): rewards minus their group's mean, over
/// consecutive groups of `group` completions, divided by `std + 1e-4` where `std` is the
/// group's (`scale = "group"`) or the batch's (`"batch"`) unbiased standard deviation, or
/// not divided (`"none"`).
pub fn group_advantages(rewards: &[f64], group: usize, scale: ScaleRewards) -> Vec<f64> {
    let batch_std = sample_std(rewards);
    let mut adv = Vec::with_capacity(rewards.len());
    for chunk in rewards.chunks(group.max(1)) {
        let m = chunk.iter().sum::<f64>() / chunk.len() as f64;
        let s = sample_std(chunk);
        for r in chunk {
            adv.push(match scale {
                ScaleRewards::Group => (r - m) / (s + 1e-4),
                ScaleRewards::Batch => (r - m) / (batch_std + 1e-4),
                ScaleRewards::None => r - m,
            });
        }
    }
    adv
}

/// Leave-one-out advantages (RLOO; Ahmadian et al. 2024, Kool et al. 2019): each reward
/// minus the mean of the other `group − 1` rewards of its prompt, `r_i − (Σ_j r_j − r_i)/(k−1)`.
pub fn rloo_advantages(rewards: &[f64], group: usize) -> Vec<f64> {
    let k = group.max(2);
    rewards
        .chunks(k)
        .flat_map(|c| {
            let s: f64 = c.iter().sum();
            let d = (c.len().max(2) - 1) as f64;
            c.iter().map(move |r| r - (s - r) / d)
        })
        .collect()
}

/// REINFORCE++ advantages (Hu 2025, arXiv:2501.03262; OpenRLHF's `reinforce` estimator):
/// per completion, token rewards `r_t = −β kl_t` plus the sequence reward at the last
/// token, returns `G_t = Σ_{s≥t} γ^{s−t} r_s`, then standardised over every token of the
/// batch, `(G − mean) / √max(var, 1e-8)` (population variance). `kl[i]` holds completion
/// `i`'s per-token KL estimates; the result has the same shape.
pub fn reinforce_pp_advantages(
    rewards: &[f64],
    kl: &[Vec<f64>],
    beta: f64,
    gamma: f64,
) -> Vec<Vec<f64>> {
    let mut returns: Vec<Vec<f64>> = rewards
        .iter()
        .zip(kl)
        .map(|(r, k)| {
            let mut g = vec![0.0; k.len()];
            let mut acc = 0.0;
            for t in (0..k.len()).rev() {
                let last = if t + 1 == k.len() { *r } else { 0.0 };
                acc = last - beta * k[t] + gamma * acc;
                g[t] = acc;
            }
            g
        })
        .collect();
    let n: usize = returns.iter().map(Vec::len).sum();
    if n == 0 {
        return returns;
    }
    let mean = returns.iter().flatten().sum::<f64>() / n as f64;
    let var = returns
        .iter()
        .flatten()
        .map(|g| (g - mean).powi(2))
        .sum::<f64>()
        / n as f64;
    let rstd = 1.0 / var.max(1e-8).sqrt();
    for g in returns.iter_mut().flatten() {
        *g = (*g - mean) * rstd;
    }
    returns
}

/// How group advantages are scaled (TRL's `scale_rewards`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleRewards {
    /// By the group's standard deviation (default).
    #[default]
    Group,
    /// By the batch's standard deviation (Dr. GRPO's advice against group scaling).
    Batch,
    /// Not scaled.
    None,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// REINFORCE++ returns by hand: two completions, β = 0.5, γ = 1.
    #[test]
    fn reinforce_pp_returns_by_hand() {
        let kl = vec![vec![0.2, -0.4, 0.6], vec![1.0]];
        let a = reinforce_pp_advantages(&[1.0, -2.0], &kl, 0.5, 1.0);
        // Returns: row 0: t2 = 1 − 0.3 = 0.7, t1 = 0.7 + 0.2 = 0.9, t0 = 0.9 − 0.1 = 0.8;
        // row 1: −2 − 0.5 = −2.5.
        let g = [0.8, 0.9, 0.7, -2.5];
        let m = g.iter().sum::<f64>() / 4.0;
        let sd = (g.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / 4.0).sqrt();
        let flat: Vec<f64> = a.iter().flatten().copied().collect();
        for (x, y) in flat.iter().zip(g) {
            assert!((x - (y - m) / sd).abs() < 1e-12, "{x} vs {}", (y - m) / sd);
        }
        // Discounting: γ = 0.5 halves what comes after.
        let a = reinforce_pp_advantages(&[4.0], &[vec![0.0, 0.0]], 0.0, 0.5);
        // Returns 2, 4: standardised to −1, 1.
        assert!((a[0][0] + 1.0).abs() < 1e-12 && (a[0][1] - 1.0).abs() < 1e-12);
    }
}
