//! Training: the one loop every trainer runs, and plain iALS as a trainer.
//!
//! A [`Trainer`] knows how to make one pass over the data (a sweep of
//! alternating least squares; an epoch of minibatches for an SGD trainer),
//! what its loss is, and what its current factors are. [`drive`] is the one
//! loop around it: the thread pool, timing, the non-finite guard, the loss
//! history, callbacks and early stopping (a callback returning
//! `ControlFlow::Break`). [`Params::fit`] runs it with [`Ials`], the towers
//! run it with [`TowerTrainer`](crate::towers::TowerTrainer), and
//! [`Model::partial_fit`](crate::Model::partial_fit) runs its extra sweeps
//! through it.
//!
//! An iALS iteration solves every user against the fixed items, then every
//! item against the fixed users, then reports the loss.
//!
//! ## Parallelisation
//! Row solves run in parallel on rayon (one [`Workspace`] per worker); each
//! row is independent, and every reduction (Gramians, loss) runs over fixed
//! chunks summed in a fixed order, so a seed gives bit-identical factors on
//! any number of threads.

use std::borrow::Cow;
use std::ops::ControlFlow;
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;

use crate::confidence::Weighting;
use crate::data::interactions::sparse_row;
use crate::data::{IdMap, Interactions, RowView, SparseMatrix};
use crate::error::{Error, Result};
use crate::factors::Factors;
use crate::gramian::Gramian;
use crate::linalg::{dot, prefetch, PREFETCH_AHEAD};
use crate::model::{Model, Side};
use crate::params::Params;
pub use crate::report::{IterationReport, LossParts, Progress};
use crate::solver::{solve_row, RowProblem, Workspace};

/// A model that trains by repeated passes over the data.
///
/// Implemented by plain iALS ([`Ials`]) and the linear towers; a neural
/// two-tower trainer implements it with one epoch of minibatches per
/// [`sweep`](Trainer::sweep) and the epoch's loss from
/// [`loss`](Trainer::loss). [`drive`] does everything else.
pub trait Trainer {
    /// One pass over the data (`iteration` is 1-based, for error messages).
    fn sweep(&mut self, iteration: usize) -> Result<()>;
    /// The loss of the current factors, in parts (called once after each
    /// sweep; it may refresh cached factors).
    fn loss(&mut self) -> LossParts;
    /// The current user and item factors (embeddings).
    fn factors(&self) -> (&Factors, &Factors);
    /// Whether [`step`] asks for the loss after each sweep (default true).
    fn tracks_loss(&self) -> bool {
        true
    }
}

/// Run `job` on a pool of `threads` workers (`None`: the current pool).
pub(crate) fn with_threads<R: Send>(
    threads: Option<usize>,
    job: impl FnOnce() -> Result<R> + Send,
) -> Result<R> {
    match threads {
        Some(t) => rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .map_err(|e| Error::ThreadPool(format!("{t} threads: {e}")))?
            .install(job),
        None => job(),
    }
}

/// One iteration of `trainer`: the sweep, the loss, the non-finite guard.
pub fn step<T: Trainer + ?Sized>(trainer: &mut T, iteration: usize) -> Result<IterationReport> {
    let start = Instant::now();
    trainer.sweep(iteration)?;
    let seconds = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let loss = trainer.tracks_loss().then(|| trainer.loss());
    let loss_seconds = start.elapsed().as_secs_f64();
    let (x, y) = trainer.factors();
    let loss_ok = loss.is_none_or(|l| l.is_finite());
    if !loss_ok || !x.all_finite() || !y.all_finite() {
        return Err(Error::NonFinite {
            iteration,
            what: if loss_ok { "factors" } else { "loss" },
        });
    }
    Ok(IterationReport {
        iteration,
        loss,
        seconds,
        loss_seconds,
    })
}

/// The training loop: up to `iterations` [`step`]s, calling `callback` after
/// each (`ControlFlow::Break(())` stops after that iteration); returns the
/// reports. Runs on the current rayon pool: wrap it in the params' pool
/// with [`train`].
pub fn drive<T: Trainer + ?Sized>(
    trainer: &mut T,
    iterations: usize,
    callback: &mut dyn FnMut(&Progress<'_>) -> ControlFlow<()>,
) -> Result<Vec<IterationReport>> {
    let mut history = Vec::with_capacity(iterations);
    for iteration in 1..=iterations {
        let report = step(trainer, iteration)?;
        history.push(report);
        let (x, y) = trainer.factors();
        let progress = Progress {
            report: &report,
            user_factors: x,
            item_factors: y,
        };
        if callback(&progress).is_break() {
            break;
        }
    }
    Ok(history)
}

/// Set up a trainer with `setup` and [`drive`] it, all on a pool of
/// `threads` workers; returns the trainer and its reports.
pub fn train<T, S, F>(
    threads: Option<usize>,
    iterations: usize,
    setup: S,
    mut callback: F,
) -> Result<(T, Vec<IterationReport>)>
where
    T: Trainer + Send,
    S: FnOnce() -> Result<T> + Send,
    F: FnMut(&Progress<'_>) -> ControlFlow<()> + Send,
{
    with_threads(threads, move || {
        let mut trainer = setup()?;
        let history = drive(&mut trainer, iterations, &mut callback)?;
        Ok((trainer, history))
    })
}

/// Rows a task of the loss reduction covers (fixed, so sums are reproducible).
const LOSS_CHUNK: usize = 1024;

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
    (side, iteration): (&'static str, usize),
    row_losses: Option<&mut [RowLoss]>,
) -> Result<()> {
    let k = target.k();
    let solver = params.solver();
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
    type Slot<'s> = (usize, &'s mut [f32], Option<&'s mut RowLoss>);
    let mut slots: Vec<Option<Slot<'_>>> = (0..target.rows()).map(|_| None).collect();
    let mut losses = row_losses.map(|l| l.iter_mut());
    for (r, x) in target.as_mut_slice().chunks_mut(k.max(1)).enumerate() {
        let b = n_buckets - bucket(r);
        let loss = losses.as_mut().and_then(|l| l.next());
        slots[start[b]] = Some((r, x, loss));
        start[b] += 1;
    }
    let rows: Vec<Slot<'_>> = slots.into_iter().flatten().collect();
    let workspaces: Vec<Mutex<Workspace>> = (0..rayon::current_num_threads().max(1))
        .map(|_| Mutex::new(Workspace::new(k)))
        .collect();
    let wt = params.weighting();
    rows.into_par_iter().try_for_each(|(r, x, loss)| {
        let t = rayon::current_thread_index().unwrap_or(0) % workspaces.len();
        let mut ws = workspaces[t].lock().unwrap_or_else(|e| e.into_inner());
        let row = sparse_row(matrix, r);
        solve_row(solver, pb, row, lambdas[r], x, &mut ws)
            .map_err(|pivot| pivot.at(iteration, side, r))?;
        if let Some(loss) = loss {
            // Fused: the fixed rows this solve just read are still in cache.
            *loss = row_share(wt, pb.fixed, row, x, lambdas[r]);
        }
        Ok(())
    })
}

/// One row's share of the loss: `[Σ_S c (p − ŷ)², Σ_S ŷ², λ_r ‖x_r‖²]` of
/// row `x_r` (its interactions `row`) against the fixed side.
pub(crate) type RowLoss = [f64; 3];

#[inline]
fn row_share(
    wt: crate::confidence::Weighting,
    fixed: &Factors,
    row: crate::data::RowView<'_>,
    x_r: &[f32],
    lambda: f32,
) -> RowLoss {
    let [observed, obs_sq] = row_loss(wt, x_r, row, fixed);
    [observed, obs_sq, lambda as f64 * dot(x_r, x_r) as f64]
}

/// Row losses summed in fixed chunks, chunks in order (reproducible on any
/// number of threads; the fused and the separate pass give the same bits).
fn sum_row_losses(parts: impl IndexedParallelIterator<Item = RowLoss>) -> RowLoss {
    let per_row: Vec<RowLoss> = parts.collect();
    let chunks: Vec<RowLoss> = per_row
        .par_chunks(LOSS_CHUNK)
        .map(|c| {
            let mut acc = [0.0f64; 3];
            for p in c {
                for (a, v) in acc.iter_mut().zip(p) {
                    *a += v;
                }
            }
            acc
        })
        .collect();
    let mut acc = [0.0f64; 3];
    for p in &chunks {
        for (a, v) in acc.iter_mut().zip(p) {
            *a += v;
        }
    }
    acc
}

/// `λ_u` of every user and `λ_i` of every item.
#[derive(Clone, Debug)]
pub(crate) struct Lambdas {
    pub(crate) users: Vec<f32>,
    pub(crate) items: Vec<f32>,
}

impl Lambdas {
    pub(crate) fn of(params: &Params, data: &Interactions) -> Self {
        Lambdas {
            users: row_lambdas(params, data.by_user(), data.n_items()),
            items: row_lambdas(params, data.by_item(), data.n_users()),
        }
    }
}

/// One row's share of the loss over its interactions `row` (indices into
/// `fixed`): `[Σ c (p − ŷ)², Σ ŷ²]` with `ŷ = x · fixed_j` (the second sum is
/// the Gramian trick's correction of the unobserved part). Summed over the
/// rows of either side it gives the same totals.
pub fn row_loss(wt: Weighting, x: &[f32], row: RowView<'_>, fixed: &Factors) -> [f64; 2] {
    let mut acc = [0.0f64; 2];
    let k = fixed.k();
    for (t, (&j, &r)) in row.indices.iter().zip(row.values).enumerate() {
        // The fixed rows are scattered (users of a popular item): ask for
        // the rows ahead, as the solvers' gathers do.
        if let Some(&ahead) = row.indices.get(t + PREFETCH_AHEAD) {
            prefetch(fixed.as_slice(), ahead as usize * k, k);
        }
        let yhat = dot(x, fixed.row(j as usize)) as f64;
        let (c, p) = wt.weight(r);
        let d = p as f64 - yhat;
        acc[0] += c as f64 * d * d;
        acc[1] += yhat * yhat;
    }
    acc
}

/// The loss with precomputed Gramians `H = XᵀX` and `G = YᵀY` and
/// regularization weights: item rows against the users (observed part and
/// item regularization), then the user regularization.
pub(crate) fn loss_with(
    params: &Params,
    data: &Interactions,
    x: &Factors,
    y: &Factors,
    h: &Gramian,
    g: &Gramian,
    lambdas: &Lambdas,
) -> LossParts {
    let wt = params.weighting();
    let items = sum_row_losses(
        (0..data.n_items())
            .into_par_iter()
            .map(|i| row_share(wt, x, data.item_row(i), y.row(i), lambdas.items[i])),
    );
    loss_from_items(params, x, h, g, lambdas, items)
}

/// The loss from the item rows' summed [`RowLoss`] (computed separately or
/// fused into the item half-sweep) and the user regularization.
fn loss_from_items(
    params: &Params,
    x: &Factors,
    h: &Gramian,
    g: &Gramian,
    lambdas: &Lambdas,
    items: RowLoss,
) -> LossParts {
    let users = sum_row_losses((0..x.rows()).into_par_iter().map(|u| {
        [
            0.0,
            0.0,
            lambdas.users[u] as f64 * dot(x.row(u), x.row(u)) as f64,
        ]
    }));
    let all_pairs = h.frobenius_inner(g);
    LossParts {
        observed: items[0],
        unobserved: params.unobserved_weight() as f64 * (all_pairs - items[1]),
        regularization: items[2] + users[2],
    }
}

/// The loss of factors `x`, `y` on `data` (Gramian trick,
/// `O(|S| k + (m + n) k²)`).
pub fn loss(params: &Params, data: &Interactions, x: &Factors, y: &Factors) -> LossParts {
    let h = Gramian::of(x);
    let g = Gramian::of(y);
    loss_with(params, data, x, y, &h, &g, &Lambdas::of(params, data))
}

/// Initial factors of a fit on data with these ids: entries from
/// `params.init()` (normal or uniform) at scale `init_std()`, each row from a
/// generator keyed by `(seed, side, external id)`
/// ([`Factors::random_keyed`]), so the start (and so the fit) depends neither
/// on the order of the input nor on its partitioning.
pub fn initial_factors_for(params: &Params, users: &IdMap, items: &IdMap) -> (Factors, Factors) {
    let x = initial_rows(params, Side::User, users.len(), |r| {
        Cow::Borrowed(users.id(r as u32))
    });
    let y = initial_rows(params, Side::Item, items.len(), |r| {
        Cow::Borrowed(items.id(r as u32))
    });
    (x, y)
}

/// [`initial_factors_for`] on indexed data: `m` users and `n` items with the
/// ids `"0"`, `"1"`, ... (those of [`Interactions::from_indexed`]).
pub fn initial_factors(params: &Params, m: usize, n: usize) -> (Factors, Factors) {
    let index = |r: usize| Cow::Owned(r.to_string());
    let x = initial_rows(params, Side::User, m, index);
    let y = initial_rows(params, Side::Item, n, index);
    (x, y)
}

/// The start of `rows` rows of one side, row `r` keyed by its external id
/// `id(r)` ([`Factors::random_keyed`] at the params' init, scale and seed):
/// the one place a fit's start is drawn (the single-machine fit and the
/// Spark fit's executors both call it).
pub fn initial_rows<'s>(
    params: &Params,
    side: Side,
    rows: usize,
    id: impl Fn(usize) -> Cow<'s, str> + Sync,
) -> Factors {
    let (init, k, s, seed) = (
        params.init(),
        params.factors(),
        params.init_std(),
        params.seed(),
    );
    Factors::random_keyed(init, rows, k, s, seed, side, id)
}

/// Plain iALS as a [`Trainer`]: a sweep is the user half-sweep against
/// `G = YᵀY`, then the item half-sweep against `H = XᵀX`.
pub struct Ials<'a> {
    params: &'a Params,
    data: &'a Interactions,
    x: Factors,
    y: Factors,
    lambdas: Lambdas,
    /// `G = YᵀY` of the current items.
    g: Gramian,
    /// `H = XᵀX` of the users after the last user half-sweep.
    h: Option<Gramian>,
    /// Each item's [`RowLoss`] from the last item half-sweep (fused).
    item_losses: Option<Vec<RowLoss>>,
}

impl<'a> Ials<'a> {
    /// A trainer from given factors (`m x k` and `n x k`).
    pub fn new(params: &'a Params, data: &'a Interactions, x: Factors, y: Factors) -> Result<Self> {
        let (m, n, k) = (data.n_users(), data.n_items(), params.factors());
        if x.rows() != m || y.rows() != n || x.k() != k || y.k() != k {
            return Err(Error::Shape(format!(
                "initial factors are {}x{} and {}x{}, expected {m}x{k} and {n}x{k}",
                x.rows(),
                x.k(),
                y.rows(),
                y.k(),
            )));
        }
        if !params.observed_negatives() && data.has_negatives() {
            return Err(Error::NegativeValues);
        }
        let g = Gramian::of(&y);
        Ok(Ials {
            params,
            data,
            x,
            y,
            lambdas: Lambdas::of(params, data),
            g,
            h: None,
            item_losses: None,
        })
    }

    /// The factors `(X, Y)`.
    pub fn into_factors(self) -> (Factors, Factors) {
        (self.x, self.y)
    }

    fn problem<'b>(&self, fixed: &'b Factors, gram: &'b Gramian) -> RowProblem<'b> {
        RowProblem {
            fixed,
            gram,
            weighting: self.params.weighting(),
            alpha0: self.params.unobserved_weight(),
        }
    }
}

impl Trainer for Ials<'_> {
    fn sweep(&mut self, iteration: usize) -> Result<()> {
        let (params, data) = (self.params, self.data);
        self.item_losses = None;
        let pb = self.problem(&self.y, &self.g);
        let users = &self.lambdas.users;
        half_sweep(
            params,
            &pb,
            data.by_user(),
            users,
            &mut self.x,
            ("user", iteration),
            None,
        )?;
        let h = Gramian::of(&self.x);
        let pb = self.problem(&self.x, &h);
        let items = &self.lambdas.items;
        let mut item_losses = params
            .track_loss()
            .then(|| vec![[0.0f64; 3]; self.y.rows()]);
        half_sweep(
            params,
            &pb,
            data.by_item(),
            items,
            &mut self.y,
            ("item", iteration),
            item_losses.as_deref_mut(),
        )?;
        self.g = Gramian::of(&self.y);
        self.h = Some(h);
        self.item_losses = item_losses;
        Ok(())
    }

    fn loss(&mut self) -> LossParts {
        let h = self.h.get_or_insert_with(|| Gramian::of(&self.x));
        let (x, y) = (&self.x, &self.y);
        match self.item_losses.take() {
            // The item half-sweep computed each item's share with the final
            // users and items: sum it in the order `loss_with` would.
            Some(parts) => {
                let items = sum_row_losses(parts.into_par_iter());
                let loss = loss_from_items(self.params, x, h, &self.g, &self.lambdas, items);
                debug_assert_eq!(
                    loss,
                    loss_with(self.params, self.data, x, y, h, &self.g, &self.lambdas)
                );
                loss
            }
            None => loss_with(self.params, self.data, x, y, h, &self.g, &self.lambdas),
        }
    }

    fn factors(&self) -> (&Factors, &Factors) {
        (&self.x, &self.y)
    }

    fn tracks_loss(&self) -> bool {
        self.params.track_loss()
    }
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
        self.validate()?;
        crate::resources::check_fit(self, data.n_users(), data.n_items(), data.nnz())?;
        let (x, y) = initial_factors_for(self, data.users(), data.items());
        self.fit_from(data, x, y, callback)
    }

    /// Fit from given initial factors (`m x k` and `n x k`).
    pub fn fit_from<F>(
        &self,
        data: &Interactions,
        x: Factors,
        y: Factors,
        callback: F,
    ) -> Result<Model>
    where
        F: FnMut(&Progress<'_>) -> ControlFlow<()> + Send,
    {
        crate::resources::check_fit(self, data.n_users(), data.n_items(), data.nnz())?;
        let setup = || Ials::new(self, data, x, y);
        let (trainer, history) = train(self.threads(), self.iterations(), setup, callback)?;
        let (x, y) = trainer.into_factors();
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
