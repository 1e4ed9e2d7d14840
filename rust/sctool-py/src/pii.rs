//! Binding of `sctool_core::pii`: detection returns flat numpy arrays (one row per span), redaction
//! returns the texts as one UTF-8 buffer plus Arrow-style offsets, so nothing is materialised per
//! span or per document as a Python object.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rayon::prelude::*;
use sctool_core::pii::redact::{redact, RedactOptions};
use sctool_core::pii::{detect_batch_without_ids, PiiSpan, PiiType, RULES};
use sctool_core::CoreError;

use crate::arrow_input::TextColumn;
use crate::detach;
use crate::errors::to_py;

type SpanArrays<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<u8>>,
    Bound<'py, PyArray1<u16>>,
);

/// pii_rules() -> list of (id, type, description, keywords, kind) in priority order.
#[pyfunction]
fn pii_rules() -> Vec<(String, String, String, Vec<String>, String)> {
    RULES
        .iter()
        .map(|r| {
            let kind = match r.matcher {
                sctool_core::pii::Matcher::Regex { .. } => "regex",
                sctool_core::pii::Matcher::Custom(_) => "custom",
                sctool_core::pii::Matcher::Companion => "companion",
            };
            (
                r.id.to_string(),
                r.kind.as_str().to_string(),
                r.description.to_string(),
                r.keywords.iter().map(|k| (*k).to_string()).collect(),
                kind.to_string(),
            )
        })
        .collect()
}

/// pii_types() -> the type labels, indexed by the type codes the other functions return.
#[pyfunction]
fn pii_types() -> Vec<&'static str> {
    PiiType::ALL.iter().map(|t| t.as_str()).collect()
}

/// pii_detect(column, threads=0, disabled=[]) -> (doc, start, end, type, rule) numpy arrays, one row
/// per span, grouped by document and sorted by start; offsets are code points. `disabled` switches
/// rules off by id (leave-one-family-out measurements).
#[pyfunction]
#[pyo3(signature = (column, threads = 0, disabled = Vec::new()))]
fn pii_detect<'py>(py: Python<'py>, column: &Bound<'py, PyAny>, threads: usize, disabled: Vec<String>) -> PyResult<SpanArrays<'py>> {
    let col = TextColumn::from_py(column)?;
    let docs = col.strs();
    let spans = detach::run(py, threads, || detect_batch_without_ids(&docs, &disabled))?.map_err(to_py)?;
    let total: usize = spans.iter().map(Vec::len).sum();
    let mut docs_out = Vec::with_capacity(total);
    let mut starts = Vec::with_capacity(total);
    let mut ends = Vec::with_capacity(total);
    let mut kinds = Vec::with_capacity(total);
    let mut rules = Vec::with_capacity(total);
    for (i, doc) in spans.iter().enumerate() {
        for sp in doc {
            docs_out.push(i as i64);
            starts.push(sp.start as i64);
            ends.push(sp.end as i64);
            kinds.push(sp.kind as u8);
            rules.push(sp.rule);
        }
    }
    Ok((
        docs_out.into_pyarray(py),
        starts.into_pyarray(py),
        ends.into_pyarray(py),
        kinds.into_pyarray(py),
        rules.into_pyarray(py),
    ))
}

fn type_mask(types: &[String]) -> Result<u8, CoreError> {
    types.iter().try_fold(0u8, |m, t| Ok(m | PiiType::parse(t)?.bit()))
}

/// pii_redact(column, doc, start, end, type, types, seed=0, threads=0) -> (utf8 bytes, int64 offsets (n+1), bool valid)
///
/// Replaces the given spans (code points; sorted by start within each document) whose type is in
/// `types`. Spans may come from `pii_detect` or be merged with a model's.
#[pyfunction]
#[pyo3(signature = (column, doc, start, end, kind, types, seed = 0, threads = 0))]
// PyO3 extracts numpy views by value; they are only borrowed here.
#[allow(clippy::too_many_arguments, clippy::type_complexity, clippy::needless_pass_by_value)]
fn pii_redact<'py>(
    py: Python<'py>,
    column: &Bound<'py, PyAny>,
    doc: PyReadonlyArray1<'py, i64>,
    start: PyReadonlyArray1<'py, i64>,
    end: PyReadonlyArray1<'py, i64>,
    kind: PyReadonlyArray1<'py, u8>,
    types: Vec<String>,
    seed: u64,
    threads: usize,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<bool>>)> {
    let mask = type_mask(&types).map_err(to_py)?;
    let col = TextColumn::from_py(column)?;
    let docs = col.strs();
    let (doc, start, end, kind) = (doc.as_slice()?, start.as_slice()?, end.as_slice()?, kind.as_slice()?);
    let n = docs.len();
    if start.len() != doc.len() || end.len() != doc.len() || kind.len() != doc.len() {
        return Err(to_py(CoreError::InvalidInput("span arrays differ in length".into())));
    }
    // Group spans by document (they arrive grouped; verify rather than trust).
    let mut per_doc: Vec<Vec<PiiSpan>> = vec![Vec::new(); n];
    for i in 0..doc.len() {
        let di = usize::try_from(doc[i]).ok().filter(|&d| d < n).ok_or_else(|| {
            to_py(CoreError::InvalidInput(format!("span {i} refers to document {} of {n}", doc[i])))
        })?;
        let k = *PiiType::ALL.get(kind[i] as usize).ok_or_else(|| {
            to_py(CoreError::InvalidInput(format!("span {i} has unknown type code {}", kind[i])))
        })?;
        if start[i] < 0 || end[i] < start[i] {
            return Err(to_py(CoreError::InvalidInput(format!("span {i} has bad bounds {}..{}", start[i], end[i]))));
        }
        per_doc[di].push(PiiSpan { start: start[i] as usize, end: end[i] as usize, kind: k, rule: 0 });
    }
    let opts = RedactOptions { types: mask, seed };
    let out: Vec<Option<String>> = detach::run(py, threads, || {
        docs.par_iter()
            .zip(per_doc.par_iter_mut())
            .with_min_len(8)
            .map(|(t, spans)| {
                t.map(|t| {
                    spans.sort_by_key(|s| (s.start, s.end));
                    redact(t, spans, opts)
                })
            })
            .collect()
    })?;
    let total: usize = out.iter().map(|o| o.as_ref().map_or(0, String::len)).sum();
    let mut data = Vec::with_capacity(total);
    let mut offsets = Vec::with_capacity(n + 1);
    let mut valid = Vec::with_capacity(n);
    offsets.push(0i64);
    for o in &out {
        if let Some(s) = o {
            data.extend_from_slice(s.as_bytes());
        }
        valid.push(o.is_some());
        offsets.push(data.len() as i64);
    }
    Ok((PyBytes::new(py, &data), offsets.into_pyarray(py), valid.into_pyarray(py)))
}

/// pii_synthetic_ip(value, seed=0) -> the replacement redaction uses for an IP address.
#[pyfunction]
#[pyo3(signature = (value, seed = 0))]
fn pii_synthetic_ip(value: &str, seed: u64) -> String {
    sctool_core::pii::redact::synthetic_ip(value, seed)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(pii_rules, m)?)?;
    m.add_function(wrap_pyfunction!(pii_types, m)?)?;
    m.add_function(wrap_pyfunction!(pii_detect, m)?)?;
    m.add_function(wrap_pyfunction!(pii_redact, m)?)?;
    m.add_function(wrap_pyfunction!(pii_synthetic_ip, m)?)?;
    Ok(())
}
