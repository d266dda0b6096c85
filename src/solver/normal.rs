//! The normal equations of the objective, built in one place.
//!
//! For a row `u` with the other side `Y` fixed (REFERENCE.md, "The exact row
//! solve"), and for a block `B` of its coordinates (iALS++) or a feature row
//! of a tower (iCD, where `s = Σ_u f_uj²` scales the Gramian):
//!
//! ```text
//! A = α0 s G[B, B] + Σ_t w_t y_tB y_tBᵀ + λ I,    w_t = c_t − α0,    b = Σ_t c_t p_t y_t
//! ```
//!
//! Every system of the crate goes through this module: the Cholesky and
//! block solvers, fold-in, `partial_fit`, explanations and the tower id and
//! attribute rows. The pieces, each written once:
//! - [`pair_weights`]: `(c − α0, c p)` of a raw value;
//! - [`NormalEquations::accumulate`]: the data part `D = Σ w y_B y_Bᵀ`,
//!   accumulated in `f32` over gathered chunks (register-tiled rank updates);
//! - [`assemble`]: `A = α0 s G[B, B] + D + λ I` as an `f64` upper triangle;
//! - [`NormalEquations::factor`] / [`NormalEquations::solve`]: Cholesky in
//!   `f64`, with a typed [`NotPositivePivot`] on failure.
//!
//! Conjugate gradient never forms `A` (it applies it, see `cg.rs`), but reads
//! the same pair weights.

use crate::confidence::Weighting;
use crate::error::Error;
use crate::factors::Factors;
use crate::linalg::{cholesky_upper, cholesky_upper_solve, syrk_lower};

use super::{chunk_rows, ensure_len, gather};

/// `(w, c p) = (c − α0, c p)` of a raw value `r`: the pair's weight in `A`
/// and its coefficient in `b`.
#[inline]
pub fn pair_weights(weighting: &Weighting, alpha0: f32, r: f32) -> (f32, f32) {
    let (c, cp) = weighting.weight_cp(r);
    (c - alpha0, cp)
}

/// A system that is not positive definite: the factorization met a
/// non-positive (or non-finite) pivot. Only possible with `λ = 0` (or
/// negative weights).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotPositivePivot {
    /// Index of the pivot within the system.
    pub index: usize,
}

impl NotPositivePivot {
    /// The crate error naming where the system came from.
    pub fn at(self, iteration: usize, side: &'static str, row: usize) -> Error {
        Error::NotPositiveDefinite {
            iteration,
            side,
            row,
            pivot: self.index,
        }
    }
}

impl std::fmt::Display for NotPositivePivot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "non-positive pivot {}", self.index)
    }
}

/// `A = scale · G[s.., s..] + D + λ I` (`b x b`) as an `f64` upper triangle
/// (row-major) in `u`, ready for [`cholesky_upper`]. `g64` is the full `k x k`
/// Gramian; `D` is the data part, a lower triangle (row-major `b x b`, `f32`
/// from [`NormalEquations::accumulate`] or `f64` partial sums of the towers);
/// `None` when there is none. `scale` is `α0` (times `Σ f²` for a feature row).
///
/// This is the one function that builds the objective's normal equations.
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn assemble<D: Copy + Into<f64>>(
    g64: &[f64],
    k: usize,
    s: usize,
    scale: f64,
    lambda: f64,
    data: Option<&[D]>,
    b: usize,
    u: &mut [f64],
) {
    for j in 0..b {
        let grow = &g64[(s + j) * k + s + j..(s + j) * k + s + b];
        let urow = &mut u[j * b + j..(j + 1) * b];
        match data {
            // Row j of U takes column j of D below the diagonal.
            Some(d) => {
                for (t, (o, &gv)) in urow.iter_mut().zip(grow).enumerate() {
                    *o = scale * gv + d[(j + t) * b + j].into();
                }
            }
            None => {
                for (o, &gv) in urow.iter_mut().zip(grow) {
                    *o = scale * gv;
                }
            }
        }
        urow[0] += lambda;
    }
}

/// Buffers of one system of up to `k x k` and its factor, reused row after
/// row (a hot loop allocates nothing once warm).
#[derive(Clone, Debug)]
pub struct NormalEquations {
    /// The data part `D` (`f32`, lower triangle, row-major `b x b`).
    pub(crate) data: Vec<f32>,
    /// `A`, then its factor `U` (`f64`, upper triangle, row-major `b x b`).
    pub(crate) factor: Vec<f64>,
    /// Right-hand side, then solution (`f64`).
    pub(crate) rhs: Vec<f64>,
    /// Factors of data-free systems, reused across rows.
    cache: FactorCache,
}

impl NormalEquations {
    /// Buffers for systems of up to `k x k`.
    pub fn new(k: usize) -> Self {
        NormalEquations {
            data: vec![0.0; k * k],
            factor: vec![0.0; k * k],
            rhs: vec![0.0; k],
            cache: FactorCache::default(),
        }
    }

    /// `D = Σ_t w_t y_tB y_tBᵀ` over the rows `idx` of `fixed` (columns
    /// `B = s..e`, weights `w`), into the lower triangle of `data`
    /// (`b x b`, zeroed first when there are rows). The rows are gathered
    /// chunk by chunk into `ybuf` (and `w y` into `zbuf`); `per_chunk(first,
    /// rows)` sees each gathered chunk (`first` = its offset in `idx`, `rows`
    /// = its `n x b` columns `B`), so a caller can reuse the gathered rows.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn accumulate(
        &mut self,
        fixed: &Factors,
        idx: &[u32],
        w: &[f32],
        s: usize,
        e: usize,
        ybuf: &mut Vec<f32>,
        zbuf: &mut Vec<f32>,
        mut per_chunk: impl FnMut(usize, &[f32]),
    ) {
        let b = e - s;
        let cap = chunk_rows(b);
        let rows = cap.min(idx.len());
        ensure_len(ybuf, rows * b);
        ensure_len(zbuf, rows * b);
        let d = &mut self.data[..b * b];
        if !idx.is_empty() {
            d.iter_mut().for_each(|v| *v = 0.0);
        }
        for (c, (idx, w)) in idx.chunks(cap).zip(w.chunks(cap)).enumerate() {
            let n = idx.len();
            gather(
                fixed,
                idx,
                s,
                e,
                &mut ybuf[..n * b],
                Some((w, &mut zbuf[..n * b])),
            );
            syrk_lower(d, b, 0, b, &zbuf[..n * b], &ybuf[..n * b], b, n);
            per_chunk(c * cap, &ybuf[..n * b]);
        }
    }

    /// [`assemble`] `A` from `g64` and the accumulated data part (if
    /// `has_data`), then factor it in place. A data-free system (identical
    /// for every row with the same `G`, `s`, `λ`) is looked up in the cache
    /// slot `slot` first; reuse gives exactly the result of factoring afresh.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn assemble_and_factor(
        &mut self,
        g64: &[f64],
        k: usize,
        s: usize,
        scale: f64,
        lambda: f64,
        has_data: bool,
        b: usize,
        slot: usize,
    ) -> Result<(), NotPositivePivot> {
        let data = has_data.then_some(&self.data[..b * b]);
        assemble(g64, k, s, scale, lambda, data, b, &mut self.factor);
        self.factor(b, slot, !has_data)
    }

    /// [`assemble`] `A` (`k x k`) from `g64` and an external data part (the
    /// `f64` sums of a tower feature row), then factor it in place.
    pub(crate) fn assemble_from<D: Copy + Into<f64>>(
        &mut self,
        g64: &[f64],
        k: usize,
        scale: f64,
        lambda: f64,
        data: &[D],
    ) -> Result<(), NotPositivePivot> {
        assemble(g64, k, 0, scale, lambda, Some(data), k, &mut self.factor);
        self.factor(k, 0, false)
    }

    /// Factor the assembled system (`b x b`) in place.
    pub(crate) fn factor(
        &mut self,
        b: usize,
        slot: usize,
        reusable: bool,
    ) -> Result<(), NotPositivePivot> {
        self.cache
            .factor(&mut self.factor, b, slot, reusable)
            .map_err(|index| NotPositivePivot { index })
    }

    /// Solve `A z = rhs` in place with the factor (`b x b`).
    #[inline]
    pub(crate) fn solve(&self, b: usize, rhs: &mut [f64]) {
        cholesky_upper_solve(&self.factor, b, rhs);
    }

    /// Solve `A z = self.rhs` in place (the first `b` entries).
    #[inline]
    pub(crate) fn solve_rhs(&mut self, b: usize) {
        cholesky_upper_solve(&self.factor, b, &mut self.rhs);
    }
}

/// Factors of systems without data part (`α0 G_BB + λ I`, identical for
/// every row whose non-zeros all have `c = α0`), one slot per block. A slot
/// is reused only when the new matrix equals the cached one bit for bit, so
/// reuse gives exactly the result of factoring afresh.
#[derive(Clone, Debug, Default)]
struct FactorCache {
    slots: Vec<Option<CachedFactor>>,
}

#[derive(Clone, Debug)]
struct CachedFactor {
    b: usize,
    /// The assembled upper triangle (row-major `b x b`; lower part zero).
    key: Vec<f64>,
    /// Its factor `U`.
    factor: Vec<f64>,
}

/// Bitwise equality of the upper triangles (so `-0.0` and `0.0` differ).
fn same_upper(a: &[f64], b: &[f64], n: usize) -> bool {
    (0..n).all(|j| {
        a[j * n + j..(j + 1) * n]
            .iter()
            .zip(&b[j * n + j..(j + 1) * n])
            .all(|(x, y)| x.to_bits() == y.to_bits())
    })
}

impl FactorCache {
    /// Factor the assembled `u` (`b x b`, upper) in place; when `reusable`
    /// (no data part), look the matrix up in `slot` first.
    fn factor(
        &mut self,
        u: &mut [f64],
        b: usize,
        slot: usize,
        reusable: bool,
    ) -> Result<(), usize> {
        let u = &mut u[..b * b];
        if !reusable {
            return cholesky_upper(u, b);
        }
        if self.slots.len() <= slot {
            self.slots.resize(slot + 1, None);
        }
        if let Some(c) = &self.slots[slot] {
            if c.b == b && same_upper(&c.key, u, b) {
                u.copy_from_slice(&c.factor);
                return Ok(());
            }
        }
        let entry = self.slots[slot].get_or_insert_with(|| CachedFactor {
            b,
            key: vec![0.0; b * b],
            factor: vec![0.0; b * b],
        });
        entry.b = b;
        entry.key.resize(b * b, 0.0);
        entry.factor.resize(b * b, 0.0);
        for j in 0..b {
            entry.key[j * b + j..(j + 1) * b].copy_from_slice(&u[j * b + j..(j + 1) * b]);
        }
        let result = cholesky_upper(u, b);
        if result.is_ok() {
            entry.factor.copy_from_slice(u);
        } else {
            // Never match a matrix that failed.
            self.slots[slot] = None;
        }
        result
    }
}
