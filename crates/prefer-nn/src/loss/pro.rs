//! PRO, Preference Ranking Optimization (Song et al. 2023, arXiv:2306.17492; seed paper 64):
//! Plackett–Luce over a ranked list of K responses, on length-normalised log-probs, plus an
//! SFT term on the best response.
//!
//! With s_k = log π_θ(y_k | x)/|y_k| (y_1 ≻ y_2 ≻ … ≻ y_K):
//!
//! ℓ = Σ_{k=1}^{K−1} −log [ exp(s_k·T_k^k) / Σ_{i=k}^{K} exp(s_i·T_k^i) ] + β·(K−1)²·(−log π_θ(y_1))
//!
//! Temperatures ([`ProTemperature`]):
//! - `reward_gap` (the paper's dynamic temperature): T_k^i = r(y_k) − r(y_i) for i > k, and
//!   T_k^k = max_{i>k} T_k^i, from an external reward model's scores r (descending);
//! - `constant`: T = 1/τ for every term (plain Plackett–Luce at temperature τ).
//!
//! The SFT term uses the summed log-prob of the best response and is scaled by (K−1)² as in
//! the authors' code (`sft_weight * (K-1)**2`). Their code adds 1e-10 inside the log; we use
//! an exact log-sum-exp. TRL has no PRO; the fixture script holds an independent PyTorch
//! reference written from the paper and the authors' code.

use candle_core::{D, DType, Tensor};
use serde::{Deserialize, Serialize};

use super::ops::{as_dtype, check_param, log_sum_exp_last};
use super::{ListLossOutput, RankedLogps};
use crate::error::{Error, Result};

/// How PRO scales the scores inside each Plackett–Luce stage.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProTemperature {
    /// The paper's dynamic temperature from reward gaps (needs [`RankedLogps::rewards`]).
    #[default]
    RewardGap,
    /// One temperature τ for all terms (scores divided by τ); for rankings without scores.
    Constant {
        /// τ > 0.
        tau: f64,
    },
}

/// Configuration of the PRO loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProConfig {
    /// β, the SFT weight before the (K−1)² factor; default 0.05 (the authors' scripts).
    pub sft_weight: f64,
    /// The temperature scheme; default the paper's `reward_gap`.
    pub temperature: ProTemperature,
}

impl Default for ProConfig {
    fn default() -> Self {
        Self {
            sft_weight: 0.05,
            temperature: ProTemperature::RewardGap,
        }
    }
}

impl ProConfig {
    /// Checks β ≥ 0 and τ > 0.
    pub fn validate(&self) -> Result<()> {
        check_param(
            "pro.sft_weight",
            self.sft_weight,
            self.sft_weight >= 0.0,
            "β >= 0",
        )?;
        if let ProTemperature::Constant { tau } = self.temperature {
            check_param("pro.temperature.tau", tau, tau > 0.0, "τ > 0")?;
        }
        Ok(())
    }
}

/// The PRO loss.
///
/// # Shapes
/// - `x.policy`, `x.len` (and `x.rewards`): `[batch, K]` → `loss` `[batch]`, `scores`
///   `[batch, K]`.
pub fn pro(x: &RankedLogps, cfg: &ProConfig) -> Result<ListLossOutput> {
    let (_, k) = x.validate()?;
    let dtype = x.policy.dtype();
    let len = as_dtype(&x.len, dtype)?.maximum(1.0)?;
    let s = (&x.policy / len)?;
    let rewards = match cfg.temperature {
        ProTemperature::RewardGap => {
            let r = x.rewards.as_ref().ok_or_else(|| {
                Error::Invalid(
                    "the pro loss with reward_gap temperature needs RankedLogps::rewards".into(),
                )
            })?;
            let r = as_dtype(r, dtype)?.detach();
            check_descending(&r)?;
            Some(r)
        }
        ProTemperature::Constant { .. } => None,
    };
    let mut total: Option<Tensor> = None;
    for stage in 0..k - 1 {
        let tail = s.narrow(1, stage, k - stage)?;
        let z = match (&rewards, cfg.temperature) {
            (Some(r), _) => {
                let head = r.narrow(1, stage, 1)?;
                let gaps = head.broadcast_sub(&r.narrow(1, stage + 1, k - stage - 1)?)?;
                let top = gaps.max_keepdim(D::Minus1)?;
                let t = Tensor::cat(&[&top, &gaps], 1)?;
                (tail * t)?
            }
            (None, ProTemperature::Constant { tau }) => (tail / tau)?,
            (None, ProTemperature::RewardGap) => {
                return Err(Error::Invalid("pro: rewards missing".into()));
            }
        };
        let first = z.narrow(1, 0, 1)?.squeeze(1)?;
        let term = (log_sum_exp_last(&z)? - first)?;
        total = Some(match total {
            None => term,
            Some(t) => (t + term)?,
        });
    }
    let rank_loss = total.ok_or_else(|| Error::Invalid("pro: K must be >= 2".into()))?;
    let scale = cfg.sft_weight * ((k - 1) as f64).powi(2);
    let sft = (x.policy.narrow(1, 0, 1)?.squeeze(1)? * -scale)?;
    Ok(ListLossOutput {
        loss: (rank_loss + sft)?,
        scores: s.detach(),
    })
}

/// Rewards must be non-increasing along each row (the list is ranked best first).
fn check_descending(r: &Tensor) -> Result<()> {
    let v = r.to_dtype(DType::F64)?.to_vec2::<f64>()?;
    for (b, row) in v.iter().enumerate() {
        if let Some(j) = (1..row.len()).find(|&j| row[j] > row[j - 1]) {
            return Err(Error::Invalid(format!(
                "rewards[{b}]: not ranked best first (column {j} = {} > column {} = {})",
                row[j],
                j - 1,
                row[j - 1]
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::TOL;
    use candle_core::Device;

    fn ranked(rewards: bool) -> Result<RankedLogps> {
        let d = Device::Cpu;
        Ok(RankedLogps {
            policy: Tensor::new(&[[-4.0f64, -9.0, -6.0], [-10.0, -3.0, -20.0]], &d)?,
            len: Tensor::new(&[[4.0f64, 3.0, 2.0], [5.0, 3.0, 10.0]], &d)?,
            rewards: if rewards {
                Some(Tensor::new(&[[2.0f64, 1.0, -1.0], [0.5, 0.0, -0.25]], &d)?)
            } else {
                None
            },
        })
    }

    #[test]
    fn constant_temperature_two_items_is_bradley_terry() -> Result<()> {
        // K = 2: −log σ(s_1/τ − s_2/τ) plus β·(K−1)²·(−log π(y_1)).
        let d = Device::Cpu;
        let x = RankedLogps {
            policy: Tensor::new(&[[-2.0f64, -6.0]], &d)?,
            len: Tensor::new(&[[2.0f64, 3.0]], &d)?,
            rewards: None,
        };
        let cfg = ProConfig {
            sft_weight: 0.1,
            temperature: ProTemperature::Constant { tau: 0.5 },
        };
        let got = pro(&x, &cfg)?.loss.to_vec1::<f64>()?[0];
        let h: f64 = (-1.0 - -2.0) / 0.5;
        let want = (1.0 + (-h).exp()).ln() + 0.1 * 2.0;
        assert!((got - want).abs() < TOL, "{got} vs {want}");
        Ok(())
    }

    #[test]
    fn reward_gap_matches_the_paper_formula() -> Result<()> {
        let x = ranked(true)?;
        let cfg = ProConfig::default();
        let got = pro(&x, &cfg)?.loss.to_vec1::<f64>()?;
        let p = [[-4.0, -9.0, -6.0], [-10.0, -3.0, -20.0]];
        let l = [[4.0, 3.0, 2.0], [5.0, 3.0, 10.0]];
        let r = [[2.0, 1.0, -1.0], [0.5, 0.0, -0.25]];
        for b in 0..2 {
            let s: Vec<f64> = (0..3).map(|i| p[b][i] / l[b][i]).collect();
            let mut want = 0.0;
            for k in 0..2 {
                let gaps: Vec<f64> = (k + 1..3).map(|i| r[b][k] - r[b][i]).collect();
                let top = gaps.iter().copied().fold(f64::MIN, f64::max);
                let mut z = vec![s[k] * top];
                z.extend((k + 1..3).map(|i| s[i] * gaps[i - k - 1]));
                let lse = z.iter().map(|v| v.exp()).sum::<f64>().ln();
                want += lse - z[0];
            }
            want += 0.05 * 4.0 * -p[b][0];
            assert!(
                (got[b] - want).abs() < 1e-11,
                "row {b}: {} vs {want}",
                got[b]
            );
        }
        Ok(())
    }

    #[test]
    fn misordered_rewards_and_missing_rewards_are_errors() -> Result<()> {
        let mut x = ranked(true)?;
        x.rewards = Some(Tensor::new(
            &[[1.0f64, 2.0, 0.0], [0.0, 0.0, 0.0]],
            &Device::Cpu,
        )?);
        let e = pro(&x, &ProConfig::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("rewards[0]"), "{e}");
        assert!(pro(&ranked(false)?, &ProConfig::default()).is_err());
        Ok(())
    }
}
