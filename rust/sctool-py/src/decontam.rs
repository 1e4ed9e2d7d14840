//! Binding of `sctool_core::decontam`: the benchmark index as a Python object.

use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Arc;

use pyo3::types::PyBytes;
use sctool_core::decontam::idf::{IdfBuilder, IdfTable};
use sctool_core::decontam::{Channel, DecontamIndex, Hit, Method, NormalisedConfig, Piece};

use crate::arrow_input::TextColumn;
use crate::detach;
use crate::errors::{to_py, ConfigError};

/// An immutable index of benchmark strings; build once, scan many batches.
#[pyclass(module = "sctool._native", name = "DecontamIndex", frozen)]
struct PyDecontamIndex {
    inner: DecontamIndex,
}

#[pymethods]
impl PyDecontamIndex {
    /// DecontamIndex(exact, pieces, *, prose_ngram=8, code_ngram=12, threshold=0.5, min_ngrams=3,
    ///               max_items_per_ngram=4, min_matched=12, decode=True, idf=None,
    ///               min_weight=0.05, threads=0)
    ///
    /// `exact`: list of (item, pattern); `pieces`: list of (item, channel, text) with channel
    /// "prose", "code" or "signature" (a function used only for signature anchors); `idf`: the bytes of an IDF table (see `IdfBuilder`), or None.
    #[new]
    #[pyo3(signature = (exact, pieces, *, prose_ngram = 8, code_ngram = 12, threshold = 0.5, min_ngrams = 3,
                        max_items_per_ngram = 4, min_matched = 12, decode = true, idf = None,
                        min_weight = 0.05, threads = 0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        exact: Vec<(u32, String)>,
        pieces: Vec<(u32, String, String)>,
        prose_ngram: usize,
        code_ngram: usize,
        threshold: f64,
        min_ngrams: usize,
        max_items_per_ngram: usize,
        min_matched: usize,
        decode: bool,
        idf: Option<&[u8]>,
        min_weight: f64,
        threads: usize,
    ) -> PyResult<Self> {
        let mut ps = Vec::with_capacity(pieces.len());
        for (item, channel, text) in &pieces {
            let channel = match channel.as_str() {
                "prose" => Channel::Prose,
                "code" => Channel::Code,
                "signature" => Channel::Signature,
                other => {
                    return Err(ConfigError::new_err(format!(
                        "unknown piece channel {other:?} (prose, code or signature)"
                    )))
                }
            };
            ps.push(Piece {
                item: *item,
                channel,
                text: text.as_str(),
            });
        }
        let ex: Vec<(u32, &str)> = exact.iter().map(|(i, p)| (*i, p.as_str())).collect();
        let idf = match idf {
            Some(b) => Some(Arc::new(IdfTable::from_bytes(b).map_err(to_py)?)),
            None => None,
        };
        let cfg = NormalisedConfig {
            prose_ngram,
            code_ngram,
            threshold,
            min_ngrams,
            max_items_per_ngram,
            min_matched,
            decode,
            idf,
            min_weight,
        };
        let inner =
            detach::run(py, threads, || DecontamIndex::build(&ex, &ps, cfg))?.map_err(to_py)?;
        Ok(PyDecontamIndex { inner })
    }

    /// scan(column, threads=0) -> (doc, item, method, source, score, view) arrays, one entry per hit.
    ///
    /// method: 0 exact, 1 normalised, 2 signature; source: the pattern (exact) or piece index.
    #[pyo3(signature = (column, threads = 0))]
    #[allow(clippy::type_complexity)]
    fn scan<'py>(
        &self,
        py: Python<'py>,
        column: &Bound<'py, PyAny>,
        threads: usize,
    ) -> PyResult<(
        Bound<'py, PyArray1<u32>>,
        Bound<'py, PyArray1<u32>>,
        Bound<'py, PyArray1<u8>>,
        Bound<'py, PyArray1<u32>>,
        Bound<'py, PyArray1<f32>>,
        Bound<'py, PyArray1<u16>>,
    )> {
        let col = TextColumn::from_py(column)?;
        let docs = col.strs();
        let results = detach::run(py, threads, || self.inner.scan_batch(&docs))?;
        let (mut d, mut it, mut me, mut so, mut sc) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut vw: Vec<u16> = Vec::new();
        for (i, hits) in results.iter().enumerate() {
            for h in hits.iter().flatten() {
                d.push(i as u32);
                it.push(h.item);
                me.push(match h.method {
                    Method::Exact => 0,
                    Method::Normalised => 1,
                    Method::Signature => 2,
                });
                so.push(h.source);
                sc.push(h.score);
                vw.push(h.view);
            }
        }
        Ok((
            d.into_pyarray(py),
            it.into_pyarray(py),
            me.into_pyarray(py),
            so.into_pyarray(py),
            sc.into_pyarray(py),
            vw.into_pyarray(py),
        ))
    }

    /// views(text) -> [(path, text, [(view_start, doc_start, doc_end), ...])]: the decoded views the
    /// scan matches besides the document (hit view k is element k - 1); path names the decoders.
    #[allow(clippy::type_complexity)]
    fn views(&self, text: &str) -> Vec<(String, String, Vec<(u32, u32, u32)>)> {
        self.inner
            .views(text)
            .into_iter()
            .map(|v| {
                let path = v
                    .path
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join("/");
                let segs = v
                    .segments
                    .iter()
                    .map(|g| (g.view_start, g.doc_start, g.doc_end))
                    .collect();
                (path, v.text, segs)
            })
            .collect()
    }

    /// locate(text, hits) -> [(view_path, doc_start, doc_end, excerpt)]: where each hit of `text`
    /// (item, method 0/1/2, source, view, as `scan` returned them) lies; offsets are UTF-8 bytes.
    fn locate(
        &self,
        py: Python<'_>,
        text: &str,
        hits: Vec<(u32, u8, u32, u16)>,
    ) -> PyResult<Vec<(String, usize, usize, String)>> {
        detach::run(py, 1, || {
            let views = self.inner.views_fine(text);
            hits.iter()
                .map(|&(item, method, source, view)| {
                    let method = match method {
                        0 => Method::Exact,
                        1 => Method::Normalised,
                        _ => Method::Signature,
                    };
                    let at = self.inner.locate(
                        text,
                        &views,
                        &Hit {
                            item,
                            method,
                            source,
                            score: 0.0,
                            view,
                        },
                    );
                    (at.view_path, at.doc_start, at.doc_end, at.excerpt)
                })
                .collect()
        })
    }

    /// Item of each piece and its number of indexed n-grams (0 = too short to be used).
    fn piece_ngrams<'py>(
        &self,
        py: Python<'py>,
    ) -> (Bound<'py, PyArray1<u32>>, Bound<'py, PyArray1<u32>>) {
        let p = self.inner.pieces();
        (
            p.iter()
                .map(|x| x.item)
                .collect::<Vec<_>>()
                .into_pyarray(py),
            p.iter()
                .map(|x| x.ngrams)
                .collect::<Vec<_>>()
                .into_pyarray(py),
        )
    }

    /// Item of each exact pattern that was kept (empty patterns are dropped).
    fn exact_items<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u32>> {
        self.inner.exact_items().to_vec().into_pyarray(py)
    }

    /// Counts describing the index, for the manifest.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("exact_patterns", s.exact_patterns)?;
        d.set_item("exact_patterns_empty", s.exact_patterns_empty)?;
        d.set_item("pieces", s.pieces)?;
        d.set_item("pieces_too_short", s.pieces_too_short)?;
        d.set_item("prose_ngrams", s.prose_ngrams)?;
        d.set_item("code_ngrams", s.code_ngrams)?;
        d.set_item("ngrams_dropped_common", s.ngrams_dropped_common)?;
        d.set_item("ngrams_dropped_idiom", s.ngrams_dropped_idiom)?;
        d.set_item("exact_patterns_idiom", s.exact_patterns_idiom)?;
        d.set_item("anchors", s.anchors)?;
        d.set_item("anchors_dropped", s.anchors_dropped)?;
        Ok(d)
    }
}

/// Counts, over a corpus of real code, in how many files each n-gram occurs.
#[pyclass(module = "sctool._native", name = "IdfBuilder")]
struct PyIdfBuilder {
    inner: IdfBuilder,
}

#[pymethods]
impl PyIdfBuilder {
    #[new]
    #[pyo3(signature = (code_ngram = 12, prose_ngram = 8))]
    fn new(code_ngram: usize, prose_ngram: usize) -> PyResult<Self> {
        Ok(PyIdfBuilder {
            inner: IdfBuilder::new(code_ngram, prose_ngram).map_err(to_py)?,
        })
    }

    /// add(column, threads=0): count one batch of documents (nulls are skipped).
    #[pyo3(signature = (column, threads = 0))]
    fn add(&mut self, py: Python<'_>, column: &Bound<'_, PyAny>, threads: usize) -> PyResult<()> {
        let col = TextColumn::from_py(column)?;
        let docs = col.strs();
        let inner = &mut self.inner;
        detach::run(py, threads, || inner.add(&docs))
    }

    #[getter]
    fn files(&self) -> u64 {
        self.inner.files()
    }

    /// finish(rare_df=2) -> bytes: the table of n-grams seen in more than `rare_df` files.
    #[pyo3(signature = (rare_df = 2))]
    fn finish<'py>(&self, py: Python<'py>, rare_df: u32) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.finish(rare_df).to_bytes())
    }
}

/// idf_info(table_bytes) -> dict: the header and size of an IDF table; ConfigError if malformed.
#[pyfunction]
fn idf_info<'py>(py: Python<'py>, table: &[u8]) -> PyResult<Bound<'py, PyDict>> {
    let t = IdfTable::from_bytes(table).map_err(to_py)?;
    let d = PyDict::new(py);
    d.set_item("code_ngram", t.code_ngram)?;
    d.set_item("prose_ngram", t.prose_ngram)?;
    d.set_item("files", t.files)?;
    d.set_item("rare_df", t.rare_df)?;
    d.set_item("code_entries", t.len().0)?;
    d.set_item("prose_entries", t.len().1)?;
    d.set_item("def_entries", t.defs_len())?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDecontamIndex>()?;
    m.add_class::<PyIdfBuilder>()?;
    m.add_function(wrap_pyfunction!(idf_info, m)?)
}
