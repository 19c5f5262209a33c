//! Reward and preference models: heads on frozen sentence embeddings, a causal-LM
//! backbone with a score head, and the methods of the seed papers for noisy labels,
//! multiple objectives, intransitive and pluralistic preferences, context, reward
//! combination and uncertainty. One file per model, each with a `Config` (serde,
//! `Default`, `validate`) and tests that show its property on data with a known truth.
//!
//! | file | model | paper (`../shared/seeds/papers.txt`) |
//! |---|---|---|
//! | [`bradley_terry`] | Bradley–Terry RM (TRL `RewardTrainer` loss) | — |
//! | [`lm`] | causal LM + score head on the last real token | — |
//!
//! # Quickstart
//! ```
//! use prefer_nn::reward::{BradleyTerryRm, BradleyTerryRmConfig, pairwise_accuracy, synth};
//! let data = synth::linear_pairs(400, 8, 4.0, 0.0, 7)?;   // embeddings + a known truth
//! let (rm, log) = BradleyTerryRm::fit(&data.data, &BradleyTerryRmConfig::default())?;
//! let acc = pairwise_accuracy(&rm.pair_logits(&data.data)?);
//! assert!(acc > 0.7);
//! # Ok::<(), prefer_nn::Error>(())
//! ```

pub mod armo;
pub mod bradley_terry;
pub mod data;
pub mod gpm;
pub mod head;
pub mod lm;
pub mod strength;
pub mod synth;

pub use armo::{Armo, ArmoConfig, r_squared};
pub use bradley_terry::{BradleyTerryRm, BradleyTerryRmConfig, cosine};
pub use data::{
    FeatureMap, PairData, RatingData, TrainConfig, TrainLog, pairwise_accuracy, soft_pair_loss,
    train_loop,
};
pub use gpm::{Gpm, GpmConfig, skew_score};
pub use head::{Dense, Mlp, dropout};
pub use strength::{
    DenoiseReport, Strength, StrengthConfig, auroc, fit_denoised, preference_strength,
};
