//! Accuracy by group: by `source` annotation, and by length (length bias).
//!
//! Length bias: reward models are known to prefer longer answers. For each pair the
//! relative length difference is δ = (|y_w| − |y_l|)/max(|y_w|, |y_l|) (characters); pairs
//! fall in three buckets, chosen **longer** (δ > t), **similar** (|δ| ≤ t) and chosen
//! **shorter** (δ < −t), t = 10% by default. A length-biased model is accurate when chosen
//! is longer and poor when it is shorter; `bias` = acc(longer) − acc(shorter). Also
//! reported: how often the model prefers the longer response vs how often the labels do.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::pairwise::{ScoredPair, Ties};
use crate::{Error, Result};

/// Accuracy of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Pairs.
    pub n: usize,
    /// Accuracy (NaN when empty).
    pub accuracy: f64,
}

fn group(name: &str, pairs: &[&ScoredPair], ties: Ties) -> Group {
    let n = pairs.len();
    Group {
        name: name.into(),
        n,
        accuracy: if n == 0 {
            f64::NAN
        } else {
            pairs.iter().map(|p| p.correct(ties)).sum::<f64>() / n as f64
        },
    }
}

/// Accuracy per `source` (pairs without one are grouped as `(none)`).
pub fn by_source(pairs: &[ScoredPair], ties: Ties) -> Vec<Group> {
    let mut m: BTreeMap<String, Vec<&ScoredPair>> = BTreeMap::new();
    for p in pairs {
        m.entry(p.source.clone().unwrap_or_else(|| "(none)".into()))
            .or_default()
            .push(p);
    }
    m.iter().map(|(k, v)| group(k, v, ties)).collect()
}

/// The length analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LengthBias {
    /// Threshold t on the relative difference.
    pub threshold: f64,
    /// Chosen longer / similar / shorter.
    pub buckets: Vec<Group>,
    /// acc(longer) − acc(shorter) (NaN if a bucket is empty).
    pub bias: f64,
    /// Share of pairs (with different lengths) where the model prefers the longer response.
    pub model_prefers_longer: f64,
    /// Share of those pairs where the label prefers the longer response.
    pub labels_prefer_longer: f64,
    /// Accuracy by quartile of the pair's mean length (shortest first).
    pub by_length_quartile: Vec<Group>,
}

/// Length breakdown with threshold `t` (0.1 is usual).
pub fn length_bias(pairs: &[ScoredPair], t: f64, ties: Ties) -> Result<LengthBias> {
    if pairs.is_empty() {
        return Err(Error::Invalid("no pairs to evaluate".into()));
    }
    if !(0.0..1.0).contains(&t) {
        return Err(Error::Config(format!(
            "length threshold {t} must be in [0, 1)"
        )));
    }
    let delta = |p: &ScoredPair| {
        let (c, r) = (p.chosen_len as f64, p.rejected_len as f64);
        if c.max(r) == 0.0 {
            0.0
        } else {
            (c - r) / c.max(r)
        }
    };
    let (mut lo, mut mid, mut hi) = (Vec::new(), Vec::new(), Vec::new());
    let (mut differ, mut model_longer, mut label_longer) = (0f64, 0f64, 0f64);
    for p in pairs {
        let d = delta(p);
        if d > t {
            hi.push(p);
        } else if d < -t {
            lo.push(p);
        } else {
            mid.push(p);
        }
        if p.chosen_len != p.rejected_len {
            differ += 1.0;
            let chosen_longer = p.chosen_len > p.rejected_len;
            label_longer += f64::from(u8::from(chosen_longer));
            // The model prefers chosen when logit > 0.
            let prefers_chosen = p.logit > 0.0;
            model_longer += f64::from(u8::from(prefers_chosen == chosen_longer && p.logit != 0.0));
        }
    }
    let buckets = vec![
        group("chosen longer", &hi, ties),
        group("similar length", &mid, ties),
        group("chosen shorter", &lo, ties),
    ];
    let bias = buckets[0].accuracy - buckets[2].accuracy;
    let mut order: Vec<&ScoredPair> = pairs.iter().collect();
    order.sort_by_key(|p| p.chosen_len + p.rejected_len);
    let q = order.len();
    let by_length_quartile = (0..4)
        .map(|k| {
            let part = &order[k * q / 4..(k + 1) * q / 4];
            group(&format!("length quartile {}", k + 1), part, ties)
        })
        .collect();
    Ok(LengthBias {
        threshold: t,
        buckets,
        bias,
        model_prefers_longer: if differ > 0.0 {
            model_longer / differ
        } else {
            f64::NAN
        },
        labels_prefer_longer: if differ > 0.0 {
            label_longer / differ
        } else {
            f64::NAN
        },
        by_length_quartile,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(logit: f64, c: usize, r: usize, src: &str) -> ScoredPair {
        ScoredPair {
            chosen_len: c,
            rejected_len: r,
            source: Some(src.into()),
            ..ScoredPair::new(logit)
        }
    }

    #[test]
    fn a_length_loving_model_shows_its_bias() -> Result<()> {
        // The "model" prefers whichever is longer: right when chosen is longer, wrong when
        // it is shorter.
        let pairs: Vec<ScoredPair> = [(200, 100), (300, 120), (100, 200), (90, 300), (100, 101)]
            .iter()
            .map(|&(c, r)| {
                p(
                    if c > r { 1.0 } else { -1.0 },
                    c,
                    r,
                    if c > 150 { "a" } else { "b" },
                )
            })
            .collect();
        let lb = length_bias(&pairs, 0.1, Ties::Half)?;
        assert_eq!(lb.buckets[0].accuracy, 1.0);
        assert_eq!(lb.buckets[2].accuracy, 0.0);
        assert_eq!(lb.bias, 1.0);
        assert_eq!(lb.model_prefers_longer, 1.0);
        assert_eq!(lb.labels_prefer_longer, 0.4);
        let src = by_source(&pairs, Ties::Half);
        assert_eq!(
            src.iter()
                .map(|g| (g.name.as_str(), g.n))
                .collect::<Vec<_>>(),
            vec![("a", 2), ("b", 3)]
        );
        assert!(length_bias(&[], 0.1, Ties::Half).is_err());
        Ok(())
    }
}
