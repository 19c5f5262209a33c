//! The training configuration: one TOML file, every field with a default, overridable
//! key by key (`--set optim.lr=5e-6` on the command line). The resolved configuration is
//! written beside the checkpoints as `train_config.toml`.
//!
//! # Quickstart
//! ```
//! use prefer_train::config::{Objective, TrainConfig};
//! let mut cfg = TrainConfig::from_toml_str(r#"
//!     [model]
//!     path = "../shared/models/stories260K"
//!     [data]
//!     train = "pairs.jsonl"
//!     [objective]
//!     method = "dpo"
//!     loss = { type = "ipo", tau = 0.5 }
//!     [run]
//!     out_dir = "runs/ipo"
//!     max_steps = 200
//! "#)?;
//! cfg.set("optim.lr", "5e-6")?;                        // what `--set optim.lr=5e-6` does
//! cfg.set("objective.loss", r#"[[{type = "sigmoid"}, 1.0], [{type = "sft"}, 0.2]]"#)?; // RPO mixture
//! assert!(matches!(cfg.objective, Objective::Dpo { .. }));
//! cfg.validate()?;
//! # Ok::<(), prefer_train::Error>(())
//! ```

use std::path::{Path, PathBuf};

use prefer_nn::logprobs::BatchConfig;
use prefer_nn::loss::{Mixture, PairLoss, ProConfig, UnpairedLoss};
use serde::{Deserialize, Serialize};

use crate::optim::AdamWConfig;
use crate::schedule::ScheduleConfig;
use crate::{Error, Result};

/// Everything a run needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// The model to train.
    pub model: ModelSection,
    /// The data.
    pub data: DataSection,
    /// How token ids become padded batches: truncation, BOS/EOS (prefer-nn's
    /// [`BatchConfig`]; defaults: no truncation, right padding, pad id 0). BOS and EOS
    /// ids are filled from the tokenizer when left unset.
    pub batch: BatchConfig,
    /// SFT, a pair loss (DPO family), or an unpaired loss (KTO).
    pub objective: Objective,
    /// The reference model: cached log-probs, a live model, TR-DPO sync.
    pub reference: ReferenceSection,
    /// AdamW.
    pub optim: AdamWConfig,
    /// Learning-rate warmup and decay.
    pub schedule: ScheduleConfig,
    /// Steps, batch sizes, seed, logging and checkpoints.
    pub run: RunSection,
}

/// `[model]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSection {
    /// A Hugging Face model folder (`config.json`, `*.safetensors`, `tokenizer.json`).
    /// Required.
    pub path: PathBuf,
    /// Folder or `tokenizer.json` to tokenize with (default: the model folder).
    pub tokenizer: Option<PathBuf>,
    /// Parameter dtype while training (default f32).
    pub dtype: Dtype,
    /// Keep only each layer's input in the forward and recompute the layers one at a
    /// time in the backward (default false): activation memory of about one layer
    /// instead of all, for one more forward of the layers. TRL's `gradient_checkpointing`.
    pub gradient_checkpointing: bool,
}

/// A parameter dtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dtype {
    /// 32-bit floats.
    #[default]
    F32,
    /// 64-bit floats (tests: finite differences, exact comparisons).
    F64,
}

impl Dtype {
    /// The candle dtype.
    pub fn candle(self) -> candle_core::DType {
        match self {
            Dtype::F32 => candle_core::DType::F32,
            Dtype::F64 => candle_core::DType::F64,
        }
    }
}

/// `[data]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataSection {
    /// Training records (JSONL, JSON, Parquet or CSV, as `prefer data` reads them):
    /// pairs for `dpo`, unpaired labels or pairs for `kto`, pairs or unpaired labels for
    /// `sft` (chosen / desirable completions). Required.
    pub train: PathBuf,
    /// Held-out records of the same shape (default none): evaluated every `eval_every`
    /// steps and at the end.
    pub eval: Option<PathBuf>,
    /// For pairs without a `prompt` (hh-rlhf's implicit-prompt transcripts): the turn
    /// marker after which the shared prefix is cut (default `"\n\nAssistant:"`).
    pub prompt_marker: String,
    /// Use at most this many training records, in file order (default all).
    pub max_train: Option<usize>,
    /// Use at most this many evaluation records (default all).
    pub max_eval: Option<usize>,
    /// Conversational records: render them with the tokenizer's chat template (default
    /// true; without a template, turns are written as `\n\nRole: content`).
    pub chat_template: bool,
    /// Leave out records that cannot be used (unreadable, no shared prompt, an empty
    /// completion) and report them, instead of stopping (default true).
    pub skip_invalid: bool,
    /// Online prompts longer than `batch.max_prompt_length`: `truncate` (default: keep
    /// BOS and the last tokens, as TRL truncates prompts from the left, and count them) or
    /// `reject` (leave them out, reported like invalid records).
    pub long_prompts: LongPrompts,
}

/// What happens to an online prompt longer than `batch.max_prompt_length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LongPrompts {
    /// Keep BOS and the prompt's last tokens (default).
    #[default]
    Truncate,
    /// Leave the prompt out and report it.
    Reject,
}

impl Default for DataSection {
    fn default() -> Self {
        DataSection {
            train: PathBuf::new(),
            eval: None,
            prompt_marker: "\n\nAssistant:".into(),
            max_train: None,
            max_eval: None,
            chat_template: true,
            skip_invalid: true,
            long_prompts: LongPrompts::Truncate,
        }
    }
}

/// A pair loss or a weighted mixture of them (MPO; `[[{type = "sigmoid"}, 1.0], ...]`).
/// Read by hand (not as an untagged enum), so that a wrong value names the loss, the
/// field, what it accepts and the closest valid name ([`PairLoss::from_value`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum LossSpec {
    /// One loss, e.g. `{ type = "sigmoid", beta = 0.1 }`.
    One(PairLoss),
    /// Σ w·ℓ, e.g. `[[{ type = "sigmoid" }, 1.0], [{ type = "sft" }, 0.2]]` (RPO).
    Mixture(Mixture),
}

impl<'de> Deserialize<'de> for LossSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let v = serde_json::Value::deserialize(d)?;
        match &v {
            serde_json::Value::Array(terms) => {
                let mut out = Vec::with_capacity(terms.len());
                for (i, t) in terms.iter().enumerate() {
                    let pair = t.as_array().filter(|p| p.len() == 2).ok_or_else(|| {
                        D::Error::custom(format!(
                            "loss mixture term {i}: must be [loss, weight], e.g. [{{ type = \"sft\" }}, 0.2]; got {t}"
                        ))
                    })?;
                    let loss = PairLoss::from_value(&pair[0])
                        .map_err(|e| D::Error::custom(format!("loss mixture term {i}: {e}")))?;
                    let w = pair[1].as_f64().ok_or_else(|| {
                        D::Error::custom(format!(
                            "loss mixture term {i} ({}): the weight {} is not a number",
                            loss.name(),
                            pair[1]
                        ))
                    })?;
                    out.push((loss, w));
                }
                Ok(LossSpec::Mixture(Mixture::new(out)))
            }
            _ => PairLoss::from_value(&v)
                .map(LossSpec::One)
                .map_err(D::Error::custom),
        }
    }
}

impl Default for LossSpec {
    fn default() -> Self {
        LossSpec::One(PairLoss::default())
    }
}

impl LossSpec {
    /// As a mixture (one term of weight 1 for a single loss).
    pub fn mixture(&self) -> Mixture {
        match self {
            LossSpec::One(l) => Mixture::from(l.clone()),
            LossSpec::Mixture(m) => m.clone(),
        }
    }

    /// A short name: the loss's TRL name, or `a+b` for a mixture.
    pub fn name(&self) -> String {
        self.mixture()
            .terms
            .iter()
            .map(|(l, _)| l.name())
            .collect::<Vec<_>>()
            .join("+")
    }

    /// Whether any term reads reference log-probs.
    pub fn needs_reference(&self) -> bool {
        self.mixture()
            .terms
            .iter()
            .any(|(l, _)| l.needs_reference())
    }
}

/// `[objective]`: what is minimised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum Objective {
    /// Supervised fine-tuning: the token-mean negative log-likelihood of the completions.
    Sft,
    /// Offline preference optimization on pairs with any [`PairLoss`] or mixture
    /// (default: `sigmoid`, i.e. DPO with β = 0.1).
    Dpo {
        /// The loss (default `{ type = "sigmoid", beta = 0.1 }`).
        #[serde(default)]
        loss: LossSpec,
    },
    /// Unpaired preference optimization (KTO, APO-zero-unpaired, BCO).
    Kto {
        /// The loss (default `{ type = "kto", beta = 0.1 }`).
        #[serde(default)]
        loss: UnpairedLoss,
    },
    /// Listwise PRO (Plackett–Luce over ranked lists, reference-free) on rankings; a pair
    /// is a list of two.
    Pro {
        /// The loss (default `{ sft_weight = 0.05, temperature = { type = "reward_gap" } }`;
        /// rankings without a `scores` field need `temperature = { type = "constant", tau = 1.0 }`).
        #[serde(default)]
        loss: ProConfig,
    },
    /// Online GRPO (and DAPO, GSPO, Dr. GRPO by its parameters) on prompts, with reward
    /// sources: TRL `GRPOConfig` names, flat in `[objective]`, and `[[objective.reward]]`
    /// tables.
    Grpo(crate::online::GrpoConfig),
    /// Online RLOO on prompts, with reward sources: TRL `RLOOConfig` names, flat in
    /// `[objective]`.
    Rloo(crate::online::RlooConfig),
    /// Online REINFORCE++ (and REINFORCE++-baseline) on prompts, with reward sources.
    ReinforcePp(crate::online::ReinforcePpConfig),
    /// Online PPO with a critic (value head), GAE and the KL penalty in the reward: TRL
    /// `PPOConfig` names, flat in `[objective]`.
    Ppo(crate::online::PpoConfig),
    /// Online DPO (Guo et al. 2024): two samples per prompt, ranked by the reward sources
    /// or a judge, and a DPO-family loss on the pair: TRL `OnlineDPOConfig` names, flat in
    /// `[objective]`.
    OnlineDpo(crate::online::OnlineDpoConfig),
    /// XPO (Xie et al. 2024): Online DPO with the second completion sampled from the
    /// reference and the exploration term `α Σ log π(y_ref)`: TRL `XPOConfig` names.
    Xpo(crate::online::OnlineDpoConfig),
    /// Nash-MD (Munos et al. 2024): the policy's sample against one from the geometric
    /// mixture of policy and reference, a REINFORCE step on the preference with a KL
    /// term: TRL `NashMDConfig` names.
    NashMd(crate::online::NashMdConfig),
    /// SPPO (Wu et al. 2024): K samples per prompt, each one's estimated win rate against
    /// the policy, the square loss of the log-ratio on it.
    Sppo(crate::online::SppoConfig),
}

impl Default for Objective {
    fn default() -> Self {
        Objective::Dpo {
            loss: LossSpec::default(),
        }
    }
}

impl Objective {
    /// `sft`, `dpo` or `kto`.
    pub fn method(&self) -> &'static str {
        match self {
            Objective::Sft => "sft",
            Objective::Dpo { .. } => "dpo",
            Objective::Kto { .. } => "kto",
            Objective::Pro { .. } => "pro",
            Objective::Grpo(_) => "grpo",
            Objective::Rloo(_) => "rloo",
            Objective::ReinforcePp(_) => "reinforce_pp",
            Objective::Ppo(_) => "ppo",
            Objective::OnlineDpo(_) => "online_dpo",
            Objective::Xpo(_) => "xpo",
            Objective::NashMd(_) => "nash_md",
            Objective::Sppo(_) => "sppo",
        }
    }

    /// Whether it learns from its own samples of prompts (grpo, rloo, reinforce_pp, ppo,
    /// online_dpo).
    pub fn online(&self) -> bool {
        matches!(
            self,
            Objective::Grpo(_)
                | Objective::Rloo(_)
                | Objective::ReinforcePp(_)
                | Objective::Ppo(_)
                | Objective::OnlineDpo(_)
                | Objective::Xpo(_)
                | Objective::NashMd(_)
                | Objective::Sppo(_)
        )
    }

    /// Whether the objective reads reference log-probs.
    pub fn needs_reference(&self) -> bool {
        match self {
            Objective::Sft => false,
            Objective::Dpo { loss } => loss.needs_reference(),
            Objective::Kto { .. } => true,
            Objective::Pro { .. } => false,
            Objective::Grpo(g) => g.beta != 0.0,
            Objective::Rloo(r) => r.beta != 0.0,
            Objective::ReinforcePp(r) => r.kl_coef != 0.0,
            Objective::Ppo(p) => p.kl_coef != 0.0,
            Objective::OnlineDpo(_)
            | Objective::Xpo(_)
            | Objective::NashMd(_)
            | Objective::Sppo(_) => true,
        }
    }
}

/// Where reference log-probs come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceMode {
    /// Computed once before training and kept in a file (default): no reference model in
    /// memory during training (TRL's `precompute_ref_log_probs`).
    #[default]
    Cached,
    /// A frozen copy of the starting policy, run on every batch (needed for `sync`).
    Live,
}

/// TR-DPO reference updates (Gorbatovski et al. 2024, arXiv:2404.09656): every `steps`
/// (τ) optimizer steps, π_ref ← α·π_θ + (1 − α)·π_ref. α = 1 is the hard update.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RefSync {
    /// α, the weight of the policy (default 0.6, TRL's `ref_model_mixup_alpha`).
    pub alpha: f64,
    /// τ, steps between updates (default 512, TRL's `ref_model_sync_steps`).
    pub steps: u64,
}

impl Default for RefSync {
    fn default() -> Self {
        RefSync {
            alpha: 0.6,
            steps: 512,
        }
    }
}

/// `[reference]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ReferenceSection {
    /// `cached` (default) or `live`.
    pub mode: ReferenceMode,
    /// The cache file (default `<out_dir>/ref_logps.json`). It records a fingerprint of
    /// the model weights, the tokenized data and the batch settings; a cache with another
    /// fingerprint is an error, never used.
    pub cache: Option<PathBuf>,
    /// TR-DPO reference sync (default none; needs `mode = "live"`).
    pub sync: Option<RefSync>,
    /// A Hugging Face model folder for the reference (TRL's `ref_model`; default: a copy
    /// of the starting policy). It must share the policy's tokenizer; not with `sync`.
    pub path: Option<PathBuf>,
}

/// `[run]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunSection {
    /// Output folder: `metrics.jsonl`, `train_config.toml`, `checkpoint-<step>/`,
    /// `final/` (default `runs/train`).
    pub out_dir: PathBuf,
    /// Seed of the data order (default 42).
    pub seed: u64,
    /// Examples (pairs for `dpo`) per micro-batch (default 8, TRL's
    /// `per_device_train_batch_size`).
    pub batch_size: usize,
    /// Micro-batches per optimizer step (default 1); the effective batch is
    /// `batch_size × grad_accum`.
    pub grad_accum: usize,
    /// Passes over the training data (default 1.0; fractions allowed).
    pub epochs: f64,
    /// Stop after this many optimizer steps (default: from `epochs`).
    pub max_steps: Option<u64>,
    /// Clip the global gradient norm to this value (default 1.0, TRL's
    /// `max_grad_norm`; `none`/omit in TOML via `clip = false`).
    pub max_grad_norm: f64,
    /// Whether to clip at all (default true).
    pub clip: bool,
    /// Shuffle the training data every epoch (default true).
    pub shuffle: bool,
    /// Write a metrics line every this many steps (default 1).
    pub log_every: u64,
    /// Write a checkpoint every this many steps (default 0: only the final one).
    pub save_every: u64,
    /// Keep at most this many `checkpoint-*` folders, oldest removed first (default 2;
    /// 0 keeps all).
    pub save_total_limit: usize,
    /// Evaluate on `data.eval` every this many steps (default 0: at the end only).
    pub eval_every: u64,
    /// Examples per evaluation forward (default: `batch_size`).
    pub eval_batch_size: Option<usize>,
    /// Online objectives: every this many steps, write the step's sampled completions
    /// (prompt, completion, total and per-source rewards, gold) to `completions.jsonl`
    /// (default 0: never; TRL's `log_completions`).
    pub log_completions_every: u64,
}

impl Default for RunSection {
    fn default() -> Self {
        RunSection {
            out_dir: PathBuf::from("runs/train"),
            seed: 42,
            batch_size: 8,
            grad_accum: 1,
            epochs: 1.0,
            max_steps: None,
            max_grad_norm: 1.0,
            clip: true,
            shuffle: true,
            log_every: 1,
            save_every: 0,
            save_total_limit: 2,
            eval_every: 0,
            eval_batch_size: None,
            log_completions_every: 0,
        }
    }
}

impl TrainConfig {
    /// Parses a TOML configuration (missing fields take their defaults; unknown keys are
    /// errors naming the key).
    ///
    /// `[objective]` may also be written as a TRL user writes `DPOConfig`: `loss_type`
    /// (one name or a list), `loss_weights`, `beta`, `label_smoothing`, `discopop_tau`,
    /// `sync_ref_model` with `ref_model_mixup_alpha` and `ref_model_sync_steps` (TR-DPO).
    /// Each loss takes the fields it reads, as in TRL (`beta` is IPO's τ, `label_smoothing`
    /// EXO's ε). Fields of TRL's that prefer does not compute (`ld_alpha`, `use_weighting`,
    /// an `f_divergence_type` other than `reverse_kl`) are refused by name, never ignored.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        Self::parse(text).map_err(|e| Error::Config(e.to_string()))
    }

    /// Reads a TOML configuration file (TRL's flat `[objective]` fields too, as
    /// [`from_toml_str`](Self::from_toml_str)).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(crate::error::io_err(path))?;
        Self::parse(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// Sets the DPO objective from TRL's `DPOConfig` fields (`loss_type`, `loss_weights`,
    /// `beta`, `label_smoothing`, ..., as in a file's flat `[objective]`): what
    /// `prefer train dpo --loss-type ipo --beta 0.5` does. Without `loss_type`, the
    /// current loss types (and weights) stay and take the new field values; a loss type
    /// that stays keeps its other parameters.
    ///
    /// # Errors
    /// As for a file: unknown loss types, fields prefer does not compute, contradictions.
    pub fn set_trl_objective(&mut self, mut fields: toml::Table) -> Result<()> {
        let current = match &self.objective {
            Objective::Dpo { loss } => loss.mixture(),
            _ => LossSpec::default().mixture(),
        };
        if !fields.contains_key("loss_type") {
            let names = current
                .terms
                .iter()
                .map(|(l, _)| toml::Value::String(l.name().into()));
            fields.insert("loss_type".into(), toml::Value::Array(names.collect()));
            if !fields.contains_key("loss_weights") {
                let w = current.terms.iter().map(|(_, w)| toml::Value::Float(*w));
                fields.insert("loss_weights".into(), toml::Value::Array(w.collect()));
            }
        }
        let mut root = toml::Table::new();
        root.insert("objective".into(), toml::Value::Table(fields));
        trl_objective(&mut root).map_err(Error::Config)?;
        let mut obj = match root.remove("objective") {
            Some(toml::Value::Table(t)) => t,
            _ => return Err(Error::Config("[objective]: not a table".into())),
        };
        // A loss type that stays keeps the parameters the new fields do not set.
        let keep = |t: &mut toml::Value| {
            let Some(t) = t.as_table_mut() else { return };
            let ty = t
                .get("type")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            if let Some((l, _)) = current.terms.iter().find(|(l, _)| l.name() == ty) {
                for (k, v) in l.params() {
                    // Set already, under our name or TRL's alias for it in this loss.
                    let taken = t.keys().any(|f| PairLoss::own_field(&ty, f) == k);
                    if !taken && let Ok(v) = toml::Value::try_from(v) {
                        t.insert(k, v);
                    }
                }
            }
        };
        match obj.get_mut("loss") {
            Some(toml::Value::Array(terms)) => {
                for t in terms.iter_mut() {
                    if let Some(first) = t.as_array_mut().and_then(|p| p.first_mut()) {
                        keep(first);
                    }
                }
            }
            Some(t) => keep(t),
            None => {}
        }
        self.objective = toml::Value::Table(obj)
            .try_into()
            .map_err(|e: toml::de::Error| Error::Config(format!("[objective]: {e}")))?;
        Ok(())
    }

    fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut root: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        if !trl_objective(&mut root)? {
            // As written: serde's errors keep their line and column.
            return toml::from_str(text).map_err(|e| e.to_string());
        }
        toml::Value::Table(root)
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())
    }

    /// The configuration as TOML text.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::Config(format!("writing TOML: {e}")))
    }

    /// Sets one key, `section.field` (dotted for nested tables), to a TOML value: `5e-6`,
    /// `true`, `"text"`, `{ type = "ipo" }`, `[[...]]`. A value that does not parse as
    /// TOML is taken as a string (`--set data.train=pairs.jsonl`). The key must exist in
    /// the schema (checked on re-reading).
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let mut root = toml::Value::try_from(&*self)
            .map_err(|e| Error::Config(format!("serialising the configuration: {e}")))?;
        let parsed: toml::Value = match toml::from_str::<toml::Table>(&format!("v = {value}")) {
            Ok(mut t) => t.remove("v").unwrap_or(toml::Value::String(value.into())),
            // JSON objects and arrays too: `--loss '{"type": "ipo", "tau": 0.5}'`.
            Err(_) => match serde_json::from_str::<serde_json::Value>(value) {
                Ok(j @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) => {
                    toml::Value::try_from(j)
                        .map_err(|e| Error::Config(format!("`{key}` = {value}: {e}")))?
                }
                _ => toml::Value::String(value.into()),
            },
        };
        let parts: Vec<&str> = key.split('.').collect();
        let (last, path) = parts
            .split_last()
            .ok_or_else(|| Error::Config("empty key".into()))?;
        let mut cur = &mut root;
        for p in path {
            let t = cur
                .as_table_mut()
                .ok_or_else(|| Error::Config(format!("`{key}`: `{p}` is not a table")))?;
            cur = t
                .entry(p.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        }
        cur.as_table_mut()
            .ok_or_else(|| Error::Config(format!("`{key}`: not a table key")))?
            .insert(last.to_string(), parsed);
        // An objective switched to another method keeps no fields of the old one.
        if key == "objective.method"
            && let Some(obj) = root.get_mut("objective").and_then(|o| o.as_table_mut())
        {
            obj.retain(|k, _| k == "method");
        }
        *self = root
            .try_into()
            .map_err(|e: toml::de::Error| Error::Config(format!("`{key}` = {value}: {e}")))?;
        Ok(())
    }

    /// Checks every section; errors name the key.
    pub fn validate(&self) -> Result<()> {
        if self.model.path.as_os_str().is_empty() {
            return Err(Error::Config("model.path is required".into()));
        }
        if self.data.train.as_os_str().is_empty() {
            return Err(Error::Config("data.train is required".into()));
        }
        self.batch.validate()?;
        match &self.objective {
            Objective::Sft => {}
            Objective::Dpo { loss } => match loss {
                LossSpec::One(l) => l.validate()?,
                LossSpec::Mixture(m) => m.validate()?,
            },
            Objective::Kto { loss } => loss.validate()?,
            Objective::Pro { loss } => loss.validate()?,
            Objective::Grpo(g) => g.validate()?,
            Objective::Rloo(r) => r.validate()?,
            Objective::ReinforcePp(r) => r.validate()?,
            Objective::Ppo(p) => p.validate()?,
            Objective::OnlineDpo(o) => o.validate_as(false)?,
            Objective::Xpo(o) => o.validate_as(true)?,
            Objective::NashMd(n) => n.validate()?,
            Objective::Sppo(c) => c.validate()?,
        }
        self.optim.validate()?;
        self.schedule.validate()?;
        let r = &self.run;
        if r.batch_size == 0 {
            return Err(Error::Config("run.batch_size must be ≥ 1".into()));
        }
        if r.grad_accum == 0 {
            return Err(Error::Config("run.grad_accum must be ≥ 1".into()));
        }
        if !(r.epochs.is_finite() && r.epochs > 0.0) {
            return Err(Error::Config(format!(
                "run.epochs = {}: must be > 0",
                r.epochs
            )));
        }
        if r.max_steps == Some(0) {
            return Err(Error::Config("run.max_steps must be ≥ 1".into()));
        }
        if r.clip && !(r.max_grad_norm.is_finite() && r.max_grad_norm > 0.0) {
            return Err(Error::Config(format!(
                "run.max_grad_norm = {}: must be > 0 (or set run.clip = false)",
                r.max_grad_norm
            )));
        }
        if r.log_every == 0 {
            return Err(Error::Config("run.log_every must be ≥ 1".into()));
        }
        if r.eval_batch_size == Some(0) {
            return Err(Error::Config("run.eval_batch_size must be ≥ 1".into()));
        }
        if let Some(s) = &self.reference.sync {
            if self.reference.mode != ReferenceMode::Live {
                return Err(Error::Config(
                    "reference.sync (TR-DPO) needs reference.mode = \"live\": a synced reference changes, a cache cannot".into(),
                ));
            }
            if !(s.alpha > 0.0 && s.alpha <= 1.0) {
                return Err(Error::Config(format!(
                    "reference.sync.alpha = {}: must be in (0, 1]",
                    s.alpha
                )));
            }
            if s.steps == 0 {
                return Err(Error::Config("reference.sync.steps must be ≥ 1".into()));
            }
            if self.reference.path.is_some() {
                return Err(Error::Config(
                    "reference.sync mixes a copy of the starting policy; it cannot be used with reference.path".into(),
                ));
            }
        }
        Ok(())
    }

    /// The gradient-clipping threshold, if clipping is on.
    pub fn max_grad_norm(&self) -> Option<f64> {
        self.run.clip.then_some(self.run.max_grad_norm)
    }

    /// The reference cache file.
    pub fn cache_path(&self) -> PathBuf {
        self.reference
            .cache
            .clone()
            .unwrap_or_else(|| self.run.out_dir.join("ref_logps.json"))
    }
}

/// TRL's `DPOConfig` fields that may stand flat in `[objective]`.
const TRL_OBJECTIVE: [&str; 12] = [
    "loss_type",
    "loss_weights",
    "beta",
    "label_smoothing",
    "discopop_tau",
    "sync_ref_model",
    "ref_model_mixup_alpha",
    "ref_model_sync_steps",
    "ld_alpha",
    "use_weighting",
    "f_divergence_type",
    "f_alpha_divergence_coef",
];

/// Rewrites TRL's flat `[objective]` fields into ours (`loss`, `[reference] sync`);
/// returns whether there were any.
fn trl_objective(root: &mut toml::Table) -> std::result::Result<bool, String> {
    use toml::Value;
    let Some(Value::Table(obj)) = root.get_mut("objective") else {
        return Ok(false);
    };
    // The online objectives' configurations are flat already (TRL's GRPOConfig and
    // RLOOConfig names, `loss_type` and `beta` included).
    if matches!(obj.get("method"), Some(Value::String(m)) if matches!(m.as_str(), "grpo" | "rloo" | "reinforce_pp" | "ppo" | "online_dpo" | "xpo" | "nash_md" | "sppo"))
    {
        return Ok(false);
    }
    if !obj.keys().any(|k| TRL_OBJECTIVE.contains(&k.as_str())) {
        return Ok(false);
    }
    let e = |m: String| format!("[objective]: {m}");
    match obj.get("method") {
        None => {}
        Some(Value::String(m)) if m == "dpo" => {}
        Some(m) => {
            return Err(e(format!(
                "TRL's DPOConfig fields (loss_type, beta, ...) are for method = \"dpo\", not {m}"
            )));
        }
    }
    if obj.contains_key("loss") {
        return Err(e(
            "write the loss either as `loss = {{ type = ... }}` or with TRL's `loss_type`, not both"
                .into(),
        ));
    }
    // Refused by name: TRL computes these and we do not (yet).
    if let Some(v) = obj.get("ld_alpha") {
        return Err(e(format!(
            "`ld_alpha = {v}` (LD-DPO's down-weighting of the longer tail) is not supported; remove it for standard DPO"
        )));
    }
    if let Some(v) = obj.get("use_weighting")
        && v.as_bool() != Some(false)
    {
        return Err(e(format!(
            "`use_weighting = {v}` (WPO's weighting) is not supported; remove it or set false"
        )));
    }
    match obj.get("f_divergence_type") {
        None => {}
        Some(Value::String(f)) if f == "reverse_kl" => {}
        Some(v) => {
            return Err(e(format!(
                "`f_divergence_type = {v}` is not supported; only \"reverse_kl\" (standard DPO)"
            )));
        }
    }
    let names: Vec<String> = match obj.get("loss_type") {
        None => vec!["sigmoid".into()],
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| e(format!("`loss_type`: {v} is not a loss name")))
            })
            .collect::<std::result::Result<_, _>>()?,
        Some(v) => return Err(e(format!("`loss_type` = {v}: a name or a list of names"))),
    };
    let weights: Vec<f64> = match obj.get("loss_weights") {
        None => vec![1.0; names.len()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_float()
                    .or_else(|| v.as_integer().map(|i| i as f64))
                    .ok_or_else(|| e(format!("`loss_weights`: {v} is not a number")))
            })
            .collect::<std::result::Result<_, _>>()?,
        Some(v) => return Err(e(format!("`loss_weights` = {v}: a list of numbers"))),
    };
    if weights.len() != names.len() {
        return Err(e(format!(
            "`loss_weights` has {} weights for {} loss types",
            weights.len(),
            names.len()
        )));
    }
    let mut terms = Vec::with_capacity(names.len());
    for (name, w) in names.iter().zip(&weights) {
        let mut t = toml::Table::new();
        t.insert("type".into(), Value::String(name.clone()));
        // As TRL: each loss reads the shared fields it uses.
        for f in ["beta", "label_smoothing", "discopop_tau"] {
            if let Some(v) = obj.get(f)
                && PairLoss::accepts(name, f)
            {
                t.insert(f.into(), v.clone());
            }
        }
        terms.push((Value::Table(t), *w));
    }
    let loss = match terms.as_slice() {
        [(t, w)] if *w == 1.0 => t.clone(),
        _ => Value::Array(
            terms
                .into_iter()
                .map(|(t, w)| Value::Array(vec![t, Value::Float(w)]))
                .collect(),
        ),
    };
    let sync = obj
        .get("sync_ref_model")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let alpha = obj.get("ref_model_mixup_alpha").cloned();
    let steps = obj.get("ref_model_sync_steps").cloned();
    if !sync && (alpha.is_some() || steps.is_some()) {
        return Err(e(
            "`ref_model_mixup_alpha` and `ref_model_sync_steps` need `sync_ref_model = true` (TR-DPO)"
                .into(),
        ));
    }
    obj.retain(|k, _| !TRL_OBJECTIVE.contains(&k));
    obj.insert("method".into(), Value::String("dpo".into()));
    obj.insert("loss".into(), loss);
    if sync {
        let r = root
            .entry("reference")
            .or_insert_with(|| Value::Table(toml::Table::new()));
        let Value::Table(r) = r else {
            return Err("[reference] is not a table".into());
        };
        let mut s = toml::Table::new();
        s.insert("alpha".into(), alpha.unwrap_or(Value::Float(0.6)));
        s.insert("steps".into(), steps.unwrap_or(Value::Integer(512)));
        r.insert("sync".into(), Value::Table(s));
        r.entry("mode")
            .or_insert_with(|| Value::String("live".into()));
    }
    Ok(true)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is the test's verdict
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml() -> Result<()> {
        let mut cfg = TrainConfig::default();
        cfg.model.path = "m".into();
        cfg.data.train = "t.jsonl".into();
        cfg.objective = Objective::Dpo {
            loss: LossSpec::Mixture(Mixture::new(vec![
                (PairLoss::default(), 1.0),
                (PairLoss::Sft(Default::default()), 0.5),
            ])),
        };
        cfg.reference.sync = Some(RefSync::default());
        cfg.reference.mode = ReferenceMode::Live;
        let text = cfg.to_toml()?;
        assert_eq!(TrainConfig::from_toml_str(&text)?, cfg, "{text}");
        cfg.validate()?;
        Ok(())
    }

    #[test]
    fn set_overrides_and_names_bad_keys() -> Result<()> {
        let mut cfg = TrainConfig::default();
        cfg.set("optim.lr", "0.5")?;
        assert_eq!(cfg.optim.lr, 0.5);
        cfg.set("data.train", "pairs.jsonl")?;
        assert_eq!(cfg.data.train, PathBuf::from("pairs.jsonl"));
        cfg.set("objective.method", "kto")?;
        assert!(matches!(cfg.objective, Objective::Kto { .. }));
        cfg.set("objective.loss", "{ type = \"kto\", beta = 0.2 }")?;
        cfg.set("objective.method", "dpo")?;
        cfg.set(
            "objective.loss",
            r#"[[{"type": "sigmoid"}, 1.0], [{"type": "sft"}, 0.5]]"#,
        )?;
        assert!(matches!(
            &cfg.objective,
            Objective::Dpo { loss: LossSpec::Mixture(m) } if m.terms.len() == 2
        ));
        let e = cfg.set("optim.lrr", "1").unwrap_err().to_string();
        assert!(e.contains("lrr"), "{e}");
        Ok(())
    }

    /// What a TRL user writes works; what is wrong is named, never as an untagged enum.
    #[test]
    fn loss_takes_trl_names_and_explains_mistakes() -> Result<()> {
        use prefer_nn::loss::{AotUnpairedConfig, IpoConfig};
        let mut cfg = TrainConfig::default();
        cfg.set("objective.loss", r#"{"type":"ipo","beta":0.2}"#)?;
        assert_eq!(
            cfg.objective,
            Objective::Dpo {
                loss: LossSpec::One(PairLoss::Ipo(IpoConfig {
                    tau: 0.2,
                    ..Default::default()
                }))
            }
        );
        cfg.set("objective.loss", r#"{"type":"aot_pair"}"#)?;
        assert_eq!(
            cfg.objective,
            Objective::Dpo {
                loss: LossSpec::One(PairLoss::AotUnpaired(AotUnpairedConfig::default()))
            }
        );
        for (value, want) in [
            (
                r#"{"type":"ipo","betta":0.1}"#,
                ["`ipo`", "`betta`", "did you mean `beta`"],
            ),
            (
                r#"{"type":"sigmod"}"#,
                ["`sigmod`", "accepts", "did you mean `sigmoid`"],
            ),
            (
                r#"[[{"type":"sigmoid"}, 1.0], [{"type":"sft","bta":1}, 0.2]]"#,
                ["term 1", "`sft`", "`bta`"],
            ),
            (
                r#"{"type":"hinge","beta":"x"}"#,
                ["`hinge`", "invalid type", "beta"],
            ),
        ] {
            let e = cfg.set("objective.loss", value).unwrap_err().to_string();
            for w in want {
                assert!(e.contains(w), "{value}: {e} lacks {w}");
            }
            assert!(!e.contains("untagged"), "{e}");
        }
        assert!(
            PairLoss::help().contains("ipo: tau = 0.1 (TRL: beta)"),
            "{}",
            PairLoss::help()
        );
        Ok(())
    }

    #[test]
    fn sync_needs_a_live_reference() {
        let mut cfg = TrainConfig::default();
        cfg.model.path = "m".into();
        cfg.data.train = "t".into();
        cfg.reference.sync = Some(RefSync::default());
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains("live"), "{e}");
    }

    fn objective(toml: &str) -> std::result::Result<TrainConfig, String> {
        TrainConfig::from_toml_str(toml).map_err(|e| e.to_string())
    }

    /// A TRL user's DPOConfig fields, flat in [objective], give the same configuration
    /// as our nested form: each loss takes the shared fields it reads (IPO's beta is its
    /// τ, EXO's label_smoothing its ε), lists with weights become mixtures, TR-DPO's
    /// sync fields go to [reference].
    #[test]
    fn trl_flat_objective_fields_mean_what_they_mean_in_trl() {
        let cases = [
            (
                "loss_type = \"robust\"\nbeta = 0.2\nlabel_smoothing = 0.1",
                "loss = { type = \"robust\", beta = 0.2, label_smoothing = 0.1 }",
            ),
            (
                "loss_type = \"ipo\"\nbeta = 0.3\nlabel_smoothing = 0.1",
                "loss = { type = \"ipo\", tau = 0.3 }",
            ),
            (
                "loss_type = \"exo_pair\"\nlabel_smoothing = 1e-3",
                "loss = { type = \"exo_pair\", epsilon = 1e-3 }",
            ),
            (
                "loss_type = [\"sigmoid\", \"sft\"]\nloss_weights = [1.0, 0.5]\nbeta = 0.05",
                "loss = [[{ type = \"sigmoid\", beta = 0.05 }, 1.0], [{ type = \"sft\" }, 0.5]]",
            ),
            ("beta = 0.2", "loss = { type = \"sigmoid\", beta = 0.2 }"),
            (
                "loss_type = \"discopop\"\ndiscopop_tau = 0.1",
                "loss = { type = \"discopop\", tau = 0.1 }",
            ),
        ];
        for (trl, ours) in cases {
            let a = objective(&format!("[objective]\n{trl}")).unwrap();
            let b = objective(&format!("[objective]\nmethod = \"dpo\"\n{ours}")).unwrap();
            assert_eq!(a.objective, b.objective, "{trl}");
            assert_ne!(a.objective, Objective::default(), "{trl}");
        }
        let a = objective(
            "[objective]\nloss_type = \"sigmoid\"\nsync_ref_model = true\nref_model_mixup_alpha = 0.9\nref_model_sync_steps = 64",
        )
        .unwrap();
        assert_eq!(a.reference.mode, ReferenceMode::Live);
        let s = a.reference.sync.unwrap();
        assert_eq!((s.alpha, s.steps), (0.9, 64));
    }

    /// What TRL computes and we do not is refused by name, never ignored; so are
    /// contradictions.
    #[test]
    fn trl_fields_we_do_not_compute_are_refused_by_name() {
        for (trl, want) in [
            ("ld_alpha = 0.5", "ld_alpha"),
            ("use_weighting = true", "use_weighting"),
            ("f_divergence_type = \"js_divergence\"", "f_divergence_type"),
            (
                "loss_type = [\"sigmoid\", \"sft\"]\nloss_weights = [1.0]",
                "loss_weights",
            ),
            (
                "loss_type = \"sigmoid\"\nloss = { type = \"ipo\" }",
                "not both",
            ),
            ("ref_model_mixup_alpha = 0.5", "sync_ref_model"),
            ("loss_type = \"sigmod\"", "sigmoid"),
        ] {
            let e = objective(&format!("[objective]\n{trl}")).unwrap_err();
            assert!(e.contains(want), "{trl}: {e}");
        }
        // A wrong field elsewhere still names its key.
        let e = objective("[objective]\nloss_type = \"ipo\"\n[optim]\nlrr = 1.0").unwrap_err();
        assert!(e.contains("lrr"), "{e}");
    }
}
