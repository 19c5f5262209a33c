//! IPO (Azar et al. 2023, arXiv:2310.12036, Eq. 17), length-normalised as TRL implements it.
//!
//! With ĥ = [log π_θ(y_w) − log π_ref(y_w)]/|y_w| − [log π_θ(y_l) − log π_ref(y_l)]/|y_l|
//! (or the unnormalised h when `normalize_length` is false, the paper's sequence-level form):
//!
//! ℓ = (ĥ − 1/(2τ))²
//!
//! TRL: `DPOTrainer` `loss_type="ipo"`, where `beta` is τ; TRL divides the log-ratios by the
//! completion token counts (clamped to ≥ 1), a choice its comments say the IPO authors
//! confirmed.

use serde::{Deserialize, Serialize};

use super::ops::check_param;
use super::{LossOutput, PairLogps, PairwiseLoss, scaled_rewards};
use crate::error::Result;

/// Configuration of the IPO loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IpoConfig {
    /// τ, the regularisation strength (TRL's `beta`); default 0.1. The target margin is 1/(2τ).
    #[serde(alias = "beta")]
    pub tau: f64,
    /// Divide each log-ratio by its completion length (TRL); default true.
    pub normalize_length: bool,
}

impl Default for IpoConfig {
    fn default() -> Self {
        Self {
            tau: 0.1,
            normalize_length: true,
        }
    }
}

impl IpoConfig {
    /// Checks τ > 0.
    pub fn validate(&self) -> Result<()> {
        check_param("ipo.tau", self.tau, self.tau > 0.0, "τ > 0")
    }
}

/// The IPO loss. Rewards are τ·(log π_θ − log π_ref), as TRL logs them.
///
/// # Shapes
/// - `x`: `[batch]` tensors, with the reference log-probs → `[batch]`.
pub fn ipo(x: &PairLogps, cfg: &IpoConfig) -> Result<LossOutput> {
    let (c, r) = x.logratios("ipo")?;
    let h = if cfg.normalize_length {
        let (lc, lr) = x.lengths()?;
        ((&c / lc)? - (&r / lr)?)?
    } else {
        (&c - &r)?
    };
    let loss = (h - 1.0 / (2.0 * cfg.tau))?.sqr()?;
    let (chosen_rewards, rejected_rewards) = scaled_rewards(cfg.tau, &c, &r)?;
    Ok(LossOutput {
        loss,
        chosen_rewards,
        rejected_rewards,
    })
}

impl PairwiseLoss for IpoConfig {
    fn pair_loss(&self, x: &PairLogps) -> Result<LossOutput> {
        ipo(x, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::*;

    #[test]
    fn matches_closed_form_normalised_and_not() -> Result<()> {
        for norm in [true, false] {
            let cfg = IpoConfig {
                tau: 0.25,
                normalize_length: norm,
            };
            let out = ipo(&batch()?, &cfg)?;
            let want: Vec<f64> = rows()
                .iter()
                .map(|[pc, pr, rc, rr, lc, lr]| {
                    let h = if norm {
                        (pc - rc) / lc - (pr - rr) / lr
                    } else {
                        (pc - rc) - (pr - rr)
                    };
                    (h - 2.0).powi(2)
                })
                .collect();
            assert_close(&out.loss, &want, TOL)?;
        }
        Ok(())
    }

    #[test]
    fn zero_length_is_clamped_to_one() -> Result<()> {
        let x = pairs(&[-1.0], &[-2.0], &[0.0], &[0.0], &[0.0], &[0.0])?;
        let out = ipo(&x, &IpoConfig::default())?;
        assert_close(&out.loss, &[(1.0f64 - 5.0).powi(2)], TOL)
    }
}
