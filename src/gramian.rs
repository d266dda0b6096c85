//! The Gramian `G = YᵀY` of the fixed side, computed once per half-sweep.
//!
//! Deterministic in parallel: the output is split into bands of rows of `G`,
//! each band sums over all rows of `Y` in order (in `f32` over chunks of
//! `CHUNK` (256) rows with the register-tiled [`syrk_lower`] kernel, then in
//! `f64`), so no reduction depends on the thread count.
//! Cost `O(n k²)`.

use rayon::prelude::*;

use crate::factors::Factors;
use crate::linalg::syrk_lower;

/// Rows of `Y` summed in `f32` before being added to the `f64` total.
const CHUNK: usize = 256;

/// A `k x k` Gramian, full (both triangles), in `f64` and `f32`.
#[derive(Clone, Debug, PartialEq)]
pub struct Gramian {
    k: usize,
    full64: Vec<f64>,
    full32: Vec<f32>,
}

impl Gramian {
    /// `YᵀY`.
    pub fn of(y: &Factors) -> Self {
        let k = y.k();
        let bands = bands(k);
        let tiles: Vec<Vec<f64>> = bands.par_iter().map(|&(p, q)| band(y, p, q)).collect();
        let mut full64 = vec![0.0f64; k * k];
        for (&(p, q), tile) in bands.iter().zip(&tiles) {
            full64[p * k..q * k].copy_from_slice(tile);
        }
        // Mirror the lower triangle.
        for i in 0..k {
            for j in 0..i {
                full64[j * k + i] = full64[i * k + j];
            }
        }
        let full32 = full64.iter().map(|&v| v as f32).collect();
        Gramian { k, full64, full32 }
    }

    /// From full row-major `f64` entries (`k x k`; e.g. partial Gramians
    /// of row blocks summed elsewhere); `None` if the length is not `k²`.
    pub fn from_f64(k: usize, full64: Vec<f64>) -> Option<Self> {
        (full64.len() == k * k).then(|| {
            let full32 = full64.iter().map(|&v| v as f32).collect();
            Gramian { k, full64, full32 }
        })
    }

    /// Number of factors.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Row-major `f32` entries (symmetric).
    pub fn as_f32(&self) -> &[f32] {
        &self.full32
    }

    /// Row-major `f64` entries (symmetric).
    pub fn as_f64(&self) -> &[f64] {
        &self.full64
    }

    /// `⟨self, other⟩_F = Σ_ab self_ab other_ab`.
    pub fn frobenius_inner(&self, other: &Gramian) -> f64 {
        self.full64
            .iter()
            .zip(&other.full64)
            .map(|(a, b)| a * b)
            .sum()
    }
}

/// Bands `[p, q)` of rows of the lower triangle with about equal areas.
fn bands(k: usize) -> Vec<(usize, usize)> {
    let n_bands = k.min(8);
    let total = k * (k + 1) / 2;
    let mut out = Vec::with_capacity(n_bands);
    let mut p = 0;
    let mut area = 0;
    for i in 0..k {
        area += i + 1;
        let target = total * (out.len() + 1) / n_bands;
        // Cut at multiples of 8 rows so the kernel's register tiles stay whole.
        if (area >= target && (i + 1) % 8 == 0) || i + 1 == k {
            out.push((p, i + 1));
            p = i + 1;
        }
    }
    out
}

fn band(y: &Factors, p: usize, q: usize) -> Vec<f64> {
    let k = y.k();
    let mut total = vec![0.0f64; (q - p) * k];
    let mut part = vec![0.0f32; (q - p) * k];
    for chunk in y.as_slice().chunks(CHUNK * k.max(1)) {
        part.iter_mut().for_each(|v| *v = 0.0);
        syrk_lower(&mut part, k, p, q, chunk, chunk, k, chunk.len() / k);
        for (t, v) in total.iter_mut().zip(&part) {
            *t += *v as f64;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_and_is_symmetric() {
        for k in [1, 3, 8, 17] {
            let y = Factors::random_normal(600, k, 1.0, 3);
            let g = Gramian::of(&y);
            for a in 0..k {
                for b in 0..k {
                    let naive: f64 = (0..600)
                        .map(|i| y.row(i)[a] as f64 * y.row(i)[b] as f64)
                        .sum();
                    let got = g.as_f64()[a * k + b];
                    assert!((got - naive).abs() < 1e-3 * (1.0 + naive.abs()), "k={k}");
                }
            }
        }
    }
}
