//! Online estimates: item sampling probabilities for logQ (Yi et al. 2019,
//! Alg. 2) and Gramians for mse-gramian (SOGram, Krichene et al. 2018).

/// Streaming estimate of the probability that an item appears in a batch.
///
/// Arrays `A` (last step seen) and `B` (estimated steps between
/// appearances) of `H` buckets, indexed by a multiplicative hash of the
/// item. At step `t`, for each distinct item `y` of the batch:
/// `B[h] ← (1 − α) B[h] + α (t − A[h])`, `A[h] ← t`; then `Q̂(y) = 1 / B[h(y)]`.
/// A bucket seen for the first time only records `t`.
#[derive(Clone, Debug)]
pub struct StreamingFrequency {
    last: Vec<u64>,
    gap: Vec<f32>,
    seen: Vec<bool>,
    rate: f32,
}

impl StreamingFrequency {
    /// `buckets` buckets, rate `α`, every gap starting at `initial_gap`
    /// (the lead uses `n / B`, the gap of a uniformly drawn item).
    pub fn new(buckets: usize, rate: f32, initial_gap: f32) -> Self {
        StreamingFrequency {
            last: vec![0; buckets],
            gap: vec![initial_gap.max(1.0); buckets],
            seen: vec![false; buckets],
            rate,
        }
    }

    #[inline]
    fn bucket(&self, item: u32) -> usize {
        // Fibonacci hashing: spreads consecutive ids.
        let h = (item as u64 ^ 0x5bd1_e995).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        ((h >> 16) % self.last.len() as u64) as usize
    }

    /// Record that the distinct `items` appeared at step `t` (steps count from 1).
    pub fn observe(&mut self, t: u64, items: &[u32]) {
        for &y in items {
            let h = self.bucket(y);
            if self.seen[h] {
                if self.last[h] != t {
                    let d = (t - self.last[h]) as f32;
                    self.gap[h] = (1.0 - self.rate) * self.gap[h] + self.rate * d;
                }
            } else {
                self.seen[h] = true;
            }
            self.last[h] = t;
        }
    }

    /// `Q̂(y)`: the estimated probability that `y` is in a batch.
    pub fn probability(&self, item: u32) -> f32 {
        1.0 / self.gap[self.bucket(item)]
    }
}

/// A running Gramian estimate `Ĝ ← (1 − ρ) Ĝ + ρ Ĝ_batch` (SOGram), `k x k`
/// row-major, kept symmetric and positive semi-definite.
#[derive(Clone, Debug)]
pub struct SoGram {
    k: usize,
    g: Vec<f32>,
    rate: f32,
}

impl SoGram {
    /// Start from `g` (the exact Gramian of the initial embeddings).
    pub fn new(k: usize, g: Vec<f32>, rate: f32) -> Self {
        assert_eq!(g.len(), k * k);
        SoGram { k, g, rate }
    }

    /// The current estimate.
    pub fn get(&self) -> &[f32] {
        &self.g
    }

    /// Replace the estimate (exact mode).
    pub fn set(&mut self, g: Vec<f32>) {
        assert_eq!(g.len(), self.k * self.k);
        self.g = g;
    }

    /// Move towards the batch estimate `Σ_r w_r v_r v_rᵀ` of the rows `v`
    /// (`weights.len() x k`), each weighted so that its expectation is the
    /// full Gramian.
    pub fn update(&mut self, v: &[f32], weights: &[f32]) {
        let k = self.k;
        let batch = weighted_gramian(v, k, weights);
        let rho = self.rate;
        for (g, b) in self.g.iter_mut().zip(batch) {
            *g = (1.0 - rho) * *g + rho * b;
        }
    }
}

/// `Σ_r w_r v_r v_rᵀ` of the rows of `v` (`weights.len() x k`), in f64, as f32.
pub fn weighted_gramian(v: &[f32], k: usize, weights: &[f32]) -> Vec<f32> {
    let mut acc = vec![0.0f64; k * k];
    for (r, &w) in weights.iter().enumerate() {
        let row = &v[r * k..(r + 1) * k];
        for a in 0..k {
            let wa = w as f64 * row[a] as f64;
            for b in 0..=a {
                acc[a * k + b] += wa * row[b] as f64;
            }
        }
    }
    let mut out = vec![0.0f32; k * k];
    for a in 0..k {
        for b in 0..=a {
            out[a * k + b] = acc[a * k + b] as f32;
            out[b * k + a] = acc[a * k + b] as f32;
        }
    }
    out
}
