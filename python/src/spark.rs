//! Native entry points of the Spark fit (`ials.spark`): each runs inside a
//! Spark task on one block of rows and calls the core's own pieces (the
//! keyed start, the Gramian, `λ_u`, the confidence transform, the row
//! solvers), so a Spark fit solves exactly the systems of a single-machine
//! fit. Nothing here re-implements the math.

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rayon::prelude::*;

use ials::internals::solver::{solve_row, RowProblem, Workspace};
use ials::{Error, Factors, Gramian, Side};

use crate::common::{
    csr_from_arrays, factors_from, params_from_dict, params_to_dict, pool, to_pyerr, IntoPy,
};
use crate::native::{PyInteractions, PyModel};

fn side_of(side: &str) -> PyResult<Side> {
    match side {
        "user" => Ok(Side::User),
        "item" => Ok(Side::Item),
        other => Err(PyValueError::new_err(format!(
            "side must be \"user\" or \"item\", not {other:?}"
        ))),
    }
}

/// The settings of ``params`` checked and completed with the defaults of
/// ``ials fit`` (a dict; a bad setting raises :class:`ials.ParameterError`).
#[pyfunction]
#[pyo3(signature = (params=None))]
pub fn spark_params<'py>(
    py: Python<'py>,
    params: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    params_to_dict(py, &params_from_dict(params)?)
}

/// The start of the rows with these external ids (``len(ids) x k``
/// float32): each row from a generator keyed by ``(seed, side, id)``, the
/// rows a single-machine fit with ``params`` gives the same ids.
#[pyfunction]
#[pyo3(signature = (params, side, ids))]
pub fn spark_initial_rows<'py>(
    py: Python<'py>,
    params: Option<&Bound<'py, PyDict>>,
    side: &str,
    ids: Vec<String>,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let params = params_from_dict(params)?;
    let side = side_of(side)?;
    let k = params.factors();
    let f = py.detach(|| {
        ials::train::initial_rows(&params, side, ids.len(), |r| {
            std::borrow::Cow::Borrowed(ids[r].as_str())
        })
    });
    Ok(Array2::from_shape_vec((ids.len(), k), f.into_vec())
        .expect("shape")
        .into_pyarray(py))
}

/// The Gramian ``FᵀF`` of a block of rows (``k x k`` float64), as the core
/// computes it; the Spark fit sums these over blocks.
#[pyfunction]
pub fn spark_gramian<'py>(
    py: Python<'py>,
    factors: PyReadonlyArray2<'py, f32>,
) -> Bound<'py, PyArray2<f64>> {
    let f = factors_from(&factors);
    let k = f.k();
    let g = py.detach(|| Gramian::of(&f));
    Array2::from_shape_vec((k, k), g.as_f64().to_vec())
        .expect("shape")
        .into_pyarray(py)
}

/// Solve a block of rows of one side against the fixed other side: row
/// ``r`` has the interactions ``indices[indptr[r]:indptr[r+1]]`` (positions
/// in ``fixed``, the fixed side's factor rows this block needs) with values
/// ``values[...]``; ``gram`` is the fixed side's full Gramian (float64),
/// ``other`` its total number of rows (for ``λ_u`` with ``reg_exponent``),
/// ``previous`` the rows' current factors (the CG and block solvers start
/// from them). Returns the new rows (``rows x k`` float32) and their loss
/// parts ``[Σ c (p − ŷ)², Σ ŷ², Σ λ_r ‖x_r‖²]`` (the first two only with
/// ``loss``, else 0). ``λ_u``, the confidence, the solve and the loss terms
/// are the core's; ``threads`` 0 uses all cores.
#[pyfunction]
#[pyo3(signature = (params, side, indptr, indices, values, fixed, gram, other, previous, iteration=0, threads=1, loss=false))]
#[allow(clippy::too_many_arguments)]
pub fn spark_solve_rows<'py>(
    py: Python<'py>,
    params: Option<&Bound<'py, PyDict>>,
    side: &str,
    indptr: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    values: &Bound<'py, PyAny>,
    fixed: PyReadonlyArray2<'py, f32>,
    gram: PyReadonlyArray2<'py, f64>,
    other: usize,
    previous: PyReadonlyArray2<'py, f32>,
    iteration: usize,
    threads: usize,
    loss: bool,
) -> PyResult<(Bound<'py, PyArray2<f32>>, [f64; 3])> {
    let params = params_from_dict(params)?;
    let side = side_of(side)?;
    let k = params.factors();
    let fixed = factors_from(&fixed);
    let mut x: Factors = factors_from(&previous);
    let rows = x.rows();
    if fixed.k() != k || x.k() != k {
        return Err(to_pyerr(Error::Shape(format!(
            "fixed rows have {} factors and previous rows {}, expected {k}",
            fixed.k(),
            x.k()
        ))));
    }
    let g = gram.as_array();
    if g.shape() != [k, k] {
        return Err(to_pyerr(Error::Shape(format!(
            "the Gramian is {:?}, expected {k}x{k}",
            g.shape()
        ))));
    }
    let gram = Gramian::from_f64(k, g.iter().copied().collect()).expect("k x k entries");
    let m = csr_from_arrays(indptr, indices, values, (rows, fixed.rows()))?;
    if !params.observed_negatives() && m.data().iter().any(|&v| v < 0.0) {
        return Err(to_pyerr(Error::NegativeValues));
    }
    let pool = pool(threads)?;
    let solver = params.solver();
    let out: Result<(), Error> = py.detach(|| {
        pool.install(|| {
            let pb = RowProblem {
                fixed: &fixed,
                gram: &gram,
                weighting: params.weighting(),
                alpha0: params.unobserved_weight(),
            };
            let indptr = m.indptr();
            let indptr = indptr.raw_storage();
            x.as_mut_slice()
                .par_chunks_mut(k.max(1))
                .enumerate()
                .try_for_each_init(
                    || Workspace::new(k),
                    |ws, (r, xr)| {
                        let (s, e) = (indptr[r], indptr[r + 1]);
                        let row = ials::RowView {
                            indices: &m.indices()[s..e],
                            values: &m.data()[s..e],
                        };
                        let lambda = params.row_regularization(e - s, other);
                        solve_row(solver, &pb, row, lambda, xr, ws)
                            .map_err(|pivot| pivot.at(iteration, side.name(), r))
                    },
                )
        })
    });
    out.py()?;
    // The loss parts of the new rows: the regularization always, the
    // observed part (and its Gramian-trick correction) when asked.
    let (lambdas, indptr) = (&params, m.indptr());
    let indptr = indptr.raw_storage();
    let mut parts = [0.0f64; 3];
    for r in 0..rows {
        let (s, e) = (indptr[r], indptr[r + 1]);
        let xr = x.row(r);
        if loss {
            let row = ials::RowView {
                indices: &m.indices()[s..e],
                values: &m.data()[s..e],
            };
            let [o, q] = ials::train::row_loss(params.weighting(), xr, row, &fixed);
            parts[0] += o;
            parts[1] += q;
        }
        let lambda = lambdas.row_regularization(e - s, other) as f64;
        parts[2] += lambda * ials::linalg::dot(xr, xr) as f64;
    }
    let out = Array2::from_shape_vec((rows, k), x.into_vec())
        .expect("shape")
        .into_pyarray(py);
    Ok((out, parts))
}

/// A model from a Spark fit's factors: ``data`` the interactions (built as
/// :func:`ials.interactions` builds them), ``user_factors`` /
/// ``item_factors`` in the order of its ids, ``history`` the per-iteration
/// ``(seconds, observed, unobserved, regularization)``. Saved with the
/// package's one writer (:meth:`ials.Model.save`).
#[pyfunction]
#[pyo3(signature = (data, params, user_factors, item_factors, history))]
pub fn spark_model<'py>(
    data: &PyInteractions,
    params: Option<&Bound<'py, PyDict>>,
    user_factors: PyReadonlyArray2<'py, f32>,
    item_factors: PyReadonlyArray2<'py, f32>,
    history: Vec<(f64, f64, f64, f64)>,
) -> PyResult<PyModel> {
    let params = params_from_dict(params)?;
    let (x, y) = (factors_from(&user_factors), factors_from(&item_factors));
    let d = &data.inner;
    let k = params.factors();
    if x.rows() != d.n_users() || y.rows() != d.n_items() || x.k() != k || y.k() != k {
        return Err(to_pyerr(Error::Shape(format!(
            "factors are {}x{} and {}x{}, expected {}x{k} and {}x{k}",
            x.rows(),
            x.k(),
            y.rows(),
            y.k(),
            d.n_users(),
            d.n_items()
        ))));
    }
    let history = history
        .into_iter()
        .enumerate()
        .map(|(i, (seconds, o, u, r))| ials::IterationReport {
            iteration: i + 1,
            seconds,
            loss: (!o.is_nan()).then_some(ials::LossParts {
                observed: o,
                unobserved: u,
                regularization: r,
            }),
            loss_seconds: 0.0,
        })
        .collect();
    Ok(PyModel {
        inner: ials::Model::new(
            params,
            d.users().clone(),
            d.items().clone(),
            d.by_user().clone(),
            x,
            y,
            history,
        ),
    })
}

/// Register the Spark entry points.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(spark_params, m)?)?;
    m.add_function(wrap_pyfunction!(spark_initial_rows, m)?)?;
    m.add_function(wrap_pyfunction!(spark_gramian, m)?)?;
    m.add_function(wrap_pyfunction!(spark_solve_rows, m)?)?;
    m.add_function(wrap_pyfunction!(spark_model, m)?)?;
    Ok(())
}
