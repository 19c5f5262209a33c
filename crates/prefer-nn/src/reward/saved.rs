//! One enum over the embedding reward models, saved as a folder: `reward.json` (the kind,
//! its configuration, the embedding width, the encoder's fingerprint, users, attributes
//! and any metrics) and `model.safetensors` (the weights, readable from Python).
//!
//! # Quickstart
//! ```
//! use prefer_nn::reward::{BradleyTerryRm, BradleyTerryRmConfig, RewardModel, synth};
//! # let dir = tempfile::tempdir()?;
//! let data = synth::linear_pairs(200, 8, 4.0, 0.0, 1)?;
//! let (bt, _) = BradleyTerryRm::fit(&data.data, &BradleyTerryRmConfig::default())?;
//! let rm = RewardModel::BradleyTerry(bt);
//! rm.save(dir.path(), None, serde_json::json!({}))?;
//! let (back, card) = RewardModel::load(dir.path())?;
//! assert_eq!(back.pair_logits(&data.data)?, rm.pair_logits(&data.data)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::armo::{Armo, ArmoConfig};
use super::bradley_terry::{BradleyTerryRm, BradleyTerryRmConfig};
use super::context::{ContextRm, ContextRmConfig};
use super::data::{PairData, UnknownUser};
use super::gpm::{Gpm, GpmConfig};
use super::maxmin::{MaxMin, MaxMinConfig};
use super::pal::{Pal, PalConfig};
use super::uncertainty::{UncertainRm, UncertaintyConfig};
use super::vpl::{Vpl, VplConfig};
use crate::{Error, Result};

/// A trained embedding reward model of any kind.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RewardModel {
    /// Bradley–Terry head.
    BradleyTerry(BradleyTerryRm),
    /// ArmoRM-style multi-objective model with gating.
    Armo(Armo),
    /// General preference model.
    Gpm(Gpm),
    /// PAL ideal-point mixture.
    Pal(Pal),
    /// Variational preference learning.
    Vpl(Vpl),
    /// MaxMin mixture of BT models.
    MaxMin(MaxMin),
    /// Context-conditioned model.
    Context(ContextRm),
    /// Ensemble / MC-dropout model with uncertainty.
    Ensemble(UncertainRm),
}

/// The encoder an embedding model was trained on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncoderStamp {
    /// Its name (folder name).
    pub name: String,
    /// Its fingerprint ([`crate::encoder::SentenceEncoder::fingerprint`]).
    pub fingerprint: String,
}

/// `reward.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// `bradley_terry`, `armo`, `gpm`, `pal`, `vpl`, `maxmin`, `context`, `ensemble`.
    pub kind: String,
    /// Embedding width.
    pub dim: usize,
    /// The model's configuration.
    pub config: serde_json::Value,
    /// The encoder the embeddings came from (absent for synthetic embeddings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<EncoderStamp>,
    /// Trained users (personalized models), by index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// Each user's cluster (MaxMin).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignment: Vec<usize>,
    /// Objective names (ArmoRM).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
    /// Anything else worth keeping (training log, evaluation).
    #[serde(default)]
    pub metrics: serde_json::Value,
}

fn to_json<T: Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::Config(e.to_string()))
}

fn from_json<T: for<'de> Deserialize<'de>>(v: &serde_json::Value, path: &Path) -> Result<T> {
    serde_json::from_value(v.clone())
        .map_err(|e| Error::File(format!("{}: field `config`: {e}", path.display())))
}

impl RewardModel {
    /// The kind's name (as in `reward.json`).
    pub fn kind(&self) -> &'static str {
        match self {
            RewardModel::BradleyTerry(_) => "bradley_terry",
            RewardModel::Armo(_) => "armo",
            RewardModel::Gpm(_) => "gpm",
            RewardModel::Pal(_) => "pal",
            RewardModel::Vpl(_) => "vpl",
            RewardModel::MaxMin(_) => "maxmin",
            RewardModel::Context(_) => "context",
            RewardModel::Ensemble(_) => "ensemble",
        }
    }

    /// Whether the model needs a `user_id` per pair.
    pub fn is_personalized(&self) -> bool {
        matches!(
            self,
            RewardModel::Pal(_) | RewardModel::Vpl(_) | RewardModel::MaxMin(_)
        )
    }

    /// The log-odds that chosen beats rejected, per pair.
    pub fn pair_logits(&self, data: &PairData) -> Result<Vec<f32>> {
        match self {
            RewardModel::BradleyTerry(m) => m.pair_logits(data),
            RewardModel::Armo(m) => m.pair_logits(data),
            RewardModel::Gpm(m) => m.pair_logits(data),
            RewardModel::Pal(m) => m.pair_logits(data),
            RewardModel::Vpl(m) => m.pair_logits(data),
            RewardModel::MaxMin(m) => m.pair_logits(data),
            RewardModel::Context(m) => m.pair_logits(data),
            RewardModel::Ensemble(m) => m.pair_logits(data),
        }
    }

    /// Sets the unknown-user policy of a personalized model (no effect otherwise).
    pub fn set_unknown_user(&mut self, policy: UnknownUser) {
        match self {
            RewardModel::Pal(m) => m.set_unknown_user(policy),
            RewardModel::Vpl(m) => m.set_unknown_user(policy),
            RewardModel::MaxMin(m) => m.set_unknown_user(policy),
            _ => {}
        }
    }

    fn card(
        &self,
        encoder: Option<EncoderStamp>,
        metrics: serde_json::Value,
    ) -> Result<(ModelCard, Vec<(String, Tensor)>)> {
        let mut card = ModelCard {
            kind: self.kind().into(),
            dim: 0,
            config: serde_json::Value::Null,
            encoder,
            users: Vec::new(),
            assignment: Vec::new(),
            attributes: Vec::new(),
            metrics,
        };
        let tensors = match self {
            RewardModel::BradleyTerry(m) => {
                card.dim = m.dim();
                card.config = to_json(m.config())?;
                m.tensors()
            }
            RewardModel::Armo(m) => {
                card.dim = m.dim();
                card.config = to_json(m.config())?;
                card.attributes = m.attributes().to_vec();
                m.tensors()
            }
            RewardModel::Gpm(m) => {
                card.dim = m.dim();
                card.config = to_json(m.config())?;
                m.tensors()
            }
            RewardModel::Pal(m) => {
                card.dim = m.dim();
                card.config = to_json(m.config())?;
                card.users = m.users().ids().to_vec();
                m.tensors()
            }
            RewardModel::Vpl(m) => {
                card.dim = m.dim();
                card.config = to_json(m.config())?;
                card.users = m.users().ids().to_vec();
                m.tensors()
            }
            RewardModel::MaxMin(m) => {
                card.dim = m.models().first().map_or(0, BradleyTerryRm::dim);
                card.config = to_json(m.config())?;
                card.users = m.users().ids().to_vec();
                card.assignment = m.assignment().to_vec();
                m.tensors()
            }
            RewardModel::Context(m) => {
                card.dim = m.dim();
                card.config = to_json(m.config())?;
                m.tensors()
            }
            RewardModel::Ensemble(m) => {
                card.dim = m.members().first().map_or(0, BradleyTerryRm::dim);
                card.config = to_json(m.config())?;
                m.tensors()
            }
        };
        Ok((card, tensors))
    }

    /// Writes `reward.json` and `model.safetensors` into `dir` (created; each file written
    /// atomically).
    pub fn save(
        &self,
        dir: &Path,
        encoder: Option<EncoderStamp>,
        metrics: serde_json::Value,
    ) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::File(format!("{}: {e}", dir.display())))?;
        let (card, tensors) = self.card(encoder, metrics)?;
        let tensors: Vec<(String, Tensor)> = tensors
            .into_iter()
            .map(|(n, t)| Ok((n, t.to_dtype(DType::F32)?.contiguous()?)))
            .collect::<Result<_>>()?;
        crate::model::save_safetensors(&dir.join("model.safetensors"), &tensors)?;
        let text = serde_json::to_string_pretty(&card).map_err(|e| Error::Config(e.to_string()))?;
        crate::model::write_atomic(&dir.join("reward.json"), text.as_bytes())
    }

    /// Reads a folder written by [`Self::save`].
    pub fn load(dir: &Path) -> Result<(Self, ModelCard)> {
        let card_path = dir.join("reward.json");
        let text = std::fs::read_to_string(&card_path).map_err(|e| {
            Error::File(format!(
                "{}: {e} (not a reward model folder written by `prefer train reward`?)",
                card_path.display()
            ))
        })?;
        let card: ModelCard = serde_json::from_str(&text)
            .map_err(|e| Error::File(format!("{}: {e}", card_path.display())))?;
        let st_path = dir.join("model.safetensors");
        let bytes = std::fs::read(&st_path)
            .map_err(|e| Error::File(format!("{}: {e}", st_path.display())))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| Error::File(format!("{}: {e}", st_path.display())))?;
        let mut map = HashMap::new();
        for (name, view) in st.tensors() {
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(Error::File(format!(
                    "{}: tensor `{name}` is not f32",
                    st_path.display()
                )));
            }
            let t = Tensor::from_raw_buffer(view.data(), DType::F32, view.shape(), &Device::Cpu)?;
            map.insert(name, t);
        }
        let cfgv = &card.config;
        let d = card.dim;
        let model = match card.kind.as_str() {
            "bradley_terry" => RewardModel::BradleyTerry(BradleyTerryRm::from_tensors(
                &from_json::<BradleyTerryRmConfig>(cfgv, &card_path)?,
                d,
                &map,
            )?),
            "armo" => RewardModel::Armo(Armo::from_tensors(
                &from_json::<ArmoConfig>(cfgv, &card_path)?,
                d,
                &card.attributes,
                &map,
            )?),
            "gpm" => RewardModel::Gpm(Gpm::from_tensors(
                &from_json::<GpmConfig>(cfgv, &card_path)?,
                d,
                &map,
            )?),
            "pal" => RewardModel::Pal(Pal::from_tensors(
                &from_json::<PalConfig>(cfgv, &card_path)?,
                d,
                card.users.clone(),
                &map,
            )?),
            "vpl" => RewardModel::Vpl(Vpl::from_tensors(
                &from_json::<VplConfig>(cfgv, &card_path)?,
                d,
                card.users.clone(),
                &map,
            )?),
            "maxmin" => RewardModel::MaxMin(MaxMin::from_tensors(
                &from_json::<MaxMinConfig>(cfgv, &card_path)?,
                d,
                card.users.clone(),
                card.assignment.clone(),
                &map,
            )?),
            "context" => RewardModel::Context(ContextRm::from_tensors(
                &from_json::<ContextRmConfig>(cfgv, &card_path)?,
                d,
                &map,
            )?),
            "ensemble" => {
                let cfg: UncertaintyConfig = from_json(cfgv, &card_path)?;
                let mut members = Vec::new();
                for k in 0.. {
                    let prefix = format!("member{k}.");
                    let sub: HashMap<String, Tensor> = map
                        .iter()
                        .filter_map(|(n, t)| {
                            n.strip_prefix(&prefix).map(|s| (s.to_string(), t.clone()))
                        })
                        .collect();
                    if sub.is_empty() {
                        break;
                    }
                    members.push(BradleyTerryRm::from_tensors(&cfg.member, d, &sub)?);
                }
                RewardModel::Ensemble(UncertainRm::from_members(&cfg, members)?)
            }
            other => {
                return Err(Error::File(format!(
                    "{}: unknown kind `{other}` (bradley_terry, armo, gpm, pal, vpl, maxmin, context, ensemble)",
                    card_path.display()
                )));
            }
        };
        Ok((model, card))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reward::data::{FeatureMap, TrainConfig};
    use crate::reward::synth::{cyclic_pairs, user_pairs};

    #[test]
    fn every_kind_round_trips() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::File(e.to_string()))?;
        let tc = TrainConfig {
            epochs: 2,
            ..Default::default()
        };
        let users = user_pairs(6, 10, &[0.5, 0.5], 8, 4.0, 1)?.data;
        let cyc = cyclic_pairs(60, 8, 4.0, 2)?;
        let mut models = vec![
            RewardModel::BradleyTerry(
                BradleyTerryRm::fit(
                    &cyc,
                    &BradleyTerryRmConfig {
                        hidden: vec![4],
                        train: tc.clone(),
                        ..Default::default()
                    },
                )?
                .0,
            ),
            RewardModel::Gpm(
                Gpm::fit(
                    &cyc,
                    &GpmConfig {
                        prompt_gate: true,
                        train: tc.clone(),
                        ..Default::default()
                    },
                )?
                .0,
            ),
            RewardModel::Pal(
                Pal::fit(
                    &users,
                    &PalConfig {
                        train: tc.clone(),
                        ..Default::default()
                    },
                )?
                .0,
            ),
            RewardModel::Vpl(
                Vpl::fit(
                    &users,
                    &VplConfig {
                        train: tc.clone(),
                        ..Default::default()
                    },
                )?
                .0,
            ),
            RewardModel::MaxMin(
                MaxMin::fit(
                    &users,
                    &MaxMinConfig {
                        iterations: 1,
                        member: BradleyTerryRmConfig {
                            features: FeatureMap::Response,
                            train: tc.clone(),
                            ..Default::default()
                        },
                        ..Default::default()
                    },
                )?
                .0,
            ),
            RewardModel::Ensemble(UncertainRm::fit(
                &cyc,
                &UncertaintyConfig {
                    member: BradleyTerryRmConfig {
                        train: tc.clone(),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )?),
        ];
        let attr = crate::reward::synth::attribute_data(60, 30, 2, 8, 0.1, 3)?;
        models.push(RewardModel::Armo(
            Armo::fit(
                &attr.ratings,
                &attr.pairs,
                &ArmoConfig {
                    train: tc.clone(),
                    ..Default::default()
                },
            )?
            .0,
        ));
        let crit = crate::reward::synth::criterion_pairs(40, 2, 8, 4.0, 4)?.data;
        models.push(RewardModel::Context(
            ContextRm::fit(
                &crit,
                &ContextRmConfig {
                    train: tc,
                    ..Default::default()
                },
            )?
            .0,
        ));
        for (i, m) in models.iter().enumerate() {
            let data = match m {
                RewardModel::Pal(_) | RewardModel::Vpl(_) | RewardModel::MaxMin(_) => &users,
                RewardModel::Armo(_) => &attr.pairs,
                RewardModel::Context(_) => &crit,
                _ => &cyc,
            };
            let p = dir.path().join(format!("m{i}"));
            m.save(&p, None, serde_json::json!({"note": i}))?;
            let (back, card) = RewardModel::load(&p)?;
            assert_eq!(card.kind, m.kind());
            assert_eq!(
                back.pair_logits(data)?,
                m.pair_logits(data)?,
                "{}",
                m.kind()
            );
        }
        std::fs::write(
            dir.path().join("m0/reward.json"),
            r#"{"kind": "magic", "dim": 8, "config": {}}"#,
        )
        .map_err(|e| Error::File(e.to_string()))?;
        let err = crate::reward::data::err_text(RewardModel::load(&dir.path().join("m0")));
        assert!(err.contains("unknown kind `magic`"), "{err}");
        Ok(())
    }
}
