//! A dense row-major factor matrix (`rows x k`, `f32`).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::model::Side;
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

/// The generator seed of one row's start: a stable 64-bit hash of `(seed,
/// side, external id)` (FNV-1a over the seed's 8 little-endian bytes, the side
/// byte 0 for users or 1 for items, and the id's UTF-8 bytes, then the
/// SplitMix64 finalizer). Fixed by this definition, so results do not change
/// with the Rust version, the platform or the process.
pub fn row_seed(seed: u64, side: Side, id: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let side_byte = [side as u8];
    for &b in seed
        .to_le_bytes()
        .iter()
        .chain(&side_byte)
        .chain(id.as_bytes())
    {
        h ^= b as u64;
        h = h.wrapping_mul(PRIME);
    }
    // SplitMix64 finalizer: spreads FNV's weak low bits over the word.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// One row's start, keyed by external id: entries from a ChaCha8 generator
/// seeded by [`row_seed`], i.i.d. `N(0, scale²)` ([`Init::Normal`]) or
/// uniform on `[0, scale)` (24-bit `f32` draws in `[0, 1)` times `scale`,
/// [`Init::Uniform`]); the distributions of [`Factors::random`].
pub fn fill_keyed_row(init: Init, scale: f32, seed: u64, side: Side, id: &str, row: &mut [f32]) {
    let mut rng = ChaCha8Rng::seed_from_u64(row_seed(seed, side, id));
    match init {
        Init::Uniform => {
            for v in row.iter_mut() {
                *v = rng.random::<f32>() * scale;
            }
        }
        Init::Normal => {
            if scale > 0.0 {
                let normal =
                    Normal::new(0.0f32, scale).expect("invariant: scale is finite and > 0");
                for v in row.iter_mut() {
                    *v = normal.sample(&mut rng);
                }
            } else {
                row.fill(0.0);
            }
        }
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

    /// The start of a fit keyed by external id: row `r` is
    /// [`fill_keyed_row`] of `id(r)`, so a row's start depends only on
    /// `(init, scale, seed, side, id)`, neither on the order the ids came in
    /// nor on how rows are split between machines (the Spark fit draws the
    /// same rows). Rows are filled in parallel (each from its own generator).
    pub fn random_keyed<'s, F>(
        init: Init,
        rows: usize,
        k: usize,
        scale: f32,
        seed: u64,
        side: Side,
        id: F,
    ) -> Self
    where
        F: Fn(usize) -> std::borrow::Cow<'s, str> + Sync,
    {
        use rayon::prelude::*;
        let mut data = vec![0.0f32; rows * k];
        if k > 0 {
            data.par_chunks_mut(k).enumerate().for_each(|(r, row)| {
                fill_keyed_row(init, scale, seed, side, &id(r), row);
            });
        }
        Factors { rows, k, data }
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
