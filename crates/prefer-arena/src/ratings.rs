//! The leaderboard's state: every stored vote (compactly, in id order), the online
//! ratings updated per vote (K-Sort's TrueSkill and Elo), the matchmaking exposure, and
//! the last full Bradley-Terry refit with bootstrap intervals.
//!
//! The refit reads the votes exactly as `prefer rank fit` reads the arena's export: each
//! vote split into its K(K−1)/2 battles (display order: positions i < j, equal ranks a
//! tie), models numbered in order of first appearance. So the refit and
//! `prefer rank fit export.jsonl --bootstrap R --seed S` give the same numbers (a test
//! checks it). Elo runs over the same battles in the same order (FastChat's online Elo);
//! K-Sort updates once per K-wise vote.
//!
//! Vote quality: a vote past its voter's daily cap is stored but never counted (not in
//! the online ratings, not in the refit). Before each refit the voters are screened
//! ([`prefer_rank::quality::screen`]: agreement with the consensus); the votes of a
//! flagged voter, or of one an admin excluded, stay stored and are left out of the
//! Bradley-Terry fit. The online ratings cannot take a vote back, so they keep the
//! votes of a voter flagged later; the leaderboard ranks by the refit.

use prefer_rank::bt::BtConfig;
use prefer_rank::elo::{self, EloConfig};
use prefer_rank::intervals::BootstrapConfig;
use prefer_rank::ksort::{KSort, KSortConfig};
use prefer_rank::leaderboard::{Interval, Leaderboard, Method, RankData, leaderboard};
use prefer_rank::matchmaking::Exposure;
use prefer_rank::quality::{self, NO_VOTER, ScreenConfig};
use prefer_rank::votes::{Outcome, Vote};
use serde::Serialize;
use std::collections::HashMap;

use crate::catalog::Catalog;
use crate::error::Result;

/// One vote, as the ratings need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggedVote {
    /// Vote id.
    pub id: i64,
    /// K.
    pub k: u8,
    /// Model indices in display order (first `k` used).
    pub models: [u32; 4],
    /// Ranks (1 = best).
    pub ranks: [u8; 4],
    /// The voter (an index into [`Ratings::voters`]; [`NO_VOTER`] when unknown).
    pub voter: u32,
    /// Set aside as it was taken (past the voter's daily cap): stored, never counted.
    pub capped: bool,
}

impl LoggedVote {
    /// A stored vote by database ids (models in display order, at most 4, and their
    /// ranks), no voter, not capped; `None` when a model is not in `catalog`.
    pub fn from_ids(catalog: &Catalog, id: i64, models: &[i64], ranks: &[u32]) -> Option<Self> {
        let k = models.len().min(4);
        let mut v = LoggedVote {
            id,
            k: k as u8,
            models: [0; 4],
            ranks: [0; 4],
            voter: NO_VOTER,
            capped: false,
        };
        for i in 0..k {
            v.models[i] = catalog.model_index(models[i])? as u32;
            v.ranks[i] = ranks[i].min(255) as u8;
        }
        Some(v)
    }

    /// The pairwise battles of the vote: positions i < j in display order.
    pub fn pairs(&self) -> impl Iterator<Item = (u32, u32, Outcome)> + '_ {
        let k = self.k as usize;
        (0..k).flat_map(move |i| {
            (i + 1..k).map(move |j| {
                let o = match self.ranks[i].cmp(&self.ranks[j]) {
                    std::cmp::Ordering::Less => Outcome::Win,
                    std::cmp::Ordering::Greater => Outcome::Loss,
                    std::cmp::Ordering::Equal => Outcome::Tie,
                };
                (self.models[i], self.models[j], o)
            })
        })
    }
}

/// Online ratings and exposure over `n` models.
#[derive(Debug, Clone)]
pub struct Online {
    /// K-Sort / TrueSkill.
    pub ksort: KSort,
    /// Elo per model.
    pub elo: Vec<f64>,
    /// Who met whom (matchmaking).
    pub exposure: Exposure,
    /// Votes each model took part in.
    pub votes: Vec<u64>,
    elo_cfg: EloConfig,
}

impl Online {
    /// `n` models, no votes.
    pub fn new(n: usize) -> Self {
        Self {
            ksort: KSort::new(n, KSortConfig::default()),
            elo: vec![EloConfig::default().init; n],
            exposure: Exposure::new(n),
            votes: vec![0; n],
            elo_cfg: EloConfig::default(),
        }
    }

    /// Grows to `n` models (new ones at the prior).
    pub fn grow(&mut self, n: usize) {
        let old = self.votes.len();
        if n <= old {
            return;
        }
        for _ in old..n {
            self.ksort.add_model();
            self.elo.push(self.elo_cfg.init);
            self.votes.push(0);
        }
        let mut e = Exposure::new(n);
        for i in 0..old {
            e.per_model[i] = self.exposure.per_model[i];
            for j in 0..old {
                e.per_pair[i * n + j] = self.exposure.per_pair[i * old + j];
            }
        }
        e.total = self.exposure.total;
        self.exposure = e;
    }

    /// Applies one vote.
    pub fn apply(&mut self, v: &LoggedVote) {
        let k = v.k as usize;
        let items: Vec<usize> = v.models[..k].iter().map(|&m| m as usize).collect();
        let need = items.iter().copied().max().map_or(0, |m| m + 1);
        self.grow(need);
        let ranks: Vec<u32> = v.ranks[..k].iter().map(|&r| u32::from(r)).collect();
        // Items are distinct and in range (checked when the vote was taken).
        let _ = self.ksort.update(&items, &ranks);
        for (a, b, o) in v.pairs() {
            let (a, b) = (a as usize, b as usize);
            let (ra, rb) = elo::update(&self.elo_cfg, self.elo[a], self.elo[b], o);
            self.elo[a] = ra;
            self.elo[b] = rb;
        }
        self.exposure.record(&items);
        for &i in &items {
            self.votes[i] += 1;
        }
    }
}

/// Settings of the full refit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefitConfig {
    /// Bootstrap rounds (0: no intervals).
    pub rounds: usize,
    /// Bootstrap seed.
    pub seed: u64,
    /// Prior precision on log-strengths (`prefer rank fit --l2`).
    pub l2: f64,
    /// Voter screening (`None`: only caps and admins exclude votes).
    pub screen: Option<ScreenConfig>,
}

/// Votes as `prefer rank fit` reads the battle export: models named in order of first
/// appearance, each vote's battles in display order.
pub fn rank_data(log: &[LoggedVote], names: &[String]) -> RankData {
    rank_data_where(log, names, |_| true).0
}

/// [`rank_data`] of the votes that pass `keep`, with the voter of each battle.
pub fn rank_data_where(
    log: &[LoggedVote],
    names: &[String],
    keep: impl Fn(&LoggedVote) -> bool,
) -> (RankData, Vec<u32>) {
    let mut voter_of = Vec::new();
    let mut data = RankData::default();
    let mut index: Vec<Option<u32>> = vec![None; names.len()];
    let mut intern = |data: &mut RankData, m: u32| -> u32 {
        let slot = &mut index[m as usize];
        *slot.get_or_insert_with(|| data.pairs.intern(&names[m as usize]))
    };
    data.pairs.votes.reserve(log.len());
    for v in log.iter().filter(|v| keep(v)) {
        for (a, b, outcome) in v.pairs() {
            let a = intern(&mut data, a);
            let b = intern(&mut data, b);
            data.pairs.votes.push(Vote { a, b, outcome });
            voter_of.push(v.voter);
        }
    }
    (data, voter_of)
}

/// One voter, as an admin sees it after a refit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VoterReport {
    /// The voter's pseudonym.
    pub voter: String,
    /// Votes stored.
    pub votes: u64,
    /// Of them, set aside by the daily cap.
    pub capped: u64,
    /// The screening of its uncapped votes' battles (see [`prefer_rank::quality`]; `z`
    /// is `None` without screening).
    #[serde(flatten)]
    pub score: quality::VoterScore,
}

/// A refit's leaderboard and what it left out.
#[derive(Debug, Clone)]
pub struct Fitted {
    /// The leaderboard of the counted votes.
    pub board: Leaderboard,
    /// Votes counted.
    pub counted: usize,
    /// Per voter, worst screening score first.
    pub voters: Vec<VoterReport>,
}

/// The settings of the consensus fit and the final fit.
fn bt_method(cfg: &RefitConfig) -> BtConfig {
    BtConfig {
        l2: cfg.l2,
        ..Default::default()
    }
}

/// The Bradley-Terry leaderboard of the counted votes, with bootstrap intervals: capped
/// votes left out, then the voters screened (`fixed[v]`: an admin's decision on voter
/// `v`, `Some(true)` exclude, `Some(false)` keep) and the excluded voters' votes left
/// out.
///
/// # Errors
/// No votes, or a comparison graph that cannot be fitted.
pub fn refit(
    log: &[LoggedVote],
    names: &[String],
    voters: &[String],
    fixed: &[Option<bool>],
    cfg: &RefitConfig,
) -> Result<Fitted> {
    let (data, who) = rank_data_where(log, names, |v| !v.capped);
    let mut fixed = fixed.to_vec();
    fixed.resize(voters.len(), None);
    let scores = match &cfg.screen {
        Some(sc) if !data.pairs.votes.is_empty() => {
            quality::screen(&data.pairs, &who, &fixed, sc, &bt_method(cfg))?.voters
        }
        _ => quality::unscreened(&fixed),
    };
    let excluded: Vec<bool> = scores.iter().map(|s| s.excluded).collect();
    let counted =
        |v: &LoggedVote| !v.capped && (v.voter == NO_VOTER || !excluded[v.voter as usize]);
    // The uncapped votes are already the counted ones when nobody is excluded.
    let data = if excluded.contains(&true) {
        rank_data_where(log, names, counted).0
    } else {
        data
    };
    let mut stored = vec![(0u64, 0u64); voters.len()];
    for v in log.iter().filter(|v| v.voter != NO_VOTER) {
        let s = &mut stored[v.voter as usize];
        s.0 += 1;
        s.1 += u64::from(v.capped);
    }
    let mut reports: Vec<VoterReport> = voters
        .iter()
        .zip(scores)
        .zip(stored)
        .map(|((name, score), (votes, capped))| VoterReport {
            voter: name.clone(),
            votes,
            capped,
            score,
        })
        .collect();
    reports.sort_by(|a, b| {
        let z = |r: &VoterReport| r.score.z.unwrap_or(f64::INFINITY);
        z(a).total_cmp(&z(b)).then_with(|| a.voter.cmp(&b.voter))
    });
    let counted_votes = log.iter().filter(|v| counted(v)).count();
    let interval = if cfg.rounds == 0 {
        Interval::None
    } else {
        Interval::Bootstrap(BootstrapConfig {
            rounds: cfg.rounds,
            seed: cfg.seed,
            level: 0.95,
        })
    };
    let board = leaderboard(&data, &Method::Bt(bt_method(cfg)), &interval)?;
    Ok(Fitted {
        board,
        counted: counted_votes,
        voters: reports,
    })
}

/// A finished refit.
#[derive(Debug, Clone, Serialize)]
pub struct Refit {
    /// The method (`bt`).
    pub method: String,
    /// Votes it saw.
    pub votes: usize,
    /// Bootstrap rounds (0: no intervals).
    pub bootstrap_rounds: usize,
    /// When it finished (ms since the Unix epoch).
    pub computed_ms: i64,
    /// How long it took (s).
    pub seconds: f64,
    /// Why it failed, when it did (e.g. models that never met); then `rows` is empty.
    pub error: Option<String>,
    /// Votes counted (the others: capped, or of an excluded voter).
    pub counted: usize,
    /// Voters whose votes were left out.
    pub voters_excluded: usize,
    /// The leaderboard.
    #[serde(skip)]
    pub board: Option<Leaderboard>,
    /// Every voter's screening, worst first.
    #[serde(skip)]
    pub voters: Vec<VoterReport>,
}

/// Everything the leaderboard reads.
#[derive(Debug, Clone)]
pub struct Ratings {
    /// Every vote, in id order.
    pub log: Vec<LoggedVote>,
    /// Online ratings after `log`.
    pub online: Online,
    /// The last refit.
    pub refit: Option<Refit>,
    /// Voter pseudonyms, by index.
    pub voters: Vec<String>,
    voter_index: HashMap<String, u32>,
    /// Votes per (voter, UTC day number).
    per_day: HashMap<(u32, i64), u32>,
}

/// The UTC day (days since the Unix epoch) of a time in ms.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

impl Ratings {
    /// No votes, `n` models.
    pub fn new(n: usize) -> Self {
        Self {
            log: Vec::new(),
            online: Online::new(n),
            refit: None,
            voters: Vec::new(),
            voter_index: HashMap::new(),
            per_day: HashMap::new(),
        }
    }

    /// The index of voter `name`, added when new; [`NO_VOTER`] for no voter (`""`).
    pub fn voter(&mut self, name: &str) -> u32 {
        if name.is_empty() {
            return NO_VOTER;
        }
        if let Some(&i) = self.voter_index.get(name) {
            return i;
        }
        let i = self.voters.len() as u32;
        self.voters.push(name.to_string());
        self.voter_index.insert(name.to_string(), i);
        i
    }

    /// Votes stored for `voter` on UTC day `day`.
    pub fn votes_on(&self, voter: &str, day: i64) -> u32 {
        self.voter_index
            .get(voter)
            .and_then(|&i| self.per_day.get(&(i, day)))
            .copied()
            .unwrap_or(0)
    }

    /// Appends a vote stored at `created_ms` (ids only grow; an id already seen is
    /// ignored). A capped vote is kept in the log but moves no rating.
    pub fn push(&mut self, v: LoggedVote, created_ms: i64) {
        if self.log.last().is_some_and(|l| l.id >= v.id) {
            return;
        }
        if v.voter != NO_VOTER {
            *self
                .per_day
                .entry((v.voter, day_of(created_ms)))
                .or_insert(0) += 1;
        }
        if !v.capped {
            self.online.apply(&v);
        }
        self.log.push(v);
    }

    /// The last vote id.
    pub fn last_id(&self) -> i64 {
        self.log.last().map_or(0, |v| v.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prefer_rank::leaderboard::RankData;

    #[test]
    fn rank_data_matches_pushing_battles_by_name() {
        // The same votes pushed as battles by name (what `prefer rank fit` does with the
        // export) give the same items and votes.
        let names: Vec<String> = ["w", "x", "y", "z"].iter().map(|s| s.to_string()).collect();
        let log = [
            LoggedVote {
                id: 1,
                k: 4,
                models: [2, 0, 3, 1],
                ranks: [2, 1, 2, 2],
                voter: NO_VOTER,
                capped: false,
            },
            LoggedVote {
                id: 2,
                k: 2,
                models: [1, 3, 0, 0],
                ranks: [1, 1, 0, 0],
                voter: NO_VOTER,
                capped: false,
            },
            LoggedVote {
                id: 3,
                k: 3,
                models: [3, 2, 1, 0],
                ranks: [3, 1, 2, 0],
                voter: NO_VOTER,
                capped: false,
            },
        ];
        let got = rank_data(&log, &names);
        let mut want = RankData::default();
        for v in &log {
            for (a, b, o) in v.pairs() {
                want.push_pair(&names[a as usize], &names[b as usize], o)
                    .unwrap();
            }
        }
        assert_eq!(got.items(), want.items());
        assert_eq!(got.pairs.votes, want.pairs.votes);
        assert_eq!(got.pairs.votes.len(), 6 + 1 + 3);
    }

    #[test]
    fn online_elo_is_elo_run_over_the_battles() {
        let names: Vec<String> = (0..5).map(|i| format!("m{i}")).collect();
        let mut r = Ratings::new(5);
        for (id, s) in (1..).zip(0..200u32) {
            let a = s % 5;
            let b = (s * 3 + 1) % 5;
            if a == b {
                continue;
            }
            r.push(
                LoggedVote {
                    id,
                    k: 2,
                    models: [a, b, 0, 0],
                    ranks: [1 + (s % 2) as u8, 2 - (s % 3 == 0) as u8, 0, 0],
                    voter: NO_VOTER,
                    capped: false,
                },
                0,
            );
        }
        let data = rank_data(&r.log, &names);
        let elo = elo::run(data.items().len(), &data.pairs.votes, &EloConfig::default());
        for (i, name) in data.items().iter().enumerate() {
            let m = names.iter().position(|n| n == name).unwrap();
            assert!((elo[i] - r.online.elo[m]).abs() < 1e-9);
        }
    }
}
