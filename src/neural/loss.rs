//! The batch losses and their gradients with respect to the tower outputs.
//!
//! A batch of `B` observed pairs `(u_b, i_b)` is reduced to its distinct
//! users (`X`, `D_u x k`) and distinct items (`Y`, `D_i x k`), the items
//! carrying their multiplicity `cnt_d` (in-batch occurrences plus uniform
//! negatives). Every logit is computed once, `S = X Yᵀ / τ` (`D_u x D_i`),
//! which is the B x B in-batch softmax with repeated users and items scored
//! once:
//!
//! ```text
//! s'_ud = s_ud − log Q_d
//! loss_b = −r_b ( s'_{u i_b} − log( Σ_{d ∉ M_u} cnt_d e^{s'_ud} + e^{s'_{u i_b}} ) )
//! L = (1/B) Σ_b loss_b
//! ```
//!
//! where `M_u` (the accidental hits) holds the batch items that are training
//! items of `u` (its positives included): the same item elsewhere in the
//! batch and the user's other training items get logit −∞, the row's own
//! positive counts once. Without user masking `M_u` is empty and the
//! positive's other copies are removed from the sum instead.

use matrixmultiply::sgemm;

use crate::linalg::exp_shift_dot;
use rayon::prelude::*;

/// Row blocks of a product are multiples of this. Each output element is
/// one sgemm dot product in a fixed order whatever the row blocking, so the
/// results do not depend on the thread count (tested).
const CHUNK: usize = 8;

/// One batch, reduced to distinct users and items.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Distinct users (entity indices), in first-seen order.
    pub users: Vec<u32>,
    /// Distinct items: the batch's, then the uniform negatives not in it.
    pub items: Vec<u32>,
    /// How many of `items` come from the batch's pairs (the first ones).
    pub n_in_batch: usize,
    /// Multiplicity of each item column.
    pub counts: Vec<f32>,
    /// `log Q` of each item column (0 without correction).
    pub logq: Vec<f32>,
    /// Per user slot `u`, the batch rows `rows_of[row_ptr[u]..row_ptr[u + 1]]`.
    pub row_ptr: Vec<usize>,
    /// Batch rows grouped by user slot.
    pub rows_of: Vec<u32>,
    /// Per batch row: user slot, item slot.
    pub pairs: Vec<(u32, u32)>,
    /// Per batch row: the weight `r_b` (softmax) or confidence `c_b` (mse).
    pub weight: Vec<f32>,
    /// Per batch row: the target `p_b` (mse).
    pub target: Vec<f32>,
    /// Per user slot, the masked item slots `mask[mask_ptr[u]..mask_ptr[u + 1]]`, ascending.
    pub mask_ptr: Vec<usize>,
    /// Masked item slots.
    pub mask: Vec<u32>,
}

impl Batch {
    /// Number of observed pairs `B`.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True for a batch with no pair.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// What [`Batch::build`] reads beside the pairs.
pub struct BatchSpec<'a> {
    /// Per pair: `r_b` (softmax) or `c_b` (mse).
    pub weight: &'a [f32],
    /// Per pair: `p_b` (mse; empty for the softmax losses).
    pub target: &'a [f32],
    /// Uniform negatives (item indices, repeats allowed).
    pub negatives: &'a [u32],
    /// The training matrix (user-major) whose items are masked per user;
    /// `None`: only the same item elsewhere in the batch is masked.
    pub mask_from: Option<&'a crate::data::SparseMatrix>,
}

impl Batch {
    /// Reduce `pairs` (user, item) to distinct users and items. `logq(i, q)`
    /// gives the column's `log Q` from the item and its multiplicity in the
    /// batch (before negatives). `user_slot` and `item_slot` are scratch maps
    /// sized to the users and items, all `u32::MAX`, and are left that way.
    pub fn build(
        pairs: &[(u32, u32)],
        spec: &BatchSpec,
        mut logq: impl FnMut(u32) -> f32,
        user_slot: &mut [u32],
        item_slot: &mut [u32],
    ) -> Batch {
        let mut b = Batch::default();
        for &(u, i) in pairs {
            let us = &mut user_slot[u as usize];
            if *us == u32::MAX {
                *us = b.users.len() as u32;
                b.users.push(u);
            }
            let is = &mut item_slot[i as usize];
            if *is == u32::MAX {
                *is = b.items.len() as u32;
                b.items.push(i);
                b.counts.push(0.0);
            }
            b.counts[*is as usize] += 1.0;
            b.pairs.push((*us, *is));
        }
        b.n_in_batch = b.items.len();
        b.weight = spec.weight.to_vec();
        b.target = spec.target.to_vec();
        for &i in spec.negatives {
            let is = &mut item_slot[i as usize];
            if *is == u32::MAX {
                *is = b.items.len() as u32;
                b.items.push(i);
                b.counts.push(0.0);
            }
            b.counts[*is as usize] += 1.0;
        }
        b.logq = b.items.iter().map(|&i| logq(i)).collect();
        // Rows grouped by user slot (a counting sort keeps batch order within a user).
        let du = b.users.len();
        b.row_ptr = vec![0; du + 1];
        for &(u, _) in &b.pairs {
            b.row_ptr[u as usize + 1] += 1;
        }
        for s in 0..du {
            b.row_ptr[s + 1] += b.row_ptr[s];
        }
        let mut fill = b.row_ptr.clone();
        b.rows_of = vec![0; b.pairs.len()];
        for (r, &(u, _)) in b.pairs.iter().enumerate() {
            b.rows_of[fill[u as usize]] = r as u32;
            fill[u as usize] += 1;
        }
        // Accidental hits: each user's training items among the columns.
        b.mask_ptr = Vec::with_capacity(du + 1);
        b.mask_ptr.push(0);
        for &u in &b.users {
            let start = b.mask.len();
            if let Some(train) = spec.mask_from {
                if let Some(row) = train.outer_view(u as usize) {
                    for &i in row.indices() {
                        let s = item_slot[i as usize];
                        if s != u32::MAX {
                            b.mask.push(s);
                        }
                    }
                }
            }
            b.mask[start..].sort_unstable();
            b.mask_ptr.push(b.mask.len());
        }
        for &u in &b.users {
            user_slot[u as usize] = u32::MAX;
        }
        for &i in &b.items {
            item_slot[i as usize] = u32::MAX;
        }
        b
    }
}

/// `C (rows x cols) = A (rows x inner) · B`, with `B` given by strides
/// `(rsb, csb)`, computed in fixed chunks of rows in parallel.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_rows(
    rows: usize,
    inner: usize,
    cols: usize,
    a: &[f32],
    rsa: usize,
    csa: usize,
    b: &[f32],
    rsb: usize,
    csb: usize,
    c: &mut [f32],
) {
    if rows == 0 || cols == 0 {
        return;
    }
    if inner == 0 {
        c[..rows * cols].fill(0.0);
        return;
    }
    let per = rows
        .div_ceil(rayon::current_num_threads())
        .next_multiple_of(CHUNK);
    c[..rows * cols]
        .par_chunks_mut(per * cols)
        .enumerate()
        .for_each(|(ci, cc)| {
            let r0 = ci * per;
            let m = cc.len() / cols;
            // SAFETY: the strides describe matrices inside the slices: A has
            // `rows` rows of `inner` entries at (rsa, csa), B `inner x cols` at
            // (rsb, csb), and `cc` holds `m` rows of `cols` entries.
            unsafe {
                sgemm(
                    m,
                    inner,
                    cols,
                    1.0,
                    a.as_ptr().add(r0 * rsa),
                    rsa as isize,
                    csa as isize,
                    b.as_ptr(),
                    rsb as isize,
                    csb as isize,
                    0.0,
                    cc.as_mut_ptr(),
                    cols as isize,
                    1,
                );
            }
        });
}

/// Output gradients of a batch: `dX = dS Y`, `dY = dSᵀ X`.
fn output_grads(
    ds: &[f32],
    x: &[f32],
    y: &[f32],
    du: usize,
    di: usize,
    k: usize,
) -> (Vec<f32>, Vec<f32>) {
    let mut dx = vec![0.0f32; du * k];
    let mut dy = vec![0.0f32; di * k];
    gemm_rows(du, di, k, ds, di, 1, y, k, 1, &mut dx);
    gemm_rows(di, du, k, ds, 1, di, x, k, 1, &mut dy);
    (dx, dy)
}

/// The in-batch (or mixed) softmax: loss and gradients with respect to
/// `X` and `Y`. `x` is `users.len() x k`, `y` is `items.len() x k`.
pub fn softmax(b: &Batch, x: &[f32], y: &[f32], k: usize, tau: f32) -> (f64, Vec<f32>, Vec<f32>) {
    let du = b.users.len();
    let di = b.items.len();
    let mut s = vec![0.0f32; du * di];
    gemm_rows(du, k, di, x, k, 1, y, 1, k, &mut s);
    let inv_b = 1.0 / b.len() as f64;
    let inv_tau = 1.0 / tau;
    // Each user row turns its logits into gradients (w.r.t. s) in place;
    // `w` is the row's column weights: the multiplicity, 0 where masked.
    let losses: Vec<f64> = s
        .par_chunks_mut(di)
        .enumerate()
        .map_init(
            || (vec![0.0f32; di], Vec::new()),
            |(w, pos), (u, row)| {
                let mut mx = f32::NEG_INFINITY;
                for (v, &q) in row.iter_mut().zip(&b.logq) {
                    *v = *v * inv_tau - q;
                    mx = mx.max(*v);
                }
                w.copy_from_slice(&b.counts);
                for &m in &b.mask[b.mask_ptr[u]..b.mask_ptr[u + 1]] {
                    w[m as usize] = 0.0;
                }
                // The row's positives: (row, column, s' − max).
                let rows = &b.rows_of[b.row_ptr[u]..b.row_ptr[u + 1]];
                pos.clear();
                pos.extend(rows.iter().map(|&r| {
                    let d = b.pairs[r as usize].1 as usize;
                    (r as usize, d, row[d] - mx)
                }));
                let z_base = exp_shift_dot(row, w, mx) as f64;
                let mut loss = 0.0f64;
                let mut r_sum = 0.0f64; // Σ_b r_b / denom_b
                let mut adjust = Vec::with_capacity(pos.len());
                for &(r, d, sd) in pos.iter() {
                    let (ed, wd) = (row[d] as f64, w[d] as f64);
                    let denom = z_base - wd * ed + ed;
                    let rb = b.weight[r] as f64;
                    loss -= rb * (sd as f64 - denom.ln());
                    r_sum += rb / denom;
                    // The positive's own copy: weight 1 instead of w_d, minus the target.
                    adjust.push((d, ((ed * (rb / denom) * (1.0 - wd) - rb) * inv_b) as f32));
                }
                let coef = (r_sum * inv_b) as f32 * inv_tau;
                for (v, &wv) in row.iter_mut().zip(w.iter()) {
                    *v *= wv * coef;
                }
                for (d, a) in adjust {
                    row[d] += a * inv_tau;
                }
                loss * inv_b
            },
        )
        .collect();
    let loss = losses.iter().sum();
    let (dx, dy) = output_grads(&s, x, y, du, di, k);
    (loss, dx, dy)
}

/// What mse-gramian needs beside the batch.
pub struct MseContext<'a> {
    /// `α0`.
    pub alpha0: f32,
    /// `λ` on the outputs.
    pub lambda: f32,
    /// Gramian estimate of the items (for the user rows), `k x k`.
    pub item_gram: &'a [f32],
    /// Gramian estimate of the users (for the item rows), `k x k`.
    pub user_gram: &'a [f32],
    /// `|S_u|` of each user slot.
    pub user_counts: &'a [f32],
    /// `|S_i|` of each item slot.
    pub item_counts: &'a [f32],
}

/// mse-gramian on one batch, per training pair (the epoch's sum times `|S|`
/// is the iALS objective, see the module doc of `neural`):
///
/// ```text
/// ℓ = (1/B) Σ_b [ c_b (p_b − ŷ_b)² − α0 ŷ_b²
///               + (α0/2 x_uᵀ Ĝ_V x_u + λ ‖x_u‖²) / |S_u| + (α0/2 y_iᵀ Ĝ_U y_i + λ ‖y_i‖²) / |S_i| ]
/// ```
///
/// The gradient of the Gramian part is the unbiased `2 α0 Ĝ_V x_u / |S_u|`
/// (and `2 α0 Ĝ_U y_i / |S_i|`): the one of `α0 ⟨G_U, G_V⟩` spread over the
/// user's occurrences.
pub fn mse_gramian(
    b: &Batch,
    x: &[f32],
    y: &[f32],
    k: usize,
    ctx: &MseContext,
) -> (f64, Vec<f32>, Vec<f32>) {
    let du = b.users.len();
    let di = b.items.len();
    let inv_b = 1.0 / b.len() as f32;
    let mut dx = vec![0.0f32; du * k];
    let mut dy = vec![0.0f32; di * k];
    let mut loss = 0.0f64;
    let mut user_rows = vec![0.0f32; du];
    let mut item_rows = vec![0.0f32; di];
    for (r, &(u, i)) in b.pairs.iter().enumerate() {
        let (u, i) = (u as usize, i as usize);
        let xu = &x[u * k..(u + 1) * k];
        let yi = &y[i * k..(i + 1) * k];
        let yhat: f32 = xu.iter().zip(yi).map(|(a, b)| a * b).sum();
        let (c, p) = (b.weight[r], b.target[r]);
        loss += (c * (p - yhat) * (p - yhat) - ctx.alpha0 * yhat * yhat) as f64 * inv_b as f64;
        let g = inv_b * (-2.0 * c * (p - yhat) - 2.0 * ctx.alpha0 * yhat);
        for j in 0..k {
            dx[u * k + j] += g * yi[j];
            dy[i * k + j] += g * xu[j];
        }
        user_rows[u] += 1.0;
        item_rows[i] += 1.0;
    }
    let mut penalty =
        |rows: &[f32], emb: &[f32], gram: &[f32], counts: &[f32], grad: &mut [f32]| {
            for (s, &n) in rows.iter().enumerate() {
                if n == 0.0 {
                    continue;
                }
                let e = &emb[s * k..(s + 1) * k];
                let w = n * inv_b / counts[s];
                let mut quad = 0.0f32;
                let mut norm2 = 0.0f32;
                for a in 0..k {
                    let ga: f32 = gram[a * k..(a + 1) * k]
                        .iter()
                        .zip(e)
                        .map(|(g, v)| g * v)
                        .sum();
                    quad += e[a] * ga;
                    norm2 += e[a] * e[a];
                    grad[s * k + a] += w * (2.0 * ctx.alpha0 * ga + 2.0 * ctx.lambda * e[a]);
                }
                loss += (w * (0.5 * ctx.alpha0 * quad + ctx.lambda * norm2)) as f64;
            }
        };
    penalty(&user_rows, x, ctx.item_gram, ctx.user_counts, &mut dx);
    penalty(&item_rows, y, ctx.user_gram, ctx.item_counts, &mut dy);
    (loss, dx, dy)
}
