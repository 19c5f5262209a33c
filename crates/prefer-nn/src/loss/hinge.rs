//! The hinge loss of SLiC (Zhao et al. 2023, arXiv:2305.10425) on the normalised likelihood,
//! as used by RSO (Liu et al. 2023, arXiv:2309.06657, Eq. 8).
//!
//! With h = [log π_θ(y_w) − log π_ref(y_w)] − [log π_θ(y_l) − log π_ref(y_l)]:
//!
//! ℓ = max(0, 1 − β·h)
//!
//! β is the reciprocal of the margin δ = 1/β of SLiC. TRL: `DPOTrainer` `loss_type="hinge"`.

use serde::{Deserialize, Serialize};

use super::ops::check_param;
use super::{LossOutput, PairLogps, PairwiseLoss, scaled_rewards};
use crate::error::Result;

/// Configuration of the hinge loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HingeConfig {
    /// β = 1/δ, the reciprocal of the margin; default 0.1 (TRL).
    pub beta: f64,
}

impl Default for HingeConfig {
    fn default() -> Self {
        Self { beta: 0.1 }
    }
}

impl HingeConfig {
    /// Checks β > 0.
    pub fn validate(&self) -> Result<()> {
        check_param("hinge.beta", self.beta, self.beta > 0.0, "β > 0")
    }
}

/// The hinge loss.
///
/// # Shapes
/// - `x`: `[batch]` tensors, with the reference log-probs → `[batch]`.
pub fn hinge(x: &PairLogps, cfg: &HingeConfig) -> Result<LossOutput> {
    let (c, r) = x.logratios("hinge")?;
    let loss = ((&c - &r)? * -cfg.beta)?.affine(1.0, 1.0)?.relu()?;
    let (chosen_rewards, rejected_rewards) = scaled_rewards(cfg.beta, &c, &r)?;
    Ok(LossOutput {
        loss,
        chosen_rewards,
        rejected_rewards,
    })
}

impl PairwiseLoss for HingeConfig {
    fn pair_loss(&self, x: &PairLogps) -> Result<LossOutput> {
        hinge(x, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::*;

    #[test]
    fn matches_closed_form() -> Result<()> {
        let cfg = HingeConfig { beta: 0.7 };
        let out = hinge(&batch()?, &cfg)?;
        let want: Vec<f64> = rows()
            .iter()
            .map(|[pc, pr, rc, rr, _, _]| (1.0 - 0.7 * ((pc - rc) - (pr - rr))).max(0.0))
            .collect();
        assert_close(&out.loss, &want, TOL)?;
        // Row 3 has h = 5: beyond the margin 1/β, the loss is exactly 0.
        assert_eq!(out.loss.to_vec1::<f64>()?[3], 0.0);
        Ok(())
    }
}
