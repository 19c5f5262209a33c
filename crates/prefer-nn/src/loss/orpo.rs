//! ORPO, Odds Ratio Preference Optimization (Hong et al. 2024, arXiv:2403.07691, Eqs. 4–7):
//! reference-free, an SFT loss plus a log-odds-ratio penalty.
//!
//! With p̄(y) = exp(log π_θ(y)/|y|) (the per-token geometric mean probability) and
//! odds(y) = p̄/(1 − p̄):
//!
//! ℓ = NLL(y_w) − λ·log σ(log odds(y_w) − log odds(y_l))
//!
//! where log odds(y) = ū − log(1 − e^{ū}), ū = log π_θ(y)/|y|. log(1 − e^{ū}) is computed as
//! log(−tanh(ū/2)) + log(1 + e^{ū}), exact for ū near 0 without `expm1`.
//!
//! TRL: `ORPOTrainer` (`beta` = λ), whose `odds_ratio_loss` returns β·log σ(·) and whose
//! trainer subtracts its mean from the NLL; TRL casts the log-probs to f32 first. The NLL
//! term comes from [`PairLogps::chosen_nll`] (TRL: token-mean cross-entropy over the chosen
//! prompt + completion tokens of the batch; see [`PairLogps::batch_token_mean_nll`]).

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::ops::{check_param, log_sigmoid};
use super::{LossOutput, PairLogps, PairwiseLoss, scaled_rewards};
use crate::error::Result;

/// Configuration of the ORPO loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrpoConfig {
    /// λ, the weight of the odds-ratio term (TRL's `beta`); default 0.1 (TRL and the paper).
    pub beta: f64,
}

impl Default for OrpoConfig {
    fn default() -> Self {
        Self { beta: 0.1 }
    }
}

impl OrpoConfig {
    /// Checks λ > 0.
    pub fn validate(&self) -> Result<()> {
        check_param("orpo.beta", self.beta, self.beta > 0.0, "λ > 0")
    }
}

/// log(1 − e^x) for x < 0, differentiable and accurate near 0.
pub(crate) fn log1mexp(x: &Tensor) -> Result<Tensor> {
    // 1 − e^x = −tanh(x/2)·(1 + e^x)
    let a = (x * 0.5)?.tanh()?.neg()?.log()?;
    let b = log_sigmoid(&x.neg()?)?.neg()?;
    Ok((a + b)?)
}

/// The ORPO loss. Rewards are λ·ū(y), as TRL logs them.
///
/// # Shapes
/// - `x`: `[batch]` tensors with `chosen_nll` (no reference) → `[batch]`.
pub fn orpo(x: &PairLogps, cfg: &OrpoConfig) -> Result<LossOutput> {
    let (lc, lr) = x.lengths()?;
    let uc = (&x.policy_chosen / lc)?;
    let ur = (&x.policy_rejected / lr)?;
    let log_odds = ((&uc - &ur)? - (log1mexp(&uc)? - log1mexp(&ur)?)?)?;
    let ratio = log_sigmoid(&log_odds)?;
    let loss = (x.nll("orpo")? - (ratio * cfg.beta)?)?;
    let (chosen_rewards, rejected_rewards) = scaled_rewards(cfg.beta, &uc, &ur)?;
    Ok(LossOutput {
        loss,
        chosen_rewards,
        rejected_rewards,
    })
}

impl PairwiseLoss for OrpoConfig {
    fn pair_loss(&self, x: &PairLogps) -> Result<LossOutput> {
        orpo(x, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::*;
    use candle_core::Device;

    #[test]
    fn matches_the_odds_ratio_formula() -> Result<()> {
        let nll = [1.5, 2.5, 0.5, 3.0];
        let x = batch()?.with_chosen_nll(Tensor::new(&nll[..], &Device::Cpu)?);
        let out = orpo(&x, &OrpoConfig { beta: 0.25 })?;
        let want: Vec<f64> = rows()
            .iter()
            .zip(nll)
            .map(|([pc, pr, _, _, lc, lr], n)| {
                let (pw, pl) = ((pc / lc).exp(), (pr / lr).exp());
                let lor = (pw / (1.0 - pw)).ln() - (pl / (1.0 - pl)).ln();
                n - 0.25 * log_sig(lor)
            })
            .collect();
        assert_close(&out.loss, &want, 1e-10)
    }

    #[test]
    fn log1mexp_is_accurate_near_zero_and_far_away() -> Result<()> {
        let xs: [f64; 6] = [-1e-8, -1e-3, -0.5, -0.7, -5.0, -40.0];
        let got = log1mexp(&Tensor::new(&xs[..], &Device::Cpu)?)?.to_vec1::<f64>()?;
        for (x, g) in xs.iter().zip(got) {
            let want = (-x.exp_m1()).ln();
            assert!(
                (g - want).abs() <= 1e-13 * want.abs().max(1e-300),
                "x={x}: {g} vs {want}"
            );
        }
        Ok(())
    }
}
