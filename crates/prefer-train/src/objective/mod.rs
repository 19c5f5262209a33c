//! What one optimizer step learns from: the objectives the [training loop](crate::trainer)
//! hosts, one file each.
//!
//! The loop owns everything trainers share (the epoch order of the data, micro-batches and
//! gradient accumulation, clipping, AdamW and its schedule, the reference model or its
//! cache, evaluation, metrics, checkpoints and resume). An objective says only what a step
//! needs:
//!
//! - [`Objective::plan`]: given the step's example indices (drawn by the loop in the
//!   seeded epoch order), the step's work as micro-batches with their share of the step.
//!   An offline objective splits the indices (the default); an online one generates
//!   completions from the current policy, scores them and computes advantages here.
//! - [`Objective::loss`]: one micro-batch in, its differentiable loss (already multiplied
//!   by its share) and its metrics out.
//!
//! The configuration's [`config::Objective`](crate::config::Objective) picks the
//! objective once, at construction ([`build`]); nothing in the loop matches on the method.
//!
//! | method | file | data | paper |
//! |---|---|---|---|
//! | `sft` | [`sft`] | prompt + completion | — |
//! | `dpo` | [`dpo`] | pairs | Rafailov et al. 2023 and the DPO family of [`prefer_nn::loss`] |
//! | `kto` | [`kto`] | labelled completions | Ethayarajh et al. 2024; BCO, APO |
//! | `pro` | [`pro`] | ranked lists | Song et al. 2023 |
//! | `grpo` | [`grpo`] | prompts (online) | Shao et al. 2024; DAPO, GSPO, Dr. GRPO |
//! | `rloo` | [`rloo`] | prompts (online) | Ahmadian et al. 2024 |
//! | `reinforce_pp` | [`reinforce_pp`] | prompts (online) | Hu 2025 (REINFORCE++) |
//! | `ppo` | [`ppo`] | prompts (online) | Schulman et al. 2017; Ziegler et al. 2019 |
//! | `online_dpo` | [`online_dpo`] | prompts (online) | Guo et al. 2024 |
//! | `xpo` | [`online_dpo`] | prompts (online) | Xie et al. 2024 (XPO) |
//! | `nash_md` | [`nash_md`] | prompts (online) | Munos et al. 2024 (Nash-MD) |
//! | `sppo` | [`sppo`] | prompts (online) | Wu et al. 2024 (SPPO) |

use candle_core::{DType, Device, Tensor, Var};
use prefer_nn::logprobs::BatchConfig;
use prefer_nn::loss::RunningMoments;
use prefer_nn::model::CausalLm;
use prefer_nn::tokenizer::Tokenizer;

use crate::config::Objective as Method;
use crate::data::Examples;
use crate::metrics::Averager;
use crate::{Error, Result};

pub mod dpo;
pub mod grpo;
pub mod kto;
pub mod nash_md;
pub mod online_dpo;
pub mod ppo;
pub mod pro;
pub mod reinforce_pp;
pub mod rloo;
pub mod rollouts;
pub mod sft;
pub mod sppo;

/// Which example set a forward reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The training set.
    Train,
    /// The evaluation set.
    Eval,
}

/// Where an objective's reference log-probs come from.
pub enum Reference {
    /// The objective reads no reference.
    None,
    /// Values per example, for the training set and the evaluation set.
    Cached {
        /// `[a, b]` per training example.
        train: Vec<[f64; 2]>,
        /// `[a, b]` per evaluation example.
        eval: Option<Vec<[f64; 2]>>,
    },
    /// A model run on every batch (frozen; trainable `Var`s only when TR-DPO must set
    /// them, and then its outputs are detached).
    Live(Box<CausalLm>),
}

impl Reference {
    /// The live reference model, if any.
    pub fn live(&self) -> Option<&CausalLm> {
        match self {
            Reference::Live(m) => Some(m),
            _ => None,
        }
    }

    /// The cached values of examples `idx` of `split`, as two `[b]` tensors of `dtype`
    /// (`None` when the reference is not a cache).
    pub fn cached(
        &self,
        split: Split,
        idx: &[usize],
        dtype: DType,
    ) -> Result<Option<(Tensor, Tensor)>> {
        let Reference::Cached { train, eval } = self else {
            return Ok(None);
        };
        let vals = match split {
            Split::Train => train,
            Split::Eval => eval
                .as_ref()
                .ok_or_else(|| Error::Config("no cached reference for the eval set".into()))?,
        };
        let a: Vec<f64> = idx.iter().map(|&i| vals[i][0]).collect();
        let b: Vec<f64> = idx.iter().map(|&i| vals[i][1]).collect();
        Ok(Some((
            Tensor::new(a, &Device::Cpu)?.to_dtype(dtype)?,
            Tensor::new(b, &Device::Cpu)?.to_dtype(dtype)?,
        )))
    }
}

/// What an objective sees of the run during a step.
pub struct Ctx<'a> {
    /// The policy being trained.
    pub policy: &'a CausalLm,
    /// The reference (model, cache or none).
    pub reference: &'a Reference,
    /// How prompt and completion ids become model rows.
    pub batch: &'a BatchConfig,
    /// The examples of `split`.
    pub examples: &'a Examples,
    /// Which set `examples` is.
    pub split: Split,
    /// Whether this forward is part of an optimizer step (false when evaluating, on
    /// either set).
    pub training: bool,
    /// The optimizer step being computed (1-based; the current step when evaluating).
    pub step: u64,
    /// The run's seed.
    pub seed: u64,
    /// State an objective carries across steps and checkpoints (BCO's reward moments).
    pub running: &'a mut RunningMoments,
    /// Where an online objective puts this step's completions when the run logs them
    /// (`run.log_completions_every`); `None` on other steps.
    pub completions: Option<&'a mut Vec<serde_json::Value>>,
}

/// One micro-batch of a step: the units it covers (example indices, or indices into the
/// objective's own rollouts) and its share of the step's mean loss.
#[derive(Debug, Clone, PartialEq)]
pub struct Micro {
    /// Example (or rollout) indices.
    pub idx: Vec<usize>,
    /// The factor its mean loss is multiplied by, so that the summed gradient of a step's
    /// micro-batches is the gradient of the step's loss.
    pub share: f64,
    /// A step-wide normaliser the objective computed in [`Objective::plan`] (SFT: the
    /// step's completion tokens); 1 otherwise.
    pub norm: f64,
}

/// A training objective: one file per method, the same shape each.
pub trait Objective {
    /// The configuration's method name (`sft`, `dpo`, …).
    fn method(&self) -> &'static str;

    /// Whether it trains on these examples (checked once, at construction). Online
    /// objectives take prompts (the default); offline ones say which records.
    fn accepts(&self, examples: &Examples) -> bool {
        self.online() && examples.as_prompts().is_some()
    }

    /// Whether it reads reference log-probs.
    fn needs_reference(&self) -> bool {
        false
    }

    /// The reference values a cache stores per example (`[chosen, rejected]` per pair,
    /// `[completion, kl completion]` per labelled completion), computed with `model` in
    /// batches of `bs`. Objectives without a cacheable reference return none.
    fn reference_values(
        &self,
        _model: &CausalLm,
        _examples: &Examples,
        _batch: &BatchConfig,
        _bs: usize,
    ) -> Result<Vec<[f64; 2]>> {
        Ok(Vec::new())
    }

    /// Whether it generates its own completions (then its reference, if any, is a live
    /// model: a cache of a fixed data set cannot hold it).
    fn online(&self) -> bool {
        false
    }

    /// How many training units (rows of micro-batches) one example becomes: 1 offline,
    /// `num_generations` for a group-sampling objective. The loop draws
    /// `batch_size × grad_accum / units_per_example` examples per step.
    fn units_per_example(&self) -> usize {
        1
    }

    /// The step's work: micro-batches of at most `micro` units, each weighted by its
    /// share of the step. Online objectives generate and score here (step-level metrics
    /// such as the reward go to `avg`).
    fn plan(
        &mut self,
        _cx: &mut Ctx<'_>,
        idx: &[usize],
        micro: usize,
        _avg: &mut Averager,
    ) -> Result<Vec<Micro>> {
        Ok(split_even(idx, micro))
    }

    /// One micro-batch: its loss × `m.share` (differentiable); metrics go to `avg`
    /// weighted by how many units they average over.
    fn loss(&mut self, cx: &mut Ctx<'_>, m: &Micro, avg: &mut Averager) -> Result<Tensor>;

    /// The trainable parameters the objective owns besides the policy (PPO's critic),
    /// created once from the policy before the optimizer is: the loop optimizes them with
    /// the policy's (one AdamW, one clipped global norm) and keeps them in checkpoints.
    fn own_params(&mut self, _policy: &CausalLm) -> Result<Vec<(String, Var)>> {
        Ok(Vec::new())
    }

    /// How a draw of examples is reused (PPO's epochs and mini-batches over a rollout).
    fn reuse(&self) -> Reuse {
        Reuse::default()
    }

    /// What the objective carries from one step to the next beyond its parameters (a
    /// rollout reused over several steps, an adapted coefficient), for the checkpoint.
    fn save_state(&self) -> Result<Option<serde_json::Value>> {
        Ok(None)
    }

    /// Restores what [`save_state`](Self::save_state) wrote.
    fn load_state(&mut self, _state: serde_json::Value) -> Result<()> {
        Ok(())
    }
}

/// How many optimizer steps one draw of examples serves: the loop draws
/// `mini_batches × (examples per step)` examples at the first step of each cycle of
/// `mini_batches × epochs` steps, and none at the others (the objective plans those from
/// what it kept). The default, one draw per step, is every objective but PPO's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reuse {
    /// Parts of a draw, one optimizer step each.
    pub mini_batches: usize,
    /// Passes over the draw.
    pub epochs: usize,
}

impl Default for Reuse {
    fn default() -> Self {
        Reuse {
            mini_batches: 1,
            epochs: 1,
        }
    }
}

impl Reuse {
    /// Optimizer steps per draw.
    pub fn steps(&self) -> usize {
        self.mini_batches * self.epochs
    }

    /// Where step `step` (1-based) falls in its cycle: `(epoch, mini-batch)`; `(0, 0)` is
    /// a drawing step.
    pub fn position(&self, step: u64) -> (usize, usize) {
        let c = ((step.max(1) - 1) % self.steps().max(1) as u64) as usize;
        (c / self.mini_batches.max(1), c % self.mini_batches.max(1))
    }
}

/// Micro-batches of at most `micro` indices, each with its share of `idx`.
pub fn split_even(idx: &[usize], micro: usize) -> Vec<Micro> {
    let n = idx.len().max(1) as f64;
    idx.chunks(micro.max(1))
        .map(|c| Micro {
            idx: c.to_vec(),
            share: c.len() as f64 / n,
            norm: 1.0,
        })
        .collect()
}

/// The objective the configuration names; online objectives need the tokenizer (they
/// decode their samples for the reward sources).
pub fn build(method: &Method, tok: Option<&Tokenizer>) -> Result<Box<dyn Objective>> {
    let tok = || {
        tok.cloned()
            .ok_or_else(|| Error::Config(format!("{} needs the tokenizer", method.method())))
    };
    Ok(match method {
        Method::Sft => Box::new(sft::Sft),
        Method::Dpo { loss } => Box::new(dpo::Dpo::new(loss.mixture())),
        Method::Kto { loss } => Box::new(kto::Kto::new(loss.clone())),
        Method::Pro { loss } => Box::new(pro::Pro::new(*loss)),
        Method::Grpo(cfg) => Box::new(grpo::Grpo::new(cfg.clone(), tok()?)?),
        Method::ReinforcePp(cfg) => Box::new(reinforce_pp::ReinforcePp::new(cfg.clone(), tok()?)?),
        Method::Rloo(cfg) => Box::new(rloo::Rloo::new(cfg.clone(), tok()?)?),
        Method::Ppo(cfg) => Box::new(ppo::Ppo::new(cfg.clone(), tok()?)?),
        Method::OnlineDpo(cfg) => Box::new(online_dpo::OnlineDpo::new(cfg.clone(), tok()?, false)?),
        Method::Xpo(cfg) => Box::new(online_dpo::OnlineDpo::new(cfg.clone(), tok()?, true)?),
        Method::NashMd(cfg) => Box::new(nash_md::NashMd::new(cfg.clone(), tok()?)?),
        Method::Sppo(cfg) => Box::new(sppo::Sppo::new(cfg.clone(), tok()?)?),
    })
}

/// The mismatch error of an objective handed the wrong examples.
pub(crate) fn wrong_examples(method: &str) -> Error {
    Error::Config(format!(
        "objective `{method}` does not train on these examples"
    ))
}

pub(crate) fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

pub(crate) fn vec64(t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.detach().to_dtype(DType::F64)?.to_vec1::<f64>()?)
}

pub(crate) fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}
