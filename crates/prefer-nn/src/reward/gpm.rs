//! The general preference model (GPM, paper 6: Zhang et al. 2024, "General Preference
//! Modeling with Preference Representations", arXiv:2410.02197): each response is embedded
//! as a unit vector v(y) ∈ ℝ^{2k}, and the preference score is a skew-symmetric bilinear
//! form
//!
//! s(y₁ ≻ y₂ | x) = v(y₁)ᵀ R(x)ᵀ v(y₂) = Σ_{l<k} λ_l(x) (v₁[2l]·v₂[2l+1] − v₁[2l+1]·v₂[2l])
//!
//! with P(y₁ ≻ y₂ | x) = σ(s / τ). R(x) is block diagonal with blocks [[0, −λ_l], [λ_l, 0]];
//! λ(x) = softmax(W_p e(x)) when `prompt_gate` is on (the paper's prompt head), else all 1
//! (the paper's fixed R). s(y₁, y₂) = −s(y₂, y₁) by construction, so P(y₁ ≻ y₂) + P(y₂ ≻ y₁)
//! = 1, and unlike any scalar reward it can represent cycles (A ≻ B ≻ C ≻ A). Queries are
//! linear in the number of responses: each is embedded once.
//!
//! Checked against the authors' evaluation code (`rewardbench/models/gpm.py`:
//! `generate_high_dim_result`, `create_skew_symmetric_block_matrix`, `F.normalize` of the
//! value head, τ = 0.1).
//!
//! | field | default | symbol |
//! |---|---|---|
//! | `value_dim` | 4 (even) | 2k |
//! | `tau` | 0.1 | τ (the paper's β scale of the score) |
//! | `prompt_gate` | false | λ(x) |
//! | `features`, `hidden`, `dropout`, `train` | as [`super::BradleyTerryRmConfig`] | φ |

use std::collections::HashMap;

use candle_core::{D, Device, Tensor};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::data::{
    FeatureMap, PairData, TrainConfig, TrainLog, gather, index_tensor, soft_pair_loss, train_loop,
};
use super::head::Mlp;
use crate::encoder::l2_normalize;
use crate::{Error, Result};

/// Configuration of [`Gpm`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GpmConfig {
    /// 2k, the width of the preference embedding (even; default 4).
    pub value_dim: usize,
    /// τ: P = σ(s/τ) (default 0.1).
    pub tau: f64,
    /// Learn λ(x) = softmax(W e(x)) per prompt (default false: λ = 1).
    pub prompt_gate: bool,
    /// φ (default `response_and_product`).
    pub features: FeatureMap,
    /// Hidden widths of the embedding head (default none).
    pub hidden: Vec<usize>,
    /// Dropout after hidden layers (default 0).
    pub dropout: f32,
    /// Optimization.
    pub train: TrainConfig,
}

impl Default for GpmConfig {
    fn default() -> Self {
        GpmConfig {
            value_dim: 4,
            tau: 0.1,
            prompt_gate: false,
            features: FeatureMap::default(),
            hidden: Vec::new(),
            dropout: 0.0,
            train: TrainConfig::default(),
        }
    }
}

impl GpmConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        if self.value_dim == 0 || !self.value_dim.is_multiple_of(2) {
            return Err(Error::Config(format!(
                "value_dim {} must be a positive even number (2k)",
                self.value_dim
            )));
        }
        if !(self.tau > 0.0 && self.tau.is_finite()) {
            return Err(Error::Config(format!("tau {} must be positive", self.tau)));
        }
        if self.hidden.contains(&0) || !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::Config("hidden widths > 0, dropout in [0, 1)".into()));
        }
        self.train.validate()
    }
}

/// A general preference model on embeddings.
///
/// # Quickstart
/// ```
/// use prefer_nn::reward::{FeatureMap, Gpm, GpmConfig, TrainConfig, pairwise_accuracy, synth};
/// let data = synth::cyclic_pairs(4000, 8, 6.0, 1)?;      // rock-paper-scissors preferences
/// let cfg = GpmConfig {
///     value_dim: 2,
///     features: FeatureMap::Response,
///     train: TrainConfig { lr: 0.01, epochs: 25, ..Default::default() },
///     ..Default::default()
/// };
/// let (gpm, _) = Gpm::fit(&data, &cfg)?;
/// assert!(pairwise_accuracy(&gpm.pair_logits(&data)?) > 0.8);
/// # Ok::<(), prefer_nn::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Gpm {
    cfg: GpmConfig,
    dim: usize,
    value: Mlp,
    gate: Option<Mlp>,
}

impl Gpm {
    /// A fresh model for embeddings of width `dim`.
    pub fn new(dim: usize, cfg: &GpmConfig) -> Result<Self> {
        cfg.validate()?;
        let mut dims = vec![cfg.features.dim(dim)];
        dims.extend(&cfg.hidden);
        dims.push(cfg.value_dim);
        let value = Mlp::new(&dims, cfg.dropout, cfg.train.seed, &Device::Cpu)?;
        let gate = if cfg.prompt_gate {
            Some(Mlp::new(
                &[dim, cfg.value_dim / 2],
                0.0,
                cfg.train.seed + 1,
                &Device::Cpu,
            )?)
        } else {
            None
        };
        Ok(Gpm {
            cfg: cfg.clone(),
            dim,
            value,
            gate,
        })
    }

    /// Trains on `data` (a `strength` annotation is used as a soft label).
    pub fn fit(data: &PairData, cfg: &GpmConfig) -> Result<(Self, TrainLog)> {
        data.validate()?;
        let m = Self::new(data.dim(), cfg)?;
        let mut vars = m.value.vars();
        if let Some(g) = &m.gate {
            vars.extend(g.vars());
        }
        let log = train_loop(vars, data.len(), &cfg.train, |idx, rng| {
            let t = index_tensor(idx)?;
            let sub = |x: &Tensor| x.index_select(&t, 0);
            let s = m.scores_rng(
                &sub(&data.prompt)?,
                &sub(&data.chosen)?,
                &sub(&data.rejected)?,
                Some(rng),
            )?;
            let z = (s / m.cfg.tau)?;
            let p = match &data.strength {
                Some(st) => gather(st, idx)?,
                None => Tensor::ones(idx.len(), candle_core::DType::F32, &Device::Cpu)?,
            };
            Ok(soft_pair_loss(&z, &p)?.mean_all()?)
        })?;
        Ok((m, log))
    }

    /// The unit preference embeddings v(x, y).
    ///
    /// # Shapes
    /// `prompt`, `response`: `[n, d]` → `[n, 2k]`
    pub fn embed(
        &self,
        prompt: &Tensor,
        response: &Tensor,
        rng: Option<&mut ChaCha8Rng>,
    ) -> Result<Tensor> {
        let phi = self.cfg.features.apply(prompt, response)?;
        l2_normalize(&self.value.forward(&phi, rng)?)
    }

    /// λ(x) per prompt: `[n, k]` (all ones without the prompt gate).
    pub fn eigenvalues(&self, prompt: &Tensor) -> Result<Tensor> {
        let n = prompt.dim(0)?;
        match &self.gate {
            Some(g) => Ok(candle_nn::ops::softmax(
                &g.forward(prompt, None)?,
                D::Minus1,
            )?),
            None => Ok(Tensor::ones(
                (n, self.cfg.value_dim / 2),
                candle_core::DType::F32,
                &Device::Cpu,
            )?),
        }
    }

    fn scores_rng(
        &self,
        prompt: &Tensor,
        a: &Tensor,
        b: &Tensor,
        mut rng: Option<&mut ChaCha8Rng>,
    ) -> Result<Tensor> {
        let va = self.embed(prompt, a, rng.as_deref_mut())?;
        let vb = self.embed(prompt, b, rng)?;
        skew_score(&va, &vb, &self.eigenvalues(prompt)?)
    }

    /// s(y₁ ≻ y₂ | x) per row (before dividing by τ).
    pub fn scores(&self, prompt: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        self.scores_rng(prompt, a, b, None)
    }

    /// s(y_w ≻ y_l | x)/τ per pair: the logit of P(chosen ≻ rejected).
    pub fn pair_logits(&self, data: &PairData) -> Result<Vec<f32>> {
        let s = self.scores(&data.prompt, &data.chosen, &data.rejected)?;
        Ok((s / self.cfg.tau)?.to_vec1::<f32>()?)
    }

    /// The configuration.
    pub fn config(&self) -> &GpmConfig {
        &self.cfg
    }

    /// Embedding width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Named tensors for saving.
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        let mut v = self.value.tensors("value");
        if let Some(g) = &self.gate {
            v.extend(g.tensors("gate"));
        }
        v
    }

    /// Rebuilds from [`Self::tensors`].
    pub fn from_tensors(
        cfg: &GpmConfig,
        dim: usize,
        map: &HashMap<String, Tensor>,
    ) -> Result<Self> {
        cfg.validate()?;
        let value = Mlp::from_tensors(map, "value", cfg.dropout)?;
        if value.inp() != cfg.features.dim(dim) || value.out() != cfg.value_dim {
            return Err(Error::Invalid(
                "GPM value head does not match its configuration".into(),
            ));
        }
        let gate = if cfg.prompt_gate {
            Some(Mlp::from_tensors(map, "gate", 0.0)?)
        } else {
            None
        };
        Ok(Gpm {
            cfg: cfg.clone(),
            dim,
            value,
            gate,
        })
    }
}

/// Σ_l λ_l (a[2l]·b[2l+1] − a[2l+1]·b[2l]) per row.
///
/// # Shapes
/// `a`, `b`: `[n, 2k]`, `lambda`: `[n, k]` → `[n]`
pub fn skew_score(a: &Tensor, b: &Tensor, lambda: &Tensor) -> Result<Tensor> {
    let (n, dd) = a.dims2()?;
    let k = dd / 2;
    let a = a.reshape((n, k, 2))?;
    let b = b.reshape((n, k, 2))?;
    let a0 = a.narrow(2, 0, 1)?.squeeze(2)?;
    let a1 = a.narrow(2, 1, 1)?.squeeze(2)?;
    let b0 = b.narrow(2, 0, 1)?.squeeze(2)?;
    let b1 = b.narrow(2, 1, 1)?.squeeze(2)?;
    let per_block = ((a0 * b1)? - (a1 * b0)?)?;
    Ok((per_block * lambda)?.sum(1)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reward::data::pairwise_accuracy;
    use crate::reward::synth::cyclic_pairs;
    use crate::reward::{BradleyTerryRm, BradleyTerryRmConfig};

    #[test]
    fn cyclic_preferences_bt_at_chance_gpm_not() -> Result<()> {
        // Items on a circle, each preferred to the half circle behind it. By rotation
        // symmetry the best Bradley–Terry fit is a constant reward: P = 1/2 everywhere.
        let train = cyclic_pairs(4000, 8, 6.0, 1)?;
        let test = cyclic_pairs(3000, 8, 6.0, 2)?;
        let train_cfg = TrainConfig {
            epochs: 25,
            lr: 0.01,
            ..Default::default()
        };
        let (bt, _) = BradleyTerryRm::fit(
            &train,
            &BradleyTerryRmConfig {
                features: FeatureMap::Response,
                hidden: vec![32],
                train: train_cfg.clone(),
                ..Default::default()
            },
        )?;
        let bt_logits = bt.pair_logits(&test)?;
        let bt_acc = pairwise_accuracy(&bt_logits);
        let bt_loss: f64 = bt_logits
            .iter()
            .map(|&z| (1.0 + (-f64::from(z)).exp()).ln())
            .sum::<f64>()
            / bt_logits.len() as f64;
        let (gpm, _) = Gpm::fit(
            &train,
            &GpmConfig {
                value_dim: 2,
                features: FeatureMap::Response,
                train: train_cfg,
                ..Default::default()
            },
        )?;
        let gpm_acc = pairwise_accuracy(&gpm.pair_logits(&test)?);
        // 3000 test pairs: sd of a chance accuracy ≈ 0.009.
        assert!((bt_acc - 0.5).abs() < 0.05, "BT accuracy {bt_acc}");
        assert!(
            bt_loss > std::f64::consts::LN_2 - 0.01,
            "BT log-loss {bt_loss}"
        );
        // The labels are noisy (κ = 6): the true model scores ~0.87 on them.
        assert!(gpm_acc > 0.8, "GPM accuracy {gpm_acc}");
        Ok(())
    }

    #[test]
    fn scores_are_skew_symmetric_and_match_the_block_formula() -> Result<()> {
        let d = Device::Cpu;
        let data = cyclic_pairs(5, 6, 1.0, 3)?;
        let gpm = Gpm::new(
            6,
            &GpmConfig {
                prompt_gate: true,
                value_dim: 6,
                ..Default::default()
            },
        )?;
        let ab = gpm
            .scores(&data.prompt, &data.chosen, &data.rejected)?
            .to_vec1::<f32>()?;
        let ba = gpm
            .scores(&data.prompt, &data.rejected, &data.chosen)?
            .to_vec1::<f32>()?;
        for (x, y) in ab.iter().zip(&ba) {
            assert!((x + y).abs() < 1e-6);
        }
        // Against the explicit matrix form vᵀ Rᵀ w of the authors' code.
        let a = Tensor::new(&[[0.6f32, 0.8, 0.0, 1.0]], &d)?;
        let b = Tensor::new(&[[1.0f32, 0.0, 0.6, -0.8]], &d)?;
        let lam = Tensor::new(&[[0.25f32, 0.75]], &d)?;
        let s = skew_score(&a, &b, &lam)?.to_vec1::<f32>()?[0];
        // R[0,1] = −λ0, R[1,0] = λ0, R[2,3] = −λ1, R[3,2] = λ1; s = aᵀ Rᵀ b.
        let (av, bv, l) = (
            [0.6f32, 0.8, 0.0, 1.0],
            [1.0f32, 0.0, 0.6, -0.8],
            [0.25f32, 0.75],
        );
        let mut r = [[0f32; 4]; 4];
        r[0][1] = -l[0];
        r[1][0] = l[0];
        r[2][3] = -l[1];
        r[3][2] = l[1];
        let mut want = 0f32;
        for i in 0..4 {
            for j in 0..4 {
                want += av[i] * r[j][i] * bv[j];
            }
        }
        assert!((s - want).abs() < 1e-6, "{s} vs {want}");
        assert!(
            GpmConfig {
                value_dim: 3,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        Ok(())
    }
}
