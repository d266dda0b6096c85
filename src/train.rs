//! The sweep loop: each iteration solves every user against the fixed items,
//! then every item against the fixed users, then reports the loss.
//!
//! ## Parallelisation
//! Row solves run in parallel on rayon (one [`Workspace`] per worker); each
//! row is independent, and every reduction (Gramians, loss) runs over fixed
//! chunks summed in a fixed order, so a seed gives bit-identical factors on
//! any number of threads.

use std::ops::ControlFlow;
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::interactions::sparse_row;
use crate::data::{Interactions, SparseMatrix};
use crate::error::{Error, Result};
use crate::factors::Factors;
use crate::gramian::Gramian;
use crate::linalg::dot;
use crate::model::Model;
use crate::params::Params;
use crate::solver::{solve_row, RowProblem, Workspace};

/// Rows a task of the loss reduction covers (fixed, so sums are reproducible).
const LOSS_CHUNK: usize = 1024;

/// The loss of REFERENCE.md split into its three parts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LossParts {
    /// `Σ_S c (p − ŷ)²`.
    pub observed: f64,
    /// `α0 Σ_∉S ŷ² = α0 (⟨XᵀX, YᵀY⟩ − Σ_S ŷ²)`.
    pub unobserved: f64,
    /// `Σ_u λ_u‖x_u‖² + Σ_i λ_i‖y_i‖²`.
    pub regularization: f64,
}

impl LossParts {
    /// The whole objective.
    pub fn total(&self) -> f64 {
        self.observed + self.unobserved + self.regularization
    }

    /// True when every part is finite.
    pub fn is_finite(&self) -> bool {
        self.observed.is_finite() && self.unobserved.is_finite() && self.regularization.is_finite()
    }
}

/// What one iteration did.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct IterationReport {
    /// 1-based iteration.
    pub iteration: usize,
    /// The loss after the iteration.
    pub loss: LossParts,
    /// Seconds of the two half-sweeps (Gramians and row solves).
    pub seconds: f64,
    /// Seconds spent computing the loss.
    pub loss_seconds: f64,
}

/// One log line: `iteration   3  loss 1.234568e4  (observed …, unobserved …,
/// regularization …)  0.12s`.
impl std::fmt::Display for IterationReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "iteration {:>3}  loss {:.6e}  (observed {:.6e}, unobserved {:.6e}, regularization {:.6e})  {:.2}s",
            self.iteration,
            self.loss.total(),
            self.loss.observed,
            self.loss.unobserved,
            self.loss.regularization,
            self.seconds
        )
    }
}

/// What a fit callback sees after each iteration.
pub struct Progress<'a> {
    /// This iteration's report.
    pub report: &'a IterationReport,
    /// The current user factors.
    pub user_factors: &'a Factors,
    /// The current item factors.
    pub item_factors: &'a Factors,
}

/// `λ` of each row: `λ (|S_r| + α0 other)^ν`.
pub(crate) fn row_lambdas(params: &Params, matrix: &SparseMatrix, other: usize) -> Vec<f32> {
    let indptr = matrix.indptr();
    let indptr = indptr.raw_storage();
    indptr
        .windows(2)
        .map(|w| params.row_regularization(w[1] - w[0], other))
        .collect()
}

/// Solve every row of `target` against the fixed side.
///
/// Rows are visited heaviest first (bucketed by `⌊log2 |S_r|⌋`), so that the
/// end of the parallel loop holds only light rows and no thread waits on a
/// late heavy one. Each rayon worker reuses one [`Workspace`] for the whole
/// half-sweep. Rows are independent, so the order does not change results.
pub(crate) fn half_sweep(
    params: &Params,
    pb: &RowProblem<'_>,
    matrix: &SparseMatrix,
    lambdas: &[f32],
    target: &mut Factors,
    side: &'static str,
    iteration: usize,
) -> Result<()> {
    let k = target.k();
    let block = params.effective_block_size();
    let steps = params.cg_steps;
    let indptr = matrix.indptr();
    let indptr = indptr.raw_storage();
    let bucket = |r: usize| (usize::BITS - (indptr[r + 1] - indptr[r]).leading_zeros()) as usize;
    let n_buckets = usize::BITS as usize + 1;
    let mut counts = vec![0usize; n_buckets + 1];
    for r in 0..target.rows() {
        counts[n_buckets - bucket(r)] += 1;
    }
    for b in 1..counts.len() {
        counts[b] += counts[b - 1];
    }
    // counts[b] is now the end of descending bucket b; fill from the start.
    let mut start: Vec<usize> = std::iter::once(0).chain(counts.iter().copied()).collect();
    let mut slots: Vec<Option<(usize, &mut [f32])>> = (0..target.rows()).map(|_| None).collect();
    for (r, x) in target.as_mut_slice().chunks_mut(k.max(1)).enumerate() {
        let b = n_buckets - bucket(r);
        slots[start[b]] = Some((r, x));
        start[b] += 1;
    }
    let rows: Vec<(usize, &mut [f32])> = slots.into_iter().flatten().collect();
    let workspaces: Vec<Mutex<Workspace>> = (0..rayon::current_num_threads().max(1))
        .map(|_| Mutex::new(Workspace::new(k)))
        .collect();
    rows.into_par_iter().try_for_each(|(r, x)| {
        let t = rayon::current_thread_index().unwrap_or(0) % workspaces.len();
        let mut ws = workspaces[t].lock().unwrap_or_else(|e| e.into_inner());
        solve_row(
            params.solver,
            pb,
            sparse_row(matrix, r),
            lambdas[r],
            steps,
            block,
            x,
            &mut ws,
        )
        .map_err(|pivot| Error::NotPositiveDefinite {
            iteration,
            side,
            row: r,
            pivot,
        })
    })
}

#[allow(clippy::needless_range_loop)]
/// The loss with precomputed Gramians `H = XᵀX` and `G = YᵀY`.
pub(crate) fn loss_with(
    params: &Params,
    data: &Interactions,
    x: &Factors,
    y: &Factors,
    h: &Gramian,
    g: &Gramian,
) -> LossParts {
    let wt = params.weighting();
    let m = data.n_users();
    let n = data.n_items();
    let user_lambdas = row_lambdas(params, data.by_user(), n);
    let item_lambdas = row_lambdas(params, data.by_item(), m);
    // [observed, Σ_S ŷ², user reg]
    let parts: Vec<[f64; 3]> = (0..m.div_ceil(LOSS_CHUNK))
        .into_par_iter()
        .map(|c| {
            let mut acc = [0.0f64; 3];
            for u in c * LOSS_CHUNK..((c + 1) * LOSS_CHUNK).min(m) {
                let xu = x.row(u);
                let row = data.user_row(u);
                for (&i, &r) in row.indices.iter().zip(row.values) {
                    let yhat = dot(xu, y.row(i as usize)) as f64;
                    let (c, p) = wt.weight(r);
                    let d = p as f64 - yhat;
                    acc[0] += c as f64 * d * d;
                    acc[1] += yhat * yhat;
                }
                acc[2] += user_lambdas[u] as f64 * dot(xu, xu) as f64;
            }
            acc
        })
        .collect();
    let item_reg: Vec<f64> = (0..n.div_ceil(LOSS_CHUNK))
        .into_par_iter()
        .map(|c| {
            (c * LOSS_CHUNK..((c + 1) * LOSS_CHUNK).min(n))
                .map(|i| {
                    let yi = y.row(i);
                    item_lambdas[i] as f64 * dot(yi, yi) as f64
                })
                .sum()
        })
        .collect();
    let mut observed = 0.0;
    let mut obs_sq = 0.0;
    let mut reg = 0.0;
    for p in &parts {
        observed += p[0];
        obs_sq += p[1];
        reg += p[2];
    }
    reg += item_reg.iter().sum::<f64>();
    let all_pairs = h.frobenius_inner(g);
    LossParts {
        observed,
        unobserved: params.unobserved_weight as f64 * (all_pairs - obs_sq),
        regularization: reg,
    }
}

/// The loss of factors `x`, `y` on `data` (Gramian trick,
/// `O(|S| k + (m + n) k²)`).
pub fn loss(params: &Params, data: &Interactions, x: &Factors, y: &Factors) -> LossParts {
    let h = Gramian::of(x);
    let g = Gramian::of(y);
    loss_with(params, data, x, y, &h, &g)
}

/// Initial factors of a fit: entries from `params.init` (normal or uniform)
/// at scale `effective_init_std`, users from `seed`, items from `seed` with
/// its bits mixed, generated row after row.
pub fn initial_factors(params: &Params, m: usize, n: usize) -> (Factors, Factors) {
    let (init, s, k) = (params.init, params.effective_init_std(), params.factors);
    let x = Factors::random(init, m, k, s, params.seed);
    let y = Factors::random(init, n, k, s, params.seed ^ 0x9E37_79B9_7F4A_7C15);
    (x, y)
}

/// Run the sweeps from given factors; see [`Params::fit_with`].
pub(crate) fn run(
    params: &Params,
    data: &Interactions,
    mut x: Factors,
    mut y: Factors,
    callback: &mut dyn FnMut(&Progress<'_>) -> ControlFlow<()>,
) -> Result<(Factors, Factors, Vec<IterationReport>)> {
    params.validate()?;
    let (m, n) = (data.n_users(), data.n_items());
    if x.rows() != m || y.rows() != n || x.k() != params.factors || y.k() != params.factors {
        return Err(Error::Shape(format!(
            "initial factors are {}x{} and {}x{}, expected {m}x{k} and {n}x{k}",
            x.rows(),
            x.k(),
            y.rows(),
            y.k(),
            k = params.factors
        )));
    }
    let user_lambdas = row_lambdas(params, data.by_user(), n);
    let item_lambdas = row_lambdas(params, data.by_item(), m);
    let weighting = params.weighting();
    let alpha0 = params.unobserved_weight;
    let mut history = Vec::with_capacity(params.iterations);
    let mut g = Gramian::of(&y);
    for iteration in 1..=params.iterations {
        let start = Instant::now();
        let pb = RowProblem {
            fixed: &y,
            gram: &g,
            weighting,
            alpha0,
        };
        half_sweep(
            params,
            &pb,
            data.by_user(),
            &user_lambdas,
            &mut x,
            "user",
            iteration,
        )?;
        let h = Gramian::of(&x);
        let pb = RowProblem {
            fixed: &x,
            gram: &h,
            weighting,
            alpha0,
        };
        half_sweep(
            params,
            &pb,
            data.by_item(),
            &item_lambdas,
            &mut y,
            "item",
            iteration,
        )?;
        g = Gramian::of(&y);
        let seconds = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let loss = loss_with(params, data, &x, &y, &h, &g);
        let loss_seconds = start.elapsed().as_secs_f64();
        if !loss.is_finite() || !x.all_finite() || !y.all_finite() {
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
        history.push(report);
        let progress = Progress {
            report: &report,
            user_factors: &x,
            item_factors: &y,
        };
        if callback(&progress).is_break() {
            break;
        }
    }
    Ok((x, y, history))
}

impl Params {
    /// Fit on `data` from the seeded initialization.
    ///
    /// ```
    /// use ials::{Interactions, Params, SolverKind};
    /// let data = Interactions::from_indexed(3, 4, [(0, 0, 1.0), (1, 1, 2.0), (2, 3, 1.0), (0, 2, 1.0)])?;
    /// let params = Params::builder().factors(2).iterations(3).solver(SolverKind::Cholesky).check()?;
    /// let model = params.fit(&data)?;
    /// assert_eq!(model.loss_history().len(), 3);
    /// # Ok::<(), ials::Error>(())
    /// ```
    pub fn fit(&self, data: &Interactions) -> Result<Model> {
        self.fit_with(data, |_| ControlFlow::Continue(()))
    }

    /// Fit, calling `callback` after each iteration; returning
    /// `ControlFlow::Break(())` stops after that iteration.
    pub fn fit_with<F>(&self, data: &Interactions, callback: F) -> Result<Model>
    where
        F: FnMut(&Progress<'_>) -> ControlFlow<()> + Send,
    {
        let (x, y) = initial_factors(self, data.n_users(), data.n_items());
        self.fit_from(data, x, y, callback)
    }

    /// Fit from given initial factors (`m x k` and `n x k`).
    pub fn fit_from<F>(
        &self,
        data: &Interactions,
        x: Factors,
        y: Factors,
        mut callback: F,
    ) -> Result<Model>
    where
        F: FnMut(&Progress<'_>) -> ControlFlow<()> + Send,
    {
        self.validate()?;
        let job = || run(self, data, x, y, &mut callback);
        let (x, y, history) = match self.threads {
            Some(t) => rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .map_err(|e| Error::ThreadPool(format!("{t} threads: {e}")))?
                .install(job)?,
            None => job()?,
        };
        Ok(Model::new(
            self.clone(),
            data.users().clone(),
            data.items().clone(),
            data.by_user().clone(),
            x,
            y,
            history,
        ))
    }
}
