//! # prefer-train
//!
//! Trainers for learning from preferences on [`prefer_nn`] models: supervised fine-tuning,
//! offline preference optimization with any pair loss of the DPO family (or a weighted
//! mixture), and unpaired KTO / BCO, in one loop: in-place AdamW, warmup with linear or
//! cosine decay, gradient accumulation, clipping by the global norm, seeded and
//! deterministic on CPU. Reference log-probs are computed once and cached on disk (or
//! computed live, with TR-DPO reference sync as an option). Checkpoints are Hugging Face
//! folders with the optimizer and trainer state beside the weights, written atomically;
//! a resumed run writes the same metrics as an uninterrupted one.
//!
//! # Quickstart
//! ```no_run
//! use prefer_train::config::TrainConfig;
//! use prefer_train::trainer::Trainer;
//! let mut cfg = TrainConfig::from_toml_str(r#"
//!     [model]
//!     path = "../shared/models/stories260K"
//!     [data]
//!     train = "pairs.jsonl"
//!     [objective]
//!     method = "dpo"
//!     loss = { type = "sigmoid", beta = 0.1 }
//!     [optim]
//!     lr = 1e-4
//!     [run]
//!     out_dir = "runs/dpo"
//!     batch_size = 8
//!     max_steps = 100
//! "#)?;
//! cfg.set("run.grad_accum", "2")?;
//! let mut t = Trainer::new(cfg)?;     // loads, tokenizes, caches reference log-probs
//! t.resume()?;                        // no-op on a fresh run
//! let s = t.train(&mut |_| std::ops::ControlFlow::Continue(()))?;
//! println!("{}", s.last.to_json());   // {"loss":…,"grad_norm":…,"rewards/accuracies":…,…}
//! # Ok::<(), prefer_train::Error>(())
//! ```
//!
//! # Modules
//! - [`config`]: the TOML configuration, with `--set key=value` overrides.
//! - [`trainer`]: the loop.
//! - [`optim`], [`schedule`]: AdamW, accumulation, clipping; learning-rate schedules.
//! - [`data`]: records to token ids; the seeded epoch order.
//! - [`refcache`]: fingerprinted reference log-prob caches.
//! - [`checkpoint`], [`metrics`]: what a run writes.
//! - [`judge`]: LLM judges over an OpenAI-compatible endpoint, reward models as judges,
//!   position swapping and judge reports.
//! - [`rollout`]: sampling-based evaluation: a rule judge, win rates, KL to a base model.
//!
//! # More information
//! `docs/training.md` has the configuration reference, the real runs and the benchmark.

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod error;
pub mod iterative;
pub mod judge;
pub mod metrics;
pub mod objective;
pub mod online;
pub use prefer_nn::optim;
pub mod refcache;
pub mod reward;
pub mod rollout;
pub mod schedule;
pub mod trainer;

pub use error::{Error, Result};
