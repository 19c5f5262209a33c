//! APO-down (D'Oosterlinck et al. 2024, arXiv:2408.06266, Eq. 8): lower both likelihoods,
//! the rejected one more. For when the model already outperforms the chosen outputs.
//!
//! With ρ_w = log π_θ(y_w) − log π_ref(y_w), ρ_l likewise, h = ρ_w − ρ_l:
//!
//! ℓ = σ(β·ρ_w) + (1 − σ(β·h))
//!
//! 1 − σ(z) is computed as σ(−z). TRL: `DPOTrainer` `loss_type="apo_down"`.

use serde::{Deserialize, Serialize};

use super::ops::{check_param, sigmoid};
use super::{LossOutput, PairLogps, PairwiseLoss, scaled_rewards};
use crate::error::Result;

/// Configuration of the APO-down loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApoDownConfig {
    /// β, the inverse temperature; default 0.1 (TRL).
    pub beta: f64,
}

impl Default for ApoDownConfig {
    fn default() -> Self {
        Self { beta: 0.1 }
    }
}

impl ApoDownConfig {
    /// Checks β > 0.
    pub fn validate(&self) -> Result<()> {
        check_param("apo_down.beta", self.beta, self.beta > 0.0, "β > 0")
    }
}

/// The APO-down loss.
///
/// # Shapes
/// - `x`: `[batch]` tensors, with the reference log-probs → `[batch]`.
pub fn apo_down(x: &PairLogps, cfg: &ApoDownConfig) -> Result<LossOutput> {
    let (c, r) = x.logratios("apo_down")?;
    let h = (&c - &r)?;
    let loss = (sigmoid(&(&c * cfg.beta)?)? + sigmoid(&(h * -cfg.beta)?)?)?;
    let (chosen_rewards, rejected_rewards) = scaled_rewards(cfg.beta, &c, &r)?;
    Ok(LossOutput {
        loss,
        chosen_rewards,
        rejected_rewards,
    })
}

impl PairwiseLoss for ApoDownConfig {
    fn pair_loss(&self, x: &PairLogps) -> Result<LossOutput> {
        apo_down(x, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::*;

    #[test]
    fn matches_closed_form() -> Result<()> {
        let out = apo_down(&batch()?, &ApoDownConfig { beta: 0.5 })?;
        let want: Vec<f64> = rows()
            .iter()
            .map(|[pc, pr, rc, rr, _, _]| {
                sig(0.5 * (pc - rc)) + 1.0 - sig(0.5 * ((pc - rc) - (pr - rr)))
            })
            .collect();
        assert_close(&out.loss, &want, TOL)
    }
}
