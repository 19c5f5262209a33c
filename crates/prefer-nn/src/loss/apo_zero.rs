//! APO-zero (D'Oosterlinck et al. 2024, "Anchored Preference Optimization and Contrastive
//! Revisions", arXiv:2408.06266, Eq. 7): raise the chosen likelihood and lower the rejected
//! one, each anchored at the reference. For when the chosen outputs are better than the
//! model's own.
//!
//! With ρ_w = log π_θ(y_w) − log π_ref(y_w) and ρ_l likewise:
//!
//! ℓ = (1 − σ(β·ρ_w)) + σ(β·ρ_l)
//!
//! 1 − σ(z) is computed as σ(−z) (no cancellation). TRL: `DPOTrainer` `loss_type="apo_zero"`.

use serde::{Deserialize, Serialize};

use super::ops::{check_param, sigmoid};
use super::{LossOutput, PairLogps, PairwiseLoss, scaled_rewards};
use crate::error::Result;

/// Configuration of the APO-zero loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApoZeroConfig {
    /// β, the inverse temperature; default 0.1 (TRL).
    pub beta: f64,
}

impl Default for ApoZeroConfig {
    fn default() -> Self {
        Self { beta: 0.1 }
    }
}

impl ApoZeroConfig {
    /// Checks β > 0.
    pub fn validate(&self) -> Result<()> {
        check_param("apo_zero.beta", self.beta, self.beta > 0.0, "β > 0")
    }
}

/// The APO-zero loss.
///
/// # Shapes
/// - `x`: `[batch]` tensors, with the reference log-probs → `[batch]`.
pub fn apo_zero(x: &PairLogps, cfg: &ApoZeroConfig) -> Result<LossOutput> {
    let (c, r) = x.logratios("apo_zero")?;
    let loss = (sigmoid(&(&c * -cfg.beta)?)? + sigmoid(&(&r * cfg.beta)?)?)?;
    let (chosen_rewards, rejected_rewards) = scaled_rewards(cfg.beta, &c, &r)?;
    Ok(LossOutput {
        loss,
        chosen_rewards,
        rejected_rewards,
    })
}

impl PairwiseLoss for ApoZeroConfig {
    fn pair_loss(&self, x: &PairLogps) -> Result<LossOutput> {
        apo_zero(x, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::*;

    #[test]
    fn matches_closed_form() -> Result<()> {
        let out = apo_zero(&batch()?, &ApoZeroConfig { beta: 0.5 })?;
        let want: Vec<f64> = rows()
            .iter()
            .map(|[pc, pr, rc, rr, _, _]| 1.0 - sig(0.5 * (pc - rc)) + sig(0.5 * (pr - rr)))
            .collect();
        assert_close(&out.loss, &want, TOL)
    }
}
