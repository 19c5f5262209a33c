//! DPO, the sigmoid loss (Rafailov et al. 2023, arXiv:2305.18290, Eq. 7), with conservative
//! label smoothing (cDPO; Mitchell 2023, "A note on DPO with noisy preferences").
//!
//! With h = [log π_θ(y_w) − log π_ref(y_w)] − [log π_θ(y_l) − log π_ref(y_l)]:
//!
//! ℓ = −(1 − ε)·log σ(β·h) − ε·log σ(−β·h)
//!
//! TRL: `DPOTrainer` `loss_type="sigmoid"` (ε = 0); at trl@f2cd577 the DPO trainer no longer
//! smooths the sigmoid loss, and the same ε-form survives as `CPOTrainer`'s
//! `loss_type="sigmoid"` (which the fixtures call on log-ratios).

use serde::{Deserialize, Serialize};

use super::ops::{check_param, log_sigmoid};
use super::{LossOutput, PairLogps, PairwiseLoss, scaled_rewards};
use crate::error::Result;

/// Configuration of the DPO sigmoid loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SigmoidConfig {
    /// β, the inverse temperature of the implicit reward (KL strength); default 0.1 (TRL).
    pub beta: f64,
    /// ε, the assumed probability that a label is flipped (cDPO); default 0.0 = plain DPO;
    /// must lie in [0, 0.5).
    pub label_smoothing: f64,
}

impl Default for SigmoidConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            label_smoothing: 0.0,
        }
    }
}

impl SigmoidConfig {
    /// Checks β > 0 and ε ∈ [0, 0.5).
    pub fn validate(&self) -> crate::error::Result<()> {
        check_param("sigmoid.beta", self.beta, self.beta > 0.0, "β > 0")?;
        let e = self.label_smoothing;
        check_param(
            "sigmoid.label_smoothing",
            e,
            (0.0..0.5).contains(&e),
            "ε in [0, 0.5)",
        )
    }
}

/// The DPO / cDPO loss.
///
/// # Shapes
/// - `x`: `[batch]` tensors, with the reference log-probs → `[batch]`.
pub fn sigmoid(x: &PairLogps, cfg: &SigmoidConfig) -> Result<LossOutput> {
    let (c, r) = x.logratios("sigmoid")?;
    let bh = ((&c - &r)? * cfg.beta)?;
    let mut loss = (log_sigmoid(&bh)? * -(1.0 - cfg.label_smoothing))?;
    if cfg.label_smoothing != 0.0 {
        loss = (loss - (log_sigmoid(&bh.neg()?)? * cfg.label_smoothing)?)?;
    }
    let (chosen_rewards, rejected_rewards) = scaled_rewards(cfg.beta, &c, &r)?;
    Ok(LossOutput {
        loss,
        chosen_rewards,
        rejected_rewards,
    })
}

impl PairwiseLoss for SigmoidConfig {
    fn pair_loss(&self, x: &PairLogps) -> Result<LossOutput> {
        sigmoid(x, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::*;

    #[test]
    fn matches_closed_form_with_and_without_smoothing() -> Result<()> {
        for eps in [0.0, 0.1, 0.3] {
            let cfg = SigmoidConfig {
                beta: 0.5,
                label_smoothing: eps,
            };
            let out = sigmoid(&batch()?, &cfg)?;
            let want: Vec<f64> = rows()
                .iter()
                .map(|[pc, pr, rc, rr, _, _]| {
                    let h = 0.5 * ((pc - rc) - (pr - rr));
                    -(1.0 - eps) * log_sig(h) - eps * log_sig(-h)
                })
                .collect();
            assert_close(&out.loss, &want, TOL)?;
            assert_close(&out.chosen_rewards, &[0.5, -1.0, 0.0, 0.5], TOL)?;
        }
        Ok(())
    }

    #[test]
    fn tie_costs_ln2() -> Result<()> {
        // At h = 0 (policy = reference) the DPO loss is −log σ(0) = ln 2 whatever β and ε.
        let out = sigmoid(&batch()?, &SigmoidConfig::default())?;
        let v = out.loss.to_vec1::<f64>()?;
        assert!((v[2] - std::f64::consts::LN_2).abs() < TOL);
        Ok(())
    }

    #[test]
    fn validate_rejects_out_of_range() {
        assert!(
            SigmoidConfig {
                beta: 0.0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            SigmoidConfig {
                label_smoothing: 0.5,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(SigmoidConfig::default().validate().is_ok());
    }

    #[test]
    fn missing_reference_is_an_error_naming_the_loss() -> Result<()> {
        let mut x = batch()?;
        x.ref_chosen = None;
        x.ref_rejected = None;
        let e = sigmoid(&x, &SigmoidConfig::default())
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|m| m.contains("sigmoid") && m.contains("ref_chosen")));
        Ok(())
    }
}
