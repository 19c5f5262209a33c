//! # prefer-rank
//!
//! Item-level preference models on plain `f64`: ratings of models (or anything) from
//! votes, and tabular preference games.

pub mod error;
pub mod game;

pub use error::{Error, Result};
