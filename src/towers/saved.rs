//! The attribute weights of one fitted tower, stored beside a model so that
//! entities first described after the fit can be embedded from their
//! features alone (cold start without a refit).
//!
//! Files, in the model directory, for tower `t` (`user` or `item`):
//! `<t>_tower_features.txt` (one attribute name a line, in row order) and
//! `<t>_tower_weights.npy` (float32, features x factors). Each is written
//! atomically. They are not part of the model's manifest: `Model::load`
//! ignores them, and saving a model over the directory removes them.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use super::{Tower, TowerModel};
use crate::data::IdMap;
use crate::error::{Error, Result};
use crate::factors::Factors;
use crate::io::npy::{load_f32, write_f32};
use crate::io::write_atomic;
use crate::linalg::axpy;

/// `Σ_j v_j a_j` over the named features that `names` knows (rows of
/// `weights`), and how many it does not know.
pub(crate) fn embed_attributes(
    names: &IdMap,
    weights: &Factors,
    features: &[(&str, f32)],
) -> (Vec<f32>, usize) {
    let mut x = vec![0.0f32; weights.k()];
    let mut unknown = 0;
    for &(name, v) in features {
        match names.get(name) {
            Some(j) => axpy(v, weights.row(j as usize), &mut x),
            None => unknown += 1,
        }
    }
    (x, unknown)
}

/// The attribute names and weights of one tower: `x = Σ_j f_j a_j`.
#[derive(Clone, Debug)]
pub struct AttributeTower {
    names: IdMap,
    weights: Factors,
}

fn paths(dir: &Path, t: Tower) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{}_tower_features.txt", t.name())),
        dir.join(format!("{}_tower_weights.npy", t.name())),
    )
}

impl AttributeTower {
    /// The attribute tower `t` of a fitted model.
    pub fn of(model: &TowerModel, t: Tower) -> Self {
        AttributeTower {
            names: model.feature_names(t).clone(),
            weights: model.attribute_weights(t).clone(),
        }
    }

    /// Attribute names (rows of [`AttributeTower::weights`]).
    pub fn names(&self) -> &IdMap {
        &self.names
    }

    /// Attribute weights, `features x factors`.
    pub fn weights(&self) -> &Factors {
        &self.weights
    }

    /// The embedding of an entity from its `(feature name, value)` pairs,
    /// and how many names the tower does not know (ignored).
    pub fn embed(&self, features: &[(&str, f32)]) -> (Vec<f32>, usize) {
        embed_attributes(&self.names, &self.weights, features)
    }

    /// Write the two files of tower `t` into `dir` (atomically each).
    pub fn save(&self, dir: &Path, t: Tower) -> Result<()> {
        let (names, weights) = paths(dir, t);
        write_atomic(&names, |w: &mut dyn Write| {
            for id in self.names.ids() {
                w.write_all(id.as_bytes())?;
                w.write_all(b"\n")?;
            }
            Ok(())
        })?;
        write_atomic(&weights, |w| {
            write_f32(
                w,
                self.weights.rows(),
                self.weights.k(),
                self.weights.as_slice(),
            )
        })
    }

    /// Read tower `t` from `dir`; `None` when the model has no such tower.
    /// A half-present, malformed or inconsistent pair is
    /// [`Error::ModelFormat`] naming the file.
    pub fn load(dir: &Path, t: Tower) -> Result<Option<Self>> {
        let (names_path, weights_path) = paths(dir, t);
        match (names_path.exists(), weights_path.exists()) {
            (false, false) => return Ok(None),
            (true, true) => {}
            (has_names, _) => {
                let missing = if has_names {
                    &weights_path
                } else {
                    &names_path
                };
                return Err(Error::ModelFormat {
                    path: missing.clone(),
                    reason: "missing (the other file of this tower is present)".into(),
                });
            }
        }
        let file = std::fs::File::open(&names_path).map_err(|e| Error::io(&names_path, e))?;
        let mut names = IdMap::new();
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(|e| Error::ModelFormat {
                path: names_path.clone(),
                reason: e.to_string(),
            })?;
            names
                .get_or_insert(&line, "feature")
                .map_err(|e| Error::ModelFormat {
                    path: names_path.clone(),
                    reason: e.to_string(),
                })?;
        }
        let (rows, k, data) = load_f32(&weights_path)?;
        if rows != names.len() {
            return Err(Error::ModelFormat {
                path: weights_path,
                reason: format!("{rows} rows for {} feature names", names.len()),
            });
        }
        let weights = Factors::from_vec(rows, k, data).ok_or_else(|| Error::ModelFormat {
            path: weights_path.clone(),
            reason: "shape does not match its data".into(),
        })?;
        Ok(Some(AttributeTower { names, weights }))
    }
}
