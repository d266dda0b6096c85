//! `ials._ials`: the compiled part of the `ials` Python package.

mod common;
mod compat;
mod native;
mod spark;

use pyo3::prelude::*;

#[pymodule]
fn _ials(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(compat::fit_csr, m)?)?;
    m.add_function(wrap_pyfunction!(compat::topk, m)?)?;
    m.add_function(wrap_pyfunction!(compat::solve_rows, m)?)?;
    m.add_class::<compat::FixedSide>()?;
    m.add_function(wrap_pyfunction!(compat::loss_parts, m)?)?;
    native::register(m)?;
    spark::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
