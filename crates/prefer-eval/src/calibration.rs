//! Calibration of pairwise preference probabilities: expected calibration error and the
//! reliability diagram.
//!
//! A model's probability that chosen is preferred is p = σ(z) (z its logit). The
//! prediction is the more likely side, with confidence c = max(p, 1 − p) ∈ [½, 1]; it is
//! right when p > ½ (a tie, p = ½, counts ½). With a soft label s (the pair's `strength`,
//! the share of raters preferring chosen), "right" is the expected correctness: s when
//! p > ½, 1 − s when p < ½. Pairs are binned by confidence into `bins` equal-width bins on
//! [½, 1] and
//!
//! ECE = Σ_b (n_b / N) |acc_b − conf_b|
//!
//! (Guo et al. 2017, arXiv:1706.04599, with top-label confidence for a binary choice).

use serde::{Deserialize, Serialize};

use crate::pairwise::ScoredPair;
use crate::{Error, Result};

/// One bin of the reliability diagram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    /// Lower edge of the confidence bin.
    pub lo: f64,
    /// Upper edge.
    pub hi: f64,
    /// Pairs in the bin.
    pub n: usize,
    /// Mean confidence.
    pub confidence: f64,
    /// Mean correctness.
    pub accuracy: f64,
}

/// ECE and its bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Expected calibration error in [0, ½].
    pub ece: f64,
    /// Largest |acc_b − conf_b| over non-empty bins.
    pub mce: f64,
    /// Mean negative log-likelihood of the labels (with soft labels: cross-entropy).
    pub nll: f64,
    /// Non-empty and empty bins, low to high confidence.
    pub bins: Vec<Bin>,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Calibration of the logits of `pairs` with `bins` bins (10 is usual).
pub fn calibration(pairs: &[ScoredPair], bins: usize) -> Result<Calibration> {
    if pairs.is_empty() {
        return Err(Error::Invalid("no pairs to evaluate".into()));
    }
    if bins == 0 {
        return Err(Error::Config("bins must be positive".into()));
    }
    let w = 0.5 / bins as f64;
    let mut acc = vec![(0usize, 0f64, 0f64); bins];
    let mut nll = 0.0;
    for (i, p) in pairs.iter().enumerate() {
        if !p.logit.is_finite() {
            return Err(Error::Data(format!("pair {i}: logit {}", p.logit)));
        }
        let pr = sigmoid(p.logit);
        let s = p.strength.unwrap_or(1.0);
        let conf = pr.max(1.0 - pr);
        let right = if pr > 0.5 {
            s
        } else if pr < 0.5 {
            1.0 - s
        } else {
            0.5
        };
        // −[s log p + (1 − s) log(1 − p)] with log σ(±z) computed stably.
        let ls = |z: f64| z.min(0.0) - (-z.abs()).exp().ln_1p();
        nll -= s * ls(p.logit) + (1.0 - s) * ls(-p.logit);
        let b = (((conf - 0.5) / w) as usize).min(bins - 1);
        acc[b].0 += 1;
        acc[b].1 += conf;
        acc[b].2 += right;
    }
    let n = pairs.len() as f64;
    let mut ece = 0.0;
    let mut mce: f64 = 0.0;
    let out: Vec<Bin> = acc
        .iter()
        .enumerate()
        .map(|(b, &(k, c, r))| {
            let (conf, a) = if k > 0 {
                (c / k as f64, r / k as f64)
            } else {
                (0.0, 0.0)
            };
            if k > 0 {
                ece += k as f64 / n * (a - conf).abs();
                mce = mce.max((a - conf).abs());
            }
            Bin {
                lo: 0.5 + b as f64 * w,
                hi: 0.5 + (b + 1) as f64 * w,
                n: k,
                confidence: conf,
                accuracy: a,
            }
        })
        .collect();
    Ok(Calibration {
        ece,
        mce,
        nll: nll / n,
        bins: out,
    })
}

/// Writes the reliability diagram (accuracy vs confidence per bin, and the diagonal).
pub fn reliability_plot(path: &std::path::Path, cal: &Calibration, title: &str) -> Result<()> {
    let pts: Vec<(f64, f64)> = cal
        .bins
        .iter()
        .filter(|b| b.n > 0)
        .map(|b| (b.confidence, b.accuracy))
        .collect();
    let chart = prefer_plot::LineChart {
        title: format!("{title} (ECE {:.3})", cal.ece),
        x_label: "confidence".into(),
        y_label: "accuracy".into(),
        series: vec![
            prefer_plot::Series {
                name: "model".into(),
                points: pts,
            },
            prefer_plot::Series {
                name: "perfect calibration".into(),
                points: vec![(0.5, 0.5), (1.0, 1.0)],
            },
        ],
        ..Default::default()
    };
    prefer_plot::line_chart(path, &chart)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ece_closed_form() -> Result<()> {
        let z = |p: f64| (p / (1.0 - p)).ln();
        // Bin [0.9, 0.95): two pairs at p = 0.92, one right one wrong → |0.5 − 0.92|.
        // Bin [0.6, 0.65): one pair at p = 0.38 (predicts rejected, wrong? label chosen:
        // p < ½ so right = 1 − s = 0) → |0 − 0.62|.
        let pairs = vec![
            ScoredPair::new(z(0.92)),
            ScoredPair::new(-z(0.92)),
            ScoredPair::new(z(0.38)),
        ];
        let c = calibration(&pairs, 10)?;
        let want = (2.0 / 3.0) * (0.5f64 - 0.92).abs() + (1.0 / 3.0) * 0.62;
        assert!((c.ece - want).abs() < 1e-12, "{} vs {want}", c.ece);
        assert!((c.mce - 0.62).abs() < 1e-12);
        // A perfectly calibrated population: soft labels equal to the predictions.
        let cal: Vec<ScoredPair> = [0.55, 0.7, 0.85, 0.97]
            .iter()
            .map(|&p| ScoredPair {
                strength: Some(p),
                ..ScoredPair::new(z(p))
            })
            .collect();
        assert!(calibration(&cal, 10)?.ece < 1e-12);
        assert!(calibration(&[], 10).is_err());
        Ok(())
    }
}
