//! The serving-time popularity prior: rank by `s(u, i) + β log P(i)`, with
//! `P(i)` the item's training frequency (REFERENCE.md, "Neural two-tower
//! training": β = 1 is the Bayes correction of a softmax model that learned
//! the pointwise mutual information; tune β on validation). Works for any
//! factor model, iALS included: the prior is carried by one extra factor
//! column (`[x_u, 1] · [y_i, β log P(i)]`), so every scorer and top-k kernel
//! applies it unchanged.
//!
//! ```
//! use ials::serve::prior::{log_popularity, with_prior_column};
//! use ials::Factors;
//! let lp = log_popularity(&[3.0, 1.0, 0.0]);
//! assert!(lp[0] > lp[1] && lp[1] > lp[2] && lp[2].is_finite());
//! let x = Factors::from_vec(1, 1, vec![1.0]).unwrap();
//! let y = Factors::from_vec(3, 1, vec![0.0, 0.5, 1.0]).unwrap();
//! let (x2, y2) = with_prior_column(&x, &y, &lp, 0.5);
//! assert_eq!(x2.k(), 2);
//! let s: f32 = x2.row(0).iter().zip(y2.row(1)).map(|(a, b)| a * b).sum();
//! assert!((s - (0.5 + 0.5 * lp[1])).abs() < 1e-6);
//! # Ok::<(), ials::Error>(())
//! ```

use crate::data::SparseMatrix;
use crate::error::{Error, Result};
use crate::factors::Factors;
use crate::model::Model;

/// `log P(i)` from training counts (pairs per item), add-one smoothed so
/// that an item never seen in training (a cold item) stays finite:
/// `P(i) = (c_i + 1) / (Σ c + n)`.
pub fn log_popularity(counts: &[f32]) -> Vec<f32> {
    let total: f64 = counts.iter().map(|&c| c as f64).sum::<f64>() + counts.len() as f64;
    counts
        .iter()
        .map(|&c| ((c as f64 + 1.0) / total).ln() as f32)
        .collect()
}

/// Pairs per item (column) of a user x item training matrix.
pub fn item_counts(train: &SparseMatrix) -> Vec<f32> {
    let mut c = vec![0.0f32; train.cols()];
    for &i in train.indices() {
        c[i as usize] += 1.0;
    }
    c
}

/// Factors that score `x_u · y_i + β lp_i`: `[x_u, 1]` and `[y_i, β lp_i]`.
/// `lp` has one value per item row of `y`.
pub fn with_prior_column(x: &Factors, y: &Factors, lp: &[f32], beta: f32) -> (Factors, Factors) {
    assert_eq!(lp.len(), y.rows(), "one log-prior per item");
    let k = x.k();
    let widen = |f: &Factors, last: &dyn Fn(usize) -> f32| {
        let mut d = Vec::with_capacity(f.rows() * (k + 1));
        for r in 0..f.rows() {
            d.extend_from_slice(f.row(r));
            d.push(last(r));
        }
        Factors::from_vec(f.rows(), k + 1, d).expect("invariant: rows x (k + 1)")
    };
    (widen(x, &|_| 1.0), widen(y, &|i| beta * lp[i]))
}

/// The checked β of a prior: finite.
pub fn check_beta(beta: f32) -> Result<f32> {
    if beta.is_finite() {
        Ok(beta)
    } else {
        Err(Error::InvalidSetting {
            name: "popularity-prior",
            requirement: "finite",
            value: beta.to_string(),
        })
    }
}

/// A copy of `model` whose scores are `s(u, i) + β log P(i)` (P from its
/// training matrix; cold items count 0 and get the smallest prior). For
/// ranking (recommend, evaluation): its factors have one extra column, so
/// fold-in and similar items need the original model. β = 0 gives a plain
/// clone.
pub fn with_popularity_prior(model: &Model, beta: f32) -> Result<Model> {
    let beta = check_beta(beta)?;
    if beta == 0.0 {
        return Ok(model.clone());
    }
    let lp = log_popularity(&item_counts(model.train()));
    let (x, y) = with_prior_column(model.user_factors(), model.item_factors(), &lp, beta);
    Ok(Model::new(
        model.params().clone(),
        model.users().clone(),
        model.items().clone(),
        model.train().clone(),
        x,
        y,
        model.loss_history().to_vec(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Interactions;

    #[test]
    fn prior_reorders_by_popularity_and_zero_is_identity() {
        // Items 0 (3 users), 1 (1 user), 2 (none): equal factor scores.
        let data =
            Interactions::from_indexed(4, 3, [(0, 0, 1.0), (1, 0, 1.0), (2, 0, 1.0), (2, 1, 1.0)])
                .unwrap();
        let x = Factors::from_vec(4, 1, vec![1.0; 4]).unwrap();
        let y = Factors::from_vec(3, 1, vec![0.1, 0.1, 0.1]).unwrap();
        let model = Model::new(
            crate::Params::builder().factors(1).check().unwrap(),
            data.users().clone(),
            data.items().clone(),
            data.by_user().clone(),
            x,
            y,
            Vec::new(),
        );
        let lp = log_popularity(&item_counts(model.train()));
        let expect = |c: f64| ((c + 1.0) / 7.0).ln() as f32;
        assert_eq!(lp, vec![expect(3.0), expect(1.0), expect(0.0)]);
        let p = with_popularity_prior(&model, 1.0).unwrap();
        let s: Vec<f32> = (0..3).map(|i| p.score(3, i)).collect();
        assert!(s[0] > s[1] && s[1] > s[2]);
        assert!((s[2] - (0.1 + expect(0.0))).abs() < 1e-6);
        let same = with_popularity_prior(&model, 0.0).unwrap();
        assert_eq!(same.item_factors(), model.item_factors());
        assert!(with_popularity_prior(&model, f32::NAN).is_err());
    }
}
