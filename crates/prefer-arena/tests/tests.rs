//! prefer-arena's integration tests (one binary).

mod api;
mod browser;
mod common;
mod durability;
mod export;
mod loadgen;
mod openapi;
