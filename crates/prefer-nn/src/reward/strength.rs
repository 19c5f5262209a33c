//! Preference strength and noisy labels (paper 7: Wang et al. 2024, "Secrets of RLHF in
//! Large Language Models Part II: Reward Modeling", arXiv:2401.06080, §2).
//!
//! **Strength.** M reward models are trained on resamples of the data; the strength of
//! pair i is the mean and spread of their reward gaps,
//!
//! μ_i = (1/M) Σ_m (r_m(x_i, y_w) − r_m(x_i, y_l)),  σ_i = std_m(...)
//!
//! A negative μ_i says the ensemble votes against the label (likely mislabelled); μ_i near
//! 0 says the pair is ambiguous. Here each pair is left out by a random half of the
//! members, each member trains on the pairs it does not leave out, and a pair's strength
//! averages only the members that did not see it (out-of-bag), so a model cannot vouch for
//! a label it memorized (`out_of_bag`, default true; false = bootstrap members that all
//! vote on all data, as the paper's ensemble).
//!
//! **Noisy-label handling** (the paper's three methods, combined by thresholds on μ):
//! - flip: pairs in the lowest `flip_fraction` of μ *and* with μ < 0 swap chosen/rejected;
//! - label smoothing: the next `smooth_fraction` (ambiguous pairs) train on
//!   −(1−ε) log σ(Δ) − ε log σ(−Δ);
//! - adaptive margin: the loss of every other pair is −log σ(Δ − γ·max(μ_i, 0)), a larger
//!   required gap for pairs the ensemble finds clear.
//!
//! | field | default | symbol |
//! |---|---|---|
//! | `members` | 5 | M (paper: 10) |
//! | `out_of_bag` | true | — |
//! | `flip_fraction` | 0.1 | the paper's lowest 10% |
//! | `smooth_fraction` | 0.2 | — |
//! | `label_smoothing` | 0.1 | ε |
//! | `margin_scale` | 0.0 (off) | γ |
//! | `member` | [`BradleyTerryRmConfig`] defaults | — |

use candle_core::Tensor;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::bradley_terry::{BradleyTerryRm, BradleyTerryRmConfig};
use super::data::{PairData, TrainLog, gather, index_tensor, soft_pair_loss, train_loop};
use crate::{Error, Result};

/// Configuration of the strength ensemble and the label treatment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StrengthConfig {
    /// M, ensemble members (default 5).
    pub members: usize,
    /// Average only members that did not train on the pair (default true).
    pub out_of_bag: bool,
    /// Fraction of pairs (lowest μ, and only those with μ < 0) whose label is flipped
    /// (default 0.1).
    pub flip_fraction: f64,
    /// Fraction of pairs, next above the flipped ones, trained with label smoothing
    /// (default 0.2).
    pub smooth_fraction: f64,
    /// ε of label smoothing (default 0.1).
    pub label_smoothing: f64,
    /// γ of the adaptive margin γ·max(μ, 0) (default 0: off).
    pub margin_scale: f64,
    /// Each member's (and the final model's) configuration.
    pub member: BradleyTerryRmConfig,
}

impl Default for StrengthConfig {
    fn default() -> Self {
        StrengthConfig {
            members: 5,
            out_of_bag: true,
            flip_fraction: 0.1,
            smooth_fraction: 0.2,
            label_smoothing: 0.1,
            margin_scale: 0.0,
            member: BradleyTerryRmConfig::default(),
        }
    }
}

impl StrengthConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        if self.members < 2 {
            return Err(Error::Config("members must be at least 2".into()));
        }
        for (n, v) in [
            ("flip_fraction", self.flip_fraction),
            ("smooth_fraction", self.smooth_fraction),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(Error::Config(format!("{n} {v} must be in [0, 1]")));
            }
        }
        if self.flip_fraction + self.smooth_fraction > 1.0 {
            return Err(Error::Config(
                "flip_fraction + smooth_fraction must be <= 1".into(),
            ));
        }
        if !(0.0..0.5).contains(&self.label_smoothing) {
            return Err(Error::Config(format!(
                "label_smoothing {} must be in [0, 0.5)",
                self.label_smoothing
            )));
        }
        if self.margin_scale.is_nan() || self.margin_scale < 0.0 {
            return Err(Error::Config("margin_scale must be >= 0".into()));
        }
        self.member.validate()
    }
}

/// Per-pair preference strength.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Strength {
    /// μ_i, the mean reward gap of the members that voted.
    pub mean: Vec<f32>,
    /// σ_i, their standard deviation.
    pub std: Vec<f32>,
    /// How many members voted on each pair.
    pub votes: Vec<usize>,
}

/// The ensemble's strength of every pair of `data`.
pub fn preference_strength(data: &PairData, cfg: &StrengthConfig) -> Result<Strength> {
    cfg.validate()?;
    data.validate()?;
    let n = data.len();
    let mut sum = vec![0f64; n];
    let mut sq = vec![0f64; n];
    let mut votes = vec![0usize; n];
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.member.train.seed ^ 0xB007);
    // Out-of-bag design: each pair is left out by a random half of the members (so every
    // pair gets ⌊M/2⌋ votes) and each member trains on the pairs it does not leave out.
    let m = cfg.members;
    let held = (m / 2).max(1);
    let mut left_out = vec![vec![false; n]; m];
    let mut ms: Vec<usize> = (0..m).collect();
    for i in 0..n {
        ms.shuffle(&mut rng);
        for &k in &ms[..held] {
            if let Some(row) = left_out.get_mut(k) {
                row[i] = true;
            }
        }
    }
    for (k, out) in left_out.iter().enumerate() {
        let idx: Vec<usize> = if cfg.out_of_bag {
            (0..n).filter(|&i| !out[i]).collect()
        } else {
            (0..n).map(|_| rng.random_range(0..n)).collect()
        };
        if idx.is_empty() {
            return Err(Error::Invalid(
                "too few pairs for the strength ensemble".into(),
            ));
        }
        let mut mcfg = cfg.member.clone();
        mcfg.train.seed = cfg.member.train.seed.wrapping_add(1 + k as u64);
        let (rm, _) = BradleyTerryRm::fit(&data.select(&idx)?, &mcfg)?;
        let gaps = rm.pair_logits(data)?;
        for i in 0..n {
            if cfg.out_of_bag && !out[i] {
                continue;
            }
            let g = f64::from(gaps[i]);
            sum[i] += g;
            sq[i] += g * g;
            votes[i] += 1;
        }
    }
    let mut mean = Vec::with_capacity(n);
    let mut std = Vec::with_capacity(n);
    for i in 0..n {
        let k = votes[i].max(1) as f64;
        let mu = sum[i] / k;
        mean.push(mu as f32);
        std.push(((sq[i] / k - mu * mu).max(0.0)).sqrt() as f32);
    }
    Ok(Strength { mean, std, votes })
}

/// What [`fit_denoised`] did to the labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DenoiseReport {
    /// Pairs whose label was flipped.
    pub flipped: Vec<usize>,
    /// Pairs trained with label smoothing.
    pub smoothed: Vec<usize>,
    /// The strengths the decisions were based on.
    pub strength: Option<Strength>,
}

/// How each pair is treated, from its strength.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Treatment {
    Flip,
    Smooth,
    Keep,
}

fn treatments(mean: &[f32], cfg: &StrengthConfig) -> Vec<Treatment> {
    let n = mean.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| mean[a].total_cmp(&mean[b]));
    let n_flip = (cfg.flip_fraction * n as f64).round() as usize;
    let n_smooth = (cfg.smooth_fraction * n as f64).round() as usize;
    let mut t = vec![Treatment::Keep; n];
    for (rank, &i) in order.iter().enumerate() {
        t[i] = if rank < n_flip && mean[i] < 0.0 {
            Treatment::Flip
        } else if rank < n_flip + n_smooth {
            Treatment::Smooth
        } else {
            Treatment::Keep
        };
    }
    t
}

/// Measures strength, flips / smooths / margins the labels as configured, and trains the
/// final Bradley–Terry head on the treated data.
pub fn fit_denoised(
    data: &PairData,
    cfg: &StrengthConfig,
) -> Result<(BradleyTerryRm, TrainLog, DenoiseReport)> {
    let st = preference_strength(data, cfg)?;
    let treat = treatments(&st.mean, cfg);
    let flip: Vec<bool> = treat.iter().map(|t| *t == Treatment::Flip).collect();
    let treated = data.flipped(&flip)?;
    let eps = cfg.label_smoothing as f32;
    let target: Vec<f32> = treat
        .iter()
        .map(|t| {
            if *t == Treatment::Smooth {
                1.0 - eps
            } else {
                1.0
            }
        })
        .collect();
    let margin: Vec<f32> = treat
        .iter()
        .zip(&st.mean)
        .map(|(t, &mu)| match t {
            // A flipped pair's strength is −μ > 0 for its new label; smoothed pairs are
            // ambiguous: no margin.
            Treatment::Flip => (cfg.margin_scale as f32) * (-mu).max(0.0),
            Treatment::Smooth => 0.0,
            Treatment::Keep => (cfg.margin_scale as f32) * mu.max(0.0),
        })
        .collect();
    let rm = BradleyTerryRm::new(data.dim(), &cfg.member)?;
    let log = train_loop(
        rm.head().vars(),
        data.len(),
        &cfg.member.train,
        |idx, rng| {
            let t = index_tensor(idx)?;
            let p = treated.prompt.index_select(&t, 0)?;
            let rc = rm.rewards_rng(&p, &treated.chosen.index_select(&t, 0)?, Some(rng))?;
            let rr = rm.rewards_rng(&p, &treated.rejected.index_select(&t, 0)?, Some(rng))?;
            let z = ((rc - rr)? - gather(&margin, idx)?)?;
            let p: Tensor = gather(&target, idx)?;
            Ok(soft_pair_loss(&z, &p)?.mean_all()?)
        },
    )?;
    let report = DenoiseReport {
        flipped: (0..data.len())
            .filter(|&i| treat[i] == Treatment::Flip)
            .collect(),
        smoothed: (0..data.len())
            .filter(|&i| treat[i] == Treatment::Smooth)
            .collect(),
        strength: Some(st),
    };
    Ok((rm, log, report))
}

/// Area under the ROC curve of `score` for telling `positive` items from the others (the
/// probability that a random positive scores above a random negative; ties count ½).
pub fn auroc(score: &[f32], positive: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..score.len()).collect();
    idx.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
    // Average ranks (1-based) with ties.
    let mut ranks = vec![0f64; score.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && score[idx[j + 1]] == score[idx[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            ranks[k] = r;
        }
        i = j + 1;
    }
    let np = positive.iter().filter(|&&p| p).count() as f64;
    let nn = positive.len() as f64 - np;
    if np == 0.0 || nn == 0.0 {
        return f64::NAN;
    }
    let rsum: f64 = ranks
        .iter()
        .zip(positive)
        .filter(|(_, p)| **p)
        .map(|(r, _)| r)
        .sum();
    (rsum - np * (np + 1.0) / 2.0) / (np * nn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reward::data::{FeatureMap, TrainConfig, pairwise_accuracy};
    use crate::reward::synth::{linear_pairs, linear_pairs_with};

    fn member() -> BradleyTerryRmConfig {
        BradleyTerryRmConfig {
            features: FeatureMap::Response,
            train: TrainConfig {
                epochs: 20,
                lr: 0.02,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn strength_finds_flipped_labels_and_denoising_restores_them() -> Result<()> {
        // 25% of the training labels are inverted at random.
        let train = linear_pairs(2000, 16, 8.0, 0.25, 21)?;
        let mut rng = ChaCha8Rng::seed_from_u64(22);
        let test = linear_pairs_with(&train.w, 2000, 8.0, 0.0, &mut rng)?;
        let cfg = StrengthConfig {
            members: 6,
            flip_fraction: 0.2,
            smooth_fraction: 0.1,
            margin_scale: 0.0,
            member: member(),
            ..Default::default()
        };
        let st = preference_strength(&train.data, &cfg)?;
        assert!(st.votes.iter().all(|&v| v == 3));
        let neg: Vec<f32> = st.mean.iter().map(|m| -m).collect();
        let auc = auroc(&neg, &train.flipped);
        assert!(auc > 0.8, "AUROC of −strength for flipped labels: {auc}");

        // Labels agree with the noise-free truth more often after the flips.
        let (rm, _, report) = fit_denoised(&train.data, &cfg)?;
        let truth_agree = |flipped_now: &[bool]| -> f64 {
            flipped_now.iter().filter(|&&f| !f).count() as f64 / flipped_now.len() as f64
        };
        let before = truth_agree(&train.flipped);
        let mut now = train.flipped.clone();
        for &i in &report.flipped {
            now[i] = !now[i];
        }
        let after = truth_agree(&now);
        assert!(after > before + 0.08, "label agreement {before} -> {after}");

        // And the final model is no worse on clean test pairs than plain training.
        let (plain, _) = BradleyTerryRm::fit(&train.data, &member())?;
        let a_plain = pairwise_accuracy(&plain.pair_logits(&test.data)?);
        let a_denoised = pairwise_accuracy(&rm.pair_logits(&test.data)?);
        assert!(a_denoised > a_plain - 0.01, "{a_plain} -> {a_denoised}");
        Ok(())
    }

    #[test]
    fn auroc_closed_form_and_treatment_rules() {
        assert_eq!(
            auroc(&[0.1, 0.4, 0.5, 0.8], &[false, true, false, true]),
            0.75
        );
        assert_eq!(auroc(&[1.0, 1.0], &[true, false]), 0.5);
        let cfg = StrengthConfig {
            flip_fraction: 0.5,
            smooth_fraction: 0.25,
            ..Default::default()
        };
        // Lowest half flips only where μ < 0.
        let t = treatments(&[-2.0, 0.5, 3.0, 0.1], &cfg);
        assert_eq!(
            t,
            vec![
                Treatment::Flip,
                Treatment::Smooth,
                Treatment::Keep,
                Treatment::Smooth
            ]
        );
        assert!(
            StrengthConfig {
                members: 1,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}
