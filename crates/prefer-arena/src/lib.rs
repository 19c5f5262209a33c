//! # prefer-arena
//!
//! The vote-collecting web service (K-Sort Arena, paper 5 in
//! `../shared/seeds/papers.txt`; Chatbot Arena): a battle shows a prompt and K anonymous
//! responses from different models, chosen by K-Sort's matchmaking; the voter picks the
//! best (or ranks them); the models are named once the vote is stored. A leaderboard
//! follows the votes: K-Sort's TrueSkill and Elo move with every vote, and a full
//! Bradley-Terry fit with bootstrap intervals reruns in the background.
//!
//! Storage is SQLite (one file, WAL, fsync per commit) or PostgreSQL (`postgres://`),
//! with the same schema and SQL. A vote is answered 201 only after its transaction
//! committed; writes are grouped into one transaction per batch (group commit).
//!
//! # Quickstart
//!
//! ```no_run
//! use prefer_arena::{Arena, ArenaConfig};
//! # async fn run() -> prefer_arena::Result<()> {
//! let arena = Arena::open("arena.db", ArenaConfig::default()).await?;
//! arena.import(prefer_arena::demo::outputs()).await.map_err(|e| prefer_arena::Error::Invalid(e.to_string()))?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! arena.serve(listener).await
//! # }
//! ```
//!
//! # More information
//! Routes: [`http`]; the API's OpenAPI description: [`http::OPENAPI`] (served at
//! `/api/openapi.json`); storage: [`db`]; the write path: [`writer`]; the shared state:
//! [`state`]; what the routes return: [`view`]; entry points for the command line:
//! [`blocking`]; docs/arena.md. Each module uses only modules below it: `view` and
//! `state` under `server` and `writer`, those under `http`, `html` renders `view`.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod battle;
pub mod blocking;
pub mod catalog;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod export;
pub mod html;
pub mod http;
pub mod ratelimit;
pub mod ratings;
pub mod server;
pub mod state;
pub mod view;
pub mod writer;

pub use config::ArenaConfig;
pub use error::{ApiError, Error, Result};
pub use server::Arena;
