//! iCD over feature rows (Bayer et al. 2017): the tower sides, the per-row
//! updates, the sweep loop and the loss.

#![allow(clippy::needless_range_loop)] // CSR positions index several parallel arrays (values, weights, ŷ).

use std::ops::ControlFlow;
use std::time::Instant;

use rayon::prelude::*;

use super::features::Features;
use super::model::TowerModel;
use super::{Tower, TowerParams};
use crate::data::interactions::{csr_from_triplets, sparse_row};
use crate::data::{IdMap, Interactions, SparseMatrix};
use crate::error::{Error, Result};
use crate::factors::Factors;
use crate::gramian::Gramian;
use crate::linalg::{axpy, cholesky_in_place, cholesky_solve, dot, syr_lower};
use crate::params::Params;
use crate::train::{initial_factors, loss_with, IterationReport, LossParts, Progress};

/// Entities of one feature summed in `f32` before the partial goes to `f64`
/// (fixed, so sums do not depend on threads).
const ATTR_CHUNK: usize = 64;
/// Seed mixers of the attribute weights' initialization.
const USER_ATTR_SEED: u64 = 0x5851_F42D_4C95_7F2D;
const ITEM_ATTR_SEED: u64 = 0x1405_7B7E_F767_814F;

/// One tower: its entities, feature matrix and weights.
#[derive(Clone, Debug)]
pub(crate) struct Side {
    pub(crate) tower: Tower,
    /// Every entity: the training ones (same indices as the interactions),
    /// then the cold ones.
    pub(crate) ids: IdMap,
    pub(crate) n_train: usize,
    /// Attribute feature names (`p` of them).
    pub(crate) names: IdMap,
    /// `n_all x p`, CSR: the attribute features of every entity.
    pub(crate) by_entity: SparseMatrix,
    /// `p x n_train`, CSR: the training entities of every attribute.
    pub(crate) by_feature: SparseMatrix,
    /// Whether training entity `u` has an id feature.
    pub(crate) has_id: Vec<bool>,
    /// `p x k` attribute weights.
    pub(crate) attr: Factors,
    /// `n_train x k` id weights (rows of entities without an id are 0).
    pub(crate) id: Factors,
    pub(crate) attr_lambda: Vec<f32>,
    pub(crate) id_lambda: Vec<f32>,
}

impl Side {
    #[allow(clippy::too_many_arguments)]
    fn build(
        tower: Tower,
        params: &Params,
        tp: &TowerParams,
        train_ids: &IdMap,
        matrix: &SparseMatrix,
        other: usize,
        features: Option<&Features>,
        id_init: Factors,
    ) -> Result<Side> {
        let k = params.factors;
        let n_train = train_ids.len();
        let counts: Vec<usize> = matrix
            .indptr()
            .raw_storage()
            .windows(2)
            .map(|w| w[1] - w[0])
            .collect();
        let mut ids = train_ids.clone();
        let (names, triplets) = match features {
            Some(f) => {
                let remap: Vec<u32> = f
                    .entities
                    .ids()
                    .iter()
                    .map(|e| ids.get_or_insert(e, tower.name()))
                    .collect::<Result<_>>()?;
                let t: Vec<(u32, u32, f32)> = f
                    .triplets
                    .iter()
                    .map(|&(e, j, v)| (remap[e as usize], j, v))
                    .collect();
                (f.names.clone(), t)
            }
            None => (IdMap::new(), Vec::new()),
        };
        let p = names.len();
        let n_all = ids.len();
        let train_t: Vec<(u32, u32, f32)> = triplets
            .iter()
            .filter(|t| (t.0 as usize) < n_train)
            .map(|&(e, j, v)| (j, e, v))
            .collect();
        let by_entity = csr_from_triplets(n_all, p, triplets);
        let by_feature = csr_from_triplets(p, n_train, train_t);
        let has_id: Vec<bool> = counts.iter().map(|&c| tp.ids(tower) && c > 0).collect();
        if p == 0 && !has_id.iter().any(|&h| h) {
            return Err(Error::EmptyTower { side: tower.name() });
        }
        let mut id = id_init;
        for (u, &h) in has_id.iter().enumerate() {
            if !h {
                id.row_mut(u).iter_mut().for_each(|v| *v = 0.0);
            }
        }
        let id_lambda: Vec<f32> = counts
            .iter()
            .map(|&c| params.row_regularization(c, other))
            .collect();
        let seed = params.seed
            ^ match tower {
                Tower::User => USER_ATTR_SEED,
                Tower::Item => ITEM_ATTR_SEED,
            };
        // Attribute weights keep the normal start N(0, (0.1/√k)²) (or
        // `init_std` with `Init::Normal`); id weights start as a plain fit.
        let std = match params.init {
            crate::factors::Init::Normal => params.effective_init_std(),
            crate::factors::Init::Uniform => 0.1 / (k as f32).sqrt(),
        };
        let mut attr = Factors::random_normal(p, k, std, seed);
        let reg_f = tp.feature_reg(tower, params) as f64;
        let a0 = params.unobserved_weight as f64;
        let nu = params.reg_exponent as f64;
        let mut attr_lambda = vec![0.0f32; p];
        for j in 0..p {
            let row = sparse_row(&by_feature, j);
            if row.is_empty() {
                attr.row_mut(j).iter_mut().for_each(|v| *v = 0.0);
            }
            attr_lambda[j] = if nu == 0.0 {
                reg_f as f32
            } else {
                let base: f64 = row
                    .indices
                    .iter()
                    .zip(row.values)
                    .map(|(&u, &f)| {
                        let w = counts[u as usize] as f64
                            + if params.reg_include_unobserved {
                                a0 * other as f64
                            } else {
                                0.0
                            };
                        (f as f64) * (f as f64) * w
                    })
                    .sum();
                if base > 0.0 {
                    (reg_f * base.powf(nu)) as f32
                } else {
                    reg_f as f32
                }
            };
        }
        Ok(Side {
            tower,
            ids,
            n_train,
            names,
            by_entity,
            by_feature,
            has_id,
            attr,
            id,
            attr_lambda,
            id_lambda,
        })
    }

    /// Embeddings of entities `0..rows`: `Σ_j f_uj a_j` (+ the id weight).
    pub(crate) fn embeddings(&self, rows: usize) -> Factors {
        let k = self.attr.k().max(self.id.k());
        let mut out = Factors::zeros(rows, k);
        self.embed_into(&mut out);
        out
    }

    fn embed_into(&self, out: &mut Factors) {
        let k = out.k();
        out.as_mut_slice()
            .par_chunks_mut(k)
            .enumerate()
            .for_each(|(u, x)| {
                if u < self.n_train && self.has_id[u] {
                    x.copy_from_slice(self.id.row(u));
                } else {
                    x.iter_mut().for_each(|v| *v = 0.0);
                }
                let row = sparse_row(&self.by_entity, u);
                for (&j, &f) in row.indices.iter().zip(row.values) {
                    axpy(f, self.attr.row(j as usize), x);
                }
            });
    }

    /// `Σ_j λ_j ‖a_j‖²` over attributes and ids, in a fixed order.
    fn regularization(&self) -> f64 {
        let mut reg = 0.0f64;
        for (j, &l) in self.attr_lambda.iter().enumerate() {
            let a = self.attr.row(j);
            reg += l as f64 * dot(a, a) as f64;
        }
        for (u, &l) in self.id_lambda.iter().enumerate() {
            if self.has_id[u] {
                let a = self.id.row(u);
                reg += l as f64 * dot(a, a) as f64;
            }
        }
        reg
    }

    fn n_columns(&self) -> usize {
        self.names.len() + self.n_train
    }
}

/// What every row update of one half-sweep reads.
struct Ctx<'a> {
    /// This side's interactions (user-major when updating users).
    matrix: &'a SparseMatrix,
    /// `c − α0` of each non-zero of `matrix`.
    w: &'a [f32],
    /// `c p` of each non-zero of `matrix`.
    cp: &'a [f32],
    /// The other side's embeddings.
    other: &'a Factors,
    gram: &'a Gramian,
    alpha0: f32,
    k: usize,
    iteration: usize,
}

/// Reusable buffers of the attribute updates.
#[derive(Default)]
struct Scratch {
    partials: Vec<f64>,
    m: Vec<f64>,
    g: Vec<f64>,
    delta: Vec<f32>,
    a32: Vec<f32>,
    r32: Vec<f32>,
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
fn update_attr(
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
    // M = α0 s G + Σ + λ I (lower triangle).
    for a in 0..k {
        for b in 0..=a {
            sc.m[a * k + b] += a0 * s * g64[a * k + b];
        }
        sc.m[a * k + a] += lambda;
    }
    cholesky_in_place(&mut sc.m[..k * k], k).map_err(|pivot| Error::NotPositiveDefinite {
        iteration: ctx.iteration,
        side: match side.tower {
            Tower::User => "user feature",
            Tower::Item => "item feature",
        },
        row: j,
        pivot,
    })?;
    cholesky_solve(&sc.m[..k * k], k, &mut sc.g);
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
struct IdWs {
    a32: Vec<f32>,
    l: Vec<f64>,
    b64: Vec<f64>,
    b32: Vec<f32>,
    delta: Vec<f32>,
}

impl IdWs {
    fn new(k: usize) -> Self {
        IdWs {
            a32: vec![0.0; k * k],
            l: vec![0.0; k * k],
            b64: vec![0.0; k],
            b32: vec![0.0; k],
            delta: vec![0.0; k],
        }
    }
}

/// Exact update of the id row `a` of entity `u` (only `u`'s pairs move):
/// `a = A_u⁻¹ b` with `A_u` of plain iALS and
/// `b = Σ_S [c p − (c − α0) ŷ⁻ᵃ] y_i − α0 G x_u⁻ᵃ`, the rest of `u`'s
/// embedding (`x_u⁻ᵃ = x_u − a`) held fixed. With id features only,
/// `x_u⁻ᵃ = 0` and this is the plain Cholesky row solve, bit for bit.
#[allow(clippy::too_many_arguments)]
fn update_id(
    ctx: &Ctx<'_>,
    u: usize,
    lambda: f32,
    a: &mut [f32],
    xu: &mut [f32],
    yhat: &mut [f32],
    ws: &mut IdWs,
) -> Result<(), usize> {
    let k = ctx.k;
    let row = sparse_row(ctx.matrix, u);
    let base = ctx.matrix.indptr().raw_storage()[u];
    let g32 = ctx.gram.as_f32();
    for (m, &gv) in ws.a32.iter_mut().zip(g32) {
        *m = ctx.alpha0 * gv;
    }
    ws.b32.iter_mut().for_each(|v| *v = 0.0);
    for (q, &i) in row.indices.iter().enumerate() {
        let y = ctx.other.row(i as usize);
        let w = ctx.w[base + q];
        syr_lower(&mut ws.a32, k, w, y);
        let rest = yhat[q] - dot(a, y);
        axpy(ctx.cp[base + q] - w * rest, y, &mut ws.b32);
    }
    for d in 0..k {
        ws.a32[d * k + d] += lambda;
    }
    for (l, &v) in ws.l.iter_mut().zip(&ws.a32) {
        *l = v as f64;
    }
    let g64 = ctx.gram.as_f64();
    let a0 = ctx.alpha0 as f64;
    for (c, bc) in ws.b64.iter_mut().enumerate() {
        let gx: f64 = g64[c * k..(c + 1) * k]
            .iter()
            .zip(xu.iter().zip(a.iter()))
            .map(|(g, (&xv, &av))| g * (xv - av) as f64)
            .sum();
        *bc = ws.b32[c] as f64 - a0 * gx;
    }
    cholesky_in_place(&mut ws.l, k)?;
    cholesky_solve(&ws.l, k, &mut ws.b64);
    for ((d, av), &v) in ws.delta.iter_mut().zip(a.iter_mut()).zip(&ws.b64) {
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

fn update_ids(ctx: &Ctx<'_>, side: &mut Side, x: &mut Factors, yhat: &mut [f32]) -> Result<()> {
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
                update_id(ctx, u, lambdas[u], a, xu, yh, ws).map_err(|pivot| {
                    Error::NotPositiveDefinite {
                        iteration: ctx.iteration,
                        side: tower.name(),
                        row: u,
                        pivot,
                    }
                })
            },
        )
}

/// `ŷ` of every non-zero of `matrix` (rows: `own`, columns: `other`).
fn predictions(matrix: &SparseMatrix, own: &Factors, other: &Factors, out: &mut Vec<f32>) {
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

/// Trains the towers one step at a time; [`TowerParams::fit`] runs it for
/// `Params::iterations` sweeps. Exposed for tests and for callers who want
/// to drive the sweeps (or single feature-row updates) themselves.
///
/// It runs on the current rayon pool (`Params::threads` is applied by
/// [`TowerParams::fit_with`]).
///
/// Columns of a tower's design matrix: the `p` attribute features first, then
/// one id column per training entity (`p + u`; a column whose entity has no
/// id feature is empty and its weight stays 0).
pub struct TowerTrainer<'a> {
    params: Params,
    tower: TowerParams,
    data: &'a Interactions,
    users: Side,
    items: Side,
    /// `c − α0` and `c p` of each non-zero, user-major and item-major.
    wu: Vec<f32>,
    cpu: Vec<f32>,
    wi: Vec<f32>,
    cpi: Vec<f32>,
    /// Training embeddings (kept exact: recomputed from the weights at the
    /// start of each half-sweep).
    x: Factors,
    y: Factors,
    yhat: Vec<f32>,
    iteration: usize,
    history: Vec<IterationReport>,
}

fn pair_weights(params: &Params, m: &SparseMatrix) -> (Vec<f32>, Vec<f32>) {
    let wt = params.weighting();
    m.data()
        .iter()
        .map(|&r| {
            let (c, cp) = wt.weight_cp(r);
            (c - params.unobserved_weight, cp)
        })
        .unzip()
}

impl<'a> TowerTrainer<'a> {
    /// Set up the towers with the seeded initialization: the id weights are
    /// the initial factors of a plain fit with the same params
    /// ([`crate::train::initial_factors`]); attribute weights are drawn from
    /// the same normal with other seeds (0 for attributes that no training
    /// entity has).
    pub fn new(
        params: &Params,
        tower: &TowerParams,
        data: &'a Interactions,
        user_features: Option<&Features>,
        item_features: Option<&Features>,
    ) -> Result<Self> {
        params.validate()?;
        tower.validate()?;
        let (m, n) = (data.n_users(), data.n_items());
        let (x0, y0) = initial_factors(params, m, n);
        let users = Side::build(
            Tower::User,
            params,
            tower,
            data.users(),
            data.by_user(),
            n,
            user_features,
            x0,
        )?;
        let items = Side::build(
            Tower::Item,
            params,
            tower,
            data.items(),
            data.by_item(),
            m,
            item_features,
            y0,
        )?;
        let (wu, cpu) = pair_weights(params, data.by_user());
        let (wi, cpi) = pair_weights(params, data.by_item());
        let x = users.embeddings(m);
        let y = items.embeddings(n);
        Ok(TowerTrainer {
            params: params.clone(),
            tower: tower.clone(),
            data,
            users,
            items,
            wu,
            cpu,
            wi,
            cpi,
            x,
            y,
            yhat: Vec::new(),
            iteration: 0,
            history: Vec::new(),
        })
    }

    /// Run `f` on one half-sweep's context for `t` (fresh embeddings,
    /// Gramian of the other side, cached predictions).
    fn with_ctx<R>(
        &mut self,
        t: Tower,
        f: impl FnOnce(&Ctx<'_>, &mut Side, &mut Factors, &mut [f32]) -> Result<R>,
    ) -> Result<R> {
        let TowerTrainer {
            params,
            data,
            users,
            items,
            wu,
            cpu,
            wi,
            cpi,
            x,
            y,
            yhat,
            iteration,
            ..
        } = self;
        // Both sides exact from the weights (the incremental updates of the
        // previous half-sweep drift by rounding).
        users.embed_into(x);
        items.embed_into(y);
        let (side, own, other, matrix, w, cp) = match t {
            Tower::User => (users, x, &*y, data.by_user(), &*wu, &*cpu),
            Tower::Item => (items, y, &*x, data.by_item(), &*wi, &*cpi),
        };
        let gram = Gramian::of(other);
        predictions(matrix, own, other, yhat);
        let ctx = Ctx {
            matrix,
            w,
            cp,
            other,
            gram: &gram,
            alpha0: params.unobserved_weight,
            k: params.factors,
            iteration: *iteration,
        };
        f(&ctx, side, own, yhat)
    }

    /// Update every feature row of tower `t` once: attributes in order, then
    /// all id rows (in parallel).
    pub fn half_sweep(&mut self, t: Tower) -> Result<()> {
        self.with_ctx(t, |ctx, side, own, yhat| {
            let mut sc = Scratch::default();
            for j in 0..side.names.len() {
                update_attr(ctx, side, j, own, yhat, &mut sc)?;
            }
            update_ids(ctx, side, own, yhat)
        })
    }

    /// Exact update of one column (feature row) of tower `t`'s weights, with
    /// everything else fixed. Columns are numbered as in
    /// [`TowerTrainer::design`].
    pub fn update_column(&mut self, t: Tower, col: usize) -> Result<()> {
        let n_cols = self.side(t).n_columns();
        if col >= n_cols {
            return Err(Error::IndexOutOfRange {
                kind: "feature column",
                index: col,
                len: n_cols,
            });
        }
        self.with_ctx(t, |ctx, side, own, yhat| {
            let p = side.names.len();
            if col < p {
                return update_attr(ctx, side, col, own, yhat, &mut Scratch::default());
            }
            let u = col - p;
            if !side.has_id[u] {
                return Ok(());
            }
            let k = ctx.k;
            let mut ws = IdWs::new(k);
            let indptr = ctx.matrix.indptr();
            let (s, e) = (indptr.raw_storage()[u], indptr.raw_storage()[u + 1]);
            let lambda = side.id_lambda[u];
            update_id(
                ctx,
                u,
                lambda,
                side.id.row_mut(u),
                own.row_mut(u),
                &mut yhat[s..e],
                &mut ws,
            )
            .map_err(|pivot| Error::NotPositiveDefinite {
                iteration: ctx.iteration,
                side: side.tower.name(),
                row: u,
                pivot,
            })
        })
    }

    /// One iteration: the user half-sweep, the item half-sweep, the loss.
    pub fn sweep(&mut self) -> Result<IterationReport> {
        self.iteration += 1;
        let iteration = self.iteration;
        let start = Instant::now();
        self.half_sweep(Tower::User)?;
        self.half_sweep(Tower::Item)?;
        let seconds = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let loss = self.loss();
        let loss_seconds = start.elapsed().as_secs_f64();
        if !loss.is_finite() || !self.x.all_finite() || !self.y.all_finite() {
            return Err(Error::NonFinite {
                iteration,
                what: if loss.is_finite() { "factors" } else { "loss" },
            });
        }
        let report = IterationReport {
            iteration,
            loss,
            seconds,
            loss_seconds,
        };
        self.history.push(report);
        Ok(report)
    }

    /// The objective at the current weights, split into its three parts
    /// (Gramian trick: `O(|S| k + (m + n) k² + nnz(F) k)`). Also refreshes
    /// the training embeddings from the weights.
    pub fn loss(&mut self) -> LossParts {
        self.users.embed_into(&mut self.x);
        self.items.embed_into(&mut self.y);
        let h = Gramian::of(&self.x);
        let g = Gramian::of(&self.y);
        let mut parts = loss_with(&self.params, self.data, &self.x, &self.y, &h, &g);
        parts.regularization = self.users.regularization() + self.items.regularization();
        parts
    }

    fn side(&self, t: Tower) -> &Side {
        match t {
            Tower::User => &self.users,
            Tower::Item => &self.items,
        }
    }

    /// Number of columns of tower `t`'s design matrix (`p + n_train`).
    pub fn n_columns(&self, t: Tower) -> usize {
        self.side(t).n_columns()
    }

    /// The design matrix of tower `t` over its training entities as
    /// `(entity, column, value)` triplets: attribute values, then a 1 in the
    /// id column of each entity that has an id feature.
    pub fn design(&self, t: Tower) -> Vec<(u32, u32, f32)> {
        let s = self.side(t);
        let p = s.names.len();
        let mut out = Vec::new();
        for u in 0..s.n_train {
            let row = sparse_row(&s.by_entity, u);
            for (&j, &f) in row.indices.iter().zip(row.values) {
                out.push((u as u32, j, f));
            }
            if s.has_id[u] {
                out.push((u as u32, (p + u) as u32, 1.0));
            }
        }
        out
    }

    /// The weights of tower `t`, one row per column of the design matrix.
    pub fn weights(&self, t: Tower) -> Factors {
        let s = self.side(t);
        let mut data = s.attr.as_slice().to_vec();
        data.extend_from_slice(s.id.as_slice());
        Factors::from_vec(s.n_columns(), self.params.factors, data)
            .expect("invariant: p + n_train rows of k")
    }

    /// `λ_j` of every column of tower `t` (0 for empty id columns).
    pub fn column_lambdas(&self, t: Tower) -> Vec<f32> {
        let s = self.side(t);
        let mut out = s.attr_lambda.clone();
        out.extend(
            s.id_lambda
                .iter()
                .zip(&s.has_id)
                .map(|(&l, &h)| if h { l } else { 0.0 }),
        );
        out
    }

    /// Current embeddings of the training users (`m x k`).
    pub fn user_factors(&self) -> Factors {
        self.users.embeddings(self.users.n_train)
    }

    /// Current embeddings of the training items (`n x k`).
    pub fn item_factors(&self) -> Factors {
        self.items.embeddings(self.items.n_train)
    }

    /// The reports of the sweeps run so far.
    pub fn history(&self) -> &[IterationReport] {
        &self.history
    }

    /// The fitted towers.
    pub fn into_model(self) -> TowerModel {
        TowerModel {
            params: self.params,
            tower: self.tower,
            train: self.data.by_user().clone(),
            users: self.users,
            items: self.items,
            history: self.history,
        }
    }

    fn run(
        mut self,
        callback: &mut dyn FnMut(&Progress<'_>) -> ControlFlow<()>,
    ) -> Result<TowerModel> {
        for _ in 0..self.params.iterations {
            let report = self.sweep()?;
            let progress = Progress {
                report: &report,
                user_factors: &self.x,
                item_factors: &self.y,
            };
            if callback(&progress).is_break() {
                break;
            }
        }
        Ok(self.into_model())
    }
}

impl TowerParams {
    /// Fit the towers: `params.iterations` sweeps of iCD from the seeded
    /// initialization. Either feature set may be `None` (ids only on that
    /// side).
    pub fn fit(
        &self,
        params: &Params,
        data: &Interactions,
        user_features: Option<&Features>,
        item_features: Option<&Features>,
    ) -> Result<TowerModel> {
        self.fit_with(params, data, user_features, item_features, |_| {
            ControlFlow::Continue(())
        })
    }

    /// [`TowerParams::fit`], calling `callback` after each iteration with the
    /// loss and the training embeddings; `ControlFlow::Break(())` stops.
    pub fn fit_with<F>(
        &self,
        params: &Params,
        data: &Interactions,
        user_features: Option<&Features>,
        item_features: Option<&Features>,
        mut callback: F,
    ) -> Result<TowerModel>
    where
        F: FnMut(&Progress<'_>) -> ControlFlow<()> + Send,
    {
        params.validate()?;
        self.validate()?;
        let mut job = move || {
            TowerTrainer::new(params, self, data, user_features, item_features)?.run(&mut callback)
        };
        match params.threads {
            Some(t) => rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .map_err(|e| Error::ThreadPool(format!("{t} threads: {e}")))?
                .install(job),
            None => job(),
        }
    }
}

/// The feature Gramian `Φ = Σ_u f_u f_uᵀ` (`cols x cols`, dense, `f64`) of
/// `(entity, column, value)` triplets (duplicates summed). For tests and
/// small feature spaces: it is dense.
pub fn feature_gramian(triplets: &[(u32, u32, f32)], rows: usize, cols: usize) -> Vec<f64> {
    let m = csr_from_triplets(rows, cols, triplets.to_vec());
    let mut phi = vec![0.0f64; cols * cols];
    for u in 0..rows {
        let r = sparse_row(&m, u);
        for (&a, &fa) in r.indices.iter().zip(r.values) {
            for (&b, &fb) in r.indices.iter().zip(r.values) {
                phi[a as usize * cols + b as usize] += fa as f64 * fb as f64;
            }
        }
    }
    phi
}

/// `Aᵀ Φ A` (`k x k`, `f64`) for a dense `Φ` (`p x p`) and weights `A`
/// (`p x k`): the Gramian of the embeddings `X = F A`.
pub fn projected_gramian(phi: &[f64], a: &Factors) -> Vec<f64> {
    let (p, k) = (a.rows(), a.k());
    let mut out = vec![0.0f64; k * k];
    for r in 0..p {
        for s in 0..p {
            let v = phi[r * p + s];
            if v == 0.0 {
                continue;
            }
            let (ar, as_) = (a.row(r), a.row(s));
            for c in 0..k {
                for d in 0..k {
                    out[c * k + d] += v * ar[c] as f64 * as_[d] as f64;
                }
            }
        }
    }
    out
}
