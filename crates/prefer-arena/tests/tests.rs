//! prefer-arena's integration tests (one binary).

mod api;
mod common;
mod export;
mod openapi;
mod durability;
mod loadgen;
mod browser;
