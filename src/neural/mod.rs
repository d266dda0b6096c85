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
mod features;
mod loss;
mod optim;
mod params;
mod tower;
mod trainer;
mod tune;

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

pub use estimates::{weighted_gramian, SoGram, StreamingFrequency};
pub use features::SideRows;
pub use loss::{mse_gramian, softmax, Batch, BatchSpec, MseContext};
pub use params::{
    GramianEstimate, LogQ, Loss, Optimizer, Pooling, TwoTowerParams, TwoTowerParamsBuilder,
};
pub use tower::{Cache, FeatureRows, Grads, Tower};
pub use tune::{tune_towers, TowerTrial, TowerTuneConfig, TowerTuneResult};

use crate::data::{IdMap, Interactions};
use crate::error::Result;
use crate::eval::{EarlyStopping, Metric};
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

/// The two-tower trainer with the tower weights of its best epoch so far:
/// the early-stopping callback raises `improved` after an epoch that
/// improved the validation metric, and the weights are copied before the
/// next epoch changes them (only on improvement).
struct Snapshotting<'a, 'f> {
    inner: trainer::Trainer<'a>,
    improved: &'f AtomicBool,
    best: Option<(Tower, Tower)>,
}

impl Snapshotting<'_, '_> {
    fn take(&mut self) {
        if self.improved.swap(false, Ordering::Relaxed) {
            self.best = Some((
                self.inner.users.tower.clone(),
                self.inner.items.tower.clone(),
            ));
        }
    }
}

impl crate::train::Trainer for Snapshotting<'_, '_> {
    fn sweep(&mut self, iteration: usize) -> Result<()> {
        self.take();
        self.inner.sweep(iteration)
    }
    fn loss(&mut self) -> crate::report::LossParts {
        self.inner.loss()
    }
    fn factors(&self) -> (&Factors, &Factors) {
        self.inner.factors()
    }
}

impl TwoTowerParams {
    /// [`fit_with`](TwoTowerParams::fit_with) with early stopping: after
    /// each epoch `metric` is evaluated on `validation` (pairs of the
    /// training users, indexed like `data`; the training items excluded from
    /// the ranking), the fit stops after `patience` epochs without
    /// improvement and the model keeps the towers of its best epoch (its
    /// params then say that many epochs, so a refit reproduces it).
    /// With `prior_beta` ≠ 0 the validation ranks by `s(u, i) + β log P(i)`
    /// ([`crate::serve::prior`], P from `data`), as it will be served.
    /// `callback` sees each epoch's progress and validation value.
    #[allow(clippy::too_many_arguments)]
    pub fn fit_validated<'d, F>(
        &self,
        data: &'d Interactions,
        user_feats: Option<FeatureRows>,
        item_feats: Option<FeatureRows>,
        validation: &'d Interactions,
        metric: Metric,
        patience: usize,
        prior_beta: f32,
        mut callback: F,
    ) -> Result<(TwoTowerModel, EarlyStopping<'d>)>
    where
        F: FnMut(&Progress<'_>, f64) -> ControlFlow<()> + Send,
    {
        let user_feats = user_feats.unwrap_or_else(|| FeatureRows::identity(data.n_users()));
        let item_feats = item_feats.unwrap_or_else(|| FeatureRows::identity(data.n_items()));
        let mut stop = EarlyStopping::new(data, validation, metric, patience)?;
        let improved = AtomicBool::new(false);
        let beta = crate::serve::prior::check_beta(prior_beta)?;
        let log_prior =
            crate::serve::prior::log_popularity(&crate::serve::prior::item_counts(data.by_user()));
        let (mut t, mut history) = crate::train::train(
            self.threads(),
            self.epochs(),
            || {
                Ok(Snapshotting {
                    inner: trainer::Trainer::new(self, data, &user_feats, &item_feats)?,
                    improved: &improved,
                    best: None,
                })
            },
            |p: &Progress<'_>| {
                let flow = if beta != 0.0 {
                    let (x, y) = crate::serve::prior::with_prior_column(
                        p.user_factors,
                        p.item_factors,
                        &log_prior,
                        beta,
                    );
                    stop.observe(&Progress {
                        report: p.report,
                        user_factors: &x,
                        item_factors: &y,
                    })
                } else {
                    stop.observe(p)
                };
                if stop.best_iteration() == p.report.iteration {
                    improved.store(true, Ordering::Relaxed);
                }
                let value = stop.history().last().map_or(f64::NAN, |h| h.1);
                match (flow, callback(p, value)) {
                    (ControlFlow::Continue(()), ControlFlow::Continue(())) => {
                        ControlFlow::Continue(())
                    }
                    _ => ControlFlow::Break(()),
                }
            },
        )?;
        t.take();
        let best = stop.best_iteration().max(1);
        history.truncate(best);
        let (user_tower, item_tower) = t.best.unwrap_or((t.inner.users.tower, t.inner.items.tower));
        let params = self.to_builder().epochs(best).check()?;
        Ok((
            TwoTowerModel {
                params,
                user_tower,
                item_tower,
                user_feats,
                item_feats,
                history,
            },
            stop,
        ))
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

    /// A plain [`Model`] over every entity of the feature rows: `users` and
    /// `items` name the rows (the training entities of `data` first, in its
    /// order, then the cold ones, as [`SideRows`] builds them). The training
    /// matrix gets empty rows and columns for the cold entities, so
    /// recommend, similar, export and evaluation serve them unchanged.
    pub fn to_model_with_ids(
        &self,
        data: &Interactions,
        users: &IdMap,
        items: &IdMap,
    ) -> Result<Model> {
        let (m, n) = (users.len(), items.len());
        let prefix = |all: &IdMap, train: &IdMap| {
            all.len() >= train.len() && all.ids()[..train.len()] == train.ids()[..]
        };
        if m != self.user_feats.len()
            || n != self.item_feats.len()
            || !prefix(users, data.users())
            || !prefix(items, data.items())
        {
            return Err(crate::error::Error::Shape(format!(
                "{m} user ids and {n} item ids for {} and {} feature rows, the training ids first",
                self.user_feats.len(),
                self.item_feats.len()
            )));
        }
        let train = data.by_user();
        let mut indptr = train.indptr().raw_storage().to_vec();
        let last = *indptr.last().expect("invariant: indptr is never empty");
        indptr.resize(m + 1, last);
        let train = sprs::CsMatI::new(
            (m, n),
            indptr,
            train.indices().to_vec(),
            train.data().to_vec(),
        );
        let params = Params::builder().factors(self.params.factors()).check()?;
        Ok(Model::new(
            params,
            users.clone(),
            items.clone(),
            train,
            self.user_factors(),
            self.item_factors(),
            self.history.clone(),
        ))
    }
}
