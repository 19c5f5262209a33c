//! # prefer-rank
//!
//! Item-level preference models on plain `f64`: ratings of models (or anything) from
//! votes, their intervals, matchmaking, and tabular preference games.
//!
//! | module | what |
//! |---|---|
//! | [`votes`] | votes indexed and aggregated into pair counts (what every fit reads) |
//! | [`bt`] | Bradley-Terry MLE with half / Davidson / Rao-Kupper ties, prior, anchor, Fisher and sandwich errors |
//! | [`elo`] | online Elo as FastChat computes it |
//! | [`simple`] | counting, win rate, average win rate |
//! | [`quality`] | voter screening: agreement with the consensus, outlier voters flagged |

// Tests unwrap freely: a failure there is the test failing.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]
// Checks are written `!(x > 0.0)` on purpose: NaN must fail them too.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod bt;
pub mod elo;
pub mod error;
pub mod game;
pub mod intervals;
pub mod ksort;
pub mod leaderboard;
pub mod linalg;
pub mod load;
pub mod matchmaking;
pub mod newton;
pub mod pairwise;
pub mod pl;
pub mod quality;
pub mod simple;
pub mod simulate;
pub mod style;
pub mod thurstone;
pub mod votes;

pub use error::{Error, Result};
