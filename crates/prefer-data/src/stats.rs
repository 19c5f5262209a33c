//! Dataset statistics: counts, length distributions, tie rate, breakdowns by source and
//! annotator, and agreement between annotators who labelled the same item.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::record::{Record, Text, Winner};

/// Summary of a distribution of lengths.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// How many values.
    pub count: usize,
    /// Mean.
    pub mean: f64,
    /// Minimum.
    pub min: usize,
    /// Median.
    pub p50: usize,
    /// 90th percentile.
    pub p90: usize,
    /// 99th percentile.
    pub p99: usize,
    /// Maximum.
    pub max: usize,
}

impl Summary {
    /// Summarizes `values` (sorted in place). Percentiles are nearest-rank.
    pub fn of(values: &mut [usize]) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let n = values.len();
        let q = |p: f64| values[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
        Some(Summary {
            count: n,
            mean: values.iter().sum::<usize>() as f64 / n as f64,
            min: values[0],
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            max: values[n - 1],
        })
    }
}

/// Agreement between annotators on items labelled more than once.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Agreement {
    /// Items with two or more labels.
    pub items: usize,
    /// Fraction of annotator pairs (within an item) that gave the same label.
    pub pairwise: f64,
    /// Fleiss' kappa over the labels {first better, second better, tie}: agreement
    /// corrected for chance (1 perfect, 0 chance level).
    pub fleiss_kappa: f64,
}

/// The statistics of one file.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Stats {
    /// Records per shape.
    pub records: BTreeMap<String, usize>,
    /// Length distribution per field (characters, or tokens when a tokenizer is given).
    pub lengths: BTreeMap<String, Summary>,
    /// The unit of `lengths`.
    pub length_unit: String,
    /// Fraction of votes that are ties (battles, K-wise pairs, pairs with strength 0.5).
    pub tie_rate: Option<f64>,
    /// Records per `source`.
    pub by_source: BTreeMap<String, usize>,
    /// Records per annotator / judge.
    pub by_annotator: BTreeMap<String, usize>,
    /// Records per model (battles, K-wise votes, ratings).
    pub by_model: BTreeMap<String, usize>,
    /// Agreement between annotators, where several labelled the same item.
    pub agreement: Option<Agreement>,
    /// Conversational records (message lists) among text records.
    pub conversational: usize,
}

/// Accumulates [`Stats`] one record at a time.
pub struct StatsBuilder<'a> {
    stats: Stats,
    lengths: BTreeMap<&'static str, Vec<usize>>,
    len: Box<dyn Fn(&Text) -> usize + 'a>,
    votes: usize,
    ties: usize,
    /// item key -> labels (0 first better, 1 second better, 2 tie) in a canonical order.
    labels: HashMap<String, Vec<u8>>,
}

impl<'a> StatsBuilder<'a> {
    /// A builder measuring lengths with `len` (characters: [`Text::char_len`]) in `unit`.
    pub fn new(unit: &str, len: impl Fn(&Text) -> usize + 'a) -> Self {
        Self {
            stats: Stats {
                length_unit: unit.to_string(),
                ..Default::default()
            },
            lengths: BTreeMap::new(),
            len: Box::new(len),
            votes: 0,
            ties: 0,
            labels: HashMap::new(),
        }
    }

    /// A builder counting characters.
    pub fn chars() -> Self {
        Self::new("characters", Text::char_len)
    }

    fn length(&mut self, field: &'static str, t: &Text) {
        let n = (self.len)(t);
        self.lengths.entry(field).or_default().push(n);
        if t.is_chat() {
            self.stats.conversational += 1;
        }
    }

    fn opt_length(&mut self, field: &'static str, t: &Option<Text>) {
        if let Some(t) = t {
            self.length(field, t);
        }
    }

    fn label(&mut self, key: String, a: &str, b: &str, w: Winner) {
        // Canonical order of the two sides, so "x vs y" and "y vs x" are one item.
        let flipped = a > b;
        let l = match (w, flipped) {
            (Winner::Tie | Winner::TieBothBad, _) => 2,
            (Winner::ModelA, false) | (Winner::ModelB, true) => 0,
            _ => 1,
        };
        let (lo, hi) = if flipped { (b, a) } else { (a, b) };
        self.labels
            .entry(format!("{key}\u{0}{lo}\u{0}{hi}"))
            .or_default()
            .push(l);
    }

    /// Adds one record.
    pub fn add(&mut self, r: &Record) {
        *self
            .stats
            .records
            .entry(r.shape().name().to_string())
            .or_default() += 1;
        let ann = r.annotations();
        if let Some(s) = &ann.source {
            *self.stats.by_source.entry(s.clone()).or_default() += 1;
        }
        let annotator = match r {
            Record::Battle(b) => b.judge.clone().or_else(|| ann.user_id.clone()),
            Record::Kwise(k) => k.judge.clone().or_else(|| ann.user_id.clone()),
            _ => ann.user_id.clone(),
        };
        if let Some(a) = &annotator {
            *self.stats.by_annotator.entry(a.clone()).or_default() += 1;
        }
        match r {
            Record::Pair(p) => {
                self.opt_length("prompt", &p.prompt);
                self.length("chosen", &p.chosen);
                self.length("rejected", &p.rejected);
                self.votes += 1;
                let tie = p.ann.strength == Some(0.5);
                if tie {
                    self.ties += 1;
                }
                if let (Some(id), Some(_)) = (&p.ann.id, &annotator) {
                    let (c, j) = (p.chosen.flat(), p.rejected.flat());
                    let w = if tie { Winner::Tie } else { Winner::ModelA };
                    self.label(id.clone(), &c, &j, w);
                }
            }
            Record::Unpaired(u) => {
                self.opt_length("prompt", &u.prompt);
                self.length("completion", &u.completion);
            }
            Record::Ranking(k) => {
                self.opt_length("prompt", &k.prompt);
                for t in &k.responses {
                    self.length("response", t);
                }
                let ranks = k.effective_ranks();
                for i in 0..ranks.len() {
                    for j in i + 1..ranks.len() {
                        self.votes += 1;
                        if ranks[i] == ranks[j] {
                            self.ties += 1;
                        }
                    }
                }
            }
            Record::Rating(x) => {
                self.opt_length("prompt", &x.prompt);
                self.length("response", &x.response);
                if let Some(m) = &x.model {
                    *self.stats.by_model.entry(m.clone()).or_default() += 1;
                }
            }
            Record::Stepwise(s) => {
                self.length("prompt", &s.prompt);
                for c in &s.completions {
                    let t = Text::Plain(c.clone());
                    self.length("step", &t);
                }
            }
            Record::Battle(b) => {
                self.votes += 1;
                if b.winner.is_tie() {
                    self.ties += 1;
                }
                for m in [&b.model_a, &b.model_b] {
                    *self.stats.by_model.entry(m.clone()).or_default() += 1;
                }
                if let (Some(id), Some(_)) = (&b.ann.id, &annotator) {
                    self.label(id.clone(), &b.model_a, &b.model_b, b.winner);
                }
            }
            Record::Kwise(k) => {
                self.opt_length("prompt", &k.prompt);
                for m in &k.models {
                    *self.stats.by_model.entry(m.clone()).or_default() += 1;
                }
                for i in 0..k.ranking.len() {
                    for j in i + 1..k.ranking.len() {
                        self.votes += 1;
                        if k.ranking[i] == k.ranking[j] {
                            self.ties += 1;
                        }
                    }
                }
            }
        }
    }

    /// The statistics.
    pub fn finish(mut self) -> Stats {
        for (field, mut v) in std::mem::take(&mut self.lengths) {
            if let Some(s) = Summary::of(&mut v) {
                self.stats.lengths.insert(field.to_string(), s);
            }
        }
        if self.votes > 0 {
            self.stats.tie_rate = Some(self.ties as f64 / self.votes as f64);
        }
        self.stats.agreement = agreement(self.labels.values());
        self.stats
    }
}

/// Pairwise agreement and Fleiss' kappa over items with two or more labels in
/// {0, 1, 2}. Items with different numbers of raters are allowed (each item's
/// agreement uses its own count, as in Fleiss 1971 generalized).
pub fn agreement<'a>(items: impl Iterator<Item = &'a Vec<u8>>) -> Option<Agreement> {
    let mut n_items = 0usize;
    let (mut agree_pairs, mut all_pairs) = (0f64, 0f64);
    let mut p_bar = 0f64;
    let mut totals = [0f64; 3];
    let mut total_labels = 0f64;
    for labels in items {
        let n = labels.len();
        if n < 2 {
            continue;
        }
        n_items += 1;
        let mut c = [0f64; 3];
        for &l in labels {
            c[usize::from(l.min(2))] += 1.0;
        }
        let nf = n as f64;
        let agree: f64 = c.iter().map(|x| x * (x - 1.0)).sum::<f64>() / 2.0;
        agree_pairs += agree;
        all_pairs += nf * (nf - 1.0) / 2.0;
        p_bar += agree / (nf * (nf - 1.0) / 2.0);
        for k in 0..3 {
            totals[k] += c[k];
        }
        total_labels += nf;
    }
    if n_items == 0 {
        return None;
    }
    let p_bar = p_bar / n_items as f64;
    let p_e: f64 = totals.iter().map(|t| (t / total_labels).powi(2)).sum();
    let kappa = if (1.0 - p_e).abs() < 1e-12 {
        1.0
    } else {
        (p_bar - p_e) / (1.0 - p_e)
    };
    Some(Agreement {
        items: n_items,
        pairwise: agree_pairs / all_pairs,
        fleiss_kappa: kappa,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<usize> = (1..=100).collect();
        let s = Summary::of(&mut v).unwrap();
        assert_eq!((s.min, s.p50, s.p90, s.p99, s.max), (1, 50, 90, 99, 100));
        assert_eq!(s.mean, 50.5);
    }

    #[test]
    fn fleiss_kappa_by_hand() {
        // Fleiss' kappa on a small table computed by hand (Fleiss 1971, eqs. 2-9):
        // items: [0,0,0], [1,1,0], [2,2,2], [0,1,2]
        // P_i: 1, 1/3, 1, 0 -> P_bar = 7/12
        // p_j: label 0: 5/12, 1: 3/12, 2: 4/12 -> P_e = (25+9+16)/144 = 50/144
        // kappa = (7/12 - 50/144) / (1 - 50/144) = (84-50)/(144-50) = 34/94
        let items = [vec![0u8, 0, 0], vec![1, 1, 0], vec![2, 2, 2], vec![0, 1, 2]];
        let a = agreement(items.iter()).unwrap();
        assert!((a.fleiss_kappa - 34.0 / 94.0).abs() < 1e-12, "{a:?}");
        assert!((a.pairwise - 7.0 / 12.0).abs() < 1e-12);
    }
}
