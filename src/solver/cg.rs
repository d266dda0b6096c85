//! Warm-started conjugate gradient (Takács et al. 2011), never forming `A_u`:
//! `A_u v = α0 G v + λ_u v + Σ_{i∈S_u} (c_ui − α0)(y_i·v) y_i`.
//! Cost `O(steps (k² + |S_u| k))` a row.
//!
//! The weighted rows `y_i` (`c_ui ≠ α0`) are gathered once into a contiguous
//! buffer (when they fit in one chunk), and each product is one fused pass
//! over them ([`weighted_matvec`](crate::linalg::weighted_matvec)).

use super::{chunk_rows, ensure_len, gather, RowProblem, Workspace};
use crate::data::RowView;
use crate::factors::Factors;
use crate::linalg::{axpy, dot, rows_axpy, symv, weighted_matvec};

/// Residual norm² below which the row counts as solved.
const TOL: f32 = 1e-20;

/// `out += scale Σ_weighted w (y·v) y`, gathering chunk by chunk unless the
/// rows are already gathered in `ybuf` (`whole`).
#[allow(clippy::too_many_arguments)]
#[inline]
fn data_product(
    fixed: &Factors,
    widx: &[u32],
    wval: &[f32],
    ybuf: &mut [f32],
    whole: bool,
    scale: f32,
    v: &[f32],
    out: &mut [f32],
) {
    let k = v.len();
    if whole {
        weighted_matvec(&ybuf[..widx.len() * k], k, k, wval, scale, v, out);
        return;
    }
    let cap = chunk_rows(k);
    for (idx, w) in widx.chunks(cap).zip(wval.chunks(cap)) {
        let n = idx.len();
        gather(fixed, idx, 0, k, &mut ybuf[..n * k], None);
        weighted_matvec(&ybuf[..n * k], k, k, w, scale, v, out);
    }
}

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
    let Workspace { pairs, v, bufs, .. } = ws;
    let (cp, widx, wval) = (&pairs.cp, &pairs.widx, &pairs.wval);
    let [r, p, ap] = v;
    let ybuf = &mut bufs.ybuf;
    let cap = chunk_rows(k);
    let whole = widx.len() <= cap;
    ensure_len(ybuf, cap.min(widx.len()) * k);
    if whole {
        gather(pb.fixed, widx, 0, k, &mut ybuf[..widx.len() * k], None);
    }
    // r = b − A x
    symv(g, k, x, ap);
    for ((ri, &api), &xi) in r.iter_mut().zip(ap.iter()).zip(x.iter()) {
        *ri = -pb.alpha0 * api - lambda * xi;
    }
    rows_axpy(pb.fixed.as_slice(), k, row.indices, cp, r);
    data_product(pb.fixed, widx, wval, ybuf, whole, -1.0, x, r);
    p.copy_from_slice(r);
    let mut rs = dot(r, r);
    for _ in 0..steps {
        if rs < TOL {
            break;
        }
        // ap = A p
        symv(g, k, p, ap);
        for (a, &pi) in ap.iter_mut().zip(p.iter()) {
            *a = pb.alpha0 * *a + lambda * pi;
        }
        data_product(pb.fixed, widx, wval, ybuf, whole, 1.0, p, ap);
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
