//! The attribute weights of one fitted tower, stored beside a model so that
//! entities first described after the fit can be embedded from their
//! features alone (cold start without a refit).
//!
//! Files, in the model directory, for tower `t` (`user` or `item`):
//! `<t>_tower_features.txt` (one attribute name a line, in row order) and
//! `<t>_tower_weights.npy` (float32, features x factors). `ials fit` saves
//! them with the model ([`AttributeTower::extras`] given to
//! [`crate::Model::save_with`]): listed and checksummed in the manifest,
//! written in the same atomic step, kept by `ials update`. A directory
//! whose manifest does not list them (written by [`AttributeTower::save`],
//! or by an older build) is read from the loose files.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use super::{Tower, TowerModel};
use crate::data::IdMap;
use crate::error::{Error, Result};
use crate::factors::Factors;
use crate::io::model_dir::{read_listed, Extra, MANIFEST};
use crate::io::npy::{check_finite, read_f32, write_f32};
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
    let (n, w) = file_names(t);
    (dir.join(n), dir.join(w))
}

impl AttributeTower {
    /// The attribute tower `t` of a fitted model.
    pub fn of(model: &TowerModel, t: Tower) -> Self {
        AttributeTower {
            names: model.feature_names(t).clone(),
            weights: model.attribute_weights(t).clone(),
        }
    }

    /// The file names of tower `t` in a model directory: (feature names,
    /// weights).
    pub fn file_names(t: Tower) -> (String, String) {
        (
            format!("{}_tower_features.txt", t.name()),
            format!("{}_tower_weights.npy", t.name()),
        )
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

    fn write_names(&self, w: &mut dyn Write) -> std::io::Result<()> {
        for id in self.names.ids() {
            w.write_all(id.as_bytes())?;
            w.write_all(b"\n")?;
        }
        Ok(())
    }

    fn write_weights(&self, w: &mut dyn Write) -> std::io::Result<()> {
        write_f32(
            w,
            self.weights.rows(),
            self.weights.k(),
            self.weights.as_slice(),
        )
    }

    /// The two files of tower `t`, to save with a model
    /// ([`crate::Model::save_with`]) so that the manifest lists them.
    pub fn extras(&self, t: Tower) -> [Extra<'_>; 2] {
        let (names, weights) = file_names(t);
        [
            Extra::new(names, move |w: &mut dyn Write| self.write_names(w)),
            Extra::new(weights, move |w: &mut dyn Write| self.write_weights(w)),
        ]
    }

    /// Write the two files of tower `t` into `dir` as loose files (each
    /// atomically), outside any manifest: for a directory that holds no
    /// model. With a model, use [`AttributeTower::extras`].
    pub fn save(&self, dir: &Path, t: Tower) -> Result<()> {
        let (names, weights) = paths(dir, t);
        write_atomic(&names, |w: &mut dyn Write| self.write_names(w))?;
        write_atomic(&weights, |w| self.write_weights(w))
    }

    /// Read tower `t` from `dir`; `None` when the model has no such tower.
    /// Files the manifest lists are checked against their length and
    /// checksum. A half-present, malformed, non-finite or inconsistent pair
    /// is [`Error::ModelFormat`] naming the file.
    pub fn load(dir: &Path, t: Tower) -> Result<Option<Self>> {
        let (names_path, weights_path) = paths(dir, t);
        let (names_name, weights_name) = file_names(t);
        let listed = if dir.join(MANIFEST).is_file() {
            (
                read_listed(dir, &names_name)?,
                read_listed(dir, &weights_name)?,
            )
        } else {
            (None, None)
        };
        let names_listed = listed.0.is_some();
        let (names_bytes, weights_bytes) = match listed {
            (Some(n), Some(w)) => (n, w),
            (Some(_), None) | (None, Some(_)) => {
                let missing = if names_listed {
                    &weights_path
                } else {
                    &names_path
                };
                return Err(Error::ModelFormat {
                    path: missing.clone(),
                    reason: "not listed in the manifest (the other file of this tower is)".into(),
                });
            }
            (None, None) => match (names_path.exists(), weights_path.exists()) {
                (false, false) => return Ok(None),
                (true, true) => (
                    std::fs::read(&names_path).map_err(|e| Error::io(&names_path, e))?,
                    std::fs::read(&weights_path).map_err(|e| Error::io(&weights_path, e))?,
                ),
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
            },
        };
        let mut names = IdMap::new();
        for line in names_bytes.lines() {
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
        let (rows, k, data) = read_f32(&weights_bytes[..], &weights_path)?;
        if rows != names.len() {
            return Err(Error::ModelFormat {
                path: weights_path,
                reason: format!("{rows} rows for {} feature names", names.len()),
            });
        }
        check_finite(&weights_path, k, &data)?;
        let weights = Factors::from_vec(rows, k, data).ok_or_else(|| Error::ModelFormat {
            path: weights_path.clone(),
            reason: "shape does not match its data".into(),
        })?;
        Ok(Some(AttributeTower { names, weights }))
    }
}

fn file_names(t: Tower) -> (String, String) {
    AttributeTower::file_names(t)
}
