//! prefer-arena's integration tests (one binary).

#![allow(clippy::unwrap_used)]

mod api;
mod browser;
mod common;
mod durability;
mod export;
mod loadgen;
mod openapi;
mod quality;
