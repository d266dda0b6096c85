//! The fitted model: factors, id maps, the training matrix, params and the
//! loss history.

use std::cmp::Ordering;
use std::sync::OnceLock;

use crate::data::interactions::sparse_row;
use crate::data::{IdMap, RowView, SparseMatrix};
use crate::factors::Factors;
use crate::gramian::Gramian;
use crate::linalg::dot;
use crate::params::Params;
use crate::train::IterationReport;

/// A fitted iALS model.
#[derive(Debug)]
pub struct Model {
    pub(crate) params: Params,
    pub(crate) users: IdMap,
    pub(crate) items: IdMap,
    pub(crate) train: SparseMatrix,
    pub(crate) user_factors: Factors,
    pub(crate) item_factors: Factors,
    pub(crate) history: Vec<IterationReport>,
    pub(crate) item_gram: OnceLock<Gramian>,
    pub(crate) user_gram: OnceLock<Gramian>,
}

impl Clone for Model {
    fn clone(&self) -> Self {
        Model::new(
            self.params.clone(),
            self.users.clone(),
            self.items.clone(),
            self.train.clone(),
            self.user_factors.clone(),
            self.item_factors.clone(),
            self.history.clone(),
        )
    }
}

/// Order of ranked results: higher score first, ties by lower index.
pub(crate) fn rank_order(a: &(u32, f32), b: &(u32, f32)) -> Ordering {
    b.1.partial_cmp(&a.1)
        .unwrap_or(Ordering::Equal)
        .then(a.0.cmp(&b.0))
}

/// The `k` best of `scored` under [`rank_order`], sorted.
pub(crate) fn top_k(mut scored: Vec<(u32, f32)>, k: usize) -> Vec<(u32, f32)> {
    if k == 0 {
        return Vec::new();
    }
    if scored.len() > k {
        scored.select_nth_unstable_by(k - 1, rank_order);
        scored.truncate(k);
    }
    scored.sort_by(rank_order);
    scored
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
            users,
            items,
            train,
            user_factors,
            item_factors,
            history,
            item_gram: OnceLock::new(),
            user_gram: OnceLock::new(),
        }
    }

    /// The params it was fitted with.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// User ids in row order.
    pub fn users(&self) -> &IdMap {
        &self.users
    }

    /// Item ids in row order.
    pub fn items(&self) -> &IdMap {
        &self.items
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
        &self.user_factors
    }

    /// `Y`, one row per item.
    pub fn item_factors(&self) -> &Factors {
        &self.item_factors
    }

    /// One report per iteration run.
    pub fn loss_history(&self) -> &[IterationReport] {
        &self.history
    }

    /// `G = YᵀY`, computed once and cached.
    pub fn item_gramian(&self) -> &Gramian {
        self.item_gram
            .get_or_init(|| Gramian::of(&self.item_factors))
    }

    /// `H = XᵀX`, computed once and cached.
    pub fn user_gramian(&self) -> &Gramian {
        self.user_gram
            .get_or_init(|| Gramian::of(&self.user_factors))
    }

    /// Number of users.
    pub fn n_users(&self) -> usize {
        self.user_factors.rows()
    }

    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.item_factors.rows()
    }

    /// `x_u · y_i`.
    pub fn score(&self, u: usize, i: usize) -> f32 {
        dot(self.user_factors.row(u), self.item_factors.row(i))
    }

    /// The `k` highest-scoring items for user `u` (ties: lower item index
    /// first), leaving out the user's training items if `exclude_seen`.
    pub fn recommend(&self, u: usize, k: usize, exclude_seen: bool) -> Vec<(u32, f32)> {
        let xu = self.user_factors.row(u);
        let seen = sparse_row(&self.train, u).indices;
        let scored: Vec<(u32, f32)> = (0..self.n_items() as u32)
            .filter(|i| !exclude_seen || seen.binary_search(i).is_err())
            .map(|i| (i, dot(xu, self.item_factors.row(i as usize))))
            .collect();
        top_k(scored, k)
    }

    /// The `k` items most similar to item `i` by cosine (itself excluded).
    pub fn similar_items(&self, i: usize, k: usize) -> Vec<(u32, f32)> {
        cosine_top_k(&self.item_factors, i, k)
    }

    /// The `k` users most similar to user `u` by cosine (itself excluded).
    pub fn similar_users(&self, u: usize, k: usize) -> Vec<(u32, f32)> {
        cosine_top_k(&self.user_factors, u, k)
    }
}

fn cosine_top_k(f: &Factors, i: usize, k: usize) -> Vec<(u32, f32)> {
    let q = f.row(i);
    let qn = dot(q, q).sqrt();
    let scored: Vec<(u32, f32)> = (0..f.rows())
        .filter(|&j| j != i)
        .map(|j| {
            let r = f.row(j);
            let d = qn * dot(r, r).sqrt();
            (j as u32, if d > 0.0 { dot(q, r) / d } else { 0.0 })
        })
        .collect();
    top_k(scored, k)
}
