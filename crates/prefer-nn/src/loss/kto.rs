//! KTO, Kahneman–Tversky Optimization (Ethayarajh et al. 2024, arXiv:2402.01306, Eq. 7),
//! and APO-zero on unpaired data (D'Oosterlinck et al. 2024, arXiv:2408.06266).
//!
//! With ρ = log π_θ(y) − log π_ref(y) and the reference point
//! z₀ = max(0, mean_j[log π_θ(y'_j) − log π_ref(y'_j)]) estimated on mismatched completions
//! y' and **detached** (TRL computes it under `no_grad`):
//!
//! - desirable:   ℓ = λ_D·(1 − σ(β·(ρ − z₀)))
//! - undesirable: ℓ = λ_U·(1 − σ(β·(z₀ − ρ)))
//!
//! APO-zero-unpaired drops z₀: λ_D·(1 − σ(β·ρ)) and λ_U·σ(β·ρ).
//!
//! TRL: `KTOTrainer` `loss_type="kto"` / `"apo_zero_unpaired"`; 1 − σ(z) is computed as
//! σ(−z). TRL returns desirable examples first; we keep the input order (same mean). On
//! several devices TRL averages z₀ across them; pass the gathered KL log-probs to match.

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

use super::ops::{check_param, sigmoid};
use super::{UnpairedLogps, UnpairedLossOutput};
use crate::error::{Error, Result};

/// Configuration of the KTO loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KtoConfig {
    /// β, the inverse temperature of the value function; default 0.1 (TRL).
    pub beta: f64,
    /// λ_D, the weight of desirable examples; default 1.0 (TRL).
    pub desirable_weight: f64,
    /// λ_U, the weight of undesirable examples; default 1.0 (TRL). The paper recommends
    /// λ_D·n_D / (λ_U·n_U) ∈ [1, 4/3].
    pub undesirable_weight: f64,
}

impl Default for KtoConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            desirable_weight: 1.0,
            undesirable_weight: 1.0,
        }
    }
}

impl KtoConfig {
    /// Checks β > 0 and weights ≥ 0.
    pub fn validate(&self) -> Result<()> {
        check_param("kto.beta", self.beta, self.beta > 0.0, "β > 0")?;
        let (d, u) = (self.desirable_weight, self.undesirable_weight);
        check_param("kto.desirable_weight", d, d >= 0.0, "λ_D >= 0")?;
        check_param("kto.undesirable_weight", u, u >= 0.0, "λ_U >= 0")
    }
}

/// Configuration of APO-zero on unpaired data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApoZeroUnpairedConfig {
    /// β; default 0.1 (TRL).
    pub beta: f64,
    /// λ_D; default 1.0 (TRL).
    pub desirable_weight: f64,
    /// λ_U; default 1.0 (TRL).
    pub undesirable_weight: f64,
}

impl Default for ApoZeroUnpairedConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            desirable_weight: 1.0,
            undesirable_weight: 1.0,
        }
    }
}

impl ApoZeroUnpairedConfig {
    /// Checks β > 0 and weights ≥ 0.
    pub fn validate(&self) -> Result<()> {
        check_param(
            "apo_zero_unpaired.beta",
            self.beta,
            self.beta > 0.0,
            "β > 0",
        )?;
        let (d, u) = (self.desirable_weight, self.undesirable_weight);
        check_param(
            "apo_zero_unpaired.desirable_weight",
            d,
            d >= 0.0,
            "λ_D >= 0",
        )?;
        check_param(
            "apo_zero_unpaired.undesirable_weight",
            u,
            u >= 0.0,
            "λ_U >= 0",
        )
    }
}

/// KTO's reference point z₀ = max(0, mean(kl_policy − kl_reference)), as a number.
pub fn kto_reference_point(x: &UnpairedLogps) -> Result<f64> {
    let (p, r) = match (&x.kl_policy, &x.kl_reference) {
        (Some(p), Some(r)) => (p, r),
        _ => {
            return Err(Error::Invalid(
                "the kto loss needs its KL estimate inputs (UnpairedLogps::kl_policy / \
                 kl_reference: log-probs of mismatched completions)"
                    .into(),
            ));
        }
    };
    let kl = (p - r)?
        .to_dtype(DType::F64)?
        .mean_all()?
        .to_scalar::<f64>()?;
    Ok(kl.max(0.0))
}

/// Shared tail: select the desirable / undesirable branch per example and weight it.
fn weighted_select(
    x: &UnpairedLogps,
    des: &Tensor,
    und: &Tensor,
    wd: f64,
    wu: f64,
) -> Result<Tensor> {
    let mask = x.desirable_mask()?;
    Ok(mask.where_cond(&(des * wd)?, &(und * wu)?)?)
}

/// The KTO loss.
///
/// # Shapes
/// - `x`: `policy`, `reference` `[n]`, with `kl_policy`, `kl_reference` `[m]` → `[n]`.
pub fn kto(x: &UnpairedLogps, cfg: &KtoConfig) -> Result<UnpairedLossOutput> {
    let z0 = kto_reference_point(x)?;
    let rho = (&x.policy - &x.reference)?;
    let shifted = ((&rho - z0)? * cfg.beta)?;
    let des = sigmoid(&shifted.neg()?)?;
    let und = sigmoid(&shifted)?;
    let loss = weighted_select(x, &des, &und, cfg.desirable_weight, cfg.undesirable_weight)?;
    Ok(UnpairedLossOutput {
        loss,
        rewards: (rho * cfg.beta)?.detach(),
        reference_point: z0,
    })
}

/// APO-zero on unpaired data.
///
/// # Shapes
/// - `x`: `policy`, `reference` `[n]` → `[n]`.
pub fn apo_zero_unpaired(
    x: &UnpairedLogps,
    cfg: &ApoZeroUnpairedConfig,
) -> Result<UnpairedLossOutput> {
    let rho = (&x.policy - &x.reference)?;
    let z = (&rho * cfg.beta)?;
    let des = sigmoid(&z.neg()?)?;
    let und = sigmoid(&z)?;
    let loss = weighted_select(x, &des, &und, cfg.desirable_weight, cfg.undesirable_weight)?;
    Ok(UnpairedLossOutput {
        loss,
        rewards: z.detach(),
        reference_point: 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::*;
    use candle_core::Device;

    fn unpaired() -> Result<UnpairedLogps> {
        let d = Device::Cpu;
        Ok(UnpairedLogps::new(
            Tensor::new(&[-10.0f64, -20.0, -5.0, -30.0], &d)?,
            Tensor::new(&[-11.0f64, -18.0, -5.5, -31.0], &d)?,
            vec![true, false, true, false],
        )
        .with_kl(
            Tensor::new(&[-12.0f64, -15.0, -8.0], &d)?,
            Tensor::new(&[-13.0f64, -15.5, -8.0], &d)?,
        ))
    }

    #[test]
    fn matches_closed_form_with_kl_reference_point() -> Result<()> {
        let cfg = KtoConfig {
            beta: 0.5,
            desirable_weight: 1.3,
            undesirable_weight: 0.7,
        };
        let out = kto(&unpaired()?, &cfg)?;
        let z0: f64 = (1.0 + 0.5 + 0.0) / 3.0;
        assert!((out.reference_point - z0).abs() < TOL);
        let rho = [1.0, -2.0, 0.5, 1.0];
        let lab = [true, false, true, false];
        let want: Vec<f64> = rho
            .iter()
            .zip(lab)
            .map(|(r, d)| {
                if d {
                    1.3 * (1.0 - sig(0.5 * (r - z0)))
                } else {
                    0.7 * (1.0 - sig(0.5 * (z0 - r)))
                }
            })
            .collect();
        assert_close(&out.loss, &want, TOL)
    }

    #[test]
    fn negative_kl_estimate_is_clamped_to_zero() -> Result<()> {
        let d = Device::Cpu;
        let x = unpaired()?.with_kl(Tensor::new(&[-20.0f64], &d)?, Tensor::new(&[-10.0f64], &d)?);
        assert_eq!(kto(&x, &KtoConfig::default())?.reference_point, 0.0);
        Ok(())
    }

    #[test]
    fn kto_without_kl_inputs_is_an_error() -> Result<()> {
        let mut x = unpaired()?;
        x.kl_policy = None;
        x.kl_reference = None;
        assert!(kto(&x, &KtoConfig::default()).is_err());
        assert!(apo_zero_unpaired(&x, &ApoZeroUnpairedConfig::default()).is_ok());
        Ok(())
    }
}
