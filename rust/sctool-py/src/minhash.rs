//! Binding of `sctool_core::minhash`: signatures, banding parameters, id ranking and the
//! out-of-core near-dedup engine.

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use sctool_core::minhash::{
    self, Engine, EngineConfig, MinHashParams, Permutations, ShingleHash, ShingleKind,
};

use crate::arrow_input::TextColumn;
use crate::detach;
use crate::errors::{to_py, ConfigError};

fn params(num_perm: usize, ngram: usize, seed: u64, shingle: &str, hash: &str) -> PyResult<MinHashParams> {
    let seed = u32::try_from(seed)
        .map_err(|_| ConfigError::new_err(format!("seed must be between 0 and 2**32 - 1, got {seed}")))?;
    let p = MinHashParams {
        num_perm,
        ngram,
        seed,
        shingle: ShingleKind::parse(shingle).map_err(to_py)?,
        hash: ShingleHash::parse(hash).map_err(to_py)?,
    };
    p.validate().map_err(to_py)?;
    Ok(p)
}

/// minhash_signatures(column, num_perm=256, ngram=5, seed=42, shingle="bigcode", hash="sha1", threads=0)
/// -> (uint32 array (n, num_perm), uint32 array (n,) of distinct shingle counts)
#[pyfunction]
#[pyo3(signature = (column, num_perm = 256, ngram = 5, seed = 42, shingle = "bigcode", hash = "sha1", threads = 0))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn minhash_signatures<'py>(
    py: Python<'py>,
    column: &Bound<'py, PyAny>,
    num_perm: usize,
    ngram: usize,
    seed: u64,
    shingle: &str,
    hash: &str,
    threads: usize,
) -> PyResult<(Bound<'py, PyArray2<u32>>, Bound<'py, PyArray1<u32>>)> {
    let p = params(num_perm, ngram, seed, shingle, hash)?;
    let col = TextColumn::from_py(column)?;
    let docs = col.strs();
    let out = detach::run(py, threads, || {
        let perms = Permutations::new(p.num_perm, p.seed);
        minhash::signatures(&docs, &p, &perms, false)
    })?
    .map_err(to_py)?;
    let n = docs.len();
    let sigs = out.sigs.into_pyarray(py).reshape([n, num_perm])?;
    Ok((sigs, out.shingle_counts.into_pyarray(py)))
}

/// minhash_permutations(num_perm, seed) -> (a, b) uint64 arrays, equal to datasketch's.
#[pyfunction]
fn minhash_permutations(py: Python<'_>, num_perm: usize, seed: u32) -> (Bound<'_, PyArray1<u64>>, Bound<'_, PyArray1<u64>>) {
    let p = Permutations::new(num_perm, seed);
    (p.a.into_pyarray(py), p.b.into_pyarray(py))
}

/// shingle_hashes(text, ngram=5, shingle="bigcode", hash="sha1") -> sorted distinct uint32 hashes.
#[pyfunction]
#[pyo3(signature = (text, ngram = 5, shingle = "bigcode", hash = "sha1"))]
fn shingle_hashes<'py>(py: Python<'py>, text: &str, ngram: usize, shingle: &str, hash: &str) -> PyResult<Bound<'py, PyArray1<u32>>> {
    let p = params(1, ngram, 0, shingle, hash)?;
    let mut scratch = minhash::shingle::ShingleScratch::default();
    let mut out = Vec::new();
    minhash::shingle::shingle_hashes(text, p.shingle, p.ngram, p.hash, &mut scratch, &mut out);
    Ok(out.into_pyarray(py))
}

/// lsh_optimal_param(threshold, num_perm) -> (bands, rows), as datasketch's MinHashLSH chooses.
#[pyfunction]
fn lsh_optimal_param(py: Python<'_>, threshold: f64, num_perm: usize) -> PyResult<(usize, usize)> {
    detach::run(py, 1, || minhash::optimal_param(threshold, num_perm))?.map_err(to_py)
}

/// rank_ids(column, threads=0) -> uint32 ranks of the ids in natural order (ties by position).
#[pyfunction]
#[pyo3(signature = (column, threads = 0))]
fn rank_ids<'py>(py: Python<'py>, column: &Bound<'py, PyAny>, threads: usize) -> PyResult<Bound<'py, PyArray1<u32>>> {
    let col = TextColumn::from_py(column)?;
    let ids = col.strs();
    let ranks = detach::run(py, threads, || minhash::rank_ids(&ids))?;
    Ok(ranks.into_pyarray(py))
}

/// components_min_root(n, a, b, threads=0) -> uint32 array: per node, the smallest node of its
/// connected component under the edges (a[i], b[i]) (the engine's union-find).
#[pyfunction]
#[pyo3(signature = (n, a, b, threads = 0))]
fn components_min_root<'py>(
    py: Python<'py>,
    n: usize,
    a: PyReadonlyArray1<'py, u32>,
    b: PyReadonlyArray1<'py, u32>,
    threads: usize,
) -> PyResult<Bound<'py, PyArray1<u32>>> {
    let (a, b) = (a.as_slice()?.to_vec(), b.as_slice()?.to_vec());
    let roots = detach::run(py, threads, || minhash::unionfind::components_min_root(n, &a, &b))?
        .map_err(ConfigError::new_err)?;
    Ok(roots.into_pyarray(py))
}

/// kernel_isa() -> the instruction set the signature kernel dispatches to on this CPU.
#[pyfunction]
fn minhash_kernel_isa() -> &'static str {
    minhash::signature::kernel_isa()
}

/// minhash_kernel() -> (name, how): the signature kernel this process uses and how it was chosen
/// ("calibrated" on first use, or "pinned" by SCTOOL_MINHASH_KERNEL).
#[pyfunction]
fn minhash_kernel(py: Python<'_>) -> (&'static str, &'static str) {
    py.detach(|| (minhash::signature::kernel_name(), minhash::signature::kernel_choice()))
}

/// minhash_kernels() -> names of every signature kernel this CPU can run.
#[pyfunction]
fn minhash_kernels() -> Vec<&'static str> {
    minhash::signature::kernels().into_iter().map(|(n, _)| n).collect()
}

/// minhash_signature_with_kernel(hashes, num_perm, seed, kernel) -> uint32 signature of one
/// document's shingle hashes computed by the named kernel (tests compare every kernel).
#[pyfunction]
fn minhash_signature_with_kernel<'py>(
    py: Python<'py>,
    hashes: PyReadonlyArray1<'py, u32>,
    num_perm: usize,
    seed: u32,
    kernel: &str,
) -> PyResult<Bound<'py, PyArray1<u32>>> {
    if num_perm == 0 {
        return Err(pyo3::exceptions::PyValueError::new_err("num_perm must be at least 1"));
    }
    let h = hashes.as_slice()?.to_vec();
    let perms = Permutations::new(num_perm, seed);
    let mut out = vec![minhash::signature::EMPTY_SLOT; num_perm];
    if !h.is_empty() && minhash::signature::signature_with_kernel(kernel, &h, &perms, &mut out).is_none() {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "no signature kernel {kernel:?} on this CPU"
        )));
    }
    Ok(out.into_pyarray(py))
}

/// The out-of-core near-dedup engine (see `sctool_core::minhash::engine`).
#[pyclass(module = "sctool._native")]
struct NearDupEngine {
    inner: Engine,
}

// PyO3 extracts arguments by value (numpy borrows, `&str`): passing them on by reference is moot.
#[allow(clippy::needless_pass_by_value)]
#[pymethods]
impl NearDupEngine {
    #[new]
    #[pyo3(signature = (work_dir, *, num_perm = 256, ngram = 5, seed = 42, shingle = "bigcode", hash = "sha1",
                        bands = 25, rows = 10, verify = false, threshold = 0.7,
                        memory_budget = 1usize << 30, partitions = 64))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        work_dir: std::path::PathBuf,
        num_perm: usize,
        ngram: usize,
        seed: u64,
        shingle: &str,
        hash: &str,
        bands: usize,
        rows: usize,
        verify: bool,
        threshold: f64,
        memory_budget: usize,
        partitions: usize,
    ) -> PyResult<Self> {
        let cfg = EngineConfig {
            params: params(num_perm, ngram, seed, shingle, hash)?,
            bands,
            rows,
            verify,
            threshold,
            memory_budget,
            partitions,
        };
        Ok(NearDupEngine {
            inner: Engine::new(cfg, work_dir).map_err(to_py)?,
        })
    }

    /// Add a batch of documents; they take the next positions.
    #[pyo3(signature = (column, threads = 0))]
    fn add_batch(&mut self, py: Python<'_>, column: &Bound<'_, PyAny>, threads: usize) -> PyResult<()> {
        let col = TextColumn::from_py(column)?;
        let docs = col.strs();
        let engine = &mut self.inner;
        detach::run(py, threads, || engine.add_batch(&docs))?.map_err(to_py)
    }

    /// Cluster; `ranks[pos]` is each document's place in stable-id order. Returns root positions.
    #[pyo3(signature = (ranks, threads = 0))]
    fn cluster<'py>(&mut self, py: Python<'py>, ranks: PyReadonlyArray1<'py, u32>, threads: usize) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let ranks = ranks.as_slice()?.to_vec();
        let engine = &mut self.inner;
        let roots = detach::run(py, threads, || engine.cluster(&ranks))?.map_err(to_py)?;
        Ok(roots.into_pyarray(py))
    }

    /// MinHash-estimated Jaccard of the position pairs `(a[i], b[i])`.
    #[pyo3(signature = (a, b, threads = 0))]
    fn estimate_pairs<'py>(
        &mut self,
        py: Python<'py>,
        a: PyReadonlyArray1<'py, u32>,
        b: PyReadonlyArray1<'py, u32>,
        threads: usize,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let (a, b) = (a.as_slice()?.to_vec(), b.as_slice()?.to_vec());
        let engine = &mut self.inner;
        let est = detach::run(py, threads, || engine.estimate_pairs(&a, &b))?.map_err(to_py)?;
        Ok(est.into_pyarray(py))
    }

    /// Distinct shingles of each document added (0 = null or too short, never clustered).
    fn shingle_counts<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u32>> {
        self.inner.shingle_counts().to_vec().into_pyarray(py)
    }

    /// Counters of the run so far (documents, spills, partition files, candidate pairs, …).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("documents", s.documents)?;
        d.set_item("empty_documents", s.empty_documents)?;
        d.set_item("band_records", s.band_records)?;
        d.set_item("spill_flushes", s.spill_flushes)?;
        d.set_item("bytes_spilled", s.bytes_spilled)?;
        d.set_item("partition_files", s.partition_files)?;
        d.set_item("partition_splits", s.partition_splits)?;
        d.set_item("candidate_groups", s.candidate_groups)?;
        d.set_item("candidate_pairs", s.candidate_pairs)?;
        d.set_item("verified_pairs", s.verified_pairs)?;
        d.set_item("rejected_pairs", s.rejected_pairs)?;
        d.set_item("signature_kernel", minhash::signature::kernel_name())?;
        Ok(d)
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(minhash_signatures, m)?)?;
    m.add_function(wrap_pyfunction!(minhash_permutations, m)?)?;
    m.add_function(wrap_pyfunction!(shingle_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(lsh_optimal_param, m)?)?;
    m.add_function(wrap_pyfunction!(rank_ids, m)?)?;
    m.add_function(wrap_pyfunction!(components_min_root, m)?)?;
    m.add_function(wrap_pyfunction!(minhash_kernel_isa, m)?)?;
    m.add_function(wrap_pyfunction!(minhash_kernel, m)?)?;
    m.add_function(wrap_pyfunction!(minhash_kernels, m)?)?;
    m.add_function(wrap_pyfunction!(minhash_signature_with_kernel, m)?)?;
    m.add_class::<NearDupEngine>()?;
    Ok(())
}
