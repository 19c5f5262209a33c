//! prefer-arena's integration tests (one binary).

mod api;
mod common;
