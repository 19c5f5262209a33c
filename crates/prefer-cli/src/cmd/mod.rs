//! One module per subcommand group.

pub mod data;
pub mod demo;
pub mod generate;
pub mod rank;
