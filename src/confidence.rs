//! Raw values `r_ui` to pair weights: the confidence `c_ui` and the target `p_ui`.

use crate::names::named_enum;

named_enum! {
    /// How a raw value `r >= 0` becomes the confidence `c` of an observed pair
    /// (an observed negative `r < 0` gets the confidence of `|r|` and target 0).
    #[derive(Default)]
    pub enum ConfidenceKind, "confidence" {
        /// `c = 1 + alpha * r` (Hu et al. 2008; Spark with `|r|`).
        #[default]
        Linear = "linear",
        /// `c = 1 + alpha * ln(1 + r / epsilon)` (Hu et al. 2008).
        Log = "log",
        /// `c = alpha * r`: the matrix *is* the confidence (benfred/implicit).
        AsGiven = "as-given" | "as_given",
    }
}

named_enum! {
    /// The target `p_ui` of an observed pair.
    #[derive(Default)]
    pub enum Target, "target" {
        /// `p = 1` (Hu et al. 2008, implicit, Spark).
        #[default]
        One = "one",
        /// `p = 1 / c`, so that `c p = 1`. With `c = 1 + α0` this is the binary
        /// objective of Rendle et al. 2022, `Σ_S (ŷ − 1)² + α0 Σ_all ŷ²`, up to a
        /// constant.
        Reciprocal = "reciprocal",
    }
}

/// The map `r -> (c, c * p)` for one fit, with its parameters resolved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Weighting {
    /// Confidence kind.
    pub kind: ConfidenceKind,
    /// Scale α.
    pub alpha: f32,
    /// ε of the log confidence.
    pub epsilon: f32,
    /// Target kind.
    pub target: Target,
}

impl Weighting {
    /// The confidence `c` of a raw value `r`.
    #[inline]
    pub fn confidence(&self, r: f32) -> f32 {
        match self.kind {
            ConfidenceKind::Linear => 1.0 + self.alpha * r,
            ConfidenceKind::Log => 1.0 + self.alpha * (r / self.epsilon).ln_1p(),
            ConfidenceKind::AsGiven => self.alpha * r,
        }
    }

    /// `(c, p)`: confidence and target of a raw value.
    ///
    /// A negative value is an observed negative (a pair shown but not taken;
    /// only present when [`Params::observed_negatives`](crate::Params) let it
    /// through validation): target `p = 0` with the confidence of `|r|`.
    #[inline]
    pub fn weight(&self, r: f32) -> (f32, f32) {
        if r < 0.0 {
            return (self.confidence(-r), 0.0);
        }
        let c = self.confidence(r);
        let p = match self.target {
            Target::One => 1.0,
            Target::Reciprocal if c > 0.0 => 1.0 / c,
            Target::Reciprocal => 0.0,
        };
        (c, p)
    }

    /// `(c, c * p)`: what the normal equations need (`c p = 0` for an
    /// observed negative, `r < 0`).
    #[inline]
    pub fn weight_cp(&self, r: f32) -> (f32, f32) {
        if r < 0.0 {
            return (self.confidence(-r), 0.0);
        }
        let c = self.confidence(r);
        let cp = match self.target {
            Target::One => c,
            Target::Reciprocal if c > 0.0 => 1.0,
            Target::Reciprocal => 0.0,
        };
        (c, cp)
    }
}
