//! Length-normalised DPO: the sigmoid loss on per-token log-ratios, the length correction
//! SimPO (Meng et al. 2024, arXiv:2405.14734) argues for, kept with a reference model.
//!
//! With ĥ = [log π_θ(y_w) − log π_ref(y_w)]/|y_w| − [log π_θ(y_l) − log π_ref(y_l)]/|y_l|
//! (token counts clamped to ≥ 1):
//!
//! ℓ = −log σ(β·ĥ)
//!
//! TRL: `DPOTrainer` `loss_type="sigmoid_norm"`; rewards stay β·(unnormalised log-ratio).

use serde::{Deserialize, Serialize};

use super::ops::{check_param, log_sigmoid};
use super::{LossOutput, PairLogps, PairwiseLoss, scaled_rewards};
use crate::error::Result;

/// Configuration of the length-normalised sigmoid loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SigmoidNormConfig {
    /// β, the inverse temperature; default 0.1 (TRL).
    pub beta: f64,
}

impl Default for SigmoidNormConfig {
    fn default() -> Self {
        Self { beta: 0.1 }
    }
}

impl SigmoidNormConfig {
    /// Checks β > 0.
    pub fn validate(&self) -> Result<()> {
        check_param("sigmoid_norm.beta", self.beta, self.beta > 0.0, "β > 0")
    }
}

/// The length-normalised sigmoid loss.
///
/// # Shapes
/// - `x`: `[batch]` tensors, with the reference log-probs → `[batch]`.
pub fn sigmoid_norm(x: &PairLogps, cfg: &SigmoidNormConfig) -> Result<LossOutput> {
    let (c, r) = x.logratios("sigmoid_norm")?;
    let (lc, lr) = x.lengths()?;
    let h = ((&c / lc)? - (&r / lr)?)?;
    let loss = log_sigmoid(&(h * cfg.beta)?)?.neg()?;
    let (chosen_rewards, rejected_rewards) = scaled_rewards(cfg.beta, &c, &r)?;
    Ok(LossOutput {
        loss,
        chosen_rewards,
        rejected_rewards,
    })
}

impl PairwiseLoss for SigmoidNormConfig {
    fn pair_loss(&self, x: &PairLogps) -> Result<LossOutput> {
        sigmoid_norm(x, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::*;

    #[test]
    fn matches_closed_form() -> Result<()> {
        let out = sigmoid_norm(&batch()?, &SigmoidNormConfig { beta: 2.0 })?;
        let want: Vec<f64> = rows()
            .iter()
            .map(|[pc, pr, rc, rr, lc, lr]| -log_sig(2.0 * ((pc - rc) / lc - (pr - rr) / lr)))
            .collect();
        assert_close(&out.loss, &want, TOL)
    }
}
