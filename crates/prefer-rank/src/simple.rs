//! Scores users compare against, as evalica defines them: counting (wins plus half the
//! ties), win rate, and average win rate (the mean over opponents of the share of points
//! won against each; opponents never met are left out).

use crate::votes::PairCounts;

/// Wins + `tie_weight` × ties per item (evalica's `counting`, tie weight 0.5).
pub fn counting(counts: &PairCounts, tie_weight: f64) -> Vec<f64> {
    let mut s = vec![0.0; counts.n];
    for c in &counts.cells {
        s[c.i as usize] += c.wins_i + tie_weight * c.ties;
        s[c.j as usize] += c.wins_j + tie_weight * c.ties;
    }
    s
}

/// Points won (ties half) over votes played, per item; `NaN` for items without votes.
pub fn win_rate(counts: &PairCounts) -> Vec<f64> {
    let points = counting(counts, 0.5);
    let played = counts.votes_per_item();
    points
        .iter()
        .zip(played)
        .map(|(p, n)| if n > 0.0 { p / n } else { f64::NAN })
        .collect()
}

/// The matrix W[i][j] = share of points i won against j (ties half), `NaN` where i and j
/// never met (and on the diagonal).
pub fn win_rate_matrix(counts: &PairCounts) -> Vec<Vec<f64>> {
    let n = counts.n;
    let mut w = vec![vec![f64::NAN; n]; n];
    for c in &counts.cells {
        let t = c.total();
        if t > 0.0 {
            let (i, j) = (c.i as usize, c.j as usize);
            w[i][j] = (c.wins_i + 0.5 * c.ties) / t;
            w[j][i] = (c.wins_j + 0.5 * c.ties) / t;
        }
    }
    w
}

/// Mean over opponents met of the share of points won against each (evalica's
/// `average_win_rate`); 0 for an item with no opponents.
pub fn average_win_rate(counts: &PairCounts) -> Vec<f64> {
    win_rate_matrix(counts)
        .iter()
        .map(|row| {
            let met: Vec<f64> = row.iter().copied().filter(|x| !x.is_nan()).collect();
            if met.is_empty() {
                0.0
            } else {
                met.iter().sum::<f64>() / met.len() as f64
            }
        })
        .collect()
}
