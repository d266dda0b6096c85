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
//! user half-sweep with the Cholesky solver). Computed in `f64`: one `k x k`
//! Cholesky and `|S_u|` dot products, `O(|S_u| k² + k³)`.

use crate::data::interactions::sparse_row;
use crate::error::{Error, Result};
use crate::linalg::{cholesky_in_place, cholesky_solve};
use crate::model::Model;
use crate::serve::foldin::normalize_history;

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
        let row = sparse_row(&self.train, u);
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
            self.params.observed_negatives,
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
        let y = &self.item_factors;
        let k = y.k();
        let wt = self.params.weighting();
        let a0 = self.params.unobserved_weight as f64;
        let lambda = self.params.row_regularization(idx.len(), n) as f64;
        // A_u in f64 (full matrix; the factorization reads the lower triangle).
        let g = self.item_gramian().as_f64();
        let mut a: Vec<f64> = g.iter().map(|&v| a0 * v).collect();
        let mut cp = Vec::with_capacity(idx.len());
        for (&j, &r) in idx.iter().zip(val) {
            let (c, cpj) = wt.weight_cp(r);
            cp.push(cpj as f64);
            let w = c as f64 - a0;
            let yj = y.row(j as usize);
            for p in 0..k {
                let s = w * yj[p] as f64;
                for q in 0..=p {
                    a[p * k + q] += s * yj[q] as f64;
                }
            }
        }
        for d in 0..k {
            a[d * k + d] += lambda;
        }
        cholesky_in_place(&mut a, k).map_err(|pivot| Error::NotPositiveDefinite {
            iteration: 0,
            side: "user",
            row: u,
            pivot,
        })?;
        // z = W_u y_i
        let mut z: Vec<f64> = y.row(i).iter().map(|&v| v as f64).collect();
        cholesky_solve(&a, k, &mut z);
        let mut contributions: Vec<(u32, f64)> = idx
            .iter()
            .zip(&cp)
            .map(|(&j, &cpj)| {
                let s: f64 = y
                    .row(j as usize)
                    .iter()
                    .zip(&z)
                    .map(|(&a, &b)| a as f64 * b)
                    .sum();
                (j, s * cpj)
            })
            .collect();
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
