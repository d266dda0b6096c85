//! iALS++ subspace blocks (Rendle et al. 2021). For each block `B` of `b`
//! coordinates, with the others fixed (accumulated in `f32`, solved in `f64`):
//!
//! ```text
//! M = α0 G_BB + Σ (c − α0) y_B y_Bᵀ + λ I_b
//! g = α0 (G x)_B + Σ [(c − α0) ŷ − c p] y_B + λ x_B
//! x_B ← x_B − M⁻¹ g,   ŷ += Δx_B · y_B
//! ```
//!
//! The prediction `ŷ` of each weighted non-zero (`c ≠ α0`) is cached, so a
//! block costs `O(|S_u| b² + k b + b³)`; one pass over all blocks costs
//! `O(|S_u| k b + k² + k b²)`. The `− c p y_B` part of `g` does not depend on
//! `x`, so `b_u = Σ c p y` is formed once and non-zeros with `c = α0` drop
//! out of the blocks. Columns `B` of the weighted rows are gathered into a
//! contiguous chunk and `M` gets one register-tiled rank update a chunk.
//! With `b = k` a pass is the exact Cholesky solve.

use super::{chunk_rows, ensure_len, gather, Buffers, NotPositivePivot, RowProblem, Workspace};
use crate::linalg::{dot, gemv, gemv_n, gemv_t};

/// One pass over the blocks of a prepared row (`b = Σ c p y` formed).
pub(crate) fn solve(
    pb: &RowProblem<'_>,
    lambda: f32,
    block_size: usize,
    x: &mut [f32],
    ws: &mut Workspace,
) -> Result<(), NotPositivePivot> {
    let k = ws.k;
    let g = pb.gram.as_f32();
    let (widx, wval) = (&ws.pairs.widx, &ws.pairs.wval);
    let (eq, bfull) = (&mut ws.eq, &ws.b);
    let [gx, delta, gb] = &mut ws.v;
    let Buffers {
        yhat,
        ybuf,
        zbuf,
        cbuf,
    } = &mut ws.bufs;
    // Cached predictions of the weighted non-zeros.
    yhat.clear();
    yhat.extend(widx.iter().map(|&i| dot(pb.fixed.row(i as usize), x)));
    let nw = widx.len();
    let mut s = 0;
    while s < k {
        let e = (s + block_size).min(k);
        let b = e - s;
        let cap = chunk_rows(b);
        let whole = nw <= cap;
        ensure_len(cbuf, cap.min(nw));
        let gr = &mut gb[..b];
        // (G x)_B = G[B, :] x with the current x: one pass over the rows B of
        // G (k b a block, k² a row in all; cheaper in memory traffic than
        // G x once plus an update of G x after each block).
        gemv(&g[s * k..e * k], k, x, &mut gx[..b]);
        for p in 0..b {
            gr[p] = pb.alpha0 * gx[p] + lambda * x[s + p] - bfull[s + p];
        }
        // Data part of M (f32) and of g, one gathered chunk at a time.
        eq.accumulate(pb.fixed, widx, wval, s, e, ybuf, zbuf, |first, rows| {
            let n = rows.len() / b;
            let (w, yh) = (&wval[first..first + n], &yhat[first..first + n]);
            for ((c, &wt), &yt) in cbuf.iter_mut().zip(w).zip(yh) {
                *c = wt * yt;
            }
            gemv_t(rows, b, b, &cbuf[..n], gr);
        });
        eq.assemble_and_factor(
            pb.gram.as_f64(),
            k,
            s,
            pb.alpha0 as f64,
            lambda as f64,
            nw > 0,
            b,
            s / block_size,
        )?;
        for (r, &gv) in eq.rhs[..b].iter_mut().zip(gr.iter()) {
            *r = gv as f64;
        }
        eq.solve_rhs(b);
        // Δ = −M⁻¹ g
        for p in 0..b {
            let d = -eq.rhs[p] as f32;
            delta[p] = d;
            x[s + p] += d;
        }
        let d = &delta[..b];
        if whole {
            gemv_n(&ybuf[..nw * b], b, b, d, yhat);
        } else {
            for (idx, yh) in widx.chunks(cap).zip(yhat.chunks_mut(cap)) {
                let n = idx.len();
                gather(pb.fixed, idx, s, e, &mut ybuf[..n * b], None);
                gemv_n(&ybuf[..n * b], b, b, d, yh);
            }
        }
        s = e;
    }
    Ok(())
}
