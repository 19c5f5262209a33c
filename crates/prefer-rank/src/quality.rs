//! Voter screening: the voters whose votes disagree with the consensus far more often
//! than chance allows (an adversary voting against the crowd, a bot, a careless voter).
//!
//! # Method
//!
//! The consensus is the Bradley-Terry fit of the counted votes (natural-log strengths
//! θ). Under it, a decisive vote between `a` and `b` goes to the favourite, the one
//! with the larger θ, with probability `p = σ(|θ_a − θ_b|)`. Over a voter's `n`
//! decisive votes (ties carry no direction and are left out), the number that went to
//! the favourite is `A`, with mean `E = Σ p` and variance `V = Σ p(1 − p)` for a voter
//! who votes as the crowd does, so
//!
//! ```text
//! z = (A − E) / √V   ≈ N(0, 1) for a voter who follows the consensus
//! ```
//!
//! is the one-sided score test of "this voter votes by the same Bradley-Terry model as
//! the crowd". A voter with at least `min_votes` decisive votes and `z < −z` is flagged;
//! the fit is redone without the flagged voters (an adversary with many votes pulls the
//! first consensus toward itself) and every voter is scored again, until the flagged set
//! stops changing or `rounds` fits were made.
//!
//! With the default `z = 4`, a voter who follows the model is flagged with probability
//! about 3·10⁻⁵ (normal tail), so among a thousand honest voters the expected number of
//! false flags is 0.03. A voter who always picks the weaker response reaches `z < −4`
//! after a few dozen votes when the models differ (see the tests). What it cannot see:
//! an adversary who votes with the crowd except on the few battles of one model it
//! promotes needs many more such votes before its `z` falls; per-voter caps bound what
//! it can do meanwhile (the arena's `cap_per_day`).
//!
//! Votes of no known voter (`voter_of[t] == NO_VOTER`) are always counted and never
//! scored.
//!
//! # Parameters
//! [`ScreenConfig`]: `min_votes` (default 20), `z` (default 4), `rounds` (default 5).

use serde::{Deserialize, Serialize};

use crate::bt::{self, BtConfig};
use crate::error::{Error, Result};
use crate::votes::{Outcome, PairCounts, Vote, Votes};

/// The voter of a vote with no known voter.
pub const NO_VOTER: u32 = u32::MAX;

/// Screening settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScreenConfig {
    /// Decisive votes a voter needs before it can be flagged (default 20).
    pub min_votes: u64,
    /// Flag below `−z` (default 4).
    pub z: f64,
    /// Most fits (default 5).
    pub rounds: usize,
}

impl Default for ScreenConfig {
    fn default() -> Self {
        Self {
            min_votes: 20,
            z: 4.0,
            rounds: 5,
        }
    }
}

impl ScreenConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// `z` not positive and finite, or no rounds.
    pub fn validate(&self) -> Result<()> {
        if !(self.z > 0.0 && self.z.is_finite()) || self.rounds == 0 {
            return Err(Error::Invalid(format!(
                "screening needs z > 0 and rounds >= 1 (got z = {}, rounds = {})",
                self.z, self.rounds
            )));
        }
        Ok(())
    }
}

/// One voter's agreement with the consensus.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VoterScore {
    /// Pairwise votes (battles) of the voter, ties included.
    pub battles: u64,
    /// Decisive votes with a favourite (no tie, strengths not equal).
    pub decisive: u64,
    /// Decisive votes that went to the favourite.
    pub agree: u64,
    /// Their expectation `Σ p` under the consensus.
    pub expected: f64,
    /// `(agree − expected) / √Σ p(1 − p)`; `None` without decisive votes.
    pub z: Option<f64>,
    /// Whether the voter's votes were left out of the final fit.
    pub excluded: bool,
    /// Why, in words; `None` when counted.
    pub reason: Option<String>,
}

/// What [`screen`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Screening {
    /// One score per voter, indexed by voter.
    pub voters: Vec<VoterScore>,
    /// Natural-log strengths of the final consensus (the counted votes).
    pub theta: Vec<f64>,
    /// Fits made.
    pub fits: usize,
}

impl Screening {
    /// Whether vote `t` (of voter `voter_of[t]`) is counted.
    pub fn counted(&self, voter: u32) -> bool {
        voter == NO_VOTER || !self.voters[voter as usize].excluded
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Every voter's agreement with the strengths `theta` (flags left off).
pub fn agreement(
    votes: &[Vote],
    voter_of: &[u32],
    n_voters: usize,
    theta: &[f64],
) -> Vec<VoterScore> {
    let mut acc = vec![(0u64, 0u64, 0u64, 0.0f64, 0.0f64); n_voters];
    for (v, &who) in votes.iter().zip(voter_of) {
        if who == NO_VOTER {
            continue;
        }
        let s = &mut acc[who as usize];
        s.0 += 1;
        let d = theta[v.a as usize] - theta[v.b as usize];
        if v.outcome == Outcome::Tie || d.abs() < 1e-12 {
            continue;
        }
        let p = sigmoid(d.abs());
        // The favourite is `a` when d > 0.
        let to_favourite = (v.outcome == Outcome::Win) == (d > 0.0);
        s.1 += 1;
        s.2 += u64::from(to_favourite);
        s.3 += p;
        s.4 += p * (1.0 - p);
    }
    acc.into_iter()
        .map(|(battles, decisive, agree, expected, var)| VoterScore {
            battles,
            decisive,
            agree,
            expected,
            z: (var > 0.0).then(|| (agree as f64 - expected) / var.sqrt()),
            excluded: false,
            reason: None,
        })
        .collect()
}

/// Why a voter an admin excluded is left out.
const BY_ADMIN: &str = "excluded by an admin";

/// Scores without screening: only the admins' decisions (`fixed`, as in [`screen`])
/// exclude voters; nothing is counted or tested.
pub fn unscreened(fixed: &[Option<bool>]) -> Vec<VoterScore> {
    fixed
        .iter()
        .map(|f| VoterScore {
            battles: 0,
            decisive: 0,
            agree: 0,
            expected: 0.0,
            z: None,
            excluded: *f == Some(true),
            reason: (*f == Some(true)).then(|| BY_ADMIN.to_string()),
        })
        .collect()
}

/// Screens the voters of `pairs` (vote `t` by voter `voter_of[t]`, `n_voters` voters).
/// `fixed[v]` is `Some(true)` for a voter excluded by hand, `Some(false)` for one kept
/// by hand (never flagged), `None` to let the test decide. The consensus is fitted with
/// `bt`.
///
/// # Errors
/// Lengths that differ, bad settings, or a fit that fails (e.g. the counted votes
/// leave an item that never met the others, without a prior).
pub fn screen(
    pairs: &Votes,
    voter_of: &[u32],
    fixed: &[Option<bool>],
    cfg: &ScreenConfig,
    bt_cfg: &BtConfig,
) -> Result<Screening> {
    cfg.validate()?;
    let n_voters = fixed.len();
    if voter_of.len() != pairs.votes.len() {
        return Err(Error::Invalid(format!(
            "screening: {} votes but {} voters of votes",
            pairs.votes.len(),
            voter_of.len()
        )));
    }
    if let Some(&w) = voter_of
        .iter()
        .find(|&&w| w != NO_VOTER && w as usize >= n_voters)
    {
        return Err(Error::Invalid(format!(
            "screening: voter {w} of a vote, but {n_voters} voters"
        )));
    }
    let mut excluded: Vec<bool> = fixed.iter().map(|f| *f == Some(true)).collect();
    let mut fits = 0;
    loop {
        let kept = pairs
            .votes
            .iter()
            .zip(voter_of)
            .filter(|(_, w)| **w == NO_VOTER || !excluded[**w as usize])
            .map(|(v, _)| *v);
        let counts = PairCounts::from_votes(pairs.n_items(), kept);
        let fit = bt::fit_with(&counts, &pairs.items, bt_cfg, false)
            .map_err(|e| Error::Invalid(format!("screening: the consensus fit failed: {e}")))?;
        fits += 1;
        let mut scores = agreement(&pairs.votes, voter_of, n_voters, &fit.theta);
        let flagged: Vec<bool> = scores
            .iter()
            .zip(fixed)
            .map(|(s, f)| match f {
                Some(x) => *x,
                None => s.decisive >= cfg.min_votes && s.z.is_some_and(|z| z < -cfg.z),
            })
            .collect();
        if flagged == excluded || fits >= cfg.rounds {
            for ((s, f), x) in scores.iter_mut().zip(fixed).zip(&excluded) {
                s.excluded = *x;
                s.reason = match (f, x) {
                    (Some(true), _) => Some(BY_ADMIN.into()),
                    (_, true) => Some(format!(
                        "agreed with the consensus on {} of {} decisive votes, {:.1} expected (z = {:.1} < -{})",
                        s.agree,
                        s.decisive,
                        s.expected,
                        s.z.unwrap_or(f64::NAN),
                        cfg.z
                    )),
                    _ => None,
                };
            }
            return Ok(Screening {
                voters: scores,
                theta: fit.theta,
                fits,
            });
        }
        excluded = flagged;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// `honest` voters voting by Bradley-Terry with strengths `0.4·i` over 8 items, and
    /// `bad` voters picking the weaker item; `per` decisive votes each.
    fn simulate(honest: usize, bad: usize, per: usize, seed: u64) -> (Votes, Vec<u32>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut votes = Votes::new();
        let names: Vec<String> = (0..8).map(|i| format!("m{i}")).collect();
        for n in &names {
            votes.intern(n);
        }
        let mut voter_of = Vec::new();
        for w in 0..honest + bad {
            for _ in 0..per {
                let a = rng.random_range(0..8usize);
                let b = (a + rng.random_range(1..8usize)) % 8;
                let d = 0.4 * (a as f64 - b as f64);
                let a_wins = if w < honest {
                    rng.random::<f64>() < sigmoid(d)
                } else {
                    d < 0.0
                };
                let o = if a_wins { Outcome::Win } else { Outcome::Loss };
                votes.push(&names[a], &names[b], o).unwrap();
                voter_of.push(w as u32);
            }
        }
        (votes, voter_of)
    }

    fn bt() -> BtConfig {
        BtConfig {
            l2: 0.01,
            ..Default::default()
        }
    }

    #[test]
    fn honest_z_scores_are_standard_normal() {
        // 400 honest voters with 60 votes each: the z scores have mean ≈ 0 and sd ≈ 1
        // (the consensus includes each voter's own votes, which pulls z up by a little).
        let (votes, who) = simulate(400, 0, 60, 1);
        let fixed = vec![None; 400];
        let s = screen(&votes, &who, &fixed, &ScreenConfig::default(), &bt()).unwrap();
        let z: Vec<f64> = s.voters.iter().filter_map(|v| v.z).collect();
        assert_eq!(z.len(), 400);
        let mean = z.iter().sum::<f64>() / 400.0;
        let sd = (z.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 399.0).sqrt();
        assert!(mean.abs() < 0.15, "mean {mean}");
        assert!((sd - 1.0).abs() < 0.12, "sd {sd}");
        assert!(s.voters.iter().all(|v| !v.excluded));
        assert_eq!(s.fits, 1);
    }

    #[test]
    fn reversing_voters_are_flagged_and_the_order_comes_back() {
        // 40 honest voters (50 votes each) and 4 adversaries with 100 votes each: a sixth
        // of the votes are reversed. Counted, they flatten the ratings; screened, all
        // four are flagged, no honest voter is, and the fit equals the fit of the honest
        // votes alone.
        let (votes, who) = simulate(40, 0, 50, 2);
        let (bad_votes, bad_who) = simulate(0, 4, 100, 3);
        let mut all = votes.clone();
        let mut all_who = who.clone();
        for (v, w) in bad_votes.votes.iter().zip(&bad_who) {
            all.votes.push(*v);
            all_who.push(40 + *w);
        }
        let fixed = vec![None; 44];
        let s = screen(&all, &all_who, &fixed, &ScreenConfig::default(), &bt()).unwrap();
        for (i, v) in s.voters.iter().enumerate() {
            assert_eq!(v.excluded, i >= 40, "voter {i}: {v:?}");
        }
        assert!(
            s.voters[40]
                .reason
                .as_deref()
                .unwrap()
                .contains("consensus")
        );
        let honest = bt::fit_with(&votes.pair_counts(), &votes.items, &bt(), false).unwrap();
        for (a, b) in s.theta.iter().zip(&honest.theta) {
            assert!((a - b).abs() < 1e-9);
        }
        // Without screening, the reversed third of the votes flattens the ratings.
        let raw = bt::fit_with(&all.pair_counts(), &all.items, &bt(), false).unwrap();
        let spread = |t: &[f64]| t[7] - t[0];
        assert!(spread(&raw.theta) < 0.75 * spread(&honest.theta));
    }

    #[test]
    fn admins_decide_first() {
        let (votes, who) = simulate(10, 1, 60, 4);
        // The adversary kept by hand, an honest voter excluded by hand.
        let mut fixed = vec![None; 11];
        fixed[10] = Some(false);
        fixed[3] = Some(true);
        let s = screen(&votes, &who, &fixed, &ScreenConfig::default(), &bt()).unwrap();
        assert!(!s.voters[10].excluded);
        assert!(s.voters[3].excluded);
        assert_eq!(s.voters[3].reason.as_deref(), Some("excluded by an admin"));
        // Without the override the adversary goes.
        fixed[10] = None;
        let s = screen(&votes, &who, &fixed, &ScreenConfig::default(), &bt()).unwrap();
        assert!(s.voters[10].excluded);
        assert!(s.voters[10].z.unwrap() < -4.0);
    }

    #[test]
    fn z_is_the_binomial_standardization() {
        // Two items with θ = ±ln(3)/2: the favourite wins with p = 3/4. A voter with
        // 3 wins for the favourite out of 4 decisive votes and one tie has z = 0.
        let mut votes = Votes::new();
        for o in [
            Outcome::Win,
            Outcome::Win,
            Outcome::Loss,
            Outcome::Win,
            Outcome::Tie,
        ] {
            votes.push("a", "b", o).unwrap();
        }
        let theta = [3f64.ln() / 2.0, -(3f64.ln()) / 2.0];
        let s = agreement(&votes.votes, &[0; 5], 1, &theta);
        assert_eq!((s[0].battles, s[0].decisive, s[0].agree), (5, 4, 3));
        assert!((s[0].expected - 3.0).abs() < 1e-12);
        assert!(s[0].z.unwrap().abs() < 1e-12);
        // All four to the underdog: z = (0 − 3)/√(4·3/16) = −2√3.
        let mut votes = Votes::new();
        for _ in 0..4 {
            votes.push("a", "b", Outcome::Loss).unwrap();
        }
        let s = agreement(&votes.votes, &[0; 4], 1, &theta);
        assert!((s[0].z.unwrap() + 2.0 * 3f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let (votes, who) = simulate(2, 0, 5, 5);
        let fixed = vec![None; 2];
        assert!(screen(&votes, &who[1..], &fixed, &ScreenConfig::default(), &bt()).is_err());
        let mut w = who.clone();
        w[0] = 7;
        assert!(screen(&votes, &w, &fixed, &ScreenConfig::default(), &bt()).is_err());
        let cfg = ScreenConfig {
            z: -1.0,
            ..Default::default()
        };
        assert!(screen(&votes, &who, &fixed, &cfg, &bt()).is_err());
    }
}
