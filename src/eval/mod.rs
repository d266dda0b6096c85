//! Evaluation: splits, ranking metrics, scorers, baselines and early
//! stopping, all on one protocol (train items excluded from the ranking).

pub mod baselines;
pub mod dense;
pub mod early_stopping;
pub mod io;
pub mod metrics;
pub mod scorer;
pub mod split;
pub mod tune;

pub use baselines::{ease_memory_bytes, Ease, ItemKnn, Popularity, EASE_MAX_ITEMS};
pub use early_stopping::{fit_with_early_stopping, EarlyStopping, Patience};
pub use metrics::{
    auc, average_precision_at_k, evaluate_scorer, hit_rate_at_k, ndcg_at_k, precision_at_k,
    recall_at_k, reciprocal_rank_at_k, Evaluator, Metric, MetricKind, RankingMetrics,
};
pub use scorer::{FactorScorer, FoldInScorer, ScoreScratch, Scorer};
pub use split::{
    cold_item_split, leave_k_out, random_holdout, strong_generalization, ColdSplit, HeldOut,
    StrongConfig, StrongSplit,
};
