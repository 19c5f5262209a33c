//! Implicit DPO reward vs an explicit reward model, in and out of distribution (paper 30:
//! Lin et al. 2024, "On the Limited Generalization Capability of the Implicit Reward Model
//! Induced by Direct Preference Optimization", arXiv:2409.03650).
//!
//! A DPO policy defines a reward r̂(x, y) = β log π_θ(y | x)/π_ref(y | x) (the "DPORM");
//! an explicit reward model ("EXRM") is trained on the same pairs. Both are scored by
//! pairwise accuracy on an in-distribution test set and on out-of-distribution ones; the
//! paper finds the implicit reward loses more accuracy out of distribution. The report
//! gives each model's accuracy per set and the drop from the in-distribution set.

use serde::{Deserialize, Serialize};

use crate::pairwise::{ScoredPair, Ties, accuracy};
use crate::ranking::PairLogps;
use crate::{Error, Result};

/// β[(log π_θ(y_w) − log π_ref(y_w)) − (log π_θ(y_l) − log π_ref(y_l))] per pair: the
/// implicit reward margin (TRL's `rewards/margins`).
pub fn implicit_logits(pairs: &[PairLogps], beta: f64) -> Result<Vec<f64>> {
    if !(beta > 0.0 && beta.is_finite()) {
        return Err(Error::Config(format!("beta {beta} must be positive")));
    }
    Ok(pairs
        .iter()
        .map(|p| beta * ((p.policy_chosen - p.ref_chosen) - (p.policy_rejected - p.ref_rejected)))
        .collect())
}

/// One test set's logits from both models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetLogits {
    /// Name ("in-distribution", "hh-rlhf", ...).
    pub name: String,
    /// Implicit reward margins.
    pub implicit: Vec<f64>,
    /// Explicit reward-model logits, same pairs.
    pub explicit: Vec<f64>,
}

/// Accuracy of both models on one set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetAccuracy {
    /// Set name.
    pub name: String,
    /// Pairs.
    pub n: usize,
    /// Implicit (DPO) reward accuracy.
    pub implicit: f64,
    /// Explicit RM accuracy.
    pub explicit: f64,
    /// In-distribution accuracy − this set's, implicit (0 for the first set).
    pub implicit_drop: f64,
    /// Same for the explicit RM.
    pub explicit_drop: f64,
}

/// Accuracy per set; the first set is the in-distribution reference for the drops.
pub fn generalization(sets: &[SetLogits]) -> Result<Vec<SetAccuracy>> {
    let acc = |z: &[f64]| -> Result<f64> {
        let sp: Vec<ScoredPair> = z.iter().map(|&l| ScoredPair::new(l)).collect();
        accuracy(&sp, Ties::Half)
    };
    let mut out: Vec<SetAccuracy> = Vec::new();
    for s in sets {
        if s.implicit.len() != s.explicit.len() {
            return Err(Error::Invalid(format!(
                "set `{}`: {} implicit and {} explicit logits",
                s.name,
                s.implicit.len(),
                s.explicit.len()
            )));
        }
        let (i, e) = (acc(&s.implicit)?, acc(&s.explicit)?);
        let (i0, e0) = out.first().map_or((i, e), |f| (f.implicit, f.explicit));
        out.push(SetAccuracy {
            name: s.name.clone(),
            n: s.implicit.len(),
            implicit: i,
            explicit: e,
            implicit_drop: i0 - i,
            explicit_drop: e0 - e,
        });
    }
    if out.is_empty() {
        return Err(Error::Invalid("no test sets".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margins_and_drops() -> Result<()> {
        let lp = PairLogps {
            policy_chosen: -10.0,
            policy_rejected: -14.0,
            ref_chosen: -11.0,
            ref_rejected: -12.0,
            chosen_len: 3,
            rejected_len: 3,
            strength: None,
        };
        // 0.1 · ((−10 + 11) − (−14 + 12)) = 0.3
        assert!((implicit_logits(&[lp], 0.1)?[0] - 0.3).abs() < 1e-12);
        let r = generalization(&[
            SetLogits {
                name: "id".into(),
                implicit: vec![1.0, 1.0, 1.0, -1.0],
                explicit: vec![1.0, 1.0, -1.0, -1.0],
            },
            SetLogits {
                name: "ood".into(),
                implicit: vec![1.0, -1.0, -1.0, -1.0],
                explicit: vec![1.0, 1.0, -1.0, 0.0],
            },
        ])?;
        assert_eq!((r[0].implicit, r[0].explicit), (0.75, 0.5));
        assert_eq!((r[1].implicit, r[1].explicit), (0.25, 0.625));
        assert_eq!((r[1].implicit_drop, r[1].explicit_drop), (0.5, -0.125));
        assert!(implicit_logits(&[lp], 0.0).is_err());
        Ok(())
    }
}
