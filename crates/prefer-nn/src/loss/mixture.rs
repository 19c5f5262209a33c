//! Weighted sums of pair losses: MPO, Mixed Preference Optimization (Wang et al. 2024,
//! arXiv:2411.10442), e.g. 0.8·sigmoid + 0.2·bco_pair + 1.0·sft.
//!
//! ℓ_i = Σ_k w_k·ℓ_k,i
//!
//! TRL: `DPOConfig(loss_type=[...], loss_weights=[...])`. The batch mean of the output equals
//! TRL's Σ_k w_k·mean(ℓ_k). Rewards are those of the first term (TRL logs β·log-ratio once).

use serde::{Deserialize, Serialize};

use super::ops::check_param;
use super::{LossOutput, PairLogps, PairLoss};
use crate::error::{Error, Result};

/// A weighted sum of pair losses, serialised as a list of `[loss, weight]` pairs.
///
/// ```
/// # use prefer_nn::loss::*;
/// let mpo: Mixture = serde_json::from_str(
///     r#"[[{"type": "sigmoid"}, 0.8], [{"type": "bco_pair"}, 0.2], [{"type": "sft"}, 1.0]]"#,
/// )?;
/// mpo.validate()?;
/// assert!(mpo.is_batch_coupled()); // sft averages over the whole batch
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Mixture {
    /// (loss, weight) terms; the first term's rewards are reported.
    pub terms: Vec<(PairLoss, f64)>,
}

impl From<PairLoss> for Mixture {
    fn from(loss: PairLoss) -> Self {
        Self {
            terms: vec![(loss, 1.0)],
        }
    }
}

impl Mixture {
    /// A mixture of the given terms.
    pub fn new(terms: Vec<(PairLoss, f64)>) -> Self {
        Self { terms }
    }

    /// Checks that there is at least one term, every term is valid and every weight finite.
    pub fn validate(&self) -> Result<()> {
        if self.terms.is_empty() {
            return Err(Error::Config("mixture: no loss terms".into()));
        }
        for (i, (loss, w)) in self.terms.iter().enumerate() {
            loss.validate()?;
            check_param(
                &format!("mixture[{i}] ({}) weight", loss.name()),
                *w,
                true,
                "a finite weight",
            )?;
        }
        Ok(())
    }

    /// True when any term is batch-coupled.
    pub fn is_batch_coupled(&self) -> bool {
        self.terms.iter().any(|(l, _)| l.is_batch_coupled())
    }

    /// Σ_k w_k·ℓ_k per example, and the first term's rewards.
    ///
    /// # Shapes
    /// - every input `[batch]` → every output `[batch]`.
    pub fn forward(&self, x: &PairLogps) -> Result<LossOutput> {
        let mut out: Option<LossOutput> = None;
        for (loss, w) in &self.terms {
            let o = loss.forward(x)?;
            let term = (&o.loss * *w)?;
            out = Some(match out {
                None => LossOutput { loss: term, ..o },
                Some(acc) => LossOutput {
                    loss: (acc.loss + term)?,
                    ..acc
                },
            });
        }
        out.ok_or_else(|| Error::Config("mixture: no loss terms".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::*;
    use crate::loss::{BcoPairConfig, SftConfig, SigmoidConfig};

    #[test]
    fn is_the_weighted_sum_of_its_terms() -> Result<()> {
        let x = batch()?;
        let s = PairLoss::Sigmoid(SigmoidConfig::default());
        let b = PairLoss::BcoPair(BcoPairConfig::default());
        let f = PairLoss::Sft(SftConfig {});
        let m = Mixture::new(vec![(s.clone(), 0.8), (b.clone(), 0.2), (f.clone(), 1.0)]);
        m.validate()?;
        let got = m.forward(&x)?;
        let want = ((s.forward(&x)?.loss * 0.8)? + (b.forward(&x)?.loss * 0.2)?)?;
        let want = (want + f.forward(&x)?.loss)?.to_vec1::<f64>()?;
        assert_close(&got.loss, &want, TOL)?;
        assert_close(
            &got.chosen_rewards,
            &s.forward(&x)?.chosen_rewards.to_vec1::<f64>()?,
            TOL,
        )
    }

    #[test]
    fn empty_mixture_is_rejected() {
        assert!(Mixture::new(vec![]).validate().is_err());
    }
}
