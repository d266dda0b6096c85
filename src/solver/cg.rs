//! Warm-started conjugate gradient (Takács et al. 2011), never forming `A_u`:
//! `A_u v = α0 G v + λ_u v + Σ_{i∈S_u} (c_ui − α0)(y_i·v) y_i`.
//! Cost `O(steps (k² + |S_u| k))` a row.

use super::{RowProblem, Workspace};
use crate::data::RowView;
use crate::linalg::{axpy, dot, gemv};

/// Residual norm² below which the row counts as solved.
const TOL: f32 = 1e-20;

pub(crate) fn solve(
    pb: &RowProblem<'_>,
    row: RowView<'_>,
    lambda: f32,
    steps: usize,
    x: &mut [f32],
    ws: &mut Workspace,
) {
    let k = ws.k;
    let g = pb.gram.as_f32();
    let Workspace {
        w, cp, v1, v2, v3, ..
    } = ws;
    let (r, p, ap) = (v1, v2, v3);
    // r = b − A x
    gemv(g, k, x, ap);
    for ((ri, &api), &xi) in r.iter_mut().zip(ap.iter()).zip(x.iter()) {
        *ri = -pb.alpha0 * api - lambda * xi;
    }
    for ((&i, &wj), &cpj) in row.indices.iter().zip(w.iter()).zip(cp.iter()) {
        let y = pb.fixed.row(i as usize);
        axpy(cpj - wj * dot(y, x), y, r);
    }
    p.copy_from_slice(r);
    let mut rs = dot(r, r);
    for _ in 0..steps {
        if rs < TOL {
            break;
        }
        // ap = A p
        gemv(g, k, p, ap);
        for (a, &pi) in ap.iter_mut().zip(p.iter()) {
            *a = pb.alpha0 * *a + lambda * pi;
        }
        for (&i, &wj) in row.indices.iter().zip(w.iter()) {
            let y = pb.fixed.row(i as usize);
            axpy(wj * dot(y, p), y, ap);
        }
        let pap = dot(p, ap);
        if pap.is_nan() || pap <= 0.0 {
            break;
        }
        let step = rs / pap;
        axpy(step, p, x);
        axpy(-step, ap, r);
        let rs_new = dot(r, r);
        let beta = rs_new / rs;
        for (pi, &ri) in p.iter_mut().zip(r.iter()) {
            *pi = ri + beta * *pi;
        }
        rs = rs_new;
    }
}
