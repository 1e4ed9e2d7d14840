//! Binding of `sctool_core::minhash`: signatures, banding parameters and id ranking (the dedup
//! steps after the signatures are in `dedup.rs`).

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;
use sctool_core::minhash::{self, MinHashParams, Permutations, ShingleHash, ShingleKind};

use crate::arrow_input::TextColumn;
use crate::detach;
use crate::errors::{to_py, ConfigError};

pub(crate) fn params(num_perm: usize, ngram: usize, seed: u64, shingle: &str, hash: &str) -> PyResult<MinHashParams> {
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
    let (sigs, out) = sign_column(py, column, &p, false, threads)?;
    Ok((sigs, out.shingle_counts.into_pyarray(py)))
}

/// Signatures of a text column as an `(n, num_perm)` array, plus the rest of the kernel's output
/// (shingle counts; with `keep_shingles`, the shingle sets).
pub(crate) fn sign_column<'py>(
    py: Python<'py>,
    column: &Bound<'py, PyAny>,
    p: &MinHashParams,
    keep_shingles: bool,
    threads: usize,
) -> PyResult<(Bound<'py, PyArray2<u32>>, minhash::BatchSignatures)> {
    let col = TextColumn::from_py(column)?;
    let docs = col.strs();
    let mut out = detach::run(py, threads, || {
        let perms = Permutations::new(p.num_perm, p.seed);
        minhash::signatures(&docs, p, &perms, keep_shingles)
    })?
    .map_err(to_py)?;
    let n = docs.len();
    let sigs = std::mem::take(&mut out.sigs).into_pyarray(py).reshape([n, p.num_perm])?;
    Ok((sigs, out))
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

/// minhash_sha1_kernel() -> the SHA-1 kernel shingles are hashed with in this process ("sha-ni" or
/// "avx512-x16"), chosen once by a short calibration; recorded in the near-dedup manifest.
#[pyfunction]
fn minhash_sha1_kernel(py: Python<'_>) -> &'static str {
    py.detach(|| minhash::sha1x::sha1_kernel().name())
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
    m.add_function(wrap_pyfunction!(minhash_sha1_kernel, m)?)?;
    m.add_function(wrap_pyfunction!(minhash_signature_with_kernel, m)?)?;
    Ok(())
}
