//! Online Elo, exactly as FastChat's `compute_elo` and evalica's `elo` compute it: votes
//! in time order, expected score E_a = 1 / (1 + base^((R_b − R_a) / scale)), update
//! R_a += K (S_a − E_a), R_b += K (S_b − E_b) with S = 1, 0 or 0.5 for a tie, both
//! updated from the ratings before the vote.
//!
//! Defaults (FastChat): K = 4, scale 400, base 10, initial rating 1000.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::votes::{Outcome, Vote};

/// Online Elo settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EloConfig {
    /// K, the step size (default 4, FastChat's).
    pub k: f64,
    /// Scale (default 400).
    pub scale: f64,
    /// Base (default 10).
    pub base: f64,
    /// Initial rating (default 1000).
    pub init: f64,
}

impl Default for EloConfig {
    fn default() -> Self {
        Self {
            k: 4.0,
            scale: 400.0,
            base: 10.0,
            init: 1000.0,
        }
    }
}

impl EloConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// Non-positive K or scale, base not above 1.
    pub fn validate(&self) -> Result<()> {
        if !(self.k > 0.0 && self.scale > 0.0 && self.base > 1.0 && self.init.is_finite()) {
            return Err(Error::Config(format!(
                "Elo needs k > 0, scale > 0, base > 1 (got k {}, scale {}, base {})",
                self.k, self.scale, self.base
            )));
        }
        Ok(())
    }

    /// Expected score of a player rated `ra` against one rated `rb`.
    #[inline]
    pub fn expected(&self, ra: f64, rb: f64) -> f64 {
        1.0 / (1.0 + self.base.powf((rb - ra) / self.scale))
    }
}

/// Updates two ratings with one outcome (from `a`'s side); returns the new pair.
#[inline]
pub fn update(cfg: &EloConfig, ra: f64, rb: f64, outcome: Outcome) -> (f64, f64) {
    let ea = cfg.expected(ra, rb);
    let eb = cfg.expected(rb, ra);
    let sa = outcome.score();
    (ra + cfg.k * (sa - ea), rb + cfg.k * (1.0 - sa - eb))
}

/// Runs online Elo over `votes` in order, for `n` items.
pub fn run(n: usize, votes: &[Vote], cfg: &EloConfig) -> Vec<f64> {
    let mut r = vec![cfg.init; n];
    for v in votes {
        let (a, b) = (v.a as usize, v.b as usize);
        let (ra, rb) = update(cfg, r[a], r[b], v.outcome);
        r[a] = ra;
        r[b] = rb;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_update_by_hand() {
        // Equal ratings, a wins: E = 0.5, so a gains K/2 and b loses K/2.
        let (a, b) = update(&EloConfig::default(), 1000.0, 1000.0, Outcome::Win);
        assert_eq!((a, b), (1002.0, 998.0));
        // 400 points apart, the favourite ties: E_fav = 10/11.
        let (a, _) = update(&EloConfig::default(), 1400.0, 1000.0, Outcome::Tie);
        assert!((a - (1400.0 + 4.0 * (0.5 - 10.0 / 11.0))).abs() < 1e-12);
    }
}
