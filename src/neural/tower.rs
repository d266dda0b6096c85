//! One tower: an embedding bag over sparse features, optional ReLU layers,
//! optional L2 normalization. Forward and backward passes written by hand,
//! on a batch of distinct entities; embedding gradients are sparse (only the
//! feature rows the batch touches).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use super::params::Pooling;

/// Sparse feature rows of one side: entity `e` has the features
/// `indices[indptr[e]..indptr[e + 1]]` with weights `values[..]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureRows {
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
    n_features: usize,
}

impl FeatureRows {
    /// Every entity its own single feature (id-only towers: plain MF).
    pub fn identity(n: usize) -> Self {
        FeatureRows {
            indptr: (0..=n).collect(),
            indices: (0..n as u32).collect(),
            values: vec![1.0; n],
            n_features: n,
        }
    }

    /// From CSR parts. Panics on inconsistent parts (callers build them).
    #[track_caller]
    pub fn from_csr(
        indptr: Vec<usize>,
        indices: Vec<u32>,
        values: Vec<f32>,
        n_features: usize,
    ) -> Self {
        assert_eq!(indices.len(), values.len());
        assert_eq!(*indptr.last().expect("indptr is not empty"), indices.len());
        assert!(indices.iter().all(|&f| (f as usize) < n_features));
        FeatureRows {
            indptr,
            indices,
            values,
            n_features,
        }
    }

    /// Number of entities.
    pub fn len(&self) -> usize {
        self.indptr.len() - 1
    }

    /// True when there is no entity.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of features (rows of the embedding table).
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// The features of entity `e` and their weights.
    #[inline]
    pub fn row(&self, e: usize) -> (&[u32], &[f32]) {
        let r = self.indptr[e]..self.indptr[e + 1];
        (&self.indices[r.clone()], &self.values[r])
    }
}

/// A dense layer `z = W a + b`, `W` row-major `out x in`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    pub(crate) input: usize,
    pub(crate) output: usize,
    pub(crate) w: Vec<f32>,
    pub(crate) b: Vec<f32>,
}

/// The weights of one tower.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tower {
    /// Embedding table, `n_features x k` row-major.
    pub(crate) emb: Vec<f32>,
    pub(crate) k: usize,
    /// Layers `k -> h1 -> ... -> hL -> k`, ReLU after all but the last.
    pub(crate) layers: Vec<Dense>,
    pub(crate) pooling: Pooling,
    pub(crate) normalize: bool,
}

/// What the forward pass keeps for the backward pass.
#[derive(Debug, Default)]
pub struct Cache {
    /// Entities of the batch.
    pub(crate) ents: Vec<u32>,
    /// Activations: `acts[0]` the pooled embeddings, `acts[l + 1]` the
    /// output of layer `l` (after ReLU for hidden layers).
    pub(crate) acts: Vec<Vec<f32>>,
    /// Norms of the raw outputs (when normalizing).
    pub(crate) norms: Vec<f32>,
    /// The tower outputs, `ents.len() x k`.
    pub(crate) out: Vec<f32>,
}

/// Gradients of a batch: sparse embedding rows and dense layer weights.
#[derive(Debug, Default)]
pub struct Grads {
    /// Feature rows touched, in first-touch order.
    pub(crate) rows: Vec<u32>,
    /// Their gradients, `rows.len() x k`.
    pub(crate) emb: Vec<f32>,
    /// Per layer: `dW` and `db`.
    pub(crate) layers: Vec<(Vec<f32>, Vec<f32>)>,
    /// Slot of each feature in `rows` (`u32::MAX`: untouched); sized to the table.
    slot: Vec<u32>,
}

impl Cache {
    /// The tower outputs of the last forward pass, `entities x k`.
    pub fn output(&self) -> &[f32] {
        &self.out
    }
}

impl Grads {
    /// The embedding rows touched by the last backward pass.
    pub fn rows(&self) -> &[u32] {
        &self.rows
    }

    /// Their gradients, `rows().len() x k`.
    pub fn embedding(&self) -> &[f32] {
        &self.emb
    }

    /// `(dW, db)` of each layer.
    pub fn layers(&self) -> &[(Vec<f32>, Vec<f32>)] {
        &self.layers
    }
}

impl Tower {
    /// The embedding table, `n_features x k` row-major.
    pub fn embedding(&self) -> &[f32] {
        &self.emb
    }

    /// The embedding table, mutable.
    pub fn embedding_mut(&mut self) -> &mut [f32] {
        &mut self.emb
    }

    /// Number of dense layers.
    pub fn n_layers(&self) -> usize {
        self.layers.len()
    }

    /// Weights (`out x in`, row-major) and bias of layer `l`, mutable.
    pub fn layer_mut(&mut self, l: usize) -> (&mut [f32], &mut [f32]) {
        let d = &mut self.layers[l];
        (&mut d.w, &mut d.b)
    }

    /// A new tower: embeddings `N(0, std²)`, layers with He-uniform weights
    /// and zero bias, all from `seed`.
    pub fn new(
        n_features: usize,
        k: usize,
        hidden: &[usize],
        pooling: Pooling,
        normalize: bool,
        std: f32,
        seed: u64,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let normal = Normal::new(0.0f32, std).expect("invariant: std is finite and > 0");
        let emb = (0..n_features * k)
            .map(|_| normal.sample(&mut rng))
            .collect();
        let mut dims = vec![k];
        dims.extend_from_slice(hidden);
        let layers = if hidden.is_empty() {
            Vec::new()
        } else {
            dims.push(k);
            dims.windows(2)
                .map(|w| {
                    let (input, output) = (w[0], w[1]);
                    let bound = (6.0 / input as f32).sqrt();
                    let w = (0..input * output)
                        .map(|_| rand::Rng::random_range(&mut rng, -bound..bound))
                        .collect();
                    Dense {
                        input,
                        output,
                        w,
                        b: vec![0.0; output],
                    }
                })
                .collect()
        };
        Tower {
            emb,
            k,
            layers,
            pooling,
            normalize,
        }
    }

    /// Output size.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Rows of the embedding table.
    pub fn n_features(&self) -> usize {
        self.emb.len() / self.k
    }

    /// Forward pass over the entities `ents`; the outputs are in `cache.out`.
    pub fn forward(&self, feats: &FeatureRows, ents: &[u32], cache: &mut Cache) {
        let k = self.k;
        let d = ents.len();
        cache.ents.clear();
        cache.ents.extend_from_slice(ents);
        cache.acts.resize_with(self.layers.len() + 1, Vec::new);
        let h0 = &mut cache.acts[0];
        h0.clear();
        h0.resize(d * k, 0.0);
        for (r, &e) in ents.iter().enumerate() {
            let (fs, ws) = feats.row(e as usize);
            let scale = match self.pooling {
                Pooling::Mean if !fs.is_empty() => 1.0 / fs.len() as f32,
                _ => 1.0,
            };
            let out = &mut h0[r * k..(r + 1) * k];
            for (&f, &w) in fs.iter().zip(ws) {
                let row = &self.emb[f as usize * k..(f as usize + 1) * k];
                let c = w * scale;
                for (o, &v) in out.iter_mut().zip(row) {
                    *o += c * v;
                }
            }
        }
        for (l, layer) in self.layers.iter().enumerate() {
            let (prev, next) = cache.acts.split_at_mut(l + 1);
            let a = &prev[l];
            let z = &mut next[0];
            z.clear();
            z.resize(d * layer.output, 0.0);
            for r in 0..d {
                let ar = &a[r * layer.input..(r + 1) * layer.input];
                let zr = &mut z[r * layer.output..(r + 1) * layer.output];
                for (o, zo) in zr.iter_mut().enumerate() {
                    let wr = &layer.w[o * layer.input..(o + 1) * layer.input];
                    *zo = layer.b[o] + wr.iter().zip(ar).map(|(w, a)| w * a).sum::<f32>();
                }
            }
            if l + 1 < self.layers.len() {
                for v in z.iter_mut() {
                    *v = v.max(0.0);
                }
            }
        }
        let raw = cache
            .acts
            .last()
            .expect("acts has one entry per layer and one more");
        cache.out.clear();
        cache.out.extend_from_slice(raw);
        cache.norms.clear();
        if self.normalize {
            for r in 0..d {
                let row = &mut cache.out[r * k..(r + 1) * k];
                let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                cache.norms.push(norm);
                for v in row.iter_mut() {
                    *v /= norm;
                }
            }
        }
    }

    /// Backward pass: `d_out` is the gradient with respect to `cache.out`.
    /// The gradients of the weights go to `grads` (reset first).
    pub fn backward(&self, feats: &FeatureRows, cache: &Cache, d_out: &[f32], grads: &mut Grads) {
        let k = self.k;
        let d = cache.ents.len();
        debug_assert_eq!(d_out.len(), d * k);
        let mut delta = d_out.to_vec();
        if self.normalize {
            for r in 0..d {
                let o = &cache.out[r * k..(r + 1) * k];
                let g = &mut delta[r * k..(r + 1) * k];
                let proj: f32 = g.iter().zip(o).map(|(a, b)| a * b).sum();
                let inv = 1.0 / cache.norms[r];
                for (gv, &ov) in g.iter_mut().zip(o) {
                    *gv = (*gv - proj * ov) * inv;
                }
            }
        }
        grads
            .layers
            .resize_with(self.layers.len(), Default::default);
        for (l, layer) in self.layers.iter().enumerate().rev() {
            if l + 1 < self.layers.len() {
                // ReLU after this layer: its output is acts[l + 1].
                for (g, &a) in delta.iter_mut().zip(&cache.acts[l + 1]) {
                    if a <= 0.0 {
                        *g = 0.0;
                    }
                }
            }
            let a = &cache.acts[l];
            let (dw, db) = &mut grads.layers[l];
            dw.clear();
            dw.resize(layer.w.len(), 0.0);
            db.clear();
            db.resize(layer.output, 0.0);
            let mut prev = vec![0.0f32; d * layer.input];
            for r in 0..d {
                let dz = &delta[r * layer.output..(r + 1) * layer.output];
                let ar = &a[r * layer.input..(r + 1) * layer.input];
                let pr = &mut prev[r * layer.input..(r + 1) * layer.input];
                for (o, &g) in dz.iter().enumerate() {
                    if g == 0.0 {
                        continue;
                    }
                    db[o] += g;
                    let wr = &layer.w[o * layer.input..(o + 1) * layer.input];
                    let dwr = &mut dw[o * layer.input..(o + 1) * layer.input];
                    for j in 0..layer.input {
                        dwr[j] += g * ar[j];
                        pr[j] += g * wr[j];
                    }
                }
            }
            delta = prev;
        }
        // Embedding bag: scatter into the touched feature rows.
        grads.slot.resize(self.n_features(), u32::MAX);
        for &f in &grads.rows {
            grads.slot[f as usize] = u32::MAX;
        }
        grads.rows.clear();
        grads.emb.clear();
        for (r, &e) in cache.ents.iter().enumerate() {
            let (fs, ws) = feats.row(e as usize);
            let scale = match self.pooling {
                Pooling::Mean if !fs.is_empty() => 1.0 / fs.len() as f32,
                _ => 1.0,
            };
            let g = &delta[r * k..(r + 1) * k];
            for (&f, &w) in fs.iter().zip(ws) {
                let mut s = grads.slot[f as usize];
                if s == u32::MAX {
                    s = grads.rows.len() as u32;
                    grads.slot[f as usize] = s;
                    grads.rows.push(f);
                    grads.emb.resize(grads.emb.len() + k, 0.0);
                }
                let c = w * scale;
                let out = &mut grads.emb[s as usize * k..(s as usize + 1) * k];
                for (o, &v) in out.iter_mut().zip(g) {
                    *o += c * v;
                }
            }
        }
    }

    /// Outputs for every entity of `feats`, `len x k` row-major (computed
    /// 4096 entities at a time).
    pub fn embed_all(&self, feats: &FeatureRows) -> Vec<f32> {
        let n = feats.len();
        let mut out = Vec::with_capacity(n * self.k);
        let mut cache = Cache::default();
        let ents: Vec<u32> = (0..n as u32).collect();
        for chunk in ents.chunks(4096) {
            self.forward(feats, chunk, &mut cache);
            out.extend_from_slice(&cache.out);
        }
        out
    }
}
