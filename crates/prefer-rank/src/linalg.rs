//! Small dense linear algebra for Newton steps and covariances: a row-major symmetric
//! matrix and its Cholesky factorization. The systems here are one row per rated item
//! (hundreds), so a plain O(n^3) factorization is the right tool.

// Index loops read like the textbook algorithms they are; `!(d > 0.0)` is deliberate:
// it is also true for NaN.
#![allow(clippy::needless_range_loop, clippy::neg_cmp_op_on_partial_ord)]

/// A dense row-major square matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// Number of rows (= columns).
    pub n: usize,
    /// Entries, row-major.
    pub data: Vec<f64>,
}

impl Matrix {
    /// The n x n zero matrix.
    pub fn zeros(n: usize) -> Self {
        Self {
            n,
            data: vec![0.0; n * n],
        }
    }

    /// Entry (i, j).
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.n + j]
    }

    /// Adds `x` to entry (i, j).
    #[inline]
    pub fn add(&mut self, i: usize, j: usize, x: f64) {
        self.data[i * self.n + j] += x;
    }

    /// Sets entry (i, j).
    #[inline]
    pub fn set(&mut self, i: usize, j: usize, x: f64) {
        self.data[i * self.n + j] = x;
    }

    /// Matrix-vector product.
    pub fn mul_vec(&self, x: &[f64]) -> Vec<f64> {
        (0..self.n)
            .map(|i| {
                self.data[i * self.n..(i + 1) * self.n]
                    .iter()
                    .zip(x)
                    .map(|(a, b)| a * b)
                    .sum()
            })
            .collect()
    }

    /// Matrix product.
    pub fn mul(&self, other: &Matrix) -> Matrix {
        let n = self.n;
        let mut out = Matrix::zeros(n);
        for i in 0..n {
            for k in 0..n {
                let a = self.get(i, k);
                if a == 0.0 {
                    continue;
                }
                for j in 0..n {
                    out.data[i * n + j] += a * other.data[k * n + j];
                }
            }
        }
        out
    }
}

/// The lower-triangular Cholesky factor L of a symmetric positive definite matrix
/// (A = L L^T), or `None` when A is not positive definite.
pub fn cholesky(a: &Matrix) -> Option<Matrix> {
    let n = a.n;
    let mut l = Matrix::zeros(n);
    for j in 0..n {
        let mut d = a.get(j, j);
        for k in 0..j {
            d -= l.get(j, k) * l.get(j, k);
        }
        if !(d > 0.0) || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        l.set(j, j, d);
        for i in j + 1..n {
            let mut s = a.get(i, j);
            for k in 0..j {
                s -= l.get(i, k) * l.get(j, k);
            }
            l.set(i, j, s / d);
        }
    }
    Some(l)
}

/// Solves A x = b given A's Cholesky factor.
pub fn cholesky_solve(l: &Matrix, b: &[f64]) -> Vec<f64> {
    let n = l.n;
    let mut y = b.to_vec();
    for i in 0..n {
        let mut s = y[i];
        for k in 0..i {
            s -= l.get(i, k) * y[k];
        }
        y[i] = s / l.get(i, i);
    }
    for i in (0..n).rev() {
        let mut s = y[i];
        for k in i + 1..n {
            s -= l.get(k, i) * y[k];
        }
        y[i] = s / l.get(i, i);
    }
    y
}

/// The inverse of a symmetric positive definite matrix, or `None`.
pub fn spd_inverse(a: &Matrix) -> Option<Matrix> {
    let l = cholesky(a)?;
    let n = a.n;
    let mut inv = Matrix::zeros(n);
    let mut e = vec![0.0; n];
    for j in 0..n {
        e.iter_mut().for_each(|x| *x = 0.0);
        e[j] = 1.0;
        let col = cholesky_solve(&l, &e);
        for i in 0..n {
            inv.set(i, j, col[i]);
        }
    }
    Some(inv)
}

/// Solves A x = b for symmetric positive definite A, adding a growing ridge to the
/// diagonal when A is (numerically) singular. Returns `None` only when even a large
/// ridge fails (non-finite entries).
pub fn solve_spd_ridged(a: &Matrix, b: &[f64]) -> Option<Vec<f64>> {
    if let Some(l) = cholesky(a) {
        return Some(cholesky_solve(&l, b));
    }
    let scale = (0..a.n).map(|i| a.get(i, i).abs()).fold(1e-12, f64::max);
    let mut ridge = scale * 1e-10;
    while ridge < scale * 1e6 {
        let mut r = a.clone();
        for i in 0..a.n {
            r.add(i, i, ridge);
        }
        if let Some(l) = cholesky(&r) {
            return Some(cholesky_solve(&l, b));
        }
        ridge *= 100.0;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_of_a_known_matrix() {
        // [[4, 2], [2, 3]]^-1 = [[3, -2], [-2, 4]] / 8
        let mut a = Matrix::zeros(2);
        a.data = vec![4.0, 2.0, 2.0, 3.0];
        let inv = spd_inverse(&a).unwrap();
        let want = [3.0 / 8.0, -2.0 / 8.0, -2.0 / 8.0, 4.0 / 8.0];
        for (x, y) in inv.data.iter().zip(want) {
            assert!((x - y).abs() < 1e-15);
        }
        let x = solve_spd_ridged(&a, &[1.0, 2.0]).unwrap();
        // A x = b
        let b = a.mul_vec(&x);
        assert!((b[0] - 1.0).abs() < 1e-14 && (b[1] - 2.0).abs() < 1e-14);
        let mut neg = a.clone();
        neg.data[0] = -1.0;
        assert!(cholesky(&neg).is_none());
    }
}
