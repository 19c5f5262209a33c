//! Reward transformation and combination (paper 24: Wang et al. 2024, "Transforming and
//! Combining Rewards for Aligning Large Language Models", arXiv:2402.00742).
//!
//! A Bradley–Terry reward is defined up to a per-prompt shift; the paper fixes it with a
//! reference reward r_ref(x) (e.g. the reward of a reference model's response to x, or a
//! quantile of several) and transforms
//!
//! u(x, y) = log σ(r(x, y) − r_ref(x))
//!
//! the log-probability that y beats the reference under the BT model. u is concave and
//! increasing: improving an already-good response earns little (no reward hacking of one
//! objective), improving a bad one earns a lot. Summing transformed rewards of several
//! objectives,
//!
//! U(x, y) = Σ_i log σ(r_i(x, y) − r_ref,i(x)) = log Π_i P(y good on i)
//!
//! is the log-probability that y is good on **all** of them (a logical AND, assuming
//! independence), whereas the plain sum Σ_i r_i lets one excellent objective buy off a
//! failed one.
//!
//! | item | default | symbol |
//! |---|---|---|
//! | [`Reference::Quantile`] | q = 0.5 of the reference samples' rewards | r_ref(x) |

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Where r_ref(x) comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reference {
    /// A constant reference for every prompt.
    Constant {
        /// The value.
        value: f64,
    },
    /// Per prompt, the q-quantile of the rewards of reference responses (e.g. samples of
    /// the SFT model); q = 0.5 is the median.
    Quantile {
        /// q in [0, 1].
        q: f64,
    },
}

impl Default for Reference {
    fn default() -> Self {
        Reference::Quantile { q: 0.5 }
    }
}

impl Reference {
    /// Checks q.
    pub fn validate(&self) -> Result<()> {
        match self {
            Reference::Constant { value } if !value.is_finite() => {
                Err(Error::Config("reference value must be finite".into()))
            }
            Reference::Quantile { q } if !(0.0..=1.0).contains(q) => {
                Err(Error::Config(format!("quantile {q} must be in [0, 1]")))
            }
            _ => Ok(()),
        }
    }

    /// r_ref(x) from the rewards of the reference responses to x (ignored for a constant;
    /// linear interpolation between order statistics, as numpy's default).
    pub fn value(&self, reference_rewards: &[f64]) -> Result<f64> {
        self.validate()?;
        match self {
            Reference::Constant { value } => Ok(*value),
            Reference::Quantile { q } => {
                if reference_rewards.is_empty() {
                    return Err(Error::Invalid(
                        "a quantile reference needs at least one reference reward".into(),
                    ));
                }
                let mut v = reference_rewards.to_vec();
                v.sort_by(f64::total_cmp);
                let pos = q * (v.len() - 1) as f64;
                let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
                Ok(v[lo] + (v[hi] - v[lo]) * (pos - lo as f64))
            }
        }
    }
}

/// log σ(z) without overflow.
fn log_sigmoid(z: f64) -> f64 {
    z.min(0.0) - (-z.abs()).exp().ln_1p()
}

/// u = log σ(r − r_ref) per item.
pub fn log_sigmoid_transform(r: &[f64], r_ref: &[f64]) -> Result<Vec<f64>> {
    if r.len() != r_ref.len() {
        return Err(Error::Invalid(format!(
            "{} rewards and {} reference rewards",
            r.len(),
            r_ref.len()
        )));
    }
    Ok(r.iter()
        .zip(r_ref)
        .map(|(a, b)| log_sigmoid(a - b))
        .collect())
}

/// U = Σ_i log σ(r_i − r_ref,i): `rewards[i][j]` is objective i of item j.
pub fn combine_and(rewards: &[Vec<f64>], refs: &[Vec<f64>]) -> Result<Vec<f64>> {
    if rewards.len() != refs.len() || rewards.is_empty() {
        return Err(Error::Invalid(format!(
            "{} objectives of rewards and {} of references (need the same, at least one)",
            rewards.len(),
            refs.len()
        )));
    }
    let n = rewards[0].len();
    let mut out = vec![0f64; n];
    for (r, rr) in rewards.iter().zip(refs) {
        if r.len() != n {
            return Err(Error::Invalid(
                "objectives have different item counts".into(),
            ));
        }
        for (o, u) in out.iter_mut().zip(log_sigmoid_transform(r, rr)?) {
            *o += u;
        }
    }
    Ok(out)
}

/// The plain sum Σ_i r_i (the baseline the paper compares with).
pub fn combine_sum(rewards: &[Vec<f64>]) -> Vec<f64> {
    let n = rewards.first().map_or(0, Vec::len);
    (0..n).map(|j| rewards.iter().map(|r| r[j]).sum()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transform_is_the_log_probability_of_beating_the_reference() -> Result<()> {
        let u = log_sigmoid_transform(&[2.0, -1.0, 40.0, -40.0], &[0.5, 0.5, 0.0, 0.0])?;
        let want = [1.5f64, -1.5, 40.0, -40.0].map(|z| (1.0 / (1.0 + (-z).exp())).ln());
        for (a, b) in u.iter().zip(want) {
            assert!((a - b).abs() < 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
        }
        // Concave and increasing: equal reward steps earn less above the reference.
        let steps = log_sigmoid_transform(&[-2.0, -1.0, 1.0, 2.0], &[0.0; 4])?;
        assert!(steps[1] - steps[0] > steps[3] - steps[2]);
        assert!(steps.windows(2).all(|w| w[1] > w[0]));
        Ok(())
    }

    #[test]
    fn the_transformed_sum_is_a_logical_and() -> Result<()> {
        // Objectives: helpfulness, harmlessness; references 0 for both.
        // A: a little better than the reference on both. B: superb help, harmful.
        let help = vec![1.0, 8.0];
        let harmless = vec![1.0, -4.0];
        let refs = vec![vec![0.0; 2], vec![0.0; 2]];
        let sum = combine_sum(&[help.clone(), harmless.clone()]);
        let and = combine_and(&[help, harmless], &refs)?;
        assert!(sum[1] > sum[0], "the plain sum prefers the harmful answer");
        assert!(and[0] > and[1], "the AND prefers the answer good on both");
        // exp(U) = P(good on help) · P(good on harmless).
        let p = |z: f64| 1.0 / (1.0 + (-z).exp());
        assert!((and[1].exp() - p(8.0) * p(-4.0)).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn quantile_reference_matches_numpy() -> Result<()> {
        // numpy.quantile([3, 1, 4, 1, 5], [0.5, 0.85]) = [3.0, 4.4]
        let r = [3.0, 1.0, 4.0, 1.0, 5.0];
        assert_eq!(Reference::Quantile { q: 0.5 }.value(&r)?, 3.0);
        assert!((Reference::Quantile { q: 0.85 }.value(&r)? - 4.4).abs() < 1e-12);
        assert!(Reference::Quantile { q: 1.5 }.value(&r).is_err());
        assert!(Reference::Quantile { q: 0.5 }.value(&[]).is_err());
        assert!(combine_and(&[vec![1.0]], &[]).is_err());
        Ok(())
    }
}
