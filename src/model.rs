//! The fitted model: factors, id maps, the training matrix, params and the
//! loss history, with the caches derived from the factors (Gramians and
//! unit-norm rows for cosine similarity).
//!
//! The fields are private: the factors change only through
//! [`Model::set_factors`] (or `partial_fit`), which also clears every cache,
//! so a cache never outlives the factors it was computed from.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::data::interactions::sparse_row;
use crate::data::{IdMap, RowView, SparseMatrix};
use crate::error::{Error, Result};
use crate::factors::Factors;
use crate::gramian::Gramian;
use crate::linalg::dot;
use crate::params::Params;
use crate::report::IterationReport;
use crate::serve::topk::score;

/// One side of the interaction matrix (`User = 0`, `Item = 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Side {
    /// Users (rows).
    User = 0,
    /// Items (columns).
    Item = 1,
}

impl Side {
    /// `"user"` or `"item"`.
    pub fn name(self) -> &'static str {
        self.pick("user", "item")
    }

    /// `user` for [`Side::User`], `item` for [`Side::Item`].
    pub fn pick<T>(self, user: T, item: T) -> T {
        match self {
            Side::User => user,
            Side::Item => item,
        }
    }
}

/// What is derived from the factors, computed on first use (a clone starts
/// empty).
#[derive(Debug, Default)]
struct Caches {
    item_gram: OnceLock<Gramian>,
    user_gram: OnceLock<Gramian>,
    /// Rows scaled to unit norm (cosine similarity).
    item_unit: OnceLock<Factors>,
    user_unit: OnceLock<Factors>,
}

/// A fitted iALS model.
#[derive(Clone, Debug)]
pub struct Model {
    /// The checked params of the fit.
    params: Params,
    /// External ids of the users and of the items (indexed by [`Side`]).
    ids: [IdMap; 2],
    /// User-major raw values (what `exclude_seen` and fold-in read).
    train: SparseMatrix,
    /// `X` and `Y` (indexed by [`Side`]).
    factors: [Factors; 2],
    /// One report per iteration.
    history: Vec<IterationReport>,
    /// Derived from the factors; cleared whenever they change.
    caches: Caches,
}

/// Rows scaled to unit norm (zero rows stay zero).
pub(crate) fn unit_rows(f: &Factors) -> Factors {
    let mut out = f.clone();
    let k = f.k().max(1);
    for row in out.as_mut_slice().chunks_exact_mut(k) {
        let n = score(row, row).sqrt();
        if n > 0.0 {
            row.iter_mut().for_each(|v| *v /= n);
        }
    }
    out
}

impl Clone for Caches {
    fn clone(&self) -> Self {
        Caches::default()
    }
}

impl Model {
    /// Assemble a model from its parts.
    pub fn new(
        params: Params,
        users: IdMap,
        items: IdMap,
        train: SparseMatrix,
        user_factors: Factors,
        item_factors: Factors,
        history: Vec<IterationReport>,
    ) -> Self {
        Model {
            params,
            ids: [users, items],
            train,
            factors: [user_factors, item_factors],
            history,
            caches: Caches::default(),
        }
    }

    /// Replace the factors (same shapes) and clear every cache.
    pub fn set_factors(&mut self, user_factors: Factors, item_factors: Factors) -> Result<()> {
        let [x, y] = &self.factors;
        if (
            user_factors.rows(),
            user_factors.k(),
            item_factors.rows(),
            item_factors.k(),
        ) != (x.rows(), x.k(), y.rows(), y.k())
        {
            return Err(Error::Shape(format!(
                "new factors are {}x{} and {}x{}, the model's {}x{} and {}x{}",
                user_factors.rows(),
                user_factors.k(),
                item_factors.rows(),
                item_factors.k(),
                x.rows(),
                x.k(),
                y.rows(),
                y.k()
            )));
        }
        self.factors = [user_factors, item_factors];
        self.caches = Caches::default();
        Ok(())
    }

    /// The params it was fitted with.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// User ids in row order.
    pub fn users(&self) -> &IdMap {
        self.ids(Side::User)
    }

    /// Item ids in row order.
    pub fn items(&self) -> &IdMap {
        self.ids(Side::Item)
    }

    /// The ids of one side.
    pub fn ids(&self, side: Side) -> &IdMap {
        &self.ids[side as usize]
    }

    /// The user-major training matrix (raw values).
    pub fn train(&self) -> &SparseMatrix {
        &self.train
    }

    /// The training items of user `u`.
    pub fn user_history(&self, u: usize) -> RowView<'_> {
        sparse_row(&self.train, u)
    }

    /// `X`, one row per user.
    pub fn user_factors(&self) -> &Factors {
        self.factors(Side::User)
    }

    /// `Y`, one row per item.
    pub fn item_factors(&self) -> &Factors {
        self.factors(Side::Item)
    }

    /// The factors of one side.
    pub fn factors(&self, side: Side) -> &Factors {
        &self.factors[side as usize]
    }

    /// One report per iteration run.
    pub fn loss_history(&self) -> &[IterationReport] {
        &self.history
    }

    /// `G = YᵀY`, computed once and cached.
    pub fn item_gramian(&self) -> &Gramian {
        self.caches
            .item_gram
            .get_or_init(|| Gramian::of(self.item_factors()))
    }

    /// `H = XᵀX`, computed once and cached.
    pub fn user_gramian(&self) -> &Gramian {
        self.caches
            .user_gram
            .get_or_init(|| Gramian::of(self.user_factors()))
    }

    /// The factors of one side with rows scaled to unit norm (cosine
    /// similarity), computed once and cached.
    pub fn unit_factors(&self, side: Side) -> &Factors {
        let cell = side.pick(&self.caches.user_unit, &self.caches.item_unit);
        cell.get_or_init(|| unit_rows(self.factors(side)))
    }

    /// Number of users.
    pub fn n_users(&self) -> usize {
        self.user_factors().rows()
    }

    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.item_factors().rows()
    }

    /// `x_u · y_i`.
    pub fn score(&self, u: usize, i: usize) -> f32 {
        dot(self.user_factors().row(u), self.item_factors().row(i))
    }
}
