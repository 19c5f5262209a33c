//! Reward uncertainty per pair, used to filter preference pairs (paper 45: Wang et al.
//! 2024, "Self-Evolutionary Large Language Models through Uncertainty-Enhanced Preference
//! Optimization", arXiv:2409.11212: Monte-Carlo dropout estimates how sure the judge is of
//! each pair, and uncertain pairs are dropped or down-weighted).
//!
//! For a pair, Δ = r(x, y_w) − r(x, y_l) is computed by S stochastic reward models, and
//! its mean and variance, and the variance of the preference probability σ(Δ), are
//! reported:
//! - `ensemble`: S independently initialized heads, each on a bootstrap resample
//!   (Lakshminarayanan et al. 2017);
//! - `mc_dropout`: one head with dropout, kept on at inference, S passes (Gal &
//!   Ghahramani 2016; the paper's choice).
//!
//! [`keep_most_certain`] returns the pairs with the lowest variance (give it `prob_var`:
//! the variance of Δ also grows with the size of gaps every sample agrees on). Disagreement is
//! epistemic: it is large where the data did not constrain the heads (inputs unlike the
//! training data), which is where a reward model's label is least trustworthy.
//!
//! | field | default | symbol |
//! |---|---|---|
//! | `method` | `ensemble` with 5 members | S |
//! | `member` | [`BradleyTerryRmConfig`] defaults (`mc_dropout` needs `dropout > 0`) | — |

use candle_core::Tensor;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::bradley_terry::{BradleyTerryRm, BradleyTerryRmConfig};
use super::data::PairData;
use crate::{Error, Result};

/// How the reward samples are drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UncertaintyMethod {
    /// Independently trained heads on bootstrap resamples.
    Ensemble {
        /// S, the number of heads (default 5).
        members: usize,
    },
    /// One head, dropout on at inference.
    McDropout {
        /// S, stochastic passes (default 20).
        samples: usize,
    },
}

impl Default for UncertaintyMethod {
    fn default() -> Self {
        UncertaintyMethod::Ensemble { members: 5 }
    }
}

/// Configuration of [`UncertainRm`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UncertaintyConfig {
    /// Ensemble or MC dropout.
    pub method: UncertaintyMethod,
    /// The reward head.
    pub member: BradleyTerryRmConfig,
}

impl UncertaintyConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        self.member.validate()?;
        match self.method {
            UncertaintyMethod::Ensemble { members } if members < 2 => {
                Err(Error::Config("an ensemble needs at least 2 members".into()))
            }
            UncertaintyMethod::McDropout { samples } if samples < 2 => {
                Err(Error::Config("MC dropout needs at least 2 samples".into()))
            }
            UncertaintyMethod::McDropout { .. }
                if self.member.dropout <= 0.0 || self.member.hidden.is_empty() =>
            {
                Err(Error::Config(
                    "MC dropout needs a hidden layer and member.dropout > 0".into(),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Mean and variance of the reward gap of each pair, and of the preference probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairUncertainty {
    /// Mean of Δ over the samples.
    pub mean: Vec<f32>,
    /// Variance of Δ over the samples.
    pub var: Vec<f32>,
    /// Variance of σ(Δ) over the samples: the disagreement about *which* response is
    /// better, in [0, 1/4]. Unlike the variance of Δ it does not grow with the size of
    /// confident gaps, so it is what [`keep_most_certain`] is given for filtering.
    pub prob_var: Vec<f32>,
}

/// A reward model that reports its uncertainty.
#[derive(Debug, Clone)]
pub struct UncertainRm {
    cfg: UncertaintyConfig,
    members: Vec<BradleyTerryRm>,
}

impl UncertainRm {
    /// Trains the ensemble (or the single dropout head).
    pub fn fit(data: &PairData, cfg: &UncertaintyConfig) -> Result<Self> {
        cfg.validate()?;
        data.validate()?;
        let members = match cfg.method {
            UncertaintyMethod::Ensemble { members } => {
                let mut rng = ChaCha8Rng::seed_from_u64(cfg.member.train.seed ^ 0xE45);
                let n = data.len();
                (0..members)
                    .map(|m| {
                        let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
                        let mut mc = cfg.member.clone();
                        mc.train.seed = cfg.member.train.seed.wrapping_add(1 + m as u64);
                        Ok(BradleyTerryRm::fit(&data.select(&idx)?, &mc)?.0)
                    })
                    .collect::<Result<Vec<_>>>()?
            }
            UncertaintyMethod::McDropout { .. } => vec![BradleyTerryRm::fit(data, &cfg.member)?.0],
        };
        Ok(UncertainRm {
            cfg: cfg.clone(),
            members,
        })
    }

    /// Builds from trained members (ensemble) or one dropout head.
    pub fn from_members(cfg: &UncertaintyConfig, members: Vec<BradleyTerryRm>) -> Result<Self> {
        cfg.validate()?;
        if members.is_empty() {
            return Err(Error::Invalid("no members".into()));
        }
        Ok(UncertainRm {
            cfg: cfg.clone(),
            members,
        })
    }

    /// The members.
    pub fn members(&self) -> &[BradleyTerryRm] {
        &self.members
    }

    /// The configuration.
    pub fn config(&self) -> &UncertaintyConfig {
        &self.cfg
    }

    /// The S samples of Δ, `[S][n]`.
    pub fn samples(&self, data: &PairData) -> Result<Vec<Vec<f32>>> {
        match self.cfg.method {
            UncertaintyMethod::Ensemble { .. } => {
                self.members.iter().map(|m| m.pair_logits(data)).collect()
            }
            UncertaintyMethod::McDropout { samples } => {
                let m = &self.members[0];
                let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.member.train.seed ^ 0xD40);
                (0..samples)
                    .map(|_| {
                        let c = m.rewards_rng(&data.prompt, &data.chosen, Some(&mut rng))?;
                        let r = m.rewards_rng(&data.prompt, &data.rejected, Some(&mut rng))?;
                        Ok((c - r)?.to_vec1::<f32>()?)
                    })
                    .collect()
            }
        }
    }

    /// Mean and variance of Δ per pair.
    pub fn pair_uncertainty(&self, data: &PairData) -> Result<PairUncertainty> {
        let s = self.samples(data)?;
        let k = s.len() as f64;
        let n = data.len();
        let (mut mean, mut var, mut prob_var) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
        for i in 0..n {
            let m = s.iter().map(|r| f64::from(r[i])).sum::<f64>() / k;
            let v = s.iter().map(|r| (f64::from(r[i]) - m).powi(2)).sum::<f64>() / (k - 1.0);
            let pm = s.iter().map(|r| sig(f64::from(r[i]))).sum::<f64>() / k;
            let pv = s
                .iter()
                .map(|r| (sig(f64::from(r[i])) - pm).powi(2))
                .sum::<f64>()
                / (k - 1.0);
            mean.push(m as f32);
            var.push(v as f32);
            prob_var.push(pv as f32);
        }
        Ok(PairUncertainty {
            mean,
            var,
            prob_var,
        })
    }

    /// The mean Δ per pair (the ensemble's logit).
    pub fn pair_logits(&self, data: &PairData) -> Result<Vec<f32>> {
        Ok(self.pair_uncertainty(data)?.mean)
    }

    /// Named tensors for saving (`member{m}.head...`).
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        self.members
            .iter()
            .enumerate()
            .flat_map(|(k, m)| {
                m.tensors()
                    .into_iter()
                    .map(move |(n, t)| (format!("member{k}.{n}"), t))
            })
            .collect()
    }
}

/// The indices of the `keep_fraction` of pairs with the lowest variance, in input order.
pub fn keep_most_certain(var: &[f32], keep_fraction: f64) -> Result<Vec<usize>> {
    if !(0.0..=1.0).contains(&keep_fraction) {
        return Err(Error::Config(format!(
            "keep_fraction {keep_fraction} must be in [0, 1]"
        )));
    }
    let mut idx: Vec<usize> = (0..var.len()).collect();
    idx.sort_by(|&a, &b| var[a].total_cmp(&var[b]));
    let k = (keep_fraction * var.len() as f64).round() as usize;
    let mut keep = idx[..k].to_vec();
    keep.sort_unstable();
    Ok(keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reward::data::{FeatureMap, TrainConfig, pairwise_accuracy};
    use crate::reward::strength::auroc;
    use crate::reward::synth::{linear_pairs_with, unit};
    use candle_core::{Device, Tensor};

    /// Pairs whose embeddings live in the first `half` dimensions (in-distribution) or the
    /// last ones (out of distribution), labelled by the same w over all dimensions.
    fn split_space(
        w: &[f32],
        n: usize,
        ood: bool,
        seed: u64,
    ) -> Result<crate::reward::synth::LinearPairs> {
        let d = w.len();
        let half = d / 2;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut lp = linear_pairs_with(w, n, 8.0, 0.0, &mut rng)?;
        let proj = |t: &Tensor, rng: &mut ChaCha8Rng| -> Result<Tensor> {
            let rows = t.dims()[0];
            let mut v = Vec::with_capacity(rows * d);
            for _ in 0..rows {
                let u = unit(half, rng);
                for j in 0..d {
                    let inside = if ood { j >= half } else { j < half };
                    v.push(if inside {
                        u[if ood { j - half } else { j }]
                    } else {
                        0.0
                    });
                }
            }
            Ok(Tensor::from_vec(v, (rows, d), &Device::Cpu)?)
        };
        // Re-draw the responses in the subspace and relabel with w.
        let a = proj(&lp.data.chosen, &mut rng)?;
        let b = proj(&lp.data.rejected, &mut rng)?;
        let wa = a
            .matmul(&Tensor::from_vec(w.to_vec(), (d, 1), &Device::Cpu)?)?
            .squeeze(1)?
            .to_vec1::<f32>()?;
        let wb = b
            .matmul(&Tensor::from_vec(w.to_vec(), (d, 1), &Device::Cpu)?)?
            .squeeze(1)?
            .to_vec1::<f32>()?;
        let flip: Vec<bool> = wa.iter().zip(&wb).map(|(x, y)| x < y).collect();
        lp.data.chosen = a;
        lp.data.rejected = b;
        lp.data = lp.data.flipped(&flip)?;
        lp.true_margin = wa
            .iter()
            .zip(&wb)
            .map(|(x, y)| 8.0 * (x - y).abs())
            .collect();
        Ok(lp)
    }

    #[test]
    fn disagreement_flags_unfamiliar_pairs_and_filtering_keeps_the_good_ones() -> Result<()> {
        let mut rng = ChaCha8Rng::seed_from_u64(70);
        let w = unit(16, &mut rng);
        let train = split_space(&w, 2000, false, 71)?;
        let id = split_space(&w, 1000, false, 72)?;
        let ood = split_space(&w, 1000, true, 73)?;
        let idx: Vec<usize> = (0..1000).collect();
        let mut test = id.data.select(&idx)?;
        test.chosen = Tensor::cat(&[&id.data.chosen, &ood.data.chosen], 0)?;
        test.rejected = Tensor::cat(&[&id.data.rejected, &ood.data.rejected], 0)?;
        test.prompt = Tensor::cat(&[&id.data.prompt, &ood.data.prompt], 0)?;
        let is_ood: Vec<bool> = (0..2000).map(|i| i >= 1000).collect();
        let tc = TrainConfig {
            epochs: 20,
            lr: 0.02,
            ..Default::default()
        };
        for method in [
            UncertaintyMethod::Ensemble { members: 5 },
            UncertaintyMethod::McDropout { samples: 30 },
        ] {
            let member = match method {
                UncertaintyMethod::Ensemble { .. } => BradleyTerryRmConfig {
                    features: FeatureMap::Response,
                    hidden: vec![64],
                    train: tc.clone(),
                    ..Default::default()
                },
                UncertaintyMethod::McDropout { .. } => BradleyTerryRmConfig {
                    features: FeatureMap::Response,
                    hidden: vec![64],
                    dropout: 0.3,
                    train: tc.clone(),
                    ..Default::default()
                },
            };
            let rm = UncertainRm::fit(
                &train.data,
                &UncertaintyConfig {
                    method: method.clone(),
                    member,
                },
            )?;
            let u = rm.pair_uncertainty(&test)?;
            let auc = auroc(&u.prob_var, &is_ood);
            let keep = keep_most_certain(&u.prob_var, 0.5)?;
            let drop: Vec<usize> = (0..2000).filter(|i| !keep.contains(i)).collect();
            let acc = |ix: &[usize]| {
                pairwise_accuracy(&ix.iter().map(|&i| u.mean[i]).collect::<Vec<_>>())
            };
            let (a_keep, a_drop) = (acc(&keep), acc(&drop));
            let (min_auc, min_gap) = match method {
                UncertaintyMethod::Ensemble { .. } => (0.9, 0.15),
                UncertaintyMethod::McDropout { .. } => (0.7, 0.05),
            };
            println!("{method:?}: AUROC {auc:.3}, kept {a_keep:.3}, dropped {a_drop:.3}");
            assert!(
                auc > min_auc,
                "{method:?}: AUROC of variance for OOD pairs {auc}"
            );
            assert!(
                a_keep > a_drop + min_gap,
                "{method:?}: kept {a_keep} vs dropped {a_drop}"
            );
        }
        let bad = UncertaintyConfig {
            method: UncertaintyMethod::McDropout { samples: 10 },
            ..Default::default()
        };
        assert!(bad.validate().is_err());
        Ok(())
    }
}
