//! Binding of `sctool_core::hash`.

use numpy::{IntoPyArray, PyArray2, PyArrayMethods};
use pyo3::prelude::*;

use crate::arrow_input::TextColumn;
use crate::detach;

/// hash_content(column, threads=0) -> numpy uint64 array of shape (n, 3): [hi, lo, is_valid].
///
/// Columns hi/lo are the XXH3-128 digest's high and low 64 bits; is_valid is 0 for a null document.
#[pyfunction]
#[pyo3(signature = (column, threads = 0))]
fn hash_content<'py>(py: Python<'py>, column: &Bound<'py, PyAny>, threads: usize) -> PyResult<Bound<'py, PyArray2<u64>>> {
    let col = TextColumn::from_py(column)?;
    let docs = col.strs();
    let hashes = detach::run(py, threads, || sctool_core::hash::hash_batch(&docs))?;
    let mut flat = Vec::with_capacity(hashes.len() * 3);
    for h in &hashes {
        match h {
            Some(v) => flat.extend([(v >> 64) as u64, *v as u64, 1]),
            None => flat.extend([0, 0, 0]),
        }
    }
    let n = hashes.len();
    flat.into_pyarray(py).reshape([n, 3])
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(hash_content, m)?)
}
