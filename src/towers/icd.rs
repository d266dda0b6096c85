//! The iCD row updates of the towers (Bayer et al. 2017): one attribute
//! row at a time, then every id row in parallel, each an exact minimization
//! of the objective over that row with everything else fixed. The systems
//! are built by [`crate::solver::normal`], like every other row system.

#![allow(clippy::needless_range_loop)] // CSR positions index several parallel arrays (values, weights, ŷ).

use rayon::prelude::*;

use super::side::Side;
use super::Tower;
use crate::confidence::Weighting;
use crate::data::interactions::sparse_row;
use crate::data::SparseMatrix;
use crate::error::Result;
use crate::factors::Factors;
use crate::gramian::Gramian;
use crate::linalg::{axpy, dot, syr_lower};
use crate::params::Params;
use crate::solver::{
    factor_row, pair_weights, NormalEquations, NotPositivePivot, RowProblem, Workspace,
};

/// Entities of one feature summed in `f32` before the partial goes to `f64`
/// (fixed, so sums do not depend on threads).
const ATTR_CHUNK: usize = 64;

/// `(c − α0, c p)` of every non-zero of `m`.
pub(crate) fn all_pair_weights(params: &Params, m: &SparseMatrix) -> (Vec<f32>, Vec<f32>) {
    let wt = params.weighting();
    let a0 = params.unobserved_weight();
    m.data().iter().map(|&r| pair_weights(&wt, a0, r)).unzip()
}

/// What every row update of one half-sweep reads.
pub(crate) struct Ctx<'a> {
    /// This side's interactions (user-major when updating users).
    pub(crate) matrix: &'a SparseMatrix,
    /// `c − α0` of each non-zero of `matrix`.
    pub(crate) w: &'a [f32],
    /// `c p` of each non-zero of `matrix`.
    pub(crate) cp: &'a [f32],
    /// The other side's embeddings.
    pub(crate) other: &'a Factors,
    pub(crate) gram: &'a Gramian,
    pub(crate) weighting: Weighting,
    pub(crate) alpha0: f32,
    pub(crate) k: usize,
    pub(crate) iteration: usize,
}

/// Reusable buffers of the attribute updates.
pub(crate) struct Scratch {
    partials: Vec<f64>,
    m: Vec<f64>,
    g: Vec<f64>,
    delta: Vec<f32>,
    a32: Vec<f32>,
    r32: Vec<f32>,
    eq: NormalEquations,
}

impl Scratch {
    pub(crate) fn new(k: usize) -> Self {
        Scratch {
            partials: Vec::new(),
            m: Vec::new(),
            g: Vec::new(),
            delta: Vec::new(),
            a32: Vec::new(),
            r32: Vec::new(),
            eq: NormalEquations::new(k),
        }
    }
}

fn partial_len(k: usize) -> usize {
    k * k + 2 * k + 1
}

/// Sums of one chunk of a feature's entities into `out`:
/// `[Σ f² w y yᵀ (lower) | Σ f (w ŷ⁻ʲ − cp) y | Σ f x_u⁻ʲ | Σ f²]`, where
/// `x_u⁻ʲ = x_u − f a_j` and `ŷ⁻ʲ = ŷ − f a_j·y` leave feature `j` out.
#[allow(clippy::too_many_arguments)]
fn chunk_sums(
    ctx: &Ctx<'_>,
    aj: &[f32],
    ents: &[u32],
    vals: &[f32],
    x: &Factors,
    yhat: &[f32],
    a32: &mut [f32],
    r32: &mut [f32],
    out: &mut [f64],
) {
    let k = ctx.k;
    a32.iter_mut().for_each(|v| *v = 0.0);
    r32.iter_mut().for_each(|v| *v = 0.0);
    out.iter_mut().for_each(|v| *v = 0.0);
    let indptr = ctx.matrix.indptr();
    let indptr = indptr.raw_storage();
    let mut s = 0.0f64;
    for (&u, &f) in ents.iter().zip(vals) {
        let u = u as usize;
        s += f as f64 * f as f64;
        let xu = x.row(u);
        for ((o, &xv), &av) in out[k * k + k..k * k + 2 * k].iter_mut().zip(xu).zip(aj) {
            *o += f as f64 * (xv - f * av) as f64;
        }
        let ff = f * f;
        for p in indptr[u]..indptr[u + 1] {
            let i = ctx.matrix.indices()[p] as usize;
            let y = ctx.other.row(i);
            let w = ctx.w[p];
            syr_lower(a32, k, ff * w, y);
            let rest = yhat[p] - f * dot(aj, y);
            axpy(f * (w * rest - ctx.cp[p]), y, r32);
        }
    }
    for (o, &v) in out[..k * k].iter_mut().zip(a32.iter()) {
        *o = v as f64;
    }
    for (o, &v) in out[k * k..k * k + k].iter_mut().zip(r32.iter()) {
        *o = v as f64;
    }
    out[k * k + 2 * k] = s;
}

/// Exact update of attribute row `j` (see the module docs): with everything
/// but `a_j` fixed, `a_j = M_j⁻¹ b_j` where
/// `b_j = −α0 G Σ_u f_uj x_u⁻ʲ − Σ_S f_uj [(c − α0) ŷ⁻ʲ − c p] y_i`
/// (`M_j a_j − g_j` of the module docs, computed without cancellation).
pub(crate) fn update_attr(
    ctx: &Ctx<'_>,
    side: &mut Side,
    j: usize,
    x: &mut Factors,
    yhat: &mut [f32],
    sc: &mut Scratch,
) -> Result<()> {
    let k = ctx.k;
    let row = sparse_row(&side.by_feature, j);
    if row.is_empty() {
        return Ok(());
    }
    let len = partial_len(k);
    let n_chunks = row.len().div_ceil(ATTR_CHUNK);
    if sc.partials.len() < n_chunks * len {
        sc.partials.resize(n_chunks * len, 0.0);
    }
    sc.a32.resize(k * k, 0.0);
    sc.r32.resize(k, 0.0);
    {
        let xr: &Factors = x;
        let yr: &[f32] = yhat;
        let aj = side.attr.row(j);
        if n_chunks == 1 {
            chunk_sums(
                ctx,
                aj,
                row.indices,
                row.values,
                xr,
                yr,
                &mut sc.a32,
                &mut sc.r32,
                &mut sc.partials[..len],
            );
        } else {
            sc.partials[..n_chunks * len]
                .par_chunks_mut(len)
                .zip(row.indices.par_chunks(ATTR_CHUNK))
                .zip(row.values.par_chunks(ATTR_CHUNK))
                .for_each_init(
                    || (vec![0.0f32; k * k], vec![0.0f32; k]),
                    |(a32, r32), ((out, ents), vals)| {
                        chunk_sums(ctx, aj, ents, vals, xr, yr, a32, r32, out)
                    },
                );
        }
    }
    // Totals in chunk order.
    sc.m.clear();
    sc.m.resize(len, 0.0);
    for part in sc.partials[..n_chunks * len].chunks_exact(len) {
        for (t, &v) in sc.m.iter_mut().zip(part) {
            *t += v;
        }
    }
    let s = sc.m[k * k + 2 * k];
    let lambda = side.attr_lambda[j] as f64;
    let a0 = ctx.alpha0 as f64;
    let g64 = ctx.gram.as_f64();
    // b = −(α0 G sx + r) (sx and r live in sc.m after the k x k block).
    sc.g.clear();
    for a in 0..k {
        let sx = &sc.m[k * k + k..k * k + 2 * k];
        let gsx: f64 = g64[a * k..(a + 1) * k]
            .iter()
            .zip(sx)
            .map(|(g, v)| g * v)
            .sum();
        sc.g.push(-(a0 * gsx + sc.m[k * k + a]));
    }
    // M = α0 s G + Σ + λ I, factored; a_j = M⁻¹ b.
    sc.eq
        .assemble_from(g64, k, a0 * s, lambda, &sc.m[..k * k])
        .map_err(|p| {
            let side = match side.tower {
                Tower::User => "user feature",
                Tower::Item => "item feature",
            };
            p.at(ctx.iteration, side, j)
        })?;
    sc.eq.solve(k, &mut sc.g);
    sc.delta.clear();
    let aj = side.attr.row_mut(j);
    for (a, &v) in aj.iter_mut().zip(&sc.g) {
        let new = v as f32;
        sc.delta.push(new - *a);
        *a = new;
    }
    // x_u += f Δ, ŷ_ui += f Δ·y_i.
    let indptr = ctx.matrix.indptr();
    let indptr = indptr.raw_storage();
    for (&u, &f) in row.indices.iter().zip(row.values) {
        let u = u as usize;
        axpy(f, &sc.delta, x.row_mut(u));
        for p in indptr[u]..indptr[u + 1] {
            let i = ctx.matrix.indices()[p] as usize;
            yhat[p] += f * dot(&sc.delta, ctx.other.row(i));
        }
    }
    Ok(())
}

/// Per-worker buffers of the id updates.
pub(crate) struct IdWs {
    ws: Workspace,
    corr: Vec<f32>,
    rhs: Vec<f64>,
    delta: Vec<f32>,
}

impl IdWs {
    pub(crate) fn new(k: usize) -> Self {
        IdWs {
            ws: Workspace::new(k),
            corr: vec![0.0; k],
            rhs: vec![0.0; k],
            delta: vec![0.0; k],
        }
    }
}

/// Exact update of the id row `a` of entity `u` (only `u`'s pairs move):
/// `a = A_u⁻¹ b` with `A_u` of plain iALS (the same system, built by
/// [`factor_row`]) and
/// `b = Σ_S c p y_i − Σ_S (c − α0) ŷ⁻ᵃ y_i − α0 G x_u⁻ᵃ`, the rest of `u`'s
/// embedding (`x_u⁻ᵃ = x_u − a`, `ŷ⁻ᵃ = ŷ − a·y`) held fixed. With id
/// features only both corrections are exactly 0 and this is the plain
/// Cholesky row solve, bit for bit.
#[allow(clippy::too_many_arguments)]
pub(crate) fn update_id(
    ctx: &Ctx<'_>,
    u: usize,
    lambda: f32,
    a: &mut [f32],
    xu: &mut [f32],
    yhat: &mut [f32],
    ws: &mut IdWs,
) -> Result<(), NotPositivePivot> {
    let k = ctx.k;
    let row = sparse_row(ctx.matrix, u);
    if row.is_empty() {
        return Ok(());
    }
    let base = ctx.matrix.indptr().raw_storage()[u];
    let pb = RowProblem {
        fixed: ctx.other,
        gram: ctx.gram,
        weighting: ctx.weighting,
        alpha0: ctx.alpha0,
    };
    factor_row(&pb, row, lambda, &mut ws.ws)?;
    // Σ (c − α0) ŷ⁻ᵃ y_i over u's pairs.
    ws.corr.iter_mut().for_each(|v| *v = 0.0);
    for (q, &i) in row.indices.iter().enumerate() {
        let y = ctx.other.row(i as usize);
        let rest = yhat[q] - dot(a, y);
        axpy(ctx.w[base + q] * rest, y, &mut ws.corr);
    }
    let g64 = ctx.gram.as_f64();
    let a0 = ctx.alpha0 as f64;
    let b = ws.ws.rhs32();
    for (c, bc) in ws.rhs.iter_mut().enumerate() {
        let gx: f64 = g64[c * k..(c + 1) * k]
            .iter()
            .zip(xu.iter().zip(a.iter()))
            .map(|(g, (&xv, &av))| g * (xv - av) as f64)
            .sum();
        *bc = (b[c] - ws.corr[c]) as f64 - a0 * gx;
    }
    ws.ws.solve_factored(&mut ws.rhs);
    for ((d, av), &v) in ws.delta.iter_mut().zip(a.iter_mut()).zip(&ws.rhs) {
        let new = v as f32;
        *d = new - *av;
        *av = new;
    }
    axpy(1.0, &ws.delta, xu);
    for (q, &i) in row.indices.iter().enumerate() {
        yhat[q] += dot(&ws.delta, ctx.other.row(i as usize));
    }
    Ok(())
}

pub(crate) fn update_ids(
    ctx: &Ctx<'_>,
    side: &mut Side,
    x: &mut Factors,
    yhat: &mut [f32],
) -> Result<()> {
    let k = ctx.k;
    let indptr = ctx.matrix.indptr();
    let indptr = indptr.raw_storage();
    let mut yhat_rows: Vec<&mut [f32]> = Vec::with_capacity(side.n_train);
    let mut rest = yhat;
    for w in indptr.windows(2) {
        let (head, tail) = rest.split_at_mut(w[1] - w[0]);
        yhat_rows.push(head);
        rest = tail;
    }
    let has_id = &side.has_id;
    let lambdas = &side.id_lambda;
    let tower = side.tower;
    side.id
        .as_mut_slice()
        .par_chunks_mut(k)
        .zip(x.as_mut_slice().par_chunks_mut(k))
        .zip(yhat_rows.par_iter_mut())
        .enumerate()
        .filter(|(u, _)| has_id[*u])
        .try_for_each_init(
            || IdWs::new(k),
            |ws, (u, ((a, xu), yh))| {
                update_id(ctx, u, lambdas[u], a, xu, yh, ws)
                    .map_err(|p| p.at(ctx.iteration, tower.name(), u))
            },
        )
}

/// `ŷ` of every non-zero of `matrix` (rows: `own`, columns: `other`).
pub(crate) fn predictions(
    matrix: &SparseMatrix,
    own: &Factors,
    other: &Factors,
    out: &mut Vec<f32>,
) {
    out.clear();
    out.resize(matrix.nnz(), 0.0);
    let indptr = matrix.indptr();
    let indptr = indptr.raw_storage();
    let indices = matrix.indices();
    out.par_iter_mut().enumerate().for_each(|(p, o)| {
        // The row of non-zero p: the last row starting at or before p.
        let u = indptr.partition_point(|&s| s <= p) - 1;
        *o = dot(own.row(u), other.row(indices[p] as usize));
    });
}
