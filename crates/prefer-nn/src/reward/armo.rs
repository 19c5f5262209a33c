//! Absolute-rating multi-objective reward model with mixture-of-experts gating (ArmoRM,
//! paper 3: Wang et al. 2024, "Interpretable Preferences via Multi-Objective Reward
//! Modeling and Mixture-of-Experts", arXiv:2406.12845).
//!
//! Stage 1 (multi-objective regression): k interpretable objectives (helpfulness,
//! honesty, verbosity, ...) are linear probes of the frozen representation, fitted to
//! absolute ratings by ridge regression in closed form:
//!
//! r̂(x, y) = Wᵀ [φ(x, y); 1],  W = argmin ‖X W − S‖² + λ‖W_φ‖²
//!
//! Each objective is standardized on the ratings. Verbosity decorrelation (the paper's
//! length-bias fix): with a verbosity objective v, every objective becomes
//! r'_i = r̂_i − κ_i r̂_v with κ_i = cov(r̂_i, r̂_v)/var(r̂_v) on the ratings (Pearson
//! correlation 0; the paper searches κ for a Spearman target), and r'_v = 0.
//!
//! Stage 2 (gating): a shallow MLP on the prompt embedding gives non-negative weights
//! g(x) = softmax(MLP(e(x))) over the objectives; the reward is
//!
//! R(x, y) = β · g(x)ᵀ r'(x, y)
//!
//! trained with the Bradley–Terry loss on preference pairs, the regression frozen; β is
//! learned (log-parameterized, from `beta_init`).
//!
//! | field | default | symbol |
//! |---|---|---|
//! | `features` | `response_and_product` | φ |
//! | `ridge` | 1.0 | λ |
//! | `verbosity_attribute` | none | v |
//! | `gate_hidden` | `[64]` | gating MLP |
//! | `beta_init` | 5.0 | β |
//! | `train` | [`TrainConfig`] defaults | stage 2 |

use std::collections::{BTreeMap, HashMap};

use candle_core::{D, DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};

use super::data::{
    FeatureMap, PairData, RatingData, TrainConfig, TrainLog, index_tensor, train_loop,
};
use super::head::Mlp;
use crate::encoder::Embeddings;
use crate::loss::ops::log_sigmoid;
use crate::{Error, Result};

/// Configuration of [`Armo`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArmoConfig {
    /// φ for the regression (default `response_and_product`).
    pub features: FeatureMap,
    /// λ of the ridge regression (default 1.0).
    pub ridge: f64,
    /// The objective whose correlation is removed from the others (default none).
    pub verbosity_attribute: Option<String>,
    /// Hidden widths of the gating MLP (default `[64]`).
    pub gate_hidden: Vec<usize>,
    /// Initial β (default 5.0).
    pub beta_init: f64,
    /// Stage-2 optimization.
    pub train: TrainConfig,
}

impl Default for ArmoConfig {
    fn default() -> Self {
        ArmoConfig {
            features: FeatureMap::default(),
            ridge: 1.0,
            verbosity_attribute: None,
            gate_hidden: vec![64],
            beta_init: 5.0,
            train: TrainConfig::default(),
        }
    }
}

impl ArmoConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        if !(self.ridge >= 0.0 && self.ridge.is_finite()) {
            return Err(Error::Config(format!("ridge {} must be >= 0", self.ridge)));
        }
        if !(self.beta_init > 0.0 && self.beta_init.is_finite()) {
            return Err(Error::Config(format!(
                "beta_init {} must be positive",
                self.beta_init
            )));
        }
        if self.gate_hidden.contains(&0) {
            return Err(Error::Config("gate_hidden widths must be positive".into()));
        }
        self.train.validate()
    }
}

impl RatingData {
    /// Ratings from embeddings and per-row score maps. Every row must have every
    /// attribute: a missing one is an error naming the row (`names[i]`, e.g. `file:line`)
    /// and the attribute.
    pub fn from_rows(
        prompt: &Embeddings,
        response: &Embeddings,
        scores: &[BTreeMap<String, f64>],
        attributes: &[String],
        names: &[String],
    ) -> Result<Self> {
        let n = response.len();
        if prompt.len() != n || scores.len() != n || names.len() != n {
            return Err(Error::Invalid(format!(
                "{} prompts, {n} responses, {} score rows and {} names: counts differ",
                prompt.len(),
                scores.len(),
                names.len()
            )));
        }
        if attributes.is_empty() {
            return Err(Error::Invalid("no attributes to model".into()));
        }
        let mut s = Vec::with_capacity(n * attributes.len());
        for (i, row) in scores.iter().enumerate() {
            for a in attributes {
                match row.get(a) {
                    Some(v) if v.is_finite() => s.push(*v as f32),
                    Some(v) => {
                        return Err(Error::Invalid(format!(
                            "{}: attribute `{a}` is {v}, not a number",
                            names[i]
                        )));
                    }
                    None => {
                        let have: Vec<&str> = row.keys().map(String::as_str).collect();
                        return Err(Error::Invalid(format!(
                            "{}: no score for attribute `{a}` (it has: {})",
                            names[i],
                            if have.is_empty() {
                                "none".to_string()
                            } else {
                                have.join(", ")
                            }
                        )));
                    }
                }
            }
        }
        let dev = Device::Cpu;
        Ok(RatingData {
            prompt: prompt.to_tensor(&dev)?,
            response: response.to_tensor(&dev)?,
            scores: Tensor::from_vec(s, (n, attributes.len()), &dev)?,
            attributes: attributes.to_vec(),
        })
    }
}

/// Solves (A + λ I') w = b for a symmetric positive semi-definite A by Cholesky, where I'
/// leaves the last coordinate (the intercept) unpenalized; `b` has `m` columns.
fn ridge_solve(a: &[f64], b: &[f64], p: usize, m: usize, lambda: f64) -> Result<Vec<f64>> {
    let mut l = a.to_vec();
    for i in 0..p - 1 {
        l[i * p + i] += lambda;
    }
    // Tiny jitter keeps the factorization defined for collinear features.
    let jitter = 1e-9
        * (0..p)
            .map(|i| l[i * p + i].abs())
            .fold(0.0, f64::max)
            .max(1e-12);
    for i in 0..p {
        l[i * p + i] += jitter;
    }
    for j in 0..p {
        let mut d = l[j * p + j];
        for k in 0..j {
            d -= l[j * p + k] * l[j * p + k];
        }
        if d <= 0.0 {
            return Err(Error::Invalid(
                "ridge regression: the features are degenerate (raise `ridge`)".into(),
            ));
        }
        let d = d.sqrt();
        l[j * p + j] = d;
        for i in j + 1..p {
            let mut s = l[i * p + j];
            for k in 0..j {
                s -= l[i * p + k] * l[j * p + k];
            }
            l[i * p + j] = s / d;
        }
    }
    let mut x = b.to_vec();
    for c in 0..m {
        // L y = b
        for i in 0..p {
            let mut s = x[i * m + c];
            for k in 0..i {
                s -= l[i * p + k] * x[k * m + c];
            }
            x[i * m + c] = s / l[i * p + i];
        }
        // Lᵀ w = y
        for i in (0..p).rev() {
            let mut s = x[i * m + c];
            for k in i + 1..p {
                s -= l[k * p + i] * x[k * m + c];
            }
            x[i * m + c] = s / l[i * p + i];
        }
    }
    Ok(x)
}

/// An ArmoRM-style reward model on embeddings.
///
/// # Quickstart
/// ```
/// use prefer_nn::reward::{Armo, ArmoConfig, pairwise_accuracy, synth};
/// let d = synth::attribute_data(1200, 900, 3, 8, 0.2, 1)?;
/// let (rm, _) = Armo::fit(&d.ratings, &d.pairs, &ArmoConfig::default())?;
/// let g = rm.gate(&d.pairs.prompt)?;                     // [n, 3]: which objective matters
/// assert!(pairwise_accuracy(&rm.pair_logits(&d.pairs)?) > 0.7);
/// # Ok::<(), prefer_nn::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Armo {
    cfg: ArmoConfig,
    dim: usize,
    attributes: Vec<String>,
    /// `[φ + 1, k]` regression weights (last row: intercept), standardized outputs.
    w: Tensor,
    /// `[k]` decorrelation coefficients κ (0 without a verbosity objective).
    kappa: Tensor,
    /// Index of the verbosity objective.
    verbosity: Option<usize>,
    gate: Mlp,
    log_beta: Var,
}

impl Armo {
    /// Fits stage 1 on `ratings` and stage 2 on `pairs`.
    pub fn fit(
        ratings: &RatingData,
        pairs: &PairData,
        cfg: &ArmoConfig,
    ) -> Result<(Self, TrainLog)> {
        cfg.validate()?;
        pairs.validate()?;
        if ratings.is_empty() {
            return Err(Error::Invalid(
                "no ratings for the multi-objective regression".into(),
            ));
        }
        let dim = ratings.response.dim(1)?;
        if pairs.dim() != dim {
            return Err(Error::Invalid(format!(
                "ratings have embeddings of width {dim}, pairs {}",
                pairs.dim()
            )));
        }
        let k = ratings.attributes.len();
        let verbosity =
            match &cfg.verbosity_attribute {
                None => None,
                Some(v) => Some(ratings.attributes.iter().position(|a| a == v).ok_or_else(
                    || {
                        Error::Invalid(format!(
                            "verbosity attribute `{v}` is not among the rated attributes ({})",
                            ratings.attributes.join(", ")
                        ))
                    },
                )?),
            };
        // Stage 1: ridge regression, standardized targets.
        let x = cfg.features.apply(&ratings.prompt, &ratings.response)?;
        let n = x.dim(0)?;
        let x = Tensor::cat(&[&x, &Tensor::ones((n, 1), DType::F32, &Device::Cpu)?], 1)?
            .to_dtype(DType::F64)?;
        let s = ratings.scores.to_dtype(DType::F64)?;
        let mean = s.mean_keepdim(0)?;
        let sd = s
            .broadcast_sub(&mean)?
            .sqr()?
            .mean_keepdim(0)?
            .sqrt()?
            .clamp(1e-12, f64::MAX)?;
        let z = s.broadcast_sub(&mean)?.broadcast_div(&sd)?;
        let p = x.dim(1)?;
        let xtx = x.t()?.matmul(&x)?.flatten_all()?.to_vec1::<f64>()?;
        let xtz = x.t()?.matmul(&z)?.flatten_all()?.to_vec1::<f64>()?;
        let w = ridge_solve(&xtx, &xtz, p, k, cfg.ridge)?;
        let w = Tensor::from_vec(w, (p, k), &Device::Cpu)?;
        // Decorrelation coefficients on the fitted objectives.
        let pred = x.matmul(&w)?;
        let kappa = match verbosity {
            None => vec![0f64; k],
            Some(v) => {
                let c = pred.broadcast_sub(&pred.mean_keepdim(0)?)?;
                let cv = c.narrow(1, v, 1)?;
                let var_v = cv.sqr()?.mean_all()?.to_scalar::<f64>()?.max(1e-12);
                let cov = c.broadcast_mul(&cv)?.mean(0)?.to_vec1::<f64>()?;
                cov.iter().map(|c| c / var_v).collect()
            }
        };
        let gate = {
            let mut dims = vec![dim];
            dims.extend(&cfg.gate_hidden);
            dims.push(k);
            Mlp::new(&dims, 0.0, cfg.train.seed, &Device::Cpu)?
        };
        let m = Armo {
            cfg: cfg.clone(),
            dim,
            attributes: ratings.attributes.clone(),
            w: w.to_dtype(DType::F32)?,
            kappa: Tensor::from_vec(
                kappa.iter().map(|&v| v as f32).collect::<Vec<_>>(),
                k,
                &Device::Cpu,
            )?,
            verbosity,
            log_beta: Var::new(cfg.beta_init.ln() as f32, &Device::Cpu)?,
            gate,
        };
        // Stage 2: the gate and β on pairs, objectives frozen.
        let oc = m.objectives(&pairs.prompt, &pairs.chosen)?;
        let or = m.objectives(&pairs.prompt, &pairs.rejected)?;
        let mut vars = m.gate.vars();
        vars.push(m.log_beta.clone());
        let log = train_loop(vars, pairs.len(), &cfg.train, |idx, _| {
            let t = index_tensor(idx)?;
            let g = m.gate(&pairs.prompt.index_select(&t, 0)?)?;
            let diff = (oc.index_select(&t, 0)? - or.index_select(&t, 0)?)?;
            let z = (g * diff)?
                .sum(1)?
                .broadcast_mul(&m.log_beta.as_tensor().exp()?)?;
            Ok(log_sigmoid(&z)?.neg()?.mean_all()?)
        })?;
        Ok((m, log))
    }

    /// The adjusted objectives r'(x, y), standardized: `[n, d]` pairs → `[n, k]`.
    pub fn objectives(&self, prompt: &Tensor, response: &Tensor) -> Result<Tensor> {
        let x = self.cfg.features.apply(prompt, response)?;
        let n = x.dim(0)?;
        let x = Tensor::cat(&[&x, &Tensor::ones((n, 1), DType::F32, &Device::Cpu)?], 1)?;
        let r = x.matmul(&self.w)?;
        match self.verbosity {
            None => Ok(r),
            Some(v) => {
                let rv = r.narrow(1, v, 1)?;
                Ok(r.broadcast_sub(&rv.broadcast_mul(&self.kappa.unsqueeze(0)?)?)?)
            }
        }
    }

    /// The raw (standardized, not decorrelated) objective predictions `[n, k]`.
    pub fn raw_objectives(&self, prompt: &Tensor, response: &Tensor) -> Result<Tensor> {
        let x = self.cfg.features.apply(prompt, response)?;
        let n = x.dim(0)?;
        let x = Tensor::cat(&[&x, &Tensor::ones((n, 1), DType::F32, &Device::Cpu)?], 1)?;
        Ok(x.matmul(&self.w)?)
    }

    /// g(x): `[n, d]` prompts → `[n, k]` non-negative weights summing to 1.
    pub fn gate(&self, prompt: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::softmax(
            &self.gate.forward(prompt, None)?,
            D::Minus1,
        )?)
    }

    /// β.
    pub fn beta(&self) -> Result<f32> {
        Ok(self.log_beta.as_tensor().exp()?.to_scalar::<f32>()?)
    }

    /// R(x, y) = β g(x)ᵀ r'(x, y): `[n]`.
    pub fn rewards(&self, prompt: &Tensor, response: &Tensor) -> Result<Tensor> {
        let g = self.gate(prompt)?;
        let o = self.objectives(prompt, response)?;
        Ok(((g * o)?.sum(1)? * f64::from(self.beta()?))?)
    }

    /// R(x, y_w) − R(x, y_l) per pair.
    pub fn pair_logits(&self, data: &PairData) -> Result<Vec<f32>> {
        let c = self.rewards(&data.prompt, &data.chosen)?;
        let r = self.rewards(&data.prompt, &data.rejected)?;
        Ok((c - r)?.to_vec1::<f32>()?)
    }

    /// The objective names.
    pub fn attributes(&self) -> &[String] {
        &self.attributes
    }

    /// The configuration.
    pub fn config(&self) -> &ArmoConfig {
        &self.cfg
    }

    /// Embedding width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Named tensors for saving.
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![
            ("regression.weight".to_string(), self.w.clone()),
            ("regression.kappa".to_string(), self.kappa.clone()),
            (
                "log_beta".to_string(),
                self.log_beta
                    .as_tensor()
                    .detach()
                    .reshape(1)
                    .unwrap_or_else(|_| self.log_beta.as_tensor().detach()),
            ),
        ];
        v.extend(self.gate.tensors("gate"));
        v
    }

    /// Rebuilds from [`Self::tensors`].
    pub fn from_tensors(
        cfg: &ArmoConfig,
        dim: usize,
        attributes: &[String],
        map: &HashMap<String, Tensor>,
    ) -> Result<Self> {
        let get = |n: &str| {
            map.get(n)
                .cloned()
                .ok_or_else(|| Error::Invalid(format!("no tensor `{n}`")))
        };
        let w = get("regression.weight")?;
        let k = attributes.len();
        if w.dims() != [cfg.features.dim(dim) + 1, k] {
            return Err(Error::Invalid(format!(
                "regression weight {:?} does not fit",
                w.dims()
            )));
        }
        let verbosity = cfg
            .verbosity_attribute
            .as_ref()
            .and_then(|v| attributes.iter().position(|a| a == v));
        let lb = get("log_beta")?.flatten_all()?.to_vec1::<f32>()?;
        Ok(Armo {
            cfg: cfg.clone(),
            dim,
            attributes: attributes.to_vec(),
            w,
            kappa: get("regression.kappa")?,
            verbosity,
            gate: Mlp::from_tensors(map, "gate", 0.0)?,
            log_beta: Var::new(lb.first().copied().unwrap_or(0.0), &Device::Cpu)?,
        })
    }
}

/// R² of predictions against targets, per column.
pub fn r_squared(pred: &Tensor, target: &Tensor) -> Result<Vec<f64>> {
    let p = pred.to_dtype(DType::F64)?;
    let t = target.to_dtype(DType::F64)?;
    let ss_res = (&t - &p)?.sqr()?.sum(0)?.to_vec1::<f64>()?;
    let ss_tot = t
        .broadcast_sub(&t.mean_keepdim(0)?)?
        .sqr()?
        .sum(0)?
        .to_vec1::<f64>()?;
    Ok(ss_res
        .iter()
        .zip(&ss_tot)
        .map(|(r, t)| 1.0 - r / t.max(1e-300))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reward::data::pairwise_accuracy;
    use crate::reward::synth::attribute_data;

    #[test]
    fn regression_recovers_objectives_and_gate_picks_the_relevant_one() -> Result<()> {
        // One ground truth, split into train and test.
        let all = attribute_data(3900, 3900, 3, 16, 0.3, 5)?;
        let part = |r: &RatingData, a: usize, n: usize| -> Result<RatingData> {
            Ok(RatingData {
                prompt: r.prompt.narrow(0, a, n)?,
                response: r.response.narrow(0, a, n)?,
                scores: r.scores.narrow(0, a, n)?,
                attributes: r.attributes.clone(),
            })
        };
        let (train_r, test_r) = (part(&all.ratings, 0, 3000)?, part(&all.ratings, 3000, 900)?);
        let train_p = all.pairs.select(&(0..2400).collect::<Vec<_>>())?;
        let test_p = all.pairs.select(&(2400..3900).collect::<Vec<_>>())?;
        let relevant = &all.relevant[2400..];
        let cfg = ArmoConfig {
            features: FeatureMap::Response,
            train: TrainConfig {
                epochs: 30,
                lr: 0.01,
                ..Default::default()
            },
            ..Default::default()
        };
        let (rm, _) = Armo::fit(&train_r, &train_p, &cfg)?;
        // Stage 1 on held-out ratings: predictions are standardized with the training
        // mean and sd, so compare with the targets standardized the same way.
        let pred = rm
            .raw_objectives(&test_r.prompt, &test_r.response)?
            .to_dtype(DType::F64)?;
        let s = train_r.scores.to_dtype(DType::F64)?;
        let (mu, sd) = (
            s.mean_keepdim(0)?,
            s.broadcast_sub(&s.mean_keepdim(0)?)?
                .sqr()?
                .mean_keepdim(0)?
                .sqrt()?,
        );
        let z = test_r
            .scores
            .to_dtype(DType::F64)?
            .broadcast_sub(&mu)?
            .broadcast_div(&sd)?;
        for (a, r2) in r_squared(&pred, &z)?.iter().enumerate() {
            // Noise sd 0.3 against a signal sd ≈ 1.5·√16/2/√16 = 0.75: R² ≤ 0.86.
            assert!(*r2 > 0.8, "R² of attribute {a}: {r2}");
        }
        // Stage 2: the gate puts most weight on the attribute that decides the cluster.
        let g = rm.gate(&test_p.prompt)?.to_vec2::<f32>()?;
        let right = g
            .iter()
            .zip(relevant)
            .filter(|(row, j)| row.iter().cloned().fold(f32::MIN, f32::max) == row[**j])
            .count() as f64
            / g.len() as f64;
        assert!(
            right > 0.9,
            "gate picks the relevant objective for {right} of prompts"
        );
        let acc = pairwise_accuracy(&rm.pair_logits(&test_p)?);
        // A fixed equal mixture of the objectives cannot follow the context.
        let oc = rm.objectives(&test_p.prompt, &test_p.chosen)?;
        let or = rm.objectives(&test_p.prompt, &test_p.rejected)?;
        let diff = (oc - or)?.to_vec2::<f32>()?;
        let uniform = pairwise_accuracy(&diff.iter().map(|r| r.iter().sum()).collect::<Vec<f32>>());
        // An oracle gate (one-hot on the true relevant objective) bounds what gating can do.
        let oracle = pairwise_accuracy(
            &diff
                .iter()
                .zip(relevant)
                .map(|(r, &j)| r[j])
                .collect::<Vec<f32>>(),
        );
        assert!(acc > oracle - 0.02, "ArmoRM {acc} vs oracle gate {oracle}");
        assert!(
            acc > uniform + 0.1,
            "ArmoRM {acc} vs uniform mixture {uniform}"
        );
        Ok(())
    }

    #[test]
    fn verbosity_decorrelation_and_missing_scores() -> Result<()> {
        let mut d = attribute_data(1500, 600, 3, 8, 0.2, 7)?;
        // Make attribute 0 partly verbosity: s0 += 2 * s2.
        let s = d.ratings.scores.to_vec2::<f32>()?;
        let s: Vec<f32> = s
            .iter()
            .flat_map(|r| vec![r[0] + 2.0 * r[2], r[1], r[2]])
            .collect();
        d.ratings.scores = Tensor::from_vec(s, (1500, 3), &Device::Cpu)?;
        d.ratings.attributes = vec!["help".into(), "honest".into(), "verbosity".into()];
        let cfg = ArmoConfig {
            features: FeatureMap::Response,
            verbosity_attribute: Some("verbosity".into()),
            train: TrainConfig {
                epochs: 2,
                ..Default::default()
            },
            ..Default::default()
        };
        let (rm, _) = Armo::fit(&d.ratings, &d.pairs, &cfg)?;
        let o = rm
            .objectives(&d.ratings.prompt, &d.ratings.response)?
            .to_dtype(DType::F64)?;
        let c = o.broadcast_sub(&o.mean_keepdim(0)?)?;
        let cols: Vec<Vec<f64>> = (0..3)
            .map(|j| {
                c.narrow(1, j, 1)
                    .and_then(|t| t.flatten_all())
                    .and_then(|t| t.to_vec1::<f64>())
            })
            .collect::<candle_core::Result<_>>()?;
        let raw = rm
            .raw_objectives(&d.ratings.prompt, &d.ratings.response)?
            .to_dtype(DType::F64)?;
        let rv: Vec<f64> = raw.narrow(1, 2, 1)?.flatten_all()?.to_vec1::<f64>()?;
        let mv = rv.iter().sum::<f64>() / rv.len() as f64;
        let corr = |a: &[f64]| {
            let cov: f64 = a.iter().zip(&rv).map(|(x, y)| x * (y - mv)).sum();
            let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
            let nv = rv.iter().map(|y| (y - mv).powi(2)).sum::<f64>().sqrt();
            cov / (na * nv).max(1e-300)
        };
        assert!(
            corr(&cols[0]).abs() < 1e-4,
            "help still correlates: {}",
            corr(&cols[0])
        );
        assert!(
            cols[2].iter().all(|v| v.abs() < 1e-4),
            "verbosity objective is removed"
        );
        // A rating without an attribute: the error names the row and the attribute.
        let e = |rows: usize| Embeddings {
            dim: 2,
            data: vec![0.5; 2 * rows],
        };
        let mut scores = vec![BTreeMap::new(), BTreeMap::new()];
        scores[0].insert("help".to_string(), 3.0);
        scores[1].insert("verbosity".to_string(), 2.0);
        let err = crate::reward::data::err_text(RatingData::from_rows(
            &e(2),
            &e(2),
            &scores,
            &["help".into()],
            &["a.jsonl:1".into(), "a.jsonl:2".into()],
        ));
        assert!(err.contains("a.jsonl:2") && err.contains("`help`"), "{err}");
        let bad = ArmoConfig {
            verbosity_attribute: Some("length".into()),
            ..cfg
        };
        assert!(Armo::fit(&d.ratings, &d.pairs, &bad).is_err());
        Ok(())
    }
}
