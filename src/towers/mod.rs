//! Linear feature towers: iALS with side features, for cold start.
//!
//! Each user has a sparse feature vector `f_u` and each item `g_i`; the
//! embeddings are linear in them, `x_u = Aᵀ f_u` and `y_i = Bᵀ g_i`. The
//! entity's own id is one feature among the others (on by default for every
//! entity with interactions), so plain matrix factorization is the special
//! case with id features only. The objective is the one of the crate with the
//! regularization moved onto the feature weights:
//!
//! ```text
//! L(A, B) = Σ_(u,i)∈S c_ui (p_ui − ŷ_ui)² + α0 Σ_(u,i)∉S ŷ_ui²
//!         + Σ_j λ_j ‖a_j‖² + Σ_j λ_j ‖b_j‖²,          ŷ_ui = x_u · y_i
//! ```
//!
//! The all-pairs term stays cheap through the feature Gramians:
//! `α0 Σ_u,i ŷ² = α0 ⟨Aᵀ Φ_U A, Bᵀ Φ_I B⟩_F` with `Φ_U = Σ_u f_u f_uᵀ`
//! ([`feature_gramian`], [`projected_gramian`]); `Aᵀ Φ_U A = XᵀX`, which is
//! what the loss evaluates.
//!
//! ## Training: exact block coordinate descent over feature rows (iCD)
//! Bayer et al. 2017. One half-sweep updates every feature row `a_j` of one
//! side in turn, with `G = YᵀY` of the current (training) item embeddings,
//! `x_u` and the prediction `ŷ_ui` of every observed pair kept up to date:
//!
//! ```text
//! M_j = α0 (Σ_u f_uj²) G + Σ_(u,i)∈S f_uj² (c_ui − α0) y_i y_iᵀ + λ_j I
//! g_j = α0 G (Σ_u f_uj x_u) + Σ_(u,i)∈S f_uj [(c_ui − α0) ŷ_ui − c_ui p_ui] y_i + λ_j a_j
//! a_j ← a_j − M_j⁻¹ g_j,   x_u += f_uj Δa_j,   ŷ_ui += f_uj Δa_j · y_i
//! ```
//!
//! Each step minimizes the objective exactly over `a_j`, so the loss never
//! increases. With id features only a half-sweep is exactly one half-sweep
//! of plain iALS with the Cholesky solver (and gives the same factors).
//!
//! With attributes, a half-sweep works in the eigenbasis of `G = Q Λ Qᵀ`
//! (`src/towers/attr.rs`): there `α0 s G + λ I` is diagonal, and a row whose
//! data part reaches `n < k` distinct rows of the other side (rare
//! features, and the id rows of entities with few interactions) is solved
//! exactly through an `n x n` Woodbury system, `O(n² k + n³)` instead of
//! `O(n k² + k³)`; the others form and factor the `k x k` system. When one
//! side has attributes, the id rows of both sides are solved this way. Cost of a
//! half-sweep: `O(k³ + (p + n) k² + Σ_u nnz(f_u) |S_u| k + Σ_j min(n_j² k, n_j k² + k³))`.
//!
//! ## Which entities are trained, which are served cold
//! The objective runs over the users and items of the [`Interactions`]
//! (including ones registered with no interactions). Entities that appear
//! only in a feature file are *cold*: they take no part in training (they
//! are new) and get their embedding `Bᵀ g_i` from their features afterwards.
//! [`TowerModel::to_model`] gives a plain [`crate::Model`] whose id maps list
//! the training entities first (same indices as the interactions), then the
//! cold ones; export, recommend and fold-in work on it unchanged. Attribute
//! features that no training entity has get weight 0.
//!
//! ## Regularization
//! `λ_j` of the id feature of entity `u` is the `λ_u` of plain iALS
//! ([`Params::row_regularization`]); `λ_j` of an attribute feature is the
//! side's feature regularization `λ_F` (default: `Params::regularization`)
//! scaled like `λ_u`: `λ_F (Σ_u f_uj² (|S_u| + α0 n))^ν` (without `α0 n` when
//! `reg_include_unobserved` is false; ν = 0 gives a constant `λ_F`).
//!
//! ## Parallelisation
//! The update of `a_j` reads and writes only the embeddings of `j`'s
//! entities and their pairs' predictions (the first term of `M_j` is exact
//! only when no other feature of the same entities moves at the same time).
//! So the attribute features are coloured once, when the tower is built
//! (greedy, in feature order: no two features of a colour class share a
//! training entity, [`TowerTrainer::colour_classes`]); a half-sweep updates
//! the classes one after another in colour order and the features of a
//! class in parallel, which gives exactly the sequential iCD result in that
//! order. Id rows never share an entity: they are one more class, updated
//! after the attributes. Every row's sums run in a fixed order on one
//! thread, so results are bit-identical whatever the number of threads.
//! `Params::solver` is not used: every feature row is solved exactly.
//!
//! ```
//! use ials::towers::{Features, TowerParams};
//! use ials::{InteractionsBuilder, Params};
//!
//! let mut b = InteractionsBuilder::new();
//! for (u, i) in [("ann", "jazz1"), ("ann", "jazz2"), ("bob", "rock1"), ("bob", "rock2")] {
//!     b.push(u, i, 1.0)?;
//! }
//! let data = b.build()?;
//! let mut f = Features::builder("item");
//! for (i, tag) in [("jazz1", "jazz"), ("jazz2", "jazz"), ("rock1", "rock"), ("rock2", "rock"),
//!                  ("jazz3", "jazz"), ("rock3", "rock")] { // jazz3, rock3: new, cold
//!     f.push(i, tag, 1.0)?;
//! }
//! let items = f.build();
//! let params = Params::builder().factors(4).iterations(10).regularization(0.05).seed(3).check()?;
//! let towers = TowerParams::builder().check()?.fit(&params, &data, None, Some(&items))?;
//! let model = towers.to_model();
//! let ann = model.users().get("ann").unwrap() as usize;
//! let (jazz3, rock3) = (model.items().get("jazz3").unwrap() as usize, model.items().get("rock3").unwrap() as usize);
//! assert!(model.score(ann, jazz3) > model.score(ann, rock3));
//! # Ok::<(), ials::Error>(())
//! ```

mod attr;
mod colour;
mod features;
mod icd;
mod model;
mod saved;
mod side;
mod train;

pub use features::{Features, FeaturesBuilder};
pub use model::TowerModel;
pub use saved::AttributeTower;
pub use train::TowerTrainer;

use serde::{Deserialize, Serialize};

#[allow(unused_imports)] // used by the docs
use crate::data::Interactions;
use crate::error::{Error, Result};
#[allow(unused_imports)] // used by the docs
use crate::params::Params;

/// One of the two towers: the user tower (`x_u = Aᵀ f_u`) or the item
/// tower (`y_i = Bᵀ g_i`).
pub use crate::model::Side as Tower;

/// Settings of the towers on top of [`Params`]. Build with
/// [`TowerParams::builder`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TowerParams {
    /// Give every user with interactions its one-hot id feature (default true).
    pub user_ids: bool,
    /// Give every item with interactions its one-hot id feature (default true).
    pub item_ids: bool,
    /// `λ_F` of the user attribute features (`None`: `Params::regularization`).
    pub user_feature_reg: Option<f32>,
    /// `λ_F` of the item attribute features (`None`: `Params::regularization`).
    pub item_feature_reg: Option<f32>,
}

impl Default for TowerParams {
    fn default() -> Self {
        TowerParams {
            user_ids: true,
            item_ids: true,
            user_feature_reg: None,
            item_feature_reg: None,
        }
    }
}

/// Builder of [`TowerParams`].
#[derive(Clone, Debug, Default)]
pub struct TowerParamsBuilder {
    p: TowerParams,
}

impl TowerParamsBuilder {
    /// Id features for users with interactions (default true).
    pub fn user_ids(mut self, on: bool) -> Self {
        self.p.user_ids = on;
        self
    }

    /// Id features for items with interactions (default true).
    pub fn item_ids(mut self, on: bool) -> Self {
        self.p.item_ids = on;
        self
    }

    /// Regularization of the user attribute weights.
    pub fn user_feature_reg(mut self, value: f32) -> Self {
        self.p.user_feature_reg = Some(value);
        self
    }

    /// Regularization of the item attribute weights.
    pub fn item_feature_reg(mut self, value: f32) -> Self {
        self.p.item_feature_reg = Some(value);
        self
    }

    /// Validate.
    pub fn check(self) -> Result<TowerParams> {
        self.p.validate()?;
        Ok(self.p)
    }
}

impl TowerParams {
    /// A builder with the defaults (ids on, feature regularization = λ).
    pub fn builder() -> TowerParamsBuilder {
        TowerParamsBuilder::default()
    }

    /// Validate the settings.
    pub fn validate(&self) -> Result<()> {
        for (side, v) in [
            ("user", self.user_feature_reg),
            ("item", self.item_feature_reg),
        ] {
            if let Some(value) = v {
                if !(value.is_finite() && value >= 0.0) {
                    return Err(Error::InvalidFeatureRegularization { side, value });
                }
            }
        }
        Ok(())
    }

    pub(crate) fn ids(&self, t: Tower) -> bool {
        match t {
            Tower::User => self.user_ids,
            Tower::Item => self.item_ids,
        }
    }

    pub(crate) fn feature_reg(&self, t: Tower, params: &Params) -> f32 {
        match t {
            Tower::User => self.user_feature_reg,
            Tower::Item => self.item_feature_reg,
        }
        .unwrap_or(params.regularization())
    }
}
