//! iALS++ subspace blocks (Rendle et al. 2021). For each block `B` of `b`
//! coordinates, with the others fixed (accumulated in `f32`, solved in `f64`):
//!
//! ```text
//! M = α0 G_BB + Σ (c − α0) y_B y_Bᵀ + λ I_b
//! g = α0 (G x)_B + Σ [(c − α0) ŷ − c p] y_B + λ x_B
//! x_B ← x_B − M⁻¹ g,   ŷ += Δx_B · y_B,   G x += G_{:,B} Δx_B
//! ```
//!
//! The prediction `ŷ` of each non-zero of the row is cached, so a block costs
//! `O(|S_u| b² + k b + b³)`; one pass over all blocks costs `O(|S_u| k b + k² + k b²)`.
//! With `b = k` a pass is the exact Cholesky solve.

use super::{RowProblem, Workspace};
use crate::data::RowView;
use crate::linalg::{axpy, cholesky_in_place, cholesky_solve, dot, gemv, syr_lower};

pub(crate) fn solve(
    pb: &RowProblem<'_>,
    row: RowView<'_>,
    lambda: f32,
    block_size: usize,
    x: &mut [f32],
    ws: &mut Workspace,
) -> Result<(), usize> {
    let k = ws.k;
    let g = pb.gram.as_f32();
    let Workspace {
        w,
        cp,
        a,
        l,
        b64,
        v1,
        v2,
        v3,
        yhat,
        ..
    } = ws;
    let gx = v1;
    let delta = v2;
    let gb = v3;
    // Cached predictions and G x.
    yhat.clear();
    yhat.extend(
        row.indices
            .iter()
            .map(|&i| dot(pb.fixed.row(i as usize), x)),
    );
    gemv(g, k, x, gx);
    let mut s = 0;
    while s < k {
        let e = (s + block_size).min(k);
        let b = e - s;
        // M (lower triangle, row-major b x b) and g, accumulated in f32.
        let ma = &mut a[..b * b];
        let gr = &mut gb[..b];
        for p in 0..b {
            for q in 0..=p {
                ma[p * b + q] = pb.alpha0 * g[(s + p) * k + s + q];
            }
            ma[p * b + p] += lambda;
            gr[p] = pb.alpha0 * gx[s + p] + lambda * x[s + p];
        }
        for (((&i, &wj), &cpj), &yh) in row
            .indices
            .iter()
            .zip(w.iter())
            .zip(cp.iter())
            .zip(yhat.iter())
        {
            let yb = &pb.fixed.row(i as usize)[s..e];
            syr_lower(ma, b, wj, yb);
            axpy(wj * yh - cpj, yb, gr);
        }
        let m = &mut l[..b * b];
        for (mv, &av) in m.iter_mut().zip(ma.iter()) {
            *mv = av as f64;
        }
        let rhs = &mut b64[..b];
        for (r, &gv) in rhs.iter_mut().zip(gr.iter()) {
            *r = gv as f64;
        }
        cholesky_in_place(m, b)?;
        cholesky_solve(m, b, rhs);
        // Δ = −M⁻¹ g
        for p in 0..b {
            let d = -rhs[p] as f32;
            delta[p] = d;
            x[s + p] += d;
        }
        let d = &delta[..b];
        for (&i, yh) in row.indices.iter().zip(yhat.iter_mut()) {
            *yh += dot(&pb.fixed.row(i as usize)[s..e], d);
        }
        for (r, gxr) in gx.iter_mut().enumerate() {
            *gxr += dot(&g[r * k + s..r * k + e], d);
        }
        s = e;
    }
    Ok(())
}
