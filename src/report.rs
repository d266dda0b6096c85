//! What a training loop reports: the loss in parts, one report per
//! iteration, and what a callback sees. A leaf module (it depends on
//! [`Factors`] only), so models and trainers can both use it.

use serde::{Deserialize, Serialize};

use crate::factors::Factors;

/// The loss of REFERENCE.md split into its three parts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LossParts {
    /// `Σ_S c (p − ŷ)²`.
    pub observed: f64,
    /// `α0 Σ_∉S ŷ² = α0 (⟨XᵀX, YᵀY⟩ − Σ_S ŷ²)`.
    pub unobserved: f64,
    /// `Σ_u λ_u‖x_u‖² + Σ_i λ_i‖y_i‖²`.
    pub regularization: f64,
}

impl LossParts {
    /// The whole objective.
    pub fn total(&self) -> f64 {
        self.observed + self.unobserved + self.regularization
    }

    /// True when every part is finite.
    pub fn is_finite(&self) -> bool {
        self.observed.is_finite() && self.unobserved.is_finite() && self.regularization.is_finite()
    }
}

/// What one iteration did.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct IterationReport {
    /// 1-based iteration.
    pub iteration: usize,
    /// The loss after the iteration (`None` when the fit does not track it:
    /// [`ParamsBuilder::track_loss`](crate::ParamsBuilder::track_loss)).
    pub loss: Option<LossParts>,
    /// Seconds of the two half-sweeps (Gramians and row solves).
    pub seconds: f64,
    /// Seconds spent computing the loss.
    pub loss_seconds: f64,
}

impl IterationReport {
    /// The loss parts, NaN where the fit did not track the loss (for tables
    /// and JSON, where NaN prints as `null`).
    pub fn loss_or_nan(&self) -> LossParts {
        self.loss.unwrap_or(LossParts {
            observed: f64::NAN,
            unobserved: f64::NAN,
            regularization: f64::NAN,
        })
    }
}

/// One log line: `iteration   3  loss 1.234568e4  (observed …, unobserved …,
/// regularization …)  0.12s`.
impl std::fmt::Display for IterationReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.loss {
            Some(l) => write!(
                f,
                "iteration {:>3}  loss {:.6e}  (observed {:.6e}, unobserved {:.6e}, regularization {:.6e})  {:.2}s",
                self.iteration,
                l.total(),
                l.observed,
                l.unobserved,
                l.regularization,
                self.seconds
            ),
            None => write!(
                f,
                "iteration {:>3}  loss not tracked  {:.2}s",
                self.iteration, self.seconds
            ),
        }
    }
}

/// What a fit callback sees after each iteration.
pub struct Progress<'a> {
    /// This iteration's report.
    pub report: &'a IterationReport,
    /// The current user factors.
    pub user_factors: &'a Factors,
    /// The current item factors.
    pub item_factors: &'a Factors,
}
