//! Evaluation: splits, ranking metrics and baselines.

pub mod metrics;
pub mod split;

pub use metrics::{evaluate_scorer, ndcg_at_k, recall_at_k, RankingMetrics};
pub use split::random_holdout;
