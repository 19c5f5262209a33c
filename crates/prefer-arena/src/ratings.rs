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

use prefer_rank::bt::BtConfig;
use prefer_rank::elo::{self, EloConfig};
use prefer_rank::intervals::BootstrapConfig;
use prefer_rank::ksort::{KSort, KSortConfig};
use prefer_rank::leaderboard::{Interval, Leaderboard, Method, RankData, leaderboard};
use prefer_rank::matchmaking::Exposure;
use prefer_rank::votes::{Outcome, Vote};
use serde::Serialize;

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
}

impl LoggedVote {
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
}

/// Votes as `prefer rank fit` reads the battle export: models named in order of first
/// appearance, each vote's battles in display order.
pub fn rank_data(log: &[LoggedVote], names: &[String]) -> RankData {
    let mut data = RankData::default();
    let mut index: Vec<Option<u32>> = vec![None; names.len()];
    let mut intern = |data: &mut RankData, m: u32| -> u32 {
        let slot = &mut index[m as usize];
        *slot.get_or_insert_with(|| data.pairs.intern(&names[m as usize]))
    };
    data.pairs.votes.reserve(log.len());
    for v in log {
        for (a, b, outcome) in v.pairs() {
            let a = intern(&mut data, a);
            let b = intern(&mut data, b);
            data.pairs.votes.push(Vote { a, b, outcome });
        }
    }
    data
}

/// The Bradley-Terry leaderboard of the votes, with bootstrap intervals.
///
/// # Errors
/// No votes, or a comparison graph that cannot be fitted.
pub fn refit(log: &[LoggedVote], names: &[String], cfg: &RefitConfig) -> Result<Leaderboard> {
    let data = rank_data(log, names);
    let interval = if cfg.rounds == 0 {
        Interval::None
    } else {
        Interval::Bootstrap(BootstrapConfig {
            rounds: cfg.rounds,
            seed: cfg.seed,
            level: 0.95,
        })
    };
    Ok(leaderboard(
        &data,
        &Method::Bt(BtConfig {
            l2: cfg.l2,
            ..Default::default()
        }),
        &interval,
    )?)
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
    /// The leaderboard.
    #[serde(skip)]
    pub board: Option<Leaderboard>,
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
}

impl Ratings {
    /// No votes, `n` models.
    pub fn new(n: usize) -> Self {
        Self {
            log: Vec::new(),
            online: Online::new(n),
            refit: None,
        }
    }

    /// Appends a vote (ids only grow; an id already seen is ignored).
    pub fn push(&mut self, v: LoggedVote) {
        if self.log.last().is_some_and(|l| l.id >= v.id) {
            return;
        }
        self.online.apply(&v);
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
            },
            LoggedVote {
                id: 2,
                k: 2,
                models: [1, 3, 0, 0],
                ranks: [1, 1, 0, 0],
            },
            LoggedVote {
                id: 3,
                k: 3,
                models: [3, 2, 1, 0],
                ranks: [3, 1, 2, 0],
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
            r.push(LoggedVote {
                id,
                k: 2,
                models: [a, b, 0, 0],
                ranks: [1 + (s % 2) as u8, 2 - (s % 3 == 0) as u8, 0, 0],
            });
        }
        let data = rank_data(&r.log, &names);
        let elo = elo::run(data.items().len(), &data.pairs.votes, &EloConfig::default());
        for (i, name) in data.items().iter().enumerate() {
            let m = names.iter().position(|n| n == name).unwrap();
            assert!((elo[i] - r.online.elo[m]).abs() < 1e-9);
        }
    }
}
