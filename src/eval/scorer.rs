//! Scorers: anything that fills a score per item for a user, given the
//! user's known items. Factor models, folded-in users and the baselines all
//! go through the same [`Evaluator`](crate::eval::Evaluator) code path.

use crate::data::RowView;
use crate::factors::Factors;
use crate::gramian::Gramian;
use crate::linalg::dot;
use crate::params::Params;
use crate::solver::{solve_row, RowProblem, Solver, Workspace};

/// Per-worker scratch handed to [`Scorer::score`] (reused across users, so
/// scoring allocates nothing per user once warm).
#[derive(Debug, Default)]
pub struct ScoreScratch {
    /// A row-solve workspace (fold-in).
    pub workspace: Option<Workspace>,
    /// A user vector.
    pub x: Vec<f32>,
}

/// Fills `out[i]` with the score of every item `i` for user `u`, whose known
/// items (excluded from the ranking by the evaluator) are `history`.
pub trait Scorer: Sync {
    /// Score every item for one user.
    fn score(&self, u: usize, history: RowView<'_>, out: &mut [f32], scratch: &mut ScoreScratch);
}

/// `x_u · y_i` from given user and item factors (an ials model, or anyone's
/// embeddings). Items flagged missing score `-inf` (ranked last).
pub struct FactorScorer<'a> {
    users: &'a Factors,
    items: &'a Factors,
    missing_items: Option<&'a [bool]>,
}

impl<'a> FactorScorer<'a> {
    /// Score with `users` (one row per user index) and `items`.
    pub fn new(users: &'a Factors, items: &'a Factors) -> Self {
        FactorScorer {
            users,
            items,
            missing_items: None,
        }
    }

    /// Items with `missing[i]` score `-inf` (external embeddings that lack
    /// some training items).
    pub fn with_missing_items(mut self, missing: &'a [bool]) -> Self {
        self.missing_items = Some(missing);
        self
    }
}

impl Scorer for FactorScorer<'_> {
    fn score(&self, u: usize, _: RowView<'_>, out: &mut [f32], _: &mut ScoreScratch) {
        if u >= self.users.rows() {
            out.iter_mut().for_each(|o| *o = 0.0);
            return;
        }
        score_all(self.users.row(u), self.items, out);
        if let Some(m) = self.missing_items {
            for (o, &miss) in out.iter_mut().zip(m) {
                if miss {
                    *o = f32::NEG_INFINITY;
                }
            }
        }
    }
}

fn score_all(x: &[f32], items: &Factors, out: &mut [f32]) {
    for (i, o) in out.iter_mut().enumerate() {
        *o = dot(x, items.row(i));
    }
}

/// Folds each user in from its history against fixed item factors: one exact
/// row solve (`A_u = α0 G + Σ (c − α0) y yᵀ + λ_u I`, `O(|S_u| k² + k³)`),
/// then `x_u · y_i`. This is how strong generalization scores held-out users.
pub struct FoldInScorer<'a> {
    params: &'a Params,
    items: &'a Factors,
    gram: Gramian,
}

impl<'a> FoldInScorer<'a> {
    /// Fold in against `items` with the weights and regularization of `params`.
    pub fn new(params: &'a Params, items: &'a Factors) -> Self {
        FoldInScorer {
            params,
            items,
            gram: Gramian::of(items),
        }
    }

    /// The folded-in user vector of a history (into `x`, length k).
    pub fn fold_in(&self, history: RowView<'_>, x: &mut [f32], ws: &mut Workspace) {
        let pb = RowProblem {
            fixed: self.items,
            gram: &self.gram,
            weighting: self.params.weighting(),
            alpha0: self.params.unobserved_weight(),
        };
        let lambda = self
            .params
            .row_regularization(history.len(), self.items.rows());
        x.iter_mut().for_each(|v| *v = 0.0);
        if solve_row(Solver::Cholesky, &pb, history, lambda, x, ws).is_err() {
            // Only possible with λ = 0 and a rank-deficient system: fall back
            // to conjugate gradient, which needs no factorization.
            x.iter_mut().for_each(|v| *v = 0.0);
            let cg = Solver::Cg { steps: x.len() };
            let _ = solve_row(cg, &pb, history, lambda, x, ws);
        }
    }
}

impl Scorer for FoldInScorer<'_> {
    fn score(&self, _: usize, history: RowView<'_>, out: &mut [f32], s: &mut ScoreScratch) {
        let k = self.items.k();
        let ws = s.workspace.get_or_insert_with(|| Workspace::new(k));
        s.x.resize(k, 0.0);
        self.fold_in(history, &mut s.x, ws);
        score_all(&s.x, self.items, out);
    }
}
