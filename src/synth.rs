//! A seeded synthetic implicit-feedback generator: power-law item popularity,
//! users in taste clusters over a planted low-rank item structure, lognormal
//! activity, counts as values. The same recipe as `shared/peers/synth.py`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal};

use crate::data::Interactions;
use crate::error::Result;

/// Shape of a synthetic data set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SynthConfig {
    /// Users.
    pub users: usize,
    /// Items.
    pub items: usize,
    /// Draws before duplicates are merged (the distinct pairs come out fewer).
    pub draws: usize,
    /// Rank of the planted structure.
    pub rank: usize,
    /// Taste clusters.
    pub clusters: usize,
    /// Zipf exponent of item popularity.
    pub zipf: f64,
    /// Seed.
    pub seed: u64,
}

impl SynthConfig {
    /// `users x items` with about `draws` draws and the default structure
    /// (rank 16, 128 clusters, Zipf 0.9).
    pub fn new(users: usize, items: usize, draws: usize, seed: u64) -> Self {
        SynthConfig {
            users,
            items,
            draws,
            rank: 16,
            clusters: 128,
            zipf: 0.9,
            seed,
        }
    }

    /// Generate `(user, item, count)` triplets, sorted by user then item,
    /// with duplicates merged into counts.
    pub fn triplets(&self) -> Vec<(u32, u32, f32)> {
        let (m, n, k) = (self.users, self.items, self.rank.max(1));
        if m == 0 || n == 0 {
            return Vec::new();
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let std_normal = Normal::new(0.0f64, 1.0).expect("invariant: valid normal");
        let mut log_pop: Vec<f64> = (1..=n).map(|r| -self.zipf * (r as f64).ln()).collect();
        // Fisher-Yates shuffle of the popularity ranks.
        for i in (1..n).rev() {
            let j = rng.random_range(0..=i);
            log_pop.swap(i, j);
        }
        let v: Vec<f64> = (0..n * k)
            .map(|_| std_normal.sample(&mut rng) / (k as f64).sqrt())
            .collect();
        let clusters = self.clusters.max(1);
        let c: Vec<f64> = (0..clusters * k)
            .map(|_| std_normal.sample(&mut rng) * 2.0)
            .collect();
        let mut cdfs = vec![0.0f64; clusters * n];
        for cl in 0..clusters {
            let row = &mut cdfs[cl * n..(cl + 1) * n];
            let cc = &c[cl * k..(cl + 1) * k];
            for (i, out) in row.iter_mut().enumerate() {
                let vi = &v[i * k..(i + 1) * k];
                *out = log_pop[i] + cc.iter().zip(vi).map(|(a, b)| a * b).sum::<f64>();
            }
            let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let mut acc = 0.0;
            for out in row.iter_mut() {
                acc += (*out - max).exp();
                *out = acc;
            }
            for out in row.iter_mut() {
                *out /= acc;
            }
        }
        let lognormal = LogNormal::new(0.0f64, 1.0).expect("invariant: valid lognormal");
        let act: Vec<f64> = (0..m).map(|_| lognormal.sample(&mut rng)).collect();
        let total: f64 = act.iter().sum();
        let mut out = Vec::with_capacity(self.draws);
        let mut draws = Vec::new();
        for (u, a) in act.iter().enumerate() {
            let count = ((a / total * self.draws as f64 * 1.15).round() as usize).max(1);
            let cl = rng.random_range(0..clusters);
            let cdf = &cdfs[cl * n..(cl + 1) * n];
            draws.clear();
            for _ in 0..count {
                let r: f64 = rng.random();
                let i = cdf.partition_point(|&p| p < r).min(n - 1);
                draws.push(i as u32);
            }
            draws.sort_unstable();
            let mut j = 0;
            while j < draws.len() {
                let mut e = j + 1;
                while e < draws.len() && draws[e] == draws[j] {
                    e += 1;
                }
                out.push((u as u32, draws[j], (e - j) as f32));
                j = e;
            }
        }
        out
    }

    /// Generate the data set as [`Interactions`] (ids are the indices).
    pub fn interactions(&self) -> Result<Interactions> {
        Interactions::from_indexed(self.users, self.items, self.triplets())
    }
}
