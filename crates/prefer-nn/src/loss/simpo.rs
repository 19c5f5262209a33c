//! SimPO, Simple Preference Optimization (Meng et al. 2024, arXiv:2405.14734, Eq. 6):
//! reference-free, length-normalised, with a target reward margin γ.
//!
//! With ū(y) = log π_θ(y)/|y| (or AlphaPO's (1 − exp(−α·ū))/α when α ≠ 0) and
//! z = β·(ū(y_w) − ū(y_l)) − γ:
//!
//! ℓ = −(1 − ε)·log σ(z) − ε·log σ(−z) + λ·NLL(y_w)
//!
//! TRL: `CPOTrainer` `loss_type="simpo"` (`simpo_gamma` = γ, `cpo_alpha` = λ); TRL's
//! documented SimPO setting is `cpo_alpha=0`, our default. TRL's β default 0.1 is kept; the
//! paper tunes β ∈ [2, 10] and γ/β ∈ [0.3, 1].

use serde::{Deserialize, Serialize};

use super::cpo::{alphapo_reward, smoothed_logistic_plus_nll};
use super::ops::check_param;
use super::{LossOutput, PairLogps, PairwiseLoss, scaled_rewards};
use crate::error::Result;

/// Configuration of the SimPO loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimpoConfig {
    /// β, the reward scale; default 0.1 (TRL).
    pub beta: f64,
    /// γ, the target reward margin; default 0.5 (TRL's `simpo_gamma`).
    pub gamma: f64,
    /// ε, conservative label smoothing; default 0.0 (TRL). In [0, 0.5).
    pub label_smoothing: f64,
    /// λ, weight of the NLL term (TRL's `cpo_alpha`; CPO-SimPO when > 0); default 0.0.
    pub nll_weight: f64,
    /// α of AlphaPO's reward shape (TRL's `alpha`, `loss_type="alphapo"`); default 0.0.
    pub alpha: f64,
}

impl Default for SimpoConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            gamma: 0.5,
            label_smoothing: 0.0,
            nll_weight: 0.0,
            alpha: 0.0,
        }
    }
}

impl SimpoConfig {
    /// Checks β > 0, γ finite, ε ∈ [0, 0.5), λ ≥ 0, α finite.
    pub fn validate(&self) -> Result<()> {
        check_param("simpo.beta", self.beta, self.beta > 0.0, "β > 0")?;
        check_param("simpo.gamma", self.gamma, true, "a finite γ")?;
        let e = self.label_smoothing;
        check_param(
            "simpo.label_smoothing",
            e,
            (0.0..0.5).contains(&e),
            "ε in [0, 0.5)",
        )?;
        check_param(
            "simpo.nll_weight",
            self.nll_weight,
            self.nll_weight >= 0.0,
            "λ >= 0",
        )?;
        check_param("simpo.alpha", self.alpha, true, "a finite α")
    }
}

/// The SimPO loss. Rewards are β·ū(y), as TRL logs them.
///
/// # Shapes
/// - `x`: `[batch]` tensors (no reference; `chosen_nll` when λ ≠ 0) → `[batch]`.
pub fn simpo(x: &PairLogps, cfg: &SimpoConfig) -> Result<LossOutput> {
    let (lc, lr) = x.lengths()?;
    let uc = alphapo_reward(&(&x.policy_chosen / lc)?, cfg.alpha)?;
    let ur = alphapo_reward(&(&x.policy_rejected / lr)?, cfg.alpha)?;
    let z = (((&uc - &ur)? * cfg.beta)? - cfg.gamma)?;
    let loss = smoothed_logistic_plus_nll(&z, cfg.label_smoothing, cfg.nll_weight, x, "simpo")?;
    let (chosen_rewards, rejected_rewards) = scaled_rewards(cfg.beta, &uc, &ur)?;
    Ok(LossOutput {
        loss,
        chosen_rewards,
        rejected_rewards,
    })
}

impl PairwiseLoss for SimpoConfig {
    fn pair_loss(&self, x: &PairLogps) -> Result<LossOutput> {
        simpo(x, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::*;

    #[test]
    fn matches_the_paper_formula() -> Result<()> {
        let cfg = SimpoConfig {
            beta: 2.0,
            gamma: 1.0,
            ..SimpoConfig::default()
        };
        let out = simpo(&batch()?, &cfg)?;
        let want: Vec<f64> = rows()
            .iter()
            .map(|[pc, pr, _, _, lc, lr]| -log_sig(2.0 * pc / lc - 2.0 * pr / lr - 1.0))
            .collect();
        assert_close(&out.loss, &want, TOL)
    }

    #[test]
    fn does_not_need_a_reference() -> Result<()> {
        let mut x = batch()?;
        x.ref_chosen = None;
        x.ref_rejected = None;
        assert!(simpo(&x, &SimpoConfig::default()).is_ok());
        Ok(())
    }
}
