//! The training loop shared by SFT, the DPO family and KTO.
//!
//! One optimizer step takes `batch_size × grad_accum` examples in the epoch's seeded order,
//! runs each micro-batch forward and backward with its loss scaled by its share of the
//! step (so the summed gradient is the gradient of the step's mean loss: 4 micro-batches
//! of 1 equal one batch of 4), clips the global gradient norm, and applies AdamW at the
//! schedule's learning rate. Pair losses that read the whole batch (`aot`,
//! `aot_unpaired`, the `sft` term's token mean) and KTO's KL estimate are computed per
//! micro-batch, as TRL computes them per device.
//!
//! # Quickstart
//! ```no_run
//! use prefer_train::{config::TrainConfig, trainer::Trainer};
//! let mut cfg = TrainConfig::from_file("train.toml".as_ref())?;
//! cfg.validate()?;
//! let mut t = Trainer::new(cfg)?;
//! t.resume()?;                                  // continue from the newest checkpoint, if any
//! let summary = t.train(&mut |p| { println!("{}", p.metrics.to_json()); std::ops::ControlFlow::Continue(()) })?;
//! println!("final loss {:?}", summary.last.get("loss"));
//! # Ok::<(), prefer_train::Error>(())
//! ```

use std::ops::ControlFlow;
use std::path::PathBuf;

use candle_core::{DType, Tensor, Var};
use prefer_nn::model::{CausalLm, LoadOptions};
use prefer_nn::tokenizer::Tokenizer;

use crate::checkpoint::{self, TrainerState};
use crate::config::{Objective as Method, ReferenceMode, TrainConfig};
use crate::data::{Encoder, Examples, Want, epoch_order};
use crate::error::io_err;
use crate::metrics::{Averager, Metrics, MetricsLog};
use crate::objective::{self, Ctx, Micro, Objective, Reference, Split, split_even};
use crate::optim::{AdamW, GradAccumulator, clip_coefficient};
use crate::refcache::{RefCache, fingerprint, model_fingerprint};
use crate::{Error, Result};

/// What the progress callback sees after each optimizer step.
#[derive(Debug)]
pub struct Progress<'a> {
    /// Steps done (1-based).
    pub step: u64,
    /// Steps planned.
    pub total_steps: u64,
    /// This step's metrics (the metrics-file line).
    pub metrics: &'a Metrics,
    /// Evaluation metrics, when this step evaluated.
    pub eval: Option<&'a Metrics>,
    /// The checkpoint written after this step, if any.
    pub checkpoint: Option<&'a PathBuf>,
}

/// The outcome of [`Trainer::train`].
#[derive(Debug, Clone)]
pub struct Summary {
    /// Steps done in total (including those before a resume).
    pub steps: u64,
    /// The last step's metrics.
    pub last: Metrics,
    /// The last evaluation, if any.
    pub eval: Option<Metrics>,
    /// The final checkpoint (`checkpoint-<steps>`), or `None` when stopped early by the
    /// callback.
    pub checkpoint: Option<PathBuf>,
    /// Whether the callback stopped the run before `total_steps`.
    pub stopped_early: bool,
}

/// The objective's view of a trainer's fields (a macro so that the objective itself, a
/// field too, stays borrowable): `ctx!(trainer, split, training)`.
macro_rules! ctx {
    ($t:expr, $split:expr, $training:expr) => {
        Ctx {
            policy: &$t.policy,
            reference: &$t.reference,
            batch: &$t.cfg.batch,
            examples: match $split {
                Split::Train => &$t.train,
                Split::Eval => $t
                    .eval
                    .as_ref()
                    .ok_or_else(|| Error::Config("no evaluation data".into()))?,
            },
            split: $split,
            training: $training,
            step: $t.state.step + u64::from($training),
            seed: $t.state.seed,
            running: &mut $t.state.running,
            completions: ($training && $t.log_now).then_some(&mut $t.completions),
        }
    };
}

/// A training run: the policy, its optimizer, the data, the reference.
pub struct Trainer {
    cfg: TrainConfig,
    policy: CausalLm,
    objective: Box<dyn Objective>,
    /// Examples drawn per optimizer step (see [`step_examples`]); a drawing step of an
    /// objective that reuses its draws takes `reuse.mini_batches` times as many.
    step_examples: usize,
    /// The objective's own parameters (optimized after the policy's).
    own: Vec<(String, Var)>,
    opt: AdamW,
    train: Examples,
    eval: Option<Examples>,
    reference: Reference,
    state: TrainerState,
    last_checkpoint: Option<PathBuf>,
    resumed: bool,
    skipped: Vec<String>,
    /// The current step's sampled completions, when it logs them.
    completions: Vec<serde_json::Value>,
    /// Whether this step logs its completions (see [`logs_completions`]).
    log_now: bool,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("method", &self.objective.method())
            .field("examples", &self.train.len())
            .field("state", &self.state)
            .finish()
    }
}

/// The tokenizer named by the configuration (`model.tokenizer`, else the model folder).
pub fn load_tokenizer(cfg: &TrainConfig) -> Result<Tokenizer> {
    let p = cfg
        .model
        .tokenizer
        .clone()
        .unwrap_or(cfg.model.path.clone());
    Ok(if p.is_dir() {
        Tokenizer::from_dir(&p)?
    } else {
        Tokenizer::from_file(&p)?
    })
}

impl Trainer {
    /// Loads the model, tokenizes the data and prepares the reference (reading the cache
    /// or computing and writing it). A BOS id left unset in `batch` comes from the
    /// tokenizer.
    pub fn new(mut cfg: TrainConfig) -> Result<Self> {
        cfg.validate()?;
        let tok = load_tokenizer(&cfg)?;
        if cfg.batch.bos_id.is_none() {
            cfg.batch.bos_id = tok.bos_id();
        }
        // EOS is not filled in: the encoder appends it to plain-text completions and a
        // chat template writes its own, as TRL does (a configured `batch.eos_id` is still
        // appended to every completion that lacks it).
        let opts = LoadOptions::trainable().with_dtype(cfg.model.dtype.candle());
        let policy = CausalLm::load(&cfg.model.path, &opts)?;
        let enc = Encoder::new(tok, &cfg.data)
            .with_prompt_limit(cfg.batch.max_prompt_length, cfg.batch.bos_id);
        let want = match cfg.objective {
            Method::Sft => Want::Seqs,
            Method::Dpo { .. } => Want::Pairs,
            Method::Kto { .. } => Want::Unpaired,
            Method::Pro { .. } => Want::Ranked,
            Method::Grpo(_)
            | Method::Rloo(_)
            | Method::ReinforcePp(_)
            | Method::Ppo(_)
            | Method::OnlineDpo(_)
            | Method::Xpo(_)
            | Method::NashMd(_)
            | Method::Sppo(_) => Want::Prompts,
        };
        let skip = cfg.data.skip_invalid;
        let (train, mut skipped) =
            enc.load_lenient(&cfg.data.train, want, cfg.data.max_train, skip)?;
        let eval = match &cfg.data.eval {
            Some(p) => {
                let (e, s) = enc.load_lenient(p, want, cfg.data.max_eval, skip)?;
                skipped.extend(s);
                Some(e)
            }
            None => None,
        };
        let objective = objective::build(&cfg.objective, Some(enc.tokenizer()))?;
        let mut t = Self::with_objective(cfg, policy, objective, train, eval)?;
        t.skipped = skipped;
        Ok(t)
    }

    /// A run on an already loaded (trainable) policy and tokenized examples, with the
    /// objective the configuration names.
    pub fn with_model(
        cfg: TrainConfig,
        policy: CausalLm,
        train: Examples,
        eval: Option<Examples>,
    ) -> Result<Self> {
        let tok = if cfg.objective.online() {
            Some(load_tokenizer(&cfg)?)
        } else {
            None
        };
        let objective = objective::build(&cfg.objective, tok.as_ref())?;
        Self::with_objective(cfg, policy, objective, train, eval)
    }

    /// A run of any [`Objective`] (the configuration's `[objective]` is then only
    /// recorded) on a loaded trainable policy and its examples.
    pub fn with_objective(
        cfg: TrainConfig,
        mut policy: CausalLm,
        mut objective: Box<dyn Objective>,
        train: Examples,
        eval: Option<Examples>,
    ) -> Result<Self> {
        cfg.validate()?;
        if !objective.accepts(&train) || eval.as_ref().is_some_and(|e| !objective.accepts(e)) {
            return Err(objective::wrong_examples(objective.method()));
        }
        if train.is_empty() {
            return Err(Error::Config("no training examples".into()));
        }
        if !policy.is_trainable() {
            return Err(Error::Config("the policy must be loaded trainable".into()));
        }
        if cfg.model.gradient_checkpointing {
            policy.set_gradient_checkpointing(true);
        }
        std::fs::create_dir_all(&cfg.run.out_dir).map_err(io_err(&cfg.run.out_dir))?;
        let own = objective.own_params(&policy)?;
        let mut params = policy.vars()?;
        params.extend(own.iter().cloned());
        let opt = AdamW::new(params, cfg.optim)?;
        let eff = step_examples(&cfg, objective.as_ref())?;
        let reuse = objective.reuse();
        let draw = (eff * reuse.mini_batches) as u64;
        let steps_per_epoch = (train.len() as u64).div_ceil(draw) * reuse.steps() as u64;
        let total_steps = cfg
            .run
            .max_steps
            .unwrap_or_else(|| ((cfg.run.epochs * steps_per_epoch as f64).ceil() as u64).max(1));
        let state = TrainerState {
            seed: cfg.run.seed,
            total_steps,
            ..Default::default()
        };
        let mut t = Trainer {
            reference: Reference::None,
            cfg,
            policy,
            objective,
            step_examples: eff,
            own,
            opt,
            train,
            eval,
            state,
            last_checkpoint: None,
            resumed: false,
            skipped: Vec::new(),
            completions: Vec::new(),
            log_now: false,
        };
        t.reference = t.prepare_reference()?;
        Ok(t)
    }

    fn prepare_reference(&self) -> Result<Reference> {
        if !self.objective.needs_reference() {
            return Ok(Reference::None);
        }
        let mode = if self.objective.online() {
            ReferenceMode::Live
        } else {
            self.cfg.reference.mode
        };
        // `validate` has refused `sync` with `path`: a loaded reference is never synced.
        let external = match &self.cfg.reference.path {
            Some(p) => {
                let opts = LoadOptions::frozen().with_dtype(self.policy.dtype());
                Some(CausalLm::load(p, &opts)?)
            }
            None => None,
        };
        match mode {
            // Frozen (no autograd graph built in its forward) unless TR-DPO must set it.
            ReferenceMode::Live => Ok(Reference::Live(Box::new(match external {
                Some(m) => m,
                None => self.policy.copy_with(self.cfg.reference.sync.is_some())?,
            }))),
            ReferenceMode::Cached => {
                let model = external.as_ref().unwrap_or(&self.policy);
                let mfp = model_fingerprint(model)?;
                let path = self.cfg.cache_path();
                let train = self.cached_values(&path, mfp, &self.train, model)?;
                let eval = match &self.eval {
                    Some(e) => {
                        let mut p = path.clone().into_os_string();
                        p.push(".eval");
                        Some(self.cached_values(&PathBuf::from(p), mfp, e, model)?)
                    }
                    None => None,
                };
                Ok(Reference::Cached { train, eval })
            }
        }
    }

    fn cached_values(
        &self,
        path: &std::path::Path,
        mfp: u64,
        ex: &Examples,
        model: &CausalLm,
    ) -> Result<Vec<[f64; 2]>> {
        let fp = fingerprint(mfp, ex, &self.cfg.batch)?;
        if let Some(c) = RefCache::load(path, &fp, ex.len())? {
            return Ok(c.values);
        }
        let values =
            self.objective
                .reference_values(model, ex, &self.cfg.batch, self.eval_batch())?;
        RefCache {
            fingerprint: fp,
            kind: match ex {
                Examples::Unpaired(_) => "unpaired".into(),
                _ => "pairs".into(),
            },
            values: values.clone(),
        }
        .save(path)?;
        Ok(values)
    }

    fn eval_batch(&self) -> usize {
        self.cfg
            .run
            .eval_batch_size
            .unwrap_or(self.cfg.run.batch_size)
    }

    /// Continues from the newest checkpoint in `run.out_dir` (weights, optimizer moments,
    /// data position, BCO state; a TR-DPO reference), and drops the metrics lines an
    /// interrupted run wrote after it. Returns its step, or `None` when there is none.
    pub fn resume(&mut self) -> Result<Option<u64>> {
        let Some((step, dir)) = checkpoint::latest(&self.cfg.run.out_dir)? else {
            return Ok(None);
        };
        let (st, objective) = checkpoint::load(
            &dir,
            &self.policy,
            &mut self.opt,
            self.reference.live(),
            &self.own,
        )?;
        if let Some(o) = objective {
            self.objective.load_state(o)?;
        }
        if st.seed != self.cfg.run.seed {
            return Err(Error::Resume(format!(
                "{}: written with run.seed {}, this run has {}",
                dir.display(),
                st.seed,
                self.cfg.run.seed
            )));
        }
        let total = self.state.total_steps;
        self.state = st;
        self.state.total_steps = total;
        MetricsLog::truncate_after(&self.metrics_path(), step)?;
        MetricsLog::truncate_after(&self.completions_path(), step)?;
        self.last_checkpoint = Some(dir);
        self.resumed = true;
        Ok(Some(step))
    }

    /// The records left out while loading (`data.skip_invalid`), with their reasons.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// How many online prompts were cut to `batch.max_prompt_length`
    /// (`data.long_prompts = "truncate"`).
    pub fn truncated_prompts(&self) -> usize {
        self.train
            .as_prompts()
            .map_or(0, |p| p.iter().filter(|p| p.truncated).count())
    }

    /// The evaluation examples, if any.
    pub fn eval_examples(&self) -> Option<&Examples> {
        self.eval.as_ref()
    }

    /// The metrics file.
    pub fn metrics_path(&self) -> PathBuf {
        self.cfg.run.out_dir.join("metrics.jsonl")
    }

    /// The sampled completions file (`run.log_completions_every`).
    pub fn completions_path(&self) -> PathBuf {
        self.cfg.run.out_dir.join("completions.jsonl")
    }

    /// Appends the step's logged completions, each tagged with the step.
    fn write_completions(&mut self, step: u64) -> Result<()> {
        if self.completions.is_empty() {
            return Ok(());
        }
        use std::io::Write;
        let path = self.completions_path();
        let mut text = String::new();
        for mut c in self.completions.drain(..) {
            if let Some(o) = c.as_object_mut() {
                o.insert("step".into(), step.into());
            }
            text.push_str(&c.to_string());
            text.push('\n');
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        f.write_all(text.as_bytes()).map_err(io_err(&path))
    }

    /// The policy being trained.
    pub fn policy(&self) -> &CausalLm {
        &self.policy
    }

    /// The configuration (with BOS/EOS filled in).
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    /// Where the run stands.
    pub fn state(&self) -> &TrainerState {
        &self.state
    }

    /// The planned number of optimizer steps.
    pub fn total_steps(&self) -> u64 {
        self.state.total_steps
    }

    /// The training examples.
    pub fn train_examples(&self) -> &Examples {
        &self.train
    }

    /// Trains to `total_steps`, writing metrics, checkpoints and, at the end, an
    /// evaluation. `on_step` runs after every step; `Break` stops the run there (no
    /// final checkpoint: as a kill would, for tests of `resume`).
    pub fn train(
        &mut self,
        on_step: &mut dyn FnMut(&Progress<'_>) -> ControlFlow<()>,
    ) -> Result<Summary> {
        let out = self.cfg.run.out_dir.clone();
        let cfg_text = self.cfg.to_toml()?;
        prefer_data::write_atomic(&out.join("train_config.toml"), cfg_text.as_bytes())?;
        let mut log = if self.resumed {
            MetricsLog::append(&self.metrics_path())?
        } else {
            let c = self.completions_path();
            if c.exists() {
                std::fs::remove_file(&c).map_err(io_err(&c))?;
            }
            MetricsLog::create(&self.metrics_path())?
        };
        let mut last = Metrics::default();
        let mut last_eval = None;
        let total = self.state.total_steps;
        let mut acc = GradAccumulator::new(self.opt.len());
        while self.state.step < total {
            let step = self.state.step + 1;
            let m = self.train_step(step, &mut acc)?;
            self.state.step = step;
            self.write_completions(step)?;
            let mut ckpt = None;
            let mut eval = None;
            if step.is_multiple_of(self.cfg.run.log_every) || step == total {
                log.write(&m)?;
            }
            if self.cfg.run.eval_every > 0
                && step.is_multiple_of(self.cfg.run.eval_every)
                && step < total
                && let Some(e) = self.evaluate_split(Split::Eval, step)?
            {
                log.write(&e)?;
                eval = Some(e);
            }
            if step == total
                || (self.cfg.run.save_every > 0 && step.is_multiple_of(self.cfg.run.save_every))
            {
                ckpt = Some(self.save_checkpoint()?);
            }
            let p = Progress {
                step,
                total_steps: total,
                metrics: &m,
                eval: eval.as_ref(),
                checkpoint: ckpt.as_ref(),
            };
            let flow = on_step(&p);
            last = m;
            if eval.is_some() {
                last_eval = eval;
            }
            if flow.is_break() && step < total {
                return Ok(Summary {
                    steps: step,
                    last,
                    eval: last_eval,
                    checkpoint: None,
                    stopped_early: true,
                });
            }
        }
        // Final evaluation.
        if let Some(e) = self.evaluate_split(Split::Eval, self.state.step)? {
            log.write(&e)?;
            last_eval = Some(e);
        }
        Ok(Summary {
            steps: self.state.step,
            last,
            eval: last_eval,
            checkpoint: self.last_checkpoint.clone(),
            stopped_early: false,
        })
    }

    /// One optimizer step, outside [`train`](Self::train): no metrics line, no checkpoint,
    /// no evaluation (benchmarks; custom loops). Returns the step's metrics.
    pub fn step(&mut self) -> Result<Metrics> {
        let step = self.state.step + 1;
        let mut acc = GradAccumulator::new(self.opt.len());
        let m = self.train_step(step, &mut acc)?;
        self.state.step = step;
        self.completions.clear();
        Ok(m)
    }

    fn save_checkpoint(&mut self) -> Result<PathBuf> {
        // Never write a checkpoint holding NaN/inf weights.
        for (name, t) in self.policy.parameters() {
            let bad = t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
            if let Some(v) = bad.iter().find(|v| !v.is_finite()) {
                return Err(Error::NonFinite {
                    step: self.state.step,
                    quantity: format!("parameter {name}"),
                    value: *v,
                    last_checkpoint: self.last_checkpoint.clone(),
                });
            }
        }
        self.state.optimizer_t = self.opt.steps_taken();
        let synced = match (&self.reference, &self.cfg.reference.sync) {
            (Reference::Live(m), Some(_)) => Some(m.as_ref()),
            _ => None,
        };
        let dir = checkpoint::save(
            &self.cfg.run.out_dir,
            &self.policy,
            &self.opt,
            &self.state,
            synced,
            &checkpoint::ObjectiveParts {
                params: self.own.clone(),
                state: self.objective.save_state()?,
            },
            self.cfg.run.save_total_limit,
        )?;
        self.last_checkpoint = Some(dir.clone());
        Ok(dir)
    }

    /// The indices of the next `eff` examples, advancing the data position (within the
    /// epoch: the last draw of an epoch may be shorter).
    fn next_indices(&mut self, eff: usize) -> Vec<usize> {
        let n = self.train.len();
        if self.state.position >= n {
            self.state.epoch += 1;
            self.state.position = 0;
        }
        let order = epoch_order(n, self.state.seed, self.state.epoch, self.cfg.run.shuffle);
        let end = (self.state.position + eff).min(n);
        let idx = order[self.state.position..end].to_vec();
        self.state.position = end;
        idx
    }

    fn non_finite(&self, step: u64, quantity: &str, value: f64) -> Error {
        Error::NonFinite {
            step,
            quantity: quantity.to_string(),
            value,
            last_checkpoint: self.last_checkpoint.clone(),
        }
    }

    fn train_step(&mut self, step: u64, acc: &mut GradAccumulator) -> Result<Metrics> {
        let reuse = self.objective.reuse();
        self.log_now = logs_completions(step, self.cfg.run.log_completions_every, reuse);
        let idx = if reuse.position(step) == (0, 0) {
            self.next_indices(self.step_examples * reuse.mini_batches)
        } else {
            Vec::new()
        };
        let mut avg = Averager::default();
        acc.clear();
        self.policy.discard_checkpoints();
        self.accumulate(step, &idx, acc, &mut avg)?;
        let mut m = Metrics::default();
        let means = avg.means();
        if let Some((q, v)) = means.first_non_finite() {
            return Err(self.non_finite(step, q, v));
        }
        let norm = acc.global_norm()?;
        if !norm.is_finite() {
            let which = acc
                .first_non_finite()?
                .map(|i| {
                    format!(
                        "grad_norm (first non-finite gradient: {})",
                        self.opt.names()[i]
                    )
                })
                .unwrap_or_else(|| "grad_norm".into());
            return Err(self.non_finite(step, &which, norm));
        }
        let lr = self
            .cfg
            .schedule
            .lr(self.cfg.optim.lr, step - 1, self.state.total_steps);
        let scale = clip_coefficient(norm, self.cfg.max_grad_norm());
        self.opt.step(acc, scale, lr)?;
        acc.clear();
        self.sync_reference(step)?;
        let loss = means.get("loss").unwrap_or(0.0);
        m.push("loss", loss);
        m.push("grad_norm", norm);
        m.push("learning_rate", lr);
        for (k, v) in means.0.iter().filter(|(k, _)| k != "loss") {
            m.push(k, *v);
        }
        let epoch = self.state.epoch as f64 + self.state.position as f64 / self.train.len() as f64;
        m.push("epoch", epoch);
        m.push("step", step as f64);
        Ok(m)
    }

    fn sync_reference(&mut self, step: u64) -> Result<()> {
        let (Reference::Live(r), Some(s)) = (&self.reference, &self.cfg.reference.sync) else {
            return Ok(());
        };
        if !step.is_multiple_of(s.steps) {
            return Ok(());
        }
        for ((_, rv), pv) in r.vars()?.iter().zip(self.opt.vars()) {
            let mixed = ((pv.as_tensor().detach() * s.alpha)?
                + (rv.as_tensor().detach() * (1.0 - s.alpha))?)?;
            rv.set(&mixed)?;
        }
        Ok(())
    }

    /// Plans the step with the objective and accumulates each micro-batch's gradient.
    fn accumulate(
        &mut self,
        step: u64,
        idx: &[usize],
        acc: &mut GradAccumulator,
        avg: &mut Averager,
    ) -> Result<()> {
        let plan: Vec<Micro> = {
            let mut cx = ctx!(self, Split::Train, true);
            self.objective
                .plan(&mut cx, idx, self.cfg.run.batch_size, avg)?
        };
        for micro in &plan {
            let loss = self
                .objective
                .loss(&mut ctx!(self, Split::Train, true), micro, avg)?;
            let lv = scalar(&loss)?;
            if !lv.is_finite() {
                return Err(self.non_finite(step, "loss", lv));
            }
            let grads = loss.backward()?;
            let vars = self.opt.vars();
            acc.add(&grads, vars)?;
            // With gradient checkpointing the layers' gradients come now, layer by layer.
            self.policy
                .backward_checkpointed(&grads, |g| acc.add(g, vars))?;
        }
        Ok(())
    }

    fn evaluate_split(&mut self, split: Split, step: u64) -> Result<Option<Metrics>> {
        let n = match split {
            Split::Eval => match &self.eval {
                Some(e) => e.len(),
                None => return Ok(None),
            },
            Split::Train => self.train.len(),
        };
        let mut avg = Averager::default();
        let idx: Vec<usize> = (0..n).collect();
        for micro in split_even(&idx, self.eval_batch()) {
            let _ = self
                .objective
                .loss(&mut ctx!(self, split, false), &micro, &mut avg)?;
            self.policy.discard_checkpoints();
        }
        let mut m = avg.means();
        m.push(
            "epoch",
            self.state.epoch as f64 + self.state.position as f64 / self.train.len() as f64,
        );
        m.push("step", step as f64);
        let prefix = if split == Split::Eval {
            "eval_"
        } else {
            "train_eval_"
        };
        Ok(Some(m.prefixed(prefix)))
    }

    /// Evaluates the current policy on the training set (no gradient): the same metrics
    /// as the training lines, prefixed `train_eval_`.
    pub fn evaluate_train(&mut self) -> Result<Metrics> {
        let step = self.state.step;
        self.evaluate_split(Split::Train, step)?
            .ok_or_else(|| Error::Config("no training data".into()))
    }

    /// Evaluates the current policy on the evaluation set (prefixed `eval_`), if any.
    pub fn evaluate_eval(&mut self) -> Result<Option<Metrics>> {
        let step = self.state.step;
        self.evaluate_split(Split::Eval, step)
    }
}

/// Whether step `step` logs the completions it samples: a drawing step whose rollout
/// serves a multiple of `every` (with one step per rollout, every `every`-th step).
fn logs_completions(step: u64, every: u64, reuse: objective::Reuse) -> bool {
    let cycle = reuse.steps().max(1) as u64;
    every > 0 && reuse.position(step) == (0, 0) && (step + cycle - 1) / every * every >= step
}

/// Examples per optimizer step: `batch_size × grad_accum` units, an example being
/// [`Objective::units_per_example`] units.
fn step_examples(cfg: &TrainConfig, objective: &dyn Objective) -> Result<usize> {
    let units = cfg.run.batch_size * cfg.run.grad_accum;
    let per = objective.units_per_example().max(1);
    if !units.is_multiple_of(per) {
        return Err(Error::Config(format!(
            "run.batch_size × run.grad_accum = {units} completions must be a multiple of \
             objective.num_generations = {per}"
        )));
    }
    Ok(units / per)
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}
