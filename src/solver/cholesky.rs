//! The exact row solve: form `A_u` and `b_u`, Cholesky, solve.
//! Cost `O(|S_u| k² + k³)`.
//!
//! The data part `D = Σ (c − α0) y yᵀ` of `A_u` is accumulated in `f32`
//! (lower triangle) by [`NormalEquations::accumulate`]; `A_u = α0 G + λ I + D`
//! is then formed, factored and solved in `f64` (see [`super::normal`]).

use super::{RowProblem, Workspace};
use crate::data::RowView;
use crate::linalg::rows_axpy;

#[cfg(doc)]
use super::NormalEquations;
use super::NotPositivePivot;

/// Form `b_u` (into `v1`) and `A_u`, and factor `A_u` (in `eq`), for a
/// prepared row.
pub(crate) fn factor(
    pb: &RowProblem<'_>,
    row: RowView<'_>,
    lambda: f32,
    ws: &mut Workspace,
) -> Result<(), NotPositivePivot> {
    let k = ws.k;
    let Workspace {
        cp,
        widx,
        wval,
        eq,
        v1,
        ybuf,
        zbuf,
        ..
    } = ws;
    // b = Σ c p y over every non-zero.
    v1.iter_mut().for_each(|v| *v = 0.0);
    rows_axpy(pb.fixed.as_slice(), k, row.indices, cp, v1);
    // D = Σ w y yᵀ over the weighted non-zeros (f32), then A in f64.
    eq.accumulate(pb.fixed, widx, wval, 0, k, ybuf, zbuf, |_, _| {});
    eq.assemble_and_factor(
        pb.gram.as_f64(),
        k,
        0,
        pb.alpha0 as f64,
        lambda as f64,
        !widx.is_empty(),
        k,
        0,
    )
}

pub(crate) fn solve(
    pb: &RowProblem<'_>,
    row: RowView<'_>,
    lambda: f32,
    x: &mut [f32],
    ws: &mut Workspace,
) -> Result<(), NotPositivePivot> {
    factor(pb, row, lambda, ws)?;
    let k = ws.k;
    for (o, &v) in ws.eq.rhs.iter_mut().zip(ws.v1.iter()) {
        *o = v as f64;
    }
    ws.eq.solve_rhs(k);
    for (xi, &v) in x.iter_mut().zip(ws.eq.rhs.iter()) {
        *xi = v as f32;
    }
    Ok(())
}
