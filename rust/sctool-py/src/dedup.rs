//! Binding of the near-dedup steps after the signatures (`sctool_core::minhash::{lsh, engine,
//! unionfind}`): band keys, the in-process band shuffle, candidate edges and components. Python's
//! `sctool.dedup.steps` chains them; every executor calls the same functions.

use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use sctool_core::minhash::engine::{self, BandShuffle as CoreShuffle, ShingleFile};
use sctool_core::minhash::unionfind::Components as CoreComponents;
use sctool_core::minhash;

use crate::detach;
use crate::errors::to_py;

type U64Pair<'py> = (Bound<'py, PyArray1<u64>>, Bound<'py, PyArray1<u64>>);
type Edges<'py> = (u64, Bound<'py, PyArray1<u64>>, Bound<'py, PyArray1<u64>>);

/// lsh_band_records(sigs, counts, bands, rows, base=0, threads=0) -> (keys uint64, nodes uint64):
/// one record per band of every document with shingles; node = base + row in the batch.
#[pyfunction]
#[pyo3(signature = (sigs, counts, bands, rows, base = 0, threads = 0))]
fn lsh_band_records<'py>(
    py: Python<'py>,
    sigs: PyReadonlyArray2<'py, u32>,
    counts: PyReadonlyArray1<'py, u32>,
    bands: usize,
    rows: usize,
    base: u64,
    threads: usize,
) -> PyResult<U64Pair<'py>> {
    let num_perm = sigs.shape()[1];
    let (s, c) = (sigs.as_slice()?, counts.as_slice()?);
    let (keys, nodes) =
        detach::run(py, threads, || minhash::band_records(s, c, num_perm, bands, rows, base))?.map_err(to_py)?;
    Ok((keys.into_pyarray(py), nodes.into_pyarray(py)))
}

/// lsh_partition_edges(keys, nodes, threads=0) -> (groups, a uint64, b uint64): star edges of every
/// group of equal keys (smallest node to each other member).
#[pyfunction]
#[pyo3(signature = (keys, nodes, threads = 0))]
fn lsh_partition_edges<'py>(
    py: Python<'py>,
    keys: PyReadonlyArray1<'py, u64>,
    nodes: PyReadonlyArray1<'py, u64>,
    threads: usize,
) -> PyResult<Edges<'py>> {
    let (k, n) = (keys.as_slice()?, nodes.as_slice()?);
    let e = detach::run(py, threads, || engine::partition_edges(k, n))?.map_err(to_py)?;
    Ok((e.groups, e.a.into_pyarray(py), e.b.into_pyarray(py)))
}

/// minhash_signatures_shingles(column, num_perm, ngram, seed, shingle, hash, threads=0) ->
/// (signatures, counts, shingle hashes of every document one after another, byte offsets):
/// what verification needs besides the signatures, from one pass of the kernel.
#[pyfunction]
#[pyo3(signature = (column, num_perm = 256, ngram = 5, seed = 42, shingle = "bigcode", hash = "sha1", threads = 0))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn minhash_signatures_shingles<'py>(
    py: Python<'py>,
    column: &Bound<'py, PyAny>,
    num_perm: usize,
    ngram: usize,
    seed: u64,
    shingle: &str,
    hash: &str,
    threads: usize,
) -> PyResult<(
    Bound<'py, PyArray2<u32>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u64>>,
)> {
    let p = crate::minhash::params(num_perm, ngram, seed, shingle, hash)?;
    let (sigs, out) = crate::minhash::sign_column(py, column, &p, true, threads)?;
    let sets = out.shingles.unwrap_or_default();
    let mut flat = Vec::with_capacity(sets.iter().map(Vec::len).sum());
    let mut offsets = Vec::with_capacity(sets.len() + 1);
    offsets.push(0u64);
    for set in &sets {
        flat.extend_from_slice(set);
        offsets.push(flat.len() as u64 * 4);
    }
    Ok((sigs, out.shingle_counts.into_pyarray(py), flat.into_pyarray(py), offsets.into_pyarray(py)))
}

/// The in-process band shuffle (partitioned, spilled past half the memory budget).
#[pyclass(module = "sctool._native")]
struct BandShuffle {
    inner: CoreShuffle,
}

#[pymethods]
impl BandShuffle {
    #[new]
    #[pyo3(signature = (work_dir, *, partitions = 32, memory_budget = 1usize << 30))]
    fn new(work_dir: std::path::PathBuf, partitions: usize, memory_budget: usize) -> PyResult<Self> {
        Ok(BandShuffle {
            inner: CoreShuffle::new(work_dir, partitions, memory_budget).map_err(to_py)?,
        })
    }

    /// Route records (keys[i], nodes[i]) to their partitions (nodes must fit 32 bits).
    fn add(&mut self, py: Python<'_>, keys: PyReadonlyArray1<'_, u64>, nodes: PyReadonlyArray1<'_, u64>) -> PyResult<()> {
        let (k, n) = (keys.as_slice()?, nodes.as_slice()?);
        let inner = &mut self.inner;
        detach::run(py, 1, || inner.add(k, n))?.map_err(to_py)
    }

    /// Flush and split; the partition files in processing order, each loadable within the budget.
    fn finish(&mut self, py: Python<'_>) -> PyResult<Vec<std::path::PathBuf>> {
        let inner = &mut self.inner;
        detach::run(py, 1, || inner.finish())?.map_err(to_py)
    }

    /// The records (keys, nodes) of one partition file.
    #[staticmethod]
    #[pyo3(signature = (path, threads = 0))]
    fn load(py: Python<'_>, path: std::path::PathBuf, threads: usize) -> PyResult<U64Pair<'_>> {
        let (k, n) = detach::run(py, threads, || CoreShuffle::load(&path))?.map_err(to_py)?;
        Ok((k.into_pyarray(py), n.into_pyarray(py)))
    }

    /// Layout counters: band_records, spill_flushes, bytes_spilled, partition_files, partition_splits.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("band_records", s.band_records)?;
        d.set_item("spill_flushes", s.spill_flushes)?;
        d.set_item("bytes_spilled", s.bytes_spilled)?;
        d.set_item("partition_files", s.partition_files)?;
        d.set_item("partition_splits", s.partition_splits)?;
        Ok(d)
    }
}

/// The components step: union-find over positions, roots at the lowest rank.
#[pyclass(module = "sctool._native")]
struct Components {
    inner: CoreComponents,
}

#[pymethods]
impl Components {
    /// `ranks[pos]`: each document's place in stable-id order (a permutation of 0..n).
    #[new]
    fn new(ranks: PyReadonlyArray1<'_, u32>) -> PyResult<Self> {
        Ok(Components {
            inner: CoreComponents::new(ranks.as_slice()?.to_vec()).map_err(to_py)?,
        })
    }

    /// Merge the components of each edge (a[i], b[i]) of positions.
    #[pyo3(signature = (a, b, threads = 0))]
    fn union(&self, py: Python<'_>, a: PyReadonlyArray1<'_, u64>, b: PyReadonlyArray1<'_, u64>, threads: usize) -> PyResult<()> {
        let (a, b) = (a.as_slice()?, b.as_slice()?);
        let inner = &self.inner;
        detach::run(py, threads, || inner.union_positions(a, b))?.map_err(to_py)
    }

    /// The edges step with verification of one partition's records, merged straight in; returns
    /// (groups, pairs checked, merged, rejected).
    #[pyo3(signature = (keys, nodes, shingles_path, offsets, threshold, threads = 0))]
    #[allow(clippy::too_many_arguments)]
    fn union_verified(
        &self,
        py: Python<'_>,
        keys: PyReadonlyArray1<'_, u64>,
        nodes: PyReadonlyArray1<'_, u64>,
        shingles_path: std::path::PathBuf,
        offsets: PyReadonlyArray1<'_, u64>,
        threshold: f64,
        threads: usize,
    ) -> PyResult<(u64, u64, u64, u64)> {
        let (k, n) = (keys.as_slice()?, nodes.as_slice()?);
        let offsets = offsets.as_slice()?.to_vec();
        let inner = &self.inner;
        detach::run(py, threads, || {
            let file = ShingleFile::open(&shingles_path, offsets)?;
            engine::union_verified(k, n, inner, &file, threshold)
        })?
        .map_err(to_py)
    }

    /// Per position, the position of its component's root.
    #[pyo3(signature = (threads = 0))]
    fn roots<'py>(&self, py: Python<'py>, threads: usize) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let inner = &self.inner;
        let roots = detach::run(py, threads, || inner.roots())?;
        Ok(roots.into_pyarray(py))
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(lsh_band_records, m)?)?;
    m.add_function(wrap_pyfunction!(lsh_partition_edges, m)?)?;
    m.add_function(wrap_pyfunction!(minhash_signatures_shingles, m)?)?;
    m.add_class::<BandShuffle>()?;
    m.add_class::<Components>()?;
    Ok(())
}
