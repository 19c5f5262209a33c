//! BCO on paired data (Jung et al. 2024, "Binary Classifier Optimization for Large Language
//! Model Alignment", arXiv:2404.04656): a binary classifier whose logit is the implicit
//! reward, chosen → 1 and rejected → 0.
//!
//! With r_w = β·[log π_θ(y_w) − log π_ref(y_w)] and r_l likewise:
//!
//! ℓ = −log σ(r_w) − log σ(−r_l)
//!
//! TRL: `DPOTrainer` `loss_type="bco_pair"` (at trl@f2cd577 without the running reward
//! shift δ, which only the unpaired [`bco`](super::bco) keeps).

use serde::{Deserialize, Serialize};

use super::ops::{check_param, log_sigmoid};
use super::{LossOutput, PairLogps, PairwiseLoss, scaled_rewards};
use crate::error::Result;

/// Configuration of the paired BCO loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BcoPairConfig {
    /// β, the inverse temperature of the rewards; default 0.1 (TRL).
    pub beta: f64,
}

impl Default for BcoPairConfig {
    fn default() -> Self {
        Self { beta: 0.1 }
    }
}

impl BcoPairConfig {
    /// Checks β > 0.
    pub fn validate(&self) -> Result<()> {
        check_param("bco_pair.beta", self.beta, self.beta > 0.0, "β > 0")
    }
}

/// The paired BCO loss.
///
/// # Shapes
/// - `x`: `[batch]` tensors, with the reference log-probs → `[batch]`.
pub fn bco_pair(x: &PairLogps, cfg: &BcoPairConfig) -> Result<LossOutput> {
    let (c, r) = x.logratios("bco_pair")?;
    let zw = (&c * cfg.beta)?;
    let zl = (&r * cfg.beta)?;
    let loss = (log_sigmoid(&zw)?.neg()? - log_sigmoid(&zl.neg()?)?)?;
    let (chosen_rewards, rejected_rewards) = scaled_rewards(cfg.beta, &c, &r)?;
    Ok(LossOutput {
        loss,
        chosen_rewards,
        rejected_rewards,
    })
}

impl PairwiseLoss for BcoPairConfig {
    fn pair_loss(&self, x: &PairLogps) -> Result<LossOutput> {
        bco_pair(x, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::*;

    #[test]
    fn matches_closed_form() -> Result<()> {
        let out = bco_pair(&batch()?, &BcoPairConfig { beta: 0.4 })?;
        let want: Vec<f64> = rows()
            .iter()
            .map(|[pc, pr, rc, rr, _, _]| -log_sig(0.4 * (pc - rc)) - log_sig(-0.4 * (pr - rr)))
            .collect();
        assert_close(&out.loss, &want, TOL)
    }
}
