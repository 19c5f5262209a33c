//! The Bradley–Terry reward model on frozen embeddings: a head r(x, y) = MLP(φ(e(x), e(y)))
//! trained with TRL `RewardTrainer`'s loss (Ouyang et al. 2022; Llama 2 margin, Touvron et
//! al. 2023, arXiv:2307.09288; centring, Eisenstein et al. 2023, arXiv:2312.09244):
//!
//! ℓ = −log σ(r(x, y_w) − r(x, y_l) − m) + c·(r(x, y_w) + r(x, y_l))²
//!
//! The loss is [`crate::loss::bradley_terry`] (TRL parity in `tests/losses.rs`; the
//! LM-backbone parity with `RewardTrainer.compute_loss` is in [`super::lm`]). The margin m
//! is the data's `margin` annotation when present.
//!
//! | field | default | symbol |
//! |---|---|---|
//! | `features` | `response_and_product` | φ |
//! | `hidden` | `[]` (a linear head) | — |
//! | `dropout` | 0.0 | — |
//! | `center_rewards_coefficient` | `None` (TRL); Eisenstein et al. use 0.01 | c |
//! | `train` | 30 epochs, batch 64, AdamW lr 1e-3, wd 1e-4 | — |

use candle_core::{Device, Tensor};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::data::{FeatureMap, PairData, TrainConfig, TrainLog, gather, index_tensor, train_loop};
use super::head::Mlp;
use crate::loss::{BradleyTerryConfig, RewardPair, bradley_terry};
use crate::{Error, Result};

/// Configuration of [`BradleyTerryRm`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BradleyTerryRmConfig {
    /// φ, the head's view of (prompt, response) (default `response_and_product`).
    pub features: FeatureMap,
    /// Hidden layer widths of the head (default none: linear).
    pub hidden: Vec<usize>,
    /// Dropout after each hidden layer (default 0).
    pub dropout: f32,
    /// c, TRL's `center_rewards_coefficient` (default `None`).
    pub center_rewards_coefficient: Option<f64>,
    /// Optimization.
    pub train: TrainConfig,
}

impl Default for BradleyTerryRmConfig {
    fn default() -> Self {
        BradleyTerryRmConfig {
            features: FeatureMap::default(),
            hidden: Vec::new(),
            dropout: 0.0,
            center_rewards_coefficient: None,
            train: TrainConfig::default(),
        }
    }
}

impl BradleyTerryRmConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        self.train.validate()?;
        BradleyTerryConfig {
            center_rewards_coefficient: self.center_rewards_coefficient,
        }
        .validate()?;
        if self.hidden.contains(&0) {
            return Err(Error::Config("hidden widths must be positive".into()));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::Config(format!(
                "dropout {} must be in [0, 1)",
                self.dropout
            )));
        }
        Ok(())
    }
}

/// A Bradley–Terry reward head on embeddings.
///
/// # Quickstart
/// ```
/// use prefer_nn::reward::{BradleyTerryRm, BradleyTerryRmConfig, synth};
/// let train = synth::linear_pairs(500, 8, 4.0, 0.0, 1)?;
/// let (rm, _log) = BradleyTerryRm::fit(&train.data, &BradleyTerryRmConfig::default())?;
/// let logits = rm.pair_logits(&train.data)?; // r(x, y_w) − r(x, y_l) per pair
/// # Ok::<(), prefer_nn::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct BradleyTerryRm {
    cfg: BradleyTerryRmConfig,
    dim: usize,
    head: Mlp,
}

impl BradleyTerryRm {
    /// A fresh (untrained) head for embeddings of width `dim`.
    pub fn new(dim: usize, cfg: &BradleyTerryRmConfig) -> Result<Self> {
        cfg.validate()?;
        let mut dims = vec![cfg.features.dim(dim)];
        dims.extend(&cfg.hidden);
        dims.push(1);
        Ok(BradleyTerryRm {
            cfg: cfg.clone(),
            dim,
            head: Mlp::new(&dims, cfg.dropout, cfg.train.seed, &Device::Cpu)?,
        })
    }

    /// Trains a head on `data`.
    pub fn fit(data: &PairData, cfg: &BradleyTerryRmConfig) -> Result<(Self, TrainLog)> {
        data.validate()?;
        let rm = Self::new(data.dim(), cfg)?;
        let log = rm.train(data)?;
        Ok((rm, log))
    }

    /// Continues training on `data` (the head is updated in place).
    pub fn train(&self, data: &PairData) -> Result<TrainLog> {
        data.validate()?;
        if data.dim() != self.dim {
            return Err(Error::Invalid(format!(
                "embeddings of width {} for a head built for {}",
                data.dim(),
                self.dim
            )));
        }
        let loss_cfg = BradleyTerryConfig {
            center_rewards_coefficient: self.cfg.center_rewards_coefficient,
        };
        train_loop(self.head.vars(), data.len(), &self.cfg.train, |idx, rng| {
            let t = index_tensor(idx)?;
            let p = data.prompt.index_select(&t, 0)?;
            let rc = self.rewards_rng(&p, &data.chosen.index_select(&t, 0)?, Some(rng))?;
            let rr = self.rewards_rng(&p, &data.rejected.index_select(&t, 0)?, Some(rng))?;
            let margin = data.margin.as_ref().map(|m| gather(m, idx)).transpose()?;
            let out = bradley_terry(
                &RewardPair {
                    chosen: rc,
                    rejected: rr,
                    margin,
                },
                &loss_cfg,
            )?;
            Ok(out.loss.mean_all()?)
        })
    }

    /// r(x, y) per row; `rng = Some` samples dropout (training, Monte-Carlo dropout).
    ///
    /// # Shapes
    /// `prompt`, `response`: `[n, d]` → `[n]`
    pub fn rewards_rng(
        &self,
        prompt: &Tensor,
        response: &Tensor,
        rng: Option<&mut ChaCha8Rng>,
    ) -> Result<Tensor> {
        let phi = self.cfg.features.apply(prompt, response)?;
        Ok(self.head.forward(&phi, rng)?.squeeze(1)?)
    }

    /// r(x, y) per row (no dropout).
    pub fn rewards(&self, prompt: &Tensor, response: &Tensor) -> Result<Tensor> {
        self.rewards_rng(prompt, response, None)
    }

    /// r(x, y_w) − r(x, y_l) per pair.
    pub fn pair_logits(&self, data: &PairData) -> Result<Vec<f32>> {
        let rc = self.rewards(&data.prompt, &data.chosen)?;
        let rr = self.rewards(&data.prompt, &data.rejected)?;
        Ok((rc - rr)?.to_vec1::<f32>()?)
    }

    /// The configuration.
    pub fn config(&self) -> &BradleyTerryRmConfig {
        &self.cfg
    }

    /// Embedding width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The head.
    pub fn head(&self) -> &Mlp {
        &self.head
    }

    /// Named tensors for saving.
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        self.head.tensors("head")
    }

    /// Rebuilds from [`Self::tensors`].
    pub fn from_tensors(
        cfg: &BradleyTerryRmConfig,
        dim: usize,
        map: &std::collections::HashMap<String, Tensor>,
    ) -> Result<Self> {
        let head = Mlp::from_tensors(map, "head", cfg.dropout)?;
        if head.inp() != cfg.features.dim(dim) || head.out() != 1 {
            return Err(Error::Invalid(format!(
                "head [{} → {}] does not fit embeddings of width {dim}",
                head.inp(),
                head.out()
            )));
        }
        Ok(BradleyTerryRm {
            cfg: cfg.clone(),
            dim,
            head,
        })
    }
}

/// Cosine similarity of two vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let d: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    d / (na * nb).max(1e-300)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reward::data::pairwise_accuracy;
    use crate::reward::synth::{linear_pairs, linear_pairs_with};
    use rand::SeedableRng;

    #[test]
    fn recovers_a_linear_ground_truth() -> Result<()> {
        // 3000 pairs in 16 dimensions, β = 6: the MLE direction is within a few degrees
        // of w; accuracy on fresh pairs is that of the true reward up to sampling noise.
        let train = linear_pairs(3000, 16, 6.0, 0.0, 11)?;
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let test = linear_pairs_with(&train.w, 3000, 6.0, 0.0, &mut rng)?;
        let cfg = BradleyTerryRmConfig {
            features: FeatureMap::Response,
            train: TrainConfig {
                epochs: 40,
                lr: 0.02,
                ..Default::default()
            },
            ..Default::default()
        };
        let (rm, log) = BradleyTerryRm::fit(&train.data, &cfg)?;
        assert!(log.epoch_loss.last() < log.epoch_loss.first());
        let w = rm.head().tensors("h")[0]
            .1
            .flatten_all()?
            .to_vec1::<f32>()?;
        let cos = cosine(&w, &train.w);
        assert!(cos > 0.97, "cosine(w, w*) = {cos}");
        let acc = pairwise_accuracy(&rm.pair_logits(&test.data)?);
        let bayes = pairwise_accuracy(&test.true_margin);
        // 3000 test pairs: sd of an accuracy ≈ 0.008; the fitted model may trail the
        // true reward by its estimation error.
        assert!(acc > bayes - 0.03, "accuracy {acc} vs true reward {bayes}");
        assert!(bayes > 0.75);
        Ok(())
    }

    #[test]
    fn margin_and_centring_enter_the_loss() -> Result<()> {
        // With a margin of +2 on every pair, the fitted reward gaps exceed those of the
        // same head without margin; centring pulls the mean reward towards 0.
        let mut data = linear_pairs(800, 8, 4.0, 0.0, 3)?.data;
        let cfg = BradleyTerryRmConfig {
            features: FeatureMap::Response,
            hidden: vec![16],
            train: TrainConfig {
                epochs: 30,
                lr: 0.01,
                ..Default::default()
            },
            ..Default::default()
        };
        let (plain, _) = BradleyTerryRm::fit(&data, &cfg)?;
        let gap = |rm: &BradleyTerryRm, d: &PairData| -> Result<f32> {
            let z = rm.pair_logits(d)?;
            Ok(z.iter().sum::<f32>() / z.len() as f32)
        };
        data.margin = Some(vec![2.0; data.len()]);
        let (with_margin, _) = BradleyTerryRm::fit(&data, &cfg)?;
        assert!(gap(&with_margin, &data)? > gap(&plain, &data)? + 0.5);
        let centred_cfg = BradleyTerryRmConfig {
            center_rewards_coefficient: Some(1.0),
            ..cfg.clone()
        };
        let mean_abs = |rm: &BradleyTerryRm| -> Result<f32> {
            let r = rm
                .rewards(&data.prompt, &data.chosen)?
                .mean_all()?
                .to_scalar::<f32>()?;
            Ok(r.abs())
        };
        let (centred, _) = BradleyTerryRm::fit(&data, &centred_cfg)?;
        assert!(mean_abs(&centred)? < 0.25, "{}", mean_abs(&centred)?);
        let bad = BradleyTerryRmConfig {
            center_rewards_coefficient: Some(-1.0),
            ..cfg
        };
        assert!(BradleyTerryRm::fit(&data, &bad).is_err());
        Ok(())
    }
}
