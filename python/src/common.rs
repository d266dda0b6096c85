//! Shared pieces: error mapping, parameters from a dict, CSR input from
//! numpy arrays, thread pools and the interruptible runner.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use ials::params::defaults;
use ials::{Error, Factors, Params, Solver, SparseMatrix};

/// A Rust error as the matching exception class of `ials.errors`, with the
/// Rust message.
pub fn to_pyerr(e: Error) -> PyErr {
    let name = match &e {
        Error::ZeroFactors
        | Error::ZeroIterations
        | Error::InvalidRegularization(_)
        | Error::InvalidAlpha(_)
        | Error::InvalidEpsilon(_)
        | Error::InvalidUnobservedWeight(_)
        | Error::InvalidRegExponent(_)
        | Error::ZeroCgSteps
        | Error::ZeroBlockSize
        | Error::BlockSizeTooLarge { .. }
        | Error::InvalidInitStd(_)
        | Error::ZeroThreads
        | Error::UnknownName { .. } => "ParameterError",
        Error::NonFinite { .. } => "NonFiniteError",
        Error::NotPositiveDefinite { .. } => "NotPositiveDefiniteError",
        Error::IndexOutOfRange { .. } => "IndexError_",
        Error::Io { .. } | Error::ModelFormat { .. } => "IalsIOError",
        Error::UnknownId { .. } => "DataError",
        Error::InvalidValue { .. }
        | Error::NegativeValues
        | Error::EmptyMatrix
        | Error::Shape(_)
        | Error::DuplicateId { .. }
        | Error::Parse { .. }
        | Error::EmptyInput { .. } => "DataError",
        _ => "IalsError",
    };
    let msg = e.to_string();
    Python::attach(|py| {
        match py
            .import("ials.errors")
            .and_then(|m| m.getattr(name))
            .and_then(|cls| cls.call1((msg.clone(),)))
        {
            Ok(inst) => PyErr::from_value(inst),
            Err(_) => PyRuntimeError::new_err(msg),
        }
    })
}

pub trait IntoPy<T> {
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, Error> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_pyerr)
    }
}

/// `Params` from a dict of `ials fit` settings (snake case; unknown keys are
/// a `TypeError`); checked.
pub fn params_from_dict(d: Option<&Bound<'_, PyDict>>) -> PyResult<Params> {
    let mut b = Params::builder();
    if let Some(d) = d {
        for (k, v) in d.iter() {
            let key: String = k.extract()?;
            if v.is_none() {
                continue;
            }
            b = match key.as_str() {
                "factors" => b.factors(v.extract()?),
                "iterations" => b.iterations(v.extract()?),
                "regularization" => b.regularization(v.extract()?),
                "alpha" => b.alpha(v.extract()?),
                "confidence" => b.confidence(v.extract::<String>()?.parse().py()?),
                "epsilon" => b.epsilon(v.extract()?),
                "target" => b.target(v.extract::<String>()?.parse().py()?),
                "unobserved_weight" => b.unobserved_weight(v.extract()?),
                "reg_exponent" => b.reg_exponent(v.extract()?),
                "reg_include_unobserved" => b.reg_include_unobserved(v.extract()?),
                "solver" => b.solver(v.extract::<String>()?.parse().py()?),
                "cg_steps" => b.cg_steps(v.extract()?),
                "block_size" => b.block_size(v.extract()?),
                "init" => b.init(v.extract::<String>()?.parse().py()?),
                "init_std" => b.init_std(v.extract()?),
                "seed" => b.seed(v.extract()?),
                "threads" => {
                    let t: usize = v.extract()?;
                    if t == 0 {
                        b
                    } else {
                        b.threads(t)
                    }
                }
                "observed_negatives" => b.observed_negatives(v.extract()?),
                "track_loss" => b.track_loss(v.extract()?),
                other => {
                    return Err(PyTypeError::new_err(format!(
                        "unknown parameter {other:?}; expected one of factors, iterations, regularization, alpha, confidence, epsilon, target, unobserved_weight, reg_exponent, reg_include_unobserved, solver, cg_steps, block_size, init, init_std, seed, threads, observed_negatives, track_loss"
                    )))
                }
            };
        }
    }
    b.check().py()
}

/// The settings of `p` as a dict (the keys [`params_from_dict`] reads).
pub fn params_to_dict<'py>(py: Python<'py>, p: &Params) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("factors", p.factors())?;
    d.set_item("iterations", p.iterations())?;
    d.set_item("regularization", p.regularization())?;
    d.set_item("alpha", p.alpha())?;
    d.set_item("confidence", p.confidence().to_string())?;
    d.set_item("epsilon", p.epsilon())?;
    d.set_item("target", p.target().to_string())?;
    d.set_item("unobserved_weight", p.unobserved_weight())?;
    d.set_item("reg_exponent", p.reg_exponent())?;
    d.set_item("reg_include_unobserved", p.reg_include_unobserved())?;
    d.set_item("solver", p.solver_kind().to_string())?;
    let (cg_steps, block_size) = solver_settings(p);
    d.set_item("cg_steps", cg_steps)?;
    d.set_item("block_size", block_size)?;
    d.set_item("init", p.init().to_string())?;
    d.set_item("init_std", p.init_std())?;
    d.set_item("seed", p.seed())?;
    d.set_item("threads", p.threads().unwrap_or(0))?;
    d.set_item("observed_negatives", p.observed_negatives())?;
    d.set_item("track_loss", p.track_loss())?;
    Ok(d)
}

/// `(cg_steps, block_size)` of `p`: the active solver's setting from
/// [`Params::solver`], the other one at its default (`Params` keeps only the
/// settings of the solver it runs).
fn solver_settings(p: &Params) -> (usize, usize) {
    let default_block = p.factors().min(defaults::MAX_BLOCK_SIZE);
    match p.solver() {
        Solver::Cholesky => (defaults::CG_STEPS, default_block),
        Solver::Cg { steps } => (steps, default_block),
        Solver::Block { size } => (defaults::CG_STEPS, size),
    }
}

/// An integer numpy array (any signed or unsigned width) as `usize`s.
pub fn index_vec(a: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<usize>> {
    macro_rules! try_ty {
        ($t:ty) => {
            if let Ok(x) = a.cast::<PyArray1<$t>>() {
                let r = x.readonly();
                let view = r.as_array();
                let mut out = Vec::with_capacity(view.len());
                for &v in view.iter() {
                    #[allow(unused_comparisons)]
                    if v < 0 {
                        return Err(PyValueError::new_err(format!(
                            "{what} has a negative entry ({v})"
                        )));
                    }
                    out.push(v as usize);
                }
                return Ok(out);
            }
        };
    }
    try_ty!(i32);
    try_ty!(i64);
    try_ty!(u32);
    try_ty!(u64);
    try_ty!(i16);
    try_ty!(u16);
    try_ty!(i8);
    try_ty!(u8);
    Err(PyTypeError::new_err(format!(
        "{what} must be a 1-D integer numpy array"
    )))
}

/// Column indices (any integer width) as `u32`s: one copy, straight into the
/// core's layout.
pub fn index_vec_u32(a: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u32>> {
    macro_rules! try_ty {
        ($t:ty) => {
            if let Ok(x) = a.cast::<PyArray1<$t>>() {
                let r = x.readonly();
                let view = r.as_array();
                let mut out = Vec::with_capacity(view.len());
                for &v in view.iter() {
                    match u32::try_from(v) {
                        Ok(u) => out.push(u),
                        Err(_) => {
                            return Err(PyValueError::new_err(format!(
                                "{what} has an entry out of range ({v})"
                            )))
                        }
                    }
                }
                return Ok(out);
            }
        };
    }
    try_ty!(i32);
    try_ty!(i64);
    try_ty!(u32);
    try_ty!(u64);
    try_ty!(i16);
    try_ty!(u16);
    try_ty!(i8);
    try_ty!(u8);
    Err(PyTypeError::new_err(format!(
        "{what} must be a 1-D integer numpy array"
    )))
}

/// A float numpy array (float32 or float64, or integers) as `f32`s.
pub fn value_vec(a: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<f32>> {
    macro_rules! try_ty {
        ($t:ty) => {
            if let Ok(x) = a.cast::<PyArray1<$t>>() {
                let r = x.readonly();
                return Ok(r.as_array().iter().map(|&v| v as f32).collect());
            }
        };
    }
    try_ty!(f32);
    try_ty!(f64);
    try_ty!(i64);
    try_ty!(i32);
    try_ty!(u8);
    Err(PyTypeError::new_err(format!(
        "{what} must be a 1-D float numpy array"
    )))
}

/// A scipy CSR triple as the core's matrix: one copy into its layout (`usize`
/// offsets, `u32` columns, `f32` values), rows sorted by column with
/// duplicates summed only when the input is not already canonical.
pub fn csr_from_arrays(
    indptr: &Bound<'_, PyAny>,
    indices: &Bound<'_, PyAny>,
    data: &Bound<'_, PyAny>,
    shape: (usize, usize),
) -> PyResult<SparseMatrix> {
    let (m, n) = shape;
    let indptr = index_vec(indptr, "indptr")?;
    let idx = index_vec_u32(indices, "indices")?;
    let val = value_vec(data, "data")?;
    if indptr.len() != m + 1 {
        return Err(PyValueError::new_err(format!(
            "indptr has {} entries, expected {} for {m} rows",
            indptr.len(),
            m + 1
        )));
    }
    let nnz = indptr[m];
    if indptr[0] != 0 || indptr.windows(2).any(|w| w[0] > w[1]) || nnz > idx.len() {
        return Err(PyValueError::new_err(
            "indptr is not a valid CSR offset array",
        ));
    }
    if idx.len() != val.len() {
        return Err(PyValueError::new_err(format!(
            "indices has {} entries but data has {}",
            idx.len(),
            val.len()
        )));
    }
    if let Some(&bad) = idx[..nnz].iter().find(|&&i| i as usize >= n) {
        return Err(PyValueError::new_err(format!(
            "column index {bad} out of range for {n} columns"
        )));
    }
    let canonical = (0..m).all(|r| {
        idx[indptr[r]..indptr[r + 1]]
            .windows(2)
            .all(|w| w[0] < w[1])
    });
    let (indptr, indices, values) = if canonical {
        let (mut idx, mut val) = (idx, val);
        idx.truncate(nnz);
        val.truncate(nnz);
        (indptr, idx, val)
    } else {
        let mut out_ptr = Vec::with_capacity(m + 1);
        out_ptr.push(0usize);
        let mut out_idx = Vec::with_capacity(nnz);
        let mut out_val = Vec::with_capacity(nnz);
        let mut row: Vec<(u32, f32)> = Vec::new();
        for r in 0..m {
            row.clear();
            for p in indptr[r]..indptr[r + 1] {
                row.push((idx[p], val[p]));
            }
            row.sort_by_key(|e| e.0);
            let mut last = u32::MAX;
            for &(i, v) in &row {
                if i == last {
                    *out_val.last_mut().expect("a previous entry") += v;
                } else {
                    out_idx.push(i);
                    out_val.push(v);
                    last = i;
                }
            }
            out_ptr.push(out_idx.len());
        }
        (out_ptr, out_idx, out_val)
    };
    SparseMatrix::try_new((m, n), indptr, indices, values)
        .map_err(|(_, _, _, e)| PyValueError::new_err(format!("invalid CSR matrix: {e}")))
}

/// A 2-D float32 array as core factors (one copy).
pub fn factors_from(a: &PyReadonlyArray2<'_, f32>) -> Factors {
    let shape = a.shape();
    let data: Vec<f32> = match a.as_slice() {
        Ok(s) => s.to_vec(),
        Err(_) => a.as_array().iter().copied().collect(),
    };
    Factors::from_vec(shape[0], shape[1], data).expect("shape matches data")
}

/// A rayon pool of `threads` workers (0: all cores), built once per count.
pub fn pool(threads: usize) -> PyResult<Arc<rayon::ThreadPool>> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let pools = POOLS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut g = pools.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = g.get(&threads) {
        return Ok(p.clone());
    }
    let mut b = rayon::ThreadPoolBuilder::new();
    if threads > 0 {
        b = b.num_threads(threads);
    }
    let p = Arc::new(
        b.build()
            .map_err(|e| PyRuntimeError::new_err(format!("thread pool: {e}")))?,
    );
    g.insert(threads, p.clone());
    Ok(p)
}

/// Run `f` without the GIL on a worker thread while this thread watches for
/// signals: on Ctrl-C the `stop` flag is raised (the fit stops after its
/// current iteration) and, once `f` returned, the `KeyboardInterrupt` is
/// raised instead of its result.
pub fn run_interruptible<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce(&AtomicBool) -> T + Send,
{
    let stop = AtomicBool::new(false);
    let mut interrupt: Option<PyErr> = None;
    let out = py.detach(|| {
        std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let stop = &stop;
            let h = s.spawn(move || {
                let r = f(stop);
                let _ = tx.send(());
                r
            });
            loop {
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        if interrupt.is_none() {
                            if let Err(e) = Python::attach(|py| py.check_signals()) {
                                interrupt = Some(e);
                                stop.store(true, Ordering::SeqCst);
                            }
                        }
                    }
                }
            }
            h.join()
        })
    });
    if let Some(e) = interrupt {
        return Err(e);
    }
    out.map_err(|_| PyRuntimeError::new_err("ials worker thread panicked"))
}
