//! Baselines scored on the same protocol as iALS: popularity, item-kNN
//! (cosine) and EASE (Steck 2019). All treat the history as binary.

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
/// The solve is dense: `O(n³)` time (a blocked, parallel Cholesky and
/// inverse in `f64`, [`crate::eval::dense`]) and `12 n²` bytes of memory at
/// the peak (the `f64` Gram/inverse, `8 n²`, plus the `f32` `B`, `4 n²`), so
/// [`Ease::fit`] refuses more than `max_items` items with
/// [`Error::TooLarge`].
#[derive(Clone, Debug)]
pub struct Ease {
    n: usize,
    /// Row-major `n x n` `B`.
    b: Vec<f32>,
}

/// Default item limit of EASE: at 20,000 items the solve holds a
/// 3.2 GB `f64` matrix and the 1.6 GB `f32` result (4.8 GB at the peak),
/// and takes `n³ ≈ 8·10¹²` flops (minutes on 2 cores).
pub const EASE_MAX_ITEMS: usize = 20_000;

/// Peak bytes of an EASE fit on `n` items: `12 n²`.
pub fn ease_memory_bytes(n: usize) -> f64 {
    12.0 * (n as f64).powi(2)
}

impl Ease {
    /// Fit with regularization `lambda` (Steck uses 100–1000 on
    /// MovieLens-sized data), refusing more than `max_items` items.
    pub fn fit(train: &Interactions, lambda: f64, max_items: usize) -> Result<Self> {
        let n = train.n_items();
        if n > max_items {
            let gb = ease_memory_bytes(n) / 1e9;
            return Err(Error::TooLarge(format!(
                "EASE needs a dense {n} x {n} solve ({gb:.1} GB at the peak: \
                 12 bytes x items², O(n³) time); the item limit is {max_items} \
                 (raise it explicitly, or use item-kNN / iALS)"
            )));
        }
        if !(lambda.is_finite() && lambda > 0.0) {
            return Err(Error::InvalidRegularization(lambda as f32));
        }
        // G = XᵀX + λI on binary X, lower triangle, row by row in parallel:
        // G[i][j] = |U_i ∩ U_j| for j <= i (integer counts: exact).
        let mut g = vec![0f64; n * n];
        g.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
            for &u in train.item_row(i).indices {
                let items = train.user_row(u as usize).indices;
                for &j in items.iter().take_while(|&&j| j as usize <= i) {
                    row[j as usize] += 1.0;
                }
            }
            row[i] += lambda;
        });
        crate::eval::dense::spd_inverse_in_place(&mut g, n, crate::eval::dense::TILE)?;
        let p = g;
        let diag: Vec<f64> = (0..n).map(|j| p[j * n + j]).collect();
        let mut b = vec![0f32; n * n];
        // B[i][j] = −P[i][j] / P[j][j], B[j][j] = 0; P is symmetric.
        b.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
            let pi = &p[i * n..(i + 1) * n];
            for (j, (v, &pij)) in row.iter_mut().zip(pi).enumerate() {
                *v = if i == j { 0.0 } else { (-pij / diag[j]) as f32 };
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
