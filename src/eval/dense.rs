//! Blocked, parallel inverse of a dense symmetric positive definite `f64`
//! matrix, for EASE.
//!
//! Right-looking blocked Cholesky `A = L Lᵀ` in place (tiles of `nb`, the
//! trailing update as `dgemm` calls from `matrixmultiply`, rayon over
//! tiles), then `P = A⁻¹` by independent column-block solves
//! `L Lᵀ P[:, J] = I[:, J]` (rayon over column blocks). Only the part of
//! `P[:, J]` at rows `≥ J` is computed and it is stored transposed in the
//! (free) upper triangle of the same buffer, so the whole inverse needs the
//! one `n x n` matrix plus `O(n nb)` workspace per thread.
//!
//! Every tile is computed by one thread in a fixed order, so the result is
//! bit-identical for any number of threads.

use rayon::prelude::*;

use crate::error::{Error, Result};

/// Tile size of the Cholesky and of the column-block solves.
pub const TILE: usize = 192;

#[derive(Clone, Copy)]
struct Ptr(*mut f64);
// SAFETY: every parallel task below writes a region of the matrix no other
// concurrent task reads or writes (documented at each use).
unsafe impl Send for Ptr {}
unsafe impl Sync for Ptr {}

impl Ptr {
    /// A method (not the field) so closures capture the whole `Ptr`.
    fn get(self) -> *mut f64 {
        self.0
    }
}

/// A strided view: element `(r, c)` at `p + r · rs + c · cs`.
#[derive(Clone, Copy)]
struct View {
    p: *const f64,
    rs: usize,
    cs: usize,
}

/// A row-major view with row stride `rs`.
fn row_major(p: *const f64, rs: usize) -> View {
    View { p, rs, cs: 1 }
}

/// A transposed view: rows of the result are columns of the storage.
fn cols(p: *const f64, cs: usize) -> View {
    View { p, rs: 1, cs }
}

/// `C (m x n) −= A (m x k) · B (k x n)`, `C` row-major with row stride `rsc`.
///
/// # Safety
/// The pointers must address the given strided regions.
unsafe fn gemm_sub(m: usize, k: usize, n: usize, a: View, b: View, c: *mut f64, rsc: usize) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    // SAFETY: forwarded from the caller.
    unsafe {
        matrixmultiply::dgemm(
            m,
            k,
            n,
            -1.0,
            a.p,
            a.rs as isize,
            a.cs as isize,
            b.p,
            b.rs as isize,
            b.cs as isize,
            1.0,
            c,
            rsc as isize,
            1,
        )
    }
}

/// Invert the symmetric positive definite row-major `n x n` matrix `a` in
/// place (only its lower triangle is read); on success `a` holds the full
/// symmetric inverse. `nb` is the tile size ([`TILE`] in production).
///
/// Fails with an [`Error::TooLarge`] naming the pivot when the matrix is
/// not positive definite (then `a` holds partial results).
pub fn spd_inverse_in_place(a: &mut [f64], n: usize, nb: usize) -> Result<()> {
    assert_eq!(a.len(), n * n, "invariant: a is n x n");
    assert!(nb > 0);
    blocked_cholesky(a, n, nb)?;
    inverse_from_cholesky(a, n, nb);
    Ok(())
}

fn blocks(n: usize, nb: usize) -> Vec<(usize, usize)> {
    (0..n.div_ceil(nb))
        .map(|b| (b * nb, ((b + 1) * nb).min(n)))
        .collect()
}

/// Lower Cholesky factor in place (the strict upper triangle is left as is).
fn blocked_cholesky(a: &mut [f64], n: usize, nb: usize) -> Result<()> {
    let bl = blocks(n, nb);
    let p = Ptr(a.as_mut_ptr());
    for (kb, &(k0, k1)) in bl.iter().enumerate() {
        // 1. Unblocked Cholesky of the diagonal tile.
        for c in k0..k1 {
            let mut d = a[c * n + c];
            for l in k0..c {
                d -= a[c * n + l] * a[c * n + l];
            }
            if !(d > 0.0 && d.is_finite()) {
                return Err(Error::TooLarge(format!(
                    "EASE: XᵀX + λI is not positive definite (pivot {c} is {d:e})"
                )));
            }
            let d = d.sqrt();
            a[c * n + c] = d;
            for r in c + 1..k1 {
                let mut s = a[r * n + c];
                for l in k0..c {
                    s -= a[r * n + l] * a[c * n + l];
                }
                a[r * n + c] = s / d;
            }
        }
        // 2. Panel rows below: x L_kkᵀ = a_r, each row by one task.
        // Task r writes a[r][k0..k1] and reads the diagonal tile (rows k0..k1).
        (k1..n).into_par_iter().for_each(|r| {
            // SAFETY: row r > k1 segment is written by this task only; the
            // diagonal tile rows k0..k1 < r are only read.
            unsafe {
                let row = p.get().add(r * n);
                for c in k0..k1 {
                    let lc = p.get().add(c * n);
                    let mut s = *row.add(c);
                    for l in k0..c {
                        s -= *row.add(l) * *lc.add(l);
                    }
                    *row.add(c) = s / *lc.add(c);
                }
            }
        });
        // 3. Trailing update of tiles (i, j), kb < j <= i: A_ij -= L_ik L_jkᵀ.
        let tiles: Vec<(usize, usize)> = (kb + 1..bl.len())
            .flat_map(|i| (kb + 1..=i).map(move |j| (i, j)))
            .collect();
        tiles.par_iter().for_each(|&(i, j)| {
            let ((i0, i1), (j0, j1)) = (bl[i], bl[j]);
            // SAFETY: tile (i, j) with j > kb is written by this task only;
            // the panel column block kb is only read in this step.
            unsafe {
                gemm_sub(
                    i1 - i0,
                    k1 - k0,
                    j1 - j0,
                    row_major(p.get().add(i0 * n + k0), n),
                    cols(p.get().add(j0 * n + k0), n),
                    p.get().add(i0 * n + j0),
                    n,
                );
            }
        });
    }
    Ok(())
}

/// From the lower factor `L` in `a`, the full inverse in `a`.
fn inverse_from_cholesky(a: &mut [f64], n: usize, nb: usize) {
    let bl = blocks(n, nb);
    // Diagonal tiles of P would overwrite those of L, which other column
    // blocks still need: they go to separate buffers and are copied last.
    let p = Ptr(a.as_mut_ptr());
    let diag: Vec<Vec<f64>> = bl
        .par_iter()
        .enumerate()
        .map_init(Vec::new, |z, (jb, &(j0, j1))| {
            let m = j1 - j0;
            let rows = n - j0;
            z.clear();
            z.resize(rows * m, 0.0);
            // SAFETY: L (the lower triangle) is only read; this task writes
            // the strict-upper region rows j0..j1, columns j1..n, which no
            // other task touches (different row range).
            unsafe {
                let l = p.get() as *const f64;
                let zp = z.as_mut_ptr();
                // z = I[j0.., J] (row-major, stride m).
                for c in 0..m {
                    *zp.add(c * m + c) = 1.0;
                }
                // Row r (>= j0) of z.
                let z_at = |r: usize| zp.add((r - j0) * m);
                // Forward: L z = e, block by block (right-looking).
                for &(k0, k1) in &bl[jb..] {
                    trsm_lower(l, n, k0, k1, z_at(k0), m);
                    let (a, b) = (row_major(l.add(k1 * n + k0), n), row_major(z_at(k0), m));
                    gemm_sub(n - k1, k1 - k0, m, a, b, z_at(k1), m);
                }
                // Backward: Lᵀ z = y, from the last block up (left-looking).
                for &(i0, i1) in bl[jb..].iter().rev() {
                    let (a, b) = (cols(l.add(i1 * n + i0), n), row_major(z_at(i1), m));
                    gemm_sub(i1 - i0, n - i1, m, a, b, z_at(i0), m);
                    trsm_lower_t(l, n, i0, i1, z_at(i0), m);
                }
                // P[r][c] for r >= j1 goes to a[c][r] (strict upper).
                for c in 0..m {
                    let dst = p.get().add((j0 + c) * n);
                    for r in m..rows {
                        *dst.add(j0 + r) = *zp.add(r * m + c);
                    }
                }
            }
            z[..m * m].to_vec()
        })
        .collect();
    for (&(j0, j1), d) in bl.iter().zip(&diag) {
        let m = j1 - j0;
        for r in 0..m {
            a[(j0 + r) * n + j0..(j0 + r) * n + j1].copy_from_slice(&d[r * m..(r + 1) * m]);
        }
    }
    // Mirror the strict upper triangle into the lower, tile by tile; the
    // task of tile row i writes the lower tiles (i, j < i) and reads the
    // upper tiles (j, i), which nobody writes.
    (0..bl.len()).into_par_iter().for_each(|i| {
        let (i0, i1) = bl[i];
        for &(j0, _) in &bl[..i] {
            let j1 = (j0 + nb).min(n);
            // SAFETY: see above.
            unsafe {
                for r in i0..i1 {
                    for c in j0..j1 {
                        *p.get().add(r * n + c) = *p.get().add(c * n + r);
                    }
                }
            }
        }
    });
}

/// Solve `L_kk x = z` in place for the diagonal tile `k0..k1` (`z` is
/// `t = k1 - k0` by `m`, row-major).
///
/// # Safety
/// `l` addresses the `n x n` matrix.
unsafe fn trsm_lower(l: *const f64, n: usize, k0: usize, k1: usize, z: *mut f64, m: usize) {
    let t = k1 - k0;
    // SAFETY: the caller passes t x m elements.
    let z = unsafe { std::slice::from_raw_parts_mut(z, t * m) };
    for r in 0..k1 - k0 {
        let (done, rest) = z.split_at_mut(r * m);
        let zr = &mut rest[..m];
        // SAFETY: in bounds of the n x n matrix.
        let lr = unsafe { std::slice::from_raw_parts(l.add((k0 + r) * n + k0), r + 1) };
        for (q, &w) in lr[..r].iter().enumerate() {
            if w != 0.0 {
                for (x, &y) in zr.iter_mut().zip(&done[q * m..(q + 1) * m]) {
                    *x -= w * y;
                }
            }
        }
        let d = 1.0 / lr[r];
        zr.iter_mut().for_each(|x| *x *= d);
    }
}

/// Solve `L_kkᵀ x = z` in place for the diagonal tile `k0..k1`.
///
/// # Safety
/// `l` addresses the `n x n` matrix.
unsafe fn trsm_lower_t(l: *const f64, n: usize, k0: usize, k1: usize, z: *mut f64, m: usize) {
    let t = k1 - k0;
    // SAFETY: the caller passes t x m elements.
    let z = unsafe { std::slice::from_raw_parts_mut(z, t * m) };
    for r in (0..t).rev() {
        // x_r = (z_r − Σ_{q>r} L[q][r] x_q) / L[r][r]
        let (head, done) = z.split_at_mut((r + 1) * m);
        let zr = &mut head[r * m..];
        for q in r + 1..t {
            // SAFETY: in bounds of the n x n matrix.
            let w = unsafe { *l.add((k0 + q) * n + k0 + r) };
            if w != 0.0 {
                let xq = &done[(q - r - 1) * m..(q - r) * m];
                for (x, &y) in zr.iter_mut().zip(xq) {
                    *x -= w * y;
                }
            }
        }
        // SAFETY: in bounds.
        let d = 1.0 / unsafe { *l.add((k0 + r) * n + k0 + r) };
        zr.iter_mut().for_each(|x| *x *= d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random_spd(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let x: Vec<f64> = (0..n * (n + 3))
            .map(|_| rng.random::<f64>() - 0.5)
            .collect();
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n + 3).map(|u| x[u * n + i] * x[u * n + j]).sum::<f64>()
                    + if i == j { 0.5 } else { 0.0 };
            }
        }
        a
    }

    #[test]
    fn blocked_inverse_matches_nalgebra() {
        for (n, nb, seed) in [(1, 4, 1), (5, 4, 2), (37, 8, 3), (64, 16, 4), (130, 192, 5)] {
            println!("n {n} nb {nb} seed {seed}");
            let a = random_spd(n, seed);
            let want = nalgebra::DMatrix::from_row_slice(n, n, &a)
                .try_inverse()
                .unwrap();
            let mut got = a.clone();
            // Garbage in the upper triangle must not matter.
            for i in 0..n {
                for j in i + 1..n {
                    got[i * n + j] = f64::NAN;
                }
            }
            spd_inverse_in_place(&mut got, n, nb).unwrap();
            for i in 0..n {
                for j in 0..n {
                    let (g, w) = (got[i * n + j], want[(i, j)]);
                    assert!((g - w).abs() <= 1e-9 * (1.0 + w.abs()), "{i} {j}: {g} {w}");
                }
            }
        }
    }

    #[test]
    fn bit_identical_on_one_and_two_threads() {
        let n = 75;
        let a = random_spd(n, 9);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut got = a.clone();
            pool.install(|| spd_inverse_in_place(&mut got, n, 8))
                .unwrap();
            got
        };
        assert_eq!(run(1), run(2));
    }

    #[test]
    fn not_positive_definite_is_an_error() {
        let mut a = vec![1.0, 2.0, 2.0, 1.0];
        assert!(spd_inverse_in_place(&mut a, 2, 1).is_err());
    }
}
