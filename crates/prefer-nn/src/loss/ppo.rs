//! PPO's pieces for language models (Schulman et al. 2017, arXiv:1707.06347; Ziegler et al.
//! 2019, arXiv:1909.08593; as TRL's `PPOTrainer` computes them): the per-token reward with
//! the KL penalty, generalized advantage estimation, masked whitening, the clipped value
//! loss, the explained variance of the critic, and the adaptive KL controller.
//!
//! For one completion with tokens `t = 0..T−1`, the first-order KL estimate
//! `kl_t = log π(y_t) − log π_ref(y_t)` (`k1`; `k3`: `(e^{−kl_t} − 1) + kl_t`) and the
//! sequence score `s`:
//!
//! - rewards: `r_t = −β kl_t`, plus `s` at the last token;
//! - GAE (Schulman et al. 2016, arXiv:1506.02438): `δ_t = r_t + γ V_{t+1} − V_t`
//!   (`V_T = 0`), `A_t = δ_t + γλ A_{t+1}`, returns `R_t = A_t + V_t`;
//! - whitening over every token of the rollout: `(x − mean) / √(var + 1e-8)` with the
//!   unbiased variance (TRL's `masked_whiten`);
//! - value loss: `½ mean_t max((V − R)², (clip(V, V_old − c, V_old + c) − R)²)`.
//!
//! The policy loss is the clipped surrogate of [`super::clipped_surrogate`] with per-token
//! advantages, the old log-probs of the rollout and the `bnpo` reduction (the token mean of
//! the micro-batch, as TRL's `masked_mean`).

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

use super::ops::as_dtype;
use crate::error::{Error, Result};

/// Which estimate of the per-token KL goes into the reward (TRL's `kl_estimator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KlEstimator {
    /// `log π − log π_ref` (default; unbiased, may be negative per token).
    #[default]
    K1,
    /// `(π_ref/π − 1) − log(π_ref/π)` (non-negative, lower variance).
    K3,
}

impl KlEstimator {
    /// The estimate at one token from the policy's and the reference's log-probs.
    pub fn estimate(self, logp: f64, ref_logp: f64) -> f64 {
        let logr = ref_logp - logp;
        match self {
            KlEstimator::K1 => -logr,
            KlEstimator::K3 => logr.exp_m1() - logr,
        }
    }
}

/// Per-token rewards `r_t = −β kl_t`, with `score` added at the last token of each
/// completion.
pub fn kl_penalized_rewards(scores: &[f64], kl: &[Vec<f64>], beta: f64) -> Vec<Vec<f64>> {
    scores
        .iter()
        .zip(kl)
        .map(|(s, k)| {
            let mut r: Vec<f64> = k.iter().map(|x| -beta * x).collect();
            if let Some(last) = r.last_mut() {
                *last += s;
            }
            r
        })
        .collect()
}

/// GAE's output, one vector per completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Gae {
    /// `A_t`.
    pub advantages: Vec<Vec<f64>>,
    /// `R_t = A_t + V_t`, the critic's targets.
    pub returns: Vec<Vec<f64>>,
}

/// Generalized advantage estimation per completion, shaped as `rewards` (`values[i]` has
/// one value per token of completion `i`; the value after the last token is 0).
pub fn gae(rewards: &[Vec<f64>], values: &[Vec<f64>], gamma: f64, lam: f64) -> Result<Gae> {
    let mut adv = Vec::with_capacity(rewards.len());
    let mut ret = Vec::with_capacity(rewards.len());
    for (i, (r, v)) in rewards.iter().zip(values).enumerate() {
        if r.len() != v.len() {
            return Err(Error::Invalid(format!(
                "gae: completion {i} has {} rewards and {} values",
                r.len(),
                v.len()
            )));
        }
        let n = r.len();
        let mut a = vec![0.0; n];
        let mut last = 0.0;
        for t in (0..n).rev() {
            let next = if t + 1 < n { v[t + 1] } else { 0.0 };
            let delta = r[t] + gamma * next - v[t];
            last = delta + gamma * lam * last;
            a[t] = last;
        }
        ret.push(a.iter().zip(v).map(|(a, v)| a + v).collect());
        adv.push(a);
    }
    Ok(Gae {
        advantages: adv,
        returns: ret,
    })
}

/// Whitens every value of `xs` together: `(x − mean) / √(var + 1e-8)` with the unbiased
/// variance; `shift_mean = false` adds the mean back (TRL's `masked_whiten`, used so for
/// rewards). Fewer than two values are left as they are.
pub fn whiten(xs: &mut [Vec<f64>], shift_mean: bool) {
    let n = xs.iter().map(Vec::len).sum::<usize>();
    if n < 2 {
        return;
    }
    let mean = xs.iter().flatten().sum::<f64>() / n as f64;
    let var = xs.iter().flatten().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let r = 1.0 / (var + 1e-8).sqrt();
    for x in xs.iter_mut().flatten() {
        *x = (*x - mean) * r + if shift_mean { 0.0 } else { mean };
    }
}

/// `1 − Var(R − V) / Var(R)` over the masked tokens (population variances): 1 for a critic
/// that predicts the returns, 0 for one that predicts their mean, `NaN`-free (0 when the
/// returns do not vary).
pub fn explained_variance(values: &[f64], returns: &[f64]) -> f64 {
    let n = values.len().min(returns.len());
    if n == 0 {
        return 0.0;
    }
    let var = |v: Vec<f64>| {
        let m = v.iter().sum::<f64>() / n as f64;
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64
    };
    let vr = var(returns[..n].to_vec());
    if vr <= 0.0 {
        return 0.0;
    }
    let vd = var(returns.iter().zip(values).map(|(r, v)| r - v).collect());
    1.0 - vd / vr
}

/// The clipped value loss of a micro-batch and its clip fraction.
#[derive(Debug, Clone)]
pub struct ValueLoss {
    /// `½ Σ m max(l1, l2) / Σ m` (scalar, differentiable in `values`).
    pub loss: Tensor,
    /// Σ and count of the tokens where the clipped term is the larger one.
    pub clipfrac: (f64, f64),
}

/// PPO's clipped value loss over `[n, t]` tensors: the critic's `values` (differentiable),
/// the rollout's `old` values, the `returns` and the `mask`; `clip` is `cliprange_value`.
pub fn value_loss(
    values: &Tensor,
    old: &Tensor,
    returns: &Tensor,
    mask: &Tensor,
    clip: f64,
) -> Result<ValueLoss> {
    let dims = values.dims();
    if old.dims() != dims || returns.dims() != dims || mask.dims() != dims {
        return Err(Error::Invalid(format!(
            "value loss inputs: values {dims:?}, old {:?}, returns {:?}, mask {:?}",
            old.dims(),
            returns.dims(),
            mask.dims()
        )));
    }
    let dt = values.dtype();
    let old = as_dtype(old, dt)?.detach();
    let ret = as_dtype(returns, dt)?.detach();
    let mask = as_dtype(mask, dt)?;
    let clipped = values.maximum(&(&old - clip)?)?.minimum(&(&old + clip)?)?;
    let l1 = (values - &ret)?.sqr()?;
    let l2 = (clipped - &ret)?.sqr()?;
    let count = mask.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
    let worse = l1.maximum(&l2)?;
    let loss = ((worse * &mask)?.sum_all()? * (0.5 / count.max(1.0)))?;
    let frac = (l2.gt(&l1)?.to_dtype(dt)? * &mask)?
        .to_dtype(DType::F64)?
        .sum_all()?
        .to_scalar::<f64>()?;
    Ok(ValueLoss {
        loss,
        clipfrac: (frac, count),
    })
}

/// The adaptive KL controller of Ziegler et al. (2019): after a rollout of `n` samples with
/// mean KL `kl`, `β ← β (1 + clip(kl / target − 1, −0.2, 0.2) · n / horizon)`.
pub fn adapt_kl_coef(beta: f64, kl: f64, target: f64, horizon: f64, n: usize) -> f64 {
    let err = (kl / target - 1.0).clamp(-0.2, 0.2);
    beta * (1.0 + err * n as f64 / horizon)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn gae_matches_a_hand_computed_case() -> Result<()> {
        // r = [0, 0, 1], V = [0.5, 0.2, 0.4], γ = 0.9, λ = 0.8:
        // δ2 = 1 − 0.4 = 0.6;  δ1 = 0 + 0.9·0.4 − 0.2 = 0.16;  δ0 = 0.9·0.2 − 0.5 = −0.32
        // A2 = 0.6;  A1 = 0.16 + 0.72·0.6 = 0.592;  A0 = −0.32 + 0.72·0.592 = 0.10624
        let Gae {
            advantages: a,
            returns: r,
        } = gae(&[vec![0.0, 0.0, 1.0]], &[vec![0.5, 0.2, 0.4]], 0.9, 0.8)?;
        let want = [0.10624, 0.592, 0.6];
        for (x, y) in a[0].iter().zip(want) {
            assert!((x - y).abs() < 1e-12, "{x} vs {y}");
        }
        for ((x, v), y) in r[0].iter().zip([0.5, 0.2, 0.4]).zip(want) {
            assert!((x - (y + v)).abs() < 1e-12);
        }
        Ok(())
    }

    #[test]
    fn gae_limits_are_monte_carlo_and_td() -> Result<()> {
        let r = vec![vec![0.3, -0.1, 0.7, 2.0]];
        let v = vec![vec![1.0, 0.4, -0.2, 0.9]];
        let g = 0.95;
        // λ = 1: A_t = Σ_{s≥t} γ^{s−t} r_s − V_t (the discounted return minus the value).
        let Gae {
            advantages: a,
            returns: ret,
        } = gae(&r, &v, g, 1.0)?;
        for t in 0..4 {
            let mc: f64 = (t..4).map(|s| g.powi((s - t) as i32) * r[0][s]).sum();
            assert!((a[0][t] - (mc - v[0][t])).abs() < 1e-12);
            assert!((ret[0][t] - mc).abs() < 1e-12);
        }
        // λ = 0: A_t = δ_t, the one-step TD error.
        let a = gae(&r, &v, g, 0.0)?.advantages;
        for t in 0..4 {
            let next = if t < 3 { v[0][t + 1] } else { 0.0 };
            assert!((a[0][t] - (r[0][t] + g * next - v[0][t])).abs() < 1e-12);
        }
        assert!(gae(&r, &[vec![0.0]], g, 0.9).is_err());
        Ok(())
    }

    #[test]
    fn whitening_gives_zero_mean_unit_unbiased_variance() {
        let mut x = vec![vec![1.0, 2.0], vec![4.0, 8.0, 16.0]];
        whiten(&mut x, true);
        let all: Vec<f64> = x.iter().flatten().copied().collect();
        let m = all.iter().sum::<f64>() / 5.0;
        let v = all.iter().map(|y| (y - m).powi(2)).sum::<f64>() / 4.0;
        assert!(m.abs() < 1e-12 && (v - 1.0).abs() < 1e-6, "{m} {v}");
        let mut y = vec![vec![1.0, 3.0]];
        whiten(&mut y, false);
        // mean 2 kept, unbiased std √2: (1 − 2)/√2 + 2.
        assert!((y[0][0] - (2.0 - 1.0 / 2f64.sqrt())).abs() < 1e-6);
    }

    #[test]
    fn value_loss_takes_the_worse_of_clipped_and_unclipped() -> Result<()> {
        let d = Device::Cpu;
        let t = |v: Vec<f64>| Tensor::from_vec(v, (1, 3), &d);
        // V = [1.0, 0.0, 5.0], V_old = [0.0, 0.0, 0.0], R = [2.0, 1.0, 9.0], c = 0.2, mask [1, 1, 0]:
        // token 0: l1 = 1, clip(1) = 0.2 → l2 = 3.24 (larger, clipped);
        // token 1: l1 = l2 = 1; token 2 masked.
        let out = value_loss(
            &t(vec![1.0, 0.0, 5.0])?,
            &t(vec![0.0; 3])?,
            &t(vec![2.0, 1.0, 9.0])?,
            &t(vec![1.0, 1.0, 0.0])?,
            0.2,
        )?;
        let l = out.loss.to_scalar::<f64>()?;
        assert!((l - 0.5 * (3.24 + 1.0) / 2.0).abs() < 1e-12, "{l}");
        assert_eq!(out.clipfrac, (1.0, 2.0));
        Ok(())
    }

    #[test]
    fn explained_variance_and_kl_pieces() {
        let r = [1.0, 2.0, 3.0, 4.0];
        assert!((explained_variance(&r, &r) - 1.0).abs() < 1e-12);
        assert!(explained_variance(&[2.5; 4], &r).abs() < 1e-12);
        assert_eq!(explained_variance(&[0.0; 2], &[1.0; 2]), 0.0);
        assert!((KlEstimator::K1.estimate(-1.0, -1.5) - 0.5).abs() < 1e-12);
        // k3 at logr = −0.5: e^−0.5 − 1 + 0.5.
        let k3 = KlEstimator::K3.estimate(-1.0, -1.5);
        assert!((k3 - ((-0.5f64).exp() - 0.5)).abs() < 1e-12 && k3 > 0.0);
        let rw = kl_penalized_rewards(&[3.0], &[vec![0.1, 0.2]], 0.5);
        assert_eq!(rw, vec![vec![-0.05, 3.0 - 0.1]]);
        // Over target by 50% clips at +20%: β·(1 + 0.2·n/horizon).
        assert!((adapt_kl_coef(0.1, 9.0, 6.0, 100.0, 10) - 0.1 * 1.02).abs() < 1e-15);
        assert!((adapt_kl_coef(0.1, 5.4, 6.0, 100.0, 10) - 0.1 * (1.0 - 0.01)).abs() < 1e-12);
    }
}
