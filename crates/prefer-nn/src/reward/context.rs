//! Context-conditioned reward model (paper 19: Pitis et al. 2024, "Improving
//! Context-Aware Preference Modeling for Language Models", arXiv:2407.14916): the
//! criterion the judgement was made under ("which answer is more concise?", "more
//! detailed?") is part of the input, r(x, y, c), so the same pair can be preferred in
//! opposite directions under different criteria without being noise.
//!
//! The criterion string is embedded by the same encoder as the texts (the data's
//! `context` annotation), and the head sees
//!
//! ψ = [φ(x, y), e(c), e(c) ⊙ e(y)]  →  r(x, y, c) = MLP(ψ)
//!
//! so it can model criterion–response interactions. Trained with the Bradley–Terry loss.
//! Every pair needs a context: a missing one is an error naming the pair.
//!
//! | field | default | symbol |
//! |---|---|---|
//! | `features` | `response_and_product` | φ |
//! | `hidden` | `[64]` | — |
//! | `train` | [`TrainConfig`] defaults | — |

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::data::{FeatureMap, PairData, TrainConfig, TrainLog, index_tensor, train_loop};
use super::head::Mlp;
use crate::loss::ops::log_sigmoid;
use crate::{Error, Result};

/// Configuration of [`ContextRm`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContextRmConfig {
    /// φ (default `response_and_product`).
    pub features: FeatureMap,
    /// Hidden widths (default `[64]`: interactions need a hidden layer).
    pub hidden: Vec<usize>,
    /// Optimization.
    pub train: TrainConfig,
}

impl Default for ContextRmConfig {
    fn default() -> Self {
        ContextRmConfig {
            features: FeatureMap::default(),
            hidden: vec![64],
            train: TrainConfig::default(),
        }
    }
}

impl ContextRmConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        if self.hidden.contains(&0) {
            return Err(Error::Config("hidden widths must be positive".into()));
        }
        self.train.validate()
    }
}

/// A reward model conditioned on a criterion.
#[derive(Debug, Clone)]
pub struct ContextRm {
    cfg: ContextRmConfig,
    dim: usize,
    head: Mlp,
}

fn context_of(data: &PairData) -> Result<&Tensor> {
    data.context.as_ref().ok_or_else(|| {
        Error::Invalid(
            "the context-conditioned model needs a `context` (criterion) on every pair".into(),
        )
    })
}

impl ContextRm {
    /// Trains on pairs with a `context` embedding.
    pub fn fit(data: &PairData, cfg: &ContextRmConfig) -> Result<(Self, TrainLog)> {
        cfg.validate()?;
        data.validate()?;
        let ctx = context_of(data)?;
        let d = data.dim();
        let mut dims = vec![cfg.features.dim(d) + 2 * d];
        dims.extend(&cfg.hidden);
        dims.push(1);
        let m = ContextRm {
            cfg: cfg.clone(),
            dim: d,
            head: Mlp::new(&dims, 0.0, cfg.train.seed, &Device::Cpu)?,
        };
        let log = train_loop(m.head.vars(), data.len(), &cfg.train, |idx, _| {
            let t = index_tensor(idx)?;
            let (p, c) = (data.prompt.index_select(&t, 0)?, ctx.index_select(&t, 0)?);
            let z = (m.rewards(&p, &data.chosen.index_select(&t, 0)?, &c)?
                - m.rewards(&p, &data.rejected.index_select(&t, 0)?, &c)?)?;
            Ok(log_sigmoid(&z)?.neg()?.mean_all()?)
        })?;
        Ok((m, log))
    }

    /// r(x, y, c) per row.
    ///
    /// # Shapes
    /// `prompt`, `response`, `context`: `[n, d]` → `[n]`
    pub fn rewards(&self, prompt: &Tensor, response: &Tensor, context: &Tensor) -> Result<Tensor> {
        let phi = self.cfg.features.apply(prompt, response)?;
        let psi = Tensor::cat(&[&phi, context, &(context * response)?], 1)?;
        Ok(self.head.forward(&psi, None)?.squeeze(1)?)
    }

    /// r(x, y_w, c) − r(x, y_l, c) per pair.
    pub fn pair_logits(&self, data: &PairData) -> Result<Vec<f32>> {
        let c = context_of(data)?;
        let z = (self.rewards(&data.prompt, &data.chosen, c)?
            - self.rewards(&data.prompt, &data.rejected, c)?)?;
        Ok(z.to_vec1::<f32>()?)
    }

    /// The configuration.
    pub fn config(&self) -> &ContextRmConfig {
        &self.cfg
    }

    /// Embedding width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Named tensors for saving.
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        self.head.tensors("head")
    }

    /// Rebuilds from [`Self::tensors`].
    pub fn from_tensors(
        cfg: &ContextRmConfig,
        dim: usize,
        map: &HashMap<String, Tensor>,
    ) -> Result<Self> {
        let head = Mlp::from_tensors(map, "head", 0.0)?;
        if head.inp() != cfg.features.dim(dim) + 2 * dim {
            return Err(Error::Invalid(
                "context head does not fit the embedding width".into(),
            ));
        }
        Ok(ContextRm {
            cfg: cfg.clone(),
            dim,
            head,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reward::data::pairwise_accuracy;
    use crate::reward::synth::criterion_pairs;
    use crate::reward::{BradleyTerryRm, BradleyTerryRmConfig};

    #[test]
    fn the_criterion_decides_and_a_context_free_model_cannot() -> Result<()> {
        // Two criteria with opposite reward directions, half the pairs each.
        let all = criterion_pairs(6000, 2, 16, 8.0, 61)?;
        let train = all.data.select(&(0..4000).collect::<Vec<_>>())?;
        let test = all.data.select(&(4000..6000).collect::<Vec<_>>())?;
        let tc = TrainConfig {
            epochs: 40,
            lr: 3e-3,
            ..Default::default()
        };
        let (bt, _) = BradleyTerryRm::fit(
            &train,
            &BradleyTerryRmConfig {
                features: FeatureMap::Response,
                train: tc.clone(),
                ..Default::default()
            },
        )?;
        let bt_acc = pairwise_accuracy(&bt.pair_logits(&test)?);
        let (cm, _) = ContextRm::fit(
            &train,
            &ContextRmConfig {
                features: FeatureMap::Response,
                train: tc,
                ..Default::default()
            },
        )?;
        let acc = pairwise_accuracy(&cm.pair_logits(&test)?);
        assert!((bt_acc - 0.5).abs() < 0.05, "context-free BT {bt_acc}");
        assert!(acc > 0.78, "context-conditioned {acc}");
        let mut no_ctx = test.clone();
        no_ctx.context = None;
        assert!(crate::reward::data::err_text(cm.pair_logits(&no_ctx)).contains("context"));
        Ok(())
    }
}
