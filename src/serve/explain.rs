//! Explanations (Hu, Koren & Volinsky 2008, §5): the score of item `i` for
//! user `u` split into the contributions of the items `u` consumed.
//!
//! With `W_u = A_u⁻¹` (the user's own system, `α0` and `λ_u` inside it),
//! the re-solved row is `x_u = W_u b_u`, so
//!
//! ```text
//! ŷ_ui = y_iᵀ x_u = Σ_j∈S_u s_ij c_uj p_uj,   s_ij = y_iᵀ W_u y_j
//! ```
//!
//! and the contributions `s_ij c_uj p_uj` sum exactly to the score of the row
//! re-solved against the current `Y` (equal to the stored row after a final
//! user half-sweep with the Cholesky solver). `A_u` is the system fold-in
//! and the Cholesky solver build ([`crate::solver::normal`]); `W_u y_i` and
//! the contributions are computed in `f64`: one `k x k` Cholesky and
//! `|S_u|` dot products, `O(|S_u| k² + k³)`.

use crate::data::interactions::sparse_row;
use crate::data::RowView;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::serve::foldin::normalize_history;
use crate::solver::{factor_row, RowProblem, Workspace};

/// The score of one (user, item) pair split over the user's items.
#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    /// The item explained.
    pub item: u32,
    /// `Σ contributions`: the score of the user's row re-solved against `Y`.
    pub score: f64,
    /// `x_u · y_i` with the stored row (`None` for a folded-in history).
    pub model_score: Option<f32>,
    /// `(consumed item j, s_ij c_uj p_uj)`, largest first (ties: lower index).
    pub contributions: Vec<(u32, f64)>,
}

impl Explanation {
    /// The first `n` contributions and the sum of the others.
    pub fn top(&self, n: usize) -> (&[(u32, f64)], f64) {
        let n = n.min(self.contributions.len());
        let rest = self.contributions[n..].iter().map(|c| c.1).sum();
        (&self.contributions[..n], rest)
    }
}

impl Model {
    /// Why item `i` scores what it does for training user `u`.
    ///
    /// ```
    /// use ials::{Interactions, Params, SolverKind};
    /// let data = Interactions::from_indexed(3, 4, [(0, 0, 1.0), (1, 1, 2.0), (2, 3, 1.0), (0, 2, 1.0)])?;
    /// let model = Params::builder().factors(2).iterations(3).solver(SolverKind::Cholesky).check()?.fit(&data)?;
    /// let e = model.explain(0, 1)?;
    /// let sum: f64 = e.contributions.iter().map(|c| c.1).sum();
    /// assert!((sum - e.score).abs() < 1e-9);
    /// assert_eq!(e.contributions.len(), 2); // user 0 consumed items 0 and 2
    /// # Ok::<(), ials::Error>(())
    /// ```
    pub fn explain(&self, u: usize, i: usize) -> Result<Explanation> {
        if u >= self.n_users() {
            return Err(Error::IndexOutOfRange {
                kind: "user",
                index: u,
                len: self.n_users(),
            });
        }
        let row = sparse_row(self.train(), u);
        let mut e = self.explain_row(row.indices, row.values, i, u)?;
        e.model_score = Some(self.score(u, i));
        Ok(e)
    }

    /// Why item `i` scores what it does for a user given by its
    /// `(item, raw value)` history (duplicates summed), as folded in.
    pub fn explain_history(&self, history: &[(u32, f32)], i: usize) -> Result<Explanation> {
        let (idx, val) = normalize_history(
            history,
            self.n_items(),
            "item",
            self.params().observed_negatives(),
        )?;
        self.explain_row(&idx, &val, i, self.n_users())
    }

    fn explain_row(&self, idx: &[u32], val: &[f32], i: usize, u: usize) -> Result<Explanation> {
        let n = self.n_items();
        if i >= n {
            return Err(Error::IndexOutOfRange {
                kind: "item",
                index: i,
                len: n,
            });
        }
        let y = &self.item_factors();
        let k = y.k();
        // The user's own system A_u, formed and factored exactly as fold-in
        // and the Cholesky solver form it.
        let pb = RowProblem {
            fixed: y,
            gram: self.item_gramian(),
            weighting: self.params().weighting(),
            alpha0: self.params().unobserved_weight(),
        };
        let row = RowView {
            indices: idx,
            values: val,
        };
        let lambda = self.params().row_regularization(idx.len(), n);
        let mut ws = Workspace::new(k);
        let mut contributions: Vec<(u32, f64)> = Vec::new();
        if !row.is_empty() {
            factor_row(&pb, row, lambda, &mut ws).map_err(|p| p.at(0, "user", u))?;
            // z = W_u y_i, then s_ij c_uj p_uj = (y_j · z) c_uj p_uj.
            let mut z: Vec<f64> = y.row(i).iter().map(|&v| v as f64).collect();
            ws.solve_factored(&mut z);
            contributions = idx
                .iter()
                .zip(ws.cp())
                .map(|(&j, &cpj)| {
                    let s: f64 = y
                        .row(j as usize)
                        .iter()
                        .zip(&z)
                        .map(|(&a, &b)| a as f64 * b)
                        .sum();
                    (j, s * cpj as f64)
                })
                .collect();
        }
        let score = contributions.iter().map(|c| c.1).sum();
        contributions.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(Explanation {
            item: i as u32,
            score,
            model_score: None,
            contributions,
        })
    }
}
