//! Binding of `sctool_core::decontam`: the benchmark index as a Python object.

use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use sctool_core::decontam::{Channel, DecontamIndex, Method, NormalisedConfig, Piece};

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
    /// DecontamIndex(exact, pieces, *, prose_ngram=8, code_ngram=12, threshold=0.5, min_ngrams=5,
    ///               max_items_per_ngram=4, min_matched=12, decode=True, threads=0)
    ///
    /// `exact`: list of (item, pattern); `pieces`: list of (item, channel, text) with channel
    /// "prose" or "code".
    #[new]
    #[pyo3(signature = (exact, pieces, *, prose_ngram = 8, code_ngram = 12, threshold = 0.5, min_ngrams = 5,
                        max_items_per_ngram = 4, min_matched = 12, decode = true, threads = 0))]
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
        threads: usize,
    ) -> PyResult<Self> {
        let mut ps = Vec::with_capacity(pieces.len());
        for (item, channel, text) in &pieces {
            let channel = match channel.as_str() {
                "prose" => Channel::Prose,
                "code" => Channel::Code,
                other => return Err(ConfigError::new_err(format!("unknown piece channel {other:?} (prose or code)"))),
            };
            ps.push(Piece { item: *item, channel, text: text.as_str() });
        }
        let ex: Vec<(u32, &str)> = exact.iter().map(|(i, p)| (*i, p.as_str())).collect();
        let cfg = NormalisedConfig { prose_ngram, code_ngram, threshold, min_ngrams, max_items_per_ngram, min_matched, decode };
        let inner = detach::run(py, threads, || DecontamIndex::build(&ex, &ps, cfg))?.map_err(to_py)?;
        Ok(PyDecontamIndex { inner })
    }

    /// scan(column, threads=0) -> (doc, item, method, source, score, view) arrays, one entry per hit.
    ///
    /// method: 0 exact, 1 normalised; source: the pattern (exact) or piece (normalised) index.
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
        let (mut d, mut it, mut me, mut so, mut sc) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut vw: Vec<u16> = Vec::new();
        for (i, hits) in results.iter().enumerate() {
            for h in hits.iter().flatten() {
                d.push(i as u32);
                it.push(h.item);
                me.push(u8::from(h.method == Method::Normalised));
                so.push(h.source);
                sc.push(h.score);
                vw.push(h.view);
            }
        }
        Ok((d.into_pyarray(py), it.into_pyarray(py), me.into_pyarray(py), so.into_pyarray(py), sc.into_pyarray(py), vw.into_pyarray(py)))
    }

    /// views(text) -> [(path, text, [(view_start, doc_start, doc_end), ...])]: the decoded views the
    /// scan matches besides the document (hit view k is element k - 1); path names the decoders.
    fn views(&self, text: &str) -> Vec<(String, String, Vec<(u32, u32, u32)>)> {
        self.inner
            .views(text)
            .into_iter()
            .map(|v| {
                let path = v.path.iter().map(|k| k.name()).collect::<Vec<_>>().join("/");
                let segs = v.segments.iter().map(|g| (g.view_start, g.doc_start, g.doc_end)).collect();
                (path, v.text, segs)
            })
            .collect()
    }

    /// Item of each piece and its number of indexed n-grams (0 = too short to be used).
    fn piece_ngrams<'py>(&self, py: Python<'py>) -> (Bound<'py, PyArray1<u32>>, Bound<'py, PyArray1<u32>>) {
        let p = self.inner.pieces();
        (
            p.iter().map(|x| x.item).collect::<Vec<_>>().into_pyarray(py),
            p.iter().map(|x| x.ngrams).collect::<Vec<_>>().into_pyarray(py),
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
        Ok(d)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDecontamIndex>()
}
