//! The model configuration, read from a Hugging Face `config.json`.

use std::fmt;
use std::path::Path;

use serde::de::{self, SeqAccess, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::{Error, Result};

/// Which architecture family a `config.json` describes (`model_type`). They share one
/// code path; the family only sets defaults that the file does not state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Family {
    /// Llama 1/2/3, SmolLM, TinyLlama (`model_type: "llama"`).
    Llama,
    /// Mistral (`"mistral"`): Llama plus an optional sliding attention window.
    Mistral,
    /// Qwen2 / Qwen2.5 (`"qwen2"`): biases on the q, k and v projections.
    Qwen2,
}

/// `rope_scaling` (transformers 4) or `rope_parameters` (transformers 5) of
/// `config.json`: default RoPE, Llama 3.1+ scaling, or linear position interpolation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RopeScaling {
    /// `"llama3"`, `"linear"` or `"default"` (older files call it `type`).
    #[serde(alias = "type", default = "default_rope_type")]
    pub rope_type: String,
    /// θ (transformers 5 keeps it here instead of a top-level `rope_theta`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_theta: Option<f64>,
    /// Scale factor (s).
    #[serde(default = "one")]
    pub factor: f64,
    /// Llama 3: low-frequency factor (default 1).
    #[serde(default = "one")]
    pub low_freq_factor: f64,
    /// Llama 3: high-frequency factor (default 4).
    #[serde(default = "four")]
    pub high_freq_factor: f64,
    /// Llama 3: the context length of pretraining (default 8192).
    #[serde(default = "eight_k")]
    pub original_max_position_embeddings: usize,
}

fn default_rope_type() -> String {
    "default".into()
}
fn one() -> f64 {
    1.0
}
fn four() -> f64 {
    4.0
}
fn eight_k() -> usize {
    8192
}

/// One token id or several (`eos_token_id` is a list in Llama 3 configs).
///
/// Deserializes from an integer or a list of integers; written back the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum TokenIds {
    /// One id.
    One(u32),
    /// Several ids.
    Many(Vec<u32>),
}

const TOKEN_ID: &str = "a token id (an integer from 0 to 4294967295)";

/// A token id, checked by the visitor below; the elements of [`TokenIds::Many`].
struct TokenId(u32);

struct TokenIdsVisitor {
    /// False inside a list: `[[1]]` is not a token id.
    list: bool,
}

impl<'de> Visitor<'de> for TokenIdsVisitor {
    type Value = TokenIds;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.list {
            write!(f, "{TOKEN_ID} or a list of token ids")
        } else {
            f.write_str(TOKEN_ID)
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<TokenIds, E> {
        u32::try_from(v)
            .map(TokenIds::One)
            .map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<TokenIds, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<TokenIds, A::Error> {
        if !self.list {
            return Err(de::Error::invalid_type(Unexpected::Seq, &self));
        }
        let mut ids = Vec::with_capacity(seq.size_hint().unwrap_or(2));
        while let Some(TokenId(id)) = seq.next_element()? {
            ids.push(id);
        }
        Ok(TokenIds::Many(ids))
    }
}

impl<'de> Deserialize<'de> for TokenId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match d.deserialize_any(TokenIdsVisitor { list: false })? {
            TokenIds::One(id) => Ok(TokenId(id)),
            // The visitor refuses lists when `list` is false.
            TokenIds::Many(_) => Err(de::Error::invalid_type(Unexpected::Seq, &TOKEN_ID)),
        }
    }
}

/// A visitor instead of serde's untagged derive, whose only message is "data did not
/// match any variant of untagged enum TokenIds": this one says what is accepted.
impl<'de> Deserialize<'de> for TokenIds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(TokenIdsVisitor { list: true })
    }
}

impl TokenIds {
    /// The ids as a list.
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            TokenIds::One(id) => vec![*id],
            TokenIds::Many(ids) => ids.clone(),
        }
    }
}

/// The fields of a Hugging Face `config.json` that a Llama-family causal LM needs.
/// Field names and defaults are transformers' (`LlamaConfig`, `Qwen2Config`,
/// `MistralConfig`); unknown fields are ignored (and kept when saving, see
/// [`crate::model::CausalLm::save_pretrained`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// `model_type`: `llama`, `mistral` or `qwen2`.
    pub model_type: Family,
    /// Vocabulary size V.
    pub vocab_size: usize,
    /// Model width H.
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Number of query heads.
    pub num_attention_heads: usize,
    /// Number of key/value heads (grouped-query attention); default: `num_attention_heads`.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Width of one head; default `hidden_size / num_attention_heads`.
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// Longest supported sequence (informational; default 2048).
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    /// ε of RMSNorm (default 1e-6).
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// Base θ of the rotary embedding (default 10000).
    #[serde(default = "default_theta")]
    pub rope_theta: f64,
    /// RoPE scaling (`null` for none; transformers 4 files).
    #[serde(default)]
    pub rope_scaling: Option<RopeScaling>,
    /// RoPE θ and scaling together (transformers 5 files); wins over `rope_theta` and
    /// `rope_scaling` when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_parameters: Option<RopeScaling>,
    /// Whether `lm_head` shares the embedding matrix (default false).
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Biases on q, k, v and o (Llama's `attention_bias`); default false, and for `qwen2`
    /// q, k, v always have biases.
    #[serde(default)]
    pub attention_bias: bool,
    /// Biases on the MLP projections (default false).
    #[serde(default)]
    pub mlp_bias: bool,
    /// Activation of the MLP gate: only `silu` is supported.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Mistral's sliding attention window (`null` for none).
    #[serde(default)]
    pub sliding_window: Option<usize>,
    /// Qwen2: whether the sliding window is used (default false).
    #[serde(default)]
    pub use_sliding_window: bool,
    /// Beginning-of-sequence id.
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    /// End-of-sequence id(s).
    #[serde(default)]
    pub eos_token_id: Option<TokenIds>,
    /// Padding id.
    #[serde(default)]
    pub pad_token_id: Option<u32>,
}

fn default_max_pos() -> usize {
    2048
}
fn default_eps() -> f64 {
    1e-6
}
fn default_theta() -> f64 {
    10000.0
}
fn default_act() -> String {
    "silu".into()
}

impl ModelConfig {
    /// Reads and checks a `config.json`. Errors name the file and the key.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::File(format!("{}: {e}", path.display())))?;
        Self::from_json_str(&text).map_err(|e| Error::File(format!("{}: {e}", path.display())))
    }

    /// Parses and checks the text of a `config.json`.
    pub fn from_json_str(text: &str) -> Result<Self> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let cfg: ModelConfig = serde_path_to_error::deserialize(de)
            .map_err(|e| Error::Config(format!("key `{}`: {}", e.path(), e.inner())))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// A tiny Llama for tests and benchmarks (random weights; see
    /// [`crate::model::CausalLm::random`]).
    pub fn tiny(vocab: usize, hidden: usize, layers: usize, heads: usize, kv_heads: usize) -> Self {
        ModelConfig {
            model_type: Family::Llama,
            vocab_size: vocab,
            hidden_size: hidden,
            intermediate_size: hidden * 8 / 3,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            num_key_value_heads: Some(kv_heads),
            head_dim: None,
            max_position_embeddings: 2048,
            rms_norm_eps: 1e-5,
            rope_theta: 10000.0,
            rope_scaling: None,
            rope_parameters: None,
            tie_word_embeddings: false,
            attention_bias: false,
            mlp_bias: false,
            hidden_act: "silu".into(),
            sliding_window: None,
            use_sliding_window: false,
            bos_token_id: Some(1),
            eos_token_id: Some(TokenIds::One(2)),
            pad_token_id: None,
        }
    }

    /// Checks the values (sizes non-zero, heads divide, supported activation and scaling).
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, why: String| Err(Error::Config(format!("key `{key}`: {why}")));
        for (key, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.kv_heads()),
            ("head_dim", self.head_dim()),
        ] {
            if v == 0 {
                return bad(key, "must be positive".into());
            }
        }
        if !self.num_attention_heads.is_multiple_of(self.kv_heads()) {
            return bad(
                "num_key_value_heads",
                format!(
                    "{} does not divide num_attention_heads {}",
                    self.kv_heads(),
                    self.num_attention_heads
                ),
            );
        }
        if !self.head_dim().is_multiple_of(2) {
            return bad(
                "head_dim",
                format!("{} must be even for RoPE", self.head_dim()),
            );
        }
        if self.head_dim.is_none() && !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return bad(
                "hidden_size",
                format!(
                    "{} is not a multiple of num_attention_heads {}",
                    self.hidden_size, self.num_attention_heads
                ),
            );
        }
        if self.rms_norm_eps.is_nan() || self.rms_norm_eps <= 0.0 {
            return bad(
                "rms_norm_eps",
                format!("{} must be positive", self.rms_norm_eps),
            );
        }
        if self.theta().is_nan() || self.theta() <= 0.0 {
            return bad("rope_theta", format!("{} must be positive", self.theta()));
        }
        if self.hidden_act != "silu" {
            return bad(
                "hidden_act",
                format!("`{}` is not supported (silu)", self.hidden_act),
            );
        }
        let key = if self.rope_parameters.is_some() {
            "rope_parameters"
        } else {
            "rope_scaling"
        };
        if let Some(s) = self.scaling() {
            match s.rope_type.as_str() {
                "default" | "linear" | "llama3" => {}
                other => {
                    return bad(
                        &format!("{key}.rope_type"),
                        format!("`{other}` is not supported (default, linear, llama3)"),
                    );
                }
            }
            if s.factor.is_nan() || s.factor <= 0.0 {
                return bad(
                    &format!("{key}.factor"),
                    format!("{} must be positive", s.factor),
                );
            }
        }
        if self.sliding_window == Some(0) {
            return bad("sliding_window", "must be positive".into());
        }
        Ok(())
    }

    /// Number of key/value heads.
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Whether q, k and v have biases.
    pub fn qkv_bias(&self) -> bool {
        self.attention_bias || self.model_type == Family::Qwen2
    }

    /// Whether the output projection has a bias.
    pub fn o_bias(&self) -> bool {
        self.attention_bias
    }

    /// The attention window in effect, if any.
    pub fn window(&self) -> Option<usize> {
        match self.model_type {
            Family::Mistral => self.sliding_window,
            Family::Qwen2 if self.use_sliding_window => self.sliding_window,
            _ => None,
        }
    }

    /// End-of-sequence ids (empty if none).
    pub fn eos_ids(&self) -> Vec<u32> {
        self.eos_token_id
            .as_ref()
            .map(TokenIds::to_vec)
            .unwrap_or_default()
    }

    /// θ of RoPE: `rope_parameters.rope_theta`, else `rope_theta`.
    pub fn theta(&self) -> f64 {
        self.rope_parameters
            .as_ref()
            .and_then(|p| p.rope_theta)
            .unwrap_or(self.rope_theta)
    }

    /// The RoPE scaling in effect: `rope_parameters`, else `rope_scaling`.
    pub fn scaling(&self) -> Option<&RopeScaling> {
        self.rope_parameters.as_ref().or(self.rope_scaling.as_ref())
    }

    /// The inverse frequencies of RoPE, `θ^(-2i/d)`, with `rope_scaling` applied
    /// (transformers' `_compute_default_rope_parameters` / `_compute_llama3_parameters`).
    pub fn inv_freq(&self) -> Vec<f64> {
        let d = self.head_dim();
        let base: Vec<f64> = (0..d / 2)
            .map(|i| {
                // transformers computes this in f32: base ** (arange(0, d, 2).float() / d).
                let e = (2 * i) as f32 / d as f32;
                (1.0f32 / (self.theta() as f32).powf(e)) as f64
            })
            .collect();
        let Some(s) = self.scaling() else {
            return base;
        };
        match s.rope_type.as_str() {
            "linear" => base.iter().map(|f| f / s.factor).collect(),
            "llama3" => {
                let old = s.original_max_position_embeddings as f64;
                let low_wavelen = old / s.low_freq_factor;
                let high_wavelen = old / s.high_freq_factor;
                base.iter()
                    .map(|&f| {
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        if wavelen > low_wavelen {
                            f / s.factor
                        } else if wavelen < high_wavelen {
                            f
                        } else {
                            let smooth = (old / wavelen - s.low_freq_factor)
                                / (s.high_freq_factor - s.low_freq_factor);
                            (1.0 - smooth) * f / s.factor + smooth * f
                        }
                    })
                    .collect()
            }
            _ => base,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The text of a valid `config.json` with `eos_token_id` set to `eos` (raw JSON).
    fn config_with_eos(eos: &str) -> String {
        let mut v = serde_json::to_value(ModelConfig::tiny(32, 16, 1, 2, 1)).unwrap();
        v["eos_token_id"] = serde_json::from_str(eos).unwrap();
        v.to_string()
    }

    #[test]
    fn eos_token_id_is_one_id_a_list_or_null_as_hugging_face_writes_it() {
        for (eos, want) in [
            ("2", vec![2]),
            ("[128001, 128008, 128009]", vec![128001, 128008, 128009]),
            ("[]", vec![]),
            ("null", vec![]),
            ("4294967295", vec![u32::MAX]),
        ] {
            let text = config_with_eos(eos);
            let cfg = ModelConfig::from_json_str(&text).unwrap();
            assert_eq!(cfg.eos_ids(), want, "{eos}");
            // Written back in the shape it was read.
            let back = serde_json::to_value(&cfg).unwrap();
            let eos: serde_json::Value = serde_json::from_str(eos).unwrap();
            assert_eq!(back["eos_token_id"], eos);
        }
    }

    /// Issue 11: a bad `eos_token_id` said "data did not match any variant of untagged
    /// enum TokenIds", naming neither the key's shapes nor, inside a list, the element.
    #[test]
    fn a_bad_eos_token_id_names_the_key_and_what_it_accepts() {
        for (eos, key, got) in [
            ("\"2\"", "eos_token_id", "string \"2\""),
            ("2.5", "eos_token_id", "floating point `2.5`"),
            ("true", "eos_token_id", "boolean `true`"),
            ("{\"id\": 2}", "eos_token_id", "map"),
            ("-1", "eos_token_id", "integer `-1`"),
            ("4294967296", "eos_token_id", "integer `4294967296`"),
            ("[1, \"x\"]", "eos_token_id[1]", "string \"x\""),
            ("[1, null]", "eos_token_id[1]", "null"),
            ("[[1]]", "eos_token_id[0]", "sequence"),
        ] {
            let err = ModelConfig::from_json_str(&config_with_eos(eos))
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("key `{key}`: ")), "{eos}: {err}");
            assert!(err.contains(got), "{eos}: {err}");
            assert!(
                err.contains("expected a token id (an integer"),
                "{eos}: {err}"
            );
            if key == "eos_token_id" {
                assert!(err.contains("or a list of token ids"), "{eos}: {err}");
            }
            assert!(!err.contains("untagged"), "{eos}: {err}");
        }
    }
}
