//! Reward and preference models: heads on frozen sentence embeddings, a causal-LM
//! backbone with a score head, and the methods of the seed papers for noisy labels,
//! multiple objectives, intransitive and pluralistic preferences, context, reward
//! combination and uncertainty. One file per model, each with a `Config` (serde,
//! `Default`, `validate`) and tests that show its property on data with a known truth.
//!
//! | file | model | paper (`../shared/seeds/papers.txt`) |
//! |---|---|---|
//! | [`bradley_terry`] | Bradley–Terry RM (TRL `RewardTrainer` loss) | — |
//! | [`lm`] | causal LM + score head on the last real token (EOS/padding trap) | — |
//! | [`strength`] | preference strength from an ensemble; flip / smooth / margin noisy labels | 7 |
//! | [`armo`] | absolute-rating multi-objective regression + MoE gating (ArmoRM) | 3 |
//! | [`gpm`] | general preference model: skew-symmetric preference embeddings | 6 |
//! | [`pal`] | PAL ideal-point mixture, few-shot new users | 14 |
//! | [`vpl`] | variational user latent from a few labelled pairs | 50 |
//! | [`maxmin`] | hard-EM mixture of BT models, egalitarian min reward | 41 |
//! | [`context`] | context-conditioned RM (criterion in the input) | 19 |
//! | [`transform`] | log σ(r − r_ref) transform; transformed sum as logical AND | 24 |
//! | [`uncertainty`] | ensemble / MC-dropout variance per pair, filtering | 45 |
//! | [`saved`] | one enum over the embedding models: save, load, score | — |
//!
//! The embedding models take [`PairData`] (prompt, chosen and rejected embeddings from
//! [`crate::encoder`], with optional margin, strength, user id and context) and return a
//! logit per pair: the log-odds that chosen beats rejected. Personalized models refuse a
//! user they were not trained on unless told to fall back ([`UnknownUser`]).
//!
//! # Quickstart
//! ```
//! use prefer_nn::reward::{BradleyTerryRm, BradleyTerryRmConfig, TrainConfig, pairwise_accuracy, synth};
//! let data = synth::linear_pairs(1000, 8, 8.0, 0.0, 7)?;  // embeddings + a known truth
//! let cfg = BradleyTerryRmConfig { train: TrainConfig { lr: 0.02, ..Default::default() }, ..Default::default() };
//! let (rm, log) = BradleyTerryRm::fit(&data.data, &cfg)?;
//! let acc = pairwise_accuracy(&rm.pair_logits(&data.data)?);
//! assert!(acc > 0.75 && acc > pairwise_accuracy(&data.true_margin) - 0.05);
//! # Ok::<(), prefer_nn::Error>(())
//! ```

pub mod armo;
pub mod bradley_terry;
pub mod context;
pub mod data;
pub mod gpm;
pub mod head;
pub mod lm;
pub mod maxmin;
pub mod pal;
pub mod saved;
pub mod strength;
pub mod synth;
pub mod transform;
pub mod uncertainty;
pub mod vpl;

pub use armo::{Armo, ArmoConfig, r_squared};
pub use bradley_terry::{BradleyTerryRm, BradleyTerryRmConfig, cosine};
pub use context::{ContextRm, ContextRmConfig};
pub use data::{
    FeatureMap, PairData, RatingData, TrainConfig, TrainLog, pairwise_accuracy, soft_pair_loss,
    train_loop,
};
pub use data::{UnknownUser, UserIndex, require_users};
pub use gpm::{Gpm, GpmConfig, skew_score};
pub use head::{Dense, Mlp, dropout};
pub use maxmin::{MaxMin, MaxMinConfig};
pub use pal::{Pal, PalConfig};
pub use saved::{EncoderStamp, ModelCard, RewardModel};
pub use strength::{
    DenoiseReport, Strength, StrengthConfig, auroc, fit_denoised, preference_strength,
};
pub use transform::{Reference, combine_and, combine_sum, log_sigmoid_transform};
pub use uncertainty::{
    PairUncertainty, UncertainRm, UncertaintyConfig, UncertaintyMethod, keep_most_certain,
};
pub use vpl::{Vpl, VplConfig};
