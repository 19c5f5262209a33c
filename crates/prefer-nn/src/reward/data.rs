//! Inputs of the embedding reward models: pairs and ratings as embedding matrices, the
//! feature map from (prompt, response) embeddings to a head's input, and the training loop
//! every head shares.

use std::time::Instant;

use crate::optim::{AdamW, AdamWConfig};
use candle_core::{DType, Device, Tensor, Var};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::encoder::Embeddings;
use crate::loss::ops::log_sigmoid;
use crate::{Error, Result};

/// Preference pairs as embeddings: row `i` is prompt `x_i`, chosen `y_w,i`, rejected
/// `y_l,i`, with optional per-pair annotations.
#[derive(Debug, Clone)]
pub struct PairData {
    /// `[n, d]` prompt embeddings (zeros when the data has no prompt).
    pub prompt: Tensor,
    /// `[n, d]` chosen-response embeddings.
    pub chosen: Tensor,
    /// `[n, d]` rejected-response embeddings.
    pub rejected: Tensor,
    /// Per-pair margin m (TRL's `margin`), if any.
    pub margin: Option<Vec<f32>>,
    /// Per-pair strength: the probability that chosen is better (soft label), if any.
    pub strength: Option<Vec<f32>>,
    /// Per-pair user id (personalized models), if any.
    pub user: Option<Vec<String>>,
    /// `[n, d]` embeddings of the criterion / context string (context-conditioned models).
    pub context: Option<Tensor>,
}

impl PairData {
    /// Pairs from embedding rows of equal count and width; `prompt = None` uses zeros.
    pub fn new(
        prompt: Option<&Embeddings>,
        chosen: &Embeddings,
        rejected: &Embeddings,
    ) -> Result<Self> {
        let dev = Device::Cpu;
        let n = chosen.len();
        let d = chosen.dim;
        if rejected.len() != n || rejected.dim != d {
            return Err(Error::Invalid(format!(
                "chosen [{n}, {d}] and rejected [{}, {}] embeddings differ",
                rejected.len(),
                rejected.dim
            )));
        }
        let prompt = match prompt {
            Some(p) => {
                if p.len() != n || p.dim != d {
                    return Err(Error::Invalid(format!(
                        "prompt embeddings [{}, {}] do not match the responses [{n}, {d}]",
                        p.len(),
                        p.dim
                    )));
                }
                p.to_tensor(&dev)?
            }
            None => Tensor::zeros((n, d), DType::F32, &dev)?,
        };
        Ok(PairData {
            prompt,
            chosen: chosen.to_tensor(&dev)?,
            rejected: rejected.to_tensor(&dev)?,
            margin: None,
            strength: None,
            user: None,
            context: None,
        })
    }

    /// Pairs from tensors `[n, d]` (prompt may be zeros).
    pub fn from_tensors(prompt: Tensor, chosen: Tensor, rejected: Tensor) -> Result<Self> {
        let (n, d) = chosen.dims2()?;
        for (name, t) in [("prompt", &prompt), ("rejected", &rejected)] {
            if t.dims() != [n, d] {
                return Err(Error::Invalid(format!(
                    "{name} {:?} does not match chosen [{n}, {d}]",
                    t.dims()
                )));
            }
        }
        Ok(PairData {
            prompt: prompt.to_dtype(DType::F32)?,
            chosen: chosen.to_dtype(DType::F32)?,
            rejected: rejected.to_dtype(DType::F32)?,
            margin: None,
            strength: None,
            user: None,
            context: None,
        })
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.chosen.dims().first().copied().unwrap_or(0)
    }

    /// Whether there is no pair.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Embedding width.
    pub fn dim(&self) -> usize {
        self.chosen.dims().get(1).copied().unwrap_or(0)
    }

    /// The pairs at `idx`, in that order (annotations follow).
    pub fn select(&self, idx: &[usize]) -> Result<Self> {
        let n = self.len();
        if let Some(&bad) = idx.iter().find(|&&i| i >= n) {
            return Err(Error::Invalid(format!(
                "pair index {bad} out of range ({n} pairs)"
            )));
        }
        let t = Tensor::from_vec(
            idx.iter().map(|&i| i as u32).collect::<Vec<_>>(),
            idx.len(),
            &Device::Cpu,
        )?;
        let pick_f = |v: &Option<Vec<f32>>| v.as_ref().map(|v| idx.iter().map(|&i| v[i]).collect());
        Ok(PairData {
            prompt: self.prompt.index_select(&t, 0)?,
            chosen: self.chosen.index_select(&t, 0)?,
            rejected: self.rejected.index_select(&t, 0)?,
            margin: pick_f(&self.margin),
            strength: pick_f(&self.strength),
            user: self
                .user
                .as_ref()
                .map(|u| idx.iter().map(|&i| u[i].clone()).collect()),
            context: self
                .context
                .as_ref()
                .map(|c| c.index_select(&t, 0))
                .transpose()?,
        })
    }

    /// The same pairs with chosen and rejected swapped where `flip[i]` (strengths become
    /// 1 − p; margins keep their value).
    pub fn flipped(&self, flip: &[bool]) -> Result<Self> {
        if flip.len() != self.len() {
            return Err(Error::Invalid(format!(
                "{} flip flags for {} pairs",
                flip.len(),
                self.len()
            )));
        }
        let m = Tensor::from_vec(
            flip.iter().map(|&f| u8::from(f)).collect::<Vec<_>>(),
            (flip.len(), 1),
            &Device::Cpu,
        )?
        .broadcast_as(self.chosen.shape())?;
        let mut out = self.clone();
        out.chosen = m.where_cond(&self.rejected, &self.chosen)?;
        out.rejected = m.where_cond(&self.chosen, &self.rejected)?;
        if let Some(s) = &mut out.strength {
            for (p, &f) in s.iter_mut().zip(flip) {
                if f {
                    *p = 1.0 - *p;
                }
            }
        }
        Ok(out)
    }

    /// Checks that the annotation vectors have one entry per pair.
    pub fn validate(&self) -> Result<()> {
        let n = self.len();
        if n == 0 {
            return Err(Error::Invalid("no pairs".into()));
        }
        let check = |name: &str, len: Option<usize>| match len {
            Some(l) if l != n => Err(Error::Invalid(format!(
                "{name} has {l} entries for {n} pairs"
            ))),
            _ => Ok(()),
        };
        check("margin", self.margin.as_ref().map(Vec::len))?;
        check("strength", self.strength.as_ref().map(Vec::len))?;
        check("user", self.user.as_ref().map(Vec::len))?;
        check(
            "context",
            self.context
                .as_ref()
                .and_then(|c| c.dims().first().copied()),
        )?;
        if let Some(s) = &self.strength
            && let Some((i, p)) = s
                .iter()
                .enumerate()
                .find(|(_, p)| !(0.0..=1.0).contains(*p))
        {
            return Err(Error::Invalid(format!(
                "pair {i}: strength {p} is not in [0, 1]"
            )));
        }
        Ok(())
    }
}

/// Absolute ratings as embeddings: response `i` of prompt `x_i` has a score per attribute.
#[derive(Debug, Clone)]
pub struct RatingData {
    /// `[n, d]` prompt embeddings.
    pub prompt: Tensor,
    /// `[n, d]` response embeddings.
    pub response: Tensor,
    /// `[n, k]` scores.
    pub scores: Tensor,
    /// The k attribute names.
    pub attributes: Vec<String>,
}

impl RatingData {
    /// Number of ratings.
    pub fn len(&self) -> usize {
        self.response.dims().first().copied().unwrap_or(0)
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a head sees a (prompt, response) pair of embeddings e(x), e(y).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureMap {
    /// φ = e(y): the response alone.
    Response,
    /// φ = [e(y), e(x) ⊙ e(y)]: the response and its element-wise agreement with the
    /// prompt (for unit vectors the second half sums to the cosine similarity). Default.
    #[default]
    ResponseAndProduct,
    /// φ = [e(x), e(y)].
    Concat,
}

impl FeatureMap {
    /// Input width of the head for embeddings of width `d`.
    pub fn dim(self, d: usize) -> usize {
        match self {
            FeatureMap::Response => d,
            FeatureMap::ResponseAndProduct | FeatureMap::Concat => 2 * d,
        }
    }

    /// φ(x, y).
    ///
    /// # Shapes
    /// `prompt`, `response`: `[n, d]` → `[n, dim(d)]`
    pub fn apply(self, prompt: &Tensor, response: &Tensor) -> Result<Tensor> {
        Ok(match self {
            FeatureMap::Response => response.clone(),
            FeatureMap::ResponseAndProduct => Tensor::cat(&[response, &(prompt * response)?], 1)?,
            FeatureMap::Concat => Tensor::cat(&[prompt, response], 1)?,
        })
    }
}

/// What a personalized model does with a user id it never saw in training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownUser {
    /// An error naming the user (default): a personalized score for a stranger would be a
    /// guess presented as a measurement.
    #[default]
    Error,
    /// Score with the population model (each model documents what that is), explicitly.
    Population,
}

/// The users a personalized model was trained on, by id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserIndex {
    ids: Vec<String>,
    #[serde(skip)]
    map: std::collections::HashMap<String, usize>,
}

impl UserIndex {
    /// The distinct ids of `users`, in order of first appearance.
    pub fn new(users: &[String]) -> Self {
        let mut idx = UserIndex::default();
        for u in users {
            if !idx.map.contains_key(u) {
                idx.map.insert(u.clone(), idx.ids.len());
                idx.ids.push(u.clone());
            }
        }
        idx
    }

    /// From a saved list of ids.
    pub fn from_ids(ids: Vec<String>) -> Self {
        Self::new(&ids)
    }

    /// The ids, by index.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The index of a user, if known.
    pub fn get(&self, user: &str) -> Option<usize> {
        self.map.get(user).copied()
    }

    /// The index of each pair's user: `Some(i)` when known, `None` for an unknown user
    /// under [`UnknownUser::Population`], an error naming the user otherwise.
    pub fn resolve(
        &self,
        users: &[String],
        policy: UnknownUser,
        model: &str,
    ) -> Result<Vec<Option<usize>>> {
        users
            .iter()
            .enumerate()
            .map(|(i, u)| match (self.get(u), policy) {
                (Some(k), _) => Ok(Some(k)),
                (None, UnknownUser::Population) => Ok(None),
                (None, UnknownUser::Error) => Err(Error::Invalid(format!(
                    "pair {i}: user `{u}` was not seen when the {model} model was trained \
                     ({} users known); adapt the model to this user first, or score with the \
                     population model explicitly (unknown_user = population)",
                    self.len()
                ))),
            })
            .collect()
    }
}

/// The user ids of personalized data, or an error saying they are missing.
pub fn require_users<'a>(data: &'a PairData, model: &str) -> Result<&'a [String]> {
    data.user.as_deref().ok_or_else(|| {
        Error::Invalid(format!(
            "the {model} model is personalized: every pair needs a `user_id`"
        ))
    })
}

/// Optimization settings shared by the heads (AdamW, mini-batches, epochs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the data (default 30).
    pub epochs: usize,
    /// Pairs per step (default 64).
    pub batch_size: usize,
    /// AdamW learning rate (default 1e-3).
    pub lr: f64,
    /// AdamW decoupled weight decay (default 1e-4).
    pub weight_decay: f64,
    /// Seed of initialization, shuffling and dropout (default 0).
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 30,
            batch_size: 64,
            lr: 1e-3,
            weight_decay: 1e-4,
            seed: 0,
        }
    }
}

impl TrainConfig {
    /// Checks positivity.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 || self.batch_size == 0 {
            return Err(Error::Config(
                "epochs and batch_size must be positive".into(),
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::Config(format!("lr {} must be positive", self.lr)));
        }
        if self.weight_decay.is_nan() || self.weight_decay < 0.0 {
            return Err(Error::Config("weight_decay must be >= 0".into()));
        }
        Ok(())
    }
}

/// What a training run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainLog {
    /// Mean loss of each epoch.
    pub epoch_loss: Vec<f64>,
    /// Wall-clock seconds of each epoch.
    pub epoch_seconds: Vec<f64>,
}

impl TrainLog {
    /// Appends another log (a second training stage).
    pub fn extend(&mut self, other: TrainLog) {
        self.epoch_loss.extend(other.epoch_loss);
        self.epoch_seconds.extend(other.epoch_seconds);
    }
}

/// Trains `vars` with AdamW over `n` examples in shuffled mini-batches; `batch_loss`
/// returns the scalar loss of the examples it is given (their indices, and a generator
/// for dropout).
pub fn train_loop(
    vars: Vec<Var>,
    n: usize,
    cfg: &TrainConfig,
    mut batch_loss: impl FnMut(&[usize], &mut ChaCha8Rng) -> Result<Tensor>,
) -> Result<TrainLog> {
    cfg.validate()?;
    if n == 0 {
        return Err(Error::Invalid("no training examples".into()));
    }
    let mut opt = AdamW::unnamed(
        vars,
        AdamWConfig {
            lr: cfg.lr,
            weight_decay: cfg.weight_decay,
            ..Default::default()
        },
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed);
    let mut order: Vec<usize> = (0..n).collect();
    let mut log = TrainLog::default();
    for _ in 0..cfg.epochs {
        let t0 = Instant::now();
        order.shuffle(&mut rng);
        let (mut sum, mut count) = (0.0f64, 0usize);
        for chunk in order.chunks(cfg.batch_size) {
            let loss = batch_loss(chunk, &mut rng)?;
            let v = loss.to_scalar::<f32>()? as f64;
            if !v.is_finite() {
                return Err(Error::Invalid(format!(
                    "loss became {v}; lower the learning rate"
                )));
            }
            opt.backward_step(&loss)?;
            sum += v * chunk.len() as f64;
            count += chunk.len();
        }
        log.epoch_loss.push(sum / count as f64);
        log.epoch_seconds.push(t0.elapsed().as_secs_f64());
    }
    Ok(log)
}

/// The pairwise logistic loss with a soft target p (the probability that the first
/// response is better), per pair: −p log σ(z) − (1 − p) log σ(−z). p = 1 is
/// Bradley–Terry's −log σ(z); p = 1 − ε is label smoothing.
///
/// # Shapes
/// `z`, `p`: `[n]` → `[n]`
pub fn soft_pair_loss(z: &Tensor, p: &Tensor) -> Result<Tensor> {
    let a = (p * log_sigmoid(z)?)?;
    let b = (p.affine(-1.0, 1.0)? * log_sigmoid(&z.neg()?)?)?;
    Ok((a + b)?.neg()?)
}

/// A `[n]` f32 tensor of indices' values.
pub(crate) fn gather(v: &[f32], idx: &[usize]) -> Result<Tensor> {
    Ok(Tensor::from_vec(
        idx.iter().map(|&i| v[i]).collect::<Vec<_>>(),
        idx.len(),
        &Device::Cpu,
    )?)
}

/// A `[n]` u32 tensor of indices.
pub(crate) fn index_tensor(idx: &[usize]) -> Result<Tensor> {
    Ok(Tensor::from_vec(
        idx.iter().map(|&i| i as u32).collect::<Vec<_>>(),
        idx.len(),
        &Device::Cpu,
    )?)
}

/// Fraction of `logits > 0`, ties (exactly 0) counted as half.
pub fn pairwise_accuracy(logits: &[f32]) -> f64 {
    if logits.is_empty() {
        return f64::NAN;
    }
    let s: f64 = logits
        .iter()
        .map(|&z| {
            if z > 0.0 {
                1.0
            } else if z == 0.0 {
                0.5
            } else {
                0.0
            }
        })
        .sum();
    s / logits.len() as f64
}

/// The message of an expected error (tests).
#[cfg(test)]
pub(crate) fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_loss_closed_form_and_flip() -> Result<()> {
        let d = Device::Cpu;
        let z = Tensor::new(&[0.3f32, -1.2, 2.0], &d)?;
        let p = Tensor::new(&[1.0f32, 0.9, 0.5], &d)?;
        let got = soft_pair_loss(&z, &p)?.to_vec1::<f32>()?;
        let ls = |x: f32| -(1.0 + (-x).exp()).ln();
        for i in 0..3 {
            let (zi, pi) = ([0.3f32, -1.2, 2.0][i], [1.0f32, 0.9, 0.5][i]);
            let want = -(pi * ls(zi) + (1.0 - pi) * ls(-zi));
            assert!((got[i] - want).abs() < 1e-6);
        }
        // Flipping swaps chosen/rejected rows and strengths.
        let e = |v: &[f32]| Embeddings {
            dim: 2,
            data: v.to_vec(),
        };
        let mut pd = PairData::new(None, &e(&[1., 2., 3., 4.]), &e(&[5., 6., 7., 8.]))?;
        pd.strength = Some(vec![0.8, 0.7]);
        let f = pd.flipped(&[false, true])?;
        assert_eq!(f.chosen.to_vec2::<f32>()?, vec![vec![1., 2.], vec![7., 8.]]);
        assert_eq!(
            f.rejected.to_vec2::<f32>()?,
            vec![vec![5., 6.], vec![3., 4.]]
        );
        let s = f.strength.unwrap_or_default();
        assert!((s[1] - 0.3).abs() < 1e-6);
        assert_eq!(pairwise_accuracy(&[1.0, -1.0, 0.0, 2.0]), 0.625);
        Ok(())
    }
}
