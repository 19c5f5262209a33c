//! Coherence of a chooser's preferences (paper 70, "Utility Engineering", §4): do the
//! pairwise choices form a utility function? Four measures:
//!
//! - **held-out fit**: accuracy and log loss of fitted utilities on pairs they were not
//!   fitted on ([`crate::thurstonian::evaluate`]), and its growth with the number of
//!   comparisons ([`learning_curve`]);
//! - **transitivity**: the share of item triads whose majority preferences form a cycle
//!   (a ≻ b ≻ c ≻ a) — 0 for a utility maximizer, 1/4 for coin flips ([`transitivity`]);
//! - **expected-utility consistency**: how far the utility of a lottery is from the
//!   expected utility of its outcomes, U(L) vs Σ p U(o) ([`expected_utility`]);
//! - **convergence**: agreement of utilities fitted on two independent question sets
//!   ([`pearson`] of their means).

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use prefer_rank::votes::PairCounts;

use crate::error::{Error, Result};
use crate::thurstonian::{self, Agreement, ThurstonianConfig, Utilities};

/// Cycles in the majority graph.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Transitivity {
    /// Triads whose three pairs all have a strict majority.
    pub triads: u64,
    /// Of those, the cyclic ones.
    pub cyclic: u64,
    /// cyclic / triads (NaN when there are no triads).
    pub rate: f64,
}

/// The share of cyclic triads in the majority graph of `counts` (a pair whose share is
/// exactly ½ has no majority and leaves its triads out).
pub fn transitivity(counts: &PairCounts) -> Transitivity {
    let n = counts.n;
    // beats[i][j] = Some(true) when i has the strict majority over j.
    let mut beats = vec![None; n * n];
    for c in &counts.cells {
        let (i, j) = (c.i as usize, c.j as usize);
        let share = (c.wins_i + 0.5 * c.ties) / c.total();
        if share > 0.5 {
            beats[i * n + j] = Some(true);
            beats[j * n + i] = Some(false);
        } else if share < 0.5 {
            beats[i * n + j] = Some(false);
            beats[j * n + i] = Some(true);
        }
    }
    let (mut triads, mut cyclic) = (0u64, 0u64);
    for a in 0..n {
        for b in a + 1..n {
            let Some(ab) = beats[a * n + b] else { continue };
            for c in b + 1..n {
                let (Some(bc), Some(ca)) = (beats[b * n + c], beats[c * n + a]) else {
                    continue;
                };
                triads += 1;
                // A triad is cyclic when its three edges all point the same way round.
                if ab == bc && bc == ca {
                    cyclic += 1;
                }
            }
        }
    }
    Transitivity {
        triads,
        cyclic,
        rate: if triads > 0 {
            cyclic as f64 / triads as f64
        } else {
            f64::NAN
        },
    }
}

/// A lottery item: an item of the utility fit that is itself a gamble over other items.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lottery {
    /// The lottery's own item index.
    pub item: usize,
    /// (outcome item, probability), probabilities summing to one.
    pub outcomes: Vec<(usize, f64)>,
}

/// Expected-utility consistency.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ExpectedUtility {
    /// Mean |U(L) − Σ p U(o)|, in the units of the normalized utilities (sd 1).
    pub mean_abs_error: f64,
    /// Pearson correlation of U(L) with Σ p U(o) over the lotteries.
    pub correlation: f64,
    /// Lotteries scored.
    pub lotteries: usize,
}

/// Compares each lottery's utility with the expected utility of its outcomes.
///
/// # Errors
/// An index outside the utilities or probabilities that do not sum to one, naming the
/// lottery.
pub fn expected_utility(u: &Utilities, lotteries: &[Lottery]) -> Result<ExpectedUtility> {
    let n = u.mean.len();
    let mut direct = Vec::with_capacity(lotteries.len());
    let mut implied = Vec::with_capacity(lotteries.len());
    for (k, l) in lotteries.iter().enumerate() {
        if l.item >= n || l.outcomes.iter().any(|(o, _)| *o >= n) {
            return Err(Error::Invalid(format!(
                "lottery {k}: an item index is outside the {n} items"
            )));
        }
        let s: f64 = l.outcomes.iter().map(|(_, p)| p).sum();
        if (s - 1.0).abs() > crate::problem::PROB_SUM_TOL {
            return Err(Error::Invalid(format!(
                "lottery {k}: probabilities sum to {s}, not 1"
            )));
        }
        direct.push(u.mean[l.item]);
        implied.push(l.outcomes.iter().map(|(o, p)| p * u.mean[*o]).sum::<f64>());
    }
    let mae = direct
        .iter()
        .zip(&implied)
        .map(|(a, b)| (a - b).abs())
        .sum::<f64>()
        / direct.len().max(1) as f64;
    Ok(ExpectedUtility {
        mean_abs_error: mae,
        correlation: pearson(&direct, &implied),
        lotteries: direct.len(),
    })
}

/// Pearson correlation (NaN when either side is constant or shorter than 2).
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    if n < 2 {
        return f64::NAN;
    }
    let ma = a[..n].iter().sum::<f64>() / n as f64;
    let mb = b[..n].iter().sum::<f64>() / n as f64;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (x, y) = (a[i] - ma, b[i] - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    sab / (saa * sbb).sqrt()
}

/// One point of a learning curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    /// Pairs the utilities were fitted on.
    pub train_pairs: usize,
    /// Their held-out agreement.
    pub held_out: Agreement,
}

/// Held-out fit as the number of compared pairs grows: fits utilities on the first
/// `f · |train|` pairs of a seeded shuffle of `train` for each fraction and scores them
/// on `test`. Fractions too small to compare every item are left out.
///
/// # Errors
/// A fit that fails for another reason than an item without comparisons.
pub fn learning_curve(
    train: &PairCounts,
    test: &PairCounts,
    fractions: &[f64],
    cfg: &ThurstonianConfig,
    seed: u64,
) -> Result<Vec<CurvePoint>> {
    let mut cells = train.cells.clone();
    cells.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut out = Vec::new();
    for &f in fractions {
        let k = ((cells.len() as f64) * f.clamp(0.0, 1.0)).round() as usize;
        let sub = PairCounts {
            n: train.n,
            cells: cells[..k].to_vec(),
        };
        if sub.votes_per_item().iter().any(|v| !(*v > 0.0)) {
            continue;
        }
        let u = thurstonian::fit(&sub, cfg)?;
        out.push(CurvePoint {
            train_pairs: k,
            held_out: thurstonian::evaluate(&u, test),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thurstonian::normalize;
    use prefer_rank::votes::PairCell;
    use rand::Rng;

    fn all_pairs(n: usize, mut share: impl FnMut(usize, usize) -> f64, per: f64) -> PairCounts {
        let mut cells = Vec::new();
        for i in 0..n {
            for j in i + 1..n {
                let s = share(i, j);
                cells.push(PairCell {
                    i: i as u32,
                    j: j as u32,
                    wins_i: s * per,
                    wins_j: (1.0 - s) * per,
                    ties: 0.0,
                });
            }
        }
        PairCounts { n, cells }
    }

    #[test]
    fn a_utility_maximizer_has_no_cycles_and_coin_flips_have_a_quarter() {
        let u: Vec<f64> = (0..30).map(|i| (i as f64 * 1.7).cos()).collect();
        let t = transitivity(&all_pairs(
            30,
            |i, j| if u[i] > u[j] { 0.9 } else { 0.1 },
            10.0,
        ));
        assert_eq!(t.cyclic, 0);
        assert_eq!(t.triads, 30 * 29 * 28 / 6);
        // A random tournament: each triad is cyclic with probability 2/8 = 1/4. With
        // 60 items (34220 dependent triads) the rate is within 0.03 of it.
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let t = transitivity(&all_pairs(
            60,
            |_, _| if rng.random_bool(0.5) { 1.0 } else { 0.0 },
            1.0,
        ));
        assert!((t.rate - 0.25).abs() < 0.03, "{t:?}");
        // One hand-made cycle among three: 0 ≻ 1, 1 ≻ 2, 2 ≻ 0.
        let c = all_pairs(3, |i, j| if (i, j) == (0, 2) { 0.2 } else { 0.8 }, 5.0);
        assert_eq!(
            transitivity(&c),
            Transitivity {
                triads: 1,
                cyclic: 1,
                rate: 1.0
            }
        );
        // A tie leaves its triads out.
        let c = all_pairs(3, |i, j| if (i, j) == (0, 2) { 0.5 } else { 0.8 }, 4.0);
        assert_eq!(transitivity(&c).triads, 0);
    }

    #[test]
    fn expected_utility_consistency_separates_a_coherent_chooser_from_an_incoherent_one() {
        // Ten outcomes and ten 50/50 lotteries over pairs of them. At 200 answers per
        // pair each fitted utility is off by about 0.05 (see the recovery test), so the
        // coherent chooser's error stays below 0.2.
        let base: Vec<f64> = (0..10).map(|i| i as f64 / 3.0).collect();
        let lotteries: Vec<Lottery> = (0..10)
            .map(|k| Lottery {
                item: 10 + k,
                outcomes: vec![(k, 0.5), ((k + 3) % 10, 0.5)],
            })
            .collect();
        let coherent: Vec<f64> = base
            .iter()
            .copied()
            .chain(
                lotteries
                    .iter()
                    .map(|l| l.outcomes.iter().map(|(o, p)| p * base[*o]).sum()),
            )
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let incoherent: Vec<f64> = base
            .iter()
            .copied()
            .chain((0..10).map(|_| rng.random_range(0.0..3.0)))
            .collect();
        let var = vec![0.3; 20];
        let mut fitted = Vec::new();
        for (seed, mu) in [(1, &coherent), (2, &incoherent)] {
            let truth = normalize(mu, &var);
            let counts = crate::thurstonian::tests::simulate_all_pairs(
                &truth.mean,
                &truth.variance,
                200,
                seed,
            );
            let u = thurstonian::fit(&counts, &ThurstonianConfig::default()).unwrap();
            fitted.push(expected_utility(&u, &lotteries).unwrap());
        }
        assert!(
            fitted[0].correlation > 0.97 && fitted[0].mean_abs_error < 0.2,
            "{:?}",
            fitted[0]
        );
        assert!(
            fitted[1].mean_abs_error > 3.0 * fitted[0].mean_abs_error,
            "{fitted:?}"
        );
        assert!(fitted[1].correlation < fitted[0].correlation);
        let bad = [Lottery {
            item: 0,
            outcomes: vec![(1, 0.5), (2, 0.4)],
        }];
        let e = expected_utility(&thurstonian::normalize(&base, &[1.0; 10]), &bad).unwrap_err();
        assert!(
            e.to_string()
                .contains("lottery 0: probabilities sum to 0.9"),
            "{e}"
        );
    }

    #[test]
    fn held_out_fit_grows_with_comparisons_and_independent_question_sets_converge() {
        let mu: Vec<f64> = (0..20).map(|i| (i as f64 * 0.9).sin() * 2.0).collect();
        let truth = normalize(&mu, &[0.5; 20]);
        let sim = |per, seed| {
            crate::thurstonian::tests::simulate_all_pairs(&truth.mean, &truth.variance, per, seed)
        };
        let train = sim(3, 1);
        let test = sim(50, 2);
        let curve = learning_curve(
            &train,
            &test,
            &[0.15, 0.4, 1.0],
            &ThurstonianConfig::default(),
            3,
        )
        .unwrap();
        assert!(curve.len() >= 2, "{curve:?}");
        let first = curve.first().unwrap().held_out;
        let last = curve.last().unwrap().held_out;
        assert!(
            last.log_loss < first.log_loss && last.accuracy >= first.accuracy,
            "{curve:?}"
        );
        // Two independent question sets give utilities that agree.
        let a = thurstonian::fit(&sim(20, 5), &ThurstonianConfig::default()).unwrap();
        let b = thurstonian::fit(&sim(20, 6), &ThurstonianConfig::default()).unwrap();
        assert!(pearson(&a.mean, &b.mean) > 0.98);
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-15);
    }
}
