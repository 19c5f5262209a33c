//! The SFT term of RPO (Pang et al. 2024, "Iterative Reasoning Preference Optimization",
//! arXiv:2404.19733) and MPO: the NLL of the chosen completions, averaged over all their
//! tokens in the batch.
//!
//! ℓ_i = −Σ_b log π_θ(y_w,b) / Σ_b |y_w,b|   (the same value for every i)
//!
//! TRL (`DPOTrainer` `loss_type="sft"`) computes it from the logits as the cross-entropy of
//! the chosen completion tokens; since `policy_chosen` is the sum of exactly those tokens'
//! log-probs, the value is identical and no logits are needed. Batch-coupled
//! ([`BatchPairLoss`]): the batch mean of the output is the token mean, which differs from a
//! mean of per-micro-batch token means.

use serde::{Deserialize, Serialize};

use super::ops::as_dtype;
use super::{BatchPairLoss, LossOutput, PairLogps};
use crate::error::Result;

/// Configuration of the SFT term (no parameters; weight it in a [`Mixture`](super::Mixture)).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SftConfig {}

impl SftConfig {
    /// Nothing to check.
    pub fn validate(&self) -> Result<()> {
        Ok(())
    }
}

/// The SFT term, broadcast to `[batch]`. Rewards are the policy log-probs (detached); this
/// term has no implicit reward of its own.
///
/// # Shapes
/// - `x`: `[batch]` tensors → `[batch]`.
pub fn sft(x: &PairLogps, _cfg: &SftConfig) -> Result<LossOutput> {
    let n = x.batch_size();
    let tokens = as_dtype(&x.chosen_len, x.dtype())?
        .sum_all()?
        .maximum(1.0)?;
    let nll = (x.policy_chosen.sum_all()?.neg()? / tokens)?;
    Ok(LossOutput {
        loss: nll.broadcast_as(n)?,
        chosen_rewards: x.policy_chosen.detach(),
        rejected_rewards: x.policy_rejected.detach(),
    })
}

impl BatchPairLoss for SftConfig {
    fn batch_loss(&self, x: &PairLogps) -> Result<LossOutput> {
        sft(x, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::*;

    #[test]
    fn is_the_token_mean_nll_of_the_chosen() -> Result<()> {
        let out = sft(&batch()?, &SftConfig {})?;
        let num: f64 = rows().iter().map(|r| -r[0]).sum();
        let den: f64 = rows().iter().map(|r| r[4]).sum();
        assert_close(&out.loss, &[num / den; 4], TOL)
    }
}
