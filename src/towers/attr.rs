//! The attribute rows of one tower's half-sweep: exact iCD updates, one
//! colour class of features at a time, every feature of a class in parallel,
//! worked out in the eigenbasis of the other side's Gramian.
//!
//! ## The eigenbasis
//! With `G = Q Λ Qᵀ` (once per half-sweep, `O(k³)`), rotate the other side's
//! embeddings `ỹ = Qᵀ y`, this side's `x̃ = Qᵀ x` and the attribute weights
//! `ã_j = Qᵀ a_j` (one matrix product each). Predictions and norms do not
//! change, and the system of feature `j` (REFERENCE.md, "Linear feature
//! towers") becomes
//!
//! ```text
//! M̃_j = D + Σ_i W_i ỹ_i ỹ_iᵀ,   D = α0 s Λ + λ_j I (diagonal),   s = Σ_u f_uj²
//! b̃_j = −α0 Λ Σ_u f_uj x̃_u⁻ʲ − Σ_i R_i ỹ_i
//! ```
//!
//! where the data part is summed over the *distinct* other-side rows `i`
//! reached from the feature's entities, `W_i = Σ f_uj² (c_ui − α0)` and
//! `R_i = Σ f_uj [(c_ui − α0) ŷ_ui⁻ʲ − c_ui p_ui]` over the pairs reaching
//! `i`. A feature reaching `n < k` rows with all `W_i >= 0` (most of them:
//! rare tags) is solved exactly through the `n x n` capacitance system
//! (Woodbury), `O(n² k + n³)` instead of `O(n k² + k³)`:
//!
//! ```text
//! V̂ = D^-½ [√W_i ỹ_i],  C = I + V̂ᵀ V̂,  ã_j = D^-½ (b̂ − V̂ C⁻¹ V̂ᵀ b̂),  b̂ = D^-½ b̃
//! ```
//!
//! Other features form `M̃_j` (register-tiled rank updates over gathered
//! rows, diagonal `D`) and factor it. Both are the exact minimizer over
//! `a_j`; the weights are rotated back (`a_j = Q ã_j`) at the end.
//!
//! ## Parallelisation
//! The features of one colour class ([`super::colour`]) share no entity: the
//! update of one reads and writes only its own weight row, its entities'
//! embeddings and their pairs' predictions, so the class's updates run in
//! parallel and give exactly what updating them one after another would
//! give, in any order. Classes run in colour order. Each feature's sums run
//! in a fixed order on one thread, and the rotations are products over
//! fixed chunks of rows, so the result is bit-identical whatever the number
//! of threads.

#![allow(clippy::needless_range_loop)] // CSR positions index several parallel arrays.

use std::sync::Mutex;

use rayon::prelude::*;

use super::icd::Ctx;
use super::side::Side;
use super::Tower;
use crate::data::interactions::sparse_row;
use crate::error::Result;
use crate::factors::Factors;
use crate::linalg::{cholesky_upper, cholesky_upper_solve, dot, syrk_lower};
use crate::solver::{NormalEquations, NotPositivePivot};

/// Rows of a rotation product (one `sgemm` each): fixed, so results do not
/// depend on threads.
const ROTATE_ROWS: usize = 512;

/// Distinct rows of a feature's data part summed in `f32` before the
/// partial goes to `f64` (dense path).
const DATA_CHUNK: usize = 256;

/// `G = Q Λ Qᵀ`: the eigenbasis of one half-sweep.
pub(crate) struct Basis {
    k: usize,
    /// `Q`, row-major `k x k` (column `c` is eigenvector `c`).
    q: Vec<f32>,
    /// The eigenvalues (negative rounding clamped to 0).
    lambda: Vec<f64>,
    /// `diag(Λ)` as a full row-major `k x k` matrix (for `assemble`).
    lambda_full: Vec<f64>,
}

impl Basis {
    pub(crate) fn of(g64: &[f64], k: usize) -> Basis {
        let eig = nalgebra::DMatrix::from_row_slice(k, k, g64).symmetric_eigen();
        let mut q = vec![0.0f32; k * k];
        for r in 0..k {
            for c in 0..k {
                q[r * k + c] = eig.eigenvectors[(r, c)] as f32;
            }
        }
        let lambda: Vec<f64> = eig.eigenvalues.iter().map(|&v| v.max(0.0)).collect();
        let mut lambda_full = vec![0.0f64; k * k];
        for c in 0..k {
            lambda_full[c * k + c] = lambda[c];
        }
        Basis {
            k,
            q,
            lambda,
            lambda_full,
        }
    }

    /// `F Q` (`back`: `F Qᵀ`), row by row.
    pub(crate) fn rotate(&self, f: &Factors, back: bool) -> Factors {
        let k = self.k;
        let mut out = Factors::zeros(f.rows(), k);
        let (rsb, csb) = if back {
            (1, k as isize)
        } else {
            (k as isize, 1)
        };
        out.as_mut_slice()
            .par_chunks_mut(ROTATE_ROWS * k)
            .zip(f.as_slice().par_chunks(ROTATE_ROWS * k))
            .for_each(|(o, a)| {
                let m = a.len() / k;
                // SAFETY: `a` is `m x k` and `o` is `m x k` (row-major,
                // strides k, 1); `q` is `k x k` read with strides (rsb, csb).
                unsafe {
                    matrixmultiply::sgemm(
                        m,
                        k,
                        k,
                        1.0,
                        a.as_ptr(),
                        k as isize,
                        1,
                        self.q.as_ptr(),
                        rsb,
                        csb,
                        0.0,
                        o.as_mut_ptr(),
                        k as isize,
                        1,
                    );
                }
            });
        out
    }
}

/// Mutable state shared by the updates of one colour class. Each update
/// touches only its own weight row, its entities' embedding rows and their
/// pairs' predictions, which no other feature of the class touches (the
/// colouring, checked when the tower is built).
struct Shared {
    attr: *mut f32,
    id: *mut f32,
    x: *mut f32,
    yhat: *mut f32,
}

// SAFETY: see `Shared`: concurrent updates write disjoint locations.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    /// SAFETY: the caller owns `start..start + len` for the duration of the
    /// borrow (no other update of the class reads or writes it).
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice(&self, base: *mut f32, start: usize, len: usize) -> &mut [f32] {
        unsafe { std::slice::from_raw_parts_mut(base.add(start), len) }
    }
}

/// What the updates of one half-sweep read.
struct Rotated<'a> {
    ctx: &'a Ctx<'a>,
    basis: &'a Basis,
    /// `Ỹ = Y Q`.
    other: Factors,
}

/// Per-worker buffers of the attribute updates.
struct AttrWs {
    /// Position of each other-side row in `rows` (`u32::MAX`: absent).
    pos: Vec<u32>,
    rows: Vec<u32>,
    wsum: Vec<f64>,
    rsum: Vec<f64>,
    sx: Vec<f64>,
    b: Vec<f64>,
    /// Low-rank path: `V̂` (`n x k`), `C` (`n x n`), `V̂ᵀ b̂`.
    vhat: Vec<f32>,
    /// `V̂ᵀ` (`k x n`) and the `f32` Gram matrix `V̂ V̂ᵀ` (lower, `n x n`).
    vt: Vec<f32>,
    c32: Vec<f32>,
    bhat: Vec<f32>,
    /// `D^-½` (`k`).
    dinv: Vec<f64>,
    cap: Vec<f64>,
    t: Vec<f64>,
    /// Dense path.
    ybuf: Vec<f32>,
    zbuf: Vec<f32>,
    a32: Vec<f32>,
    m: Vec<f64>,
    eq: NormalEquations,
    delta: Vec<f32>,
}

impl AttrWs {
    fn new(k: usize, n_other: usize) -> Self {
        AttrWs {
            pos: vec![u32::MAX; n_other],
            rows: Vec::new(),
            wsum: Vec::new(),
            rsum: Vec::new(),
            sx: vec![0.0; k],
            b: vec![0.0; k],
            vhat: Vec::new(),
            vt: Vec::new(),
            c32: Vec::new(),
            bhat: vec![0.0; k],
            dinv: vec![0.0; k],
            cap: Vec::new(),
            t: Vec::new(),
            ybuf: vec![0.0; DATA_CHUNK * k],
            zbuf: vec![0.0; DATA_CHUNK * k],
            a32: vec![0.0; k * k],
            m: vec![0.0; k * k],
            eq: NormalEquations::new(k),
            delta: vec![0.0; k],
        }
    }
}

/// Which rows [`update_rotated`] updates.
pub(crate) enum Rows {
    /// Every attribute row, class after class, then every id row (one
    /// class: an id feature has one entity): a half-sweep.
    All,
    /// One attribute row.
    Attribute(usize),
}

/// Update rows of `side` (see [`Rows`]) in the eigenbasis, from the current
/// embeddings `own` (not changed) and predictions `yhat` (updated as the
/// weights move, in the rotated basis; stale afterwards: the caller
/// re-embeds from the weights).
pub(crate) fn update_rotated(
    ctx: &Ctx<'_>,
    side: &mut Side,
    own: &Factors,
    yhat: &mut [f32],
    rows: Rows,
) -> Result<()> {
    let k = ctx.k;
    let single;
    let (classes, ids) = match rows {
        Rows::All => (&side.classes[..], true),
        Rows::Attribute(j) => {
            single = [vec![j as u32]];
            (&single[..], false)
        }
    };
    let basis = Basis::of(ctx.gram.as_f64(), k);
    let rot = Rotated {
        ctx,
        basis: &basis,
        other: basis.rotate(ctx.other, false),
    };
    let mut x = basis.rotate(own, false);
    let mut attr = basis.rotate(&side.attr, false);
    let mut id = if ids {
        basis.rotate(&side.id, false)
    } else {
        Factors::zeros(0, k)
    };
    let n_other = ctx.other.rows();
    let shared = Shared {
        attr: attr.as_mut_slice().as_mut_ptr(),
        id: id.as_mut_slice().as_mut_ptr(),
        x: x.as_mut_slice().as_mut_ptr(),
        yhat: yhat.as_mut_ptr(),
    };
    let by_feature = &side.by_feature;
    let what = match side.tower {
        Tower::User => "user feature",
        Tower::Item => "item feature",
    };
    // One workspace per pool thread, reused across classes (a workspace's
    // contents never reach a result: every buffer is overwritten or reset).
    let pool: Vec<Mutex<Option<AttrWs>>> = (0..rayon::current_num_threads())
        .map(|_| Mutex::new(None))
        .collect();
    let run = |f: &mut dyn FnMut(&mut AttrWs) -> Result<()>| -> Result<()> {
        let slot = rayon::current_thread_index().unwrap_or(0) % pool.len();
        let mut guard = pool[slot].lock().expect("invariant: no panic holds it");
        f(guard.get_or_insert_with(|| AttrWs::new(k, n_other)))
    };
    for class in classes {
        class.par_iter().try_for_each(|&j| {
            let j = j as usize;
            let row = sparse_row(by_feature, j);
            let lambda = side.attr_lambda[j];
            run(&mut |ws| {
                // SAFETY: the features of a class share no entity (see
                // `Shared`), and row `j` of the weights is this update's.
                unsafe {
                    let aj = shared.slice(shared.attr, j * k, k);
                    update_one(&rot, &shared, aj, row.indices, row.values, lambda, ws)
                }
                .map_err(|p| p.at(ctx.iteration, what, j))
            })
        })?;
    }
    if ids {
        let indptr = ctx.matrix.indptr();
        let indptr = indptr.raw_storage();
        let tower = side.tower.name();
        (0..side.n_train)
            .into_par_iter()
            .filter(|&u| side.has_id[u] && indptr[u + 1] > indptr[u])
            .try_for_each(|u| {
                let ent = [u as u32];
                let lambda = side.id_lambda[u];
                run(&mut |ws| {
                    // SAFETY: id row u and entity u's embedding and pairs
                    // belong to this update alone.
                    unsafe {
                        let a = shared.slice(shared.id, u * k, k);
                        update_one(&rot, &shared, a, &ent, &[1.0], lambda, ws)
                    }
                    .map_err(|p| p.at(ctx.iteration, tower, u))
                })
            })?;
        side.id = basis.rotate(&id, true);
    }
    // Rows no training entity has stay exactly 0 (0 · Q = 0).
    side.attr = basis.rotate(&attr, true);
    Ok(())
}

/// Exact update of one feature row `aj` (its entities `ents`, values
/// `vals`) in the eigenbasis (module docs).
///
/// SAFETY: the caller guarantees that no other running update touches
/// `aj`, the embedding rows of `ents` or their pairs' predictions.
unsafe fn update_one(
    rot: &Rotated<'_>,
    sh: &Shared,
    aj: &mut [f32],
    ents: &[u32],
    vals: &[f32],
    lambda: f32,
    ws: &mut AttrWs,
) -> std::result::Result<(), NotPositivePivot> {
    if ents.is_empty() {
        return Ok(());
    }
    let ctx = rot.ctx;
    let k = ctx.k;
    let indptr = ctx.matrix.indptr();
    let indptr = indptr.raw_storage();
    let indices = ctx.matrix.indices();
    // Pass 1: s, Σ f x̃⁻ʲ, and W_i, R_i of the distinct other rows.
    let mut s = 0.0f64;
    ws.sx.iter_mut().for_each(|v| *v = 0.0);
    ws.rows.clear();
    ws.wsum.clear();
    ws.rsum.clear();
    for (&u, &f) in ents.iter().zip(vals) {
        let u = u as usize;
        s += f as f64 * f as f64;
        let xu = unsafe { sh.slice(sh.x, u * k, k) };
        for ((o, &xv), &av) in ws.sx.iter_mut().zip(xu.iter()).zip(aj.iter()) {
            *o += f as f64 * (xv - f * av) as f64;
        }
        let (p0, p1) = (indptr[u], indptr[u + 1]);
        let yh = unsafe { sh.slice(sh.yhat, p0, p1 - p0) };
        for p in p0..p1 {
            let i = indices[p] as usize;
            let y = rot.other.row(i);
            let rest = yh[p - p0] - f * dot(aj, y);
            let w = ctx.w[p];
            let slot = match ws.pos[i] {
                u32::MAX => {
                    ws.pos[i] = ws.rows.len() as u32;
                    ws.rows.push(i as u32);
                    ws.wsum.push(0.0);
                    ws.rsum.push(0.0);
                    ws.rows.len() - 1
                }
                q => q as usize,
            };
            ws.wsum[slot] += (f * f * w) as f64;
            ws.rsum[slot] += (f * (w * rest - ctx.cp[p])) as f64;
        }
    }
    for &i in &ws.rows {
        ws.pos[i as usize] = u32::MAX;
    }
    // b̃ = −α0 Λ sx − Σ R_i ỹ_i.
    let a0 = ctx.alpha0 as f64;
    let lam = &rot.basis.lambda;
    for c in 0..k {
        ws.b[c] = -a0 * lam[c] * ws.sx[c];
    }
    for (&i, &r) in ws.rows.iter().zip(&ws.rsum) {
        for (bc, &yv) in ws.b.iter_mut().zip(rot.other.row(i as usize)) {
            *bc -= r * yv as f64;
        }
    }
    let lambda = lambda as f64;
    let weighted = ws.wsum.iter().filter(|&&w| w != 0.0).count();
    let low_rank = weighted < k
        && ws.wsum.iter().all(|&w| w >= 0.0)
        && lam.iter().all(|&l| a0 * s * l + lambda > 0.0);
    if low_rank {
        solve_low_rank(rot, s, lambda, ws, weighted)?;
    } else {
        solve_dense(rot, s, lambda, ws)?;
    }
    // ã_j ← solution; x̃_u += f Δ; ŷ += f Δ·ỹ.
    for ((d, a), &v) in ws.delta.iter_mut().zip(aj.iter_mut()).zip(&ws.b) {
        let new = v as f32;
        *d = new - *a;
        *a = new;
    }
    for (&u, &f) in ents.iter().zip(vals) {
        let u = u as usize;
        let xu = unsafe { sh.slice(sh.x, u * k, k) };
        crate::linalg::axpy(f, &ws.delta, xu);
        let (p0, p1) = (indptr[u], indptr[u + 1]);
        let yh = unsafe { sh.slice(sh.yhat, p0, p1 - p0) };
        for p in p0..p1 {
            yh[p - p0] += f * dot(&ws.delta, rot.other.row(indices[p] as usize));
        }
    }
    Ok(())
}

/// `ws.b ← M̃⁻¹ ws.b` through the capacitance system (`weighted` rows with
/// `W_i > 0`).
fn solve_low_rank(
    rot: &Rotated<'_>,
    s: f64,
    lambda: f64,
    ws: &mut AttrWs,
    n: usize,
) -> std::result::Result<(), NotPositivePivot> {
    let k = rot.ctx.k;
    let a0 = rot.ctx.alpha0 as f64;
    let lam = &rot.basis.lambda;
    // D^-½ and b̂ = D^-½ b.
    for (d, &l) in ws.dinv.iter_mut().zip(lam) {
        *d = 1.0 / (a0 * s * l + lambda).sqrt();
    }
    let dinv = &ws.dinv;
    for ((bh, &bv), &di) in ws.bhat.iter_mut().zip(&ws.b).zip(dinv) {
        *bh = (bv * di) as f32;
    }
    ws.vhat.resize(n * k, 0.0);
    let mut t = 0;
    for (&i, &w) in ws.rows.iter().zip(&ws.wsum) {
        if w == 0.0 {
            continue;
        }
        let sw = w.sqrt();
        for ((o, &yv), &di) in ws.vhat[t * k..(t + 1) * k]
            .iter_mut()
            .zip(rot.other.row(i as usize))
            .zip(dinv)
        {
            *o = (sw * yv as f64 * di) as f32;
        }
        t += 1;
    }
    // C = I + V̂ᵀV̂ (upper triangle), t = V̂ᵀ b̂. The Gram matrix of the n
    // rows is one register-tiled rank-k update over the transposed rows.
    ws.vt.resize(k * n, 0.0);
    for a in 0..n {
        for c in 0..k {
            ws.vt[c * n + a] = ws.vhat[a * k + c];
        }
    }
    ws.c32.clear();
    ws.c32.resize(n * n, 0.0);
    syrk_lower(&mut ws.c32, n, 0, n, &ws.vt, &ws.vt, n, k);
    ws.cap.clear();
    ws.cap.resize(n * n, 0.0);
    ws.t.clear();
    for a in 0..n {
        ws.t.push(dot(&ws.vhat[a * k..(a + 1) * k], &ws.bhat) as f64);
        // Row a of the upper triangle: column a of the lower one.
        for b in a..n {
            ws.cap[a * n + b] = ws.c32[b * n + a] as f64;
        }
        ws.cap[a * n + a] += 1.0;
    }
    cholesky_upper(&mut ws.cap, n).map_err(|index| NotPositivePivot { index })?;
    cholesky_upper_solve(&ws.cap, n, &mut ws.t);
    // ã = D^-½ (b̂ − V̂ z).
    for c in 0..k {
        ws.b[c] *= dinv[c];
    }
    for (a, &z) in ws.t.iter().enumerate() {
        for (bc, &v) in ws.b.iter_mut().zip(&ws.vhat[a * k..(a + 1) * k]) {
            *bc -= z * v as f64;
        }
    }
    for (bc, &di) in ws.b.iter_mut().zip(dinv) {
        *bc *= di;
    }
    Ok(())
}

/// `ws.b ← M̃⁻¹ ws.b` with `M̃` formed and factored.
fn solve_dense(
    rot: &Rotated<'_>,
    s: f64,
    lambda: f64,
    ws: &mut AttrWs,
) -> std::result::Result<(), NotPositivePivot> {
    let k = rot.ctx.k;
    let a0 = rot.ctx.alpha0 as f64;
    ws.m.iter_mut().for_each(|v| *v = 0.0);
    for (rows, w) in ws.rows.chunks(DATA_CHUNK).zip(ws.wsum.chunks(DATA_CHUNK)) {
        let n = rows.len();
        for (t, (&i, &wt)) in rows.iter().zip(w).enumerate() {
            let y = rot.other.row(i as usize);
            ws.ybuf[t * k..(t + 1) * k].copy_from_slice(y);
            for (z, &yv) in ws.zbuf[t * k..(t + 1) * k].iter_mut().zip(y) {
                *z = wt as f32 * yv;
            }
        }
        ws.a32.iter_mut().for_each(|v| *v = 0.0);
        syrk_lower(
            &mut ws.a32,
            k,
            0,
            k,
            &ws.zbuf[..n * k],
            &ws.ybuf[..n * k],
            k,
            n,
        );
        for (m, &v) in ws.m.iter_mut().zip(&ws.a32) {
            *m += v as f64;
        }
    }
    ws.eq
        .assemble_from(&rot.basis.lambda_full, k, a0 * s, lambda, &ws.m)?;
    ws.eq.solve(k, &mut ws.b);
    Ok(())
}
