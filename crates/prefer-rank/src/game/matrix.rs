//! Preference matrices `P[i][j] = P(i ≻ j)` with `P + Pᵀ = 1`, and rectangular payoffs.
//!
//! A preference matrix is stored as its skew part `A = P − ½` (so `Aᵀ = −A`), packed: only
//! the strict upper triangle is kept, row by row. The product every solver needs,
//! `P q = A q + ½ Σq`, then reads `n(n−1)/2` numbers instead of `n²`: each stored entry
//! `a_ij` serves both `(A q)_i += a_ij q_j` and `(A q)_j −= a_ij q_i`. Halving the memory
//! traffic is what makes one iteration on a 1,000 × 1,000 game faster than a dense
//! matrix-vector product (see `docs/games.md`, benchmark).

use crate::{Error, Result};

/// Default tolerance on `|P_ij + P_ji − 1|` and `|P_ii − ½|` when a matrix is read: votes
/// written with 3 decimals (`0.333` / `0.667`) pass, a swapped or mistyped entry does not.
pub const DEFAULT_SUM_TOL: f64 = 1e-3;

/// Below this size one thread does the product (splitting costs more than it saves).
const PAR_MIN_N: usize = 384;

/// How many offending entries an error message lists before "and K more".
const MAX_LISTED: usize = 5;

/// A validated preference matrix over `n` items.
#[derive(Debug, Clone, PartialEq)]
pub struct PrefMatrix {
    n: usize,
    /// Strict upper triangle of `A = P − ½`, row-major: row `i` holds `A[i][i+1..n]`.
    upper: Vec<f64>,
}

/// Start of row `i` of the packed strict upper triangle of an `n × n` matrix.
#[inline]
fn row_start(n: usize, i: usize) -> usize {
    // Rows 0..i hold (n−1) + (n−2) + ... + (n−i) entries.
    i * (2 * n - i - 1) / 2
}

fn label(names: Option<&[String]>, i: usize) -> String {
    match names.and_then(|v| v.get(i)) {
        Some(s) if *s != (i + 1).to_string() => format!("{} ({s})", i + 1),
        _ => format!("{}", i + 1),
    }
}

impl PrefMatrix {
    /// Builds the matrix from its upper triangle: `f(i, j) = P(i ≻ j)` for `i < j`; the
    /// rest follows from `P + Pᵀ = 1`.
    ///
    /// # Errors
    /// `n == 0`, or a value outside \[0, 1\] (or not finite).
    pub fn from_upper(n: usize, mut f: impl FnMut(usize, usize) -> f64) -> Result<Self> {
        if n == 0 {
            return Err(Error::Invalid(
                "a preference matrix needs at least one item".into(),
            ));
        }
        let mut upper = Vec::with_capacity(n * (n - 1) / 2);
        for i in 0..n {
            for j in i + 1..n {
                let p = f(i, j);
                if !(0.0..=1.0).contains(&p) {
                    return Err(Error::Invalid(format!(
                        "P({} ≻ {}) = {p} is outside [0, 1]",
                        i + 1,
                        j + 1
                    )));
                }
                upper.push(p - 0.5);
            }
        }
        Ok(Self { n, upper })
    }

    /// Builds the matrix from full rows, checking that it is square, that every entry is
    /// a probability, and that `P + Pᵀ = 1` within `tol` (the diagonal must be ½).
    /// Each error names the offending entries by 1-based row and column (and the item
    /// names when given). Within tolerance, the pair is replaced by its nearest
    /// consistent value `P_ij = (P_ij + 1 − P_ji) / 2`.
    ///
    /// # Errors
    /// An empty or non-square matrix, entries outside \[0, 1\], or `P + Pᵀ ≠ 1`.
    pub fn from_rows(rows: &[Vec<f64>], names: Option<&[String]>, tol: f64) -> Result<Self> {
        let n = rows.len();
        if n == 0 {
            return Err(Error::Invalid("the matrix is empty".into()));
        }
        for (i, r) in rows.iter().enumerate() {
            if r.len() != n {
                return Err(Error::Invalid(format!(
                    "not square: {n} rows but row {} has {} columns",
                    i + 1,
                    r.len()
                )));
            }
        }
        if let Some(names) = names
            && names.len() != n
        {
            return Err(Error::Invalid(format!(
                "{} names for a {n} × {n} matrix",
                names.len()
            )));
        }
        let mut bad = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            for (j, &p) in r.iter().enumerate() {
                if !(0.0..=1.0).contains(&p) {
                    bad.push(format!(
                        "row {}, column {}: {p}",
                        label(names, i),
                        label(names, j)
                    ));
                }
            }
        }
        if !bad.is_empty() {
            return Err(Error::Invalid(format!(
                "entries outside [0, 1]: {}",
                list(&bad)
            )));
        }
        let mut bad = Vec::new();
        #[allow(clippy::needless_range_loop)] // (i, j) and (j, i) are read together
        for i in 0..n {
            let d = rows[i][i];
            if (d - 0.5).abs() > tol {
                bad.push(format!(
                    "diagonal row {}, column {}: {d} (must be 0.5)",
                    label(names, i),
                    label(names, i)
                ));
            }
            for j in i + 1..n {
                let (a, b) = (rows[i][j], rows[j][i]);
                if (a + b - 1.0).abs() > tol {
                    bad.push(format!(
                        "row {}, column {}: {a} + row {}, column {}: {b} = {}",
                        label(names, i),
                        label(names, j),
                        label(names, j),
                        label(names, i),
                        a + b
                    ));
                }
            }
        }
        if !bad.is_empty() {
            return Err(Error::Invalid(format!(
                "P + Pᵀ must be 1 (within {tol}): {}",
                list(&bad)
            )));
        }
        Self::from_upper(n, |i, j| 0.5 * (rows[i][j] + 1.0 - rows[j][i]))
    }

    /// The number of items.
    pub fn n(&self) -> usize {
        self.n
    }

    /// `P(i ≻ j)`.
    ///
    /// # Panics
    /// When `i` or `j` is out of range (a programming error, never user input).
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> f64 {
        match i.cmp(&j) {
            std::cmp::Ordering::Equal => 0.5,
            std::cmp::Ordering::Less => 0.5 + self.upper[row_start(self.n, i) + (j - i - 1)],
            std::cmp::Ordering::Greater => 0.5 - self.upper[row_start(self.n, j) + (i - j - 1)],
        }
    }

    /// The full matrix, row by row.
    pub fn to_rows(&self) -> Vec<Vec<f64>> {
        (0..self.n)
            .map(|i| (0..self.n).map(|j| self.get(i, j)).collect())
            .collect()
    }

    /// The largest `|P_ij − ½|`: the game's payoff scale (the step-size bounds use it).
    pub fn max_skew(&self) -> f64 {
        self.upper.iter().fold(0.0, |m, a| m.max(a.abs()))
    }

    /// A weighted average `Σ w_k P_k` of matrices over the same items.
    ///
    /// # Errors
    /// No matrices, sizes differ, or weights negative / summing to zero.
    pub fn mix(parts: &[(&PrefMatrix, f64)]) -> Result<Self> {
        let Some(first) = parts.first() else {
            return Err(Error::Invalid("no matrices to mix".into()));
        };
        let n = first.0.n;
        let total: f64 = parts.iter().map(|(_, w)| *w).sum();
        let bad_weight = |w: f64| w.is_nan() || w < 0.0;
        if parts.iter().any(|(m, w)| m.n != n || bad_weight(*w)) || total.is_nan() || total <= 0.0 {
            return Err(Error::Invalid(
                "matrices to mix must have the same size and non-negative weights".into(),
            ));
        }
        let mut upper = vec![0.0; first.0.upper.len()];
        for (m, w) in parts {
            for (u, a) in upper.iter_mut().zip(&m.upper) {
                *u += w / total * a;
            }
        }
        Ok(Self { n, upper })
    }

    /// `out = P q`: `out_i = Σ_j P(i ≻ j) q_j`, the win rate of each item against `q`
    /// when `q` is a policy. Uses rayon above a few hundred items.
    ///
    /// # Panics
    /// When `q` or `out` does not have `n` entries (a programming error).
    pub fn mul(&self, q: &[f64], out: &mut [f64]) {
        assert!(q.len() == self.n && out.len() == self.n);
        let threads = rayon::current_num_threads();
        if self.n >= PAR_MIN_N && threads > 1 {
            self.skew_mul_par(q, out, threads);
        } else {
            out.fill(0.0);
            self.skew_mul_rows(0, self.n, q, out);
        }
        let half = 0.5 * q.iter().sum::<f64>();
        for o in out.iter_mut() {
            *o += half;
        }
    }

    /// `out = P q` on one thread (the benchmark's single-thread figure).
    ///
    /// # Panics
    /// When `q` or `out` does not have `n` entries (a programming error).
    pub fn mul_serial(&self, q: &[f64], out: &mut [f64]) {
        assert!(q.len() == self.n && out.len() == self.n);
        out.fill(0.0);
        self.skew_mul_rows(0, self.n, q, out);
        let half = 0.5 * q.iter().sum::<f64>();
        for o in out.iter_mut() {
            *o += half;
        }
    }

    /// Adds `(A q)` restricted to the stored rows `lo..hi` into `out`: row `i` adds its
    /// dot product to `out_i` and subtracts `a_ij q_i` from every `out_j`, `j > i`.
    ///
    /// Rows go four at a time: each `q_j` and `out_j` is then loaded (and `out_j` stored)
    /// once for four matrix entries instead of once per entry, which is what bounds the
    /// loop once the matrix sits in cache.
    fn skew_mul_rows(&self, lo: usize, hi: usize, q: &[f64], out: &mut [f64]) {
        // Compiled once per instruction set (AVX2+FMA where the CPU has it, SSE2
        // otherwise) and chosen at run time.
        pulp::Arch::new().dispatch(SkewRows {
            upper: &self.upper,
            n: self.n,
            lo,
            hi,
            q,
            out,
        });
    }

    /// The product split into one row block of equal work per pool thread, each into
    /// its own buffer, then summed. `rayon::broadcast` gives block `k` to thread `k` on
    /// every call, so a thread keeps rereading the same part of the matrix, which then
    /// stays in its core's cache (work stealing would reshuffle the blocks).
    fn skew_mul_par(&self, q: &[f64], out: &mut [f64], threads: usize) {
        let n = self.n;
        let total = self.upper.len().max(1);
        let parts = threads.min(n / 64).max(1);
        // Row boundaries splitting the triangle's entries evenly.
        let mut bounds = vec![0usize];
        let mut row = 0;
        for p in 1..parts {
            let target = total * p / parts;
            while row < n && row_start(n, row) < target {
                row += 1;
            }
            bounds.push(row);
        }
        bounds.push(n);
        let partials: Vec<Vec<f64>> = rayon::broadcast(|ctx| {
            let k = ctx.index();
            if k >= parts {
                return Vec::new();
            }
            let mut buf = vec![0.0; n];
            self.skew_mul_rows(bounds[k], bounds[k + 1], q, &mut buf);
            buf
        });
        out.fill(0.0);
        for buf in &partials {
            for (o, b) in out.iter_mut().zip(buf) {
                *o += b;
            }
        }
    }
}

/// `out += (A q)` over the stored rows `lo..hi` of a packed skew matrix: row `i` adds
/// its dot product to `out_i` and subtracts `a_ij q_i` from every `out_j`, `j > i`.
///
/// Rows go four at a time: each `q_j` and `out_j` is then loaded (and `out_j` stored)
/// once for four matrix entries instead of once per entry, so the loop streams the
/// matrix at close to memory speed.
struct SkewRows<'a> {
    upper: &'a [f64],
    n: usize,
    lo: usize,
    hi: usize,
    q: &'a [f64],
    out: &'a mut [f64],
}

impl pulp::WithSimd for SkewRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let SkewRows {
            upper,
            n,
            lo,
            hi,
            q,
            out,
        } = self;
        let mut i = lo;
        while i + 4 <= hi && i + 4 < n {
            let base = i + 4;
            let len = n - base;
            let row = |k: usize| {
                let start = row_start(n, i + k) + (base - (i + k) - 1);
                &upper[start..start + len]
            };
            let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
            let (q0, q1, q2, q3) = (q[i], q[i + 1], q[i + 2], q[i + 3]);
            let (h0, t0) = S::as_simd_f64s(r0);
            let (h1, t1) = S::as_simd_f64s(r1);
            let (h2, t2) = S::as_simd_f64s(r2);
            let (h3, t3) = S::as_simd_f64s(r3);
            let (qh, qt) = S::as_simd_f64s(&q[base..]);
            let (head, rest) = out.split_at_mut(base);
            let (oh, ot) = S::as_mut_simd_f64s(rest);
            let (b0, b1, b2, b3) = (
                simd.splat_f64s(q0),
                simd.splat_f64s(q1),
                simd.splat_f64s(q2),
                simd.splat_f64s(q3),
            );
            let zero = simd.splat_f64s(0.0);
            let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
            for (((((&x0, &x1), &x2), &x3), &qv), o) in
                h0.iter().zip(h1).zip(h2).zip(h3).zip(qh).zip(oh.iter_mut())
            {
                a0 = simd.mul_add_f64s(x0, qv, a0);
                a1 = simd.mul_add_f64s(x1, qv, a1);
                a2 = simd.mul_add_f64s(x2, qv, a2);
                a3 = simd.mul_add_f64s(x3, qv, a3);
                let s = simd.mul_add_f64s(x1, b1, simd.mul_f64s(x0, b0));
                let s = simd.mul_add_f64s(x3, b3, simd.mul_add_f64s(x2, b2, s));
                *o = simd.sub_f64s(*o, s);
            }
            let mut s = [
                simd.reduce_sum_f64s(a0),
                simd.reduce_sum_f64s(a1),
                simd.reduce_sum_f64s(a2),
                simd.reduce_sum_f64s(a3),
            ];
            for (((((&x0, &x1), &x2), &x3), &qj), o) in
                t0.iter().zip(t1).zip(t2).zip(t3).zip(qt).zip(ot.iter_mut())
            {
                s[0] += x0 * qj;
                s[1] += x1 * qj;
                s[2] += x2 * qj;
                s[3] += x3 * qj;
                *o -= (x0 * q0 + x1 * q1) + (x2 * q2 + x3 * q3);
            }
            for (k, v) in s.iter().enumerate() {
                head[i + k] += v;
            }
            // The small triangle among the four rows themselves.
            for a in 0..3 {
                for b in a + 1..4 {
                    let v = upper[row_start(n, i + a) + (b - a - 1)];
                    head[i + a] += v * q[i + b];
                    head[i + b] -= v * q[i + a];
                }
            }
            i += 4;
        }
        for i in i..hi {
            let start = row_start(n, i);
            let row = &upper[start..start + (n - i - 1)];
            let qi = q[i];
            let (head, os) = out.split_at_mut(i + 1);
            let mut acc = 0.0;
            for ((r, qq), o) in row.iter().zip(&q[i + 1..]).zip(os.iter_mut()) {
                acc += r * qq;
                *o -= r * qi;
            }
            head[i] += acc;
        }
    }
}

fn list(items: &[String]) -> String {
    let mut s = items
        .iter()
        .take(MAX_LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if items.len() > MAX_LISTED {
        s.push_str(&format!("; and {} more", items.len() - MAX_LISTED));
    }
    s
}

/// A dense `rows × cols` payoff matrix for the row player (MaxMin's game against a set of
/// columns).
#[derive(Debug, Clone, PartialEq)]
pub struct Payoff {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Payoff {
    /// From columns (each of length `rows`).
    ///
    /// # Errors
    /// No columns, or columns of different lengths.
    pub fn from_columns(columns: &[Vec<f64>]) -> Result<Self> {
        let cols = columns.len();
        let rows = columns.first().map_or(0, Vec::len);
        if cols == 0 || rows == 0 || columns.iter().any(|c| c.len() != rows) {
            return Err(Error::Invalid(
                "a payoff matrix needs columns of one non-zero length".into(),
            ));
        }
        let mut data = vec![0.0; rows * cols];
        for (c, col) in columns.iter().enumerate() {
            for (r, v) in col.iter().enumerate() {
                data[r * cols + c] = *v;
            }
        }
        Ok(Self { rows, cols, data })
    }

    /// Number of rows (the row player's actions).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (the column player's actions).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Entry `(r, c)`.
    pub fn get(&self, r: usize, c: usize) -> f64 {
        self.data[r * self.cols + c]
    }

    /// `out = A y`.
    pub fn mul(&self, y: &[f64], out: &mut [f64]) {
        for (o, row) in out.iter_mut().zip(self.data.chunks_exact(self.cols)) {
            *o = row.iter().zip(y).map(|(a, b)| a * b).sum();
        }
    }

    /// `out = Aᵀ x`.
    pub fn tmul(&self, x: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        for (xr, row) in x.iter().zip(self.data.chunks_exact(self.cols)) {
            for (o, a) in out.iter_mut().zip(row) {
                *o += xr * a;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Sums of at most 1,000 products of numbers in [0, 1] with weights summing to 1, in a
    /// different order: a few hundred ulps at most.
    const SUM_ORDER_TOL: f64 = 1e-13;

    fn dense(m: &PrefMatrix, q: &[f64]) -> Vec<f64> {
        let rows = m.to_rows();
        rows.iter()
            .map(|r| r.iter().zip(q).map(|(a, b)| a * b).sum())
            .collect()
    }

    #[test]
    fn product_matches_the_dense_product() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for n in [1, 2, 3, 7, 8, 9, 17, 64, 400, 1001] {
            let m = PrefMatrix::from_upper(n, |_, _| rng.random::<f64>()).unwrap();
            let q: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
            let total: f64 = q.iter().sum();
            let q: Vec<f64> = q.iter().map(|x| x / total).collect();
            let want = dense(&m, &q);
            let mut got = vec![0.0; n];
            m.mul(&q, &mut got);
            let mut serial = vec![0.0; n];
            m.mul_serial(&q, &mut serial);
            for i in 0..n {
                assert!((got[i] - want[i]).abs() < SUM_ORDER_TOL, "n={n} i={i}");
                assert!((serial[i] - want[i]).abs() < SUM_ORDER_TOL, "n={n} i={i}");
            }
        }
    }

    #[test]
    fn entries_round_trip_and_complement() {
        let rows = vec![
            vec![0.5, 0.9, 0.2],
            vec![0.1, 0.5, 0.7],
            vec![0.8, 0.3, 0.5],
        ];
        let m = PrefMatrix::from_rows(&rows, None, DEFAULT_SUM_TOL).unwrap();
        // Stored as P − ½ and read back as ½ + (P − ½): exact up to one rounding.
        for (got, want) in m.to_rows().iter().flatten().zip(rows.iter().flatten()) {
            assert!((got - want).abs() < 1e-15);
        }
        assert!((m.max_skew() - 0.4).abs() < 1e-15);
    }

    #[test]
    fn bad_matrices_are_named() {
        let e = PrefMatrix::from_rows(&[vec![0.5, 0.5], vec![0.5]], None, 1e-3).unwrap_err();
        assert!(e.to_string().contains("row 2 has 1 columns"), "{e}");
        let e = PrefMatrix::from_rows(&[vec![0.5, 1.5], vec![-0.5, 0.5]], None, 1e-3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 1, column 2: 1.5") && e.contains("row 2, column 1: -0.5"));
        let names = vec!["a".to_string(), "b".to_string()];
        let e = PrefMatrix::from_rows(&[vec![0.5, 0.7], vec![0.7, 0.5]], Some(&names), 1e-3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 1 (a), column 2 (b): 0.7"), "{e}");
        let e = PrefMatrix::from_rows(&[vec![0.4, 0.5], vec![0.5, 0.5]], None, 1e-3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("diagonal"), "{e}");
        let e = PrefMatrix::from_rows(&[vec![f64::NAN]], None, 1e-3).unwrap_err();
        assert!(e.to_string().contains("NaN"), "{e}");
    }
}
