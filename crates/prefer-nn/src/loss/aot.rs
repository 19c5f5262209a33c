//! AOT on paired data (Melnyk et al. 2024, "Distributional Preference Alignment of LLMs via
//! Optimal Transport", arXiv:2406.05882): first-order stochastic dominance of the policy's
//! log-ratio margins over the reference's, enforced on sorted quantiles of the batch.
//!
//! With m_i = log π_θ(y_w,i) − log π_θ(y_l,i) and m_i^ref likewise, sort each over the batch
//! (ascending) and pair the quantiles: δ_(i) = m_(i) − m^ref_(i);
//!
//! ℓ_(i) = −(1 − ε)·log σ(β·δ_(i)) − ε·log σ(−β·δ_(i))
//!
//! The i-th output is the i-th **quantile's** loss, not pair i's: the loss is batch-coupled
//! ([`BatchPairLoss`]). TRL: `DPOTrainer` `loss_type="aot"`.

use serde::{Deserialize, Serialize};

use super::ops::{check_param, log_sigmoid};
use super::{BatchPairLoss, LossOutput, PairLogps, scaled_rewards};
use crate::error::Result;

/// Configuration of the paired AOT loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AotConfig {
    /// β, the inverse temperature; default 0.1 (TRL).
    pub beta: f64,
    /// ε, label smoothing of the logistic surrogate; default 0.0 (TRL). In [0, 0.5).
    pub label_smoothing: f64,
}

impl Default for AotConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            label_smoothing: 0.0,
        }
    }
}

impl AotConfig {
    /// Checks β > 0 and ε ∈ [0, 0.5).
    pub fn validate(&self) -> Result<()> {
        check_param("aot.beta", self.beta, self.beta > 0.0, "β > 0")?;
        let e = self.label_smoothing;
        check_param(
            "aot.label_smoothing",
            e,
            (0.0..0.5).contains(&e),
            "ε in [0, 0.5)",
        )
    }
}

/// The smoothed logistic loss on sorted differences, shared with AOT-unpaired.
pub(crate) fn sorted_logistic(
    a: &candle_core::Tensor,
    b: &candle_core::Tensor,
    beta: f64,
    eps: f64,
) -> Result<candle_core::Tensor> {
    let (sa, _) = a.contiguous()?.sort_last_dim(true)?;
    let (sb, _) = b.contiguous()?.sort_last_dim(true)?;
    let z = ((sa - sb)? * beta)?;
    let mut loss = (log_sigmoid(&z)? * -(1.0 - eps))?;
    if eps != 0.0 {
        loss = (loss - (log_sigmoid(&z.neg()?)? * eps)?)?;
    }
    Ok(loss)
}

/// The paired AOT loss (batch-coupled). Rewards are β·(log π_θ − log π_ref) per pair.
///
/// # Shapes
/// - `x`: `[batch]` tensors, with the reference log-probs → `[batch]` (per quantile).
pub fn aot(x: &PairLogps, cfg: &AotConfig) -> Result<LossOutput> {
    let (rc, rr) = x.reference("aot")?;
    let m = (&x.policy_chosen - &x.policy_rejected)?;
    let m_ref = (rc - rr)?;
    let loss = sorted_logistic(&m, &m_ref, cfg.beta, cfg.label_smoothing)?;
    let (c, r) = x.logratios("aot")?;
    let (chosen_rewards, rejected_rewards) = scaled_rewards(cfg.beta, &c, &r)?;
    Ok(LossOutput {
        loss,
        chosen_rewards,
        rejected_rewards,
    })
}

impl BatchPairLoss for AotConfig {
    fn batch_loss(&self, x: &PairLogps) -> Result<LossOutput> {
        aot(x, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::*;

    #[test]
    fn pairs_sorted_quantiles() -> Result<()> {
        let cfg = AotConfig {
            beta: 0.5,
            label_smoothing: 0.1,
        };
        let out = aot(&batch()?, &cfg)?;
        let mut m: Vec<f64> = rows().iter().map(|[pc, pr, ..]| pc - pr).collect();
        let mut mr: Vec<f64> = rows().iter().map(|[_, _, rc, rr, ..]| rc - rr).collect();
        m.sort_by(f64::total_cmp);
        mr.sort_by(f64::total_cmp);
        let want: Vec<f64> = m
            .iter()
            .zip(&mr)
            .map(|(a, b)| {
                let z = 0.5 * (a - b);
                -0.9 * log_sig(z) - 0.1 * log_sig(-z)
            })
            .collect();
        assert_close(&out.loss, &want, TOL)
    }

    #[test]
    fn is_invariant_to_permuting_the_reference_rows() -> Result<()> {
        // Only the two distributions matter: shuffling the reference rows (independently of
        // the policy rows) leaves the per-quantile losses unchanged.
        let r = rows();
        let perm = [3usize, 1, 0, 2];
        let col = |k: usize, p: bool| -> Vec<f64> {
            (0..4).map(|i| r[if p { perm[i] } else { i }][k]).collect()
        };
        let y = pairs(
            &col(0, false),
            &col(1, false),
            &col(2, true),
            &col(3, true),
            &col(4, false),
            &col(5, false),
        )?;
        let a = aot(&batch()?, &AotConfig::default())?
            .loss
            .to_vec1::<f64>()?;
        assert_close(&aot(&y, &AotConfig::default())?.loss, &a, TOL)
    }
}
