//! The arena's settings.

use std::time::Duration;

use prefer_rank::matchmaking::MatchConfig;
use prefer_rank::quality::ScreenConfig;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ratelimit::RateConfig;

/// Server settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArenaConfig {
    /// Matchmaking: K responses per battle (2 to 4, default 4) and the exploration
    /// weight α (default 1).
    pub matching: MatchConfig,
    /// How long a battle accepts its vote, in seconds (default 1800).
    pub battle_ttl_s: u64,
    /// Voter rate limit.
    pub rate: RateConfig,
    /// Seconds between full Bradley-Terry refits when votes arrived (default 10).
    pub refit_every_s: f64,
    /// Bootstrap rounds of the refit (default 100; 0 for no intervals).
    pub bootstrap_rounds: usize,
    /// Bootstrap seed (default 0).
    pub seed: u64,
    /// Gaussian prior precision on the refit's log-strengths (default 0.01, as
    /// `prefer rank fit --l2 0.01`): keeps a model that has won or lost every vote so
    /// far at a finite rating; negligible once models have tens of votes.
    pub bt_l2: f64,
    /// Largest request body on voter routes, bytes (default 16 KiB).
    pub body_limit: usize,
    /// Largest admin import body, bytes (default 64 MiB).
    pub admin_body_limit: usize,
    /// The admin token; `None` turns the admin routes off. Never defaulted.
    #[serde(skip_serializing)]
    pub admin_token: Option<String>,
    /// Take the client address from the last `X-Forwarded-For` entry (behind a proxy
    /// you run); off by default, since clients can write that header themselves.
    pub trust_forwarded_for: bool,
    /// Most operations committed in one transaction (group commit; default 256).
    pub max_batch: usize,
    /// Votes a voter (a client address; IPv6 by its /64) may have counted per UTC day
    /// (default 500, a vote every 30 s for four hours; 0: no cap). Later votes are
    /// stored, answered as usual, and not counted.
    pub cap_per_day: u32,
    /// Voter screening before each refit: agreement with the consensus, flagged below
    /// `−z` after `min_votes` decisive battles (defaults 20, 4, 5 rounds; see
    /// `prefer_rank::quality`). `null` turns it off.
    pub screen: Option<ScreenConfig>,
}

impl Default for ArenaConfig {
    fn default() -> Self {
        Self {
            matching: MatchConfig::default(),
            battle_ttl_s: 1800,
            rate: RateConfig::default(),
            refit_every_s: 10.0,
            bootstrap_rounds: 100,
            seed: 0,
            bt_l2: 0.01,
            body_limit: 16 * 1024,
            admin_body_limit: 64 << 20,
            admin_token: None,
            trust_forwarded_for: false,
            max_batch: 256,
            cap_per_day: 500,
            screen: Some(ScreenConfig::default()),
        }
    }
}

/// Shortest accepted admin token.
pub const MIN_TOKEN: usize = 16;

impl ArenaConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// K outside 2..=4, a short admin token, a zero TTL, ...
    pub fn validate(&self) -> Result<()> {
        if !(2..=4).contains(&self.matching.k) {
            return Err(Error::Config(format!(
                "K must be 2, 3 or 4 (got {})",
                self.matching.k
            )));
        }
        if !(self.matching.alpha >= 0.0 && self.matching.alpha.is_finite()) {
            return Err(Error::Config("alpha must be >= 0".into()));
        }
        if self.battle_ttl_s == 0 || self.max_batch == 0 || self.body_limit < 256 {
            return Err(Error::Config(
                "battle_ttl_s and max_batch must be positive, body_limit at least 256".into(),
            ));
        }
        if !(self.bt_l2 >= 0.0 && self.bt_l2.is_finite()) {
            return Err(Error::Config("bt_l2 must be >= 0".into()));
        }
        if !(self.refit_every_s > 0.0 && self.refit_every_s.is_finite()) {
            return Err(Error::Config("refit_every_s must be positive".into()));
        }
        if let Some(t) = &self.admin_token
            && t.trim().len() < MIN_TOKEN
        {
            return Err(Error::Config(format!(
                "the admin token must be at least {MIN_TOKEN} characters"
            )));
        }
        if let Some(s) = &self.screen {
            s.validate().map_err(|e| Error::Config(e.to_string()))?;
        }
        self.rate.validate()
    }

    /// The battle lifetime.
    pub fn battle_ttl(&self) -> Duration {
        Duration::from_secs(self.battle_ttl_s)
    }
}

/// Reads the admin token: the variable `PREFER_ARENA_ADMIN_TOKEN`, else the file's first
/// line (when a file is named). `None` when neither is set: admin stays off.
///
/// # Errors
/// The file cannot be read or is empty.
pub fn admin_token(file: Option<&std::path::Path>) -> Result<Option<String>> {
    if let Some(p) = file {
        let s = std::fs::read_to_string(p)
            .map_err(|e| Error::Config(format!("{}: {e}", p.display())))?;
        let t = s.lines().next().unwrap_or("").trim().to_string();
        if t.is_empty() {
            return Err(Error::Config(format!("{}: empty admin token", p.display())));
        }
        return Ok(Some(t));
    }
    Ok(std::env::var("PREFER_ARENA_ADMIN_TOKEN")
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty()))
}
