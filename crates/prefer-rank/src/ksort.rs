//! K-Sort Arena's Bayesian ratings (paper 5 in ../shared/seeds/papers.txt): each model's
//! capability is a Gaussian N(μ, σ²), updated after every vote by TrueSkill's
//! moment-matching rule; a K-wise vote is split into its K(K−1)/2 pairwise outcomes
//! (equal ranks draw), all computed from the ratings before the vote and then combined:
//! the mean shifts add up and the variance reductions multiply, so the result does not
//! depend on the order of the pairs. The leaderboard score is the conservative
//! S = μ − 3σ.
//!
//! The pairwise TrueSkill update is the `skillratings` crate's (Herbrich, Minka and
//! Graepel 2006); defaults are TrueSkill's: μ₀ = 25, σ₀ = 25/3, β = 25/6, dynamics
//! τ = 25/300, draw probability 0.1.

use serde::{Deserialize, Serialize};
use skillratings::Outcomes;
use skillratings::trueskill::{TrueSkillConfig, TrueSkillRating, trueskill};

use crate::error::{Error, Result};

/// K-Sort / TrueSkill settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KSortConfig {
    /// Initial mean μ₀ (25).
    pub mu: f64,
    /// Initial standard deviation σ₀ (25/3).
    pub sigma: f64,
    /// Performance noise β (25/6).
    pub beta: f64,
    /// Additive dynamics τ per update (25/300); 0 for items whose quality never changes.
    pub dynamics: f64,
    /// Draw probability (0.1).
    pub draw_probability: f64,
    /// σ multiplier of the conservative score μ − kσ (3).
    pub conservative_k: f64,
}

impl Default for KSortConfig {
    fn default() -> Self {
        Self {
            mu: 25.0,
            sigma: 25.0 / 3.0,
            beta: 25.0 / 6.0,
            dynamics: 25.0 / 300.0,
            draw_probability: 0.1,
            conservative_k: 3.0,
        }
    }
}

impl KSortConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// Non-positive σ or β, negative dynamics, draw probability outside [0, 1).
    pub fn validate(&self) -> Result<()> {
        if !(self.sigma > 0.0
            && self.beta > 0.0
            && self.dynamics >= 0.0
            && (0.0..1.0).contains(&self.draw_probability)
            && self.mu.is_finite())
        {
            return Err(Error::Config(format!(
                "invalid K-Sort / TrueSkill settings: {self:?}"
            )));
        }
        Ok(())
    }

    fn trueskill(&self) -> TrueSkillConfig {
        TrueSkillConfig {
            draw_probability: self.draw_probability,
            beta: self.beta,
            dynamics_factor: self.dynamics,
        }
    }
}

/// One model's Gaussian capability.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Skill {
    /// Mean μ.
    pub mu: f64,
    /// Standard deviation σ.
    pub sigma: f64,
}

impl Skill {
    /// The conservative score μ − kσ.
    pub fn conservative(&self, k: f64) -> f64 {
        self.mu - k * self.sigma
    }
}

/// Ratings of every model, updated vote by vote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KSort {
    /// The settings.
    pub config: KSortConfig,
    /// One skill per model.
    pub skills: Vec<Skill>,
}

impl KSort {
    /// `n` models at the prior.
    pub fn new(n: usize, config: KSortConfig) -> Self {
        Self {
            skills: vec![
                Skill {
                    mu: config.mu,
                    sigma: config.sigma,
                };
                n
            ],
            config,
        }
    }

    /// Adds a model at the prior; returns its index.
    pub fn add_model(&mut self) -> usize {
        self.skills.push(Skill {
            mu: self.config.mu,
            sigma: self.config.sigma,
        });
        self.skills.len() - 1
    }

    /// Updates with one K-wise vote: `items[i]` got rank `ranks[i]` (1 = best).
    ///
    /// # Errors
    /// Lengths differ, an index is out of range, or an item is shown twice.
    pub fn update(&mut self, items: &[usize], ranks: &[u32]) -> Result<()> {
        if items.len() != ranks.len() || items.len() < 2 {
            return Err(Error::Invalid(
                "a K-wise vote needs K >= 2 items, one rank each".into(),
            ));
        }
        for (a, &i) in items.iter().enumerate() {
            if i >= self.skills.len() {
                return Err(Error::Invalid(format!("item {i} is out of range")));
            }
            if items[..a].contains(&i) {
                return Err(Error::Invalid(format!("item {i} is shown twice")));
            }
        }
        let ts = self.config.trueskill();
        let before: Vec<TrueSkillRating> = items
            .iter()
            .map(|&i| TrueSkillRating {
                rating: self.skills[i].mu,
                uncertainty: self.skills[i].sigma,
            })
            .collect();
        let k = items.len();
        let mut dmu = vec![0.0; k];
        let mut var_ratio = vec![1.0; k];
        for a in 0..k {
            for b in a + 1..k {
                let outcome = match ranks[a].cmp(&ranks[b]) {
                    std::cmp::Ordering::Less => Outcomes::WIN,
                    std::cmp::Ordering::Greater => Outcomes::LOSS,
                    std::cmp::Ordering::Equal => Outcomes::DRAW,
                };
                let (ra, rb) = trueskill(&before[a], &before[b], &outcome, &ts);
                dmu[a] += ra.rating - before[a].rating;
                dmu[b] += rb.rating - before[b].rating;
                // TrueSkill first inflates σ² by τ², then shrinks it; keep the shrink
                // factor relative to the inflated variance, and inflate once below.
                let infl_a = before[a].uncertainty.powi(2) + ts.dynamics_factor.powi(2);
                let infl_b = before[b].uncertainty.powi(2) + ts.dynamics_factor.powi(2);
                var_ratio[a] *= ra.uncertainty.powi(2) / infl_a;
                var_ratio[b] *= rb.uncertainty.powi(2) / infl_b;
            }
        }
        for (a, &i) in items.iter().enumerate() {
            let infl = before[a].uncertainty.powi(2) + ts.dynamics_factor.powi(2);
            self.skills[i] = Skill {
                mu: before[a].rating + dmu[a],
                sigma: (infl * var_ratio[a]).sqrt(),
            };
        }
        Ok(())
    }

    /// The conservative score of every model.
    pub fn scores(&self) -> Vec<f64> {
        self.skills
            .iter()
            .map(|s| s.conservative(self.config.conservative_k))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pairwise_vote_is_one_trueskill_update() {
        // K = 2: exactly the 1v1 TrueSkill update. Published value (sublee/trueskill,
        // rate_1vs1 with defaults): winner 29.396, 7.171; loser 20.604, 7.171.
        let mut k = KSort::new(2, KSortConfig::default());
        k.update(&[0, 1], &[1, 2]).unwrap();
        assert!((k.skills[0].mu - 29.396).abs() < 1e-3, "{:?}", k.skills);
        assert!((k.skills[0].sigma - 7.171).abs() < 1e-3);
        assert!((k.skills[1].mu - 20.604).abs() < 1e-3);
    }

    #[test]
    fn order_of_display_does_not_matter() {
        let mut a = KSort::new(4, KSortConfig::default());
        let mut b = a.clone();
        a.update(&[0, 1, 2, 3], &[2, 1, 4, 3]).unwrap();
        b.update(&[3, 2, 1, 0], &[3, 4, 1, 2]).unwrap();
        for i in 0..4 {
            assert!((a.skills[i].mu - b.skills[i].mu).abs() < 1e-12);
            assert!((a.skills[i].sigma - b.skills[i].sigma).abs() < 1e-12);
        }
        // The winner of a 4-way vote moves up, the last moves down, all get surer.
        assert!(a.skills[1].mu > 25.0 && a.skills[2].mu < 25.0);
        assert!(a.skills.iter().all(|s| s.sigma < 25.0 / 3.0));
        assert!(a.update(&[0, 0], &[1, 2]).is_err());
    }
}
