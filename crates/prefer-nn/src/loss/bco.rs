//! BCO, Binary Classifier Optimization on unpaired data (Jung et al. 2024, arXiv:2404.04656,
//! Eq. 8 with the reward shift δ of §4.2): a logistic classifier on the implicit reward,
//! shifted by the running mean δ of all rewards seen so far.
//!
//! With r = β·(log π_θ(y) − log π_ref(y)):
//!
//! - desirable:   ℓ = −log σ(r − δ)
//! - undesirable: ℓ = −log σ(−(r − δ))
//!
//! δ is [`RunningMoments::mean`], updated with the batch's rewards **before** the loss in a
//! training step (TRL's `do_train=True`) and read unchanged in evaluation. The state is the
//! trainer's to keep and checkpoint (TRL writes it to `running.json`).
//!
//! TRL: `experimental.bco.BCOTrainer` without `match_underlying_distribution` (the UDM
//! density-ratio classifier on prompt embeddings is not implemented here).

use candle_core::DType;
use serde::{Deserialize, Serialize};

use super::ops::{check_param, log_sigmoid};
use super::{UnpairedLogps, UnpairedLossOutput};
use crate::error::Result;

/// Configuration of the BCO loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BcoConfig {
    /// β, the inverse temperature of the rewards; default 0.1 (TRL).
    pub beta: f64,
}

impl Default for BcoConfig {
    fn default() -> Self {
        Self { beta: 0.1 }
    }
}

impl BcoConfig {
    /// Checks β > 0.
    pub fn validate(&self) -> Result<()> {
        check_param("bco.beta", self.beta, self.beta > 0.0, "β > 0")
    }
}

/// Running mean and variance of a stream of rewards (Chan et al.'s parallel update), the
/// state of BCO's δ. Starts, as TRL's `RunningMoments`, at mean 0, variance 1, count 1e-24.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunningMoments {
    /// Running mean (δ).
    pub mean: f64,
    /// Running population variance.
    pub var: f64,
    /// Number of values folded in (plus the 1e-24 start).
    pub count: f64,
}

impl Default for RunningMoments {
    fn default() -> Self {
        Self {
            mean: 0.0,
            var: 1.0,
            count: 1e-24,
        }
    }
}

impl RunningMoments {
    /// Folds a batch of values in; an empty batch changes nothing.
    pub fn update(&mut self, xs: &[f64]) {
        if xs.is_empty() {
            return;
        }
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        let delta = mean - self.mean;
        let total = self.count + n;
        let old_sum = self.var * self.count + delta * delta * self.count * n / total;
        self.mean += delta * n / total;
        self.var = (old_sum + var * n) / total;
        self.count = total;
    }
}

/// The BCO loss; `update` folds the batch's rewards into `running` first (training).
///
/// # Shapes
/// - `x`: `policy`, `reference` `[n]` → `[n]`.
pub fn bco(
    x: &UnpairedLogps,
    cfg: &BcoConfig,
    running: &mut RunningMoments,
    update: bool,
) -> Result<UnpairedLossOutput> {
    let r = ((&x.policy - &x.reference)? * cfg.beta)?;
    if update {
        running.update(&r.to_dtype(DType::F64)?.to_vec1::<f64>()?);
    }
    let delta = running.mean;
    let shifted = (&r - delta)?;
    let des = log_sigmoid(&shifted)?.neg()?;
    let und = log_sigmoid(&shifted.neg()?)?.neg()?;
    let loss = x.desirable_mask()?.where_cond(&des, &und)?;
    Ok(UnpairedLossOutput {
        loss,
        rewards: r.detach(),
        reference_point: delta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn running_moments_match_the_whole_stream() {
        // Folding batches in one by one gives the mean and population variance of the
        // concatenated stream (up to the 1e-24 start count).
        let a = [1.0, 2.0, 4.0];
        let b = [-3.0, 0.5];
        let mut m = RunningMoments::default();
        m.update(&a);
        m.update(&b);
        let all: Vec<f64> = a.iter().chain(&b).copied().collect();
        let mean = all.iter().sum::<f64>() / 5.0;
        let var = all.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 5.0;
        assert!((m.mean - mean).abs() < TOL);
        assert!((m.var - var).abs() < 1e-10);
    }

    #[test]
    fn matches_closed_form_after_update() -> Result<()> {
        let d = Device::Cpu;
        let x = UnpairedLogps::new(
            Tensor::new(&[-10.0f64, -20.0, -5.0], &d)?,
            Tensor::new(&[-11.0f64, -18.0, -5.5], &d)?,
            vec![true, false, false],
        );
        let mut m = RunningMoments {
            mean: 0.3,
            var: 1.0,
            count: 3.0,
        };
        let out = bco(&x, &BcoConfig { beta: 0.5 }, &mut m, true)?;
        let r = [0.5, -1.0, 0.25];
        let delta = (0.3 * 3.0 + r.iter().sum::<f64>()) / 6.0;
        assert!((out.reference_point - delta).abs() < TOL);
        let want = [
            -log_sig(r[0] - delta),
            -log_sig(-(r[1] - delta)),
            -log_sig(-(r[2] - delta)),
        ];
        assert_close(&out.loss, &want, TOL)?;
        // Evaluation reads δ without moving it.
        let before = m;
        bco(&x, &BcoConfig { beta: 0.5 }, &mut m, false)?;
        assert_eq!(m, before);
        Ok(())
    }
}
