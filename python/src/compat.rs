//! Kernels behind `ials.implicit.AlternatingLeastSquares`: the fit from a CSR
//! matrix and numpy factors, implicit's top-k selection (same ordering,
//! padding and filtered-score conventions), exact row re-solves and
//! implicit's normalised training loss.

use std::ops::ControlFlow;
use std::sync::atomic::Ordering;

use numpy::ndarray::{Array2, ArrayView2};
use numpy::{IntoPyArray, PyArray2, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use rayon::prelude::*;

use ials::confidence::{ConfidenceKind, Target, Weighting};
use ials::internals::solver::{solve_row, RowProblem, Workspace};
use ials::{Error, Factors, Gramian, IdMap, Interactions, Params, Solver};

use crate::common::{
    csr_from_arrays, factors_from, params_from_dict, pool, run_interruptible, IntoPy,
};

/// One iteration's report as the tuple handed to Python callbacks:
/// `(iteration, seconds, observed, unobserved, regularization, loss_seconds)`.
pub type Report = (usize, f64, f64, f64, f64, f64);

/// Fit from a CSR matrix and initial factors, calling `callback(report)` after
/// each iteration (a `False` return stops the fit). Returns the factors and
/// the loss history. The GIL is released; Ctrl-C stops after the current
/// iteration with `KeyboardInterrupt`.
#[pyfunction]
#[pyo3(signature = (indptr, indices, data, shape, user_factors, item_factors, params, callback=None))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn fit_csr<'py>(
    py: Python<'py>,
    indptr: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
    shape: (usize, usize),
    user_factors: PyReadonlyArray2<'py, f32>,
    item_factors: PyReadonlyArray2<'py, f32>,
    params: &Bound<'py, PyDict>,
    callback: Option<Py<PyAny>>,
) -> PyResult<(
    Bound<'py, PyArray2<f32>>,
    Bound<'py, PyArray2<f32>>,
    Vec<Report>,
)> {
    let params = params_from_dict(Some(params))?;
    let m = csr_from_arrays(indptr, indices, data, shape)?;
    let x = factors_from(&user_factors);
    let y = factors_from(&item_factors);
    drop((user_factors, item_factors));
    let data = Interactions::from_csr_with(
        IdMap::identity(shape.0),
        IdMap::identity(shape.1),
        m,
        params.observed_negatives(),
    )
    .py()?;
    let (x, y, history) = fit_core(py, &params, &data, x, y, callback)?;
    let k = params.factors();
    Ok((
        Array2::from_shape_vec((x.rows(), k), x.into_vec())
            .expect("shape")
            .into_pyarray(py),
        Array2::from_shape_vec((y.rows(), k), y.into_vec())
            .expect("shape")
            .into_pyarray(py),
        history,
    ))
}

/// The fit loop shared by the drop-in and the native API.
pub fn fit_core(
    py: Python<'_>,
    params: &Params,
    data: &Interactions,
    x: Factors,
    y: Factors,
    callback: Option<Py<PyAny>>,
) -> PyResult<(Factors, Factors, Vec<Report>)> {
    let mut cb_err: Option<PyErr> = None;
    let result = run_interruptible(py, |stop| {
        params
            .fit_from(data, x, y, |p| {
                if let Some(cb) = &callback {
                    let r = p.report;
                    let rep: Report = (
                        r.iteration,
                        r.seconds,
                        r.loss_or_nan().observed,
                        r.loss_or_nan().unobserved,
                        r.loss_or_nan().regularization,
                        r.loss_seconds,
                    );
                    let res =
                        Python::attach(|py| -> PyResult<bool> {
                            let out = cb
                                .bind(py)
                                .call1(PyTuple::new(py, [rep.into_pyobject(py)?])?)?;
                            Ok(!out.is_instance_of::<pyo3::types::PyBool>()
                                || out.extract::<bool>()?)
                        });
                    match res {
                        Ok(true) => {}
                        Ok(false) => return ControlFlow::Break(()),
                        Err(e) => {
                            cb_err = Some(e);
                            return ControlFlow::Break(());
                        }
                    }
                }
                if stop.load(Ordering::SeqCst) {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .map(|model| {
                let history: Vec<Report> = model
                    .loss_history()
                    .iter()
                    .map(|r| {
                        (
                            r.iteration,
                            r.seconds,
                            r.loss_or_nan().observed,
                            r.loss_or_nan().unobserved,
                            r.loss_or_nan().regularization,
                            r.loss_seconds,
                        )
                    })
                    .collect();
                (model, history)
            })
    })?;
    if let Some(e) = cb_err {
        return Err(e);
    }
    let (model, history) = result.py()?;
    Ok((
        model.user_factors().clone(),
        model.item_factors().clone(),
        history,
    ))
}

/// Scalars the top-k kernel works in (implicit keeps the factors' dtype).
pub trait Real: Copy + Send + Sync + PartialOrd + numpy::Element + 'static {
    const NEG_MAX: Self;
    const ZERO: Self;
    fn div(self, o: Self) -> Self;
    /// `c = a bᵀ` for row-major `a` (`r x k`) and `b` (`n x k`).
    fn gemm_abt(r: usize, k: usize, n: usize, a: &[Self], b: &[Self], c: &mut [Self]);
    /// The blocked kernel of the core, when it exists for this type.
    #[allow(clippy::too_many_arguments)]
    fn blocked(
        _items: ArrayView2<'_, Self>,
        _query: ArrayView2<'_, Self>,
        _k: usize,
        _filter: Option<(&[usize], &[usize])>,
        _filter_items: &[usize],
        _threads: usize,
        _ids: &mut [i32],
        _scores: &mut [Self],
    ) -> Option<PyResult<()>> {
        None
    }
}

impl Real for f32 {
    fn blocked(
        items: ArrayView2<'_, f32>,
        query: ArrayView2<'_, f32>,
        k: usize,
        filter: Option<(&[usize], &[usize])>,
        filter_items: &[usize],
        threads: usize,
        ids: &mut [i32],
        scores: &mut [f32],
    ) -> Option<PyResult<()>> {
        Some(topk_blocked(
            items,
            query,
            k,
            filter,
            filter_items,
            threads,
            ids,
            scores,
        ))
    }
    const NEG_MAX: f32 = -f32::MAX;
    const ZERO: f32 = 0.0;
    fn div(self, o: f32) -> f32 {
        self / o
    }
    fn gemm_abt(r: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
        // SAFETY: the slices hold r*k, n*k and r*n elements, row-major.
        unsafe {
            matrixmultiply::sgemm(
                r,
                k,
                n,
                1.0,
                a.as_ptr(),
                k as isize,
                1,
                b.as_ptr(),
                1,
                k as isize,
                0.0,
                c.as_mut_ptr(),
                n as isize,
                1,
            )
        }
    }
}

impl Real for f64 {
    const NEG_MAX: f64 = -f64::MAX;
    const ZERO: f64 = 0.0;
    fn div(self, o: f64) -> f64 {
        self / o
    }
    fn gemm_abt(r: usize, k: usize, n: usize, a: &[f64], b: &[f64], c: &mut [f64]) {
        // SAFETY: the slices hold r*k, n*k and r*n elements, row-major.
        unsafe {
            matrixmultiply::dgemm(
                r,
                k,
                n,
                1.0,
                a.as_ptr(),
                k as isize,
                1,
                b.as_ptr(),
                1,
                k as isize,
                0.0,
                c.as_mut_ptr(),
                n as isize,
                1,
            )
        }
    }
}

fn pair_lt<T: PartialOrd>(a: &(T, i32), b: &(T, i32)) -> bool {
    a.0 < b.0 || (a.0 == b.0 && a.1 < b.1)
}

/// implicit's `select`: a min-heap of `k` `(score, column)` pairs, a column
/// entering only with a score strictly above the heap's least, then sorted by
/// pair, largest first. Output slots beyond the row's length keep (0, 0).
fn select<T: Real>(row: &[T], k: usize, heap: &mut Vec<(T, i32)>, ids: &mut [i32], out: &mut [T]) {
    heap.clear();
    for (col, &s) in row.iter().enumerate() {
        let c = col as i32;
        if heap.len() < k {
            heap.push((s, c));
            sift_up(heap);
        } else if k > 0 && s > heap[0].0 {
            heap[0] = (s, c);
            sift_down(heap, 0);
        }
    }
    heap.sort_by(|a, b| {
        if pair_lt(b, a) {
            std::cmp::Ordering::Less
        } else if pair_lt(a, b) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    for (j, &(s, c)) in heap.iter().enumerate() {
        ids[j] = c;
        out[j] = s;
    }
}

fn sift_up<T: PartialOrd + Copy>(h: &mut [(T, i32)]) {
    let mut i = h.len() - 1;
    while i > 0 {
        let p = (i - 1) / 2;
        if pair_lt(&h[i], &h[p]) {
            h.swap(i, p);
            i = p;
        } else {
            break;
        }
    }
}

fn sift_down<T: PartialOrd + Copy>(h: &mut [(T, i32)], mut i: usize) {
    let n = h.len();
    loop {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        let mut m = i;
        if l < n && pair_lt(&h[l], &h[m]) {
            m = l;
        }
        if r < n && pair_lt(&h[r], &h[m]) {
            m = r;
        }
        if m == i {
            break;
        }
        h.swap(i, m);
        i = m;
    }
}

const BATCH: usize = 128;

#[allow(clippy::too_many_arguments)]
fn topk_impl<T: Real>(
    items: ArrayView2<'_, T>,
    query: ArrayView2<'_, T>,
    k: usize,
    norms: Option<&[T]>,
    filter: Option<(&[usize], &[usize])>,
    filter_items: &[usize],
    threads: usize,
    ids: &mut [i32],
    scores: &mut [T],
) -> PyResult<()> {
    let (n, f) = (items.shape()[0], items.shape()[1]);
    let rows = query.shape()[0];
    let items_owned;
    let items: &[T] = match items.as_slice() {
        Some(s) => s,
        None => {
            items_owned = items.iter().copied().collect::<Vec<T>>();
            &items_owned
        }
    };
    let query_owned;
    let query: &[T] = match query.as_slice() {
        Some(s) => s,
        None => {
            query_owned = query.iter().copied().collect::<Vec<T>>();
            &query_owned
        }
    };
    let work = |b: usize,
                ids: &mut [i32],
                scores: &mut [T],
                buf: &mut Vec<T>,
                heap: &mut Vec<(T, i32)>| {
        let start = b * BATCH;
        let r = (rows - start).min(BATCH);
        buf.clear();
        buf.resize(r * n, T::ZERO);
        if n > 0 {
            if f == 0 {
                buf.iter_mut().for_each(|v| *v = T::ZERO);
            } else {
                T::gemm_abt(r, f, n, &query[start * f..(start + r) * f], items, buf);
            }
        }
        for j in 0..r {
            let row = &mut buf[j * n..(j + 1) * n];
            if let Some(norms) = norms {
                for (v, &d) in row.iter_mut().zip(norms) {
                    *v = v.div(d);
                }
            }
            if let Some((ptr, idx)) = filter {
                let q = start + j;
                if q + 1 < ptr.len() {
                    for &c in &idx[ptr[q]..ptr[q + 1]] {
                        if c < n {
                            row[c] = T::NEG_MAX;
                        }
                    }
                }
            }
            for &c in filter_items {
                row[c] = T::NEG_MAX;
            }
            select(
                row,
                k,
                heap,
                &mut ids[j * k..(j + 1) * k],
                &mut scores[j * k..(j + 1) * k],
            );
        }
    };
    let batches = rows.div_ceil(BATCH);
    if batches <= 1 {
        let (mut buf, mut heap) = (Vec::new(), Vec::new());
        if rows > 0 {
            work(0, ids, scores, &mut buf, &mut heap);
        }
        return Ok(());
    }
    let pool = pool(threads)?;
    pool.install(|| {
        ids.par_chunks_mut(BATCH * k)
            .zip(scores.par_chunks_mut(BATCH * k))
            .enumerate()
            .for_each_init(
                || (Vec::new(), Vec::new()),
                |(buf, heap), (b, (ids, scores))| work(b, ids, scores, buf, heap),
            );
    });
    Ok(())
}

/// Batches at least this large go through the blocked kernel of the core.
const FAST_MIN_ROWS: usize = 64;

/// The blocked kernel returns only unfiltered items; it gives implicit's
/// lists whenever every row keeps at least `k` unfiltered items (then no
/// `-finfo.max` entry or padding can appear) and the row filters are sorted.
fn fast_path_applies(
    n: usize,
    k: usize,
    filter: Option<(&[usize], &[usize])>,
    fitems: &[usize],
) -> bool {
    let mut worst = 0;
    if let Some((ptr, idx)) = filter {
        for w in ptr.windows(2) {
            let row = &idx[w[0]..w[1]];
            if row.windows(2).any(|p| p[0] >= p[1]) {
                return false;
            }
            worst = worst.max(row.len());
        }
    }
    k > 0 && k + worst + fitems.len() <= n
}

/// [`topk_impl`] on the core's blocked all-users kernel (`ials::serve::topk`):
/// lists re-ordered as implicit orders them (score descending, equal scores
/// by descending index). Exact float ties at the `k`-th place may keep a
/// different item than implicit's heap would.
#[allow(clippy::too_many_arguments)]
fn topk_blocked(
    items: ArrayView2<'_, f32>,
    query: ArrayView2<'_, f32>,
    k: usize,
    filter: Option<(&[usize], &[usize])>,
    filter_items: &[usize],
    threads: usize,
    ids: &mut [i32],
    scores: &mut [f32],
) -> PyResult<()> {
    let (n, f) = (items.shape()[0], items.shape()[1]);
    let rows = query.shape()[0];
    let to_factors = |a: ArrayView2<'_, f32>, r: usize| {
        let v: Vec<f32> = match a.as_slice() {
            Some(s) => s.to_vec(),
            None => a.iter().copied().collect(),
        };
        Factors::from_vec(r, f, v).expect("shape")
    };
    let targets = to_factors(items, n);
    let queries = to_factors(query, rows);
    let allowed = if filter_items.is_empty() {
        None
    } else {
        let mut banned = vec![false; n];
        for &c in filter_items {
            banned[c] = true;
        }
        Some(
            (0..n as u32)
                .filter(|&c| !banned[c as usize])
                .collect::<Vec<u32>>(),
        )
    };
    let excluded = |q: usize, t: u32| match filter {
        Some((ptr, idx)) if q + 1 < ptr.len() => {
            idx[ptr[q]..ptr[q + 1]].binary_search(&(t as usize)).is_ok()
        }
        _ => false,
    };
    let pool = pool(threads)?;
    pool.install(|| {
        ials::serve::topk::top_k_all(
            &queries,
            &targets,
            allowed,
            k,
            excluded,
            |q, list| -> Result<(), Error> {
                let mut list = list.to_vec();
                list.sort_by(|a, b| {
                    b.1.partial_cmp(&a.1)
                        .unwrap_or(std::cmp::Ordering::Equal)
                        .then(b.0.cmp(&a.0))
                });
                for (j, &(c, s)) in list.iter().enumerate() {
                    ids[q * k + j] = c as i32;
                    scores[q * k + j] = s;
                }
                Ok(())
            },
        )
    })
    .map_err(crate::common::to_pyerr)
}

/// implicit's `topk(items, query, k, item_norms, filter_query_items,
/// filter_items, num_threads)`: `(ids int32, scores)` of shape `(rows, k)`,
/// scores in the dtype of the factors.
#[pyfunction]
#[pyo3(signature = (items, query, k, item_norms=None, filter_indptr=None, filter_indices=None, filter_items=None, num_threads=0))]
#[allow(clippy::too_many_arguments)]
pub fn topk<'py>(
    py: Python<'py>,
    items: &Bound<'py, PyAny>,
    query: &Bound<'py, PyAny>,
    k: usize,
    item_norms: Option<&Bound<'py, PyAny>>,
    filter_indptr: Option<&Bound<'py, PyAny>>,
    filter_indices: Option<&Bound<'py, PyAny>>,
    filter_items: Option<&Bound<'py, PyAny>>,
    num_threads: usize,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let filter = match (filter_indptr, filter_indices) {
        (Some(p), Some(i)) => Some((
            crate::common::index_vec(p, "filter indptr")?,
            crate::common::index_vec(i, "filter indices")?,
        )),
        _ => None,
    };
    let fitems = match filter_items {
        Some(f) => crate::common::index_vec(f, "filter_items")?,
        None => Vec::new(),
    };
    macro_rules! go {
        ($t:ty) => {
            if let (Ok(it), Ok(q)) = (items.cast::<PyArray2<$t>>(), query.cast::<PyArray2<$t>>()) {
                let (it, q) = (it.readonly(), q.readonly());
                let n = it.shape()[0];
                if q.shape()[1] != it.shape()[1] {
                    return Err(PyValueError::new_err(format!(
                        "query has {} factors, items have {}",
                        q.shape()[1],
                        it.shape()[1]
                    )));
                }
                if let Some(&bad) = fitems.iter().find(|&&c| c >= n) {
                    return Err(pyo3::exceptions::PyIndexError::new_err(format!(
                        "index {bad} is out of bounds for axis 0 with size {n}"
                    )));
                }
                let norms: Option<Vec<$t>> = match item_norms {
                    Some(a) => {
                        let a = a.cast::<numpy::PyArray1<$t>>()?.readonly();
                        Some(a.as_array().iter().copied().collect())
                    }
                    None => None,
                };
                let rows = q.shape()[0];
                let mut ids = vec![0i32; rows * k];
                let mut scores = vec![<$t>::ZERO; rows * k];
                let (itv, qv) = (it.as_array(), q.as_array());
                let filt = filter.as_ref().map(|(p, i)| (p.as_slice(), i.as_slice()));
                let fast = norms.is_none()
                    && rows >= FAST_MIN_ROWS
                    && fast_path_applies(n, k, filt, &fitems);
                py.detach(|| {
                    if fast {
                        if let Some(r) = <$t>::blocked(
                            itv,
                            qv,
                            k,
                            filt,
                            &fitems,
                            num_threads,
                            &mut ids,
                            &mut scores,
                        ) {
                            return r;
                        }
                    }
                    topk_impl::<$t>(
                        itv,
                        qv,
                        k,
                        norms.as_deref(),
                        filt,
                        &fitems,
                        num_threads,
                        &mut ids,
                        &mut scores,
                    )
                })?;
                let ids = Array2::from_shape_vec((rows, k), ids)
                    .expect("shape")
                    .into_pyarray(py);
                let scores = Array2::from_shape_vec((rows, k), scores)
                    .expect("shape")
                    .into_pyarray(py);
                return Ok((ids.into_any(), scores.into_any()));
            }
        };
    }
    go!(f32);
    go!(f64);
    Err(PyValueError::new_err(
        "items and query must be 2-D arrays of the same float dtype (float32 or float64)",
    ))
}

/// The fixed side of a re-solve: a copy of the factors and their Gramian,
/// computed once and reused by every `recalculate_user` / `recalculate_item`
/// until the factors change (the Python model keeps one per side).
#[pyclass(module = "ials._ials", name = "FixedSide", frozen)]
pub struct FixedSide {
    y: Factors,
    g: Gramian,
}

#[pymethods]
impl FixedSide {
    /// The factors `y` (rows x k, float32) and their Gramian `YᵀY`.
    #[new]
    #[pyo3(signature = (y, num_threads=0))]
    fn new(py: Python<'_>, y: PyReadonlyArray2<'_, f32>, num_threads: usize) -> PyResult<Self> {
        let y = factors_from(&y);
        let pool = pool(num_threads)?;
        let g = py.detach(|| pool.install(|| Gramian::of(&y)));
        Ok(FixedSide { y, g })
    }

    /// Rows of the fixed factors.
    #[getter]
    fn rows(&self) -> usize {
        self.y.rows()
    }
}

/// Exact re-solve of rows against the fixed side with implicit's objective
/// (`c = alpha * value`, negative values observed negatives): the
/// `recalculate_user` / `recalculate_item` of implicit. An empty row is 0.
#[pyfunction]
#[pyo3(signature = (fixed, indptr, indices, data, shape, regularization, alpha, num_threads=0))]
#[allow(clippy::too_many_arguments)]
pub fn solve_rows<'py>(
    py: Python<'py>,
    fixed: &FixedSide,
    indptr: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
    shape: (usize, usize),
    regularization: f32,
    alpha: f32,
    num_threads: usize,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let (y, g) = (&fixed.y, &fixed.g);
    if shape.1 != y.rows() {
        return Err(PyValueError::new_err(format!(
            "the matrix has {} columns but there are {} factor rows",
            shape.1,
            y.rows()
        )));
    }
    let m = csr_from_arrays(indptr, indices, data, shape)?;
    let k = y.k();
    let pool = pool(num_threads)?;
    let out: Result<Vec<f32>, Error> = py.detach(|| {
        pool.install(|| {
            let pb = RowProblem {
                fixed: y,
                gram: g,
                weighting: Weighting {
                    kind: ConfidenceKind::AsGiven,
                    alpha,
                    epsilon: 1.0,
                    target: Target::One,
                },
                alpha0: 1.0,
            };
            let mut x = vec![0.0f32; shape.0 * k];
            let indptr = m.indptr();
            let indptr = indptr.raw_storage();
            x.par_chunks_mut(k.max(1)).enumerate().try_for_each_init(
                || Workspace::new(k),
                |ws, (r, xr)| {
                    if k == 0 {
                        return Ok(());
                    }
                    let (s, e) = (indptr[r], indptr[r + 1]);
                    let row = ials::RowView {
                        indices: &m.indices()[s..e],
                        values: &m.data()[s..e],
                    };
                    solve_row(Solver::Cholesky, &pb, row, regularization, xr, ws)
                        .map_err(|pivot| pivot.at(0, "user", r))
                },
            )?;
            Ok(x)
        })
    });
    let x = out.map_err(|e| match e {
        Error::NotPositiveDefinite { row, .. } => PyValueError::new_err(format!(
            "the system of row {row} is not positive definite. Try increasing the regularization parameter."
        )),
        other => crate::common::to_pyerr(other),
    })?;
    Ok(Array2::from_shape_vec((shape.0, k), x)
        .expect("shape")
        .into_pyarray(py))
}

/// The loss parts `(observed, unobserved, regularization)` of implicit's
/// objective (`c = alpha * value`, unobserved weight 1, constant λ) for the
/// given factors.
#[pyfunction]
#[pyo3(signature = (indptr, indices, data, shape, x, y, regularization, alpha=1.0, num_threads=0))]
#[allow(clippy::too_many_arguments)]
pub fn loss_parts<'py>(
    py: Python<'py>,
    indptr: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
    shape: (usize, usize),
    x: PyReadonlyArray2<'py, f32>,
    y: PyReadonlyArray2<'py, f32>,
    regularization: f32,
    alpha: f32,
    num_threads: usize,
) -> PyResult<(f64, f64, f64)> {
    let m = csr_from_arrays(indptr, indices, data, shape)?;
    let (x, y) = (factors_from(&x), factors_from(&y));
    if x.rows() != shape.0 || y.rows() != shape.1 || x.k() != y.k() {
        return Err(PyValueError::new_err(format!(
            "factors are {}x{} and {}x{} for a {}x{} matrix",
            x.rows(),
            x.k(),
            y.rows(),
            y.k(),
            shape.0,
            shape.1
        )));
    }
    let params = Params::builder()
        .factors(x.k().max(1))
        .confidence(ConfidenceKind::AsGiven)
        .alpha(alpha)
        .regularization(regularization)
        .observed_negatives(true)
        .check()
        .py()?;
    let data =
        Interactions::from_csr_with(IdMap::identity(shape.0), IdMap::identity(shape.1), m, true);
    let data = match data {
        Ok(d) => d,
        Err(Error::EmptyMatrix) => {
            // No observed pairs: every pair is unobserved.
            let l = py.detach(|| {
                let (h, g) = (Gramian::of(&x), Gramian::of(&y));
                let reg: f64 = x
                    .as_slice()
                    .iter()
                    .chain(y.as_slice())
                    .map(|&v| v as f64 * v as f64)
                    .sum();
                (h.frobenius_inner(&g), regularization as f64 * reg)
            });
            return Ok((0.0, l.0, l.1));
        }
        Err(e) => return Err(crate::common::to_pyerr(e)),
    };
    let pool = pool(num_threads)?;
    let parts = py.detach(|| pool.install(|| ials::train::loss(&params, &data, &x, &y)));
    Ok((parts.observed, parts.unobserved, parts.regularization))
}
