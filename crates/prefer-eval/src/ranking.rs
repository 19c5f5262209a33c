//! Ranking accuracy of a policy and its idealized bound (paper 10: Chen et al. 2024,
//! "Preference Learning Algorithms Do Not Learn Preference Rankings", arXiv:2405.19534).
//!
//! **Ranking accuracy** asks whether the model itself assigns the preferred response a
//! higher likelihood: 1[π(y_w | x) > π(y_l | x)], on raw sequence log-probabilities or on
//! per-token means (length-normalized). It is not the implicit-reward accuracy trainers
//! log, which involves the reference model.
//!
//! **Idealized ranking accuracy.** The optimum of the RLHF / DPO objective with reference
//! π_ref and temperature β, given the true preference probability α = P(y_w ≻ y_l), is
//! π*(y) ∝ π_ref(y) exp(r*(y)/β), so
//!
//! log π*(y_w)/π*(y_l) = log π_ref(y_w)/π_ref(y_l) + (1/β) log(α / (1 − α))
//!
//! and the idealized model ranks the pair correctly iff this is positive. Only the
//! reference log-probs and α are needed. α is the pair's `strength` (the share of raters
//! preferring chosen); without one, the authors' default `simulate_proportion` 0.75 is
//! used; 1 − α is floored at ε = 1e-3 (their `eps`). Pairs with α = 0.5 have no true
//! ranking and are left out. The **alignment gap** is idealized − actual ranking accuracy.
//!
//! The authors' script (`rlhf_minimizer_client.py`, angie-chen55/pref-learning-ranking-acc
//! 2362a9b) for the non-length-normalized variant multiplies the odds by a ratio of
//! *log*-probabilities (`norm_prob1 / norm_prob2`); here the formula above is used for both
//! variants (normalized: per-token mean log-probs in place of sums).
//!
//! | field | default | symbol |
//! |---|---|---|
//! | `betas` | [0.01, 0.1, 1, 5, 10] (the paper's grid) | β |
//! | `default_strength` | 0.75 | α when a pair has none |
//! | `eps` | 1e-3 | floor of 1 − α |

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Log-probabilities of one pair under the policy and the reference.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairLogps {
    /// log π_θ(y_w | x), summed over completion tokens.
    pub policy_chosen: f64,
    /// log π_θ(y_l | x).
    pub policy_rejected: f64,
    /// log π_ref(y_w | x).
    pub ref_chosen: f64,
    /// log π_ref(y_l | x).
    pub ref_rejected: f64,
    /// Completion tokens of y_w.
    pub chosen_len: usize,
    /// Completion tokens of y_l.
    pub rejected_len: usize,
    /// α, the probability that y_w is preferred (None: `default_strength`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strength: Option<f64>,
}

/// Configuration of [`ranking_report`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RankingConfig {
    /// β values of the idealized model (default the paper's grid).
    pub betas: Vec<f64>,
    /// α for pairs without a strength (default 0.75).
    pub default_strength: f64,
    /// ε, the floor of 1 − α (default 1e-3).
    pub eps: f64,
}

impl Default for RankingConfig {
    fn default() -> Self {
        RankingConfig {
            betas: vec![0.01, 0.1, 1.0, 5.0, 10.0],
            default_strength: 0.75,
            eps: 1e-3,
        }
    }
}

impl RankingConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        if self.betas.is_empty() || self.betas.iter().any(|b| !(*b > 0.0 && b.is_finite())) {
            return Err(Error::Config("betas must be positive and not empty".into()));
        }
        if !(0.5..=1.0).contains(&self.default_strength) {
            return Err(Error::Config(format!(
                "default_strength {} must be in [0.5, 1]",
                self.default_strength
            )));
        }
        if !(self.eps > 0.0 && self.eps < 0.5) {
            return Err(Error::Config("eps must be in (0, 0.5)".into()));
        }
        Ok(())
    }
}

/// Raw and length-normalized values of one measure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RawNorm {
    /// On summed log-probabilities.
    pub raw: f64,
    /// On per-token mean log-probabilities.
    pub normalized: f64,
}

/// The idealized accuracy at one β.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Idealized {
    /// β.
    pub beta: f64,
    /// Idealized ranking accuracy.
    pub accuracy: RawNorm,
}

/// What [`ranking_report`] measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingReport {
    /// Pairs with a true ranking (α ≠ 0.5).
    pub n: usize,
    /// Ranking accuracy of the policy.
    pub policy: RawNorm,
    /// Ranking accuracy of the reference.
    pub reference: RawNorm,
    /// Idealized accuracy per β.
    pub idealized: Vec<Idealized>,
    /// The median over β of the idealized accuracy (the paper's Table 1 summary).
    pub idealized_median: RawNorm,
    /// idealized_median − policy.
    pub alignment_gap: RawNorm,
}

fn hit(d: f64) -> f64 {
    if d > 0.0 {
        1.0
    } else if d == 0.0 {
        0.5
    } else {
        0.0
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Ranking accuracy of policy and reference, idealized accuracy per β, and the gap.
///
/// # Errors
/// No pair with a true ranking, a non-finite log-prob, a zero length, or α outside [0, 1]
/// (each named by pair index).
pub fn ranking_report(pairs: &[PairLogps], cfg: &RankingConfig) -> Result<RankingReport> {
    cfg.validate()?;
    let mut kept = Vec::new();
    for (i, p) in pairs.iter().enumerate() {
        for (name, v) in [
            ("policy_chosen", p.policy_chosen),
            ("policy_rejected", p.policy_rejected),
            ("ref_chosen", p.ref_chosen),
            ("ref_rejected", p.ref_rejected),
        ] {
            if !v.is_finite() {
                return Err(Error::Data(format!("pair {i}: `{name}` is {v}")));
            }
        }
        if p.chosen_len == 0 || p.rejected_len == 0 {
            return Err(Error::Data(format!("pair {i}: a completion has 0 tokens")));
        }
        let a = p.strength.unwrap_or(cfg.default_strength);
        if !(0.0..=1.0).contains(&a) {
            return Err(Error::Data(format!(
                "pair {i}: strength {a} is not in [0, 1]"
            )));
        }
        if a == 0.5 {
            continue;
        }
        // Orient each pair so that its truly preferred response is first.
        let (q, a) = if a > 0.5 {
            (*p, a)
        } else {
            (
                PairLogps {
                    policy_chosen: p.policy_rejected,
                    policy_rejected: p.policy_chosen,
                    ref_chosen: p.ref_rejected,
                    ref_rejected: p.ref_chosen,
                    chosen_len: p.rejected_len,
                    rejected_len: p.chosen_len,
                    strength: Some(1.0 - a),
                },
                1.0 - a,
            )
        };
        kept.push((q, a));
    }
    if kept.is_empty() {
        return Err(Error::Invalid(
            "no pairs with a true ranking to evaluate".into(),
        ));
    }
    let n = kept.len() as f64;
    let mean =
        |f: &dyn Fn(&PairLogps, f64) -> f64| kept.iter().map(|(p, a)| f(p, *a)).sum::<f64>() / n;
    let norm = |lp: f64, len: usize| lp / len as f64;
    let policy = RawNorm {
        raw: mean(&|p, _| hit(p.policy_chosen - p.policy_rejected)),
        normalized: mean(&|p, _| {
            hit(norm(p.policy_chosen, p.chosen_len) - norm(p.policy_rejected, p.rejected_len))
        }),
    };
    let reference = RawNorm {
        raw: mean(&|p, _| hit(p.ref_chosen - p.ref_rejected)),
        normalized: mean(&|p, _| {
            hit(norm(p.ref_chosen, p.chosen_len) - norm(p.ref_rejected, p.rejected_len))
        }),
    };
    let eps = cfg.eps;
    let idealized: Vec<Idealized> =
        cfg.betas
            .iter()
            .map(|&b| {
                let odds = |a: f64| (a.ln() - (1.0 - a).max(eps).ln()) / b;
                Idealized {
                    beta: b,
                    accuracy: RawNorm {
                        raw: mean(&|p, a| hit(p.ref_chosen - p.ref_rejected + odds(a))),
                        normalized: mean(&|p, a| {
                            hit(norm(p.ref_chosen, p.chosen_len)
                                - norm(p.ref_rejected, p.rejected_len)
                                + odds(a))
                        }),
                    },
                }
            })
            .collect();
    let idealized_median = RawNorm {
        raw: median(&mut idealized.iter().map(|i| i.accuracy.raw).collect::<Vec<_>>()),
        normalized: median(
            &mut idealized
                .iter()
                .map(|i| i.accuracy.normalized)
                .collect::<Vec<_>>(),
        ),
    };
    Ok(RankingReport {
        n: kept.len(),
        policy,
        reference,
        alignment_gap: RawNorm {
            raw: idealized_median.raw - policy.raw,
            normalized: idealized_median.normalized - policy.normalized,
        },
        idealized,
        idealized_median,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pc: f64, pr: f64, rc: f64, rr: f64, lc: usize, lr: usize, a: Option<f64>) -> PairLogps {
        PairLogps {
            policy_chosen: pc,
            policy_rejected: pr,
            ref_chosen: rc,
            ref_rejected: rr,
            chosen_len: lc,
            rejected_len: lr,
            strength: a,
        }
    }

    #[test]
    fn idealized_accuracy_follows_the_closed_form() -> Result<()> {
        // Pair 1: reference wrong by 5 nats, α = 0.75: log 3 / β must exceed 5, i.e.
        // correct for β < log 3 / 5 = 0.2197 (β = 0.01, 0.1) and wrong for β ≥ 1.
        // Pair 2: reference right by 1 nat: always correct.
        // Pair 3: α = 0.5: no true ranking, left out.
        // Pair 4: α = 0.2, reference prefers the (true) winner y_l by 2 nats: correct.
        let pairs = [
            p(-10.0, -12.0, -15.0, -10.0, 10, 10, None),
            p(-20.0, -19.0, -20.0, -21.0, 4, 4, Some(0.9)),
            p(-1.0, -2.0, -1.0, -2.0, 1, 1, Some(0.5)),
            p(-30.0, -31.0, -32.0, -30.0, 8, 8, Some(0.2)),
        ];
        let r = ranking_report(&pairs, &RankingConfig::default())?;
        assert_eq!(r.n, 3);
        let acc: Vec<f64> = r.idealized.iter().map(|i| i.accuracy.raw).collect();
        assert_eq!(acc, vec![1.0, 1.0, 2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0]);
        assert_eq!(r.idealized_median.raw, 2.0 / 3.0);
        // Policy: pair 1 right, pair 2 wrong, pair 4 (oriented) −31 > −30? no: wrong.
        assert!((r.policy.raw - 1.0 / 3.0).abs() < 1e-12);
        assert!((r.alignment_gap.raw - 1.0 / 3.0).abs() < 1e-12);
        // Reference: pair 1 wrong, 2 right, 4 right.
        assert!((r.reference.raw - 2.0 / 3.0).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn length_normalization_changes_the_verdict() -> Result<()> {
        // Longer chosen: lower sum, higher per-token mean.
        let r = ranking_report(
            &[p(-30.0, -20.0, -30.0, -20.0, 30, 10, Some(1.0))],
            &RankingConfig {
                betas: vec![1.0],
                ..Default::default()
            },
        )?;
        assert_eq!(r.policy.raw, 0.0);
        assert_eq!(r.policy.normalized, 1.0);
        // α = 1: (1/β)·log(1/ε) = 6.9 < 10 nats raw: idealized still wrong at β = 1.
        assert_eq!(r.idealized[0].accuracy.raw, 0.0);
        assert!(ranking_report(&[], &RankingConfig::default()).is_err());
        assert!(
            ranking_report(
                &[p(f64::NAN, 0.0, 0.0, 0.0, 1, 1, None)],
                &RankingConfig::default()
            )
            .is_err()
        );
        Ok(())
    }
}
