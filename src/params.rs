//! Hyper-parameters: a builder checked once into [`Params`].

use serde::{Deserialize, Serialize};

use crate::confidence::{ConfidenceKind, Target, Weighting};
use crate::error::{Error, Result};
use crate::factors::Init;
use crate::names::named_enum;
use crate::solver::Solver;

named_enum! {
    /// Which row solver each half-sweep uses.
    #[derive(Default)]
    pub enum SolverKind, "solver" {
        /// Exact: form `A_u`, Cholesky-factor it, solve. `O(|S_u| k² + k³)` a row.
        Cholesky = "cholesky",
        /// Warm-started conjugate gradient with `cg_steps` steps, never forming
        /// `A_u` (Takács et al. 2011; implicit's default). `O(steps (k² + |S_u| k))`.
        #[default]
        Cg = "cg",
        /// iALS++ subspace blocks of `block_size` coordinates (Rendle et al. 2021).
        /// `O(|S_u| k b + k² + k b²)` a row.
        Block = "block",
    }
}

/// The defaults of every setting, written once (the builder and the CLI
/// read them from here).
pub mod defaults {
    use crate::confidence::{ConfidenceKind, Target};

    use super::SolverKind;

    /// Latent factors `k`.
    pub const FACTORS: usize = 64;
    /// Full sweeps.
    pub const ITERATIONS: usize = 15;
    /// Regularization `λ`.
    pub const REGULARIZATION: f32 = 0.01;
    /// Confidence scale `α`.
    pub const ALPHA: f32 = 1.0;
    /// Confidence kind.
    pub const CONFIDENCE: ConfidenceKind = ConfidenceKind::Linear;
    /// `ε` of the log confidence.
    pub const EPSILON: f32 = 1.0;
    /// Target of observed pairs.
    pub const TARGET: Target = Target::One;
    /// `α0`.
    pub const UNOBSERVED_WEIGHT: f32 = 1.0;
    /// `ν`.
    pub const REG_EXPONENT: f32 = 0.0;
    /// Whether `λ_u` counts the unobserved mass.
    pub const REG_INCLUDE_UNOBSERVED: bool = true;
    /// Row solver.
    pub const SOLVER: SolverKind = SolverKind::Cg;
    /// Conjugate-gradient steps.
    pub const CG_STEPS: usize = 3;
    /// Largest default iALS++ block (the default is `min(factors, this)`).
    pub const MAX_BLOCK_SIZE: usize = 32;
    /// Initialization seed.
    pub const SEED: u64 = 42;
}

/// The settings as given (and as saved in a model's manifest): what the
/// builder collects and [`ParamsBuilder::check`] validates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct RawParams {
    factors: usize,
    iterations: usize,
    regularization: f32,
    alpha: f32,
    confidence: ConfidenceKind,
    epsilon: f32,
    target: Target,
    unobserved_weight: f32,
    reg_exponent: f32,
    reg_include_unobserved: bool,
    solver: SolverKind,
    cg_steps: usize,
    block_size: Option<usize>,
    /// How the factors start (params saved before this field existed were
    /// fitted from the normal start, and load so).
    #[serde(default = "normal_init")]
    init: Init,
    init_std: Option<f32>,
    seed: u64,
    threads: Option<usize>,
    /// Accept negative values as observed negatives: target 0 with the
    /// confidence of `|r|` (default false: a negative value is refused).
    #[serde(default)]
    observed_negatives: bool,
    /// Compute the loss after every iteration (default true).
    #[serde(default = "track_loss_default")]
    track_loss: bool,
}

fn track_loss_default() -> bool {
    true
}

impl Default for RawParams {
    fn default() -> Self {
        RawParams {
            factors: defaults::FACTORS,
            iterations: defaults::ITERATIONS,
            regularization: defaults::REGULARIZATION,
            alpha: defaults::ALPHA,
            confidence: defaults::CONFIDENCE,
            epsilon: defaults::EPSILON,
            target: defaults::TARGET,
            unobserved_weight: defaults::UNOBSERVED_WEIGHT,
            reg_exponent: defaults::REG_EXPONENT,
            reg_include_unobserved: defaults::REG_INCLUDE_UNOBSERVED,
            solver: defaults::SOLVER,
            cg_steps: defaults::CG_STEPS,
            block_size: None,
            init: Init::Uniform,
            init_std: None,
            seed: defaults::SEED,
            threads: None,
            observed_negatives: false,
            track_loss: true,
        }
    }
}

/// Checked hyper-parameters of a fit: build with [`Params::builder`] and
/// [`ParamsBuilder::check`]; read with the getters. A `Params` is valid by
/// construction (deserializing one checks it too) and never changes: to
/// change a setting, go back through [`Params::to_builder`].
///
/// The objective (see the crate docs) is
/// `Σ_S c (p − x_u·y_i)² + α0 Σ_∉S (x_u·y_i)² + Σ_u λ_u‖x_u‖² + Σ_i λ_i‖y_i‖²`
/// with `λ_u = λ (|S_u| + α0 n)^ν` (or `λ |S_u|^ν` when
/// `reg_include_unobserved` is false).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawParams", into = "RawParams")]
pub struct Params {
    raw: RawParams,
    /// The solver with its settings resolved.
    solver: Solver,
}

impl Default for Params {
    fn default() -> Self {
        Params::builder()
            .check()
            .expect("invariant: the defaults are valid")
    }
}

impl TryFrom<RawParams> for Params {
    type Error = Error;
    fn try_from(raw: RawParams) -> Result<Params> {
        ParamsBuilder { p: raw }.check()
    }
}

impl From<Params> for RawParams {
    fn from(p: Params) -> RawParams {
        p.raw
    }
}

/// Builder of [`Params`]; [`ParamsBuilder::check`] validates it once.
#[derive(Clone, Debug, Default)]
pub struct ParamsBuilder {
    p: RawParams,
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.p.$name = value;
            self
        }
    };
}

impl ParamsBuilder {
    setter!(/// Latent factors `k` (default 64).
        factors: usize);
    setter!(/// Full sweeps (default 15).
        iterations: usize);
    setter!(/// Regularization `λ` (default 0.01).
        regularization: f32);
    setter!(/// Confidence scale `α` (default 1).
        alpha: f32);
    setter!(/// Confidence kind (default linear).
        confidence: ConfidenceKind);
    setter!(/// `ε` of the log confidence (default 1).
        epsilon: f32);
    setter!(/// Target of observed pairs (default `p = 1`).
        target: Target);
    setter!(/// Weight `α0` of each unobserved pair (default 1).
        unobserved_weight: f32);
    setter!(/// Frequency exponent `ν` of the regularization (default 0: constant λ).
        reg_exponent: f32);
    setter!(/// Count the unobserved mass `α0 n` in the frequency of `λ_u` (default true).
        reg_include_unobserved: bool);
    setter!(/// Row solver (default CG); its settings are [`ParamsBuilder::cg_steps`]
        /// and [`ParamsBuilder::block_size`].
        solver: SolverKind);
    setter!(/// CG steps (default 3).
        cg_steps: usize);
    setter!(/// Negative values are observed negatives: target 0, confidence of
        /// `|r|` (default false: refused).
        observed_negatives: bool);
    setter!(/// Compute the loss after every iteration (default true). Without it
        /// an iteration skips one pass of dot products over the interactions
        /// (a quarter to a third of a CG iteration on the 14.66M set) and its
        /// report has no loss;
        /// the factors are the same.
        track_loss: bool);
    setter!(/// Initialization seed (default 42).
        seed: u64);

    /// iALS++ block size (default `min(factors, 32)`).
    pub fn block_size(mut self, value: usize) -> Self {
        self.p.block_size = Some(value);
        self
    }

    /// How the factors start (default uniform on `[0, 0.01)`, implicit's).
    pub fn init(mut self, value: Init) -> Self {
        self.p.init = value;
        self
    }

    /// Scale of the start: standard deviation of the normal (default
    /// `0.1/√k`), upper end of the uniform (default 0.01).
    pub fn init_std(mut self, value: f32) -> Self {
        self.p.init_std = Some(value);
        self
    }

    /// Worker threads (default: one per core).
    pub fn threads(mut self, value: usize) -> Self {
        self.p.threads = Some(value);
        self
    }

    /// Validate every setting; the first bad one is returned as its own
    /// [`Error`] variant.
    pub fn check(self) -> Result<Params> {
        let p = &self.p;
        if p.factors == 0 {
            return Err(Error::ZeroFactors);
        }
        if p.iterations == 0 {
            return Err(Error::ZeroIterations);
        }
        if !non_negative(p.regularization) {
            return Err(Error::InvalidRegularization(p.regularization));
        }
        if !non_negative(p.alpha) {
            return Err(Error::InvalidAlpha(p.alpha));
        }
        if !(p.epsilon.is_finite() && p.epsilon > 0.0) {
            return Err(Error::InvalidEpsilon(p.epsilon));
        }
        if !non_negative(p.unobserved_weight) {
            return Err(Error::InvalidUnobservedWeight(p.unobserved_weight));
        }
        if !p.reg_exponent.is_finite() {
            return Err(Error::InvalidRegExponent(p.reg_exponent));
        }
        if p.cg_steps == 0 {
            return Err(Error::ZeroCgSteps);
        }
        match p.block_size {
            Some(0) => return Err(Error::ZeroBlockSize),
            Some(b) if b > p.factors => {
                return Err(Error::BlockSizeTooLarge {
                    block_size: b,
                    factors: p.factors,
                })
            }
            _ => {}
        }
        if let Some(s) = p.init_std {
            if !non_negative(s) {
                return Err(Error::InvalidInitStd(s));
            }
        }
        if p.threads == Some(0) {
            return Err(Error::ZeroThreads);
        }
        let solver = match p.solver {
            SolverKind::Cholesky => Solver::Cholesky,
            SolverKind::Cg => Solver::Cg { steps: p.cg_steps },
            SolverKind::Block => Solver::Block {
                size: p
                    .block_size
                    .unwrap_or(p.factors.min(defaults::MAX_BLOCK_SIZE)),
            },
        };
        Ok(Params {
            raw: self.p,
            solver,
        })
    }
}

fn normal_init() -> Init {
    Init::Normal
}

fn non_negative(v: f32) -> bool {
    v.is_finite() && v >= 0.0
}

impl Params {
    /// A builder with the defaults.
    pub fn builder() -> ParamsBuilder {
        ParamsBuilder::default()
    }

    /// Turn checked params back into a builder, to change a few settings.
    pub fn to_builder(&self) -> ParamsBuilder {
        ParamsBuilder {
            p: self.raw.clone(),
        }
    }

    /// The same params with `iterations` full sweeps (checked).
    pub fn with_iterations(&self, iterations: usize) -> Result<Params> {
        self.to_builder().iterations(iterations).check()
    }

    /// Always `Ok`: a `Params` is checked when built or deserialized. Kept
    /// for callers that re-validate loaded params.
    pub fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// Number of latent factors `k`.
    pub fn factors(&self) -> usize {
        self.raw.factors
    }

    /// Number of full sweeps (users then items).
    pub fn iterations(&self) -> usize {
        self.raw.iterations
    }

    /// Regularization `λ`.
    pub fn regularization(&self) -> f32 {
        self.raw.regularization
    }

    /// Confidence scale `α`.
    pub fn alpha(&self) -> f32 {
        self.raw.alpha
    }

    /// How raw values become confidences.
    pub fn confidence(&self) -> ConfidenceKind {
        self.raw.confidence
    }

    /// `ε` of the log confidence.
    pub fn epsilon(&self) -> f32 {
        self.raw.epsilon
    }

    /// The target `p` of observed pairs.
    pub fn target(&self) -> Target {
        self.raw.target
    }

    /// `α0`, the weight of every unobserved pair.
    pub fn unobserved_weight(&self) -> f32 {
        self.raw.unobserved_weight
    }

    /// `ν`, the frequency exponent of the regularization.
    pub fn reg_exponent(&self) -> f32 {
        self.raw.reg_exponent
    }

    /// Whether the frequency in `λ_u` counts the unobserved mass `α0 n`.
    pub fn reg_include_unobserved(&self) -> bool {
        self.raw.reg_include_unobserved
    }

    /// The row solver with its settings.
    pub fn solver(&self) -> Solver {
        self.solver
    }

    /// The kind of row solver.
    pub fn solver_kind(&self) -> SolverKind {
        self.raw.solver
    }

    /// How the factors start.
    pub fn init(&self) -> Init {
        self.raw.init
    }

    /// The initialization scale in effect: the standard deviation of the
    /// normal (`0.1/√k` unless set), the upper end of the uniform (0.01
    /// unless set).
    pub fn init_std(&self) -> f32 {
        self.raw.init_std.unwrap_or(match self.raw.init {
            Init::Normal => 0.1 / (self.raw.factors as f32).sqrt(),
            Init::Uniform => 0.01,
        })
    }

    /// Seed of the initialization.
    pub fn seed(&self) -> u64 {
        self.raw.seed
    }

    /// Whether negative values are observed negatives (target 0).
    pub fn observed_negatives(&self) -> bool {
        self.raw.observed_negatives
    }

    /// Whether every iteration computes the loss.
    pub fn track_loss(&self) -> bool {
        self.raw.track_loss
    }

    /// Worker threads (`None`: rayon's default, one per core).
    pub fn threads(&self) -> Option<usize> {
        self.raw.threads
    }

    /// The confidence/target map of these params.
    pub fn weighting(&self) -> Weighting {
        Weighting {
            kind: self.raw.confidence,
            alpha: self.raw.alpha,
            epsilon: self.raw.epsilon,
            target: self.raw.target,
        }
    }

    /// The frequency of a row with `count` interactions when the other side
    /// has `other` rows: `count + α0 other` (or `count`).
    pub fn row_frequency(&self, count: usize, other: usize) -> f64 {
        if self.raw.reg_include_unobserved {
            count as f64 + self.raw.unobserved_weight as f64 * other as f64
        } else {
            count as f64
        }
    }

    /// `λ frequency^ν` (`λ` itself when `ν = 0`): the one formula of the
    /// frequency-scaled regularization, for rows and tower features alike.
    pub fn scaled_regularization(&self, lambda: f32, frequency: f64) -> f32 {
        if self.raw.reg_exponent == 0.0 {
            return lambda;
        }
        (lambda as f64 * frequency.powf(self.raw.reg_exponent as f64)) as f32
    }

    /// `λ_u` of a row with `count` interactions, when the other side has
    /// `other` rows: `λ (count + α0 other)^ν`.
    pub fn row_regularization(&self, count: usize, other: usize) -> f32 {
        self.scaled_regularization(self.raw.regularization, self.row_frequency(count, other))
    }
}
