//! The exact row solve: form `A_u` and `b_u`, Cholesky, solve.
//! Cost `O(|S_u| k² + k³)`.
//!
//! The data part `D = Σ (c − α0) y yᵀ` of `A_u` is accumulated in `f32`
//! (lower triangle): the weighted rows `y` are gathered into contiguous
//! chunks and added as one register-tiled rank update per chunk
//! ([`syrk_lower`](crate::linalg::syrk_lower)), each entry summed over the
//! rows in order. `A_u = α0 G + λ I + D` is then formed, factored and solved
//! in `f64`.

use super::{assemble_upper64, chunk_rows, ensure_len, gather, RowProblem, Workspace};
use crate::data::RowView;
use crate::linalg::{cholesky_upper_solve, rows_axpy, syrk_lower};

pub(crate) fn solve(
    pb: &RowProblem<'_>,
    row: RowView<'_>,
    lambda: f32,
    x: &mut [f32],
    ws: &mut Workspace,
) -> Result<(), usize> {
    let k = ws.k;
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
        cache,
        ..
    } = ws;
    // b = Σ c p y over every non-zero.
    let b = v1;
    b.iter_mut().for_each(|v| *v = 0.0);
    rows_axpy(pb.fixed.as_slice(), k, row.indices, cp, b);
    // D = Σ w y yᵀ over the weighted non-zeros, chunk by chunk (f32).
    let has_data = !widx.is_empty();
    if has_data {
        a.iter_mut().for_each(|v| *v = 0.0);
    }
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
    // A = α0 G + λ I + D in f64.
    assemble_upper64(
        pb.gram.as_f64(),
        k,
        0,
        pb.alpha0,
        lambda,
        has_data.then_some(&a[..]),
        k,
        l,
    );
    cache.factor(l, k, 0, !has_data)?;
    for (o, &v) in b64.iter_mut().zip(b.iter()) {
        *o = v as f64;
    }
    cholesky_upper_solve(l, k, b64);
    for (xi, &v) in x.iter_mut().zip(b64.iter()) {
        *xi = v as f32;
    }
    Ok(())
}
