//! Task arithmetic and the methods built on it (mergekit's "generalized task arithmetic"):
//! task vectors `δᵢ = θᵢ − θ_base`, optionally sparsified, weighted, optionally masked by
//! sign consensus, summed and added back:
//!
//! `θ = θ_base + λ · Σᵢ mᵢ wᵢ δ̃ᵢ / (normalize ? Σᵢ mᵢ wᵢ : 1)`
//!
//! with `δ̃ᵢ` the sparsified task vector and `mᵢ` the consensus mask (1 where the sign of
//! `wᵢ δ̃ᵢ` agrees with the sign of `Σⱼ wⱼ δ̃ⱼ`, TIES's "elect"; 1 everywhere without
//! consensus). A zero divisor counts as 1.
//!
//! | name | sparsification | consensus | normalize | rescale | paper |
//! |---|---|---|---|---|---|
//! | `task_arithmetic` | none | none | false | - | Ilharco et al. 2023, arXiv 2212.04089 |
//! | `ties` | magnitude | sum | true | false | Yadav et al. 2023, arXiv 2306.01708 |
//! | `dare_linear` | random | none | false | true | Yu et al. 2024, arXiv 2311.03099 |
//! | `dare_ties` | random | sum | false | true | Yu et al. 2024 |
//! | `breadcrumbs` | magnitude outliers | none | false | false | Davari & Belilovsky 2023, arXiv 2312.06795 |
//! | `breadcrumbs_ties` | magnitude outliers | sum | false | false | same |
//! | `della` | MagPrune | sum | true | true | Deep et al. 2024, arXiv 2406.11617 |
//! | `della_linear` | MagPrune | none | false | true | same |
//!
//! Parameters (mergekit's names and defaults): `weight` per non-base model (required),
//! `density` (1.0), `gamma` (breadcrumbs, 0.01), `epsilon` (della, 0.15); shared `lambda`
//! (1.0), `normalize` and `rescale` (defaults above), `int8_mask` (accepted; no effect on
//! values).

use rand::Rng;

use super::sparsify::{Sparsify, SparsifyParams, sparsify};

/// How the sign mask is elected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consensus {
    /// The sign of the weighted sum (TIES).
    Sum,
    /// The sign of the count of positive minus negative entries.
    Count,
}

/// One member of the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskArithmetic {
    /// Sparsification of each task vector, if any.
    pub sparsify: Option<Sparsify>,
    /// Sign election, if any.
    pub consensus: Option<Consensus>,
    /// `normalize`'s default.
    pub default_normalize: bool,
    /// `rescale`'s default.
    pub default_rescale: bool,
}

impl TaskArithmetic {
    /// The member named as mergekit names it.
    pub fn by_name(name: &str) -> Option<Self> {
        use Consensus::Sum;
        use Sparsify::*;
        let (sparsify, consensus, default_normalize, default_rescale) = match name {
            "task_arithmetic" => (None, None, false, false),
            "ties" => (Some(Magnitude), Some(Sum), true, false),
            "dare_ties" => (Some(Random), Some(Sum), false, true),
            "dare_linear" => (Some(Random), None, false, true),
            "breadcrumbs" => (Some(MagnitudeOutliers), None, false, false),
            "breadcrumbs_ties" => (Some(MagnitudeOutliers), Some(Sum), false, false),
            "della" => (Some(DellaMagprune), Some(Sum), true, true),
            "della_linear" => (Some(DellaMagprune), None, false, true),
            _ => return None,
        };
        Some(TaskArithmetic {
            sparsify,
            consensus,
            default_normalize,
            default_rescale,
        })
    }
}

/// Settings shared by every task vector of a tensor.
#[derive(Debug, Clone, Copy)]
pub struct Shared {
    /// Divide by the (masked) weight sum.
    pub normalize: bool,
    /// Rescale sparsified vectors to their L1 norm.
    pub rescale: bool,
    /// `λ`: the scale of the merged task vector.
    pub lambda: f64,
}

/// Per-model settings.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    /// `wᵢ`.
    pub weight: f64,
    /// Share kept by sparsification.
    pub density: f64,
    /// Breadcrumbs' outlier share.
    pub gamma: f64,
    /// DELLA's probability half-width.
    pub epsilon: f64,
}

impl TaskArithmetic {
    /// Merges `models` (with their settings) onto `base`, all of `shape`.
    pub fn merge(
        &self,
        base: &[f32],
        models: &[(&[f32], Member)],
        shared: &Shared,
        shape: &[usize],
        rng: &mut impl Rng,
    ) -> Result<Vec<f32>, String> {
        if models.is_empty() {
            return Ok(base.to_vec());
        }
        let n = base.len();
        let mut weighted: Vec<Vec<f64>> = Vec::with_capacity(models.len());
        for (theta, m) in models {
            let delta: Vec<f32> = theta.iter().zip(base).map(|(x, b)| x - b).collect();
            let delta = match self.sparsify {
                None => delta,
                Some(method) => sparsify(
                    method,
                    &delta,
                    shape,
                    &SparsifyParams {
                        density: m.density,
                        gamma: m.gamma,
                        epsilon: m.epsilon,
                        rescale: shared.rescale,
                    },
                    rng,
                )?,
            };
            weighted.push(delta.iter().map(|d| *d as f64 * m.weight).collect());
        }
        let sign = |x: f64| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        };
        let mut out = Vec::with_capacity(n);
        for k in 0..n {
            let (mixed, divisor) = match self.consensus {
                Some(c) => {
                    let elect = match c {
                        Consensus::Sum => weighted.iter().map(|w| w[k]).sum::<f64>(),
                        Consensus::Count => weighted.iter().map(|w| sign(w[k])).sum::<f64>(),
                    };
                    let majority = if elect >= 0.0 { 1.0 } else { -1.0 };
                    let (mut mixed, mut div) = (0.0, 0.0);
                    for (w, (_, m)) in weighted.iter().zip(models) {
                        if sign(w[k]) == majority {
                            mixed += w[k];
                            div += m.weight;
                        }
                    }
                    (mixed, if div == 0.0 { 1.0 } else { div })
                }
                None => {
                    let div: f64 = models.iter().map(|(_, m)| m.weight).sum();
                    let mixed: f64 = weighted.iter().map(|w| w[k]).sum();
                    (mixed, if div.abs() < 1e-8 { 1.0 } else { div })
                }
            };
            let mut d = if shared.normalize {
                mixed / divisor
            } else {
                mixed
            };
            d *= shared.lambda;
            out.push((base[k] as f64 + d) as f32);
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn member(weight: f64) -> Member {
        Member {
            weight,
            density: 1.0,
            gamma: 0.01,
            epsilon: 0.15,
        }
    }

    #[test]
    fn ties_elects_the_sign_of_the_weighted_sum_and_averages_the_agreeing() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let ties = TaskArithmetic::by_name("ties").unwrap();
        let base = [0.0f32; 2];
        let a = [1.0f32, -1.0];
        let b = [-0.5f32, -3.0];
        let shared = Shared {
            normalize: true,
            rescale: false,
            lambda: 1.0,
        };
        let out = ties
            .merge(
                &base,
                &[(&a, member(1.0)), (&b, member(1.0))],
                &shared,
                &[2],
                &mut rng,
            )
            .unwrap();
        // Entry 0: sum 0.5 > 0, only a agrees -> 1.0 / 1. Entry 1: both negative -> -4 / 2.
        assert_eq!(out, vec![1.0, -2.0]);
        let ta = TaskArithmetic::by_name("task_arithmetic").unwrap();
        let out = ta
            .merge(
                &base,
                &[(&a, member(1.0)), (&b, member(1.0))],
                &Shared {
                    normalize: false,
                    rescale: false,
                    lambda: 0.5,
                },
                &[2],
                &mut rng,
            )
            .unwrap();
        assert_eq!(out, vec![0.25, -2.0]);
    }
}
