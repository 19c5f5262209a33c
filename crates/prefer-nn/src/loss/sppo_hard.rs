//! SPPO with hard labels (Wu et al. 2024, "Self-Play Preference Optimization for Language
//! Model Alignment", arXiv:2405.00675, Eq. 4.7 with P(y_w ≻ π) = 1, P(y_l ≻ π) = 0; seed
//! paper 29): squared regression of each log-ratio onto ±1/(2β).
//!
//! With ρ_w = log π_θ(y_w) − log π_ref(y_w) and ρ_l likewise:
//!
//! ℓ = (ρ_w − 1/(2β))² + (ρ_l + 1/(2β))²
//!
//! TRL: `DPOTrainer` `loss_type="sppo_hard"` (β is the paper's 1/η scale).

use serde::{Deserialize, Serialize};

use super::ops::check_param;
use super::{LossOutput, PairLogps, PairwiseLoss, scaled_rewards};
use crate::error::Result;

/// Configuration of the hard-label SPPO loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SppoHardConfig {
    /// β; the targets are ±1/(2β) (η = 1/β in the paper); default 0.1 (TRL).
    pub beta: f64,
}

impl Default for SppoHardConfig {
    fn default() -> Self {
        Self { beta: 0.1 }
    }
}

impl SppoHardConfig {
    /// Checks β > 0.
    pub fn validate(&self) -> Result<()> {
        check_param("sppo_hard.beta", self.beta, self.beta > 0.0, "β > 0")
    }
}

/// The hard-label SPPO loss.
///
/// # Shapes
/// - `x`: `[batch]` tensors, with the reference log-probs → `[batch]`.
pub fn sppo_hard(x: &PairLogps, cfg: &SppoHardConfig) -> Result<LossOutput> {
    let (c, r) = x.logratios("sppo_hard")?;
    let t = 0.5 / cfg.beta;
    let loss = ((&c - t)?.sqr()? + (&r + t)?.sqr()?)?;
    let (chosen_rewards, rejected_rewards) = scaled_rewards(cfg.beta, &c, &r)?;
    Ok(LossOutput {
        loss,
        chosen_rewards,
        rejected_rewards,
    })
}

impl PairwiseLoss for SppoHardConfig {
    fn pair_loss(&self, x: &PairLogps) -> Result<LossOutput> {
        sppo_hard(x, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::*;

    #[test]
    fn matches_closed_form() -> Result<()> {
        let out = sppo_hard(&batch()?, &SppoHardConfig { beta: 0.5 })?;
        let want: Vec<f64> = rows()
            .iter()
            .map(|[pc, pr, rc, rr, _, _]| (pc - rc - 1.0).powi(2) + (pr - rr + 1.0).powi(2))
            .collect();
        assert_close(&out.loss, &want, TOL)
    }
}
