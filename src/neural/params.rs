//! The settings of a two-tower fit, checked once by [`TwoTowerParamsBuilder::check`].

use serde::{Deserialize, Serialize};

use crate::confidence::{ConfidenceKind, Target, Weighting};
use crate::error::{Error, Result};
use crate::names::named_enum;

named_enum! {
    /// The training loss.
    pub enum Loss, "loss" {
        /// Softmax over the other positives of the batch (B x B logits).
        Softmax = "softmax",
        /// In-batch negatives plus `negatives` items drawn uniformly from the
        /// catalogue, shared by the batch (Yang et al. 2020).
        Mixed = "mixed",
        /// Confidence-weighted squared loss on observed pairs plus
        /// `α0 ⟨G_U, G_V⟩` through estimated Gramians (Krichene et al. 2018):
        /// the iALS objective optimized by SGD.
        MseGramian = "mse-gramian",
    }
}

named_enum! {
    /// The sampling-bias correction of a softmax logit, `s − log Q(i)`.
    pub enum LogQ, "logq" {
        /// No correction.
        None = "none",
        /// `Q(i)` from the training frequencies of the items.
        Exact = "exact",
        /// `Q(i)` estimated online from the stream of batches (Yi et al. 2019, Alg. 2).
        Streaming = "streaming",
    }
}

named_enum! {
    /// The optimizer of the embedding rows (sparse) and layer weights (dense).
    pub enum Optimizer, "optimizer" {
        /// Adagrad, one accumulator per weight.
        Adagrad = "adagrad",
        /// Adam (lazy for embedding rows: only the rows a batch touches move).
        Adam = "adam",
    }
}

named_enum! {
    /// How an entity's feature embeddings are combined.
    pub enum Pooling, "pooling" {
        /// `Σ_f w_f e_f / nnz`.
        Mean = "mean",
        /// `Σ_f w_f e_f`.
        Sum = "sum",
    }
}

named_enum! {
    /// How `mse-gramian` estimates the Gramians of the other side.
    pub enum GramianEstimate, "gramian" {
        /// SOGram: `Ĝ ← (1 − ρ) Ĝ + ρ Ĝ_batch`, an importance-weighted batch estimate.
        Sogram = "sogram",
        /// The exact Gramian of every embedding, recomputed each step
        /// (`O((m + n) k²)` a step: for tests and small data).
        Exact = "exact",
    }
}

/// The settings, written once: each field with its type, default and doc
/// becomes a private field of [`TwoTowerParams`], its default, a builder
/// setter and a getter.
macro_rules! two_tower_params {
    ($(#[$sm:meta])* struct; $($(#[$m:meta])* $name:ident: $ty:ty = $default:expr),+ $(,)?) => {
        $(#[$sm])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub struct TwoTowerParams {
            $($name: $ty),+
        }

        impl Default for TwoTowerParams {
            fn default() -> Self {
                TwoTowerParams { $($name: $default),+ }
            }
        }

        impl TwoTowerParamsBuilder {
            $($(#[$m])* pub fn $name(mut self, value: $ty) -> Self { self.0.$name = value; self })+
        }

        impl TwoTowerParams {
            $($(#[$m])* pub fn $name(&self) -> $ty { self.$name.clone() })+
        }
    };
}

/// Unchecked settings; [`TwoTowerParamsBuilder::check`] turns them into [`TwoTowerParams`].
#[derive(Clone, Debug, Default)]
pub struct TwoTowerParamsBuilder(TwoTowerParams);

two_tower_params! {
    /// Checked settings of a neural two-tower fit. Build with [`TwoTowerParams::builder`].
    ///
    /// | setting | default | meaning |
    /// |---|---|---|
    /// | `factors` | 64 | output size `k` of each tower |
    /// | `epochs` | 20 | passes over the training pairs |
    /// | `batch_size` | 1024 | pairs per step `B` |
    /// | `learning_rate` | 0.05 | step size |
    /// | `optimizer` | adagrad | adagrad or adam |
    /// | `loss` | softmax | softmax, mixed or mse-gramian |
    /// | `logq` | none | none, exact or streaming |
    /// | `negatives` | 0 | `B′` uniform negatives of `mixed` (must be > 0 there) |
    /// | `temperature` | 1 | `τ` in `s = ⟨u, v⟩ / τ` |
    /// | `normalize` | false | L2-normalize both tower outputs |
    /// | `hidden` | none | sizes of the ReLU layers after the embedding bag |
    /// | `pooling` | mean | mean or sum over an entity's features |
    /// | `unobserved_weight` | 0.1 | `α0` of mse-gramian |
    /// | `regularization` | 0 | `λ Σ ‖x_u‖² + λ Σ ‖y_i‖²` on the tower outputs |
    /// | `gramian` / `gramian_rate` | sogram / 0.1 | mse-gramian's estimate and SOGram's `ρ` |
    /// | `mask_user_items` | true | mask the user's other training items among the negatives |
    /// | `init_std` | `0.1/√k` | embeddings start `N(0, init_std²)` |
    /// | `seed` | 42 | shuffling, initialization and negative sampling |
    /// | `threads` | all cores | worker threads |
    struct;

    /// Output size `k` of each tower.
    factors: usize = 64,
    /// Passes over the training pairs.
    epochs: usize = 20,
    /// Training pairs per step.
    batch_size: usize = 1024,
    /// Optimizer step size.
    learning_rate: f32 = 0.05,
    /// Optimizer.
    optimizer: Optimizer = Optimizer::Adagrad,
    /// Loss.
    loss: Loss = Loss::Softmax,
    /// logQ correction of the softmax losses.
    logq: LogQ = LogQ::None,
    /// Uniform negatives a batch for `mixed`.
    negatives: usize = 0,
    /// Temperature `τ`.
    temperature: f32 = 1.0,
    /// L2-normalize the tower outputs.
    normalize: bool = false,
    /// Hidden ReLU layer sizes.
    hidden: Vec<usize> = Vec::new(),
    /// Pooling of feature embeddings.
    pooling: Pooling = Pooling::Mean,
    /// `α0` of mse-gramian.
    unobserved_weight: f32 = 0.1,
    /// `λ` on the tower outputs.
    regularization: f32 = 0.0,
    /// Confidence kind of mse-gramian's observed pairs (and the softmax row weights).
    confidence: ConfidenceKind = ConfidenceKind::Linear,
    /// Confidence scale `α` (0: every observed pair weighs 1 in the softmax; `c = 1` in mse-gramian).
    alpha: f32 = 0.0,
    /// `ε` of the log confidence.
    epsilon: f32 = 1.0,
    /// Gramian estimate of mse-gramian.
    gramian: GramianEstimate = GramianEstimate::Sogram,
    /// SOGram's rate `ρ`.
    gramian_rate: f32 = 0.1,
    /// Mask the user's other training items among the negatives.
    mask_user_items: bool = true,
    /// Buckets of the streaming logQ estimate.
    logq_hash_size: usize = 1 << 20,
    /// Rate of the streaming logQ estimate (`α` of Yi et al., 0.01 in their runs).
    logq_rate: f32 = 0.01,
    /// Standard deviation of the initial embeddings (`None`: `0.1/√k`).
    init_std: Option<f32> = None,
    /// Random seed.
    seed: u64 = 42,
    /// Worker threads (`None`: every core).
    threads: Option<usize> = None,
}

fn bad(name: &'static str, requirement: &'static str, value: impl ToString) -> Error {
    Error::InvalidSetting {
        name,
        requirement,
        value: value.to_string(),
    }
}

impl TwoTowerParamsBuilder {
    /// Check every setting; the first bad one is the error.
    pub fn check(self) -> Result<TwoTowerParams> {
        let p = self.0;
        let pos_finite = |name, v: f32| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(bad(name, "finite and > 0", v))
            }
        };
        let nonneg_finite = |name, v: f32| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(bad(name, "finite and >= 0", v))
            }
        };
        if p.factors == 0 {
            return Err(Error::ZeroFactors);
        }
        if p.epochs == 0 {
            return Err(bad("epochs", "at least 1", 0));
        }
        if p.batch_size < 2 {
            return Err(bad("batch_size", "at least 2", p.batch_size));
        }
        pos_finite("learning_rate", p.learning_rate)?;
        pos_finite("temperature", p.temperature)?;
        nonneg_finite("unobserved_weight", p.unobserved_weight)?;
        nonneg_finite("regularization", p.regularization)?;
        nonneg_finite("alpha", p.alpha)?;
        pos_finite("epsilon", p.epsilon)?;
        if p.loss == Loss::Mixed && p.negatives == 0 {
            return Err(bad("negatives", "at least 1 with loss mixed", 0));
        }
        if p.loss != Loss::Mixed && p.negatives != 0 {
            return Err(bad("negatives", "0 unless loss is mixed", p.negatives));
        }
        if p.loss == Loss::MseGramian && p.logq != LogQ::None {
            return Err(bad("logq", "none with loss mse-gramian", p.logq));
        }
        if p.loss == Loss::MseGramian && p.normalize {
            return Err(bad("normalize", "off with loss mse-gramian", true));
        }
        if let Some(h) = p.hidden.iter().find(|&&h| h == 0) {
            return Err(bad("hidden", "a list of sizes >= 1", h));
        }
        if !(p.gramian_rate > 0.0 && p.gramian_rate <= 1.0) {
            return Err(bad("gramian_rate", "in (0, 1]", p.gramian_rate));
        }
        if p.logq_hash_size == 0 {
            return Err(bad("logq_hash_size", "at least 1", 0));
        }
        if !(p.logq_rate > 0.0 && p.logq_rate <= 1.0) {
            return Err(bad("logq_rate", "in (0, 1]", p.logq_rate));
        }
        if let Some(s) = p.init_std {
            pos_finite("init_std", s)?;
        }
        if p.threads == Some(0) {
            return Err(Error::ZeroThreads);
        }
        Ok(p)
    }
}

impl TwoTowerParams {
    /// Unchecked settings with the defaults.
    pub fn builder() -> TwoTowerParamsBuilder {
        TwoTowerParamsBuilder::default()
    }

    /// These settings as a builder, to change some and check again.
    pub fn to_builder(&self) -> TwoTowerParamsBuilder {
        TwoTowerParamsBuilder(self.clone())
    }

    /// The standard deviation the embeddings start from.
    pub fn effective_init_std(&self) -> f32 {
        self.init_std.unwrap_or(0.1 / (self.factors as f32).sqrt())
    }

    /// The map from a raw value to `(c, p)` for observed pairs: `c = 1` and
    /// `p = 1` when `alpha` is 0.
    pub fn weighting(&self) -> Weighting {
        Weighting {
            kind: self.confidence,
            alpha: self.alpha,
            epsilon: self.epsilon,
            target: Target::One,
        }
    }

    /// The raw-value weight of an observed pair: its confidence, or 1 when
    /// `alpha` is 0 (every pair counts once).
    pub fn pair_weight(&self, r: f32) -> f32 {
        if self.alpha == 0.0 {
            1.0
        } else {
            self.weighting().confidence(r)
        }
    }
}
