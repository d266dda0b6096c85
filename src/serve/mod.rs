//! Serving a fitted [`Model`](crate::Model): filtered recommendations for one
//! user or all of them (a blocked, parallel, streaming top-k kernel), similar
//! items/users, fold-in of new users and items, explanations (Hu et al. 2008
//! §5) and incremental updates (`partial_fit`).
//!
//! - [`filter`] holds [`Filter`] (exclude seen, exclude list, candidate list).
//! - [`topk`] is the blocked top-k kernel and its tie rule.
//! - [`recommend`] has `recommend`, `recommend_all`, `similar`, `similar_all`.
//! - [`foldin`] has `fold_in_user`, `fold_in_item`, recommendations from a
//!   history file.
//! - [`prior`] ranks by `score + β log P(i)` (the serving-time popularity prior).
//! - [`explain`] splits the score of a (user, item) pair over the user's items.
//! - [`update`] has `partial_fit`.

pub mod explain;
pub mod filter;
pub mod foldin;
pub mod prior;
pub mod recommend;
pub mod topk;
pub mod update;

pub use explain::Explanation;
pub use filter::Filter;
pub use foldin::{recommend_history, HistoryRecommendations, HistoryUser};
pub use topk::TopK;
pub use update::{UpdateOptions, UpdateReport};
