//! # prefer-nn
//!
//! Tensor code for learning from preferences, on candle: the preference-loss library,
//! trainable causal language models, log-probs, sampling, tokenizers and chat templates.
//!
//! # Quickstart (what a trainer calls)
//! ```no_run
//! use prefer_nn::logprobs::{BatchConfig, PairIds, PairBatch, pair_logps};
//! use prefer_nn::model::{CausalLm, LoadOptions};
//! let dir = std::path::Path::new("../shared/models/stories260K");
//! let policy = CausalLm::load(dir, &LoadOptions::trainable())?;
//! let pairs = vec![PairIds { prompt: vec![1, 403], chosen: vec![407, 261], rejected: vec![259] }];
//! let cfg = BatchConfig { bos_id: Some(1), eos_id: Some(2), pad_id: 0, ..Default::default() };
//! let batch = PairBatch::new(&pairs, &cfg, policy.device())?;  // rows [chosen; rejected]
//! let out = pair_logps(&policy, &batch)?;                        // one forward
//! let grads = (out.rejected.sum_all()? - out.chosen.sum_all()?)?.backward()?;
//! policy.save_pretrained("/tmp/ckpt".as_ref())?;
//! # Ok::<(), prefer_nn::Error>(())
//! ```

pub mod encoder;
pub mod error;
pub mod logprobs;
pub mod loss;
pub mod merge;
pub mod model;
pub mod ops;
pub mod optim;
pub mod reward;
pub mod sample;
pub mod tokenizer;

pub use error::{Error, Result};
