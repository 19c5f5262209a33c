//! EXO, the pairwise form (Ji et al. 2024, "Towards Efficient Exact Optimization of Language
//! Model Alignment", arXiv:2402.00856, Eq. 16): the reverse KL from the policy's pairwise
//! distribution to the ε-smoothed label.
//!
//! With z = β·h, h = [log π_θ(y_w) − log π_ref(y_w)] − [log π_θ(y_l) − log π_ref(y_l)]:
//!
//! ℓ = σ(z)·(log σ(z) − log(1 − ε)) + σ(−z)·(log σ(−z) − log ε)
//!
//! TRL: `DPOTrainer` `loss_type="exo_pair"` with ε = `label_smoothing` (TRL raises for ε = 0).

use serde::{Deserialize, Serialize};

use super::ops::{check_param, log_sigmoid};
use super::{LossOutput, PairLogps, PairwiseLoss, scaled_rewards};
use crate::error::Result;

/// Configuration of the EXO pairwise loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExoPairConfig {
    /// β, the inverse temperature (β_π in the paper); default 0.1 (TRL).
    pub beta: f64,
    /// ε, the label smoothing of the target distribution; default 1e-3 (the paper's value;
    /// TRL's shared `label_smoothing` defaults to 0, which it rejects for EXO). In (0, 1).
    #[serde(alias = "label_smoothing")]
    pub epsilon: f64,
}

impl Default for ExoPairConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            epsilon: 1e-3,
        }
    }
}

impl ExoPairConfig {
    /// Checks β > 0 and 0 < ε < 1.
    pub fn validate(&self) -> Result<()> {
        check_param("exo_pair.beta", self.beta, self.beta > 0.0, "β > 0")?;
        let e = self.epsilon;
        check_param("exo_pair.epsilon", e, e > 0.0 && e < 1.0, "ε in (0, 1)")
    }
}

/// The EXO pairwise loss.
///
/// # Shapes
/// - `x`: `[batch]` tensors, with the reference log-probs → `[batch]`.
pub fn exo_pair(x: &PairLogps, cfg: &ExoPairConfig) -> Result<LossOutput> {
    let (c, r) = x.logratios("exo_pair")?;
    let z = ((&c - &r)? * cfg.beta)?;
    let log_qw = log_sigmoid(&z)?;
    let log_ql = log_sigmoid(&z.neg()?)?;
    let log_pw = (-cfg.epsilon).ln_1p();
    let log_pl = cfg.epsilon.ln();
    let loss = ((log_qw.exp()? * (&log_qw - log_pw)?)? + (log_ql.exp()? * (&log_ql - log_pl)?)?)?;
    let (chosen_rewards, rejected_rewards) = scaled_rewards(cfg.beta, &c, &r)?;
    Ok(LossOutput {
        loss,
        chosen_rewards,
        rejected_rewards,
    })
}

impl PairwiseLoss for ExoPairConfig {
    fn pair_loss(&self, x: &PairLogps) -> Result<LossOutput> {
        exo_pair(x, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::*;

    #[test]
    fn is_the_kl_divergence_to_the_smoothed_label() -> Result<()> {
        let cfg = ExoPairConfig {
            beta: 0.3,
            epsilon: 0.05,
        };
        let out = exo_pair(&batch()?, &cfg)?;
        let want: Vec<f64> = rows()
            .iter()
            .map(|[pc, pr, rc, rr, _, _]| {
                let z = 0.3 * ((pc - rc) - (pr - rr));
                let (q, p) = (sig(z), 0.95);
                // KL(q || p) for Bernoulli distributions.
                q * (q / p).ln() + (1.0 - q) * ((1.0 - q) / (1.0 - p)).ln()
            })
            .collect();
        assert_close(&out.loss, &want, 1e-10)?;
        for v in out.loss.to_vec1::<f64>()? {
            assert!(v >= 0.0, "a KL divergence is non-negative");
        }
        Ok(())
    }
}
