//! The preference-loss library: one file per loss, one enum variant each.
//!
//! Every loss reads an explicit input contract ([`PairLogps`], [`UnpairedLogps`],
//! [`RankedLogps`], [`RewardPair`]) and returns **unreduced** per-example values plus the
//! implicit rewards; the trainer reduces (TRL takes the batch mean) and logs. All losses are
//! built from differentiable candle primitives (see [`ops`]), so gradients reach the policy
//! log-probs; every loss has a finite-difference gradient check and, where TRL has the
//! loss, a fixture computed by TRL's own code (`tests/fixtures/trl/`).
//!
//! # Quickstart
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use prefer_nn::loss::{PairLogps, PairLoss, SigmoidConfig};
//!
//! let dev = Device::Cpu;
//! let x = PairLogps::new(
//!     Tensor::new(&[-10.0f64, -12.0], &dev)?,   // log π_θ(y_w | x), summed over tokens
//!     Tensor::new(&[-11.0f64, -11.5], &dev)?,   // log π_θ(y_l | x)
//!     Tensor::new(&[5.0f64, 6.0], &dev)?,       // |y_w|
//!     Tensor::new(&[4.0f64, 6.0], &dev)?,       // |y_l|
//! )
//! .with_reference(Tensor::new(&[-10.5f64, -12.0], &dev)?, Tensor::new(&[-10.5f64, -11.0], &dev)?);
//!
//! // From a TOML/JSON config: {"type": "sigmoid", "beta": 0.1}
//! let loss: PairLoss = serde_json::from_str(r#"{"type": "sigmoid", "beta": 0.1}"#)?;
//! assert_eq!(loss, PairLoss::Sigmoid(SigmoidConfig::default()));
//! loss.validate()?;
//! let out = loss.forward(&x)?;                  // out.loss: [batch], unreduced
//! let mean = out.loss.mean_all()?.to_scalar::<f64>()?;
//! // β·h = 0.1·((−10+10.5) − (−11+10.5)) = 0.1 for the first pair; 0.1·(0 − (−0.5)) = 0.05.
//! let want = ((1.0 + (-0.1f64).exp()).ln() + (1.0 + (-0.05f64).exp()).ln()) / 2.0;
//! assert!((mean - want).abs() < 1e-12);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Families
//! - [`PairLoss`]: every paired loss (TRL `DPOTrainer` loss types, SimPO, CPO, ORPO, the
//!   soft-preference cross-entropy). Most are [`PairwiseLoss`]es (each example's loss reads
//!   only that example); `aot`, `aot_unpaired` and `sft` are [`BatchPairLoss`]es (they sort
//!   the batch or average over all its tokens), which [`PairLoss::is_batch_coupled`] reports.
//! - [`Mixture`]: a weighted sum of pair losses (MPO).
//! - [`UnpairedLoss`]: KTO, APO-zero-unpaired, BCO, on [`UnpairedLogps`].
//! - [`pro`]: listwise Plackett–Luce (PRO) on [`RankedLogps`].
//! - [`clipped_surrogate`]: the GRPO / DAPO / GSPO / Dr. GRPO policy-gradient loss on
//!   per-token [`TokenLogps`], with [`group_advantages`] and [`rloo_advantages`].
//! - [`bradley_terry`]: the reward-model loss of TRL's `RewardTrainer`, on [`RewardPair`].
//!
//! # More information
//! `docs/losses.md` has the table of every loss (formula, paper, defaults, TRL name) and
//! the command that rebuilds the TRL fixtures.

mod inputs;
pub mod ops;

mod aot;
mod aot_unpaired;
mod apo_down;
mod apo_zero;
mod bco;
mod bco_pair;
mod cpo;
mod discopop;
mod exo_pair;
mod hinge;
mod ipo;
mod kto;
mod mixture;
mod nca_pair;
mod orpo;
mod policy_gradient;
mod ppo;
mod pro;
mod reward_model;
mod robust;
mod sft;
mod sigmoid;
mod sigmoid_norm;
mod simpo;
mod soft_preference;
mod sppo_hard;

pub use aot::{AotConfig, aot};
pub use aot_unpaired::{AotUnpairedConfig, aot_unpaired};
pub use apo_down::{ApoDownConfig, apo_down};
pub use apo_zero::{ApoZeroConfig, apo_zero};
pub use bco::{BcoConfig, RunningMoments, bco};
pub use bco_pair::{BcoPairConfig, bco_pair};
pub use cpo::{CpoConfig, cpo};
pub use discopop::{DiscopopConfig, discopop};
pub use exo_pair::{ExoPairConfig, exo_pair};
pub use hinge::{HingeConfig, hinge};
pub use inputs::{
    ListLossOutput, LossOutput, PairLogps, RankedLogps, RewardPair, UnpairedLogps,
    UnpairedLossOutput,
};
pub use ipo::{IpoConfig, ipo};
pub use kto::{ApoZeroUnpairedConfig, KtoConfig, apo_zero_unpaired, kto, kto_reference_point};
pub use mixture::Mixture;
pub use nca_pair::{NcaPairConfig, nca_pair};
pub use orpo::{OrpoConfig, orpo};
pub use policy_gradient::{
    ClipConfig, IsLevel, PgLossType, PgOutput, ScaleRewards, TokenLogps, clipped_surrogate,
    group_advantages, reinforce_pp_advantages, rloo_advantages, sample_std, sequence_surrogate,
};
pub use ppo::{
    Gae, KlEstimator, ValueLoss, adapt_kl_coef, explained_variance, gae, kl_penalized_rewards,
    value_loss, whiten,
};
pub use pro::{ProConfig, ProTemperature, pro};
pub use reward_model::{BradleyTerryConfig, bradley_terry};
pub use robust::{RobustConfig, robust};
pub use sft::{SftConfig, sft};
pub use sigmoid::{SigmoidConfig, sigmoid};
pub use sigmoid_norm::{SigmoidNormConfig, sigmoid_norm};
pub use simpo::{SimpoConfig, simpo};
pub use soft_preference::{SoftPreferenceConfig, soft_preference};
pub use sppo_hard::{SppoHardConfig, sppo_hard};

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// A paired loss whose value for one example reads only that example: the batch can be
/// split into micro-batches (gradient accumulation) without changing the objective.
pub trait PairwiseLoss {
    /// Per-example loss and implicit rewards.
    ///
    /// # Shapes
    /// - every input `[batch]` → every output `[batch]`.
    fn pair_loss(&self, x: &PairLogps) -> Result<LossOutput>;
}

/// A paired loss whose per-example values depend on the whole batch (AOT sorts it, the SFT
/// term averages over all its tokens). Splitting the batch into micro-batches changes the
/// objective: give it the whole batch, as TRL does per device.
pub trait BatchPairLoss {
    /// Per-example loss (batch-dependent) and implicit rewards.
    ///
    /// # Shapes
    /// - every input `[batch]` → every output `[batch]`.
    fn batch_loss(&self, x: &PairLogps) -> Result<LossOutput>;
}

/// Every paired preference loss; the `type` tag is TRL's `loss_type` name where TRL has one.
///
/// ```
/// # use prefer_nn::loss::*;
/// let l: PairLoss = serde_json::from_str(r#"{"type": "ipo", "tau": 0.5}"#)?;
/// assert_eq!(l, PairLoss::Ipo(IpoConfig { tau: 0.5, ..IpoConfig::default() }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PairLoss {
    /// DPO, with label smoothing = cDPO ([`SigmoidConfig`]).
    Sigmoid(SigmoidConfig),
    /// SLiC / RSO hinge ([`HingeConfig`]).
    Hinge(HingeConfig),
    /// IPO ([`IpoConfig`]).
    Ipo(IpoConfig),
    /// EXO, pairwise ([`ExoPairConfig`]).
    ExoPair(ExoPairConfig),
    /// NCA, pairwise ([`NcaPairConfig`]).
    NcaPair(NcaPairConfig),
    /// Robust DPO ([`RobustConfig`]).
    Robust(RobustConfig),
    /// BCO on pairs ([`BcoPairConfig`]).
    BcoPair(BcoPairConfig),
    /// SPPO with hard labels ([`SppoHardConfig`]).
    SppoHard(SppoHardConfig),
    /// AOT on paired data; batch-coupled ([`AotConfig`]).
    Aot(AotConfig),
    /// AOT on unpaired data; batch-coupled ([`AotUnpairedConfig`]). `aot_pair` is TRL
    /// 0.x's name for the same computation (sorted chosen and rejected log-ratios).
    #[serde(alias = "aot_pair")]
    AotUnpaired(AotUnpairedConfig),
    /// APO-zero ([`ApoZeroConfig`]).
    ApoZero(ApoZeroConfig),
    /// APO-down ([`ApoDownConfig`]).
    ApoDown(ApoDownConfig),
    /// DiscoPOP ([`DiscopopConfig`]).
    Discopop(DiscopopConfig),
    /// The SFT (RPO) term; batch-coupled ([`SftConfig`]).
    Sft(SftConfig),
    /// Length-normalised DPO ([`SigmoidNormConfig`]).
    SigmoidNorm(SigmoidNormConfig),
    /// SimPO, reference-free ([`SimpoConfig`]).
    Simpo(SimpoConfig),
    /// CPO, reference-free ([`CpoConfig`]).
    Cpo(CpoConfig),
    /// ORPO, reference-free ([`OrpoConfig`]).
    Orpo(OrpoConfig),
    /// Soft-preference cross-entropy with preference strength ([`SoftPreferenceConfig`]).
    SoftPreference(SoftPreferenceConfig),
}

impl Default for PairLoss {
    fn default() -> Self {
        Self::Sigmoid(SigmoidConfig::default())
    }
}

impl PairLoss {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Sigmoid(c) => c.validate(),
            Self::Hinge(c) => c.validate(),
            Self::Ipo(c) => c.validate(),
            Self::ExoPair(c) => c.validate(),
            Self::NcaPair(c) => c.validate(),
            Self::Robust(c) => c.validate(),
            Self::BcoPair(c) => c.validate(),
            Self::SppoHard(c) => c.validate(),
            Self::Aot(c) => c.validate(),
            Self::AotUnpaired(c) => c.validate(),
            Self::ApoZero(c) => c.validate(),
            Self::ApoDown(c) => c.validate(),
            Self::Discopop(c) => c.validate(),
            Self::Sft(c) => c.validate(),
            Self::SigmoidNorm(c) => c.validate(),
            Self::Simpo(c) => c.validate(),
            Self::Cpo(c) => c.validate(),
            Self::Orpo(c) => c.validate(),
            Self::SoftPreference(c) => c.validate(),
        }
    }

    /// Per-example loss and implicit rewards; validates the input first.
    ///
    /// # Shapes
    /// - every input `[batch]` → every output `[batch]`.
    pub fn forward(&self, x: &PairLogps) -> Result<LossOutput> {
        x.validate()?;
        match self {
            Self::Sigmoid(c) => c.pair_loss(x),
            Self::Hinge(c) => c.pair_loss(x),
            Self::Ipo(c) => c.pair_loss(x),
            Self::ExoPair(c) => c.pair_loss(x),
            Self::NcaPair(c) => c.pair_loss(x),
            Self::Robust(c) => c.pair_loss(x),
            Self::BcoPair(c) => c.pair_loss(x),
            Self::SppoHard(c) => c.pair_loss(x),
            Self::Aot(c) => c.batch_loss(x),
            Self::AotUnpaired(c) => c.batch_loss(x),
            Self::ApoZero(c) => c.pair_loss(x),
            Self::ApoDown(c) => c.pair_loss(x),
            Self::Discopop(c) => c.pair_loss(x),
            Self::Sft(c) => c.batch_loss(x),
            Self::SigmoidNorm(c) => c.pair_loss(x),
            Self::Simpo(c) => c.pair_loss(x),
            Self::Cpo(c) => c.pair_loss(x),
            Self::Orpo(c) => c.pair_loss(x),
            Self::SoftPreference(c) => c.pair_loss(x),
        }
    }

    /// True for the [`BatchPairLoss`]es (`aot`, `aot_unpaired`, `sft`): their per-example
    /// values depend on the rest of the batch.
    pub fn is_batch_coupled(&self) -> bool {
        matches!(self, Self::Aot(_) | Self::AotUnpaired(_) | Self::Sft(_))
    }

    /// True when the loss reads `ref_chosen` / `ref_rejected`.
    pub fn needs_reference(&self) -> bool {
        !matches!(
            self,
            Self::Sft(_) | Self::Simpo(_) | Self::Cpo(_) | Self::Orpo(_)
        )
    }

    /// TRL's name for the loss (`loss_type` of `DPOTrainer`; `simpo`, `sigmoid` of
    /// `CPOTrainer`; `orpo` for `ORPOTrainer`), or our name where TRL has none.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sigmoid(_) => "sigmoid",
            Self::Hinge(_) => "hinge",
            Self::Ipo(_) => "ipo",
            Self::ExoPair(_) => "exo_pair",
            Self::NcaPair(_) => "nca_pair",
            Self::Robust(_) => "robust",
            Self::BcoPair(_) => "bco_pair",
            Self::SppoHard(_) => "sppo_hard",
            Self::Aot(_) => "aot",
            Self::AotUnpaired(_) => "aot_unpaired",
            Self::ApoZero(_) => "apo_zero",
            Self::ApoDown(_) => "apo_down",
            Self::Discopop(_) => "discopop",
            Self::Sft(_) => "sft",
            Self::SigmoidNorm(_) => "sigmoid_norm",
            Self::Simpo(_) => "simpo",
            Self::Cpo(_) => "cpo",
            Self::Orpo(_) => "orpo",
            Self::SoftPreference(_) => "soft_preference",
        }
    }
}

/// Every `type` a [`PairLoss`] accepts, with TRL's older names as aliases.
pub const PAIR_LOSS_NAMES: [&str; 19] = [
    "sigmoid",
    "hinge",
    "ipo",
    "exo_pair",
    "nca_pair",
    "robust",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_unpaired",
    "apo_zero",
    "apo_down",
    "discopop",
    "sft",
    "sigmoid_norm",
    "simpo",
    "cpo",
    "orpo",
    "soft_preference",
];

/// Field aliases: (loss type, TRL's name, our field).
const FIELD_ALIASES: [(&str, &str, &str); 3] = [
    ("ipo", "beta", "tau"),
    ("discopop", "discopop_tau", "tau"),
    ("exo_pair", "label_smoothing", "epsilon"),
];

/// Type aliases: (TRL's older name, ours).
const TYPE_ALIASES: [(&str, &str); 1] = [("aot_pair", "aot_unpaired")];

/// Levenshtein distance (for "did you mean").
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The closest of `names` to `got`, when close enough to be a likely typo.
fn closest<'a>(got: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    names
        .into_iter()
        .map(|n| (edit_distance(got, n), n))
        .filter(|(d, n)| *d <= (n.len() / 2).max(2))
        .min()
        .map(|(_, n)| n)
}

impl PairLoss {
    /// The loss called `name` (or a TRL alias) with its defaults.
    pub fn from_name(name: &str) -> Option<PairLoss> {
        serde_json::from_value(serde_json::json!({ "type": name })).ok()
    }

    /// Our name for `field` of loss type `name`: TRL's alias resolved (IPO's `beta` is
    /// its `tau`, EXO's `label_smoothing` its `epsilon`), any other field as it is.
    pub fn own_field<'a>(name: &str, field: &'a str) -> &'a str {
        let own = Self::from_name(name).map_or("", |l| l.name());
        FIELD_ALIASES
            .iter()
            .find(|(t, alias, _)| *t == own && *alias == field)
            .map_or(field, |(_, _, ours)| ours)
    }

    /// Whether loss type `name` takes `field` (ours or TRL's alias for it).
    pub fn accepts(name: &str, field: &str) -> bool {
        let Some(l) = Self::from_name(name) else {
            return false;
        };
        let field = Self::own_field(name, field);
        l.params().iter().any(|(k, _)| k == field)
    }

    /// The parameters of this loss with their current values (the defaults for
    /// [`from_name`](Self::from_name)).
    pub fn params(&self) -> Vec<(String, serde_json::Value)> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => {
                m.into_iter().filter(|(k, _)| k != "type").collect()
            }
            _ => Vec::new(),
        }
    }

    /// One line per loss type: its parameters and defaults, and TRL's names for them.
    pub fn help() -> String {
        let mut out = String::new();
        for name in PAIR_LOSS_NAMES {
            let Some(l) = Self::from_name(name) else {
                continue;
            };
            let params: Vec<String> = l
                .params()
                .iter()
                .map(|(k, v)| {
                    let trl = FIELD_ALIASES
                        .iter()
                        .find(|(t, _, ours)| *t == name && ours == k)
                        .map_or(String::new(), |(_, trl, _)| format!(" (TRL: {trl})"));
                    format!("{k} = {v}{trl}")
                })
                .collect();
            let alias = TYPE_ALIASES
                .iter()
                .find(|(_, ours)| *ours == name)
                .map_or(String::new(), |(a, _)| format!(" (also `{a}`)"));
            let params = if params.is_empty() {
                "no parameters".to_string()
            } else {
                params.join(", ")
            };
            out.push_str(&format!("  {name}{alias}: {params}\n"));
        }
        out
    }

    /// Parses a loss from a JSON/TOML value, with errors that name the loss, the field,
    /// what it accepts and the closest valid name.
    ///
    /// ```
    /// # use prefer_nn::loss::*;
    /// let v = serde_json::json!({"type": "ipo", "beta": 0.2});   // TRL's name for τ
    /// assert_eq!(PairLoss::from_value(&v)?, PairLoss::Ipo(IpoConfig { tau: 0.2, ..Default::default() }));
    /// let e = PairLoss::from_value(&serde_json::json!({"type": "ipo", "betta": 0.2})).unwrap_err();
    /// assert!(e.contains("`ipo`") && e.contains("`betta`") && e.contains("did you mean `beta`"), "{e}");
    /// # Ok::<(), String>(())
    /// ```
    pub fn from_value(v: &serde_json::Value) -> std::result::Result<PairLoss, String> {
        let obj = v.as_object().ok_or_else(|| {
            format!("a loss is a table like {{ type = \"sigmoid\", beta = 0.1 }}, not {v}")
        })?;
        let accepted = || {
            let mut n: Vec<&str> = PAIR_LOSS_NAMES.to_vec();
            n.extend(TYPE_ALIASES.iter().map(|(a, _)| *a));
            n
        };
        let ty = match obj.get("type") {
            Some(serde_json::Value::String(s)) => s.as_str(),
            Some(other) => return Err(format!("loss field `type` = {other}: must be a string")),
            None => {
                return Err(format!(
                    "loss: field `type` is missing; accepts: {}",
                    accepted().join(", ")
                ));
            }
        };
        let Some(default) = Self::from_name(ty) else {
            let hint =
                closest(ty, accepted()).map_or(String::new(), |c| format!("; did you mean `{c}`?"));
            return Err(format!(
                "loss type `{ty}` is unknown; accepts: {}{hint}",
                accepted().join(", ")
            ));
        };
        let name = default.name();
        let params = default.params();
        let mut fields: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
        fields.extend(
            FIELD_ALIASES
                .iter()
                .filter(|(t, _, _)| *t == name)
                .map(|(_, a, _)| *a),
        );
        for k in obj.keys().filter(|k| *k != "type") {
            if !fields.contains(&k.as_str()) {
                let list: Vec<String> = params
                    .iter()
                    .map(|(k, v)| format!("{k} (default {v})"))
                    .collect();
                let hint = closest(k, fields.iter().copied())
                    .map_or(String::new(), |c| format!("; did you mean `{c}`?"));
                return Err(format!(
                    "loss `{name}`: unknown field `{k}`; accepts: {}{hint}",
                    if list.is_empty() {
                        "no parameters".to_string()
                    } else {
                        list.join(", ")
                    }
                ));
            }
        }
        serde_json::from_value(v.clone()).map_err(|e| format!("loss `{name}`: {e}"))
    }
}

/// Every unpaired loss, on [`UnpairedLogps`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UnpairedLoss {
    /// KTO with its KL reference point ([`KtoConfig`]).
    Kto(KtoConfig),
    /// APO-zero on unpaired data ([`ApoZeroUnpairedConfig`]).
    ApoZeroUnpaired(ApoZeroUnpairedConfig),
    /// BCO with its running reward mean δ ([`BcoConfig`]); stateful, see [`RunningMoments`].
    Bco(BcoConfig),
}

impl Default for UnpairedLoss {
    fn default() -> Self {
        Self::Kto(KtoConfig::default())
    }
}

impl UnpairedLoss {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Kto(c) => c.validate(),
            Self::ApoZeroUnpaired(c) => c.validate(),
            Self::Bco(c) => c.validate(),
        }
    }

    /// A training step: per-example loss and rewards. BCO first folds this batch's rewards
    /// into `running` (TRL's `do_train=True`); the other losses leave it untouched.
    pub fn forward(
        &self,
        x: &UnpairedLogps,
        running: &mut RunningMoments,
    ) -> Result<UnpairedLossOutput> {
        x.validate()?;
        match self {
            Self::Kto(c) => kto(x, c),
            Self::ApoZeroUnpaired(c) => apo_zero_unpaired(x, c),
            Self::Bco(c) => bco(x, c, running, true),
        }
    }

    /// An evaluation step: like [`forward`](Self::forward) but BCO reads `running` without
    /// updating it (TRL's `do_train=False`).
    pub fn evaluate(
        &self,
        x: &UnpairedLogps,
        running: &RunningMoments,
    ) -> Result<UnpairedLossOutput> {
        x.validate()?;
        match self {
            Self::Kto(c) => kto(x, c),
            Self::ApoZeroUnpaired(c) => apo_zero_unpaired(x, c),
            Self::Bco(c) => bco(x, c, &mut running.clone(), false),
        }
    }
}

/// β·a and β·b, detached: the implicit rewards every loss reports.
pub(crate) fn scaled_rewards(beta: f64, a: &Tensor, b: &Tensor) -> Result<(Tensor, Tensor)> {
    Ok(((a * beta)?.detach(), (b * beta)?.detach()))
}

/// Shared helpers of the unit tests.
#[cfg(test)]
pub(crate) mod test_util {
    use candle_core::{Device, Tensor};

    use super::PairLogps;
    use crate::error::Result;

    /// f64 evaluation of a closed form: agreement to a few ulps of the values involved.
    pub const TOL: f64 = 1e-12;

    /// A pair batch from plain slices (f64): policy (c, r), reference (c, r), lengths (c, r).
    pub fn pairs(
        pc: &[f64],
        pr: &[f64],
        rc: &[f64],
        rr: &[f64],
        lc: &[f64],
        lr: &[f64],
    ) -> Result<PairLogps> {
        let d = Device::Cpu;
        Ok(PairLogps::new(
            Tensor::new(pc, &d)?,
            Tensor::new(pr, &d)?,
            Tensor::new(lc, &d)?,
            Tensor::new(lr, &d)?,
        )
        .with_reference(Tensor::new(rc, &d)?, Tensor::new(rr, &d)?))
    }

    /// The standard small batch of the unit tests (4 pairs, one tie, one large margin).
    pub fn batch() -> Result<PairLogps> {
        pairs(
            &[-10.0, -20.0, -5.0, -30.0],
            &[-12.0, -19.0, -5.0, -60.0],
            &[-11.0, -18.0, -5.0, -31.0],
            &[-11.5, -20.0, -5.0, -35.0],
            &[5.0, 8.0, 3.0, 12.0],
            &[6.0, 7.0, 3.0, 20.0],
        )
    }

    /// Scalar rows (pc, pr, rc, rr, lc, lr) of [`batch`].
    pub fn rows() -> Vec<[f64; 6]> {
        vec![
            [-10.0, -12.0, -11.0, -11.5, 5.0, 6.0],
            [-20.0, -19.0, -18.0, -20.0, 8.0, 7.0],
            [-5.0, -5.0, -5.0, -5.0, 3.0, 3.0],
            [-30.0, -60.0, -31.0, -35.0, 12.0, 20.0],
        ]
    }

    /// log σ(x) in scalar f64.
    pub fn log_sig(x: f64) -> f64 {
        if x >= 0.0 {
            -(-x).exp().ln_1p()
        } else {
            x - x.exp().ln_1p()
        }
    }

    /// σ(x) in scalar f64.
    pub fn sig(x: f64) -> f64 {
        log_sig(x).exp()
    }

    /// Asserts elementwise closeness.
    pub fn assert_close(got: &Tensor, want: &[f64], tol: f64) -> Result<()> {
        let got = got.to_vec1::<f64>()?;
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= tol * w.abs().max(1.0),
                "element {i}: got {g}, want {w}"
            );
        }
        Ok(())
    }
}
