//! Neural two-tower models trained by SGD: the comparison side of iALS.
//!
//! Each tower maps an entity's sparse features (its id one of them; id-only
//! towers are plain matrix factorization) through an embedding bag (mean or
//! sum), optional ReLU layers and an optional L2 normalization to a
//! `k`-vector; the score is `s(u, i) = ⟨u, v⟩ / τ`. Three losses
//! (REFERENCE.md, "Neural two-tower training"):
//!
//! - `softmax`: in-batch softmax over the other positives of the batch,
//!   accidental hits masked (the same item elsewhere in the batch and the
//!   user's other training items), optionally with the logQ correction
//!   `s − log Q(i)` from exact training frequencies or the streaming
//!   estimate of Yi et al. 2019;
//! - `mixed`: the same plus `B′` items drawn uniformly from the catalogue
//!   (Yang et al. 2020), `log Q` then that of the mixture;
//! - `mse-gramian`: the iALS objective `Σ_S c (p − ŷ)² + α0 Σ_all ŷ² + λ (Σ‖x‖² + Σ‖y‖²)`
//!   by SGD, the all-pairs term through Gramian estimates (SOGram,
//!   Krichene et al. 2018). Per pair and batch it is
//!   `c (p − ŷ)² − α0 ŷ² + (α0/2 xᵀĜ_V x + λ‖x‖²)/|S_u| + (α0/2 yᵀĜ_U y + λ‖y‖²)/|S_i|`,
//!   whose sum over an epoch is the iALS loss (with exact Gramians) and
//!   whose gradient is unbiased.
//!
//! ## Cost
//! A batch of `B` pairs with `D_u` distinct users and `D_i` distinct items
//! (plus the uniform negatives) costs three `D_u x D_i x k` products (the
//! logits, then `dX = dS Y` and `dY = dSᵀ X`): each repeated user or item
//! is scored once and enters the softmax with its multiplicity. Tower
//! layers add `O((D_u + D_i) Σ h_l h_{l+1})`; only the embedding rows a
//! batch touches are updated (sparse Adagrad or lazy Adam).
//!
//! ## Parallelisation and determinism
//! The products run on rayon over fixed blocks of rows and the softmax over
//! user rows; every other step is sequential. Each output value is computed
//! by one thread in a fixed order, so a seed gives bit-identical weights on
//! any number of threads.
//!
//! ```
//! use ials::neural::{Loss, LogQ, TwoTowerParams};
//! use ials::InteractionsBuilder;
//!
//! let mut b = InteractionsBuilder::new();
//! for u in 0..30 {
//!     for i in 0..4 {
//!         b.push(&format!("u{u}"), &format!("i{}", (u % 3) * 4 + i), 1.0)?;
//!     }
//! }
//! let data = b.build()?;
//! let params = TwoTowerParams::builder()
//!     .factors(8)
//!     .epochs(30)
//!     .batch_size(16)
//!     .loss(Loss::Softmax)
//!     .logq(LogQ::Exact)
//!     .seed(1)
//!     .check()?;
//! let fitted = params.fit(&data)?;
//! let h = fitted.history();
//! assert!(h.last().unwrap().loss.unwrap().total() < h[0].loss.unwrap().total());
//! let model = fitted.to_model(&data)?;
//! assert_eq!(model.user_factors().rows(), 30);
//! # Ok::<(), ials::Error>(())
//! ```

mod estimates;
mod loss;
mod optim;
mod params;
mod tower;
mod trainer;

use std::ops::ControlFlow;

pub use estimates::{weighted_gramian, SoGram, StreamingFrequency};
pub use loss::{mse_gramian, softmax, Batch, BatchSpec, MseContext};
pub use params::{
    GramianEstimate, LogQ, Loss, Optimizer, Pooling, TwoTowerParams, TwoTowerParamsBuilder,
};
pub use tower::{Cache, FeatureRows, Grads, Tower};

use crate::data::Interactions;
use crate::error::Result;
use crate::factors::Factors;
use crate::model::Model;
use crate::params::Params;
use crate::report::{IterationReport, Progress};

/// A fitted two-tower model: both towers, the feature rows they read, the
/// loss history.
#[derive(Clone, Debug)]
pub struct TwoTowerModel {
    params: TwoTowerParams,
    user_tower: Tower,
    item_tower: Tower,
    user_feats: FeatureRows,
    item_feats: FeatureRows,
    history: Vec<IterationReport>,
}

impl TwoTowerParams {
    /// Fit id-only towers (matrix factorization by SGD) on `data`.
    pub fn fit(&self, data: &Interactions) -> Result<TwoTowerModel> {
        self.fit_with(data, None, None, |_| ControlFlow::Continue(()))
    }

    /// Fit with feature rows (`None`: id-only on that side) and a callback
    /// after each epoch (`Break` stops early), through the crate's one
    /// training loop ([`crate::train::train`]). Feature rows list the
    /// training entities first, in the order of `data`; further rows are cold
    /// entities, embedded after the fit.
    pub fn fit_with<F>(
        &self,
        data: &Interactions,
        user_feats: Option<FeatureRows>,
        item_feats: Option<FeatureRows>,
        callback: F,
    ) -> Result<TwoTowerModel>
    where
        F: FnMut(&Progress<'_>) -> ControlFlow<()> + Send,
    {
        let user_feats = user_feats.unwrap_or_else(|| FeatureRows::identity(data.n_users()));
        let item_feats = item_feats.unwrap_or_else(|| FeatureRows::identity(data.n_items()));
        let (t, history) = crate::train::train(
            self.threads(),
            self.epochs(),
            || trainer::Trainer::new(self, data, &user_feats, &item_feats),
            callback,
        )?;
        let (user_tower, item_tower) = (t.users.tower, t.items.tower);
        Ok(TwoTowerModel {
            params: self.clone(),
            user_tower,
            item_tower,
            user_feats,
            item_feats,
            history,
        })
    }
}

impl TwoTowerModel {
    /// The settings of the fit.
    pub fn params(&self) -> &TwoTowerParams {
        &self.params
    }

    /// The report of each epoch (the softmax losses' mean loss per pair is
    /// the `observed` part; mse-gramian reports the iALS objective).
    pub fn history(&self) -> &[IterationReport] {
        &self.history
    }

    /// The user tower.
    pub fn user_tower(&self) -> &Tower {
        &self.user_tower
    }

    /// The item tower.
    pub fn item_tower(&self) -> &Tower {
        &self.item_tower
    }

    /// Every user's score vector: the tower output divided by `τ`, so that
    /// `x_u · y_i` is the logit.
    pub fn user_factors(&self) -> Factors {
        let k = self.params.factors();
        let mut x = self.user_tower.embed_all(&self.user_feats);
        let inv = 1.0 / self.params.temperature();
        if inv != 1.0 {
            x.iter_mut().for_each(|v| *v *= inv);
        }
        Factors::from_vec(self.user_feats.len(), k, x).expect("invariant: embed_all gives len x k")
    }

    /// Every item's tower output.
    pub fn item_factors(&self) -> Factors {
        let k = self.params.factors();
        let y = self.item_tower.embed_all(&self.item_feats);
        Factors::from_vec(self.item_feats.len(), k, y).expect("invariant: embed_all gives len x k")
    }

    /// A plain [`Model`] over the entities of `data` (the training ones; the
    /// factors' extra rows, cold entities, need their ids: see the CLI), so
    /// that recommend, similar, export and evaluation work unchanged.
    pub fn to_model(&self, data: &Interactions) -> Result<Model> {
        let (m, n) = (data.n_users(), data.n_items());
        let x = self
            .user_factors()
            .gather(&(0..m as u32).collect::<Vec<_>>());
        let y = self
            .item_factors()
            .gather(&(0..n as u32).collect::<Vec<_>>());
        let params = Params::builder().factors(self.params.factors()).check()?;
        Ok(Model::new(
            params,
            data.users().clone(),
            data.items().clone(),
            data.by_user().clone(),
            x,
            y,
            self.history.clone(),
        ))
    }
}
