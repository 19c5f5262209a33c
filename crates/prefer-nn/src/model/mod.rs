//! Causal language models written for training, loaded from Hugging Face folders.
//!
//! # Quickstart
//! ```no_run
//! use prefer_nn::model::{CausalLm, LoadOptions};
//! let dir = std::path::Path::new("../shared/models/stories260K");
//! let policy = CausalLm::load(dir, &LoadOptions::trainable())?; // Vars in a VarMap
//! let reference = policy.frozen_copy()?;                         // no gradient
//! policy.save_pretrained("/tmp/out".as_ref())?;                  // transformers loads it
//! # Ok::<(), prefer_nn::Error>(())
//! ```
//!
//! # More information
//! The forward follows transformers' `LlamaForCausalLM` (`modeling_llama.py`) and
//! `Qwen2ForCausalLM`; `docs/models.md` lists the switches and the parity tests.

mod config;
mod llama;
mod weights;

pub use config::{Family, ModelConfig, RopeScaling, TokenIds};
pub use llama::{CausalLm, InitConfig, KvCache, LoadOptions, parameter_shapes};
pub use weights::{
    TensorSpec, WeightFiles, f32_bytes, save_safetensors, write_atomic, write_safetensors_with,
};
