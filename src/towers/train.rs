//! Training the towers: [`TowerTrainer`] holds both sides and the cached
//! predictions, runs half-sweeps of iCD updates ([`super::icd`]) and plugs
//! into the one training loop ([`crate::train::Trainer`]).

use std::ops::ControlFlow;

use super::attr::{update_rotated, Rows};
use super::features::Features;
use super::icd::{all_pair_weights, predictions, update_id, update_ids, Ctx, IdWs};
use super::model::TowerModel;
use super::side::Side;
use super::{Tower, TowerParams};
use crate::data::interactions::sparse_row;
use crate::data::Interactions;
use crate::error::{Error, Result};
use crate::factors::Factors;
use crate::gramian::Gramian;
use crate::params::Params;
use crate::report::{IterationReport, LossParts, Progress};
use crate::train::{initial_factors_for, loss_with, step, train, Lambdas, Trainer};

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
    /// `(c − α0, c p)` of each non-zero, user-major and item-major
    /// (indexed by [`Tower`]).
    pair_weights: [(Vec<f32>, Vec<f32>); 2],
    /// Training embeddings (kept exact: recomputed from the weights at the
    /// start of each half-sweep).
    x: Factors,
    y: Factors,
    yhat: Vec<f32>,
    /// `λ_u`, `λ_i` of plain iALS (for the loss's shape; the towers'
    /// regularization replaces that part).
    lambdas: Lambdas,
    iteration: usize,
    history: Vec<IterationReport>,
}

impl<'a> TowerTrainer<'a> {
    /// Set up the towers with the seeded initialization: the id weights are
    /// the initial factors of a plain fit with the same params
    /// ([`crate::train::initial_factors_for`]); attribute weights are drawn from
    /// the same normal with other seeds (0 for attributes that no training
    /// entity has).
    pub fn new(
        params: &Params,
        tower: &TowerParams,
        data: &'a Interactions,
        user_features: Option<&Features>,
        item_features: Option<&Features>,
    ) -> Result<Self> {
        tower.validate()?;
        let (m, n) = (data.n_users(), data.n_items());
        let (x0, y0) = initial_factors_for(params, data.users(), data.items());
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
        let pair_weights = [
            all_pair_weights(params, data.by_user()),
            all_pair_weights(params, data.by_item()),
        ];
        let x = users.embeddings(m);
        let y = items.embeddings(n);
        Ok(TowerTrainer {
            params: params.clone(),
            tower: tower.clone(),
            data,
            users,
            items,
            pair_weights,
            x,
            y,
            yhat: Vec::new(),
            lambdas: Lambdas::of(params, data),
            iteration: 0,
            history: Vec::new(),
        })
    }

    /// Run `f` on one half-sweep's context for `t` (fresh embeddings,
    /// Gramian of the other side, cached predictions).
    fn with_ctx<R>(
        &mut self,
        t: Tower,
        f: impl FnOnce(&Ctx<'_>, &mut Side, &mut Factors, &mut Vec<f32>) -> Result<R>,
    ) -> Result<R> {
        let TowerTrainer {
            params,
            data,
            users,
            items,
            pair_weights,
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
        let (side, own, other, matrix) = match t {
            Tower::User => (users, x, &*y, data.by_user()),
            Tower::Item => (items, y, &*x, data.by_item()),
        };
        let (w, cp) = &pair_weights[t as usize];
        let gram = Gramian::of(other);
        predictions(matrix, own, other, yhat);
        let ctx = Ctx {
            matrix,
            w,
            cp,
            other,
            gram: &gram,
            weighting: params.weighting(),
            alpha0: params.unobserved_weight(),
            k: params.factors(),
            iteration: *iteration,
        };
        f(&ctx, side, own, yhat)
    }

    /// Update every feature row of tower `t` once: the attributes one colour
    /// class after another (the features of a class in parallel), then all
    /// id rows (in parallel).
    pub fn half_sweep(&mut self, t: Tower) -> Result<()> {
        // Without any attribute the towers are plain iALS, bit for bit (the
        // plain Cholesky row solves); otherwise both sides go through the
        // eigenbasis, where an id row reaching fewer than k rows is a cheap
        // Woodbury solve.
        let plain = self.users.classes.is_empty() && self.items.classes.is_empty();
        self.with_ctx(t, |ctx, side, own, yhat| {
            if plain {
                update_ids(ctx, side, own, yhat)
            } else {
                // Embeddings from the new weights (the rotated ones were
                // updated instead).
                update_rotated(ctx, side, own, yhat, Rows::All).map(|()| side.embed_into(own))
            }
        })
    }

    /// The colour classes of tower `t`'s attribute features, in update order:
    /// no two features of a class share a training entity, so a class is
    /// updated in parallel.
    pub fn colour_classes(&self, t: Tower) -> &[Vec<u32>] {
        &self.side(t).classes
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
                return update_rotated(ctx, side, own, yhat, Rows::Attribute(col));
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
            .map_err(|p| p.at(ctx.iteration, side.tower.name(), u))
        })
    }

    /// One iteration through the training loop's [`step`]: the user
    /// half-sweep, the item half-sweep, the loss (recorded in
    /// [`history`](TowerTrainer::history)).
    pub fn step(&mut self) -> Result<IterationReport> {
        let report = step(self, self.iteration + 1)?;
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
        let (x, y) = (&self.x, &self.y);
        let mut parts = loss_with(&self.params, self.data, x, y, &h, &g, &self.lambdas);
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
        Factors::from_vec(s.n_columns(), self.params.factors(), data)
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

    /// Every entity of tower `t`: the training ones (indices as in the
    /// interactions), then the cold ones (features only).
    pub fn ids(&self, t: Tower) -> &crate::data::IdMap {
        &self.side(t).ids
    }

    /// Current embeddings of every entity of tower `t` (training, then
    /// cold: [`TowerTrainer::ids`]).
    pub fn entity_factors(&self, t: Tower) -> Factors {
        let s = self.side(t);
        s.embeddings(s.ids.len())
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
            sides: [self.users, self.items],
            history: self.history,
        }
    }
}

impl Trainer for TowerTrainer<'_> {
    fn sweep(&mut self, iteration: usize) -> Result<()> {
        self.iteration = iteration;
        self.half_sweep(Tower::User)?;
        self.half_sweep(Tower::Item)
    }

    fn loss(&mut self) -> LossParts {
        TowerTrainer::loss(self)
    }

    fn tracks_loss(&self) -> bool {
        self.params.track_loss()
    }

    fn factors(&self) -> (&Factors, &Factors) {
        (&self.x, &self.y)
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
        callback: F,
    ) -> Result<TowerModel>
    where
        F: FnMut(&Progress<'_>) -> ControlFlow<()> + Send,
    {
        self.validate()?;
        let setup = || TowerTrainer::new(params, self, data, user_features, item_features);
        let (mut trainer, history) = train(params.threads(), params.iterations(), setup, callback)?;
        trainer.history = history;
        Ok(trainer.into_model())
    }
}
