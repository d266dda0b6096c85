//! The fitted towers: feature weights, feature id maps, and the conversion to
//! a plain [`Model`] that covers cold entities.

use sprs::CsMatI;

use super::side::Side;
use super::{Tower, TowerParams};
use crate::data::interactions::sparse_row;
use crate::data::{IdMap, SparseMatrix};
use crate::factors::Factors;
use crate::model::Model;
use crate::params::Params;
use crate::report::IterationReport;

/// Fitted linear towers: `x_u = Aᵀ f_u`, `y_i = Bᵀ g_i`.
///
/// Holds the attribute weights and names of each side, the id weights of the
/// training entities, the features of every entity (training and cold), the
/// training matrix and the loss history. [`TowerModel::to_model`] turns it
/// into a plain [`Model`] with factors for every entity.
#[derive(Clone, Debug)]
pub struct TowerModel {
    pub(crate) params: Params,
    pub(crate) tower: TowerParams,
    pub(crate) train: SparseMatrix,
    /// The user and item towers (indexed by [`Tower`]).
    pub(crate) sides: [Side; 2],
    pub(crate) history: Vec<IterationReport>,
}

impl TowerModel {
    fn side(&self, t: Tower) -> &Side {
        &self.sides[t as usize]
    }

    /// The params of the fit.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The tower settings of the fit.
    pub fn tower_params(&self) -> &TowerParams {
        &self.tower
    }

    /// Every entity of tower `t`: the training ones (indices as in the
    /// interactions), then the cold ones (features only).
    pub fn ids(&self, t: Tower) -> &IdMap {
        &self.side(t).ids
    }

    /// Number of training entities of tower `t` (the cold ones follow).
    pub fn n_train(&self, t: Tower) -> usize {
        self.side(t).n_train
    }

    /// Number of cold entities of tower `t` (features, no interactions).
    pub fn n_cold(&self, t: Tower) -> usize {
        self.side(t).ids.len() - self.side(t).n_train
    }

    /// Training entities of tower `t` that have interactions but neither an
    /// id feature nor any attribute: their embedding is 0.
    pub fn n_without_features(&self, t: Tower) -> usize {
        let s = self.side(t);
        let counts = match t {
            Tower::User => row_counts(&self.train),
            Tower::Item => col_counts(&self.train),
        };
        (0..s.n_train)
            .filter(|&u| counts[u] > 0 && !s.has_id[u] && sparse_row(&s.by_entity, u).is_empty())
            .count()
    }

    /// Attribute feature names of tower `t` (rows of
    /// [`TowerModel::attribute_weights`]).
    pub fn feature_names(&self, t: Tower) -> &IdMap {
        &self.side(t).names
    }

    /// Attribute weights of tower `t` (`p x k`).
    pub fn attribute_weights(&self, t: Tower) -> &Factors {
        &self.side(t).attr
    }

    /// The id weight of training entity `e` of tower `t`, if it has an id
    /// feature.
    pub fn id_weight(&self, t: Tower, e: usize) -> Option<&[f32]> {
        let s = self.side(t);
        (e < s.n_train && s.has_id[e]).then(|| s.id.row(e))
    }

    /// Embeddings of every entity of tower `t` (training, then cold).
    pub fn factors(&self, t: Tower) -> Factors {
        let s = self.side(t);
        s.embeddings(s.ids.len())
    }

    /// The embedding of a new entity of tower `t` from its attributes
    /// (`(feature name, value)`), and how many of the given names the model
    /// does not know (they are ignored). No id feature: this is the cold
    /// start of an entity unseen anywhere.
    pub fn embed(&self, t: Tower, features: &[(&str, f32)]) -> (Vec<f32>, usize) {
        let s = self.side(t);
        super::saved::embed_attributes(&s.names, &s.attr, features)
    }

    /// One report per iteration.
    pub fn loss_history(&self) -> &[IterationReport] {
        &self.history
    }

    /// A plain [`Model`] with factors for every entity (cold ones included,
    /// after the training ones) and the training matrix padded with empty
    /// rows and columns for the cold ones: export, recommend, similar items
    /// and fold-in work on it unchanged. The cold entities are part of its
    /// catalog, so its `item_gramian()` (used by fold-in) covers them.
    pub fn to_model(&self) -> Model {
        let [users, items] = &self.sides;
        let (m, n) = (users.ids.len(), items.ids.len());
        let indptr = self.train.indptr();
        let mut ip = indptr.raw_storage().to_vec();
        let last = *ip.last().expect("invariant: indptr is never empty");
        ip.resize(m + 1, last);
        let train = CsMatI::new(
            (m, n),
            ip,
            self.train.indices().to_vec(),
            self.train.data().to_vec(),
        );
        Model::new(
            self.params.clone(),
            users.ids.clone(),
            items.ids.clone(),
            train,
            self.factors(Tower::User),
            self.factors(Tower::Item),
            self.history.clone(),
        )
    }
}

fn row_counts(m: &SparseMatrix) -> Vec<usize> {
    m.indptr()
        .raw_storage()
        .windows(2)
        .map(|w| w[1] - w[0])
        .collect()
}

fn col_counts(m: &SparseMatrix) -> Vec<usize> {
    let mut c = vec![0usize; m.cols()];
    for &i in m.indices() {
        c[i as usize] += 1;
    }
    c
}
