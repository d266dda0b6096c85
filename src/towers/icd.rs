//! The iCD row updates of the towers (Bayer et al. 2017): the context of a
//! half-sweep and the id rows, all in parallel, each an exact minimization
//! of the objective over that row with everything else fixed (the attribute
//! rows are in [`super::attr`]). The systems are built by
//! [`crate::solver::normal`], like every other row system.

#![allow(clippy::needless_range_loop)] // CSR positions index several parallel arrays (values, weights, ŷ).

use rayon::prelude::*;

use super::side::Side;
use crate::confidence::Weighting;
use crate::data::interactions::sparse_row;
use crate::data::SparseMatrix;
use crate::error::Result;
use crate::factors::Factors;
use crate::gramian::Gramian;
use crate::linalg::{axpy, dot};
use crate::params::Params;
use crate::solver::{factor_row, pair_weights, NotPositivePivot, RowProblem, Workspace};

/// `(c − α0, c p)` of every non-zero of `m`.
pub(crate) fn all_pair_weights(params: &Params, m: &SparseMatrix) -> (Vec<f32>, Vec<f32>) {
    let wt = params.weighting();
    let a0 = params.unobserved_weight();
    m.data().iter().map(|&r| pair_weights(&wt, a0, r)).unzip()
}

/// What every row update of one half-sweep reads.
pub(crate) struct Ctx<'a> {
    /// This side's interactions (user-major when updating users).
    pub(crate) matrix: &'a SparseMatrix,
    /// `c − α0` of each non-zero of `matrix`.
    pub(crate) w: &'a [f32],
    /// `c p` of each non-zero of `matrix`.
    pub(crate) cp: &'a [f32],
    /// The other side's embeddings.
    pub(crate) other: &'a Factors,
    pub(crate) gram: &'a Gramian,
    pub(crate) weighting: Weighting,
    pub(crate) alpha0: f32,
    pub(crate) k: usize,
    pub(crate) iteration: usize,
}

/// Per-worker buffers of the id updates.
pub(crate) struct IdWs {
    ws: Workspace,
    corr: Vec<f32>,
    rhs: Vec<f64>,
    delta: Vec<f32>,
}

impl IdWs {
    pub(crate) fn new(k: usize) -> Self {
        IdWs {
            ws: Workspace::new(k),
            corr: vec![0.0; k],
            rhs: vec![0.0; k],
            delta: vec![0.0; k],
        }
    }
}

/// Exact update of the id row `a` of entity `u` (only `u`'s pairs move):
/// `a = A_u⁻¹ b` with `A_u` of plain iALS (the same system, built by
/// [`factor_row`]) and
/// `b = Σ_S c p y_i − Σ_S (c − α0) ŷ⁻ᵃ y_i − α0 G x_u⁻ᵃ`, the rest of `u`'s
/// embedding (`x_u⁻ᵃ = x_u − a`, `ŷ⁻ᵃ = ŷ − a·y`) held fixed. With id
/// features only both corrections are exactly 0 and this is the plain
/// Cholesky row solve, bit for bit.
#[allow(clippy::too_many_arguments)]
pub(crate) fn update_id(
    ctx: &Ctx<'_>,
    u: usize,
    lambda: f32,
    a: &mut [f32],
    xu: &mut [f32],
    yhat: &mut [f32],
    ws: &mut IdWs,
) -> Result<(), NotPositivePivot> {
    let k = ctx.k;
    let row = sparse_row(ctx.matrix, u);
    if row.is_empty() {
        return Ok(());
    }
    let base = ctx.matrix.indptr().raw_storage()[u];
    let pb = RowProblem {
        fixed: ctx.other,
        gram: ctx.gram,
        weighting: ctx.weighting,
        alpha0: ctx.alpha0,
    };
    factor_row(&pb, row, lambda, &mut ws.ws)?;
    // Σ (c − α0) ŷ⁻ᵃ y_i over u's pairs.
    ws.corr.iter_mut().for_each(|v| *v = 0.0);
    for (q, &i) in row.indices.iter().enumerate() {
        let y = ctx.other.row(i as usize);
        let rest = yhat[q] - dot(a, y);
        axpy(ctx.w[base + q] * rest, y, &mut ws.corr);
    }
    let g64 = ctx.gram.as_f64();
    let a0 = ctx.alpha0 as f64;
    let b = ws.ws.rhs32();
    for (c, bc) in ws.rhs.iter_mut().enumerate() {
        let gx: f64 = g64[c * k..(c + 1) * k]
            .iter()
            .zip(xu.iter().zip(a.iter()))
            .map(|(g, (&xv, &av))| g * (xv - av) as f64)
            .sum();
        *bc = (b[c] - ws.corr[c]) as f64 - a0 * gx;
    }
    ws.ws.solve_factored(&mut ws.rhs);
    for ((d, av), &v) in ws.delta.iter_mut().zip(a.iter_mut()).zip(&ws.rhs) {
        let new = v as f32;
        *d = new - *av;
        *av = new;
    }
    axpy(1.0, &ws.delta, xu);
    for (q, &i) in row.indices.iter().enumerate() {
        yhat[q] += dot(&ws.delta, ctx.other.row(i as usize));
    }
    Ok(())
}

pub(crate) fn update_ids(
    ctx: &Ctx<'_>,
    side: &mut Side,
    x: &mut Factors,
    yhat: &mut [f32],
) -> Result<()> {
    let k = ctx.k;
    let indptr = ctx.matrix.indptr();
    let indptr = indptr.raw_storage();
    let mut yhat_rows: Vec<&mut [f32]> = Vec::with_capacity(side.n_train);
    let mut rest = yhat;
    for w in indptr.windows(2) {
        let (head, tail) = rest.split_at_mut(w[1] - w[0]);
        yhat_rows.push(head);
        rest = tail;
    }
    let has_id = &side.has_id;
    let lambdas = &side.id_lambda;
    let tower = side.tower;
    side.id
        .as_mut_slice()
        .par_chunks_mut(k)
        .zip(x.as_mut_slice().par_chunks_mut(k))
        .zip(yhat_rows.par_iter_mut())
        .enumerate()
        .filter(|(u, _)| has_id[*u])
        .try_for_each_init(
            || IdWs::new(k),
            |ws, (u, ((a, xu), yh))| {
                update_id(ctx, u, lambdas[u], a, xu, yh, ws)
                    .map_err(|p| p.at(ctx.iteration, tower.name(), u))
            },
        )
}

/// `ŷ` of every non-zero of `matrix` (rows: `own`, columns: `other`).
pub(crate) fn predictions(
    matrix: &SparseMatrix,
    own: &Factors,
    other: &Factors,
    out: &mut Vec<f32>,
) {
    out.clear();
    out.resize(matrix.nnz(), 0.0);
    let indptr = matrix.indptr();
    let indptr = indptr.raw_storage();
    let indices = matrix.indices();
    out.par_iter_mut().enumerate().for_each(|(p, o)| {
        // The row of non-zero p: the last row starting at or before p.
        let u = indptr.partition_point(|&s| s <= p) - 1;
        *o = dot(own.row(u), other.row(indices[p] as usize));
    });
}
