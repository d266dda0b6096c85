//! The exact row solve: form `A_u` and `b_u`, Cholesky, solve.
//! Cost `O(|S_u| k² + k³)`.

use super::{RowProblem, Workspace};
use crate::data::RowView;
use crate::linalg::{axpy, cholesky_in_place, cholesky_solve, syr_lower};

pub(crate) fn solve(
    pb: &RowProblem<'_>,
    row: RowView<'_>,
    lambda: f32,
    x: &mut [f32],
    ws: &mut Workspace,
) -> Result<(), usize> {
    let k = ws.k;
    let g = pb.gram.as_f32();
    for (a, &gv) in ws.a.iter_mut().zip(g) {
        *a = pb.alpha0 * gv;
    }
    let b = &mut ws.v1;
    b.iter_mut().for_each(|v| *v = 0.0);
    for ((&i, &w), &cp) in row.indices.iter().zip(&ws.w).zip(&ws.cp) {
        let y = pb.fixed.row(i as usize);
        syr_lower(&mut ws.a, k, w, y);
        axpy(cp, y, b);
    }
    for d in 0..k {
        ws.a[d * k + d] += lambda;
    }
    for (l, &a) in ws.l.iter_mut().zip(&ws.a) {
        *l = a as f64;
    }
    cholesky_in_place(&mut ws.l, k)?;
    for (o, &v) in ws.b64.iter_mut().zip(b.iter()) {
        *o = v as f64;
    }
    cholesky_solve(&ws.l, k, &mut ws.b64);
    for (xi, &v) in x.iter_mut().zip(&ws.b64) {
        *xi = v as f32;
    }
    Ok(())
}
