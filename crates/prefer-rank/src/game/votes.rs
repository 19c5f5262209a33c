//! Preference matrices from votes: battles (`model_a`, `model_b`, `winner`) become
//! pairwise win rates, ties counted as half a win each; and vote sampling from a known
//! matrix, for the noise experiments.

use std::collections::BTreeMap;

use prefer_data::{Battle, Winner};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution};
use serde::{Deserialize, Serialize};

use super::{Game, Group, PrefMatrix};
use crate::{Error, Result};

/// Which battle field splits the votes into groups (MaxMin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// `judge`.
    Judge,
    /// `user_id`.
    User,
    /// `language`.
    Language,
    /// `context`.
    Context,
}

impl GroupBy {
    fn key(self, b: &Battle) -> Option<&str> {
        match self {
            GroupBy::Judge => b.judge.as_deref(),
            GroupBy::User => b.ann.user_id.as_deref(),
            GroupBy::Language => b.language.as_deref(),
            GroupBy::Context => b.ann.context.as_deref(),
        }
    }
}

/// How votes become a matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VoteMatrixOptions {
    /// Pseudo-votes per pair, split evenly: `P_ij = (wins_ij + α/2) / (votes_ij + α)`
    /// (default 0: the raw share; pairs never compared get ½).
    pub prior: f64,
    /// Split the votes into groups by this field (battles without it go to group `""`).
    pub group_by: Option<GroupBy>,
}

impl Default for VoteMatrixOptions {
    fn default() -> Self {
        Self {
            prior: 0.0,
            group_by: None,
        }
    }
}

/// A matrix built from votes, with its counts.
#[derive(Debug, Clone)]
pub struct VoteMatrix {
    /// The game (one group, or one per value of the grouping field).
    pub game: Game,
    /// Votes per pair, `votes[i][j] = votes[j][i]` (all groups).
    pub votes: Vec<Vec<u64>>,
    /// Pairs (i < j) that no vote compared; their win rate is ½.
    pub missing: Vec<(usize, usize)>,
}

/// Turns battles into a pairwise win-rate matrix: `P_ij` is the share of `i`'s wins in
/// the battles between `i` and `j`, a tie counting ½ for each. Models are sorted by
/// name.
///
/// # Errors
/// Fewer than two models, a negative prior, or a battle of a model against itself.
pub fn matrix_from_battles(battles: &[Battle], opts: &VoteMatrixOptions) -> Result<VoteMatrix> {
    if !(opts.prior.is_finite() && opts.prior >= 0.0) {
        return Err(Error::Config(format!(
            "the prior must be ≥ 0, not {}",
            opts.prior
        )));
    }
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for b in battles {
        index.insert(&b.model_a, 0);
        index.insert(&b.model_b, 0);
    }
    if index.len() < 2 {
        return Err(Error::Invalid(format!(
            "the votes name {} model(s); a game needs at least two",
            index.len()
        )));
    }
    for (k, v) in index.values_mut().enumerate() {
        *v = k;
    }
    let names: Vec<String> = index.keys().map(|s| s.to_string()).collect();
    let n = names.len();
    // Per group: wins (as half-votes, to count ties exactly) and votes.
    let mut groups: BTreeMap<String, (Vec<u64>, Vec<u64>)> = BTreeMap::new();
    for (k, b) in battles.iter().enumerate() {
        let (i, j) = (index[b.model_a.as_str()], index[b.model_b.as_str()]);
        if i == j {
            return Err(Error::Invalid(format!(
                "battle {} pits `{}` against itself",
                k + 1,
                b.model_a
            )));
        }
        let key = opts
            .group_by
            .map(|g| g.key(b).unwrap_or("").to_string())
            .unwrap_or_default();
        let (half_wins, votes) = groups
            .entry(key)
            .or_insert_with(|| (vec![0; n * n], vec![0; n * n]));
        let (a_half, b_half) = match b.winner {
            Winner::ModelA => (2, 0),
            Winner::ModelB => (0, 2),
            Winner::Tie | Winner::TieBothBad => (1, 1),
        };
        half_wins[i * n + j] += a_half;
        half_wins[j * n + i] += b_half;
        votes[i * n + j] += 1;
        votes[j * n + i] += 1;
    }
    let mut total = vec![vec![0u64; n]; n];
    let mut gs = Vec::new();
    for (name, (half_wins, votes)) in &groups {
        let m = PrefMatrix::from_upper(n, |i, j| {
            let v = votes[i * n + j] as f64 + opts.prior;
            if v > 0.0 {
                (half_wins[i * n + j] as f64 / 2.0 + opts.prior / 2.0) / v
            } else {
                0.5
            }
        })?;
        let count: u64 = votes.iter().sum::<u64>() / 2;
        for i in 0..n {
            for j in 0..n {
                total[i][j] += votes[i * n + j];
            }
        }
        gs.push(Group {
            name: if name.is_empty() && opts.group_by.is_none() {
                "all".into()
            } else {
                name.clone()
            },
            weight: count as f64,
            matrix: m,
        });
    }
    let missing = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .filter(|&(i, j)| total[i][j] == 0)
        .collect();
    let game = if gs.len() == 1 {
        let m = gs.remove(0).matrix;
        Game::with_names(m, names)?
    } else {
        // The population matrix of several groups is the vote-weighted average; with a
        // single group the pooled shares above are exact.
        Game::from_groups(names, gs)?
    };
    Ok(VoteMatrix {
        game,
        votes: total,
        missing,
    })
}

/// An estimate of `p` from `votes` sampled votes per pair: `P̂_ij ~ Binomial(votes,
/// P_ij) / votes` for `i < j`, and `P̂_ji = 1 − P̂_ij`.
///
/// # Errors
/// `votes == 0`.
pub fn sample_matrix(p: &PrefMatrix, votes: u64, seed: u64) -> Result<PrefMatrix> {
    if votes == 0 {
        return Err(Error::Config("votes per pair must be at least 1".into()));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    PrefMatrix::from_upper(p.n(), |i, j| {
        let q = p.get(i, j).clamp(0.0, 1.0);
        match Binomial::new(votes, q) {
            Ok(b) => b.sample(&mut rng) as f64 / votes as f64,
            // Unreachable for q in [0, 1]; keep the exact value rather than panic.
            Err(_) => q,
        }
    })
}

/// Draws `count` battles between uniformly chosen pairs of distinct responses of `p`
/// (names `names`), the winner drawn from `P` (no ties).
pub fn sample_battles(p: &PrefMatrix, names: &[String], count: usize, seed: u64) -> Vec<Battle> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = p.n();
    let mut out = Vec::with_capacity(count);
    if n < 2 {
        return out;
    }
    for _ in 0..count {
        let i = rng.random_range(0..n);
        let mut j = rng.random_range(0..n - 1);
        if j >= i {
            j += 1;
        }
        let winner = if rng.random::<f64>() < p.get(i, j) {
            Winner::ModelA
        } else {
            Winner::ModelB
        };
        out.push(Battle::new(names[i].clone(), names[j].clone(), winner));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_ties_as_half_and_sorts_models() {
        let b = |a: &str, c: &str, w| Battle::new(a, c, w);
        let battles = vec![
            b("y", "x", Winner::ModelA),
            b("x", "y", Winner::Tie),
            b("x", "y", Winner::ModelA),
            b("x", "y", Winner::TieBothBad),
            b("x", "z", Winner::ModelB),
        ];
        let vm = matrix_from_battles(&battles, &VoteMatrixOptions::default()).unwrap();
        assert_eq!(vm.game.names(), ["x", "y", "z"]);
        // x vs y: x wins 1, loses 1, ties 2 → (1 + 1) / 4 = 0.5.
        let p = vm.game.matrix();
        assert!((p.get(0, 1) - 0.5).abs() < 1e-15);
        assert_eq!(p.get(0, 2), 0.0);
        assert_eq!(p.get(1, 2), 0.5);
        assert_eq!(vm.missing, vec![(1, 2)]);
        assert_eq!(vm.votes[0][1], 4);
        let vm = matrix_from_battles(
            &battles,
            &VoteMatrixOptions {
                prior: 2.0,
                group_by: None,
            },
        )
        .unwrap();
        // x vs z: 0 wins of 1 vote, plus one pseudo-win in two pseudo-votes → 1/3.
        assert!((vm.game.matrix().get(0, 2) - 1.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn groups_split_by_field_and_weigh_by_votes() {
        let mut battles = Vec::new();
        for k in 0..4 {
            let mut b = Battle::new(
                "a",
                "b",
                if k < 3 {
                    Winner::ModelA
                } else {
                    Winner::ModelB
                },
            );
            b.judge = Some("j1".into());
            battles.push(b);
        }
        let mut b = Battle::new("a", "b", Winner::ModelB);
        b.judge = Some("j2".into());
        battles.push(b);
        let vm = matrix_from_battles(
            &battles,
            &VoteMatrixOptions {
                prior: 0.0,
                group_by: Some(GroupBy::Judge),
            },
        )
        .unwrap();
        let gs = vm.game.groups();
        assert_eq!(gs.len(), 2);
        assert_eq!((gs[0].name.as_str(), gs[0].matrix.get(0, 1)), ("j1", 0.75));
        assert_eq!((gs[1].name.as_str(), gs[1].matrix.get(0, 1)), ("j2", 0.0));
        assert!((gs[0].weight - 0.8).abs() < 1e-15);
        // Population: 0.8·0.75 + 0.2·0 = 0.6 = 3 wins of 5 votes.
        assert!((vm.game.matrix().get(0, 1) - 0.6).abs() < 1e-15);
    }

    #[test]
    fn sampled_votes_recover_the_matrix() {
        let p = PrefMatrix::from_upper(3, |i, j| [[0.0, 0.8, 0.3], [0.0, 0.0, 0.6]][i][j]).unwrap();
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let battles = sample_battles(&p, &names, 60_000, 1);
        let vm = matrix_from_battles(&battles, &VoteMatrixOptions::default()).unwrap();
        // 20,000 votes per pair: standard error ≤ 0.0035; five of them.
        for i in 0..3 {
            for j in 0..3 {
                assert!((vm.game.matrix().get(i, j) - p.get(i, j)).abs() < 0.018);
            }
        }
        let q = sample_matrix(&p, 20_000, 2).unwrap();
        assert!((q.get(0, 1) - 0.8).abs() < 0.018 && (q.get(1, 0) - 0.2).abs() < 0.018);
    }

    #[test]
    fn bad_votes_are_refused() {
        assert!(matrix_from_battles(&[], &VoteMatrixOptions::default()).is_err());
        let e = matrix_from_battles(
            &[
                Battle::new("a", "b", Winner::Tie),
                Battle::new("a", "a", Winner::Tie),
            ],
            &VoteMatrixOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("battle 2"), "{e}");
    }
}
