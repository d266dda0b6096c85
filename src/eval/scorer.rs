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

    /// When every score is a plain `x_u · y_i` of fixed factors, those
    /// factors: the [`Evaluator`](crate::eval::Evaluator) then ranks all
    /// users at once with the blocked top-k kernel
    /// ([`top_k_all`](crate::serve::topk::top_k_all): register tiles of
    /// users x items, SIMD, parallel over user blocks, deterministic) instead
    /// of filling and sorting a score per item per user.
    fn factor_scorer(&self) -> Option<&FactorScorer<'_>> {
        None
    }
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

    /// The user factors.
    pub fn users(&self) -> &Factors {
        self.users
    }

    /// The item factors.
    pub fn items(&self) -> &Factors {
        self.items
    }

    /// The items flagged missing, if any.
    pub fn missing_items(&self) -> Option<&[bool]> {
        self.missing_items
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

    fn factor_scorer(&self) -> Option<&FactorScorer<'_>> {
        Some(self)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::split::random_holdout;
    use crate::eval::Evaluator;
    use crate::serve::topk::score;
    use crate::synth::SynthConfig;

    /// The blocked path of the evaluator (one top-k kernel for all users)
    /// gives exactly the metrics of scoring every item per user with the
    /// kernel's arithmetic, with and without missing items, on 1 and 3
    /// threads.
    #[test]
    fn blocked_evaluation_matches_per_user_scoring() {
        let data = SynthConfig::new(300, 130, 5000, 7).interactions().unwrap();
        let (train, valid) = random_holdout(&data, 0.25, 3).unwrap();
        let x = Factors::random_normal(train.n_users(), 19, 0.5, 1);
        let y = Factors::random_normal(train.n_items(), 19, 0.5, 2);
        let missing: Vec<bool> = (0..train.n_items()).map(|i| i % 7 == 3).collect();
        for k in [1, 5, 20] {
            let ev = Evaluator::new(&train, &valid).unwrap().k(k);
            let brute = |miss: Option<&[bool]>| {
                ev.evaluate_fn(|u, out| {
                    for (i, o) in out.iter_mut().enumerate() {
                        *o = if miss.is_some_and(|m| m[i]) {
                            f32::NEG_INFINITY
                        } else {
                            score(x.row(u), y.row(i))
                        };
                    }
                })
            };
            for threads in [1, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let (plain, with_missing) = pool.install(|| {
                    (
                        ev.evaluate(&FactorScorer::new(&x, &y)),
                        ev.evaluate(&FactorScorer::new(&x, &y).with_missing_items(&missing)),
                    )
                });
                assert_eq!(plain, brute(None));
                assert_eq!(with_missing, brute(Some(&missing)));
                assert!(plain.users > 250 && plain.recall > 0.0);
                assert_ne!(plain.recall, with_missing.recall);
            }
        }
    }
}
