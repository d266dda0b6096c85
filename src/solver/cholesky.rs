//! The exact row solve: form `A_u` and `b_u`, Cholesky, solve.
//! Cost `O(|S_u| k² + k³)`.
//!
//! The data part `D = Σ (c − α0) y yᵀ` of `A_u` is accumulated in `f32`
//! (lower triangle) by [`NormalEquations::accumulate`]; `A_u = α0 G + λ I + D`
//! is then formed, factored and solved in `f64` (see [`super::normal`]).

use super::{RowProblem, Workspace};
use crate::data::RowView;

#[cfg(doc)]
use super::NormalEquations;
use super::NotPositivePivot;

/// Form `b_u` (into the workspace's `b`) and `A_u`, and factor `A_u` (in
/// `eq`), for a non-empty row: what the Cholesky solve, explanations and the
/// tower id rows share.
pub(crate) fn factor_row(
    pb: &RowProblem<'_>,
    row: RowView<'_>,
    lambda: f32,
    ws: &mut Workspace,
) -> Result<(), NotPositivePivot> {
    ws.prepare_with_b(row, pb);
    let k = ws.k;
    let (pairs, bufs) = (&ws.pairs, &mut ws.bufs);
    // D = Σ w y yᵀ over the weighted non-zeros (f32), then A in f64.
    let (widx, wval) = (&pairs.widx, &pairs.wval);
    ws.eq.accumulate(
        pb.fixed,
        widx,
        wval,
        0,
        k,
        &mut bufs.ybuf,
        &mut bufs.zbuf,
        |_, _| {},
    );
    let (g, a0, l) = (pb.gram.as_f64(), pb.alpha0 as f64, lambda as f64);
    ws.eq
        .assemble_and_factor(g, k, 0, a0, l, !widx.is_empty(), k, 0)
}

/// `x = A_u⁻¹ b_u` after [`factor_row`].
pub(crate) fn solve(x: &mut [f32], ws: &mut Workspace) {
    let k = ws.k;
    for (o, &v) in ws.eq.rhs.iter_mut().zip(ws.b.iter()) {
        *o = v as f64;
    }
    ws.eq.solve_rhs(k);
    for (xi, &v) in x.iter_mut().zip(ws.eq.rhs.iter()) {
        *xi = v as f32;
    }
}
