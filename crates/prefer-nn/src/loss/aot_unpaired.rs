//! AOT on unpaired data (Melnyk et al. 2024, arXiv:2406.05882): stochastic dominance of the
//! chosen log-ratio distribution over the rejected one, on sorted quantiles of the batch.
//!
//! With ρ_w,i = log π_θ(y_w,i) − log π_ref(y_w,i) and ρ_l,i likewise, each sorted over the
//! batch (ascending): δ_(i) = ρ_w,(i) − ρ_l,(i);
//!
//! ℓ_(i) = −(1 − ε)·log σ(β·δ_(i)) − ε·log σ(−β·δ_(i))
//!
//! Batch-coupled ([`BatchPairLoss`]). TRL: `DPOTrainer` `loss_type="aot_unpaired"`.

use serde::{Deserialize, Serialize};

use super::aot::sorted_logistic;
use super::ops::check_param;
use super::{BatchPairLoss, LossOutput, PairLogps, scaled_rewards};
use crate::error::Result;

/// Configuration of the unpaired AOT loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AotUnpairedConfig {
    /// β, the inverse temperature; default 0.1 (TRL).
    pub beta: f64,
    /// ε, label smoothing of the logistic surrogate; default 0.0 (TRL). In [0, 0.5).
    pub label_smoothing: f64,
}

impl Default for AotUnpairedConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            label_smoothing: 0.0,
        }
    }
}

impl AotUnpairedConfig {
    /// Checks β > 0 and ε ∈ [0, 0.5).
    pub fn validate(&self) -> Result<()> {
        check_param("aot_unpaired.beta", self.beta, self.beta > 0.0, "β > 0")?;
        let e = self.label_smoothing;
        check_param(
            "aot_unpaired.label_smoothing",
            e,
            (0.0..0.5).contains(&e),
            "ε in [0, 0.5)",
        )
    }
}

/// The unpaired AOT loss (batch-coupled).
///
/// # Shapes
/// - `x`: `[batch]` tensors, with the reference log-probs → `[batch]` (per quantile).
pub fn aot_unpaired(x: &PairLogps, cfg: &AotUnpairedConfig) -> Result<LossOutput> {
    let (c, r) = x.logratios("aot_unpaired")?;
    let loss = sorted_logistic(&c, &r, cfg.beta, cfg.label_smoothing)?;
    let (chosen_rewards, rejected_rewards) = scaled_rewards(cfg.beta, &c, &r)?;
    Ok(LossOutput {
        loss,
        chosen_rewards,
        rejected_rewards,
    })
}

impl BatchPairLoss for AotUnpairedConfig {
    fn batch_loss(&self, x: &PairLogps) -> Result<LossOutput> {
        aot_unpaired(x, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::*;

    #[test]
    fn pairs_sorted_quantiles() -> Result<()> {
        let out = aot_unpaired(
            &batch()?,
            &AotUnpairedConfig {
                beta: 0.5,
                label_smoothing: 0.0,
            },
        )?;
        let mut c: Vec<f64> = rows().iter().map(|[pc, _, rc, ..]| pc - rc).collect();
        let mut r: Vec<f64> = rows().iter().map(|[_, pr, _, rr, ..]| pr - rr).collect();
        c.sort_by(f64::total_cmp);
        r.sort_by(f64::total_cmp);
        let want: Vec<f64> = c
            .iter()
            .zip(&r)
            .map(|(a, b)| -log_sig(0.5 * (a - b)))
            .collect();
        assert_close(&out.loss, &want, TOL)
    }
}
