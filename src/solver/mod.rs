//! Row solvers: each minimizes the objective over one row with the other side
//! fixed, using a per-thread [`Workspace`] (no allocation per row).
//!
//! For user `u` (items are symmetric, with `X` and `H`):
//!
//! ```text
//! A_u = α0 G + Σ_{i∈S_u} (c_ui − α0) y_i y_iᵀ + λ_u I,   b_u = Σ_{i∈S_u} c_ui p_ui y_i
//! ```

pub(crate) mod block;
pub(crate) mod cg;
pub(crate) mod cholesky;
pub mod normal;

use crate::confidence::Weighting;
use crate::data::RowView;
use crate::factors::Factors;
use crate::gramian::Gramian;
use crate::linalg::{prefetch, rows_axpy, PREFETCH_AHEAD};

pub(crate) use cholesky::factor_row;
pub use normal::{pair_weights, NormalEquations, NotPositivePivot};

/// The row solver of each half-sweep, with its settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Solver {
    /// Exact: form `A_u`, Cholesky-factor it, solve. `O(|S_u| k² + k³)` a row.
    Cholesky,
    /// Warm-started conjugate gradient with `steps` steps a row a sweep,
    /// never forming `A_u` (Takács et al. 2011; implicit's default).
    /// `O(steps (k² + |S_u| k))` a row.
    Cg {
        /// Steps a row a sweep (>= 1).
        steps: usize,
    },
    /// iALS++ subspace blocks of `size` coordinates (Rendle et al. 2021).
    /// `O(|S_u| k b + k² + k b²)` a row.
    Block {
        /// Coordinates a block (1..=k).
        size: usize,
    },
}

impl std::fmt::Display for Solver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Solver::Cholesky => f.write_str("cholesky"),
            Solver::Cg { steps } => write!(f, "cg ({steps} steps)"),
            Solver::Block { size } => write!(f, "block (size {size})"),
        }
    }
}

/// Everything a row solve reads: the fixed side, its Gramian, the weights.
#[derive(Clone, Copy)]
pub struct RowProblem<'a> {
    /// The fixed factors (`Y` when solving users).
    pub fixed: &'a Factors,
    /// `YᵀY`.
    pub gram: &'a Gramian,
    /// `r -> (c, p)`.
    pub weighting: Weighting,
    /// `α0`.
    pub alpha0: f32,
}

/// Floats of one gather buffer (256 KiB): rows of the fixed side are copied
/// into contiguous chunks of at most this size, so repeated passes over a
/// row's neighbours (CG steps, iALS++ blocks) run from cache.
const GATHER_FLOATS: usize = 1 << 16;

/// Rows of width `width` in one gather chunk.
pub(crate) fn chunk_rows(width: usize) -> usize {
    (GATHER_FLOATS / width.max(1)).max(16)
}

/// Scratch space for one worker thread; sized for `k` factors and reused
/// (buffers only grow, so a sweep allocates nothing per row once warm).
#[derive(Clone, Debug)]
pub struct Workspace {
    k: usize,
    /// The pair weights of the current row.
    pairs: Pairs,
    /// The system and its factor.
    eq: NormalEquations,
    /// `b_u = Σ c p y` of the current row (Cholesky, blocks).
    b: Vec<f32>,
    /// Vectors of length k.
    v: [Vec<f32>; 3],
    /// Row-sized buffers.
    bufs: Buffers,
}

/// The pair weights of one row.
#[derive(Clone, Debug, Default)]
struct Pairs {
    /// `c p` of each non-zero of the current row.
    cp: Vec<f32>,
    /// Column indices of the non-zeros with `c − α0 ≠ 0` ("weighted").
    widx: Vec<u32>,
    /// `c − α0` of the weighted non-zeros.
    wval: Vec<f32>,
}

/// Buffers that grow with the row.
#[derive(Clone, Debug, Default)]
struct Buffers {
    /// Cached predictions of the weighted non-zeros (block solver).
    yhat: Vec<f32>,
    /// Gathered rows `y` and scaled rows `w y` of the fixed side.
    ybuf: Vec<f32>,
    zbuf: Vec<f32>,
    /// Per-row coefficients of a gathered chunk.
    cbuf: Vec<f32>,
}

impl Workspace {
    /// A workspace for `k` factors.
    pub fn new(k: usize) -> Self {
        Workspace {
            k,
            pairs: Pairs::default(),
            eq: NormalEquations::new(k),
            b: vec![0.0; k],
            v: [vec![0.0; k], vec![0.0; k], vec![0.0; k]],
            bufs: Buffers::default(),
        }
    }

    /// Fill `cp` for every non-zero and `widx`/`wval` for the weighted ones.
    ///
    /// Non-zeros with `c = α0` add exactly nothing to `A_u` (their term is
    /// `0 · y yᵀ`), so the `O(k²)` and `O(k)`-per-step work skips them; `b_u`
    /// still counts every non-zero.
    fn prepare(&mut self, row: RowView<'_>, pb: &RowProblem<'_>) {
        let p = &mut self.pairs;
        p.cp.clear();
        p.widx.clear();
        p.wval.clear();
        for (&i, &r) in row.indices.iter().zip(row.values) {
            let (w, cp) = pair_weights(&pb.weighting, pb.alpha0, r);
            if w != 0.0 {
                p.widx.push(i);
                p.wval.push(w);
            }
            p.cp.push(cp);
        }
    }

    /// [`prepare`](Workspace::prepare), then `b_u = Σ c p y` over every
    /// non-zero (into `b`).
    fn prepare_with_b(&mut self, row: RowView<'_>, pb: &RowProblem<'_>) {
        self.prepare(row, pb);
        self.b.iter_mut().for_each(|v| *v = 0.0);
        rows_axpy(
            pb.fixed.as_slice(),
            self.k,
            row.indices,
            &self.pairs.cp,
            &mut self.b,
        );
    }

    /// `c p` of each non-zero of the row last prepared.
    pub(crate) fn cp(&self) -> &[f32] {
        &self.pairs.cp
    }

    /// `b_u = Σ c p y` (`f32`) of the last [`factor_row`].
    pub(crate) fn rhs32(&self) -> &[f32] {
        &self.b
    }

    /// Solve `A_u z = rhs` in place with the factor of the last
    /// [`factor_row`].
    pub(crate) fn solve_factored(&self, rhs: &mut [f64]) {
        self.eq.solve(self.k, rhs);
    }
}

/// Grow `v` to at least `n` entries (never shrinks, so no per-row allocation
/// once the largest row has been seen).
#[inline]
pub(crate) fn ensure_len(v: &mut Vec<f32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

/// Copy columns `s..e` of the rows `idx` of `fixed` into `ybuf` (stride
/// `e − s`), and, when `w` is given, `w_t y_t` into `zbuf`.
#[inline]
pub(crate) fn gather(
    fixed: &Factors,
    idx: &[u32],
    s: usize,
    e: usize,
    ybuf: &mut [f32],
    z: Option<(&[f32], &mut [f32])>,
) {
    let b = e - s;
    let k = fixed.k();
    let all = fixed.as_slice();
    for (t, (&i, out)) in idx.iter().zip(ybuf.chunks_exact_mut(b)).enumerate() {
        if let Some(&ip) = idx.get(t + PREFETCH_AHEAD) {
            prefetch(all, ip as usize * k + s, b);
        }
        out.copy_from_slice(&all[i as usize * k + s..i as usize * k + e]);
    }
    if let Some((w, zbuf)) = z {
        for ((yt, zt), &wt) in ybuf
            .chunks_exact(b)
            .zip(zbuf.chunks_exact_mut(b))
            .zip(w)
            .take(idx.len())
        {
            for (zo, &yv) in zt.iter_mut().zip(yt) {
                *zo = wt * yv;
            }
        }
    }
}

/// Solve one row in place with the chosen solver.
///
/// `x` holds the current row (the warm start of CG and blocks) and receives
/// the new one. An empty row solves to exactly 0. Fails with the pivot if
/// the system is not positive definite.
pub fn solve_row(
    solver: Solver,
    pb: &RowProblem<'_>,
    row: RowView<'_>,
    lambda: f32,
    x: &mut [f32],
    ws: &mut Workspace,
) -> Result<(), NotPositivePivot> {
    debug_assert_eq!(ws.k, x.len());
    if row.is_empty() {
        x.iter_mut().for_each(|v| *v = 0.0);
        return Ok(());
    }
    match solver {
        Solver::Cholesky => {
            factor_row(pb, row, lambda, ws)?;
            cholesky::solve(x, ws);
            Ok(())
        }
        Solver::Cg { steps } => {
            ws.prepare(row, pb);
            cg::solve(pb, row, lambda, steps, x, ws);
            Ok(())
        }
        Solver::Block { size } => {
            ws.prepare_with_b(row, pb);
            block::solve(pb, lambda, size, x, ws)
        }
    }
}
