//! Agreement between judges (human annotators, reward models, LLM judges) on the same
//! items, and the consistency of one judge with itself (papers 1 and 21: consistency of
//! internal reward models / self-feedback; Zheng et al. 2023 for position consistency).
//!
//! - **Consistency rate** of two judges: the share of items both labelled on which they
//!   give the same label; the matrix over all judges and its off-diagonal mean.
//! - **Cohen's κ** per pair of judges and **Fleiss' κ** over all (items every judge
//!   labelled): agreement corrected for chance, (P̄ − P̄_e)/(1 − P̄_e).
//! - **Unanimity**: the share of fully labelled items on which all judges agree.
//! - **Position consistency** of one judge shown each pair twice, in both orders: the
//!   share of items where the verdict (mapped back to the original order) is the same.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A judge's verdict on a pair (A = the first response).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The first response is better.
    A,
    /// The second response is better.
    B,
    /// Neither.
    Tie,
}

impl Verdict {
    fn index(self) -> usize {
        match self {
            Verdict::A => 0,
            Verdict::B => 1,
            Verdict::Tie => 2,
        }
    }

    /// The same verdict with the two responses swapped.
    pub fn swapped(self) -> Verdict {
        match self {
            Verdict::A => Verdict::B,
            Verdict::B => Verdict::A,
            Verdict::Tie => Verdict::Tie,
        }
    }
}

/// Agreement between judges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// Judge names.
    pub judges: Vec<String>,
    /// Items.
    pub items: usize,
    /// `[i][j]`: consistency rate of judges i and j (1 on the diagonal).
    pub consistency: Vec<Vec<f64>>,
    /// `[i][j]`: Cohen's κ (1 on the diagonal).
    pub cohen_kappa: Vec<Vec<f64>>,
    /// Mean consistency rate over pairs of judges.
    pub mean_consistency: f64,
    /// Fleiss' κ over the items every judge labelled (NaN with fewer than 2 judges).
    pub fleiss_kappa: f64,
    /// Share of fully labelled items on which all judges agree.
    pub unanimity: f64,
}

fn cohen(a: &[Option<Verdict>], b: &[Option<Verdict>]) -> (f64, f64) {
    let mut n = 0f64;
    let mut agree = 0f64;
    let mut ca = [0f64; 3];
    let mut cb = [0f64; 3];
    for (x, y) in a.iter().zip(b) {
        if let (Some(x), Some(y)) = (x, y) {
            n += 1.0;
            agree += f64::from(u8::from(x == y));
            ca[x.index()] += 1.0;
            cb[y.index()] += 1.0;
        }
    }
    if n == 0.0 {
        return (f64::NAN, f64::NAN);
    }
    let po = agree / n;
    let pe: f64 = (0..3).map(|k| ca[k] / n * cb[k] / n).sum();
    let kappa = if (1.0 - pe).abs() < 1e-15 {
        f64::NAN
    } else {
        (po - pe) / (1.0 - pe)
    };
    (po, kappa)
}

/// Fleiss' κ of count rows: `counts[i][k]` raters put item i in category k, every row
/// summing to the same number of raters.
pub fn fleiss_kappa(counts: &[Vec<f64>]) -> Result<f64> {
    let n_items = counts.len();
    if n_items == 0 {
        return Err(Error::Invalid("no items".into()));
    }
    let raters: f64 = counts[0].iter().sum();
    if raters < 2.0
        || counts
            .iter()
            .any(|r| (r.iter().sum::<f64>() - raters).abs() > 1e-9)
    {
        return Err(Error::Invalid(
            "Fleiss' κ needs the same number (≥ 2) of raters per item".into(),
        ));
    }
    let k = counts[0].len();
    let mut pj = vec![0f64; k];
    let mut pbar = 0.0;
    for r in counts {
        for (j, c) in r.iter().enumerate() {
            pj[j] += c;
        }
        pbar += (r.iter().map(|c| c * c).sum::<f64>() - raters) / (raters * (raters - 1.0));
    }
    pbar /= n_items as f64;
    let pe: f64 = pj
        .iter()
        .map(|p| (p / (n_items as f64 * raters)).powi(2))
        .sum();
    Ok((pbar - pe) / (1.0 - pe))
}

/// Agreement of `labels[j][i]` = judge j's verdict on item i (None: not labelled).
pub fn agreement(judges: &[String], labels: &[Vec<Option<Verdict>>]) -> Result<Agreement> {
    let m = judges.len();
    if m != labels.len() || m < 2 {
        return Err(Error::Invalid(
            "agreement needs at least two judges, each with a label list".into(),
        ));
    }
    let items = labels[0].len();
    if items == 0 || labels.iter().any(|l| l.len() != items) {
        return Err(Error::Invalid(
            "every judge needs a label (or none) for each of the same items".into(),
        ));
    }
    let mut cons = vec![vec![1.0; m]; m];
    let mut kap = vec![vec![1.0; m]; m];
    let mut sum = 0.0;
    let mut pairs = 0.0;
    for i in 0..m {
        for j in i + 1..m {
            let (po, k) = cohen(&labels[i], &labels[j]);
            cons[i][j] = po;
            cons[j][i] = po;
            kap[i][j] = k;
            kap[j][i] = k;
            if po.is_finite() {
                sum += po;
                pairs += 1.0;
            }
        }
    }
    let full: Vec<usize> = (0..items)
        .filter(|&i| labels.iter().all(|l| l[i].is_some()))
        .collect();
    let counts: Vec<Vec<f64>> = full
        .iter()
        .map(|&i| {
            let mut c = vec![0f64; 3];
            for l in labels {
                if let Some(v) = l[i] {
                    c[v.index()] += 1.0;
                }
            }
            c
        })
        .collect();
    let unanimity = if full.is_empty() {
        f64::NAN
    } else {
        counts.iter().filter(|c| c.contains(&(m as f64))).count() as f64 / full.len() as f64
    };
    Ok(Agreement {
        judges: judges.to_vec(),
        items,
        consistency: cons,
        cohen_kappa: kap,
        mean_consistency: if pairs > 0.0 { sum / pairs } else { f64::NAN },
        fleiss_kappa: if counts.is_empty() {
            f64::NAN
        } else {
            fleiss_kappa(&counts)?
        },
        unanimity,
    })
}

/// Share of items where a judge's verdict on the swapped presentation, mapped back, equals
/// its verdict on the original.
pub fn position_consistency(original: &[Verdict], swapped: &[Verdict]) -> Result<f64> {
    if original.len() != swapped.len() || original.is_empty() {
        return Err(Error::Invalid(
            "position consistency needs two equal, non-empty verdict lists".into(),
        ));
    }
    Ok(original
        .iter()
        .zip(swapped)
        .filter(|(a, b)| **a == b.swapped())
        .count() as f64
        / original.len() as f64)
}

impl Verdict {
    /// Reads a verdict from a field value: `a`/`b`/`tie` (and `model_a`, `left`, `1`, ...
    /// as prefer-data's winners), or PandaLM's numbers 1 (first), 2 (second), 0 (tie).
    pub fn from_value(v: &serde_json::Value) -> Option<Verdict> {
        match v {
            serde_json::Value::Number(n) => match n.as_i64()? {
                1 => Some(Verdict::A),
                2 => Some(Verdict::B),
                0 => Some(Verdict::Tie),
                _ => None,
            },
            serde_json::Value::String(s) => match prefer_data::Winner::parse(s)? {
                prefer_data::Winner::ModelA => Some(Verdict::A),
                prefer_data::Winner::ModelB => Some(Verdict::B),
                _ => Some(Verdict::Tie),
            },
            _ => None,
        }
    }
}

/// Reads each judge's verdicts from fields of the records of a file (any format
/// prefer-data reads): `labels[j][i]` is field `judges[j]` of record i (None when absent or
/// null). A value that is not a verdict is an error naming the record and the field.
pub fn read_verdicts(
    path: &std::path::Path,
    judges: &[String],
) -> Result<Vec<Vec<Option<Verdict>>>> {
    let rows = prefer_data::RowReader::open(path, &prefer_data::ReadOptions::default())?;
    let mut labels = vec![Vec::new(); judges.len()];
    for row in rows {
        let (loc, obj) = row?.into_object().map_err(|e| Error::Data(e.to_string()))?;
        for (j, f) in judges.iter().enumerate() {
            let v = match obj.get(f) {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => Some(Verdict::from_value(v).ok_or_else(|| {
                    Error::Data(format!(
                        "{loc}: field `{f}`: {v} is not a verdict (a, b, tie; 1, 2, 0)"
                    ))
                })?),
            };
            labels[j].push(v);
        }
    }
    if labels.first().is_none_or(Vec::is_empty) {
        return Err(Error::Data(format!("{}: no records", path.display())));
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleiss_kappa_matches_the_published_example() -> Result<()> {
        // Fleiss (1971) as reproduced in Wikipedia's "Fleiss' kappa": 10 subjects, 14
        // raters, 5 categories; κ = 0.210.
        let t = [
            [0.0, 0.0, 0.0, 0.0, 14.0],
            [0.0, 2.0, 6.0, 4.0, 2.0],
            [0.0, 0.0, 3.0, 5.0, 6.0],
            [0.0, 3.0, 9.0, 2.0, 0.0],
            [2.0, 2.0, 8.0, 1.0, 1.0],
            [7.0, 7.0, 0.0, 0.0, 0.0],
            [3.0, 2.0, 6.0, 3.0, 0.0],
            [2.0, 5.0, 3.0, 2.0, 2.0],
            [6.0, 5.0, 2.0, 1.0, 0.0],
            [0.0, 2.0, 2.0, 3.0, 7.0],
        ];
        let counts: Vec<Vec<f64>> = t.iter().map(|r| r.to_vec()).collect();
        let k = fleiss_kappa(&counts)?;
        assert!((k - 0.210).abs() < 5e-4, "{k}");
        Ok(())
    }

    #[test]
    fn pandalm_annotators_match_numpy() -> Result<()> {
        let f = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/pandalm/testset-v1.json");
        if !f.exists() {
            println!("skipped: {} absent", f.display());
            return Ok(());
        }
        let judges: Vec<String> = (1..=3).map(|i| format!("annotator{i}")).collect();
        let a = agreement(&judges, &read_verdicts(&f, &judges)?)?;
        // tests/fixtures/pandalm_agreement.py (numpy), printed to 6 decimals.
        const TOL: f64 = 1e-6;
        let want = [
            (0, 1, 0.912913, 0.852023),
            (0, 2, 0.928929, 0.878944),
            (1, 2, 0.917918, 0.861661),
        ];
        for (i, j, c, k) in want {
            assert!(
                (a.consistency[i][j] - c).abs() < TOL,
                "{i},{j}: {}",
                a.consistency[i][j]
            );
            assert!(
                (a.cohen_kappa[i][j] - k).abs() < TOL,
                "{i},{j}: {}",
                a.cohen_kappa[i][j]
            );
        }
        assert!(
            (a.fleiss_kappa - 0.864175).abs() < TOL,
            "{}",
            a.fleiss_kappa
        );
        assert!((a.unanimity - 0.879880).abs() < TOL, "{}", a.unanimity);
        Ok(())
    }

    #[test]
    fn rates_and_kappas_on_a_small_table() -> Result<()> {
        use Verdict::*;
        let l = vec![
            vec![Some(A), Some(A), Some(B), Some(B)],
            vec![Some(A), Some(B), Some(B), Some(B)],
            vec![Some(A), Some(A), Some(B), None],
        ];
        let a = agreement(&["x".into(), "y".into(), "z".into()], &l)?;
        assert_eq!(a.consistency[0][1], 0.75);
        assert_eq!(a.consistency[0][2], 1.0);
        assert!((a.consistency[1][2] - 2.0 / 3.0).abs() < 1e-12);
        // Cohen x,y: po = 0.75; marginals x (2A, 2B), y (1A, 3B): pe = 0.5·0.25 + 0.5·0.75.
        let pe = 0.5 * 0.25 + 0.5 * 0.75;
        assert!((a.cohen_kappa[0][1] - (0.75 - pe) / (1.0 - pe)).abs() < 1e-12);
        assert!((a.unanimity - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(position_consistency(&[A, B, Tie], &[B, B, Tie])?, 2.0 / 3.0);
        assert!(agreement(&["x".into()], &l[..1]).is_err());
        assert_eq!(Verdict::from_value(&serde_json::json!(2)), Some(B));
        assert_eq!(Verdict::from_value(&serde_json::json!("tie")), Some(Tie));
        assert_eq!(Verdict::from_value(&serde_json::json!("model_a")), Some(A));
        assert_eq!(Verdict::from_value(&serde_json::json!(7)), None);
        Ok(())
    }
}
