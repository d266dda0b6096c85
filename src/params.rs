//! Hyper-parameters: a builder checked once into [`Params`].

use serde::{Deserialize, Serialize};

use crate::confidence::{ConfidenceKind, Target, Weighting};
use crate::error::{Error, Result};
use crate::factors::Init;

/// Which row solver each half-sweep uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SolverKind {
    /// Exact: form `A_u`, Cholesky-factor it, solve. `O(|S_u| k² + k³)` a row.
    Cholesky,
    /// Warm-started conjugate gradient with `cg_steps` steps, never forming
    /// `A_u` (Takács et al. 2011; implicit's default). `O(steps (k² + |S_u| k))`.
    #[default]
    Cg,
    /// iALS++ subspace blocks of `block_size` coordinates (Rendle et al. 2021).
    /// `O(|S_u| k b + k² + k b²)` a row.
    Block,
}

impl std::str::FromStr for SolverKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cholesky" => Ok(Self::Cholesky),
            "cg" => Ok(Self::Cg),
            "block" => Ok(Self::Block),
            _ => Err(Error::UnknownName {
                what: "solver",
                got: s.to_owned(),
                expected: "cholesky, cg, block",
            }),
        }
    }
}

impl std::fmt::Display for SolverKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Cholesky => "cholesky",
            Self::Cg => "cg",
            Self::Block => "block",
        })
    }
}

/// Checked hyper-parameters of a fit. Build with [`Params::builder`].
///
/// The objective (see the crate docs) is
/// `Σ_S c (p − x_u·y_i)² + α0 Σ_∉S (x_u·y_i)² + Σ_u λ_u‖x_u‖² + Σ_i λ_i‖y_i‖²`
/// with `λ_u = λ (|S_u| + α0 n)^ν` (or `λ |S_u|^ν` when
/// `reg_include_unobserved` is false).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Number of latent factors `k`.
    pub factors: usize,
    /// Number of full sweeps (users then items).
    pub iterations: usize,
    /// Regularization `λ`.
    pub regularization: f32,
    /// Confidence scale `α`.
    pub alpha: f32,
    /// How raw values become confidences.
    pub confidence: ConfidenceKind,
    /// `ε` of the log confidence.
    pub epsilon: f32,
    /// The target `p` of observed pairs.
    pub target: Target,
    /// `α0`, the weight of every unobserved pair.
    pub unobserved_weight: f32,
    /// `ν`, the frequency exponent of the regularization.
    pub reg_exponent: f32,
    /// Whether the frequency in `λ_u` counts the unobserved mass `α0 n`.
    pub reg_include_unobserved: bool,
    /// The row solver.
    pub solver: SolverKind,
    /// Conjugate-gradient steps a row a sweep.
    pub cg_steps: usize,
    /// iALS++ block size (`None`: `min(factors, 32)`).
    pub block_size: Option<usize>,
    /// How the factors start (params saved before this field existed were
    /// fitted from the normal start, and load so).
    #[serde(default = "normal_init")]
    pub init: Init,
    /// Scale of the start: the standard deviation of `Init::Normal`, the
    /// upper end of `Init::Uniform` (`None`: `0.1/√k`, or 0.01 for uniform).
    pub init_std: Option<f32>,
    /// Seed of the initialization.
    pub seed: u64,
    /// Worker threads (`None`: rayon's default, one per core).
    pub threads: Option<usize>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            factors: 64,
            iterations: 15,
            regularization: 0.01,
            alpha: 1.0,
            confidence: ConfidenceKind::Linear,
            epsilon: 1.0,
            target: Target::One,
            unobserved_weight: 1.0,
            reg_exponent: 0.0,
            reg_include_unobserved: true,
            solver: SolverKind::Cg,
            cg_steps: 3,
            block_size: None,
            init: Init::Uniform,
            init_std: None,
            seed: 42,
            threads: None,
        }
    }
}

/// Builder of [`Params`]; [`ParamsBuilder::check`] validates it once.
#[derive(Clone, Debug, Default)]
pub struct ParamsBuilder {
    p: Params,
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
    setter!(/// Row solver (default CG).
        solver: SolverKind);
    setter!(/// CG steps (default 3).
        cg_steps: usize);
    setter!(/// How the factors start (default uniform on `[0, 0.01)`, implicit's).
        init: Init);
    setter!(/// Initialization seed (default 42).
        seed: u64);

    /// iALS++ block size (default `min(factors, 32)`).
    pub fn block_size(mut self, value: usize) -> Self {
        self.p.block_size = Some(value);
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
        self.p.validate()?;
        Ok(self.p)
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
        ParamsBuilder { p: self.clone() }
    }

    /// Validate (used by `check` and when loading saved params).
    pub fn validate(&self) -> Result<()> {
        let p = self;
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
        Ok(())
    }

    /// The block size in effect.
    pub fn effective_block_size(&self) -> usize {
        self.block_size.unwrap_or(self.factors.min(32))
    }

    /// The initialization scale in effect (standard deviation of the normal,
    /// upper end of the uniform).
    pub fn effective_init_std(&self) -> f32 {
        self.init_std.unwrap_or(match self.init {
            Init::Normal => 0.1 / (self.factors as f32).sqrt(),
            Init::Uniform => 0.01,
        })
    }

    /// The confidence/target map of these params.
    pub fn weighting(&self) -> Weighting {
        Weighting {
            kind: self.confidence,
            alpha: self.alpha,
            epsilon: self.epsilon,
            target: self.target,
        }
    }

    /// `λ_u` of a row with `count` interactions, when the other side has
    /// `other` rows: `λ (count + α0 other)^ν`.
    pub fn row_regularization(&self, count: usize, other: usize) -> f32 {
        if self.reg_exponent == 0.0 {
            return self.regularization;
        }
        let base = if self.reg_include_unobserved {
            count as f64 + self.unobserved_weight as f64 * other as f64
        } else {
            count as f64
        };
        (self.regularization as f64 * base.powf(self.reg_exponent as f64)) as f32
    }
}
