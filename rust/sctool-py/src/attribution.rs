//! Binding of `sctool_core::attribution`: building and probing the membership index.
//!
//! The index arrays live in a memory-mapped file on the Python side; they cross as read-only numpy
//! views, so a query touches only the pages it probes.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use sctool_core::attribution::{self as core, BloomParams, IndexView};

use crate::arrow_input::TextColumn;
use crate::detach;
use crate::errors::{to_py, InvalidInputError};

type U64s<'py> = Bound<'py, PyArray1<u64>>;
type U32s<'py> = Bound<'py, PyArray1<u32>>;

/// attribution_constants() -> dict with the normalisation name and the fingerprint seed.
#[pyfunction]
fn attribution_constants(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("normalisation", core::NORMALISATION)?;
    d.set_item("fingerprint", "xxh3_64")?;
    d.set_item("fingerprint_seed", core::FINGERPRINT_SEED)?;
    d.set_item("bloom", "blocked-512-v2")?;
    Ok(d)
}

/// attribution_build_pairs(column, first_doc, window, stride, threads=0) -> (fingerprints, docs)
#[pyfunction]
#[pyo3(signature = (column, first_doc, window, stride, threads = 0))]
fn attribution_build_pairs<'py>(
    py: Python<'py>,
    column: &Bound<'py, PyAny>,
    first_doc: u32,
    window: usize,
    stride: usize,
    threads: usize,
) -> PyResult<(U64s<'py>, U32s<'py>)> {
    let col = TextColumn::from_py(column)?;
    let texts = col.strs();
    let (f, d) = detach::run(py, threads, || core::build_pairs(&texts, first_doc, window, stride))?.map_err(to_py)?;
    Ok((f.into_pyarray(py), d.into_pyarray(py)))
}

/// attribution_finish_table(fps, docs, threads=0) -> (sorted fps, docs, distinct fingerprints)
#[pyfunction]
#[pyo3(signature = (fps, docs, threads = 0))]
fn attribution_finish_table<'py>(
    py: Python<'py>,
    fps: PyReadonlyArray1<'py, u64>,
    docs: PyReadonlyArray1<'py, u32>,
    threads: usize,
) -> PyResult<(U64s<'py>, U32s<'py>, u64)> {
    let (f, d) = (fps.as_slice()?, docs.as_slice()?);
    let (f, d, n) = detach::run(py, threads, || core::finish_table(f, d))?.map_err(to_py)?;
    Ok((f.into_pyarray(py), d.into_pyarray(py), n))
}

/// attribution_bloom_params(n, fpr) -> (blocks, k, expected_fpr)
#[pyfunction]
fn attribution_bloom_params(n: u64, fpr: f64) -> PyResult<(u64, u32, f64)> {
    let p = BloomParams::for_target(n, fpr).map_err(to_py)?;
    Ok((p.blocks, p.k, p.expected_fpr(n)))
}

/// attribution_expected_fpr(blocks, k, n) -> the filter's false-positive rate after n items.
#[pyfunction]
fn attribution_expected_fpr(blocks: u64, k: u32, n: u64) -> PyResult<f64> {
    let p = BloomParams { blocks, k };
    p.validate().map_err(to_py)?;
    Ok(p.expected_fpr(n))
}

/// attribution_bloom_build(sorted_fps, blocks, k, threads=0) -> filter words (repeats are ignored).
#[pyfunction]
#[pyo3(signature = (sorted_fps, blocks, k, threads = 0))]
fn attribution_bloom_build<'py>(
    py: Python<'py>,
    sorted_fps: PyReadonlyArray1<'py, u64>,
    blocks: u64,
    k: u32,
    threads: usize,
) -> PyResult<U64s<'py>> {
    let f = sorted_fps.as_slice()?;
    let p = BloomParams { blocks, k };
    let words = detach::run(py, threads, || p.build(&core::distinct_sorted(f)))?.map_err(to_py)?;
    Ok(words.into_pyarray(py))
}

fn view<'a>(
    words: &'a [u64],
    blocks: u64,
    k: u32,
    table_fps: &'a [u64],
    table_docs: &'a [u32],
    window: usize,
) -> PyResult<IndexView<'a>> {
    let v = IndexView { bloom: BloomParams { blocks, k }, words, table_fps, table_docs, window };
    v.validate().map_err(to_py)?;
    Ok(v)
}

/// attribution_query(column, words, blocks, k, table_fps, table_docs, window, threads=0) -> dict
///
/// Per text: `chars`, `bloom_hits`. Per hit window found in the table: `hit_text`, `hit_pos`,
/// `row_lo`, `row_hi` (the table rows holding its documents).
#[pyfunction]
#[pyo3(signature = (column, words, blocks, k, table_fps, table_docs, window, threads = 0))]
#[allow(clippy::too_many_arguments)]
fn attribution_query<'py>(
    py: Python<'py>,
    column: &Bound<'py, PyAny>,
    words: PyReadonlyArray1<'py, u64>,
    blocks: u64,
    k: u32,
    table_fps: PyReadonlyArray1<'py, u64>,
    table_docs: PyReadonlyArray1<'py, u32>,
    window: usize,
    threads: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let col = TextColumn::from_py(column)?;
    let texts = col.strs();
    let idx = view(words.as_slice()?, blocks, k, table_fps.as_slice()?, table_docs.as_slice()?, window)?;
    let res = detach::run(py, threads, || core::query_batch(&idx, &texts))?.map_err(to_py)?;
    let (mut chars, mut bloom) = (Vec::with_capacity(res.len()), Vec::with_capacity(res.len()));
    let (mut ht, mut hp, mut lo, mut hi) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, r) in res.iter().enumerate() {
        chars.push(r.chars);
        bloom.push(r.bloom_hits);
        for &(p, a, b) in &r.hits {
            ht.push(i as u32);
            hp.push(p);
            lo.push(a);
            hi.push(b);
        }
    }
    let d = PyDict::new(py);
    d.set_item("chars", chars.into_pyarray(py))?;
    d.set_item("bloom_hits", bloom.into_pyarray(py))?;
    d.set_item("hit_text", ht.into_pyarray(py))?;
    d.set_item("hit_pos", hp.into_pyarray(py))?;
    d.set_item("row_lo", lo.into_pyarray(py))?;
    d.set_item("row_hi", hi.into_pyarray(py))?;
    Ok(d)
}

/// attribution_attribute(column, words, blocks, k, table_fps, table_docs, window, top, max_docs, threads=0)
/// -> dict of arrays
///
/// Probe, summarise and count sources in one pass. Per text: `chars`, `covered`, `longest_chain`,
/// `chain_start`, `chain_end`, `bloom_hits`, `table_hits`, `common_windows`, `more_sources`; spans as
/// CSR (`span_ptr` with n + 1 entries, `span_start`, `span_end`: code-point offsets of the text) and
/// sources the same way (`src_ptr`, `src_doc`, `src_windows`, most windows first).
#[pyfunction]
#[pyo3(signature = (column, words, blocks, k, table_fps, table_docs, window, top, max_docs, threads = 0))]
#[allow(clippy::too_many_arguments)]
fn attribution_attribute<'py>(
    py: Python<'py>,
    column: &Bound<'py, PyAny>,
    words: PyReadonlyArray1<'py, u64>,
    blocks: u64,
    k: u32,
    table_fps: PyReadonlyArray1<'py, u64>,
    table_docs: PyReadonlyArray1<'py, u32>,
    window: usize,
    top: usize,
    max_docs: usize,
    threads: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let col = TextColumn::from_py(column)?;
    let texts = col.strs();
    let idx = view(words.as_slice()?, blocks, k, table_fps.as_slice()?, table_docs.as_slice()?, window)?;
    let res = detach::run(py, threads, || core::attribute_batch(&idx, &texts, top, max_docs))?.map_err(to_py)?;
    let n = res.len();
    let mut per: [Vec<u32>; 9] = std::array::from_fn(|_| Vec::with_capacity(n));
    let (mut span_ptr, mut span_start, mut span_end) = (Vec::with_capacity(n + 1), Vec::new(), Vec::new());
    let (mut src_ptr, mut src_doc, mut src_windows) = (Vec::with_capacity(n + 1), Vec::new(), Vec::new());
    span_ptr.push(0u64);
    src_ptr.push(0u64);
    for r in &res {
        let s = &r.summary;
        let vals = [
            s.chars,
            s.covered,
            s.longest_chain,
            s.chain_span.0,
            s.chain_span.1,
            r.bloom_hits,
            r.table_hits,
            r.common_windows,
            r.more_sources,
        ];
        for (v, x) in per.iter_mut().zip(vals) {
            v.push(x);
        }
        for &(a, b) in &s.spans {
            span_start.push(a);
            span_end.push(b);
        }
        span_ptr.push(span_start.len() as u64);
        for &(d, c) in &r.sources {
            src_doc.push(d);
            src_windows.push(c);
        }
        src_ptr.push(src_doc.len() as u64);
    }
    let d = PyDict::new(py);
    let names = [
        "chars",
        "covered",
        "longest_chain",
        "chain_start",
        "chain_end",
        "bloom_hits",
        "table_hits",
        "common_windows",
        "more_sources",
    ];
    for (name, v) in names.into_iter().zip(per) {
        d.set_item(name, v.into_pyarray(py))?;
    }
    d.set_item("span_ptr", span_ptr.into_pyarray(py))?;
    d.set_item("span_start", span_start.into_pyarray(py))?;
    d.set_item("span_end", span_end.into_pyarray(py))?;
    d.set_item("src_ptr", src_ptr.into_pyarray(py))?;
    d.set_item("src_doc", src_doc.into_pyarray(py))?;
    d.set_item("src_windows", src_windows.into_pyarray(py))?;
    Ok(d)
}

/// attribution_bloom_contains(words, blocks, k, fps, threads=0) -> bool array
#[pyfunction]
#[pyo3(signature = (words, blocks, k, fps, threads = 0))]
fn attribution_bloom_contains<'py>(
    py: Python<'py>,
    words: PyReadonlyArray1<'py, u64>,
    blocks: u64,
    k: u32,
    fps: PyReadonlyArray1<'py, u64>,
    threads: usize,
) -> PyResult<Bound<'py, PyArray1<bool>>> {
    let idx = view(words.as_slice()?, blocks, k, &[], &[], 1)?;
    let f = fps.as_slice()?;
    let out = detach::run(py, threads, || core::bloom_contains_batch(&idx, f))?.map_err(to_py)?;
    Ok(out.into_pyarray(py))
}

/// attribution_summarise(texts, window, hit_text, hit_pos, threads=0) -> list of
/// (chars, covered, longest_chain, (chain_start, chain_end), [(start, end), ...]) per text.
#[pyfunction]
#[pyo3(signature = (texts, window, hit_text, hit_pos, threads = 0))]
#[allow(clippy::type_complexity)]
fn attribution_summarise<'py>(
    py: Python<'py>,
    texts: Vec<String>,
    window: usize,
    hit_text: PyReadonlyArray1<'py, u32>,
    hit_pos: PyReadonlyArray1<'py, u32>,
    threads: usize,
) -> PyResult<Vec<(u32, u32, u32, (u32, u32), Vec<(u32, u32)>)>> {
    let (t, p) = (hit_text.as_slice()?, hit_pos.as_slice()?);
    if t.len() != p.len() || t.iter().any(|&i| i as usize >= texts.len()) {
        return Err(InvalidInputError::new_err("hit_text/hit_pos differ in length or name a missing text"));
    }
    let mut per: Vec<Vec<u32>> = vec![Vec::new(); texts.len()];
    for (&i, &x) in t.iter().zip(p) {
        per[i as usize].push(x);
    }
    let res = detach::run(py, threads, || {
        use rayon::prelude::*;
        texts
            .par_iter()
            .zip(per.par_iter())
            .map(|(s, ps)| core::summarise(s, window, ps))
            .collect::<Result<Vec<_>, _>>()
    })?
    .map_err(to_py)?;
    Ok(res.into_iter().map(|s| (s.chars, s.covered, s.longest_chain, s.chain_span, s.spans)).collect())
}

/// attribution_verify(queries, docs, q, d, pos, window, stride, threads=0) -> bool array
#[pyfunction]
#[pyo3(signature = (queries, docs, q, d, pos, window, stride, threads = 0))]
#[allow(clippy::too_many_arguments)]
fn attribution_verify<'py>(
    py: Python<'py>,
    queries: Vec<String>,
    docs: Vec<String>,
    q: PyReadonlyArray1<'py, u32>,
    d: PyReadonlyArray1<'py, u32>,
    pos: PyReadonlyArray1<'py, u32>,
    window: usize,
    stride: usize,
    threads: usize,
) -> PyResult<Bound<'py, PyArray1<bool>>> {
    let (q, d, p) = (q.as_slice()?, d.as_slice()?, pos.as_slice()?);
    if q.len() != d.len() || q.len() != p.len() {
        return Err(InvalidInputError::new_err("q, d and pos differ in length"));
    }
    let pairs: Vec<(u32, u32, u32)> = q.iter().zip(d).zip(p).map(|((&a, &b), &c)| (a, b, c)).collect();
    let qs: Vec<&str> = queries.iter().map(String::as_str).collect();
    let ds: Vec<&str> = docs.iter().map(String::as_str).collect();
    let out = detach::run(py, threads, || core::verify_batch(&qs, &ds, &pairs, window, stride))?.map_err(to_py)?;
    Ok(out.into_pyarray(py))
}

/// attribution_checksum(bytes: numpy uint8 array) -> XXH3-64 of the bytes (integrity of index files).
#[pyfunction]
fn attribution_checksum(py: Python<'_>, data: PyReadonlyArray1<'_, u8>) -> PyResult<u64> {
    let b = data.as_slice()?;
    detach::run(py, 1, || core::checksum(b))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(attribution_constants, m)?)?;
    m.add_function(wrap_pyfunction!(attribution_build_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(attribution_finish_table, m)?)?;
    m.add_function(wrap_pyfunction!(attribution_bloom_params, m)?)?;
    m.add_function(wrap_pyfunction!(attribution_expected_fpr, m)?)?;
    m.add_function(wrap_pyfunction!(attribution_bloom_build, m)?)?;
    m.add_function(wrap_pyfunction!(attribution_query, m)?)?;
    m.add_function(wrap_pyfunction!(attribution_attribute, m)?)?;
    m.add_function(wrap_pyfunction!(attribution_bloom_contains, m)?)?;
    m.add_function(wrap_pyfunction!(attribution_summarise, m)?)?;
    m.add_function(wrap_pyfunction!(attribution_verify, m)?)?;
    m.add_function(wrap_pyfunction!(attribution_checksum, m)?)
}
