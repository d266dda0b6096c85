//! One tower: its entities, their sparse features, the attribute and id
//! weights and their regularization; embeddings `x_u = Σ_j f_uj a_j (+ id)`.

use rayon::prelude::*;

use super::colour::{classes_are_valid, colour_classes};
use super::features::Features;
use super::{Tower, TowerParams};
use crate::data::interactions::{csr_from_triplets, sparse_row};
use crate::data::{IdMap, SparseMatrix};
use crate::error::{Error, Result};
use crate::factors::Factors;
use crate::linalg::{axpy, dot};
use crate::params::Params;

/// Seed mixers of the attribute weights' initialization.
const USER_ATTR_SEED: u64 = 0x5851_F42D_4C95_7F2D;
const ITEM_ATTR_SEED: u64 = 0x1405_7B7E_F767_814F;

/// One tower: its entities, feature matrix and weights.
#[derive(Clone, Debug)]
pub(crate) struct Side {
    pub(crate) tower: Tower,
    /// Every entity: the training ones (same indices as the interactions),
    /// then the cold ones.
    pub(crate) ids: IdMap,
    pub(crate) n_train: usize,
    /// Attribute feature names (`p` of them).
    pub(crate) names: IdMap,
    /// `n_all x p`, CSR: the attribute features of every entity.
    pub(crate) by_entity: SparseMatrix,
    /// `p x n_train`, CSR: the training entities of every attribute.
    pub(crate) by_feature: SparseMatrix,
    /// Whether training entity `u` has an id feature.
    pub(crate) has_id: Vec<bool>,
    /// `p x k` attribute weights.
    pub(crate) attr: Factors,
    /// `n_train x k` id weights (rows of entities without an id are 0).
    pub(crate) id: Factors,
    pub(crate) attr_lambda: Vec<f32>,
    pub(crate) id_lambda: Vec<f32>,
    /// Colour classes of the attribute features (no two features of a class
    /// share a training entity), in update order.
    pub(crate) classes: Vec<Vec<u32>>,
}

impl Side {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn build(
        tower: Tower,
        params: &Params,
        tp: &TowerParams,
        train_ids: &IdMap,
        matrix: &SparseMatrix,
        other: usize,
        features: Option<&Features>,
        id_init: Factors,
    ) -> Result<Side> {
        let k = params.factors();
        let n_train = train_ids.len();
        let counts: Vec<usize> = matrix
            .indptr()
            .raw_storage()
            .windows(2)
            .map(|w| w[1] - w[0])
            .collect();
        let mut ids = train_ids.clone();
        let (names, triplets) = match features {
            Some(f) => {
                let remap: Vec<u32> = f
                    .entities
                    .ids()
                    .iter()
                    .map(|e| ids.get_or_insert(e, tower.name()))
                    .collect::<Result<_>>()?;
                let t: Vec<(u32, u32, f32)> = f
                    .triplets
                    .iter()
                    .map(|&(e, j, v)| (remap[e as usize], j, v))
                    .collect();
                (f.names.clone(), t)
            }
            None => (IdMap::new(), Vec::new()),
        };
        let p = names.len();
        let n_all = ids.len();
        let train_t: Vec<(u32, u32, f32)> = triplets
            .iter()
            .filter(|t| (t.0 as usize) < n_train)
            .map(|&(e, j, v)| (j, e, v))
            .collect();
        let by_entity = csr_from_triplets(n_all, p, triplets);
        let by_feature = csr_from_triplets(p, n_train, train_t);
        let has_id: Vec<bool> = counts.iter().map(|&c| tp.ids(tower) && c > 0).collect();
        if p == 0 && !has_id.iter().any(|&h| h) {
            return Err(Error::EmptyTower { side: tower.name() });
        }
        let mut id = id_init;
        for (u, &h) in has_id.iter().enumerate() {
            if !h {
                id.row_mut(u).iter_mut().for_each(|v| *v = 0.0);
            }
        }
        let id_lambda: Vec<f32> = counts
            .iter()
            .map(|&c| params.row_regularization(c, other))
            .collect();
        let seed = params.seed()
            ^ match tower {
                Tower::User => USER_ATTR_SEED,
                Tower::Item => ITEM_ATTR_SEED,
            };
        // Attribute weights keep the normal start N(0, (0.1/√k)²) (or
        // `init_std` with `Init::Normal`); id weights start as a plain fit.
        let std = match params.init() {
            crate::factors::Init::Normal => params.init_std(),
            crate::factors::Init::Uniform => 0.1 / (k as f32).sqrt(),
        };
        let mut attr = Factors::random_normal(p, k, std, seed);
        let reg_f = tp.feature_reg(tower, params);
        let mut attr_lambda = vec![0.0f32; p];
        #[allow(clippy::needless_range_loop)] // j indexes the CSR rows and the weights too
        for j in 0..p {
            let row = sparse_row(&by_feature, j);
            if row.is_empty() {
                attr.row_mut(j).iter_mut().for_each(|v| *v = 0.0);
            }
            // The frequency of feature j: Σ_u f_uj² (|S_u| + α0 other).
            let frequency: f64 = row
                .indices
                .iter()
                .zip(row.values)
                .map(|(&u, &f)| {
                    (f as f64) * (f as f64) * params.row_frequency(counts[u as usize], other)
                })
                .sum();
            attr_lambda[j] = if frequency > 0.0 {
                params.scaled_regularization(reg_f, frequency)
            } else {
                reg_f
            };
        }
        let classes = colour_classes(&by_feature, &by_entity);
        // The parallel attribute updates rely on it (attr.rs).
        assert!(
            classes_are_valid(&classes, &by_feature),
            "invariant: colour classes share no entity"
        );
        Ok(Side {
            tower,
            ids,
            n_train,
            names,
            by_entity,
            by_feature,
            has_id,
            attr,
            id,
            attr_lambda,
            id_lambda,
            classes,
        })
    }

    /// Embeddings of entities `0..rows`: `Σ_j f_uj a_j` (+ the id weight).
    pub(crate) fn embeddings(&self, rows: usize) -> Factors {
        let k = self.attr.k().max(self.id.k());
        let mut out = Factors::zeros(rows, k);
        self.embed_into(&mut out);
        out
    }

    pub(crate) fn embed_into(&self, out: &mut Factors) {
        let k = out.k();
        out.as_mut_slice()
            .par_chunks_mut(k)
            .enumerate()
            .for_each(|(u, x)| {
                if u < self.n_train && self.has_id[u] {
                    x.copy_from_slice(self.id.row(u));
                } else {
                    x.iter_mut().for_each(|v| *v = 0.0);
                }
                let row = sparse_row(&self.by_entity, u);
                for (&j, &f) in row.indices.iter().zip(row.values) {
                    axpy(f, self.attr.row(j as usize), x);
                }
            });
    }

    /// `Σ_j λ_j ‖a_j‖²` over attributes and ids, in a fixed order.
    pub(crate) fn regularization(&self) -> f64 {
        let mut reg = 0.0f64;
        for (j, &l) in self.attr_lambda.iter().enumerate() {
            let a = self.attr.row(j);
            reg += l as f64 * dot(a, a) as f64;
        }
        for (u, &l) in self.id_lambda.iter().enumerate() {
            if self.has_id[u] {
                let a = self.id.row(u);
                reg += l as f64 * dot(a, a) as f64;
            }
        }
        reg
    }

    pub(crate) fn n_columns(&self) -> usize {
        self.names.len() + self.n_train
    }
}
