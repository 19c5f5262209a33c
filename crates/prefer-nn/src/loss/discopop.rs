//! DiscoPOP, the log-ratio modulated loss (Chris Lu et al. 2024, "Discovering Preference
//! Optimization Algorithms with and for Large Language Models", arXiv:2406.08414, Eq. 5): a
//! blend of the logistic and exponential losses, mixed by σ(z/τ).
//!
//! With z = β·h, h = [log π_θ(y_w) − log π_ref(y_w)] − [log π_θ(y_l) − log π_ref(y_l)]:
//!
//! ℓ = (1 − σ(z/τ))·(−log σ(z)) + σ(z/τ)·exp(−z)
//!
//! 1 − σ(z/τ) is computed as σ(−z/τ). TRL: `DPOTrainer` `loss_type="discopop"`, τ =
//! `discopop_tau`.

use serde::{Deserialize, Serialize};

use super::ops::{check_param, log_sigmoid, sigmoid};
use super::{LossOutput, PairLogps, PairwiseLoss, scaled_rewards};
use crate::error::Result;

/// Configuration of the DiscoPOP loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscopopConfig {
    /// β, the inverse temperature; default 0.1 (TRL).
    pub beta: f64,
    /// τ, the temperature of the mixing weight σ(z/τ); default 0.05 (TRL and the paper).
    #[serde(alias = "discopop_tau")]
    pub tau: f64,
}

impl Default for DiscopopConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            tau: 0.05,
        }
    }
}

impl DiscopopConfig {
    /// Checks β > 0 and τ > 0.
    pub fn validate(&self) -> Result<()> {
        check_param("discopop.beta", self.beta, self.beta > 0.0, "β > 0")?;
        check_param("discopop.tau", self.tau, self.tau > 0.0, "τ > 0")
    }
}

/// The DiscoPOP loss.
///
/// # Shapes
/// - `x`: `[batch]` tensors, with the reference log-probs → `[batch]`.
pub fn discopop(x: &PairLogps, cfg: &DiscopopConfig) -> Result<LossOutput> {
    let (c, r) = x.logratios("discopop")?;
    let z = ((&c - &r)? * cfg.beta)?;
    let m = sigmoid(&(&z / cfg.tau)?)?;
    let one_minus_m = sigmoid(&(&z / -cfg.tau)?)?;
    let logistic = log_sigmoid(&z)?.neg()?;
    let exponential = z.neg()?.exp()?;
    let loss = ((logistic * one_minus_m)? + (exponential * m)?)?;
    let (chosen_rewards, rejected_rewards) = scaled_rewards(cfg.beta, &c, &r)?;
    Ok(LossOutput {
        loss,
        chosen_rewards,
        rejected_rewards,
    })
}

impl PairwiseLoss for DiscopopConfig {
    fn pair_loss(&self, x: &PairLogps) -> Result<LossOutput> {
        discopop(x, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::*;

    #[test]
    fn matches_closed_form() -> Result<()> {
        let cfg = DiscopopConfig {
            beta: 0.3,
            tau: 0.5,
        };
        let out = discopop(&batch()?, &cfg)?;
        let want: Vec<f64> = rows()
            .iter()
            .map(|[pc, pr, rc, rr, _, _]| {
                let z = 0.3 * ((pc - rc) - (pr - rr));
                let m = sig(z / 0.5);
                -log_sig(z) * (1.0 - m) + (-z).exp() * m
            })
            .collect();
        assert_close(&out.loss, &want, 1e-11)
    }

    #[test]
    fn tie_is_the_mean_of_the_two_components() -> Result<()> {
        // At z = 0 the weight is ½: ½·ln 2 + ½·1.
        let out = discopop(&batch()?, &DiscopopConfig::default())?;
        let v = out.loss.to_vec1::<f64>()?[2];
        assert!((v - 0.5 * (std::f64::consts::LN_2 + 1.0)).abs() < TOL);
        Ok(())
    }
}
