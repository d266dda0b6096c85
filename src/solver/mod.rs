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

use crate::confidence::Weighting;
use crate::data::RowView;
use crate::factors::Factors;
use crate::gramian::Gramian;
use crate::params::SolverKind;

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

/// Scratch space for one worker thread; sized for `k` factors and reused.
#[derive(Clone, Debug)]
pub struct Workspace {
    k: usize,
    /// `c − α0` of each non-zero of the current row.
    w: Vec<f32>,
    /// `c p` of each non-zero of the current row.
    cp: Vec<f32>,
    /// `k x k` system (f32).
    a: Vec<f32>,
    /// `k x k` factor (f64).
    l: Vec<f64>,
    /// Right-hand side / solution (f64).
    b64: Vec<f64>,
    /// Vectors of length k.
    v1: Vec<f32>,
    v2: Vec<f32>,
    v3: Vec<f32>,
    /// Cached predictions of the current row (block solver).
    yhat: Vec<f32>,
}

impl Workspace {
    /// A workspace for `k` factors.
    pub fn new(k: usize) -> Self {
        Workspace {
            k,
            w: Vec::new(),
            cp: Vec::new(),
            a: vec![0.0; k * k],
            l: vec![0.0; k * k],
            b64: vec![0.0; k],
            v1: vec![0.0; k],
            v2: vec![0.0; k],
            v3: vec![0.0; k],
            yhat: Vec::new(),
        }
    }

    /// Fill `w` and `cp` for a row.
    fn prepare(&mut self, row: RowView<'_>, pb: &RowProblem<'_>) {
        self.w.clear();
        self.cp.clear();
        for &r in row.values {
            let (c, cp) = pb.weighting.weight_cp(r);
            self.w.push(c - pb.alpha0);
            self.cp.push(cp);
        }
    }
}

/// Solve one row in place with the chosen solver.
///
/// `x` holds the current row (the warm start of CG and blocks) and receives
/// the new one. An empty row solves to exactly 0. Returns the index of a
/// non-positive pivot if the system is not positive definite.
#[allow(clippy::too_many_arguments)]
pub fn solve_row(
    solver: SolverKind,
    pb: &RowProblem<'_>,
    row: RowView<'_>,
    lambda: f32,
    cg_steps: usize,
    block_size: usize,
    x: &mut [f32],
    ws: &mut Workspace,
) -> Result<(), usize> {
    debug_assert_eq!(ws.k, x.len());
    if row.is_empty() {
        x.iter_mut().for_each(|v| *v = 0.0);
        return Ok(());
    }
    ws.prepare(row, pb);
    match solver {
        SolverKind::Cholesky => cholesky::solve(pb, row, lambda, x, ws),
        SolverKind::Cg => {
            cg::solve(pb, row, lambda, cg_steps, x, ws);
            Ok(())
        }
        SolverKind::Block => block::solve(pb, row, lambda, block_size, x, ws),
    }
}
