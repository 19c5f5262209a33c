//! One module per subcommand group.

pub mod arena;
pub mod choice;
pub mod data;
pub mod demo;
pub mod demo_arena;
pub mod demo_rank;
pub mod demo_reward;
pub mod demo_train;
pub mod eval;
pub mod game;
pub mod generate;
pub mod judge;
pub mod merge;
pub mod pair_ids;
pub mod plot;
pub mod rank;
pub mod reward;
pub mod train;
