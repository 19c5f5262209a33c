//! Votes between items, indexed, and aggregated into pair counts.
//!
//! A leaderboard fit never needs one row per vote: every vote between the same two items
//! with the same outcome contributes the same term to the likelihood. [`PairCounts`] holds
//! one cell per (pair, outcome) and every batch estimator works on it, so a million votes
//! among a hundred models become a few thousand cells.

use std::collections::{BTreeMap, HashMap};

use prefer_data::{Battle, KWise, Winner};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The outcome of one vote, from the first item's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// The first item won.
    Win,
    /// The second item won.
    Loss,
    /// A tie.
    Tie,
}

impl Outcome {
    /// The first item's score: 1, 0 or 0.5.
    pub fn score(self) -> f64 {
        match self {
            Outcome::Win => 1.0,
            Outcome::Loss => 0.0,
            Outcome::Tie => 0.5,
        }
    }

    /// The outcome seen from the other side.
    pub fn flip(self) -> Outcome {
        match self {
            Outcome::Win => Outcome::Loss,
            Outcome::Loss => Outcome::Win,
            Outcome::Tie => Outcome::Tie,
        }
    }
}

impl From<Winner> for Outcome {
    fn from(w: Winner) -> Self {
        match w {
            Winner::ModelA => Outcome::Win,
            Winner::ModelB => Outcome::Loss,
            Winner::Tie | Winner::TieBothBad => Outcome::Tie,
        }
    }
}

/// One pairwise vote between items `a` and `b` (indices into [`Votes::items`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vote {
    /// First item.
    pub a: u32,
    /// Second item.
    pub b: u32,
    /// Outcome from `a`'s side.
    pub outcome: Outcome,
}

/// Items and the votes between them, in time order.
#[derive(Debug, Clone, Default)]
pub struct Votes {
    /// Item names, in order of first appearance.
    pub items: Vec<String>,
    index: HashMap<String, u32>,
    /// The votes.
    pub votes: Vec<Vote>,
}

impl Votes {
    /// No items, no votes.
    pub fn new() -> Self {
        Self::default()
    }

    /// The index of `name`, adding it when new.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.items.len() as u32;
        self.items.push(name.to_string());
        self.index.insert(name.to_string(), i);
        i
    }

    /// The index of `name`, if it has appeared.
    pub fn get(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }

    /// Adds a vote by names.
    ///
    /// # Errors
    /// An item voting against itself.
    pub fn push(&mut self, a: &str, b: &str, outcome: Outcome) -> Result<()> {
        if a == b {
            return Err(Error::Invalid(format!(
                "\"{a}\" cannot be compared with itself"
            )));
        }
        let (a, b) = (self.intern(a), self.intern(b));
        self.votes.push(Vote { a, b, outcome });
        Ok(())
    }

    /// Adds a Chatbot Arena battle.
    ///
    /// # Errors
    /// A model voting against itself.
    pub fn push_battle(&mut self, b: &Battle) -> Result<()> {
        self.push(&b.model_a, &b.model_b, b.winner.into())
    }

    /// Adds a K-wise vote as its K(K-1)/2 pairwise outcomes (equal ranks tie).
    ///
    /// # Errors
    /// A model shown twice.
    pub fn push_kwise(&mut self, k: &KWise) -> Result<()> {
        for i in 0..k.models.len() {
            for j in i + 1..k.models.len() {
                let o = match k.ranking[i].cmp(&k.ranking[j]) {
                    std::cmp::Ordering::Less => Outcome::Win,
                    std::cmp::Ordering::Greater => Outcome::Loss,
                    std::cmp::Ordering::Equal => Outcome::Tie,
                };
                self.push(&k.models[i], &k.models[j], o)?;
            }
        }
        Ok(())
    }

    /// Votes from battles.
    ///
    /// # Errors
    /// A model voting against itself.
    pub fn from_battles<'a>(battles: impl IntoIterator<Item = &'a Battle>) -> Result<Votes> {
        let mut v = Votes::new();
        for b in battles {
            v.push_battle(b)?;
        }
        Ok(v)
    }

    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    /// Votes each item took part in.
    pub fn counts(&self) -> Vec<u64> {
        let mut c = vec![0u64; self.items.len()];
        for v in &self.votes {
            c[v.a as usize] += 1;
            c[v.b as usize] += 1;
        }
        c
    }

    /// Aggregates into pair counts.
    pub fn pair_counts(&self) -> PairCounts {
        PairCounts::from_votes(self.items.len(), self.votes.iter().copied())
    }
}

/// Counts of outcomes between two items `i < j`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct PairCell {
    /// The lower index.
    pub i: u32,
    /// The higher index.
    pub j: u32,
    /// Wins of `i` over `j`.
    pub wins_i: f64,
    /// Wins of `j` over `i`.
    pub wins_j: f64,
    /// Ties.
    pub ties: f64,
}

impl PairCell {
    /// All votes of the pair.
    pub fn total(&self) -> f64 {
        self.wins_i + self.wins_j + self.ties
    }
}

/// Votes aggregated per unordered pair: the sufficient statistics of every pairwise
/// model here (Bradley-Terry with any tie model, Thurstone). Counts are `f64` so that
/// bootstrap resamples and weights fit the same type.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PairCounts {
    /// Number of items.
    pub n: usize,
    /// One cell per pair that met, ordered by (i, j).
    pub cells: Vec<PairCell>,
}

impl PairCounts {
    /// Aggregates votes among `n` items.
    pub fn from_votes(n: usize, votes: impl Iterator<Item = Vote>) -> PairCounts {
        let mut map: HashMap<(u32, u32), PairCell> = HashMap::new();
        for v in votes {
            let (i, j, o) = if v.a < v.b {
                (v.a, v.b, v.outcome)
            } else {
                (v.b, v.a, v.outcome.flip())
            };
            let c = map.entry((i, j)).or_insert(PairCell {
                i,
                j,
                ..Default::default()
            });
            match o {
                Outcome::Win => c.wins_i += 1.0,
                Outcome::Loss => c.wins_j += 1.0,
                Outcome::Tie => c.ties += 1.0,
            }
        }
        let mut cells: Vec<PairCell> = map.into_values().collect();
        cells.sort_by_key(|c| (c.i, c.j));
        PairCounts { n, cells }
    }

    /// Total votes.
    pub fn total(&self) -> f64 {
        self.cells.iter().map(PairCell::total).sum()
    }

    /// Votes per item.
    pub fn votes_per_item(&self) -> Vec<f64> {
        let mut v = vec![0.0; self.n];
        for c in &self.cells {
            v[c.i as usize] += c.total();
            v[c.j as usize] += c.total();
        }
        v
    }

    /// The connected components of the comparison graph (items linked when they met),
    /// largest first; items are indices.
    pub fn components(&self) -> Vec<Vec<usize>> {
        let mut parent: Vec<usize> = (0..self.n).collect();
        fn find(p: &mut [usize], mut x: usize) -> usize {
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        for c in &self.cells {
            if c.total() > 0.0 {
                let (a, b) = (
                    find(&mut parent, c.i as usize),
                    find(&mut parent, c.j as usize),
                );
                if a != b {
                    parent[a] = b;
                }
            }
        }
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for x in 0..self.n {
            let r = find(&mut parent, x);
            groups.entry(r).or_default().push(x);
        }
        let mut out: Vec<Vec<usize>> = groups.into_values().collect();
        out.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
        out
    }

    /// Items whose ratings are not finite under Bradley-Terry without a prior: an item
    /// that won every vote (its strength goes to infinity) or lost every vote. Ties count
    /// as half a win each way, so an item with a tie is bounded.
    pub fn unbounded_items(&self) -> Vec<usize> {
        let mut won = vec![0.0; self.n];
        let mut lost = vec![0.0; self.n];
        for c in &self.cells {
            won[c.i as usize] += c.wins_i + 0.5 * c.ties;
            lost[c.i as usize] += c.wins_j + 0.5 * c.ties;
            won[c.j as usize] += c.wins_j + 0.5 * c.ties;
            lost[c.j as usize] += c.wins_i + 0.5 * c.ties;
        }
        (0..self.n)
            .filter(|&x| (won[x] + lost[x]) > 0.0 && (won[x] == 0.0 || lost[x] == 0.0))
            .collect()
    }
}

/// Checks that `counts` can be fitted: at least two items, every item voted, one
/// connected comparison graph. The error names the items and components.
///
/// # Errors
/// No votes, items without votes, or a disconnected graph.
pub fn check_identifiable(counts: &PairCounts, names: &[String]) -> Result<()> {
    if counts.total() == 0.0 {
        return Err(Error::Invalid("no votes".into()));
    }
    let per = counts.votes_per_item();
    let idle: Vec<&str> = (0..counts.n)
        .filter(|&i| per[i] == 0.0)
        .map(|i| names[i].as_str())
        .collect();
    if !idle.is_empty() {
        return Err(Error::Invalid(format!(
            "{} item(s) have no votes: {}",
            idle.len(),
            idle.join(", ")
        )));
    }
    let comps = counts.components();
    if comps.len() > 1 {
        let desc: Vec<String> = comps
            .iter()
            .take(5)
            .map(|c| {
                let shown: Vec<&str> = c.iter().take(6).map(|&i| names[i].as_str()).collect();
                let more = if c.len() > 6 {
                    format!(", ... ({} in all)", c.len())
                } else {
                    String::new()
                };
                format!("{{{}{more}}}", shown.join(", "))
            })
            .collect();
        return Err(Error::Invalid(format!(
            "the comparison graph has {} disconnected components, so ratings are not \
             comparable across them (Bradley-Terry is not identifiable): {}{}; fit each \
             component separately or add votes between them",
            comps.len(),
            desc.join(" "),
            if comps.len() > 5 { " ..." } else { "" }
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregation_orients_pairs() {
        let mut v = Votes::new();
        v.push("b", "a", Outcome::Win).unwrap();
        v.push("a", "b", Outcome::Tie).unwrap();
        v.push("a", "b", Outcome::Win).unwrap();
        assert!(v.push("a", "a", Outcome::Win).is_err());
        let c = v.pair_counts();
        assert_eq!(c.cells.len(), 1);
        // b is index 0, a index 1: b won once, a won once, one tie.
        assert_eq!(
            c.cells[0],
            PairCell {
                i: 0,
                j: 1,
                wins_i: 1.0,
                wins_j: 1.0,
                ties: 1.0
            }
        );
    }

    #[test]
    fn components_and_messages() {
        let mut v = Votes::new();
        v.push("a", "b", Outcome::Win).unwrap();
        v.push("c", "d", Outcome::Win).unwrap();
        v.push("d", "e", Outcome::Tie).unwrap();
        let c = v.pair_counts();
        let comps = c.components();
        assert_eq!(comps, vec![vec![2, 3, 4], vec![0, 1]]);
        let e = check_identifiable(&c, &v.items).unwrap_err().to_string();
        assert!(
            e.contains("2 disconnected components") && e.contains("{c, d, e}"),
            "{e}"
        );
        assert_eq!(c.unbounded_items(), vec![0, 1, 2]);
    }
}
