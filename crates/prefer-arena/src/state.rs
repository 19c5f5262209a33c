//! The arena's shared state, and the operations that the one writer task takes from the
//! routes. Below the server (which builds the state and sends operations) and the writer
//! (which takes them).

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::{Notify, mpsc, oneshot};

use crate::battle::VoteBody;
use crate::catalog::{Catalog, OutputRecord};
use crate::config::ArenaConfig;
use crate::db::Db;
use crate::error::ApiError;
use crate::ratelimit::RateLimiter;
use crate::ratings::Ratings;
use crate::view::{ImportReport, Receipt};

/// A battle to store.
#[derive(Debug, Clone)]
pub struct NewBattle {
    /// Its id.
    pub id: String,
    /// Prompt id.
    pub prompt_id: String,
    /// Output ids, display order.
    pub outputs: Vec<i64>,
    /// Model ids, display order.
    pub models: Vec<i64>,
    /// Creation time (ms).
    pub created_ms: i64,
    /// Expiry (ms).
    pub expires_ms: i64,
}

/// An operation for the writer.
#[derive(Debug)]
pub enum Op {
    /// Store a battle.
    Battle(NewBattle, oneshot::Sender<Result<(), ApiError>>),
    /// Store a vote.
    Vote(String, VoteBody, oneshot::Sender<Result<Receipt, ApiError>>),
    /// Import outputs.
    Import(
        Vec<OutputRecord>,
        oneshot::Sender<Result<ImportReport, ApiError>>,
    ),
}

/// Shared state behind every route.
#[derive(Debug)]
pub struct Inner {
    /// The database.
    pub db: Db,
    /// The settings.
    pub cfg: ArenaConfig,
    catalog: RwLock<Arc<Catalog>>,
    ratings: RwLock<Ratings>,
    pub(crate) writer: mpsc::Sender<Op>,
    /// The voters' rate limiter.
    pub limiter: RateLimiter,
    pub(crate) refit_now: Notify,
    pub(crate) refit_done: Notify,
}

impl Inner {
    /// The state over an opened database, its catalog and ratings, sending writes to
    /// `writer`.
    pub(crate) fn new(
        db: Db,
        cfg: ArenaConfig,
        catalog: Catalog,
        ratings: Ratings,
        writer: mpsc::Sender<Op>,
    ) -> Inner {
        Inner {
            limiter: RateLimiter::new(cfg.rate),
            db,
            cfg,
            catalog: RwLock::new(Arc::new(catalog)),
            ratings: RwLock::new(ratings),
            writer,
            refit_now: Notify::new(),
            refit_done: Notify::new(),
        }
    }

    /// The catalog now.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_catalog(&self, c: Catalog) {
        *self
            .catalog
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(c);
    }

    /// The ratings, for reading.
    pub fn ratings(&self) -> RwLockReadGuard<'_, Ratings> {
        self.ratings
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn ratings_mut(&self) -> RwLockWriteGuard<'_, Ratings> {
        self.ratings
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
