//! CPO, Contrastive Preference Optimization (Xu et al. 2024, arXiv:2401.08417, Eq. 3 + the
//! NLL regulariser), reference-free, with AlphaPO's reward shape (Gupta et al. 2025,
//! arXiv:2501.03884) as an option.
//!
//! With u(y) = log π_θ(y) (summed) or, for α ≠ 0, u(y) = (1 − π_θ(y)^{−α})/α, and
//! h = u(y_w) − u(y_l):
//!
//! ℓ = −(1 − ε)·log σ(β·h) − ε·log σ(−β·h) + λ·NLL(y_w)
//!
//! TRL: `CPOTrainer` `loss_type="sigmoid"` with `cpo_alpha` = λ, `alpha` = α. The NLL term
//! comes from [`PairLogps::chosen_nll`] (TRL: the token-mean cross-entropy of the chosen
//! sequences over the batch, see [`PairLogps::batch_token_mean_nll`]).

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::ops::{check_param, log_sigmoid};
use super::{LossOutput, PairLogps, PairwiseLoss, scaled_rewards};
use crate::error::Result;

/// Configuration of the CPO loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CpoConfig {
    /// β, the inverse temperature; default 0.1 (TRL).
    pub beta: f64,
    /// ε, conservative label smoothing; default 0.0 (TRL). In [0, 0.5).
    pub label_smoothing: f64,
    /// λ, the weight of the NLL term (TRL's `cpo_alpha`); default 1.0 (TRL).
    pub nll_weight: f64,
    /// α of AlphaPO's reward u = (1 − p^{−α})/α; default 0.0 = log-probability rewards (TRL).
    pub alpha: f64,
}

impl Default for CpoConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            label_smoothing: 0.0,
            nll_weight: 1.0,
            alpha: 0.0,
        }
    }
}

impl CpoConfig {
    /// Checks β > 0, ε ∈ [0, 0.5), λ ≥ 0, α finite.
    pub fn validate(&self) -> Result<()> {
        check_param("cpo.beta", self.beta, self.beta > 0.0, "β > 0")?;
        let e = self.label_smoothing;
        check_param(
            "cpo.label_smoothing",
            e,
            (0.0..0.5).contains(&e),
            "ε in [0, 0.5)",
        )?;
        check_param(
            "cpo.nll_weight",
            self.nll_weight,
            self.nll_weight >= 0.0,
            "λ >= 0",
        )?;
        check_param("cpo.alpha", self.alpha, true, "a finite α")
    }
}

/// AlphaPO's reward shape: u = log p when α = 0, else (1 − exp(−α·log p))/α.
pub(crate) fn alphapo_reward(logp: &Tensor, alpha: f64) -> Result<Tensor> {
    if alpha == 0.0 {
        Ok(logp.clone())
    } else {
        Ok((logp * -alpha)?.exp()?.affine(-1.0 / alpha, 1.0 / alpha)?)
    }
}

/// The ε-smoothed logistic loss on z plus λ·NLL, shared by CPO and SimPO.
pub(crate) fn smoothed_logistic_plus_nll(
    z: &Tensor,
    eps: f64,
    nll_weight: f64,
    x: &PairLogps,
    loss_name: &str,
) -> Result<Tensor> {
    let mut loss = (log_sigmoid(z)? * -(1.0 - eps))?;
    if eps != 0.0 {
        loss = (loss - (log_sigmoid(&z.neg()?)? * eps)?)?;
    }
    if nll_weight != 0.0 {
        loss = (loss + (x.nll(loss_name)? * nll_weight)?)?;
    }
    Ok(loss)
}

/// The CPO loss. Rewards are β·u(y), as TRL logs them.
///
/// # Shapes
/// - `x`: `[batch]` tensors (no reference needed; `chosen_nll` when λ ≠ 0) → `[batch]`.
pub fn cpo(x: &PairLogps, cfg: &CpoConfig) -> Result<LossOutput> {
    let uc = alphapo_reward(&x.policy_chosen, cfg.alpha)?;
    let ur = alphapo_reward(&x.policy_rejected, cfg.alpha)?;
    let z = ((&uc - &ur)? * cfg.beta)?;
    let loss = smoothed_logistic_plus_nll(&z, cfg.label_smoothing, cfg.nll_weight, x, "cpo")?;
    let (chosen_rewards, rejected_rewards) = scaled_rewards(cfg.beta, &uc, &ur)?;
    Ok(LossOutput {
        loss,
        chosen_rewards,
        rejected_rewards,
    })
}

impl PairwiseLoss for CpoConfig {
    fn pair_loss(&self, x: &PairLogps) -> Result<LossOutput> {
        cpo(x, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::*;
    use candle_core::Device;

    #[test]
    fn matches_closed_form_with_nll_and_alphapo() -> Result<()> {
        let nll = [1.5, 2.5, 0.5, 3.0];
        let x = batch()?.with_chosen_nll(Tensor::new(&nll[..], &Device::Cpu)?);
        for alpha in [0.0, 0.05] {
            let cfg = CpoConfig {
                beta: 0.2,
                label_smoothing: 0.1,
                nll_weight: 0.7,
                alpha,
            };
            let out = cpo(&x, &cfg)?;
            let u = |lp: f64| {
                if alpha == 0.0 {
                    lp
                } else {
                    (1.0 - (-alpha * lp).exp()) / alpha
                }
            };
            let want: Vec<f64> = rows()
                .iter()
                .zip(nll)
                .map(|([pc, pr, ..], n)| {
                    let z = 0.2 * (u(*pc) - u(*pr));
                    -0.9 * log_sig(z) - 0.1 * log_sig(-z) + 0.7 * n
                })
                .collect();
            assert_close(&out.loss, &want, 1e-11)?;
        }
        Ok(())
    }

    #[test]
    fn missing_nll_is_an_error_unless_its_weight_is_zero() -> Result<()> {
        assert!(cpo(&batch()?, &CpoConfig::default()).is_err());
        let cfg = CpoConfig {
            nll_weight: 0.0,
            ..CpoConfig::default()
        };
        assert!(cpo(&batch()?, &cfg).is_ok());
        Ok(())
    }
}
