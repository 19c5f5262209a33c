//! The settings of the online objectives (`[objective]` with `method = "grpo"`, `"rloo"`
//! or `"reinforce_pp"`), flat as TRL's `GRPOConfig` / `RLOOConfig` and OpenRLHF's flags
//! name them, with their defaults. The algorithms are in [`crate::objective`]; these sit
//! below the configuration so that `config` does not depend on the training code.

use prefer_nn::loss::{ClipConfig, IsLevel, PgLossType, ScaleRewards};
use prefer_nn::sample::SampleConfig;
use serde::{Deserialize, Serialize};

use crate::reward::RewardSpec;
use crate::{Error, Result};

/// The [`Sampling`] half of an online configuration (they all name these fields alike).
macro_rules! sampling_of {
    ($c:expr) => {
        Sampling {
            num_generations: $c.num_generations,
            max_completion_length: $c.max_completion_length,
            temperature: $c.temperature,
            top_p: $c.top_p,
            top_k: $c.top_k,
            reward: $c.reward.clone(),
            gold: $c.gold.clone(),
            reward_optional: false,
        }
    };
}

/// The sampling half of an online objective's configuration (TRL names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// Completions per prompt, G.
    pub num_generations: usize,
    /// Most new tokens per completion.
    pub max_completion_length: usize,
    /// Sampling temperature.
    pub temperature: f64,
    /// Nucleus sampling.
    pub top_p: f64,
    /// Top-k sampling.
    pub top_k: Option<usize>,
    /// The reward sources, summed with their weights (at least one).
    pub reward: Vec<RewardSpec>,
    /// Gold sources: scored and logged (`gold`), not trained on.
    pub gold: Vec<RewardSpec>,
    /// Whether the objective learns without reward sources (Online DPO with a judge).
    #[serde(skip)]
    pub reward_optional: bool,
}

impl Sampling {
    /// Checks the ranges and that there is a reward; `method` names the objective, which
    /// needs at least `min_generations` completions per prompt.
    pub fn validate(&self, method: &str, min_generations: usize) -> Result<()> {
        if self.num_generations < min_generations.max(1) {
            return Err(Error::Config(format!(
                "objective.num_generations = {}: `{method}` needs ≥ {min_generations} completions per prompt",
                self.num_generations
            )));
        }
        if self.max_completion_length == 0 {
            return Err(Error::Config(
                "objective.max_completion_length must be ≥ 1".into(),
            ));
        }
        if self.reward.is_empty() && !self.reward_optional {
            return Err(Error::Config(format!(
                "objective `{method}` needs at least one [[objective.reward]] source"
            )));
        }
        for r in self.reward.iter().chain(&self.gold) {
            r.validate()?;
        }
        Ok(self.sample_config(0).validate()?)
    }

    pub(crate) fn sample_config(&self, seed: u64) -> SampleConfig {
        SampleConfig {
            max_new_tokens: self.max_completion_length,
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            seed,
            stop_at_eos: true,
        }
    }
}

/// `[objective]` with `method = "grpo"` (TRL `GRPOConfig` names and defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpoConfig {
    /// Completions per prompt, G (default 8).
    pub num_generations: usize,
    /// Most new tokens per completion (default 512).
    pub max_completion_length: usize,
    /// Sampling temperature (default 1.0).
    pub temperature: f64,
    /// Nucleus sampling (default 1.0: off).
    pub top_p: f64,
    /// Top-k sampling (default none).
    pub top_k: Option<usize>,
    /// The reduction (default `dapo`).
    pub loss_type: PgLossType,
    /// ε_low (default 0.2).
    pub epsilon: f64,
    /// ε_high (default: `epsilon`).
    pub epsilon_high: Option<f64>,
    /// β of the KL to the reference (default 0: no reference model).
    pub beta: f64,
    /// `token` (default) or `sequence` (GSPO).
    pub importance_sampling_level: IsLevel,
    /// `group` (default), `batch` or `none`.
    pub scale_rewards: ScaleRewards,
    /// Leave completions that hit `max_completion_length` out of the loss (default false).
    pub mask_truncated_completions: bool,
    /// Optimizer steps on each rollout, μ (default 1). With μ > 1 the log-probs of the
    /// sampling policy are kept and the ratio moves off 1 after the first step.
    pub num_iterations: usize,
    /// SPO (Swamy et al. 2024): each completion's reward is its share of wins against the
    /// other completions of its prompt (1 a win, ½ a tie) by the reward sources or the
    /// judge (default false).
    pub spo: bool,
    /// SPO's rater: an LLM judge of every pair in a group (`[objective.judge]`; needs
    /// `spo = true`); the reward sources are then optional and only logged.
    pub judge: Option<JudgeSpec>,
    /// The reward sources, summed with their weights (at least one).
    pub reward: Vec<RewardSpec>,
    /// Gold sources (`[[objective.gold]]`): scored and logged as `gold`, never trained on
    /// (the proxy-gold gap of an overoptimization study).
    pub gold: Vec<RewardSpec>,
}

impl Default for GrpoConfig {
    fn default() -> Self {
        GrpoConfig {
            num_generations: 8,
            max_completion_length: 512,
            temperature: 1.0,
            top_p: 1.0,
            top_k: None,
            loss_type: PgLossType::Dapo,
            epsilon: 0.2,
            epsilon_high: None,
            beta: 0.0,
            importance_sampling_level: IsLevel::Token,
            scale_rewards: ScaleRewards::Group,
            mask_truncated_completions: false,
            num_iterations: 1,
            spo: false,
            judge: None,
            reward: Vec::new(),
            gold: Vec::new(),
        }
    }
}

impl GrpoConfig {
    /// The surrogate's settings.
    pub fn clip(&self) -> ClipConfig {
        ClipConfig {
            loss_type: self.loss_type,
            epsilon: self.epsilon,
            epsilon_high: self.epsilon_high,
            beta: self.beta,
            importance_sampling_level: self.importance_sampling_level,
        }
    }

    /// The sampling settings.
    pub fn sampling(&self) -> Sampling {
        Sampling {
            reward_optional: self.judge.is_some(),
            ..sampling_of!(self)
        }
    }

    /// Checks the ranges and that there is a reward.
    pub fn validate(&self) -> Result<()> {
        self.sampling().validate("grpo", 2)?;
        if let Some(j) = &self.judge {
            if !self.spo {
                return Err(Error::Config(
                    "objective.judge rates GRPO's groups for SPO: set spo = true".into(),
                ));
            }
            j.endpoint.validate()?;
        }
        if self.num_iterations == 0 {
            return Err(Error::Config("objective.num_iterations must be ≥ 1".into()));
        }
        Ok(self.clip().validate()?)
    }
}

/// `[objective]` with `method = "rloo"` (TRL `RLOOConfig` names and defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RlooConfig {
    /// Completions per prompt, k (default 2).
    pub num_generations: usize,
    /// Most new tokens per completion (default 512).
    pub max_completion_length: usize,
    /// Sampling temperature (default 1.0).
    pub temperature: f64,
    /// Nucleus sampling (default 1.0: off).
    pub top_p: f64,
    /// Top-k sampling (default none).
    pub top_k: Option<usize>,
    /// β of the KL penalty in the reward (default 0.05; needs the reference model).
    pub beta: f64,
    /// ε_low (default 0.2).
    pub epsilon: f64,
    /// ε_high (default: `epsilon`).
    pub epsilon_high: Option<f64>,
    /// Standardise the advantages over the batch (default false).
    pub normalize_advantages: bool,
    /// The reward sources, summed with their weights (at least one).
    pub reward: Vec<RewardSpec>,
    /// Gold sources (`[[objective.gold]]`): scored and logged as `gold`, never trained on
    /// (the proxy-gold gap of an overoptimization study).
    pub gold: Vec<RewardSpec>,
}

impl Default for RlooConfig {
    fn default() -> Self {
        RlooConfig {
            num_generations: 2,
            max_completion_length: 512,
            temperature: 1.0,
            top_p: 1.0,
            top_k: None,
            beta: 0.05,
            epsilon: 0.2,
            epsilon_high: None,
            normalize_advantages: false,
            reward: Vec::new(),
            gold: Vec::new(),
        }
    }
}

impl RlooConfig {
    /// The sampling settings.
    pub fn sampling(&self) -> Sampling {
        sampling_of!(self)
    }

    /// Checks the ranges and that there is a reward.
    pub fn validate(&self) -> Result<()> {
        self.sampling().validate("rloo", 2)?;
        let bad = |name: &str, v: f64| Error::Config(format!("objective.{name} = {v} must be ≥ 0"));
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return Err(bad("beta", self.beta));
        }
        if !(0.0..1.0).contains(&self.epsilon) {
            return Err(Error::Config(format!(
                "objective.epsilon = {} must be in [0, 1)",
                self.epsilon
            )));
        }
        let h = self.epsilon_high.unwrap_or(self.epsilon);
        if !(h.is_finite() && h >= 0.0) {
            return Err(bad("epsilon_high", h));
        }
        Ok(())
    }
}

/// `[objective]` with `method = "reinforce_pp"` (OpenRLHF's names where it has them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReinforcePpConfig {
    /// Completions per prompt (default 1; ≥ 2 with `baseline`).
    pub num_generations: usize,
    /// Most new tokens per completion (default 512).
    pub max_completion_length: usize,
    /// Sampling temperature (default 1.0).
    pub temperature: f64,
    /// Nucleus sampling (default 1.0: off).
    pub top_p: f64,
    /// Top-k sampling (default none).
    pub top_k: Option<usize>,
    /// β, the per-token KL penalty in the reward (default 0.01; needs the reference).
    pub kl_coef: f64,
    /// γ, the discount of the returns (default 1.0).
    pub gamma: f64,
    /// ε of the clipped surrogate (default 0.2).
    pub epsilon: f64,
    /// Subtract each group's mean reward first (REINFORCE++-baseline; default false).
    pub baseline: bool,
    /// The reward sources, summed with their weights (at least one).
    pub reward: Vec<RewardSpec>,
    /// Gold sources (`[[objective.gold]]`): scored and logged as `gold`, never trained on
    /// (the proxy-gold gap of an overoptimization study).
    pub gold: Vec<RewardSpec>,
}

impl Default for ReinforcePpConfig {
    fn default() -> Self {
        ReinforcePpConfig {
            num_generations: 1,
            max_completion_length: 512,
            temperature: 1.0,
            top_p: 1.0,
            top_k: None,
            kl_coef: 0.01,
            gamma: 1.0,
            epsilon: 0.2,
            baseline: false,
            reward: Vec::new(),
            gold: Vec::new(),
        }
    }
}

impl ReinforcePpConfig {
    /// The sampling settings.
    pub fn sampling(&self) -> Sampling {
        sampling_of!(self)
    }

    /// The surrogate's settings (the `dapo` token mean over the step).
    pub fn clip(&self) -> ClipConfig {
        ClipConfig {
            loss_type: PgLossType::Dapo,
            epsilon: self.epsilon,
            ..ClipConfig::default()
        }
    }

    /// Checks the ranges and that there is a reward.
    pub fn validate(&self) -> Result<()> {
        self.sampling()
            .validate("reinforce_pp", if self.baseline { 2 } else { 1 })?;
        if !(self.kl_coef.is_finite() && self.kl_coef >= 0.0) {
            return Err(Error::Config(format!(
                "objective.kl_coef = {} must be ≥ 0",
                self.kl_coef
            )));
        }
        if !(0.0..=1.0).contains(&self.gamma) {
            return Err(Error::Config(format!(
                "objective.gamma = {} must be in [0, 1]",
                self.gamma
            )));
        }
        Ok(self.clip().validate()?)
    }
}

/// `[objective]` with `method = "ppo"` (TRL `PPOConfig` names and defaults; the adaptive KL
/// controller as in TRL's older `PPOConfig`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PpoConfig {
    /// Completions per prompt (default 1).
    pub num_generations: usize,
    /// Most new tokens per completion (default 53; TRL's `response_length`).
    #[serde(alias = "response_length")]
    pub max_completion_length: usize,
    /// Sampling temperature (default 0.7).
    pub temperature: f64,
    /// Nucleus sampling (default 1.0: off).
    pub top_p: f64,
    /// Top-k sampling (default none).
    pub top_k: Option<usize>,
    /// Optimizer passes over each rollout (default 4).
    pub num_ppo_epochs: usize,
    /// Mini-batches (optimizer steps) per pass (default 1). A rollout is
    /// `num_mini_batches × run.batch_size × run.grad_accum` completions.
    pub num_mini_batches: usize,
    /// β of the per-token KL penalty in the reward (default 0.05; the starting value
    /// when `kl_target` is set).
    pub kl_coef: f64,
    /// `k1` (default) or `k3`.
    pub kl_estimator: prefer_nn::loss::KlEstimator,
    /// The adaptive controller's target KL per completion (default none: β fixed).
    pub kl_target: Option<f64>,
    /// The adaptive controller's horizon in samples (default 10000).
    pub kl_horizon: f64,
    /// ε of the clipped policy surrogate (default 0.2).
    pub cliprange: f64,
    /// The value loss's weight (default 0.1).
    pub vf_coef: f64,
    /// The value clip range around the rollout's values (default 0.2).
    pub cliprange_value: f64,
    /// γ (default 1.0).
    pub gamma: f64,
    /// GAE's λ (default 0.95).
    pub lam: f64,
    /// Whiten the per-token rewards before GAE (default false).
    pub whiten_rewards: bool,
    /// Subtracted from the score of a completion without EOS (default none).
    pub missing_eos_penalty: Option<f64>,
    /// The critic's backbone: a causal LM folder with the policy's tokenizer (default: a
    /// copy of the policy). Its score head starts at zero.
    pub value_model: Option<std::path::PathBuf>,
    /// The reward sources, summed with their weights (at least one).
    pub reward: Vec<RewardSpec>,
    /// Gold sources (`[[objective.gold]]`): scored and logged as `gold`, never trained on
    /// (the proxy-gold gap of an overoptimization study).
    pub gold: Vec<RewardSpec>,
}

impl Default for PpoConfig {
    fn default() -> Self {
        PpoConfig {
            num_generations: 1,
            max_completion_length: 53,
            temperature: 0.7,
            top_p: 1.0,
            top_k: None,
            num_ppo_epochs: 4,
            num_mini_batches: 1,
            kl_coef: 0.05,
            kl_estimator: prefer_nn::loss::KlEstimator::K1,
            kl_target: None,
            kl_horizon: 10000.0,
            cliprange: 0.2,
            vf_coef: 0.1,
            cliprange_value: 0.2,
            gamma: 1.0,
            lam: 0.95,
            whiten_rewards: false,
            missing_eos_penalty: None,
            value_model: None,
            reward: Vec::new(),
            gold: Vec::new(),
        }
    }
}

impl PpoConfig {
    /// The sampling settings.
    pub fn sampling(&self) -> Sampling {
        sampling_of!(self)
    }

    /// The policy surrogate's settings (the `bnpo` token mean of each micro-batch).
    pub fn clip(&self) -> ClipConfig {
        ClipConfig {
            loss_type: PgLossType::Bnpo,
            epsilon: self.cliprange,
            ..ClipConfig::default()
        }
    }

    /// Checks the ranges and that there is a reward.
    pub fn validate(&self) -> Result<()> {
        self.sampling().validate("ppo", 1)?;
        let bad = |name: &str, v: f64, want: &str| {
            Error::Config(format!("objective.{name} = {v} must be {want}"))
        };
        if self.num_ppo_epochs == 0 || self.num_mini_batches == 0 {
            return Err(Error::Config(
                "objective.num_ppo_epochs and objective.num_mini_batches must be ≥ 1".into(),
            ));
        }
        for (name, v) in [
            ("kl_coef", self.kl_coef),
            ("vf_coef", self.vf_coef),
            ("cliprange_value", self.cliprange_value),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(bad(name, v, "≥ 0"));
            }
        }
        for (name, v) in [("gamma", self.gamma), ("lam", self.lam)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(bad(name, v, "in [0, 1]"));
            }
        }
        if let Some(t) = self.kl_target
            && !(t.is_finite() && t > 0.0)
        {
            return Err(bad("kl_target", t, "> 0"));
        }
        if !(self.kl_horizon.is_finite() && self.kl_horizon > 0.0) {
            return Err(bad("kl_horizon", self.kl_horizon, "> 0"));
        }
        if self.kl_target.is_some() && self.kl_coef == 0.0 {
            return Err(Error::Config(
                "objective.kl_target adapts kl_coef: start it above 0".into(),
            ));
        }
        Ok(self.clip().validate()?)
    }
}

/// The [`Sampling`] of a pair objective (Online DPO, XPO, Nash-MD): two completions per
/// prompt, TRL's `max_new_tokens`, `top_k = 0` as off, rewards optional with a judge.
macro_rules! pair_sampling_of {
    ($c:expr) => {
        Sampling {
            num_generations: 2,
            max_completion_length: $c.max_new_tokens,
            temperature: $c.temperature,
            top_p: $c.top_p,
            top_k: $c.top_k.filter(|k| *k > 0),
            reward: $c.reward.clone(),
            gold: $c.gold.clone(),
            reward_optional: $c.judge.is_some(),
        }
    };
}

/// What the pair objectives check alike: a reward or a judge, the sampling, the judge's
/// endpoint and `missing_eos_penalty ≥ 0`.
fn check_pair_sources(
    method: &str,
    sampling: &Sampling,
    judge: Option<&JudgeSpec>,
    missing_eos_penalty: Option<f64>,
) -> Result<()> {
    if sampling.reward.is_empty() && judge.is_none() {
        return Err(Error::Config(format!(
            "objective `{method}` needs at least one [[objective.reward]] source or an [objective.judge]"
        )));
    }
    sampling.validate(method, 2)?;
    if let Some(p) = missing_eos_penalty
        && !(p.is_finite() && p >= 0.0)
    {
        return Err(Error::Config(format!(
            "objective.missing_eos_penalty = {p} must be ≥ 0"
        )));
    }
    if let Some(j) = judge {
        j.endpoint.validate()?;
    }
    Ok(())
}

/// `[objective]` with `method = "online_dpo"` (TRL `OnlineDPOConfig` names and defaults).
///
/// Two completions are sampled per prompt; the reward sources (or the judge) say which is
/// chosen, and the pair is trained on with a DPO-family loss against the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OnlineDpoConfig {
    /// Most new tokens per completion (default 64; `max_completion_length` is read as the
    /// same field).
    #[serde(alias = "max_completion_length")]
    pub max_new_tokens: usize,
    /// Sampling temperature (default 0.9).
    pub temperature: f64,
    /// Nucleus sampling (default 1.0: off).
    pub top_p: f64,
    /// Top-k sampling (default none; TRL's `0` also means off).
    pub top_k: Option<usize>,
    /// β (default 0.1): the loss's β (IPO's τ), and the KL weight of the logged
    /// `objective/non_score_reward`. TRL also takes a list (one β per epoch); a list of one
    /// is read as its value.
    #[serde(deserialize_with = "one_value")]
    pub beta: Option<f64>,
    /// XPO only (`method = "xpo"`): the weight α of the exploration term
    /// `α Σ_t log π(y_ref)` (default 1e-5; a list of one is read as its value).
    #[serde(deserialize_with = "one_value")]
    pub alpha: Option<f64>,
    /// TRL's `sigmoid` (default: `−log σ(β h)`) or `ipo` (`(h − 1/(2β))²`, h from
    /// sequence sums, not length-normalised), with `h` the difference of the chosen and
    /// rejected log-ratios to the reference.
    pub loss_type: Option<OnlineLossType>,
    /// Any pair loss of the DPO family instead of `loss_type` (`{ type = "hinge", … }`).
    pub loss: Option<prefer_nn::loss::PairLoss>,
    /// Subtracted from the reward of a completion that ran out of `max_new_tokens` before
    /// EOS (default none).
    pub missing_eos_penalty: Option<f64>,
    /// The reward sources, summed with their weights: the completion with the larger
    /// reward is chosen (the first on a tie, as TRL's `first >= second`). Optional with a
    /// judge (then only logged).
    pub reward: Vec<RewardSpec>,
    /// Gold sources (`[[objective.gold]]`): scored and logged as `gold`, never trained on.
    pub gold: Vec<RewardSpec>,
    /// A pairwise judge instead of the rewards (`[objective.judge]`).
    pub judge: Option<JudgeSpec>,
}

/// TRL `OnlineDPOConfig.loss_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnlineLossType {
    /// DPO's `−log σ(β h)`.
    Sigmoid,
    /// IPO's `(h − 1/(2β))²`.
    Ipo,
}

/// A judge of Online DPO's pairs: an LLM over an OpenAI-compatible endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeSpec {
    /// The endpoint (`[objective.judge.endpoint]`: `base_url`, `model`, `cache`, …).
    pub endpoint: crate::judge::endpoint::EndpointConfig,
    /// Ask each pair in both orders (default true); a pair whose two verdicts disagree is
    /// a tie. Ties and failures are left out of the step's loss and counted.
    #[serde(default = "yes")]
    pub both_orders: bool,
}

fn yes() -> bool {
    true
}

fn one_value<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Beta {
        One(f64),
        List(Vec<f64>),
    }
    // Untagged only to read the two spellings; its error is replaced by one naming both.
    match Beta::deserialize(d) {
        Ok(Beta::One(b)) => Ok(Some(b)),
        Ok(Beta::List(v)) if v.len() == 1 => Ok(Some(v[0])),
        Ok(Beta::List(v)) => Err(serde::de::Error::custom(format!(
            "a list of {} values (TRL's value per epoch) is not supported; give one",
            v.len()
        ))),
        Err(_) => Err(serde::de::Error::custom(
            "expected a number or a list of one number",
        )),
    }
}

impl Default for OnlineDpoConfig {
    fn default() -> Self {
        OnlineDpoConfig {
            max_new_tokens: 64,
            temperature: 0.9,
            top_p: 1.0,
            top_k: None,
            beta: None,
            alpha: None,
            loss_type: None,
            loss: None,
            missing_eos_penalty: None,
            reward: Vec::new(),
            gold: Vec::new(),
            judge: None,
        }
    }
}

impl OnlineDpoConfig {
    /// β (default 0.1).
    pub fn beta(&self) -> f64 {
        self.beta.unwrap_or(0.1)
    }

    /// The pair loss: `loss` if given, else `loss_type` with `beta`.
    pub fn pair_loss(&self) -> prefer_nn::loss::PairLoss {
        use prefer_nn::loss::{IpoConfig, PairLoss, SigmoidConfig};
        if let Some(l) = &self.loss {
            return l.clone();
        }
        match self.loss_type.unwrap_or(OnlineLossType::Sigmoid) {
            OnlineLossType::Sigmoid => PairLoss::Sigmoid(SigmoidConfig {
                beta: self.beta(),
                ..SigmoidConfig::default()
            }),
            OnlineLossType::Ipo => PairLoss::Ipo(IpoConfig {
                tau: self.beta(),
                normalize_length: false,
            }),
        }
    }

    /// The sampling settings: two completions per prompt.
    pub fn sampling(&self) -> Sampling {
        pair_sampling_of!(self)
    }

    /// XPO's α (default 1e-5).
    pub fn alpha(&self) -> f64 {
        self.alpha.unwrap_or(1e-5)
    }

    /// Checks the ranges, the loss, and that there is a reward or a judge; `xpo` for
    /// `method = "xpo"`.
    pub fn validate_as(&self, xpo: bool) -> Result<()> {
        if !xpo && self.alpha.is_some() {
            return Err(Error::Config(
                "objective.alpha is XPO's exploration weight: use method = \"xpo\"".into(),
            ));
        }
        let a = self.alpha();
        if !a.is_finite() {
            return Err(Error::Config(format!(
                "objective.alpha = {a} must be finite"
            )));
        }
        self.validate()
    }

    /// Checks the ranges, the loss, and that there is a reward or a judge.
    pub fn validate(&self) -> Result<()> {
        check_pair_sources(
            "online_dpo",
            &self.sampling(),
            self.judge.as_ref(),
            self.missing_eos_penalty,
        )?;
        if self.loss.is_some() && self.loss_type.is_some() {
            return Err(Error::Config(
                "objective: give either `loss_type` or `loss = { type = ... }`, not both".into(),
            ));
        }
        let b = self.beta();
        if !(b.is_finite() && b > 0.0) {
            return Err(Error::Config(format!("objective.beta = {b} must be > 0")));
        }
        let l = self.pair_loss();
        if !l.needs_reference() {
            return Err(Error::Config(format!(
                "objective.loss `{}` is reference-free; Online DPO compares with the reference",
                l.name()
            )));
        }
        if l.is_batch_coupled() {
            return Err(Error::Config(format!(
                "objective.loss `{}` couples the batch; Online DPO needs a per-pair loss",
                l.name()
            )));
        }
        Ok(l.validate()?)
    }
}

/// `[objective]` with `method = "nash_md"` (TRL `NashMDConfig` names and defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NashMdConfig {
    /// Most new tokens per completion (default 64; `max_completion_length` is read as the
    /// same field).
    #[serde(alias = "max_completion_length")]
    pub max_new_tokens: usize,
    /// Sampling temperature (default 0.9).
    pub temperature: f64,
    /// Nucleus sampling (default 1.0: off).
    pub top_p: f64,
    /// Top-k sampling (default none; TRL's `0` also means off).
    pub top_k: Option<usize>,
    /// β, the KL weight (default 0.1; a list of one is read as its value).
    #[serde(deserialize_with = "one_value")]
    pub beta: Option<f64>,
    /// The opponent's share of the reference, `π_mix ∝ π^(1−c) π_ref^c` (default 0.5; a
    /// list of one is read as its value).
    #[serde(deserialize_with = "one_value")]
    pub mixture_coef: Option<f64>,
    /// Subtracted from the reward of a completion that ran out of tokens (default none).
    pub missing_eos_penalty: Option<f64>,
    /// The reward sources: `P(y ≻ y') = σ(r(y) − r(y'))`. Optional with a judge.
    pub reward: Vec<RewardSpec>,
    /// Gold sources (`[[objective.gold]]`): scored and logged as `gold`, never trained on.
    pub gold: Vec<RewardSpec>,
    /// A pairwise judge instead of the rewards: `P` is 1, 0 or ½ for a win, a loss or a tie.
    pub judge: Option<JudgeSpec>,
}

impl Default for NashMdConfig {
    fn default() -> Self {
        NashMdConfig {
            max_new_tokens: 64,
            temperature: 0.9,
            top_p: 1.0,
            top_k: None,
            beta: None,
            mixture_coef: None,
            missing_eos_penalty: None,
            reward: Vec::new(),
            gold: Vec::new(),
            judge: None,
        }
    }
}

impl NashMdConfig {
    /// β (default 0.1).
    pub fn beta(&self) -> f64 {
        self.beta.unwrap_or(0.1)
    }

    /// The mixture coefficient (default 0.5).
    pub fn mixture_coef(&self) -> f64 {
        self.mixture_coef.unwrap_or(0.5)
    }

    /// The sampling settings: one completion of the policy and one of the mixture.
    pub fn sampling(&self) -> Sampling {
        pair_sampling_of!(self)
    }

    /// Checks the ranges and that there is a reward or a judge.
    pub fn validate(&self) -> Result<()> {
        check_pair_sources(
            "nash_md",
            &self.sampling(),
            self.judge.as_ref(),
            self.missing_eos_penalty,
        )?;
        let b = self.beta();
        if !(b.is_finite() && b >= 0.0) {
            return Err(Error::Config(format!("objective.beta = {b} must be ≥ 0")));
        }
        let c = self.mixture_coef();
        if !(0.0..=1.0).contains(&c) {
            return Err(Error::Config(format!(
                "objective.mixture_coef = {c} must be in [0, 1]"
            )));
        }
        Ok(())
    }
}

/// `[objective]` with `method = "sppo"`: Self-Play Preference Optimization at LM scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SppoConfig {
    /// Completions per prompt, K (default 4; ≥ 2).
    pub num_generations: usize,
    /// Most new tokens per completion (default 64).
    pub max_completion_length: usize,
    /// Sampling temperature (default 1.0).
    pub temperature: f64,
    /// Nucleus sampling (default 1.0: off).
    pub top_p: f64,
    /// Top-k sampling (default none).
    pub top_k: Option<usize>,
    /// β (default 0.1): the target log-ratio is `(P̂ − ½)/β` (the paper's η = 1/β).
    pub beta: f64,
    /// The reward sources: `P(y ≻ y') = σ(r(y) − r(y'))` (at least one).
    pub reward: Vec<RewardSpec>,
    /// Gold sources (`[[objective.gold]]`): scored and logged as `gold`, never trained on.
    pub gold: Vec<RewardSpec>,
}

impl Default for SppoConfig {
    fn default() -> Self {
        SppoConfig {
            num_generations: 4,
            max_completion_length: 64,
            temperature: 1.0,
            top_p: 1.0,
            top_k: None,
            beta: 0.1,
            reward: Vec::new(),
            gold: Vec::new(),
        }
    }
}

impl SppoConfig {
    /// The sampling settings.
    pub fn sampling(&self) -> Sampling {
        sampling_of!(self)
    }

    /// Checks the ranges and that there is a reward.
    pub fn validate(&self) -> Result<()> {
        self.sampling().validate("sppo", 2)?;
        if !(self.beta.is_finite() && self.beta > 0.0) {
            return Err(Error::Config(format!(
                "objective.beta = {} must be > 0",
                self.beta
            )));
        }
        Ok(())
    }
}
