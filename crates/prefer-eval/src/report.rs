//! The evaluation report of a scored pair file: accuracy, RewardBench sections when the
//! pairs have subsets, calibration, per-source and per-length breakdowns; rendered as a
//! terminal table, JSON, and plots (PNG or SVG by extension).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::breakdown::{Group, LengthBias, by_source, length_bias};
use crate::calibration::{Calibration, calibration, reliability_plot};
use crate::pairwise::{ScoredPair, SectionReport, Sections, Ties, accuracy, section_scores};

/// Options of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// Tie rule of the headline accuracy (default half).
    pub ties: Ties,
    /// Sections for pairs with subsets (default RewardBench's; ties count as wrong there).
    pub sections: Option<Sections>,
    /// Calibration bins (default 10).
    pub bins: usize,
    /// Relative length difference of the length buckets (default 0.1).
    pub length_threshold: f64,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            ties: Ties::Half,
            sections: None,
            bins: 10,
            length_threshold: 0.1,
        }
    }
}

/// Everything measured on one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// What was evaluated (model and file).
    pub name: String,
    /// Pairs.
    pub n: usize,
    /// Pairwise accuracy.
    pub accuracy: f64,
    /// 95% Wilson score interval of the accuracy (pairs as independent trials).
    pub accuracy_ci: (f64, f64),
    /// RewardBench-style sections (when every pair has a subset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sections: Option<SectionReport>,
    /// Calibration of σ(logit).
    pub calibration: Calibration,
    /// Accuracy by source.
    pub by_source: Vec<Group>,
    /// Length breakdown.
    pub length: LengthBias,
}

/// Evaluates scored pairs.
pub fn evaluate(name: &str, pairs: &[ScoredPair], cfg: &EvalConfig) -> Result<Report> {
    let acc = accuracy(pairs, cfg.ties)?;
    let sections = if pairs.iter().all(|p| p.subset.is_some()) {
        let s = cfg.sections.clone().unwrap_or_else(Sections::rewardbench);
        Some(section_scores(pairs, &s, Ties::Wrong)?)
    } else {
        None
    };
    Ok(Report {
        name: name.into(),
        n: pairs.len(),
        accuracy: acc,
        accuracy_ci: wilson(acc, pairs.len(), 1.959_963_984_540_054),
        sections,
        calibration: calibration(pairs, cfg.bins)?,
        by_source: by_source(pairs, cfg.ties),
        length: length_bias(pairs, cfg.length_threshold, cfg.ties)?,
    })
}

/// The Wilson score interval of a proportion `p` of `n` trials at normal quantile `z`.
pub fn wilson(p: f64, n: usize, z: f64) -> (f64, f64) {
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let n = n as f64;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    (centre - half, centre + half)
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}%", 100.0 * x)
    } else {
        "—".into()
    }
}

impl Report {
    /// A plain-text table for the terminal.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let mut line = |a: &str, b: String| s.push_str(&format!("  {a:<34} {b}\n"));
        line("evaluated", self.name.clone());
        line("pairs", self.n.to_string());
        line(
            "pairwise accuracy",
            format!(
                "{} (95% CI {} to {})",
                pct(self.accuracy),
                pct(self.accuracy_ci.0),
                pct(self.accuracy_ci.1)
            ),
        );
        line(
            "expected calibration error",
            format!("{:.3}", self.calibration.ece),
        );
        line("log-loss (nats)", format!("{:.3}", self.calibration.nll));
        if let Some(sec) = &self.sections {
            for x in &sec.sections {
                line(
                    &format!("section {}", x.section),
                    format!(
                        "{:.1} ({}/{} subsets)",
                        x.score, x.subsets_present, x.subsets_defined
                    ),
                );
            }
            line("RewardBench score", format!("{:.1}", sec.score));
            for x in &sec.subsets {
                line(
                    &format!("  subset {}", x.subset),
                    format!("{} (n = {})", pct(x.accuracy), x.n),
                );
            }
        }
        for g in &self.by_source {
            line(
                &format!("source {}", g.name),
                format!("{} (n = {})", pct(g.accuracy), g.n),
            );
        }
        for g in &self.length.buckets {
            line(&g.name, format!("{} (n = {})", pct(g.accuracy), g.n));
        }
        line(
            "length bias acc(longer) - acc(shorter)",
            if self.length.bias.is_finite() {
                format!("{:+.1} points", 100.0 * self.length.bias)
            } else {
                "—".into()
            },
        );
        line(
            "model prefers the longer response",
            pct(self.length.model_prefers_longer),
        );
        line(
            "labels prefer the longer response",
            pct(self.length.labels_prefer_longer),
        );
        s
    }

    /// Writes the report as pretty JSON (atomically).
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let text =
            serde_json::to_string_pretty(self).map_err(|e| crate::Error::Invalid(e.to_string()))?;
        prefer_data::write_atomic(path, text.as_bytes())?;
        Ok(())
    }

    /// Writes `reliability.<ext>` and `length.<ext>` into `dir`; returns their paths.
    pub fn plots(&self, dir: &Path, ext: &str) -> Result<Vec<std::path::PathBuf>> {
        std::fs::create_dir_all(dir).map_err(|e| crate::Error::Io {
            path: dir.display().to_string(),
            source: e,
        })?;
        let rel = dir.join(format!("reliability.{ext}"));
        reliability_plot(&rel, &self.calibration, &self.name)?;
        let len = dir.join(format!("length.{ext}"));
        let pts: Vec<(f64, f64)> = self
            .length
            .by_length_quartile
            .iter()
            .enumerate()
            .filter(|(_, g)| g.accuracy.is_finite())
            .map(|(i, g)| ((i + 1) as f64, g.accuracy))
            .collect();
        prefer_plot::line_chart(
            &len,
            &prefer_plot::LineChart {
                title: format!("{}: accuracy by length quartile", self.name),
                x_label: "quartile of pair length (1 = shortest)".into(),
                y_label: "pairwise accuracy".into(),
                series: vec![prefer_plot::Series {
                    name: "accuracy".into(),
                    points: pts,
                }],
                ..Default::default()
            },
        )?;
        Ok(vec![rel, len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_renders_and_writes() -> Result<()> {
        let pairs: Vec<ScoredPair> = (0..40)
            .map(|i| ScoredPair {
                subset: Some(if i % 2 == 0 {
                    "hep-go".into()
                } else {
                    "alpacaeval-easy".into()
                }),
                chosen_len: 100 + i,
                rejected_len: 120,
                ..ScoredPair::new(if i % 4 == 0 {
                    -0.5
                } else {
                    1.0 + i as f64 / 10.0
                })
            })
            .collect();
        let r = evaluate("test", &pairs, &EvalConfig::default())?;
        assert_eq!(r.accuracy, 0.75);
        // Wilson interval of 30/40: scipy 1.x `binomtest(30, 40).proportion_ci(method=
        // "wilson")` gives (0.5980603857923197, 0.858128813609037).
        assert!(
            (r.accuracy_ci.0 - 0.598_060_385_792_319_7).abs() < 1e-9,
            "{:?}",
            r.accuracy_ci
        );
        assert!(
            (r.accuracy_ci.1 - 0.858_128_813_609_037).abs() < 1e-9,
            "{:?}",
            r.accuracy_ci
        );
        let sec = r.sections.as_ref().map(|s| s.score).unwrap_or(f64::NAN);
        // Chat: alpacaeval-easy all right (odd i) → 100; Reasoning: hep-go 1/2 → 50.
        assert!((sec - (100.0 + 50.0) / 4.0).abs() < 1e-9, "{sec}");
        let t = r.table();
        assert!(t.contains("RewardBench score") && t.contains("75.0%"));
        let dir = tempfile::tempdir().map_err(|e| crate::Error::Invalid(e.to_string()))?;
        r.write_json(&dir.path().join("r.json"))?;
        let back: Report = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("r.json")).unwrap_or_default(),
        )
        .map_err(|e| crate::Error::Invalid(e.to_string()))?;
        assert_eq!(back.n, 40);
        for p in r.plots(dir.path(), "svg")? {
            assert!(p.exists());
        }
        Ok(())
    }
}
