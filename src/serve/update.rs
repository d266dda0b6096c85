//! Incremental updates: add new users, new items and new interactions to a
//! fitted model, re-solving only the rows they touch.
//!
//! ## What `partial_fit` does
//! 1. Maps the new `(user, item, value)` triplets through the id maps, adding
//!    unknown ids at the end (existing indices never move).
//! 2. Adds them to the training matrix: a pair already present has the new
//!    value **added** to its old one (as duplicates are summed when reading).
//! 3. Grows the factors with zero rows for the new users and items.
//! 4. For each of `rounds` rounds: re-solves every affected user (those with
//!    new triplets) against the current item factors and a fresh `G = YᵀY`,
//!    then every affected item against the user factors and a fresh `H`.
//!    These solves are exact (Cholesky) whatever the model's solver: each is
//!    the minimizer of the objective over that row.
//! 5. Optionally runs `sweeps` full sweeps with the model's own solver,
//!    appended to the loss history.
//!
//! Everything after the id mapping runs on a pool of `params.threads()`
//! workers; the sweeps run through the training loop
//! ([`drive`](crate::train::drive)).
//!
//! With `sweeps = 0`, rows of users and items that have no new triplets are
//! left bit-for-bit as they were. The cached Gramians are reset. The model is
//! changed only when everything succeeded. Cost per round
//! `O((m + n) k² + Σ_affected (|S_r| k² + k³))` plus `O(|S|)` to rebuild the
//! matrices.

use std::ops::ControlFlow;

use rayon::prelude::*;

use crate::data::interactions::{check_value_with, csr_from_triplets, sparse_row, transpose};
use crate::data::{IdMap, Interactions, SparseMatrix};
use crate::error::{Error, Result};
use crate::factors::Factors;
use crate::gramian::Gramian;
use crate::model::Model;
use crate::params::Params;
use crate::report::IterationReport;
use crate::serve::foldin::solve_exact;
use crate::solver::Workspace;
use crate::train::{drive, with_threads, Ials};

/// How much work [`Model::partial_fit`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpdateOptions {
    /// Rounds of (affected users, then affected items) exact re-solves.
    /// Two rounds let new users and new items that only meet each other
    /// settle. Default 2.
    pub rounds: usize,
    /// Full sweeps (all rows, the model's solver) after the rounds. Default 0.
    pub sweeps: usize,
}

impl Default for UpdateOptions {
    fn default() -> Self {
        UpdateOptions {
            rounds: 2,
            sweeps: 0,
        }
    }
}

/// What [`Model::partial_fit`] changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpdateReport {
    /// Triplets read.
    pub triplets: usize,
    /// Users added to the id map.
    pub new_users: usize,
    /// Items added to the id map.
    pub new_items: usize,
    /// Distinct (user, item) pairs added to the training matrix.
    pub new_pairs: usize,
    /// Users re-solved in each round.
    pub affected_users: usize,
    /// Items re-solved in each round.
    pub affected_items: usize,
    /// Full sweeps run.
    pub sweeps: usize,
}

/// Re-solve `rows` of `target` exactly against `fixed`, in parallel.
#[allow(clippy::too_many_arguments)]
fn resolve_rows(
    params: &Params,
    fixed: &Factors,
    matrix: &SparseMatrix,
    rows: &[u32],
    target: &mut Factors,
    side: &'static str,
) -> Result<()> {
    let k = target.k();
    let gram = Gramian::of(fixed);
    let mut out = vec![0.0f32; rows.len() * k];
    out.par_chunks_mut(k.max(1))
        .zip(rows.par_iter())
        .try_for_each_init(
            || Workspace::new(k),
            |ws, (x, &r)| {
                x.copy_from_slice(target.row(r as usize));
                let row = sparse_row(matrix, r as usize);
                solve_exact(params, fixed, &gram, row, x, ws, side, r as usize)
            },
        )?;
    for (x, &r) in out.chunks_exact(k.max(1)).zip(rows) {
        target.row_mut(r as usize).copy_from_slice(x);
    }
    Ok(())
}

impl Model {
    /// Add new interactions given with external ids (see the module docs).
    /// An empty input with `sweeps = 0` changes nothing.
    ///
    /// ```
    /// use ials::{Interactions, Params, SolverKind};
    /// use ials::serve::UpdateOptions;
    /// let data = Interactions::from_indexed(3, 4, [(0, 0, 1.0), (1, 1, 2.0), (2, 3, 1.0), (0, 2, 1.0)])?;
    /// let mut model = Params::builder().factors(2).iterations(3).solver(SolverKind::Cholesky).check()?.fit(&data)?;
    /// let report = model.partial_fit([("new-user", "1", 1.0), ("new-user", "new-item", 3.0)], &UpdateOptions::default())?;
    /// assert_eq!((report.new_users, report.new_items, model.n_users(), model.n_items()), (1, 1, 4, 5));
    /// # Ok::<(), ials::Error>(())
    /// ```
    pub fn partial_fit<'a, I>(&mut self, triplets: I, opts: &UpdateOptions) -> Result<UpdateReport>
    where
        I: IntoIterator<Item = (&'a str, &'a str, f32)>,
    {
        let mut users = self.users().clone();
        let mut items = self.items().clone();
        let mut new = Vec::new();
        for (u, i, v) in triplets {
            if !check_value_with(v, self.params().observed_negatives()) {
                return Err(Error::InvalidValue {
                    user: u.to_owned(),
                    item: i.to_owned(),
                    value: v,
                });
            }
            let ui = users.get_or_insert(u, "user")?;
            let ii = items.get_or_insert(i, "item")?;
            new.push((ui, ii, v));
        }
        let mut report = UpdateReport {
            triplets: new.len(),
            new_users: users.len() - self.users().len(),
            new_items: items.len() - self.items().len(),
            ..UpdateReport::default()
        };
        if new.is_empty() && opts.sweeps == 0 {
            return Ok(report);
        }
        let (users, items, train, x, y, history) = with_threads(self.params().threads(), || {
            self.update(users, items, new, opts, &mut report)
        })?;
        // A new model: every cache derived from the old factors is dropped.
        *self = Model::new(self.params().clone(), users, items, train, x, y, history);
        Ok(report)
    }

    /// The work of [`partial_fit`](Model::partial_fit) after the ids are
    /// mapped: the new matrix, the re-solved rows, the optional sweeps.
    #[allow(clippy::type_complexity)]
    fn update(
        &self,
        users: IdMap,
        items: IdMap,
        new: Vec<(u32, u32, f32)>,
        opts: &UpdateOptions,
        report: &mut UpdateReport,
    ) -> Result<(
        IdMap,
        IdMap,
        SparseMatrix,
        Factors,
        Factors,
        Vec<IterationReport>,
    )> {
        let (m, n) = (users.len(), items.len());
        let mut affected_users: Vec<u32> = new.iter().map(|t| t.0).collect();
        let mut affected_items: Vec<u32> = new.iter().map(|t| t.1).collect();
        for v in [&mut affected_users, &mut affected_items] {
            v.sort_unstable();
            v.dedup();
        }
        report.affected_users = affected_users.len();
        report.affected_items = affected_items.len();
        let old_nnz = self.train().nnz();
        let train = if new.is_empty() {
            self.train().clone()
        } else {
            let mut all = Vec::with_capacity(old_nnz + new.len());
            for u in 0..self.train().rows() {
                let row = sparse_row(self.train(), u);
                all.extend(
                    row.indices
                        .iter()
                        .zip(row.values)
                        .map(|(&i, &v)| (u as u32, i, v)),
                );
            }
            all.extend(new);
            csr_from_triplets(m, n, all)
        };
        report.new_pairs = train.nnz() - old_nnz;
        let mut x = self.user_factors().clone();
        let mut y = self.item_factors().clone();
        x.grow(m);
        y.grow(n);
        if !affected_users.is_empty() {
            let by_item = transpose(&train);
            for _ in 0..opts.rounds {
                resolve_rows(self.params(), &y, &train, &affected_users, &mut x, "user")?;
                resolve_rows(self.params(), &x, &by_item, &affected_items, &mut y, "item")?;
            }
        }
        let mut history = self.loss_history().to_vec();
        let (users, items, train) = if opts.sweeps > 0 {
            let data = Interactions::from_csr(users, items, train)?;
            let params = &self.params();
            let mut trainer = Ials::new(params, &data, x, y)?;
            let h = drive(
                &mut trainer,
                opts.sweeps,
                &mut |_| ControlFlow::Continue(()),
            )?;
            (x, y) = trainer.into_factors();
            let offset = history.len();
            history.extend(h.into_iter().map(|mut r| {
                r.iteration += offset;
                r
            }));
            report.sweeps = opts.sweeps;
            data.into_parts()
        } else {
            (users, items, train)
        };
        Ok((users, items, train, x, y, history))
    }

    /// [`partial_fit`](Model::partial_fit) with the triplets of `new` (its
    /// own id maps name the users and items).
    pub fn partial_fit_interactions(
        &mut self,
        new: &Interactions,
        opts: &UpdateOptions,
    ) -> Result<UpdateReport> {
        let (us, is) = (new.users(), new.items());
        self.partial_fit(
            new.triplets().map(|(u, i, v)| (us.id(u), is.id(i), v)),
            opts,
        )
    }
}
