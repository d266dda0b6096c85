//! The exact row solve: form `A_u` and `b_u`, Cholesky, solve.
//! Cost `O(|S_u| k² + k³)`.
//!
//! `A_u = α0 G + λ I + Σ (c − α0) y yᵀ` is accumulated in `f32` (lower
//! triangle): the weighted rows `y` are gathered into contiguous chunks and
//! added as one register-tiled rank update per chunk
//! ([`syrk_lower`](crate::linalg::syrk_lower)), each entry summed over the
//! rows in order. It is then factored and solved in `f64`.

use super::{chunk_rows, ensure_len, gather, lower_to_upper64, RowProblem, Workspace};
use crate::data::RowView;
use crate::linalg::{cholesky_upper, cholesky_upper_solve, rows_axpy, syrk_lower};

pub(crate) fn solve(
    pb: &RowProblem<'_>,
    row: RowView<'_>,
    lambda: f32,
    x: &mut [f32],
    ws: &mut Workspace,
) -> Result<(), usize> {
    let k = ws.k;
    let g = pb.gram.as_f32();
    let Workspace {
        cp,
        widx,
        wval,
        a,
        l,
        b64,
        v1,
        ybuf,
        zbuf,
        ..
    } = ws;
    // Whole rows (vectorizes); only the lower triangle is used.
    for (av, &gv) in a.iter_mut().zip(g) {
        *av = pb.alpha0 * gv;
    }
    for i in 0..k {
        a[i * k + i] += lambda;
    }
    // b = Σ c p y over every non-zero.
    let b = v1;
    b.iter_mut().for_each(|v| *v = 0.0);
    rows_axpy(pb.fixed.as_slice(), k, row.indices, cp, b);
    // A += Σ w y yᵀ over the weighted non-zeros, chunk by chunk.
    let cap = chunk_rows(k);
    ensure_len(ybuf, cap.min(widx.len()) * k);
    ensure_len(zbuf, cap.min(widx.len()) * k);
    for (idx, w) in widx.chunks(cap).zip(wval.chunks(cap)) {
        let n = idx.len();
        gather(
            pb.fixed,
            idx,
            0,
            k,
            &mut ybuf[..n * k],
            Some((w, &mut zbuf[..n * k])),
        );
        syrk_lower(a, k, 0, k, &zbuf[..n * k], &ybuf[..n * k], k, n);
    }
    lower_to_upper64(a, k, l);
    cholesky_upper(l, k)?;
    for (o, &v) in b64.iter_mut().zip(b.iter()) {
        *o = v as f64;
    }
    cholesky_upper_solve(l, k, b64);
    for (xi, &v) in x.iter_mut().zip(b64.iter()) {
        *xi = v as f32;
    }
    Ok(())
}
