//! Soft-preference cross-entropy (seed paper 16, "Online Self-Preferring Language Models"):
//! the DPO logistic loss with the hard label replaced by the preference strength p, the
//! probability that the chosen response is preferred.
//!
//! With h = β·([log π_θ(y_w) − log π_ref(y_w)] − [log π_θ(y_l) − log π_ref(y_l)]):
//!
//! ℓ = −(p·log σ(h) + (1 − p)·log σ(−h))
//!
//! p = 1 is DPO; p = 1 − ε is cDPO with a per-pair ε; p = ½ pulls the margin to 0. The
//! labels come from [`PairLogps::soft_label`]. TRL has no such loss; its fixture is an
//! independent PyTorch expression in `tests/fixtures/trl/make_fixtures.py`.

use serde::{Deserialize, Serialize};

use super::ops::{check_param, log_sigmoid};
use super::{LossOutput, PairLogps, PairwiseLoss, scaled_rewards};
use crate::error::{Error, Result};

/// Configuration of the soft-preference cross-entropy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SoftPreferenceConfig {
    /// β, the inverse temperature of the implicit reward; default 0.1 (as DPO in TRL).
    pub beta: f64,
}

impl Default for SoftPreferenceConfig {
    fn default() -> Self {
        Self { beta: 0.1 }
    }
}

impl SoftPreferenceConfig {
    /// Checks β > 0.
    pub fn validate(&self) -> Result<()> {
        check_param("soft_preference.beta", self.beta, self.beta > 0.0, "β > 0")
    }
}

/// The soft-preference cross-entropy.
///
/// # Shapes
/// - `x`: `[batch]` tensors with the reference log-probs and `soft_label` → `[batch]`.
pub fn soft_preference(x: &PairLogps, cfg: &SoftPreferenceConfig) -> Result<LossOutput> {
    let p = x.soft_label.as_ref().ok_or_else(|| {
        Error::Invalid(
            "the soft_preference loss needs preference strengths (PairLogps::soft_label)".into(),
        )
    })?;
    let (c, r) = x.logratios("soft_preference")?;
    let h = ((&c - &r)? * cfg.beta)?;
    let q = p.affine(-1.0, 1.0)?;
    let loss = ((p * log_sigmoid(&h)?)? + (q * log_sigmoid(&h.neg()?)?)?)?.neg()?;
    let (chosen_rewards, rejected_rewards) = scaled_rewards(cfg.beta, &c, &r)?;
    Ok(LossOutput {
        loss,
        chosen_rewards,
        rejected_rewards,
    })
}

impl PairwiseLoss for SoftPreferenceConfig {
    fn pair_loss(&self, x: &PairLogps) -> Result<LossOutput> {
        soft_preference(x, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::sigmoid::{SigmoidConfig, sigmoid};
    use crate::loss::test_util::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn matches_closed_form() -> Result<()> {
        let p = [1.0, 0.8, 0.5, 0.0];
        let x = batch()?.with_soft_label(Tensor::new(&p[..], &Device::Cpu)?);
        let out = soft_preference(&x, &SoftPreferenceConfig { beta: 0.5 })?;
        let want: Vec<f64> = rows()
            .iter()
            .zip(p)
            .map(|([pc, pr, rc, rr, _, _], p)| {
                let h = 0.5 * ((pc - rc) - (pr - rr));
                -(p * log_sig(h) + (1.0 - p) * log_sig(-h))
            })
            .collect();
        assert_close(&out.loss, &want, TOL)
    }

    #[test]
    fn constant_label_is_cdpo() -> Result<()> {
        let x = batch()?.with_soft_label(Tensor::new(&[0.9f64; 4], &Device::Cpu)?);
        let a = soft_preference(&x, &SoftPreferenceConfig { beta: 0.3 })?.loss;
        let b = sigmoid(
            &x,
            &SigmoidConfig {
                beta: 0.3,
                label_smoothing: 0.1,
            },
        )?
        .loss;
        assert_close(&a, &b.to_vec1::<f64>()?, TOL)
    }

    #[test]
    fn labels_outside_unit_interval_are_rejected_with_their_index() -> Result<()> {
        let x = batch()?.with_soft_label(Tensor::new(&[0.5f64, 1.2, 0.0, 0.0], &Device::Cpu)?);
        let e = x
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("soft_label[1]"), "{e}");
        Ok(())
    }
}
