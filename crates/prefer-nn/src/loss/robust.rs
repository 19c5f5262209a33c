//! Robust DPO (Chowdhury et al. 2024, "Provably Robust DPO: Aligning Language Models with
//! Noisy Feedback", arXiv:2403.00409, Eq. 10): an unbiased estimate of the DPO loss when each
//! label is flipped with probability ε.
//!
//! With h = [log π_θ(y_w) − log π_ref(y_w)] − [log π_θ(y_l) − log π_ref(y_l)]:
//!
//! ℓ = [−(1 − ε)·log σ(β·h) + ε·log σ(−β·h)] / (1 − 2ε)
//!
//! TRL: `DPOTrainer` `loss_type="robust"` with ε = `label_smoothing` (TRL only warns outside
//! [0, 0.5); we reject).

use serde::{Deserialize, Serialize};

use super::ops::{check_param, log_sigmoid};
use super::{LossOutput, PairLogps, PairwiseLoss, scaled_rewards};
use crate::error::Result;

/// Configuration of the robust DPO loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RobustConfig {
    /// β, the inverse temperature; default 0.1 (TRL).
    pub beta: f64,
    /// ε, the label-flip probability; default 0.0 (TRL; = DPO), the paper suggests 0.1.
    /// In [0, 0.5).
    pub label_smoothing: f64,
}

impl Default for RobustConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            label_smoothing: 0.0,
        }
    }
}

impl RobustConfig {
    /// Checks β > 0 and ε ∈ [0, 0.5).
    pub fn validate(&self) -> Result<()> {
        check_param("robust.beta", self.beta, self.beta > 0.0, "β > 0")?;
        let e = self.label_smoothing;
        check_param(
            "robust.label_smoothing",
            e,
            (0.0..0.5).contains(&e),
            "ε in [0, 0.5)",
        )
    }
}

/// The robust DPO loss.
///
/// # Shapes
/// - `x`: `[batch]` tensors, with the reference log-probs → `[batch]`.
pub fn robust(x: &PairLogps, cfg: &RobustConfig) -> Result<LossOutput> {
    let (c, r) = x.logratios("robust")?;
    let e = cfg.label_smoothing;
    let bh = ((&c - &r)? * cfg.beta)?;
    let clean = (log_sigmoid(&bh)? * -(1.0 - e))?;
    let flipped = (log_sigmoid(&bh.neg()?)? * e)?;
    let loss = ((clean + flipped)? / (1.0 - 2.0 * e))?;
    let (chosen_rewards, rejected_rewards) = scaled_rewards(cfg.beta, &c, &r)?;
    Ok(LossOutput {
        loss,
        chosen_rewards,
        rejected_rewards,
    })
}

impl PairwiseLoss for RobustConfig {
    fn pair_loss(&self, x: &PairLogps) -> Result<LossOutput> {
        robust(x, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::*;

    #[test]
    fn is_unbiased_for_flipped_labels() -> Result<()> {
        // E over a flip with probability ε of the robust loss equals the clean DPO loss:
        // (1−ε)·ℓ(h) + ε·ℓ(−h) = −log σ(βh).
        let e = 0.2;
        let cfg = RobustConfig {
            beta: 0.5,
            label_smoothing: e,
        };
        let x = batch()?;
        let flipped = {
            let mut f = x.clone();
            std::mem::swap(&mut f.policy_chosen, &mut f.policy_rejected);
            std::mem::swap(&mut f.ref_chosen, &mut f.ref_rejected);
            f
        };
        let a = robust(&x, &cfg)?.loss;
        let b = robust(&flipped, &cfg)?.loss;
        let expected = ((a * (1.0 - e))? + (b * e)?)?;
        let want: Vec<f64> = rows()
            .iter()
            .map(|[pc, pr, rc, rr, _, _]| -log_sig(0.5 * ((pc - rc) - (pr - rr))))
            .collect();
        assert_close(&expected, &want, 1e-10)
    }
}
