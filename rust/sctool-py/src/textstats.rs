//! Binding of `sctool_core::textstats`: per-document statistics as numpy arrays.

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;
use rayon::prelude::*;
use sctool_core::textstats::{comments, html, StatsConfig, StatsKernel};

use crate::arrow_input::TextColumn;
use crate::detach;
use crate::errors::{to_py, InvalidInputError};

/// text_stats(column, generated_markers=[], marker_lines=5, marker_max_bytes=4096, xml_prefix_chars=100, threads=0)
/// -> (uint64 (n, 5): [valid, n_bytes, n_chars, n_lines, max_line_length],
///     float64 (n, 4): [avg_line_length, alphanum_fraction, alpha_fraction, whitespace_fraction],
///     int32 (n, 2): [xml_header, generated_marker index or -1])
#[pyfunction]
#[pyo3(signature = (column, generated_markers = Vec::new(), marker_lines = 5, marker_max_bytes = 4096,
                    xml_prefix_chars = 100, threads = 0))]
#[allow(clippy::type_complexity)]
fn text_stats<'py>(
    py: Python<'py>,
    column: &Bound<'py, PyAny>,
    generated_markers: Vec<String>,
    marker_lines: usize,
    marker_max_bytes: usize,
    xml_prefix_chars: usize,
    threads: usize,
) -> PyResult<(Bound<'py, PyArray2<u64>>, Bound<'py, PyArray2<f64>>, Bound<'py, PyArray2<i32>>)> {
    let kernel = StatsKernel::new(StatsConfig { generated_markers, marker_lines, marker_max_bytes, xml_prefix_chars })
        .map_err(to_py)?;
    let col = TextColumn::from_py(column)?;
    let docs = col.strs();
    let stats = detach::run(py, threads, || kernel.compute_batch(&docs))?;
    let n = stats.len();
    let mut ints = Vec::with_capacity(n * 5);
    let mut floats = Vec::with_capacity(n * 4);
    let mut flags = Vec::with_capacity(n * 2);
    for s in &stats {
        if let Some(s) = s {
            ints.extend([1, s.n_bytes, s.n_chars, s.n_lines, s.max_line_length]);
            floats.extend([s.avg_line_length, s.alphanum_fraction, s.alpha_fraction, s.whitespace_fraction]);
            flags.extend([i32::from(s.xml_header), s.generated_marker.map_or(-1, |m| m as i32)]);
        } else {
            ints.extend([0; 5]);
            floats.extend([0.0; 4]);
            flags.extend([0, -1]);
        }
    }
    Ok((
        ints.into_pyarray(py).reshape([n, 5])?,
        floats.into_pyarray(py).reshape([n, 4])?,
        flags.into_pyarray(py).reshape([n, 2])?,
    ))
}

/// html_visible_chars(column, threads=0) -> uint64 array of visible-text lengths (0 for null).
#[pyfunction]
#[pyo3(signature = (column, threads = 0))]
fn html_visible_chars<'py>(py: Python<'py>, column: &Bound<'py, PyAny>, threads: usize) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let col = TextColumn::from_py(column)?;
    let docs = col.strs();
    let out: Vec<u64> = detach::run(py, threads, || {
        docs.par_iter().with_min_len(16).map(|t| t.map_or(0, html::visible_text_chars)).collect()
    })?;
    Ok(out.into_pyarray(py))
}

/// comment_chars(column, syntax, threads=0) -> uint64 comment-character counts.
///
/// `syntax` is a uint8 array (one code per document): 0 none, 1 `#`, 2 C-like, 3 `--`, 4 markup.
#[pyfunction]
#[pyo3(signature = (column, syntax, threads = 0))]
fn comment_chars<'py>(
    py: Python<'py>,
    column: &Bound<'py, PyAny>,
    syntax: PyReadonlyArray1<'py, u8>,
    threads: usize,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let col = TextColumn::from_py(column)?;
    let docs = col.strs();
    let codes = syntax.as_slice()?.to_vec();
    if codes.len() != docs.len() {
        return Err(InvalidInputError::new_err(format!(
            "comment_chars: {} syntax codes for {} documents",
            codes.len(),
            docs.len()
        )));
    }
    let out: Vec<u64> = detach::run(py, threads, || {
        docs.par_iter()
            .zip(codes.par_iter())
            .with_min_len(16)
            .map(|(t, &c)| match (t, comments::Syntax::from_code(c)) {
                (Some(t), Some(s)) => comments::comment_chars(t, s),
                _ => 0,
            })
            .collect()
    })?;
    Ok(out.into_pyarray(py))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(text_stats, m)?)?;
    m.add_function(wrap_pyfunction!(html_visible_chars, m)?)?;
    m.add_function(wrap_pyfunction!(comment_chars, m)?)
}
