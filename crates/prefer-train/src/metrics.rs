//! The metrics log: one JSON object per line, TRL's names (`loss`, `rewards/chosen`,
//! `rewards/rejected`, `rewards/accuracies`, `rewards/margins`, `logps/chosen`,
//! `logps/rejected`, `logits/chosen`, `logits/rejected`, `grad_norm`, `learning_rate`,
//! `epoch`, `step`); evaluation lines carry the same names prefixed `eval_`.
//!
//! Lines hold no wall-clock times, so two runs with the same seed write identical files
//! and a resumed run's file equals an uninterrupted one's byte for byte.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::io_err;
use crate::{Error, Result};

/// One line: names and values in insertion order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics(pub Vec<(String, f64)>);

impl Metrics {
    /// Appends `name = value`.
    pub fn push(&mut self, name: &str, value: f64) {
        self.0.push((name.to_string(), value));
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// The first non-finite entry.
    pub fn first_non_finite(&self) -> Option<(&str, f64)> {
        self.0
            .iter()
            .find(|(_, v)| !v.is_finite())
            .map(|(n, v)| (n.as_str(), *v))
    }

    /// The same names with a prefix (`eval_`), `step` and `epoch` left alone.
    pub fn prefixed(&self, prefix: &str) -> Metrics {
        Metrics(
            self.0
                .iter()
                .map(|(n, v)| {
                    if n == "step" || n == "epoch" {
                        (n.clone(), *v)
                    } else {
                        (format!("{prefix}{n}"), *v)
                    }
                })
                .collect(),
        )
    }

    /// As a JSON object (`step` as an integer).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for (n, v) in &self.0 {
            let val = if n == "step" && v.fract() == 0.0 && *v >= 0.0 {
                Value::from(*v as u64)
            } else {
                serde_json::Number::from_f64(*v).map_or(Value::Null, Value::Number)
            };
            m.insert(n.clone(), val);
        }
        Value::Object(m)
    }
}

/// Weighted running means of named quantities (over the micro-batches of one step, or
/// over an evaluation set).
#[derive(Debug, Clone, Default)]
pub struct Averager {
    sums: Vec<(String, f64, f64)>,
}

impl Averager {
    /// Adds `value` with weight `w` under `name`.
    pub fn add(&mut self, name: &str, value: f64, w: f64) {
        match self.sums.iter_mut().find(|(n, _, _)| n == name) {
            Some(e) => {
                e.1 += value * w;
                e.2 += w;
            }
            None => self.sums.push((name.to_string(), value * w, w)),
        }
    }

    /// The means, in first-added order.
    pub fn means(&self) -> Metrics {
        Metrics(
            self.sums
                .iter()
                .map(|(n, s, w)| (n.clone(), if *w > 0.0 { s / w } else { 0.0 }))
                .collect(),
        )
    }
}

/// An append-only JSONL metrics file.
#[derive(Debug)]
pub struct MetricsLog {
    path: PathBuf,
    file: std::fs::File,
}

impl MetricsLog {
    /// Opens (creates) `path` for appending.
    pub fn append(path: &Path) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io_err(path))?;
        Ok(MetricsLog {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Starts `path` afresh (an existing file is replaced).
    pub fn create(path: &Path) -> Result<Self> {
        std::fs::write(path, b"").map_err(io_err(path))?;
        Self::append(path)
    }

    /// Keeps only the lines whose `step` is at most `step` (a resumed run drops what an
    /// interrupted one wrote after its last checkpoint), rewriting the file atomically.
    pub fn truncate_after(path: &Path, step: u64) -> Result<()> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err(path)(e)),
        };
        let mut keep = String::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = match serde_json::from_str(line) {
                Ok(v) => v,
                // A line cut by the kill: drop it and everything after.
                Err(_) if i + 1 == text.lines().count() => break,
                Err(e) => {
                    return Err(Error::Resume(format!("{}:{}: {e}", path.display(), i + 1)));
                }
            };
            let s = v.get("step").and_then(Value::as_u64).unwrap_or(0);
            if s <= step {
                keep.push_str(line);
                keep.push('\n');
            }
        }
        prefer_data::write_atomic(path, keep.as_bytes())?;
        Ok(())
    }

    /// Writes one line and flushes it.
    pub fn write(&mut self, m: &Metrics) -> Result<()> {
        let line = serde_json::to_string(&m.to_json())
            .map_err(|e| Error::Config(format!("metrics: {e}")))?;
        writeln!(self.file, "{line}").map_err(io_err(&self.path))?;
        self.file.flush().map_err(io_err(&self.path))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads a metrics JSONL file into (step, line) rows, for plots.
pub fn read_metrics(path: &Path) -> Result<Vec<Map<String, Value>>> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| Error::Record(format!("{}:{}: {e}", path.display(), i + 1)))?;
        match v {
            Value::Object(m) => rows.push(m),
            _ => {
                return Err(Error::Record(format!(
                    "{}:{}: not a JSON object",
                    path.display(),
                    i + 1
                )));
            }
        }
    }
    Ok(rows)
}

/// How a gold reward moved against the proxy the run trained on (the overoptimization of
/// Gao et al. 2023), from the `reward` and `gold` columns of a metrics file, each smoothed
/// by a trailing mean over `window` steps.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldDivergence {
    /// The step where the smoothed gold peaked.
    pub peak_step: f64,
    /// The smoothed gold at its peak, and at the start and the end of the run.
    pub peak_gold: f64,
    /// The smoothed gold of the first `window` steps.
    pub first_gold: f64,
    /// The smoothed gold of the last `window` steps.
    pub last_gold: f64,
    /// The smoothed proxy at the gold's peak and at the end.
    pub proxy_at_peak: f64,
    /// The smoothed proxy of the last `window` steps.
    pub last_proxy: f64,
}

impl GoldDivergence {
    /// Whether the gold has given back more than a quarter of its rise while the proxy
    /// kept rising: the proxy is being overoptimized.
    pub fn diverged(&self) -> bool {
        let rise = self.peak_gold - self.first_gold;
        rise > 0.0
            && self.peak_gold - self.last_gold > 0.25 * rise
            && self.last_proxy > self.proxy_at_peak
    }
}

/// The [`GoldDivergence`] of metrics rows (`None` without `gold` values or with fewer
/// than `2 × window` of them).
pub fn gold_divergence(rows: &[Map<String, Value>], window: usize) -> Option<GoldDivergence> {
    let pts: Vec<(f64, f64, f64)> = rows
        .iter()
        .filter_map(|r| {
            Some((
                r.get("step")?.as_f64()?,
                r.get("reward")?.as_f64()?,
                r.get("gold")?.as_f64()?,
            ))
        })
        .collect();
    let w = window.max(1);
    if pts.len() < 2 * w {
        return None;
    }
    let smooth = |f: &dyn Fn(&(f64, f64, f64)) -> f64, end: usize| {
        pts[end + 1 - w..=end].iter().map(f).sum::<f64>() / w as f64
    };
    let gold = |end| smooth(&|p| p.2, end);
    let proxy = |end| smooth(&|p| p.1, end);
    let peak = (w - 1..pts.len()).max_by(|&a, &b| gold(a).total_cmp(&gold(b)))?;
    let last = pts.len() - 1;
    Some(GoldDivergence {
        peak_step: pts[peak].0,
        peak_gold: gold(peak),
        first_gold: gold(w - 1),
        last_gold: gold(last),
        proxy_at_peak: proxy(peak),
        last_proxy: proxy(last),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is the test's verdict
mod gold_tests {
    use super::*;

    fn rows(v: &[(f64, f64)]) -> Vec<Map<String, Value>> {
        v.iter()
            .enumerate()
            .map(|(i, (r, g))| {
                let mut m = Map::new();
                m.insert("step".into(), (i as f64 + 1.0).into());
                m.insert("reward".into(), (*r).into());
                m.insert("gold".into(), (*g).into());
                m
            })
            .collect()
    }

    #[test]
    fn a_gold_that_peaks_while_the_proxy_rises_is_flagged() {
        // Proxy 0..9 rising; gold rises to 4 at step 5, falls back to 1.
        let up: Vec<(f64, f64)> = (0..10)
            .map(|i| {
                (
                    i as f64,
                    [0.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0, 1.0, 1.0, 1.0][i],
                )
            })
            .collect();
        let d = gold_divergence(&rows(&up), 1).unwrap();
        assert_eq!(
            (d.peak_step, d.peak_gold, d.first_gold, d.last_gold),
            (5.0, 4.0, 0.0, 1.0)
        );
        assert!(d.diverged());
        // Smoothed over 2 steps: the peak is the mean of steps 4 and 5.
        let d2 = gold_divergence(&rows(&up), 2).unwrap();
        assert_eq!(d2.peak_gold, 3.5);
        // A gold that tracks the proxy is not.
        let both: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, i as f64)).collect();
        assert!(!gold_divergence(&rows(&both), 2).unwrap().diverged());
        assert!(gold_divergence(&rows(&both[..3]), 2).is_none());
    }
}
