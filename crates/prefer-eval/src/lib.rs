//! # prefer-eval
//!
//! Evaluation of reward and preference models: pairwise accuracy with RewardBench's
//! sectioned score for any file in its layout, ranking accuracy of a policy and its
//! idealized bound (the alignment gap), implicit DPO reward vs an explicit reward model in
//! and out of distribution, calibration (ECE, reliability diagram), agreement between
//! judges, and accuracy by source and by length (length bias). Reports are terminal
//! tables, JSON and PNG/SVG plots.
//!
//! # Quickstart
//! ```
//! use prefer_eval::{EvalConfig, ScoredPair, evaluate};
//! let pairs: Vec<ScoredPair> = [1.2, -0.3, 0.8, 2.5].iter().map(|&z| ScoredPair::new(z)).collect();
//! let report = evaluate("my-rm on test.jsonl", &pairs, &EvalConfig::default())?;
//! assert_eq!(report.accuracy, 0.75);
//! print!("{}", report.table());
//! # Ok::<(), prefer_eval::Error>(())
//! ```
//!
//! # More information
//! `docs/reward.md` (commands, real-run numbers); the papers are numbered as in
//! `../shared/seeds/papers.txt`: 10 (ranking accuracy), 30 (implicit reward
//! generalization), 1 and 21 (consistency).

pub mod agreement;
pub mod bestofn;
pub mod breakdown;
pub mod calibration;
pub mod chooser;
pub mod error;
pub mod implicit;
pub mod pairwise;
pub mod ranking;
pub mod report;
pub mod rmbench;
pub mod texts;

pub use agreement::{
    Agreement, Verdict, agreement, fleiss_kappa, position_consistency, read_verdicts,
};
pub use breakdown::{Group, LengthBias, by_source, length_bias};
pub use calibration::{Calibration, calibration, reliability_plot};
pub use error::{Error, Result};
pub use implicit::{SetAccuracy, SetLogits, generalization, implicit_logits};
pub use pairwise::{ScoredPair, SectionReport, Sections, Ties, accuracy, section_scores};
pub use ranking::{PairLogps, RankingConfig, RankingReport, ranking_report};
pub use report::{EvalConfig, Report, evaluate};
pub use texts::{
    EmbedOptions, TextPair, TextRating, embed_pairs, embed_ratings, ratings_from_pairs, read_pairs,
    read_pairs_skipping, read_ratings, scored_from_texts, with_meta,
};
