//! The native API on the Rust types: `Interactions` with string ids, `Model`
//! (fit, recommend, fold-in, explain, partial_fit, similar, save/load of the
//! CLI's model directories) and the evaluation of `ials eval`.

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray2};
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use ials::eval::{
    leave_k_out, random_holdout, strong_generalization, Ease, Evaluator, FactorScorer,
    FoldInScorer, ItemKnn, Popularity, RankingMetrics, Scorer, StrongConfig,
};
use ials::serve::{Filter, UpdateOptions};
use ials::{Factors, IdMap, Interactions, InteractionsBuilder, Side};

use crate::common::{
    factors_from, index_vec, params_from_dict, params_to_dict, pool, value_vec, IntoPy,
};
use crate::compat::{fit_core, Report};

/// Interactions with string ids: a user-major CSR matrix and its transpose.
///
/// Build with :func:`ials.interactions` (from a DataFrame or triplets), or
/// ``Interactions.from_codes``.
#[pyclass(module = "ials._ials", name = "Interactions", frozen)]
pub struct PyInteractions {
    pub inner: Interactions,
}

fn report_dict<'py>(py: Python<'py>, r: &Report) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("iteration", r.0)?;
    d.set_item("seconds", r.1)?;
    d.set_item("observed", r.2)?;
    d.set_item("unobserved", r.3)?;
    d.set_item("regularization", r.4)?;
    // None where the fit did not track the loss (track_loss=False).
    let tracked = !r.2.is_nan();
    d.set_item("loss", tracked.then_some(r.2 + r.3 + r.4))?;
    d.set_item("loss_seconds", r.5)?;
    Ok(d)
}

#[pymethods]
impl PyInteractions {
    /// Build from first-appearance codes: ``user_ids[user_codes[j]]`` and
    /// ``item_ids[item_codes[j]]`` interacted with value ``values[j]``
    /// (duplicates summed in order, exactly as ``ials fit`` reads a file).
    #[staticmethod]
    #[pyo3(signature = (user_ids, item_ids, user_codes, item_codes, values=None, observed_negatives=false))]
    fn from_codes(
        py: Python<'_>,
        user_ids: Vec<String>,
        item_ids: Vec<String>,
        user_codes: &Bound<'_, PyAny>,
        item_codes: &Bound<'_, PyAny>,
        values: Option<&Bound<'_, PyAny>>,
        observed_negatives: bool,
    ) -> PyResult<Self> {
        let uc = index_vec(user_codes, "user codes")?;
        let ic = index_vec(item_codes, "item codes")?;
        let vals = match values {
            Some(v) => value_vec(v, "values")?,
            None => vec![1.0; uc.len()],
        };
        if uc.len() != ic.len() || uc.len() != vals.len() {
            return Err(PyValueError::new_err(format!(
                "{} user codes, {} item codes and {} values",
                uc.len(),
                ic.len(),
                vals.len()
            )));
        }
        if let Some(&bad) = uc.iter().find(|&&c| c >= user_ids.len()) {
            return Err(PyValueError::new_err(format!("user code {bad} has no id")));
        }
        if let Some(&bad) = ic.iter().find(|&&c| c >= item_ids.len()) {
            return Err(PyValueError::new_err(format!("item code {bad} has no id")));
        }
        let inner = py.detach(|| -> ials::Result<Interactions> {
            let users = IdMap::from_ids(user_ids.iter().cloned(), "user")?;
            let items = IdMap::from_ids(item_ids.iter().cloned(), "item")?;
            let mut b = InteractionsBuilder::with_id_maps(users, items)
                .observed_negatives(observed_negatives);
            b.reserve(uc.len());
            for ((&u, &i), &v) in uc.iter().zip(&ic).zip(&vals) {
                b.push(&user_ids[u], &item_ids[i], v)?;
            }
            b.build()
        });
        Ok(PyInteractions { inner: inner.py()? })
    }

    /// Number of users (rows).
    #[getter]
    fn n_users(&self) -> usize {
        self.inner.n_users()
    }
    /// Number of items (columns).
    #[getter]
    fn n_items(&self) -> usize {
        self.inner.n_items()
    }
    /// Number of distinct (user, item) pairs.
    #[getter]
    fn nnz(&self) -> usize {
        self.inner.nnz()
    }
    /// The user ids in index order.
    #[getter]
    fn user_ids(&self) -> Vec<String> {
        self.inner.users().ids().to_vec()
    }
    /// The item ids in index order.
    #[getter]
    fn item_ids(&self) -> Vec<String> {
        self.inner.items().ids().to_vec()
    }

    /// ``(indptr, indices, data)`` of the user-major CSR matrix (for
    /// ``scipy.sparse.csr_matrix((data, indices, indptr), shape)``).
    fn csr<'py>(&self, py: Python<'py>) -> CsrArrays<'py> {
        let m = self.inner.by_user();
        let ptr: Vec<u64> = m.indptr().raw_storage().iter().map(|&p| p as u64).collect();
        (
            ptr.into_pyarray(py),
            m.indices().to_vec().into_pyarray(py),
            m.data().to_vec().into_pyarray(py),
        )
    }

    /// A seeded per-user random holdout (as ``ials split``): ``(train,
    /// test)`` sharing this data's id maps.
    #[pyo3(signature = (fraction=0.2, seed=42))]
    fn holdout(&self, py: Python<'_>, fraction: f64, seed: u64) -> PyResult<(Self, Self)> {
        let (a, b) = py
            .detach(|| random_holdout(&self.inner, fraction, seed))
            .py()?;
        Ok((PyInteractions { inner: a }, PyInteractions { inner: b }))
    }

    /// Leave-k-out: ``k`` random interactions of each user with more than
    /// ``k`` go to the test side.
    #[pyo3(signature = (k=1, seed=42))]
    fn leave_k_out(&self, py: Python<'_>, k: usize, seed: u64) -> PyResult<(Self, Self)> {
        let (a, b) = py.detach(|| leave_k_out(&self.inner, k, None, seed)).py()?;
        Ok((PyInteractions { inner: a }, PyInteractions { inner: b }))
    }

    /// Strong generalization (as ``ials split --strong``): ``test_users``
    /// (and ``validation_users``) users with two or more interactions are
    /// removed from training; each one's items are split into a fold-in part
    /// and ``test_fraction`` to predict. Returns ``(train, (fold_in, test),
    /// validation)`` with ``validation`` a ``(fold_in, test)`` pair or
    /// ``None``; all share this data's id maps. Evaluate with
    /// ``evaluate(model, train, test, fold_in=fold_in)``.
    #[pyo3(signature = (test_users, validation_users=0, test_fraction=0.2, seed=42))]
    #[allow(clippy::type_complexity)]
    fn strong_split(
        &self,
        py: Python<'_>,
        test_users: usize,
        validation_users: usize,
        test_fraction: f64,
        seed: u64,
    ) -> PyResult<(Self, (Self, Self), Option<(Self, Self)>)> {
        let cfg = StrongConfig {
            test_users,
            validation_users,
            test_fraction,
            seed,
        };
        let s = py
            .detach(|| strong_generalization(&self.inner, &cfg))
            .py()?;
        let wrap = |h: ials::eval::HeldOut| {
            (
                PyInteractions { inner: h.fold_in },
                PyInteractions { inner: h.test },
            )
        };
        Ok((
            PyInteractions { inner: s.train },
            wrap(s.test),
            s.validation.map(wrap),
        ))
    }

    /// These interactions restricted to the user and item ids of ``other``
    /// (pairs with unknown ids dropped), indexed like ``other``: the test
    /// side of an evaluation read against the training ids.
    fn aligned_to(&self, py: Python<'_>, other: &PyInteractions) -> PyResult<Self> {
        let inner = py
            .detach(|| {
                let (u, i) = (other.inner.users(), other.inner.items());
                let t: Vec<(u32, u32, f32)> = self
                    .inner
                    .triplets()
                    .filter_map(|(a, b, v)| {
                        let ua = u.get(self.inner.users().id(a))?;
                        let ib = i.get(self.inner.items().id(b))?;
                        Some((ua, ib, v))
                    })
                    .collect();
                ials::eval::io::assemble(u, i, t)
            })
            .py()?;
        Ok(PyInteractions { inner })
    }

    fn __repr__(&self) -> String {
        format!(
            "Interactions({} users x {} items, {} pairs)",
            self.inner.n_users(),
            self.inner.n_items(),
            self.inner.nnz()
        )
    }
}

/// A fitted ials model: the same object the CLI saves and serves.
#[pyclass(module = "ials._ials", name = "Model")]
pub struct PyModel {
    pub inner: ials::Model,
}

fn id_of(map: &IdMap, id: &str, kind: &str) -> PyResult<u32> {
    map.get(id)
        .ok_or_else(|| PyKeyError::new_err(format!("unknown {kind} id {id:?}")))
}

fn filter_from(
    model: &ials::Model,
    exclude_seen: bool,
    exclude: Option<Vec<String>>,
    candidates: Option<Vec<String>>,
) -> PyResult<Filter> {
    let mut f = Filter::new().exclude_seen(exclude_seen);
    if let Some(ex) = exclude {
        let ids = ex
            .iter()
            .map(|s| id_of(model.items(), s, "item"))
            .collect::<PyResult<Vec<u32>>>()?;
        f = f.exclude(ids);
    }
    if let Some(c) = candidates {
        let ids = c
            .iter()
            .map(|s| id_of(model.items(), s, "item"))
            .collect::<PyResult<Vec<u32>>>()?;
        f = f.candidates(ids);
    }
    Ok(f)
}

type CsrArrays<'py> = (
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<f32>>,
);

type ItemScores<'py> = (Bound<'py, PyArray1<u32>>, Bound<'py, PyArray1<f32>>);

type Ranked<'py> = (
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<f32>>,
);

fn ranked(py: Python<'_>, rows: Vec<(u32, u32, u32, f32)>) -> Ranked<'_> {
    let (mut a, mut b, mut c, mut d) = (
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
    );
    for (u, i, r, s) in rows {
        a.push(u);
        b.push(i);
        c.push(r);
        d.push(s);
    }
    (
        a.into_pyarray(py),
        b.into_pyarray(py),
        c.into_pyarray(py),
        d.into_pyarray(py),
    )
}

fn factors_array<'py>(py: Python<'py>, f: &Factors) -> Bound<'py, PyArray2<f32>> {
    Array2::from_shape_vec((f.rows(), f.k()), f.as_slice().to_vec())
        .expect("shape")
        .into_pyarray(py)
}

fn metrics_dict<'py>(py: Python<'py>, m: &RankingMetrics) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("k", m.k)?;
    d.set_item("recall", m.recall)?;
    d.set_item("ndcg", m.ndcg)?;
    d.set_item("precision", m.precision)?;
    d.set_item("map", m.map)?;
    d.set_item("mrr", m.mrr)?;
    d.set_item("hit_rate", m.hit_rate)?;
    d.set_item("auc", m.auc)?;
    d.set_item("coverage", m.coverage)?;
    d.set_item("mean_popularity", m.mean_popularity)?;
    d.set_item("users", m.users)?;
    Ok(d)
}

fn history_pairs(
    model: &ials::Model,
    items: &[String],
    values: Option<Vec<f32>>,
) -> PyResult<Vec<(u32, f32)>> {
    let values = values.unwrap_or_else(|| vec![1.0; items.len()]);
    if values.len() != items.len() {
        return Err(PyValueError::new_err(format!(
            "{} items but {} values",
            items.len(),
            values.len()
        )));
    }
    items
        .iter()
        .zip(values)
        .map(|(i, v)| Ok((id_of(model.items(), i, "item")?, v)))
        .collect()
}

#[pymethods]
impl PyModel {
    /// Fit on ``data`` with the settings of ``ials fit`` (a dict, see
    /// :func:`ials.fit`); ``callback(report)`` after each iteration (a dict
    /// with the loss parts; returning ``False`` stops). The GIL is released;
    /// Ctrl-C stops after the current iteration with ``KeyboardInterrupt``.
    #[staticmethod]
    #[pyo3(signature = (data, params=None, callback=None))]
    fn fit(
        py: Python<'_>,
        data: &PyInteractions,
        params: Option<&Bound<'_, PyDict>>,
        callback: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let params = params_from_dict(params)?;
        let data = &data.inner;
        let (x, y) = ials::train::initial_factors_for(&params, data.users(), data.items());
        let cb: Option<Py<PyAny>> = match callback {
            Some(cb) => {
                let wrap = pyo3::types::PyCFunction::new_closure(
                    py,
                    None,
                    None,
                    move |args: &Bound<'_, pyo3::types::PyTuple>, _kw| -> PyResult<Py<PyAny>> {
                        let py = args.py();
                        let r: Report = args.get_item(0)?.extract()?;
                        let out = cb.bind(py).call1((report_dict(py, &r)?,))?;
                        Ok(out.unbind())
                    },
                )?;
                Some(wrap.into_any().unbind())
            }
            None => None,
        };
        let (x, y, history) = fit_core(py, &params, data, x, y, cb)?;
        let history = history
            .into_iter()
            .map(|r| ials::IterationReport {
                iteration: r.0,
                seconds: r.1,
                loss: (!r.2.is_nan()).then_some(ials::LossParts {
                    observed: r.2,
                    unobserved: r.3,
                    regularization: r.4,
                }),
                loss_seconds: r.5,
            })
            .collect();
        Ok(PyModel {
            inner: ials::Model::new(
                params,
                data.users().clone(),
                data.items().clone(),
                data.by_user().clone(),
                x,
                y,
                history,
            ),
        })
    }

    /// Load a model directory written by ``ials fit`` or :meth:`save`.
    #[staticmethod]
    fn load(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        let inner = py.detach(|| ials::Model::load(&path)).py()?;
        Ok(PyModel { inner })
    }

    /// Save as a model directory (checksummed, written atomically) that the
    /// CLI reads (``ials recommend --model DIR``).
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        py.detach(|| self.inner.save(&path)).py()
    }

    /// The user factors (``n_users x k``, float32 copy).
    #[getter]
    fn user_factors<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f32>> {
        factors_array(py, self.inner.user_factors())
    }
    /// The item factors (``n_items x k``, float32 copy).
    #[getter]
    fn item_factors<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f32>> {
        factors_array(py, self.inner.item_factors())
    }
    /// The user ids in index order.
    #[getter]
    fn user_ids(&self) -> Vec<String> {
        self.inner.users().ids().to_vec()
    }
    /// The item ids in index order.
    #[getter]
    fn item_ids(&self) -> Vec<String> {
        self.inner.items().ids().to_vec()
    }
    /// The fit settings as a dict.
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        params_to_dict(py, self.inner.params())
    }
    /// The loss after each iteration: dicts with ``observed``,
    /// ``unobserved``, ``regularization``, ``loss`` and ``seconds``.
    #[getter]
    fn loss_history<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let l = PyList::empty(py);
        for r in self.inner.loss_history() {
            let rep: Report = (
                r.iteration,
                r.seconds,
                r.loss_or_nan().observed,
                r.loss_or_nan().unobserved,
                r.loss_or_nan().regularization,
                r.loss_seconds,
            );
            l.append(report_dict(py, &rep)?)?;
        }
        Ok(l)
    }
    #[getter]
    fn n_users(&self) -> usize {
        self.inner.n_users()
    }
    #[getter]
    fn n_items(&self) -> usize {
        self.inner.n_items()
    }

    /// Top ``k`` items for ``users`` (ids; ``None``: every user, with the
    /// blocked all-users kernel). Returns ``(user_index, item_index, rank,
    /// score)`` arrays; :func:`ials.Model.recommend` in Python wraps them in
    /// a DataFrame with the ids.
    #[pyo3(signature = (users=None, k=10, exclude_seen=true, exclude=None, candidates=None, threads=0))]
    #[allow(clippy::too_many_arguments)]
    fn _recommend<'py>(
        &self,
        py: Python<'py>,
        users: Option<Vec<String>>,
        k: usize,
        exclude_seen: bool,
        exclude: Option<Vec<String>>,
        candidates: Option<Vec<String>>,
        threads: usize,
    ) -> PyResult<Ranked<'py>> {
        let model = &self.inner;
        let filter = filter_from(model, exclude_seen, exclude, candidates)?;
        let rows: Option<Vec<u32>> = match users {
            Some(u) => Some(
                u.iter()
                    .map(|s| id_of(model.users(), s, "user"))
                    .collect::<PyResult<_>>()?,
            ),
            None => None,
        };
        let pool = pool(threads)?;
        let out = py.detach(|| {
            pool.install(|| -> ials::Result<Vec<(u32, u32, u32, f32)>> {
                let mut out = Vec::new();
                let mut sink = |r: usize, list: &[(u32, f32)], u: u32| {
                    let _ = r;
                    for (rank, &(i, s)) in list.iter().enumerate() {
                        out.push((u, i, rank as u32 + 1, s));
                    }
                };
                match &rows {
                    None => model.recommend_all(k, &filter, |u, list| -> ials::Result<()> {
                        sink(u, list, u as u32);
                        Ok(())
                    })?,
                    Some(rows) => {
                        let x = model.user_factors().gather(rows);
                        model.recommend_rows(
                            &x,
                            |r| model.user_history(rows[r] as usize).indices,
                            k,
                            &filter,
                            |r, list| -> ials::Result<()> {
                                sink(r, list, rows[r]);
                                Ok(())
                            },
                        )?
                    }
                }
                Ok(out)
            })
        });
        Ok(ranked(py, out.py()?))
    }

    /// Factors of a new user from its items (exact solve, no retraining).
    #[pyo3(signature = (items, values=None))]
    fn fold_in<'py>(
        &self,
        py: Python<'py>,
        items: Vec<String>,
        values: Option<Vec<f32>>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let h = history_pairs(&self.inner, &items, values)?;
        let x = py.detach(|| self.inner.fold_in_user(&h)).py()?;
        Ok(x.into_pyarray(py))
    }

    /// Top ``k`` for a new user given by its items (folded in), as
    /// ``(item_index, score)`` arrays.
    #[pyo3(signature = (items, values=None, k=10, exclude_seen=true, exclude=None, candidates=None))]
    #[allow(clippy::too_many_arguments)]
    fn _recommend_history<'py>(
        &self,
        py: Python<'py>,
        items: Vec<String>,
        values: Option<Vec<f32>>,
        k: usize,
        exclude_seen: bool,
        exclude: Option<Vec<String>>,
        candidates: Option<Vec<String>>,
    ) -> PyResult<ItemScores<'py>> {
        let h = history_pairs(&self.inner, &items, values)?;
        let filter = filter_from(&self.inner, exclude_seen, exclude, candidates)?;
        let recs = py
            .detach(|| -> ials::Result<Vec<(u32, f32)>> {
                let x = self.inner.fold_in_user(&h)?;
                let mut seen: Vec<u32> = h.iter().map(|p| p.0).collect();
                seen.sort_unstable();
                seen.dedup();
                self.inner.recommend_vector(&x, &seen, k, &filter)
            })
            .py()?;
        let (i, s): (Vec<u32>, Vec<f32>) = recs.into_iter().unzip();
        Ok((i.into_pyarray(py), s.into_pyarray(py)))
    }

    /// Why ``item`` scores what it does for ``user``: ``(score,
    /// [(item_id, contribution)])``, largest first; contributions sum to
    /// the score (Hu et al. 2008 §5).
    fn explain(
        &self,
        py: Python<'_>,
        user: &str,
        item: &str,
    ) -> PyResult<(f64, Vec<(String, f64)>)> {
        let u = id_of(self.inner.users(), user, "user")?;
        let i = id_of(self.inner.items(), item, "item")?;
        let e = py
            .detach(|| self.inner.explain(u as usize, i as usize))
            .py()?;
        Ok((
            e.score,
            e.contributions
                .iter()
                .map(|&(j, c)| (self.inner.items().id(j).to_owned(), c))
                .collect(),
        ))
    }

    /// The ``k`` items most similar to ``item`` (cosine), as ``[(id, score)]``.
    #[pyo3(signature = (item, k=10))]
    fn similar_items(&self, py: Python<'_>, item: &str, k: usize) -> PyResult<Vec<(String, f32)>> {
        let i = id_of(self.inner.items(), item, "item")?;
        let r = py
            .detach(|| {
                self.inner
                    .similar(Side::Item, i as usize, k, &Filter::new())
            })
            .py()?;
        Ok(r.into_iter()
            .map(|(j, s)| (self.inner.items().id(j).to_owned(), s))
            .collect())
    }

    /// The ``k`` users most similar to ``user`` (cosine), as ``[(id, score)]``.
    #[pyo3(signature = (user, k=10))]
    fn similar_users(&self, py: Python<'_>, user: &str, k: usize) -> PyResult<Vec<(String, f32)>> {
        let u = id_of(self.inner.users(), user, "user")?;
        let r = py
            .detach(|| {
                self.inner
                    .similar(Side::User, u as usize, k, &Filter::new())
            })
            .py()?;
        Ok(r.into_iter()
            .map(|(j, s)| (self.inner.users().id(j).to_owned(), s))
            .collect())
    }

    /// Add new users, items and pairs (string ids and values) and re-solve
    /// only the touched rows (``rounds`` of exact solves, then ``sweeps``
    /// full sweeps). Returns a dict of what changed.
    #[pyo3(signature = (users, items, values=None, rounds=2, sweeps=0))]
    fn partial_fit<'py>(
        &mut self,
        py: Python<'py>,
        users: Vec<String>,
        items: Vec<String>,
        values: Option<Vec<f32>>,
        rounds: usize,
        sweeps: usize,
    ) -> PyResult<Bound<'py, PyDict>> {
        let values = values.unwrap_or_else(|| vec![1.0; users.len()]);
        if users.len() != items.len() || users.len() != values.len() {
            return Err(PyValueError::new_err(
                "users, items and values differ in length",
            ));
        }
        let opts = UpdateOptions { rounds, sweeps };
        let model = &mut self.inner;
        let rep = py
            .detach(|| {
                model.partial_fit(
                    users
                        .iter()
                        .zip(&items)
                        .zip(&values)
                        .map(|((u, i), &v)| (u.as_str(), i.as_str(), v)),
                    &opts,
                )
            })
            .py()?;
        let d = PyDict::new(py);
        d.set_item("triplets", rep.triplets)?;
        d.set_item("new_users", rep.new_users)?;
        d.set_item("new_items", rep.new_items)?;
        d.set_item("new_pairs", rep.new_pairs)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let p = self.inner.params();
        format!(
            "Model({} users x {} items, factors={}, solver={}, iterations={})",
            self.inner.n_users(),
            self.inner.n_items(),
            p.factors(),
            p.solver_kind(),
            self.inner.loss_history().len()
        )
    }
}

/// Metrics at each cut-off of `ks`: `(train, history, test)` are the training
/// data (popularity), the rows scored and excluded (train, or the fold-in
/// part of held-out users) and the items to find.
fn eval_all(
    py: Python<'_>,
    (train, history, test): (&Interactions, &Interactions, &Interactions),
    ks: &[usize],
    auc: bool,
    threads: usize,
    scorer: &(dyn Scorer + Sync),
) -> PyResult<Vec<RankingMetrics>> {
    let pool = pool(threads)?;
    py.detach(|| {
        pool.install(|| -> ials::Result<Vec<RankingMetrics>> {
            ks.iter()
                .map(|&k| {
                    Ok(Evaluator::new(history, test)?
                        .k(k)
                        .with_auc(auc)
                        .popularity_from(train)?
                        .evaluate(scorer))
                })
                .collect()
        })
    })
    .py()
}

/// Evaluate on ``test`` (indexed like ``train``; train items excluded) at
/// each cut-off of ``k``: ``scorer`` is a fitted ``Model`` (its factors),
/// ``"popularity"``, ``"item-knn"`` or ``"ease"`` (fitted on ``train``), or a
/// pair ``(user_factors, item_factors)`` aligned with ``train``'s ids.
/// With ``fold_in`` (strong generalization) the held-out users are scored
/// from their fold-in items: a ``Model`` folds them in by one exact solve,
/// the baselines read them as history; factor pairs are refused.
/// Returns one dict of metrics per cut-off, as ``ials eval --json``.
#[pyfunction]
#[pyo3(signature = (scorer, train, test, k=vec![20], auc=true, neighbors=100, ease_lambda=200.0, threads=0, missing_items=None, fold_in=None))]
#[allow(clippy::too_many_arguments)]
pub fn evaluate<'py>(
    py: Python<'py>,
    scorer: &Bound<'py, PyAny>,
    train: &PyInteractions,
    test: &PyInteractions,
    k: Vec<usize>,
    auc: bool,
    neighbors: usize,
    ease_lambda: f64,
    threads: usize,
    missing_items: Option<Vec<bool>>,
    fold_in: Option<&PyInteractions>,
) -> PyResult<Bound<'py, PyList>> {
    let (tr, te) = (&train.inner, &test.inner);
    let hi = fold_in.map_or(tr, |f| &f.inner);
    for (what, d) in [("test", te), ("fold_in", hi)] {
        if d.n_users() != tr.n_users() || d.n_items() != tr.n_items() {
            return Err(PyValueError::new_err(format!(
                "{what} is {}x{} but train is {}x{}: index it like train ({what}.aligned_to(train))",
                d.n_users(),
                d.n_items(),
                tr.n_users(),
                tr.n_items()
            )));
        }
    }
    let res = if let Ok(m) = scorer.cast::<PyModel>() {
        let m = m.borrow();
        if m.inner.n_users() != tr.n_users() || m.inner.n_items() != tr.n_items() {
            return Err(PyValueError::new_err(format!(
                "the model is {}x{} but train is {}x{}: evaluate on the data it was fitted on",
                m.inner.n_users(),
                m.inner.n_items(),
                tr.n_users(),
                tr.n_items()
            )));
        }
        if fold_in.is_some() {
            let inner = &m.inner;
            let s = py.detach(|| FoldInScorer::new(inner.params(), inner.item_factors()));
            eval_all(py, (tr, hi, te), &k, auc, threads, &s)?
        } else {
            let s = FactorScorer::new(m.inner.user_factors(), m.inner.item_factors());
            eval_all(py, (tr, hi, te), &k, auc, threads, &s)?
        }
    } else if let Ok(name) = scorer.extract::<String>() {
        match name.as_str() {
            "popularity" => eval_all(py, (tr, hi, te), &k, auc, threads, &Popularity::fit(tr))?,
            "item-knn" => {
                let s = py.detach(|| ItemKnn::fit(tr, neighbors));
                eval_all(py, (tr, hi, te), &k, auc, threads, &s)?
            }
            "ease" => {
                let s = py
                    .detach(|| Ease::fit(tr, ease_lambda, ials::eval::EASE_MAX_ITEMS))
                    .py()?;
                eval_all(py, (tr, hi, te), &k, auc, threads, &s)?
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown baseline {other:?}; expected popularity, item-knn, ease"
                )))
            }
        }
    } else {
        if fold_in.is_some() {
            return Err(PyValueError::new_err(
                "fold_in needs a Model or a baseline: fixed embeddings cannot fold users in",
            ));
        }
        let (u, i): (PyReadonlyArray2<'py, f32>, PyReadonlyArray2<'py, f32>) = scorer.extract()?;
        let (x, y) = (factors_from(&u), factors_from(&i));
        if x.rows() != tr.n_users() || y.rows() != tr.n_items() || x.k() != y.k() {
            return Err(PyValueError::new_err(format!(
                "embeddings are {}x{} and {}x{}, train is {}x{}",
                x.rows(),
                x.k(),
                y.rows(),
                y.k(),
                tr.n_users(),
                tr.n_items()
            )));
        }
        let s = FactorScorer::new(&x, &y);
        match &missing_items {
            Some(mi) => {
                let s = s.with_missing_items(mi);
                eval_all(py, (tr, hi, te), &k, auc, threads, &s)?
            }
            None => eval_all(py, (tr, hi, te), &k, auc, threads, &s)?,
        }
    };
    let l = PyList::empty(py);
    for m in &res {
        l.append(metrics_dict(py, m)?)?;
    }
    Ok(l)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyInteractions>()?;
    m.add_class::<PyModel>()?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    Ok(())
}
