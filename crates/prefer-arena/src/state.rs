//! The arena's shared state, and the operations that the one writer task takes from the
//! routes. Below the server (which builds the state and sends operations) and the writer
//! (which takes them).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use sha2::{Digest, Sha256};

use tokio::sync::{Notify, mpsc, oneshot};

use crate::battle::VoteBody;
use crate::catalog::{Catalog, OutputRecord};
use crate::config::ArenaConfig;
use crate::db::{Db, VoterFlag};
use crate::error::ApiError;
use crate::ratelimit::{RateLimiter, client_key};
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
    /// Store a vote: battle id, the vote, the voter's pseudonym (`""`: none).
    Vote(
        String,
        VoteBody,
        String,
        oneshot::Sender<Result<Receipt, ApiError>>,
    ),
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
    /// The secret that turns client addresses into voter pseudonyms (kept in the
    /// database, so a voter keeps its pseudonym across restarts).
    voter_salt: String,
    voter_flags: RwLock<HashMap<String, VoterFlag>>,
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
        voter_salt: String,
        voter_flags: HashMap<String, VoterFlag>,
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
            voter_salt,
            voter_flags: RwLock::new(voter_flags),
        }
    }

    /// The voter pseudonym of a client address (IPv6 by its /64, as the rate limiter
    /// groups them): 16 hex digits of SHA-256 over the arena's secret salt and the
    /// address. The address itself is never stored.
    pub fn voter_of(&self, ip: IpAddr) -> String {
        let mut h = Sha256::new();
        h.update(self.voter_salt.as_bytes());
        h.update(b"\0");
        h.update(client_key(ip).to_string().as_bytes());
        h.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The admins' decisions on voters.
    pub fn voter_flags(&self) -> HashMap<String, VoterFlag> {
        self.voter_flags
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_voter_flag(&self, voter: &str, flag: Option<VoterFlag>) {
        let mut m = self
            .voter_flags
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match flag {
            Some(f) => m.insert(voter.to_string(), f),
            None => m.remove(voter),
        };
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
