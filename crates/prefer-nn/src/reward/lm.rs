//! A causal language model as a reward model: the final hidden state of the **last real
//! token** of each sequence times a score head (transformers'
//! `LlamaForSequenceClassification`, TRL's `RewardTrainer`):
//!
//! r(x, y) = w_scoreᵀ h_T(x, y),  T = the last position whose attention mask is 1
//!
//! with `num_labels` outputs (a vector head when > 1). Trained with the Bradley–Terry loss
//! of [`crate::loss::bradley_terry`] (margin, centring).
//!
//! **The EOS/padding trap.** transformers finds T as the rightmost token *different from
//! `pad_token_id`*. When the pad token is the EOS token (TRL falls back to
//! `pad_token = eos_token` when a tokenizer has none), the EOS that ends every completion
//! is taken for padding and the reward reads the token before it, or, with left padding and
//! an EOS inside the text, the wrong position. Here T comes from the attention mask, never
//! from token ids, so left and right padding and pad = EOS all score the last real token
//! (tests below).
//!
//! | field | default | note |
//! |---|---|---|
//! | `num_labels` | 1 | width of the score head |
//! | `center_rewards_coefficient` | `None` | TRL's c |
//! | `epochs`, `batch_size`, `lr`, `weight_decay`, `seed` | 1, 8, 1e-5, 0.0, 0 | AdamW over backbone and head |
//! | `batch` | [`BatchConfig`] defaults | truncation, padding side, EOS |

use std::path::Path;
use std::time::Instant;

use crate::optim::{AdamW, AdamWConfig};
use candle_core::{DType, Tensor, Var};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::Distribution;
use serde::{Deserialize, Serialize};

use super::data::TrainLog;
use crate::logprobs::{BatchConfig, PairBatch, PairIds, SeqBatch};
use crate::loss::{BradleyTerryConfig, RewardPair, bradley_terry};
use crate::model::CausalLm;
use crate::{Error, Result};

/// Configuration of [`LmRewardModel`] training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LmRewardConfig {
    /// Outputs of the score head (default 1).
    pub num_labels: usize,
    /// c, TRL's `center_rewards_coefficient` (default `None`).
    pub center_rewards_coefficient: Option<f64>,
    /// Passes over the pairs (default 1, TRL's `num_train_epochs`).
    pub epochs: usize,
    /// Pairs per step (default 8, TRL's `per_device_train_batch_size`).
    pub batch_size: usize,
    /// AdamW learning rate (default 1e-5; TRL's `RewardConfig` uses 1e-4).
    pub lr: f64,
    /// AdamW weight decay (default 0, transformers').
    pub weight_decay: f64,
    /// Seed of the score head and shuffling (default 0).
    pub seed: u64,
    /// Batching, truncation and padding of token ids.
    pub batch: BatchConfig,
}

impl Default for LmRewardConfig {
    fn default() -> Self {
        LmRewardConfig {
            num_labels: 1,
            center_rewards_coefficient: None,
            epochs: 1,
            batch_size: 8,
            lr: 1e-5,
            weight_decay: 0.0,
            seed: 0,
            batch: BatchConfig::default(),
        }
    }
}

impl LmRewardConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        if self.num_labels == 0 || self.epochs == 0 || self.batch_size == 0 {
            return Err(Error::Config(
                "num_labels, epochs and batch_size must be positive".into(),
            ));
        }
        if self.lr.is_nan()
            || self.lr <= 0.0
            || self.weight_decay.is_nan()
            || self.weight_decay < 0.0
        {
            return Err(Error::Config("lr must be > 0 and weight_decay >= 0".into()));
        }
        BradleyTerryConfig {
            center_rewards_coefficient: self.center_rewards_coefficient,
        }
        .validate()?;
        self.batch.validate()
    }
}

/// The index of the last real token of each row, from its padding flags (`true` = token):
/// correct for left and right padding and for any pad id.
pub fn last_real_token(real: &[Vec<bool>]) -> Result<Vec<usize>> {
    real.iter()
        .enumerate()
        .map(|(i, r)| {
            r.iter()
                .rposition(|&x| x)
                .ok_or_else(|| Error::Invalid(format!("row {i} has no real token")))
        })
        .collect()
}

/// A causal LM with a score head on the last real token.
///
/// # Quickstart
/// ```no_run
/// use prefer_nn::logprobs::{BatchConfig, PairIds};
/// use prefer_nn::model::{CausalLm, LoadOptions};
/// use prefer_nn::reward::lm::{LmRewardConfig, LmRewardModel};
/// let lm = CausalLm::load("../shared/models/stories260K".as_ref(), &LoadOptions::trainable())?;
/// let rm = LmRewardModel::new(lm, 1, 0)?;
/// let pairs = vec![PairIds { prompt: vec![1, 403], chosen: vec![407, 261], rejected: vec![259] }];
/// let log = rm.fit(&pairs, &[], &LmRewardConfig::default())?;
/// rm.save_pretrained("/tmp/rm".as_ref())?; // LlamaForSequenceClassification layout
/// # Ok::<(), prefer_nn::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LmRewardModel {
    backbone: CausalLm,
    /// `[num_labels, hidden]` (transformers' `score.weight`).
    score: Var,
}

impl LmRewardModel {
    /// Adds a fresh score head (normal, σ = 0.02 as transformers initializes it) to a
    /// backbone.
    pub fn new(backbone: CausalLm, num_labels: usize, seed: u64) -> Result<Self> {
        if num_labels == 0 {
            return Err(Error::Config("num_labels must be positive".into()));
        }
        let h = backbone.config().hidden_size;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let normal = rand_distr::Normal::new(0.0f64, 0.02)
            .map_err(|e| Error::Config(format!("init: {e}")))?;
        let w: Vec<f64> = (0..num_labels * h)
            .map(|_| normal.sample(&mut rng))
            .collect();
        let w =
            Tensor::from_vec(w, (num_labels, h), backbone.device())?.to_dtype(backbone.dtype())?;
        Self::with_score(backbone, &w)
    }

    /// A backbone with a given score head `[num_labels, hidden]`.
    pub fn with_score(backbone: CausalLm, score: &Tensor) -> Result<Self> {
        let h = backbone.config().hidden_size;
        let (_, sh) = score.dims2()?;
        if sh != h {
            return Err(Error::Invalid(format!(
                "score head {:?} does not match hidden size {h}",
                score.dims()
            )));
        }
        Ok(LmRewardModel {
            score: Var::from_tensor(&score.to_dtype(backbone.dtype())?)?,
            backbone,
        })
    }

    /// The backbone.
    pub fn backbone(&self) -> &CausalLm {
        &self.backbone
    }

    /// The score head `[num_labels, hidden]`.
    pub fn score_weight(&self) -> &Tensor {
        self.score.as_tensor()
    }

    /// Every trainable variable: the backbone's (when trainable; not the unused
    /// `lm_head`) and the head.
    pub fn vars(&self) -> Result<Vec<Var>> {
        let mut v: Vec<Var> = self
            .backbone
            .vars()?
            .into_iter()
            .filter(|(n, _)| n != "lm_head.weight")
            .map(|(_, v)| v)
            .collect();
        v.push(self.score.clone());
        Ok(v)
    }

    /// Rewards of each row at its last real token.
    ///
    /// # Shapes
    /// `input_ids`: `[n, t]` u32, `real`: n rows of t flags → `[n, num_labels]`
    pub fn rewards_rows(&self, input_ids: &Tensor, real: &[Vec<bool>]) -> Result<Tensor> {
        let (n, t) = input_ids.dims2()?;
        let mask: Vec<u8> = real.iter().flatten().map(|&b| u8::from(b)).collect();
        if mask.len() != n * t {
            return Err(Error::Invalid(format!(
                "padding flags do not match input ids [{n}, {t}]"
            )));
        }
        let mask = Tensor::from_vec(mask, (n, t), input_ids.device())?;
        let hidden = self.backbone.forward_hidden(input_ids, Some(&mask))?;
        let h = hidden.dim(2)?;
        let last = last_real_token(real)?;
        let idx: Vec<u32> = last
            .iter()
            .enumerate()
            .map(|(i, &j)| (i * t + j) as u32)
            .collect();
        let idx = Tensor::from_vec(idx, n, input_ids.device())?;
        let pooled = hidden.reshape((n * t, h))?.index_select(&idx, 0)?;
        Ok(pooled.matmul(&self.score.as_tensor().t()?)?)
    }

    /// Rewards of the rows of a batch.
    pub fn rewards(&self, batch: &SeqBatch) -> Result<Tensor> {
        self.rewards_rows(&batch.input_ids, batch.real())
    }

    /// Scalar rewards (first label) of chosen and rejected, `[B]` each.
    pub fn pair_rewards(&self, batch: &PairBatch) -> Result<(Tensor, Tensor)> {
        let r = self.rewards(&batch.seqs)?.narrow(1, 0, 1)?.squeeze(1)?;
        let b = batch.n_pairs;
        Ok((r.narrow(0, 0, b)?, r.narrow(0, b, b)?))
    }

    /// The batch mean of TRL's reward loss (differentiable).
    pub fn loss(
        &self,
        batch: &PairBatch,
        margin: Option<&[f32]>,
        center: Option<f64>,
    ) -> Result<Tensor> {
        let (chosen, rejected) = self.pair_rewards(batch)?;
        let margin = margin
            .map(|m| {
                Tensor::from_vec(m.to_vec(), m.len(), chosen.device())
                    .and_then(|t| t.to_dtype(chosen.dtype()))
            })
            .transpose()?;
        let out = bradley_terry(
            &RewardPair {
                chosen,
                rejected,
                margin,
            },
            &BradleyTerryConfig {
                center_rewards_coefficient: center,
            },
        )?;
        Ok(out.loss.mean_all()?)
    }

    /// Trains backbone and head on `pairs` (with optional per-pair margins; empty = none).
    pub fn fit(
        &self,
        pairs: &[PairIds],
        margins: &[f32],
        cfg: &LmRewardConfig,
    ) -> Result<TrainLog> {
        cfg.validate()?;
        if pairs.is_empty() {
            return Err(Error::Invalid("no training pairs".into()));
        }
        if !margins.is_empty() && margins.len() != pairs.len() {
            return Err(Error::Invalid(format!(
                "{} margins for {} pairs",
                margins.len(),
                pairs.len()
            )));
        }
        let mut opt = AdamW::unnamed(
            self.vars()?,
            AdamWConfig {
                lr: cfg.lr,
                weight_decay: cfg.weight_decay,
                ..Default::default()
            },
        )?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        let mut log = TrainLog::default();
        for _ in 0..cfg.epochs {
            let t0 = Instant::now();
            order.shuffle(&mut rng);
            let (mut sum, mut count) = (0.0, 0usize);
            for chunk in order.chunks(cfg.batch_size) {
                let ps: Vec<PairIds> = chunk.iter().map(|&i| pairs[i].clone()).collect();
                let batch = PairBatch::new(&ps, &cfg.batch, self.backbone.device())?;
                let m: Option<Vec<f32>> =
                    (!margins.is_empty()).then(|| chunk.iter().map(|&i| margins[i]).collect());
                let loss = self.loss(&batch, m.as_deref(), cfg.center_rewards_coefficient)?;
                let v = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
                if !v.is_finite() {
                    return Err(Error::Invalid(format!("loss became {v}; lower lr")));
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

    /// r(y_w) − r(y_l) per pair, in batches (no gradient kept).
    pub fn pair_logits(
        &self,
        pairs: &[PairIds],
        batch: &BatchConfig,
        batch_size: usize,
    ) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(pairs.len());
        for chunk in pairs.chunks(batch_size.max(1)) {
            let b = PairBatch::new(chunk, batch, self.backbone.device())?;
            let (c, r) = self.pair_rewards(&b)?;
            out.extend((c - r)?.detach().to_dtype(DType::F32)?.to_vec1::<f32>()?);
        }
        Ok(out)
    }

    /// Writes a folder transformers loads with `AutoModelForSequenceClassification`:
    /// the backbone's `model.*` tensors and `score.weight` in `model.safetensors`, and
    /// `config.json` with `architectures = ["LlamaForSequenceClassification"]`,
    /// `num_labels` and `pad_token_id`.
    pub fn save_pretrained(&self, dir: &Path) -> Result<()> {
        self.backbone.save_pretrained(dir)?;
        // An untied `lm_head` is kept (transformers ignores it as an unexpected key) so the
        // folder also loads as the causal LM it came from.
        let mut tensors: Vec<(String, Tensor)> = self.backbone.state_dict();
        tensors.push(("score.weight".into(), self.score.as_tensor().detach()));
        crate::model::save_safetensors(&dir.join("model.safetensors"), &tensors)?;
        let cfg_path = dir.join("config.json");
        let text = std::fs::read_to_string(&cfg_path)
            .map_err(|e| Error::File(format!("{}: {e}", cfg_path.display())))?;
        let mut v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::File(format!("{}: {e}", cfg_path.display())))?;
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "architectures".into(),
                serde_json::json!(["LlamaForSequenceClassification"]),
            );
            let n = self.score.dims()[0];
            o.insert("num_labels".into(), n.into());
            let labels: serde_json::Map<String, serde_json::Value> = (0..n)
                .map(|i| (i.to_string(), format!("LABEL_{i}").into()))
                .collect();
            o.insert("id2label".into(), labels.into());
            if o.get("pad_token_id").is_none_or(serde_json::Value::is_null) {
                o.insert("pad_token_id".into(), 0.into());
            }
        }
        let text = serde_json::to_string_pretty(&v).map_err(|e| Error::Config(e.to_string()))?;
        crate::model::write_atomic(&cfg_path, text.as_bytes())
    }

    /// Loads a folder written by [`Self::save_pretrained`] (or any
    /// `LlamaForSequenceClassification` folder).
    pub fn load(dir: &Path, opts: &crate::model::LoadOptions) -> Result<Self> {
        let files = crate::model::WeightFiles::open_dir(dir)?;
        let backbone = CausalLm::load(dir, opts)?;
        if !files.contains("score.weight") {
            return Err(Error::File(format!(
                "{}: no `score.weight`: not a reward model folder",
                dir.display()
            )));
        }
        let h = backbone.config().hidden_size;
        let raw = std::fs::read_to_string(dir.join("config.json"))
            .map_err(|e| Error::File(format!("{}: {e}", dir.display())))?;
        let v: serde_json::Value = serde_json::from_str(&raw)
            .map_err(|e| Error::File(format!("{}: {e}", dir.display())))?;
        let n = v
            .get("num_labels")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(1) as usize;
        let w = files.load("score.weight", &[n, h], opts.dtype, &opts.device)?;
        Self::with_score(backbone, &w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{InitConfig, LoadOptions, ModelConfig};

    fn cpu() -> candle_core::Device {
        candle_core::Device::Cpu
    }

    fn fixture() -> serde_json::Value {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/reward/trl_reward.json");
        serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_default()).unwrap_or_default()
    }

    /// transformers computes the RoPE tables in f32 even for an f64 model (ours are f64):
    /// rewards, loss and gradients agree to ~1e-7 relative.
    const TRL_TOL: f64 = 1e-6;

    #[test]
    fn matches_trl_reward_trainer() -> Result<()> {
        let fx = fixture();
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf/tiny_llama");
        let lm = CausalLm::load(&dir, &LoadOptions::trainable().with_dtype(DType::F64))?;
        let h = lm.config().hidden_size;
        let w: Vec<f64> = fx["score_weight"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
            .unwrap_or_default();
        assert_eq!(w.len(), h);
        let rm = LmRewardModel::with_score(lm, &Tensor::from_vec(w, (1, h), &cpu())?)?;
        // TRL's collator: right padding with pad 0, rows [chosen; rejected].
        let ex = fx["examples"].as_array().cloned().unwrap_or_default();
        let ids = |v: &serde_json::Value| -> Vec<u32> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_u64())
                        .map(|x| x as u32)
                        .collect()
                })
                .unwrap_or_default()
        };
        let pairs: Vec<PairIds> = ex
            .iter()
            .map(|e| PairIds {
                prompt: vec![],
                chosen: ids(&e["chosen_ids"]),
                rejected: ids(&e["rejected_ids"]),
            })
            .collect();
        let margins: Vec<f32> = ex
            .iter()
            .map(|e| e["margin"].as_f64().unwrap_or(0.0) as f32)
            .collect();
        let batch = PairBatch::new(&pairs, &BatchConfig::default(), &cpu())?;
        let want_ids: Vec<Vec<u32>> = fx["input_ids"]
            .as_array()
            .map(|a| a.iter().map(ids).collect())
            .unwrap_or_default();
        assert_eq!(batch.seqs.input_ids.to_vec2::<u32>()?, want_ids);
        let cases = fx["cases"].as_array().cloned().unwrap_or_default();
        assert_eq!(cases.len(), 2);
        for case in cases {
            let center = case["center_rewards_coefficient"].as_f64();
            let loss = rm.loss(&batch, Some(&margins), center)?;
            let want = case["loss"].as_f64().unwrap_or(f64::NAN);
            let got = loss.to_scalar::<f64>()?;
            assert!(
                (got - want).abs() < TRL_TOL * want.abs(),
                "loss {got} vs TRL {want}"
            );
            let r = rm.rewards(&batch.seqs)?.squeeze(1)?.to_vec1::<f64>()?;
            for (a, b) in r
                .iter()
                .zip(case["rewards"].as_array().cloned().unwrap_or_default())
            {
                let b = b.as_f64().unwrap_or(f64::NAN);
                assert!(
                    (a - b).abs() < TRL_TOL * (1.0 + b.abs()),
                    "reward {a} vs TRL {b}"
                );
            }
            let grads = loss.backward()?;
            let vars: std::collections::HashMap<String, Var> =
                rm.backbone.vars()?.into_iter().collect();
            let gmap = case["grads"].as_object().cloned().unwrap_or_default();
            assert_eq!(gmap.len(), 5);
            for (name, g) in gmap {
                let var = if name == "score.weight" {
                    rm.score.clone()
                } else {
                    vars[&name].clone()
                };
                let got = grads
                    .get(&var)
                    .ok_or_else(|| Error::Invalid(format!("no gradient for {name}")))?;
                let flat = got.flatten_all()?.to_vec1::<f64>()?;
                let idx = g["index"].as_array().cloned().unwrap_or_default();
                let val = g["value"].as_array().cloned().unwrap_or_default();
                for (i, v) in idx.iter().zip(val) {
                    let (i, v) = (
                        i.as_u64().unwrap_or(0) as usize,
                        v.as_f64().unwrap_or(f64::NAN),
                    );
                    assert!(
                        (flat[i] - v).abs() < TRL_TOL * (1.0 + v.abs()),
                        "{name}[{i}]: {} vs {v}",
                        flat[i]
                    );
                }
            }
        }
        Ok(())
    }

    fn tiny() -> Result<LmRewardModel> {
        let cfg = ModelConfig::tiny(40, 16, 2, 4, 2);
        let lm = CausalLm::random(
            &cfg,
            &InitConfig { seed: 3, std: 0.2 },
            &LoadOptions::trainable().with_dtype(DType::F64),
        )?;
        LmRewardModel::new(lm, 1, 9)
    }

    /// f64: the same row computed with different padding (other summation order).
    const PAD_TOL: f64 = 1e-10;

    #[test]
    fn padding_side_and_pad_equal_to_eos_score_the_last_real_token() -> Result<()> {
        let rm = tiny()?;
        const EOS: u32 = 2;
        let seqs = [
            vec![1u32, 7, 9, 11, EOS],
            vec![1, 5, EOS],
            vec![1, 30, 31, 32, 33, 34, EOS],
        ];
        // Reference: each sequence alone, no padding: its last token is the EOS.
        let alone: Vec<f64> = seqs
            .iter()
            .map(|s| {
                let ids = Tensor::new(s.as_slice(), &cpu())?.unsqueeze(0)?;
                let r = rm.rewards_rows(&ids, &[vec![true; s.len()]])?;
                Ok(r.flatten_all()?.to_vec1::<f64>()?[0])
            })
            .collect::<Result<_>>()?;
        for side in [
            crate::logprobs::PaddingSide::Right,
            crate::logprobs::PaddingSide::Left,
        ] {
            // Pad with the EOS id itself: the trap.
            let cfg = BatchConfig {
                padding_side: side,
                pad_id: EOS,
                ..Default::default()
            };
            let built = seqs.iter().map(|s| (s.clone(), 1)).collect();
            let batch = SeqBatch::from_built(built, &cfg, &cpu())?;
            let got = rm.rewards(&batch)?.flatten_all()?.to_vec1::<f64>()?;
            for (g, a) in got.iter().zip(&alone) {
                assert!((g - a).abs() < PAD_TOL, "{side:?}: {g} vs {a}");
            }
            // transformers' rule (rightmost token != pad id) picks another position for
            // every row here, and so another reward.
            let ids = batch.input_ids.to_vec2::<u32>()?;
            for (r, row) in ids.iter().enumerate() {
                let by_id = row.iter().rposition(|&t| t != EOS).unwrap_or(0);
                let by_mask = last_real_token(batch.real())?[r];
                assert_ne!(by_id, by_mask, "{side:?} row {r}");
            }
        }
        Ok(())
    }

    #[test]
    fn training_separates_pairs_and_every_variable_gets_a_gradient() -> Result<()> {
        let rm = tiny()?;
        // Chosen ends in token 20, rejected in token 21: learnable from the last token.
        let pairs: Vec<PairIds> = (0..24)
            .map(|i| PairIds {
                prompt: vec![1, 3 + (i % 7) as u32],
                chosen: vec![10 + (i % 5) as u32, 20],
                rejected: vec![10 + (i % 3) as u32, 21],
            })
            .collect();
        let batch = PairBatch::new(&pairs[..4], &BatchConfig::default(), &cpu())?;
        let grads = rm.loss(&batch, None, None)?.backward()?;
        for v in rm.vars()? {
            let g = grads
                .get(&v)
                .ok_or_else(|| Error::Invalid("a variable got no gradient".into()))?;
            let n = g.sqr()?.sum_all()?.to_scalar::<f64>()?;
            assert!(n.is_finite() && n > 0.0);
        }
        let cfg = LmRewardConfig {
            epochs: 6,
            batch_size: 8,
            lr: 3e-3,
            ..Default::default()
        };
        let before = super::super::data::pairwise_accuracy(&rm.pair_logits(&pairs, &cfg.batch, 8)?);
        let log = rm.fit(&pairs, &[], &cfg)?;
        let after = super::super::data::pairwise_accuracy(&rm.pair_logits(&pairs, &cfg.batch, 8)?);
        assert!(log.epoch_loss.last() < log.epoch_loss.first());
        assert!(after == 1.0 && after > before, "{before} -> {after}");
        // Round trip through the transformers layout.
        let dir = tempfile::tempdir().map_err(|e| Error::File(e.to_string()))?;
        rm.save_pretrained(dir.path())?;
        let back = LmRewardModel::load(dir.path(), &LoadOptions::frozen().with_dtype(DType::F64))?;
        let a = rm.pair_logits(&pairs, &cfg.batch, 8)?;
        let b = back.pair_logits(&pairs, &cfg.batch, 8)?;
        assert_eq!(a, b);
        Ok(())
    }
}
