//! # ials: implicit-feedback matrix factorization by alternating least squares
//!
//! Exact iALS (Hu, Koren & Volinsky 2008) with the Gramian trick: every
//! unobserved user-item pair acts as a weighted negative without ever being
//! enumerated. The objective, over users `u` and items `i`:
//!
//! ```text
//! L(X, Y) = Σ_(u,i)∈S c_ui (p_ui − x_u·y_i)²  +  α0 Σ_(u,i)∉S (x_u·y_i)²
//!         + Σ_u λ_u ‖x_u‖²  +  Σ_i λ_i ‖y_i‖²
//! ```
//!
//! with `α0 Σ_∉S ŷ² = α0 ⟨XᵀX, YᵀY⟩ − α0 Σ_S ŷ²`, so a sweep costs
//! `O(|S| k² + (m + n) k³)` with the exact solver and
//! `O(steps (|S| k + (m + n) k²))` with conjugate gradient.
//!
//! ## Quick start
//!
//! ```
//! use ials::{Filter, InteractionsBuilder, Params, SolverKind};
//!
//! let mut b = InteractionsBuilder::new();
//! for (user, item, plays) in [("ann", "jazz", 3.0), ("ann", "blues", 1.0), ("bob", "jazz", 2.0), ("bob", "rock", 5.0)] {
//!     b.push(user, item, plays)?;
//! }
//! let data = b.build()?;
//! let params = Params::builder()
//!     .factors(2)
//!     .iterations(5)
//!     .regularization(0.1)
//!     .solver(SolverKind::Cholesky)
//!     .seed(7)
//!     .check()?;
//! let model = params.fit(&data)?;
//! let ann = data.users().get("ann").unwrap() as usize;
//! let recs = model.recommend(ann, 1, &Filter::new().exclude_seen(true))?;
//! assert_eq!(data.items().id(recs[0].0), "rock");
//! # Ok::<(), ials::Error>(())
//! ```
//!
//! ## Modules
//! - [`data`]: [`Interactions`] (CSR + transpose) and [`IdMap`].
//! - [`params`]: [`Params`], checked once by [`ParamsBuilder::check`].
//! - [`confidence`]: `r -> (c, p)`: linear, log, as-given; target 1 or 1/c.
//! - [`train`]: the one training loop ([`Trainer`], `drive`), plain iALS,
//!   the loss; [`report`]: the loss in parts and the per-iteration report.
//! - [`internals`]: the row solvers (Cholesky, CG, iALS++ blocks), the
//!   normal equations they share, and the SIMD kernels.
//! - [`model`]: the fitted [`Model`].
//! - [`serve`]: filtered and all-user recommendations (blocked top-k),
//!   similar items/users, fold-in, explanations, `partial_fit`.
//! - [`synth`]: a seeded synthetic data generator.
//! - [`towers`]: linear feature towers (side features, cold start), trained by iCD.

#![warn(missing_docs)]

pub mod confidence;
pub mod data;
pub mod datasets;
pub mod error;
pub mod eval;
pub mod factors;
pub mod gramian;
pub mod io;
#[doc(hidden)] // public as `internals::linalg`
pub mod linalg;
pub mod model;
mod names;
pub mod neural;
pub mod params;
pub mod report;
pub mod resources;
pub mod serve;
#[doc(hidden)] // public as `internals::solver`
pub mod solver;
pub mod synth;
pub mod towers;
pub mod train;

/// Kernels and row solvers, exposed for benchmarks, tests and experiments:
/// the SIMD kernels ([`linalg`](crate::internals::linalg), one runtime
/// level honouring `IALS_SIMD`) and the row solvers with their per-thread
/// workspace and the normal equations
/// ([`solver`](crate::internals::solver)). Not a stable API: fit through
/// [`Params`] and serve through [`Model`].
pub mod internals {
    pub use crate::linalg;
    pub use crate::solver;
}

pub use confidence::{ConfidenceKind, Target, Weighting};
pub use data::{IdMap, Interactions, InteractionsBuilder, RowView, SparseMatrix};
pub use error::{Error, Result};
pub use factors::{Factors, FactorsView, Init};
pub use gramian::Gramian;
pub use model::{Model, Side};
pub use params::{Params, ParamsBuilder, SolverKind};
pub use report::{IterationReport, LossParts, Progress};
pub use serve::Filter;
pub use solver::Solver;
pub use synth::SynthConfig;
pub use train::Trainer;

/// The README's Rust examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
