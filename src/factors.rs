//! A dense row-major factor matrix (`rows x k`, `f32`).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::names::named_enum;

named_enum! {
    /// How the factors of a fit start (both sides, i.i.d. entries).
    #[derive(Default)]
    pub enum Init, "init" {
        /// `N(0, s²)`, `s` = `init_std` (default `0.1/√k`; Rendle et al. 2022).
        Normal = "normal",
        /// Uniform on `[0, s)`, `s` = `init_std` (default 0.01): benfred/implicit
        /// 0.7's start (`random((rows, k), float32) * 0.01`), equal in
        /// distribution (24-bit `f32` draws in `[0, 1)`, then scaled). The
        /// default: at implicit's settings on Last.fm play counts it gives
        /// implicit's quality where the normal start loses 8 to 18% of
        /// Recall@20 (docs/results.md); elsewhere the two tie.
        #[default]
        Uniform = "uniform",
    }
}

/// Row-major `rows x k` matrix of `f32`: one embedding per row.
#[derive(Clone, Debug, PartialEq)]
pub struct Factors {
    rows: usize,
    k: usize,
    data: Vec<f32>,
}

/// A borrowed `nalgebra` view of [`Factors`] (`rows x k`, row-major strides).
pub type FactorsView<'a> = nalgebra::DMatrixView<'a, f32, nalgebra::Dyn, nalgebra::Dyn>;

impl Factors {
    /// The factors as an `nalgebra` matrix view (`rows x k`, no copy), for
    /// dense algebra in tests and analysis (`x.as_matrix().transpose() *
    /// y.as_matrix()`).
    pub fn as_matrix(&self) -> FactorsView<'_> {
        use nalgebra::Dyn;
        // Row stride k, column stride 1 (also valid for 0 rows or k = 0).
        FactorsView::from_slice_with_strides_generic(
            &self.data,
            Dyn(self.rows),
            Dyn(self.k),
            Dyn(self.k),
            Dyn(1),
        )
    }

    /// All zeros.
    pub fn zeros(rows: usize, k: usize) -> Self {
        Factors {
            rows,
            k,
            data: vec![0.0; rows * k],
        }
    }

    /// From row-major data; `None` if the length is not `rows * k`.
    pub fn from_vec(rows: usize, k: usize, data: Vec<f32>) -> Option<Self> {
        (data.len() == rows * k).then_some(Factors { rows, k, data })
    }

    /// Entries drawn i.i.d. from `N(0, std²)` with a ChaCha8 generator seeded
    /// by `seed`, row after row (so the result is independent of threads).
    pub fn random_normal(rows: usize, k: usize, std: f32, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut data = vec![0.0f32; rows * k];
        if std > 0.0 {
            let normal = Normal::new(0.0f32, std).expect("invariant: std is finite and > 0");
            for v in &mut data {
                *v = normal.sample(&mut rng);
            }
        }
        Factors { rows, k, data }
    }

    /// Entries drawn i.i.d. uniform on `[0, high)` (`f32` in `[0, 1)` with
    /// 24 random bits, times `high`) with a ChaCha8 generator seeded by
    /// `seed`, row after row.
    pub fn random_uniform(rows: usize, k: usize, high: f32, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let data = (0..rows * k).map(|_| rng.random::<f32>() * high).collect();
        Factors { rows, k, data }
    }

    /// Entries of the start `init` with scale `scale` (the standard deviation
    /// of [`Init::Normal`], the upper end of [`Init::Uniform`]).
    pub fn random(init: Init, rows: usize, k: usize, scale: f32, seed: u64) -> Self {
        match init {
            Init::Normal => Self::random_normal(rows, k, scale, seed),
            Init::Uniform => Self::random_uniform(rows, k, scale, seed),
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of factors (columns).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Row `i`.
    #[inline]
    #[track_caller]
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.k..(i + 1) * self.k]
    }

    /// Row `i`, mutable.
    #[inline]
    #[track_caller]
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.k..(i + 1) * self.k]
    }

    /// All entries, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// All entries, row-major, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// The row-major data.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// A new matrix of the given rows, in the given order.
    ///
    /// # Panics
    /// If a row index is out of range.
    pub fn gather(&self, rows: &[u32]) -> Factors {
        let mut data = Vec::with_capacity(rows.len() * self.k);
        for &r in rows {
            data.extend_from_slice(self.row(r as usize));
        }
        Factors {
            rows: rows.len(),
            k: self.k,
            data,
        }
    }

    /// Append zero rows up to `rows` rows in all.
    pub fn grow(&mut self, rows: usize) {
        if rows > self.rows {
            self.data.resize(rows * self.k, 0.0);
            self.rows = rows;
        }
    }

    /// True if every entry is finite.
    pub fn all_finite(&self) -> bool {
        self.data.iter().all(|v| v.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_view_reads_the_rows() {
        let f = Factors::random_normal(5, 3, 1.0, 7);
        let m = f.as_matrix();
        assert_eq!(m.shape(), (5, 3));
        for r in 0..5 {
            for c in 0..3 {
                assert_eq!(m[(r, c)], f.row(r)[c]);
            }
        }
        // XᵀX through nalgebra equals the Gramian's definition.
        let g = m.transpose() * m;
        for a in 0..3 {
            for b in 0..3 {
                let want: f32 = (0..5).map(|r| f.row(r)[a] * f.row(r)[b]).sum();
                approx::assert_relative_eq!(g[(a, b)], want, max_relative = 1e-5);
            }
        }
        assert_eq!(Factors::zeros(0, 4).as_matrix().shape(), (0, 4));
    }
}
