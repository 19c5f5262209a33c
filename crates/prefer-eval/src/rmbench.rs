//! RM-Bench's protocol (Liu et al., ICLR 2025; THU-KEG/RM-Bench `scripts/utils.py` at
//! 73c52d7): every prompt has a chosen and a rejected response in three styles,
//! [concise, detailed plain, detailed markdown], each scored by the reward model.
//!
//! The 3×3 matrix A[i][j] is the share of prompts where chosen style i outscores
//! rejected style j (strictly). Hard accuracy is the mean of the upper triangle: a
//! plainer chosen answer against a fancier rejected one. Normal is the diagonal. Easy is
//! the lower triangle. With `domain` fields (chat, math, code, safety; a domain is
//! matched by prefix), each domain gets the three accuracies and their mean. The overall
//! hard, normal and easy are the means over domains, and the total is the mean of the
//! domain means.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The styles, in RM-Bench's order.
pub const STYLES: [&str; 3] = ["concise", "detailed_plain", "detailed_markdown"];

/// The domains RM-Bench reports (matched by prefix).
pub const DOMAINS: [&str; 4] = ["chat", "math", "code", "safety"];

/// One prompt's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Its id.
    #[serde(default)]
    pub id: serde_json::Value,
    /// Its domain (`chat`, `math`, `code`, `safety...`), when the file has one.
    #[serde(default)]
    pub domain: Option<String>,
    /// Scores of the chosen responses, one per style.
    pub score_chosen: Vec<f64>,
    /// Scores of the rejected responses, one per style.
    pub score_rejected: Vec<f64>,
}

/// Hard, normal and easy accuracy, and the matrix behind them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Accuracy {
    /// A[i][j]: share of prompts with chosen style i above rejected style j.
    pub matrix: [[f64; 3]; 3],
    /// Mean of the upper triangle.
    pub hard: f64,
    /// Mean of the diagonal.
    pub normal: f64,
    /// Mean of the lower triangle.
    pub easy: f64,
    /// Prompts scored.
    pub items: usize,
}

/// The accuracies of a set of items.
///
/// # Errors
/// No items, or an item without three scores on each side (naming it).
pub fn accuracy(items: &[Item]) -> Result<Accuracy> {
    if items.is_empty() {
        return Err(Error::Invalid("no RM-Bench items to score".into()));
    }
    let mut m = [[0.0f64; 3]; 3];
    for it in items {
        if it.score_chosen.len() != 3 || it.score_rejected.len() != 3 {
            return Err(Error::Invalid(format!(
                "item {}: needs 3 chosen and 3 rejected scores ({:?}), got {} and {}",
                it.id,
                STYLES,
                it.score_chosen.len(),
                it.score_rejected.len()
            )));
        }
        for (i, row) in m.iter_mut().enumerate() {
            for (j, cell) in row.iter_mut().enumerate() {
                if it.score_chosen[i] > it.score_rejected[j] {
                    *cell += 1.0;
                }
            }
        }
    }
    let n = items.len() as f64;
    m.iter_mut().flatten().for_each(|c| *c /= n);
    Ok(Accuracy {
        hard: (m[0][1] + m[0][2] + m[1][2]) / 3.0,
        normal: (m[0][0] + m[1][1] + m[2][2]) / 3.0,
        easy: (m[1][0] + m[2][0] + m[2][1]) / 3.0,
        matrix: m,
        items: items.len(),
    })
}

/// The report over domains.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Per domain (or `all` when the items carry none).
    pub domains: BTreeMap<String, Accuracy>,
    /// Mean of hard, normal and easy, per domain.
    pub domain_means: BTreeMap<String, f64>,
    /// Mean over domains of the hard accuracy.
    pub hard: f64,
    /// Mean over domains of the normal accuracy.
    pub normal: f64,
    /// Mean over domains of the easy accuracy.
    pub easy: f64,
    /// Mean of the domain means.
    pub total: f64,
}

/// Scores items by domain as RM-Bench's `compute_accuracy` does. Domains without items
/// are left out (the reference script fails on them).
///
/// # Errors
/// As [`accuracy`]; a domain outside chat, math, code and safety.
pub fn report(items: &[Item]) -> Result<Report> {
    let mut groups: BTreeMap<String, Vec<Item>> = BTreeMap::new();
    for it in items {
        let key = match &it.domain {
            None => "all".to_string(),
            Some(d) => DOMAINS
                .iter()
                .find(|p| d.starts_with(**p))
                .map(|p| p.to_string())
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "item {}: domain `{d}` is not one of {DOMAINS:?}",
                        it.id
                    ))
                })?,
        };
        groups.entry(key).or_default().push(it.clone());
    }
    let mut domains = BTreeMap::new();
    for (k, v) in &groups {
        domains.insert(k.clone(), accuracy(v)?);
    }
    let domain_means: BTreeMap<String, f64> = domains
        .iter()
        .map(|(k, a)| (k.clone(), (a.hard + a.normal + a.easy) / 3.0))
        .collect();
    let d = domains.len() as f64;
    let avg = |f: fn(&Accuracy) -> f64| domains.values().map(f).sum::<f64>() / d;
    Ok(Report {
        hard: avg(|a| a.hard),
        normal: avg(|a| a.normal),
        easy: avg(|a| a.easy),
        total: domain_means.values().sum::<f64>() / d,
        domains,
        domain_means,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Against RM-Bench's own `compute_accuracy` (tests/fixtures/rmbench/, made by running
    /// THU-KEG/RM-Bench@73c52d7's function on the same scores).
    #[test]
    fn accuracies_match_rm_bench_compute_accuracy() {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/rmbench/scores.json");
        let fx: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let items: Vec<Item> = serde_json::from_value(fx["items"].clone()).unwrap();
        let r = report(&items).unwrap();
        let want = &fx["reference"];
        let close = |a: f64, k: &str| {
            assert!(
                (a - want[k].as_f64().unwrap()).abs() < 1e-12,
                "{k}: {a} vs {}",
                want[k]
            )
        };
        close(r.hard, "hard_acc");
        close(r.normal, "normal_acc");
        close(r.easy, "easy_acc");
        close(r.total, "total_avg_acc");
        for d in DOMAINS {
            close(r.domain_means[d], d);
        }
    }

    #[test]
    fn a_style_biased_model_is_easy_right_and_hard_wrong() {
        // Scores = style level + 0.5 for correctness: markdown beats everything plainer.
        let it = Item {
            id: 1.into(),
            domain: None,
            score_chosen: vec![0.5, 1.5, 2.5],
            score_rejected: vec![0.0, 1.0, 2.0],
        };
        let a = accuracy(&[it]).unwrap();
        assert_eq!((a.hard, a.normal, a.easy), (0.0, 1.0, 1.0));
        let bad = Item {
            id: 2.into(),
            domain: None,
            score_chosen: vec![1.0],
            score_rejected: vec![0.0; 3],
        };
        assert!(accuracy(&[bad]).unwrap_err().to_string().contains("item 2"));
    }
}
