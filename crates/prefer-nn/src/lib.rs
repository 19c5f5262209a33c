//! # prefer-nn
//!
//! Tensor code for learning from preferences, on candle: the preference-loss library,
//! trainable causal language models, log-probs, reward heads.

pub mod error;
pub mod loss;

pub use error::{Error, Result};
