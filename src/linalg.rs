//! Small dense kernels for the row solves: dot products, rank-one updates of
//! the lower triangle, and an allocation-free Cholesky on caller-owned buffers.
//!
//! All reductions run in a fixed order (fixed lane count), so results do not
//! depend on threads.

/// `Σ a_i b_i` with eight independent accumulators (vectorizes; fixed order).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// `Σ a_i b_i` in `f64`.
#[inline]
pub fn dot64(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f64; 4];
    let ca = a.chunks_exact(4);
    let cb = b.chunks_exact(4);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut tail = 0.0f64;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    (acc[0] + acc[2]) + (acc[1] + acc[3]) + tail
}

/// `y += alpha * x`.
#[inline]
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    debug_assert_eq!(x.len(), y.len());
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// Lower-triangle rank-one update of a row-major `k x k` matrix:
/// `A[i][j] += w y_i y_j` for `j <= i`.
#[inline]
pub fn syr_lower(a: &mut [f32], k: usize, w: f32, y: &[f32]) {
    debug_assert_eq!(a.len(), k * k);
    debug_assert_eq!(y.len(), k);
    for i in 0..k {
        let s = w * y[i];
        let row = &mut a[i * k..i * k + i + 1];
        for (aij, yj) in row.iter_mut().zip(&y[..=i]) {
            *aij += s * yj;
        }
    }
}

/// `out = A v` for a full (symmetric or not) row-major `k x k` matrix.
#[inline]
pub fn gemv(a: &[f32], k: usize, v: &[f32], out: &mut [f32]) {
    for (i, o) in out.iter_mut().enumerate().take(k) {
        *o = dot(&a[i * k..(i + 1) * k], v);
    }
}

/// In-place Cholesky of the lower triangle of a row-major `k x k` matrix
/// (`A = L Lᵀ`, `L` overwrites the lower triangle). The strict upper
/// triangle is ignored. Returns the index of the first non-positive pivot.
pub fn cholesky_in_place(a: &mut [f64], k: usize) -> Result<(), usize> {
    debug_assert!(a.len() >= k * k);
    for i in 0..k {
        for j in 0..=i {
            let (head, tail) = a.split_at_mut(i * k);
            let li = &tail[..k];
            let s = if j < i {
                let lj = &head[j * k..j * k + j];
                li[j] - dot64(&li[..j], lj)
            } else {
                li[i] - dot64(&li[..i], &li[..i])
            };
            if j == i {
                if !(s > 0.0 && s.is_finite()) {
                    return Err(i);
                }
                tail[i] = s.sqrt();
            } else {
                let d = head[j * k + j];
                tail[j] = s / d;
            }
        }
    }
    Ok(())
}

/// Solve `L Lᵀ x = b` in place (`b` becomes `x`) with the factor from
/// [`cholesky_in_place`].
pub fn cholesky_solve(l: &[f64], k: usize, b: &mut [f64]) {
    // Forward: L z = b.
    for i in 0..k {
        let s = b[i] - dot64(&l[i * k..i * k + i], &b[..i]);
        b[i] = s / l[i * k + i];
    }
    // Backward: Lᵀ x = z, column-oriented so that rows of L are read contiguously.
    for i in (0..k).rev() {
        let xi = b[i] / l[i * k + i];
        b[i] = xi;
        let row = &l[i * k..i * k + i];
        for (bp, lp) in b[..i].iter_mut().zip(row) {
            *bp -= lp * xi;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_spd_system() {
        // A = M Mᵀ + I for a fixed M.
        let k = 5;
        let m: Vec<f64> = (0..k * k)
            .map(|i| ((i * 7 % 11) as f64 - 5.0) / 3.0)
            .collect();
        let mut a = vec![0.0; k * k];
        for i in 0..k {
            for j in 0..k {
                a[i * k + j] = (0..k).map(|p| m[i * k + p] * m[j * k + p]).sum::<f64>()
                    + if i == j { 1.0 } else { 0.0 };
            }
        }
        let x_true: Vec<f64> = (0..k).map(|i| i as f64 - 2.0).collect();
        let mut b: Vec<f64> = (0..k)
            .map(|i| (0..k).map(|j| a[i * k + j] * x_true[j]).sum())
            .collect();
        let mut l = a.clone();
        cholesky_in_place(&mut l, k).unwrap();
        cholesky_solve(&l, k, &mut b);
        for i in 0..k {
            assert!((b[i] - x_true[i]).abs() < 1e-10, "{b:?}");
        }
    }

    #[test]
    fn cholesky_reports_non_positive_pivot() {
        let mut a = vec![1.0, 0.0, 2.0, 1.0]; // [[1,2],[2,1]] lower: 1; 2 1
        assert_eq!(cholesky_in_place(&mut a, 2), Err(1));
    }

    #[test]
    fn dot_matches_naive() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.25).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
    }
}
