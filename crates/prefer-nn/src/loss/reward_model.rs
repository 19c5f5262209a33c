//! The Bradley–Terry reward-model loss of TRL's `RewardTrainer`: a pairwise logistic loss on
//! scalar rewards, with an optional per-pair margin (Llama 2, Touvron et al. 2023,
//! arXiv:2307.09288, Eq. 2) and an optional centring penalty that keeps rewards near zero
//! (Eisenstein et al. 2023, arXiv:2312.09244).
//!
//! ℓ = −log σ(r(x, y_w) − r(x, y_l) − m) + c·(r(x, y_w) + r(x, y_l))²
//!
//! The batch mean equals TRL's `-logsigmoid(r_w - r_l - margin).mean() +
//! center_rewards_coefficient * mean((r_w + r_l)**2)`.

use serde::{Deserialize, Serialize};

use super::ops::{as_dtype, check_param, log_sigmoid};
use super::{LossOutput, RewardPair};
use crate::error::Result;

/// Configuration of the Bradley–Terry reward-model loss.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BradleyTerryConfig {
    /// c, the weight of the centring penalty (TRL's `center_rewards_coefficient`); default
    /// `None` = no penalty (TRL); Eisenstein et al. use 0.01.
    pub center_rewards_coefficient: Option<f64>,
}

impl BradleyTerryConfig {
    /// Checks c ≥ 0 when set.
    pub fn validate(&self) -> Result<()> {
        if let Some(c) = self.center_rewards_coefficient {
            check_param("center_rewards_coefficient", c, c >= 0.0, "c >= 0")?;
        }
        Ok(())
    }
}

/// The reward-model loss. Rewards are r(x, y_w) and r(x, y_l), detached.
///
/// # Shapes
/// - `x.chosen`, `x.rejected` (and `x.margin`): `[batch]` → `[batch]`.
pub fn bradley_terry(x: &RewardPair, cfg: &BradleyTerryConfig) -> Result<LossOutput> {
    x.validate()?;
    let mut d = (&x.chosen - &x.rejected)?;
    if let Some(m) = &x.margin {
        d = (d - as_dtype(m, x.chosen.dtype())?)?;
    }
    let mut loss = log_sigmoid(&d)?.neg()?;
    if let Some(c) = cfg.center_rewards_coefficient {
        loss = (loss + ((&x.chosen + &x.rejected)?.sqr()? * c)?)?;
    }
    Ok(LossOutput {
        loss,
        chosen_rewards: x.chosen.detach(),
        rejected_rewards: x.rejected.detach(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn matches_closed_form_with_margin_and_centring() -> Result<()> {
        let d = Device::Cpu;
        let (w, l, m) = ([1.0f64, -0.5, 3.0], [0.0f64, 0.5, -2.0], [0.5f64, 0.0, 1.0]);
        let x = RewardPair {
            chosen: Tensor::new(&w[..], &d)?,
            rejected: Tensor::new(&l[..], &d)?,
            margin: Some(Tensor::new(&m[..], &d)?),
        };
        let cfg = BradleyTerryConfig {
            center_rewards_coefficient: Some(0.01),
        };
        let out = bradley_terry(&x, &cfg)?;
        let want: Vec<f64> = (0..3)
            .map(|i| -log_sig(w[i] - l[i] - m[i]) + 0.01 * (w[i] + l[i]).powi(2))
            .collect();
        assert_close(&out.loss, &want, TOL)
    }
}
