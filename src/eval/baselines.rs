//! Baselines scored on the same protocol as iALS: popularity, item-kNN
//! (cosine) and EASE (Steck 2019). All treat the history as binary.

use nalgebra::DMatrix;
use rayon::prelude::*;

use crate::data::{Interactions, RowView};
use crate::error::{Error, Result};
use crate::eval::scorer::{ScoreScratch, Scorer};

/// Scores every item by its number of training interactions.
#[derive(Clone, Debug)]
pub struct Popularity {
    counts: Vec<f32>,
}

impl Popularity {
    /// Count the item columns of `train`.
    pub fn fit(train: &Interactions) -> Self {
        Popularity {
            counts: crate::eval::metrics::item_counts(train),
        }
    }
}

impl Scorer for Popularity {
    fn score(&self, _: usize, _: RowView<'_>, out: &mut [f32], _: &mut ScoreScratch) {
        out.copy_from_slice(&self.counts);
    }
}

/// Item-based k-nearest neighbours with binary cosine similarity
/// `sim(i, j) = |U_i ∩ U_j| / sqrt(|U_i| |U_j|)`: each item keeps its
/// `neighbors` most similar items, and a user's score for `i` is
/// `Σ_{j ∈ S_u, j ∈ N(i)} sim(i, j)`.
///
/// Building costs `O(Σ_u |S_u|²)` (co-occurrences), parallel over items.
#[derive(Clone, Debug)]
pub struct ItemKnn {
    /// For each item `j`, the `(i, sim(i, j))` with `j ∈ N(i)`.
    reverse: Vec<Vec<(u32, f32)>>,
}

impl ItemKnn {
    /// Build from `train` keeping `neighbors` per item (`0`: all).
    pub fn fit(train: &Interactions, neighbors: usize) -> Self {
        let n = train.n_items();
        let norms: Vec<f32> = (0..n)
            .map(|i| (train.item_row(i).len() as f32).sqrt())
            .collect();
        let lists: Vec<Vec<(u32, f32)>> = (0..n)
            .into_par_iter()
            .map_init(
                || (vec![0u32; n], Vec::<u32>::new()),
                |(acc, touched), i| {
                    touched.clear();
                    for &u in train.item_row(i).indices {
                        for &j in train.user_row(u as usize).indices {
                            if j as usize != i {
                                if acc[j as usize] == 0 {
                                    touched.push(j);
                                }
                                acc[j as usize] += 1;
                            }
                        }
                    }
                    let mut sims: Vec<(u32, f32)> = touched
                        .iter()
                        .map(|&j| {
                            let c = acc[j as usize] as f32;
                            acc[j as usize] = 0;
                            (j, c / (norms[i] * norms[j as usize]))
                        })
                        .collect();
                    sims.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                    if neighbors > 0 {
                        sims.truncate(neighbors);
                    }
                    sims
                },
            )
            .collect();
        let mut reverse = vec![Vec::new(); n];
        for (i, list) in lists.into_iter().enumerate() {
            for (j, s) in list {
                reverse[j as usize].push((i as u32, s));
            }
        }
        ItemKnn { reverse }
    }
}

impl Scorer for ItemKnn {
    fn score(&self, _: usize, history: RowView<'_>, out: &mut [f32], _: &mut ScoreScratch) {
        out.iter_mut().for_each(|o| *o = 0.0);
        for &j in history.indices {
            for &(i, s) in &self.reverse[j as usize] {
                out[i as usize] += s;
            }
        }
    }
}

/// EASE (Steck 2019): `B = I − P diag(1/diag P)` with
/// `P = (XᵀX + λI)⁻¹` over the binary training matrix `X`, so `diag B = 0`;
/// a user's scores are `x_u B`.
///
/// The solve is dense: `O(n³)` time and two `n x n` `f64` matrices of
/// memory, so [`Ease::fit`] refuses more than `max_items` items with
/// [`Error::TooLarge`].
#[derive(Clone, Debug)]
pub struct Ease {
    n: usize,
    /// Row-major `n x n` `B`.
    b: Vec<f32>,
}

/// Default item limit of EASE: two dense 10,000 x 10,000 `f64` matrices are
/// 1.6 GB, and the unblocked solve already takes minutes.
pub const EASE_MAX_ITEMS: usize = 10_000;

impl Ease {
    /// Fit with regularization `lambda` (Steck uses 100–1000 on
    /// MovieLens-sized data), refusing more than `max_items` items.
    pub fn fit(train: &Interactions, lambda: f64, max_items: usize) -> Result<Self> {
        let n = train.n_items();
        if n > max_items {
            let gb = 2.0 * (n as f64).powi(2) * 8.0 / 1e9;
            return Err(Error::TooLarge(format!(
                "EASE needs a dense {n} x {n} solve ({gb:.1} GB of f64 matrices, O(n³) time); \
                 the item limit is {max_items} (raise it explicitly, or use item-kNN / iALS)"
            )));
        }
        if !(lambda.is_finite() && lambda > 0.0) {
            return Err(Error::InvalidRegularization(lambda as f32));
        }
        // G = XᵀX on binary X, accumulated user by user into the lower triangle.
        let mut g = DMatrix::<f64>::zeros(n, n);
        for u in 0..train.n_users() {
            let items = train.user_row(u).indices;
            for (a, &i) in items.iter().enumerate() {
                for &j in &items[..=a] {
                    // column-major: (row i, col j) with i >= j.
                    g[(i as usize, j as usize)] += 1.0;
                }
            }
        }
        for j in 0..n {
            for i in j + 1..n {
                g[(j, i)] = g[(i, j)];
            }
            g[(j, j)] += lambda;
        }
        let chol = g
            .cholesky()
            .ok_or_else(|| Error::TooLarge("EASE: XᵀX + λI is not positive definite".into()))?;
        let p = chol.inverse();
        let mut b = vec![0f32; n * n];
        // B[i][j] = −P[i][j] / P[j][j], B[j][j] = 0; P is symmetric.
        b.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
            for (j, v) in row.iter_mut().enumerate() {
                *v = if i == j {
                    0.0
                } else {
                    (-p[(i, j)] / p[(j, j)]) as f32
                };
            }
        });
        Ok(Ease { n, b })
    }

    /// `B[i][j]`, the weight of a history item `i` for a candidate `j`.
    pub fn weight(&self, i: usize, j: usize) -> f32 {
        self.b[i * self.n + j]
    }
}

impl Scorer for Ease {
    fn score(&self, _: usize, history: RowView<'_>, out: &mut [f32], _: &mut ScoreScratch) {
        out.iter_mut().for_each(|o| *o = 0.0);
        for &i in history.indices {
            let row = &self.b[i as usize * self.n..(i as usize + 1) * self.n];
            for (o, &w) in out.iter_mut().zip(row) {
                *o += w;
            }
        }
    }
}
