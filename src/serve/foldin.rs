//! Fold-in: factors for a user (or item) that was not in training, or whose
//! history changed, by one exact row solve against the trained other side and
//! its cached Gramian. No retraining.
//!
//! For a user with items `S_u` and raw values `r_uj` (mapped to `(c, p)` by the
//! model's [`Weighting`](crate::Weighting), exactly as in training):
//!
//! ```text
//! x_u = A_u⁻¹ b_u,   A_u = α0 G + Σ_j∈S_u (c_uj − α0) y_j y_jᵀ + λ_u I,   b_u = Σ_j∈S_u c_uj p_uj y_j
//! ```
//!
//! with `G = YᵀY` ([`Model::item_gramian`], cached) and
//! `λ_u = params.row_regularization(|S_u|, n)`. Cost `O(|S_u| k² + k³)`; the
//! Cholesky solver is used whatever the model was trained with, so the result
//! is the exact minimizer. Re-solving a training user after a final user
//! half-sweep with the Cholesky solver gives back its own row.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use rayon::prelude::*;

use crate::data::interactions::check_value_with;
use crate::data::read::{for_each_record, open, ReadOptions};
use crate::data::{IdMap, RowView};
use crate::error::{Error, Result};
use crate::factors::Factors;
use crate::gramian::Gramian;
use crate::model::{Model, Side};
use crate::params::Params;
use crate::serve::filter::Filter;
use crate::solver::{solve_row, RowProblem, Solver, Workspace};

/// Sort a history by index, sum duplicates, check indices and values.
pub(crate) fn normalize_history(
    history: &[(u32, f32)],
    len: usize,
    kind: &'static str,
    observed_negatives: bool,
) -> Result<(Vec<u32>, Vec<f32>)> {
    let mut h: Vec<(u32, f32)> = history.to_vec();
    for &(i, v) in &h {
        if i as usize >= len {
            return Err(Error::IndexOutOfRange {
                kind,
                index: i as usize,
                len,
            });
        }
        if !check_value_with(v, observed_negatives) {
            return Err(Error::InvalidValue {
                user: if kind == "item" {
                    "?".into()
                } else {
                    i.to_string()
                },
                item: if kind == "item" {
                    i.to_string()
                } else {
                    "?".into()
                },
                value: v,
            });
        }
    }
    h.sort_by_key(|e| e.0);
    let mut idx: Vec<u32> = Vec::with_capacity(h.len());
    let mut val: Vec<f32> = Vec::with_capacity(h.len());
    for (i, v) in h {
        if idx.last() == Some(&i) {
            *val.last_mut().expect("invariant: a previous entry exists") += v;
        } else {
            idx.push(i);
            val.push(v);
        }
    }
    Ok((idx, val))
}

/// One exact row solve of `row` against `fixed` (with Gramian `gram`) into `x`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn solve_exact(
    params: &Params,
    fixed: &Factors,
    gram: &Gramian,
    row: RowView<'_>,
    x: &mut [f32],
    ws: &mut Workspace,
    side: &'static str,
    row_index: usize,
) -> Result<()> {
    let pb = RowProblem {
        fixed,
        gram,
        weighting: params.weighting(),
        alpha0: params.unobserved_weight(),
    };
    let lambda = params.row_regularization(row.len(), fixed.rows());
    solve_row(Solver::Cholesky, &pb, row, lambda, x, ws)
        .map_err(|pivot| pivot.at(0, side, row_index))
}

impl Model {
    /// Factors of a new user from its `(item, raw value)` history (duplicates
    /// summed): the exact minimizer of the objective over `x_u` with the item
    /// factors fixed. An empty history gives zeros.
    ///
    /// ```
    /// use ials::{Interactions, Params, SolverKind};
    /// let data = Interactions::from_indexed(3, 4, [(0, 0, 1.0), (1, 1, 2.0), (2, 3, 1.0), (0, 2, 1.0)])?;
    /// let model = Params::builder().factors(2).iterations(3).solver(SolverKind::Cholesky).check()?.fit(&data)?;
    /// let x = model.fold_in_user(&[(1, 1.0), (3, 2.0)])?;
    /// assert_eq!(x.len(), 2);
    /// # Ok::<(), ials::Error>(())
    /// ```
    pub fn fold_in_user(&self, history: &[(u32, f32)]) -> Result<Vec<f32>> {
        self.fold_in(Side::User, history)
    }

    /// A new row of `side` (a user: against the items) from its history.
    fn fold_in(&self, side: Side, history: &[(u32, f32)]) -> Result<Vec<f32>> {
        let other = side.pick(Side::Item, Side::User);
        let fixed = self.factors(other);
        let (idx, val) = normalize_history(
            history,
            fixed.rows(),
            other.name(),
            self.params().observed_negatives(),
        )?;
        let gram = side.pick(self.item_gramian(), self.user_gramian());
        let mut x = vec![0.0f32; fixed.k()];
        let mut ws = Workspace::new(fixed.k());
        let row = RowView {
            indices: &idx,
            values: &val,
        };
        let new_index = self.factors(side).rows();
        let params = self.params();
        solve_exact(
            params,
            fixed,
            gram,
            row,
            &mut x,
            &mut ws,
            side.name(),
            new_index,
        )?;
        Ok(x)
    }

    /// [`fold_in_user`](Model::fold_in_user) with external item ids; ids the
    /// model does not know are skipped and returned (in order, repeated as
    /// given), not fatal.
    pub fn fold_in_user_ids<'a, I>(&self, history: I) -> Result<(Vec<f32>, Vec<String>)>
    where
        I: IntoIterator<Item = (&'a str, f32)>,
    {
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for (id, v) in history {
            match self.items().get(id) {
                Some(i) => known.push((i, v)),
                None => unknown.push(id.to_owned()),
            }
        }
        Ok((self.fold_in_user(&known)?, unknown))
    }

    /// Factors of a new item from the `(user, raw value)` pairs of the users
    /// who consumed it, against the user factors and `H = XᵀX` (cached).
    pub fn fold_in_item(&self, history: &[(u32, f32)]) -> Result<Vec<f32>> {
        self.fold_in(Side::Item, history)
    }
}

/// One user of a history file.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryUser {
    /// The user id as written in the file.
    pub id: String,
    /// Distinct known items in its history.
    pub known_items: usize,
    /// Lines of its history naming items the model does not know.
    pub unknown_lines: u64,
    /// Its top items (item index, score); empty when no item is known.
    pub recommendations: Vec<(u32, f32)>,
}

/// What [`recommend_history`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryRecommendations {
    /// The users in order of first appearance in the file.
    pub users: Vec<HistoryUser>,
    /// Item ids the model does not know, in order of first appearance, with
    /// the number of lines naming each. Reported, not fatal.
    pub unknown_items: Vec<(String, u64)>,
    /// Data lines read.
    pub lines: u64,
}

/// Fold in every user of a history file (`user,item[,value]` rows; the file
/// is each user's whole history, whether or not the user was in training) and
/// return its top `k` items under `filter` (`exclude_seen` leaves out the
/// items of the file's history). Unknown items are skipped and reported.
/// `-` reads standard input.
pub fn recommend_history(
    model: &Model,
    path: &Path,
    opts: &ReadOptions,
    k: usize,
    filter: &Filter,
) -> Result<HistoryRecommendations> {
    recommend_history_from(model, open(path)?, path, opts, k, filter)
}

/// [`recommend_history`] from any reader (`path` names it in errors).
pub fn recommend_history_from<R: BufRead>(
    model: &Model,
    reader: R,
    path: &Path,
    opts: &ReadOptions,
    k: usize,
    filter: &Filter,
) -> Result<HistoryRecommendations> {
    let mut users = IdMap::new();
    let mut hist: Vec<Vec<(u32, f32)>> = Vec::new();
    let mut unknown_lines: Vec<u64> = Vec::new();
    let mut unknown: Vec<(String, u64)> = Vec::new();
    let mut unknown_pos: HashMap<String, usize> = HashMap::new();
    let lines = for_each_record(reader, path, opts, |r| {
        let u = users.get_or_insert(r.user, "user")? as usize;
        if u == hist.len() {
            hist.push(Vec::new());
            unknown_lines.push(0);
        }
        match model.items().get(r.item) {
            Some(i) => hist[u].push((i, r.value)),
            None => {
                unknown_lines[u] += 1;
                match unknown_pos.get(r.item) {
                    Some(&p) => unknown[p].1 += 1,
                    None => {
                        unknown_pos.insert(r.item.to_owned(), unknown.len());
                        unknown.push((r.item.to_owned(), 1));
                    }
                }
            }
        }
        Ok(())
    })?;
    let k_f = model.item_factors().k();
    let rows: Vec<(Vec<u32>, Vec<f32>)> = hist
        .iter()
        .map(|h| {
            normalize_history(
                h,
                model.n_items(),
                "item",
                model.params().observed_negatives(),
            )
        })
        .collect::<Result<_>>()?;
    drop(hist);
    let mut x = Factors::zeros(rows.len(), k_f);
    let gram = model.item_gramian();
    let base = model.n_users();
    x.as_mut_slice()
        .par_chunks_mut(k_f)
        .zip(rows.par_iter())
        .enumerate()
        .try_for_each_init(
            || Workspace::new(k_f),
            |ws, (r, (xr, (idx, val)))| {
                let row = RowView {
                    indices: idx,
                    values: val,
                };
                solve_exact(
                    model.params(),
                    model.item_factors(),
                    gram,
                    row,
                    xr,
                    ws,
                    "user",
                    base + r,
                )
            },
        )?;
    let mut out: Vec<HistoryUser> = Vec::with_capacity(rows.len());
    model.recommend_rows::<Error>(
        &x,
        |r| rows[r].0.as_slice(),
        k,
        filter,
        |r, list| {
            let known = rows[r].0.len();
            out.push(HistoryUser {
                id: users.id(r as u32).to_owned(),
                known_items: known,
                unknown_lines: unknown_lines[r],
                recommendations: if known == 0 {
                    Vec::new()
                } else {
                    list.to_vec()
                },
            });
            Ok(())
        },
    )?;
    Ok(HistoryRecommendations {
        users: out,
        unknown_items: unknown,
        lines,
    })
}
