//! NCA, the pairwise form (Chen et al. 2024, "Noise Contrastive Alignment of Language Models
//! with Explicit Rewards", arXiv:2402.05369): optimises each response's absolute likelihood
//! rather than only the margin.
//!
//! With r_w = β·[log π_θ(y_w) − log π_ref(y_w)] and r_l likewise:
//!
//! ℓ = −log σ(r_w) − ½·log σ(−r_w) − ½·log σ(−r_l)
//!
//! TRL: `DPOTrainer` `loss_type="nca_pair"`.

use serde::{Deserialize, Serialize};

use super::ops::{check_param, log_sigmoid};
use super::{LossOutput, PairLogps, PairwiseLoss, scaled_rewards};
use crate::error::Result;

/// Configuration of the NCA pairwise loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NcaPairConfig {
    /// β, the inverse temperature of the rewards; default 0.1 (TRL).
    pub beta: f64,
}

impl Default for NcaPairConfig {
    fn default() -> Self {
        Self { beta: 0.1 }
    }
}

impl NcaPairConfig {
    /// Checks β > 0.
    pub fn validate(&self) -> Result<()> {
        check_param("nca_pair.beta", self.beta, self.beta > 0.0, "β > 0")
    }
}

/// The NCA pairwise loss.
///
/// # Shapes
/// - `x`: `[batch]` tensors, with the reference log-probs → `[batch]`.
pub fn nca_pair(x: &PairLogps, cfg: &NcaPairConfig) -> Result<LossOutput> {
    let (c, r) = x.logratios("nca_pair")?;
    let (rw, rl) = scaled_rewards(cfg.beta, &c, &r)?;
    let zw = (&c * cfg.beta)?;
    let zl = (&r * cfg.beta)?;
    let loss = ((log_sigmoid(&zw)?.neg()? - (log_sigmoid(&zw.neg()?)? * 0.5)?)?
        - (log_sigmoid(&zl.neg()?)? * 0.5)?)?;
    Ok(LossOutput {
        loss,
        chosen_rewards: rw,
        rejected_rewards: rl,
    })
}

impl PairwiseLoss for NcaPairConfig {
    fn pair_loss(&self, x: &PairLogps) -> Result<LossOutput> {
        nca_pair(x, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::*;

    #[test]
    fn matches_closed_form() -> Result<()> {
        let out = nca_pair(&batch()?, &NcaPairConfig { beta: 2.0 })?;
        let want: Vec<f64> = rows()
            .iter()
            .map(|[pc, pr, rc, rr, _, _]| {
                let (w, l) = (2.0 * (pc - rc), 2.0 * (pr - rr));
                -log_sig(w) - 0.5 * log_sig(-w) - 0.5 * log_sig(-l)
            })
            .collect();
        assert_close(&out.loss, &want, TOL)
    }
}
