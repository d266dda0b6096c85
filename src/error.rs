//! The crate's error type: one variant per thing that can go wrong, with the
//! fields a caller needs to fix the input.

use std::path::PathBuf;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `ials`.
///
/// Parameter errors come from [`crate::ParamsBuilder::check`]; data errors
/// from building [`crate::Interactions`] or reading files; numerical errors
/// from fitting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `factors` was 0.
    #[error("factors cannot be 0")]
    ZeroFactors,
    /// `iterations` was 0.
    #[error("iterations cannot be 0")]
    ZeroIterations,
    /// Regularization λ negative or not finite.
    #[error("regularization must be finite and >= 0, got {0}")]
    InvalidRegularization(f32),
    /// Confidence scale α negative or not finite.
    #[error("alpha must be finite and >= 0, got {0}")]
    InvalidAlpha(f32),
    /// Unobserved weight α0 negative or not finite.
    #[error("unobserved_weight must be finite and >= 0, got {0}")]
    InvalidUnobservedWeight(f32),
    /// ε of the log confidence not finite or not positive.
    #[error("epsilon must be finite and > 0, got {0}")]
    InvalidEpsilon(f32),
    /// The frequency exponent ν not finite.
    #[error("reg_exponent must be finite, got {0}")]
    InvalidRegExponent(f32),
    /// The standard deviation of the initial factors negative or not finite.
    #[error("init_std must be finite and >= 0, got {0}")]
    InvalidInitStd(f32),
    /// `cg_steps` was 0.
    #[error("cg_steps cannot be 0")]
    ZeroCgSteps,
    /// `block_size` was 0.
    #[error("block_size cannot be 0")]
    ZeroBlockSize,
    /// `block_size` larger than `factors`.
    #[error("block_size ({block_size}) cannot exceed factors ({factors})")]
    BlockSizeTooLarge {
        /// The block size asked for.
        block_size: usize,
        /// The number of factors.
        factors: usize,
    },
    /// `threads` was 0.
    #[error("threads cannot be 0 (leave it unset to use every core)")]
    ZeroThreads,
    /// An unknown name for a setting (solver, confidence kind, ...).
    #[error("unknown {what} {got:?}; expected one of: {expected}")]
    UnknownName {
        /// What was being named ("solver", "confidence", ...).
        what: &'static str,
        /// The name given.
        got: String,
        /// The accepted names.
        expected: &'static str,
    },

    /// An interaction value that is negative or not finite.
    #[error(
        "invalid value {value} for user {user:?} and item {item:?}: values must be finite and >= 0"
    )]
    InvalidValue {
        /// External user id.
        user: String,
        /// External item id.
        item: String,
        /// The offending value.
        value: f32,
    },
    /// Negative values in data fitted without observed negatives.
    #[error("the data has negative values but observed negatives are off; enable them (Params::observed_negatives, ials fit --observed-negatives) to fit a negative value as a pair shown but not taken")]
    NegativeValues,
    /// No interactions at all.
    #[error("the interaction matrix is empty: no (user, item, value) triplets were given")]
    EmptyMatrix,
    /// More distinct ids than a `u32` index can hold.
    #[error("too many distinct {0} ids (the limit is 2^32 - 1)")]
    TooManyIds(&'static str),
    /// An index outside the matrix.
    #[error("{kind} index {index} is out of range (there are {len})")]
    IndexOutOfRange {
        /// "user" or "item".
        kind: &'static str,
        /// The index given.
        index: usize,
        /// The number of rows on that side.
        len: usize,
    },
    /// An external id that the model does not know.
    #[error("unknown {kind} id {id:?}")]
    UnknownId {
        /// "user" or "item".
        kind: &'static str,
        /// The id given.
        id: String,
    },
    /// A duplicate external id where ids must be unique.
    #[error("duplicate {kind} id {id:?}")]
    DuplicateId {
        /// "user" or "item".
        kind: &'static str,
        /// The repeated id.
        id: String,
    },
    /// A shape mismatch between matrices given by the caller.
    #[error("shape mismatch: {0}")]
    Shape(String),

    /// The loss or the factors became NaN or infinite.
    #[error("numerical failure at iteration {iteration}: the {what} is not finite (try a larger regularization or a smaller alpha)")]
    NonFinite {
        /// 1-based iteration.
        iteration: usize,
        /// What was found non-finite.
        what: &'static str,
    },
    /// A row system that is not positive definite (only possible with λ = 0).
    #[error("numerical failure at iteration {iteration}: the normal equations of {side} {row} are not positive definite (pivot {pivot}); use regularization > 0")]
    NotPositiveDefinite {
        /// 1-based iteration (0 outside fitting).
        iteration: usize,
        /// "user" or "item".
        side: &'static str,
        /// The row index.
        row: usize,
        /// The failing pivot.
        pivot: usize,
    },

    /// A read or write failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A malformed line in an input file.
    #[error("{}: line {line}: {message}", path.display())]
    Parse {
        /// The file (`-` for standard input).
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong with it.
        message: String,
    },
    /// An input file with no data lines.
    #[error("{}: no data lines", path.display())]
    EmptyInput {
        /// The file.
        path: PathBuf,
    },
    /// A model file that is missing, truncated, corrupted or of another version.
    #[error("model file {}: {reason}", path.display())]
    ModelFormat {
        /// The file that is wrong.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The worker thread pool could not be started.
    #[error("cannot start the thread pool: {0}")]
    ThreadPool(String),
    /// A request too large to serve (e.g. a dense n x n solve).
    #[error("{0}")]
    TooLarge(String),
    /// A per-side feature-weight regularization (feature towers) negative or not finite.
    #[error("{side} feature regularization must be finite and >= 0, got {value}")]
    InvalidFeatureRegularization {
        /// "user" or "item".
        side: &'static str,
        /// The value given.
        value: f32,
    },
    /// A feature value (feature towers) that is not finite.
    #[error("invalid value {value} of feature {feature:?} for {side} {entity:?}: feature values must be finite")]
    InvalidFeatureValue {
        /// "user" or "item".
        side: &'static str,
        /// External entity id.
        entity: String,
        /// Feature name.
        feature: String,
        /// The offending value.
        value: f32,
    },
    /// A two-tower setting out of its range (see [`crate::neural::TwoTowerParams`]).
    #[error("{name} must be {requirement}, got {value}")]
    InvalidSetting {
        /// The setting, as named on the command line without dashes.
        name: &'static str,
        /// What it must be.
        requirement: &'static str,
        /// The value given.
        value: String,
    },
    /// A metric over held-out cold items without item features to embed
    /// them (`ials tune --metric cold-recall@20` needs `--item-features`).
    #[error("the cold-item metric {metric} needs item features (ials tune --item-features FILE): the held-out items are embedded from their features alone")]
    ColdMetricWithoutItemFeatures {
        /// The metric asked for.
        metric: String,
    },
    /// A tower with no feature at all: every embedding of that side would be 0.
    #[error(
        "the {side} tower has no features: give {side} features or turn {side} id features on"
    )]
    EmptyTower {
        /// "user" or "item".
        side: &'static str,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Lets a streaming writer (`std::io::Result`) carry a library error.
impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::Io { source, .. } => source.kind(),
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, e)
    }
}
