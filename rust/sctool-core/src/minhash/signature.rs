//! MinHash signatures: `sig[i] = min over shingles h of ((a_i·h + b_i) mod (2^61−1)) & (2^32−1)`.
//!
//! Layout for SIMD: the permutation parameters are two flat `u64` arrays, and the kernel walks them
//! in blocks of [`LANES`] permutations whose running minima stay in registers while *every* shingle
//! of the document streams past (one broadcast per shingle). Each block is a fixed-size array loop
//! the compiler turns into AVX-512 or AVX2 code. The 64-bit product `h·a` is formed either with one
//! 64×64 multiply (`vpmullq`: one fast µop on AMD Zen 4, three microcoded µops on Intel cores) or
//! with two 32×32→64 multiplies (`vpmuludq`, cheap everywhere), giving the same bits. The variants
//! the CPU supports are timed on a small synthetic document on first use and the fastest one is
//! kept for the process ([`kernel_name`]; near-dedup manifests record it), because feature flags
//! alone do not say which is faster. The arithmetic is the scalar [`permute`] in every variant, so
//! results are identical on every CPU (tests run every kernel against the scalar definition).
//!
//! Reference: Broder, "On the resemblance and containment of documents" (1997); the permutation
//! family is the Carter–Wegman universal hash datasketch and BigCode use.

// Kernels are written as fixed-width lane loops that must inline into the `target_feature`
// wrappers to be vectorised, and they follow the papers' one-letter names (a, b, h, w).
#![allow(clippy::inline_always, clippy::many_single_char_names, clippy::needless_range_loop)]

use rayon::prelude::*;

use super::permutations::{permute, Permutations, MAX_HASH, MERSENNE_PRIME};
use super::shingle::{shingle_hashes_unsorted, ShingleHash, ShingleKind, ShingleScratch};
use crate::error::{CoreError, Result};

/// Permutations per register block (two AVX-512 registers of u64).
pub const LANES: usize = 16;

/// Everything that defines a signature; part of every manifest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MinHashParams {
    pub num_perm: usize,
    pub ngram: usize,
    pub seed: u32,
    pub shingle: ShingleKind,
    pub hash: ShingleHash,
}

impl Default for MinHashParams {
    /// StarCoder's settings: 256 permutations, 5-grams, seed 42, BigCode tokens, SHA-1.
    fn default() -> Self {
        MinHashParams {
            num_perm: 256,
            ngram: 5,
            seed: 42,
            shingle: ShingleKind::BigCode,
            hash: ShingleHash::Sha1,
        }
    }
}

impl MinHashParams {
    pub fn validate(&self) -> Result<()> {
        if self.num_perm == 0 || self.num_perm > 8192 {
            return Err(CoreError::InvalidConfig(format!(
                "num_perm must be between 1 and 8192, got {}",
                self.num_perm
            )));
        }
        if self.ngram == 0 || self.ngram > 1024 {
            return Err(CoreError::InvalidConfig(format!(
                "ngram must be between 1 and 1024, got {}",
                self.ngram
            )));
        }
        Ok(())
    }
}

/// Signature of a document with no shingles: every slot at its maximum, as in datasketch.
pub const EMPTY_SLOT: u32 = MAX_HASH as u32;

/// The block kernel. `MUL32` selects how `h·a mod 2^64` is formed: one 64×64 multiply
/// (`vpmullq` on AVX-512DQ, fast on AMD Zen 4 but microcoded as 3 µops on Intel cores), or
/// two 32×32→64 multiplies (`vpmuludq`, one µop everywhere): with `h < 2^32` and
/// `a = a_hi·2^32 + a_lo`, `h·a ≡ h·a_lo + ((h·a_hi) << 32) (mod 2^64)`, the same bits.
#[inline(always)]
fn kernel_block<const MUL32: bool>(hashes: &[u32], perms: &Permutations, out: &mut [u32]) {
    let n = out.len();
    let full = n - n % LANES;
    let mut start = 0;
    while start < full {
        let a: &[u64; LANES] = perms.a[start..start + LANES].try_into().expect("block size");
        let b: &[u64; LANES] = perms.b[start..start + LANES].try_into().expect("block size");
        let mut a_lo = [0u64; LANES];
        let mut a_hi = [0u64; LANES];
        for l in 0..LANES {
            a_lo[l] = a[l] & 0xffff_ffff;
            a_hi[l] = a[l] >> 32;
        }
        let mut acc = [MAX_HASH; LANES];
        let mut top = [0u64; LANES];
        for &h in hashes {
            let h = u64::from(h);
            for l in 0..LANES {
                let ha = if MUL32 {
                    // Both factors of each product are below 2^32, so each is one `vpmuludq`.
                    (h * a_lo[l]).wrapping_add((h * a_hi[l]) << 32)
                } else {
                    h.wrapping_mul(a[l])
                };
                let x = ha.wrapping_add(b[l]);
                // Low 32 bits of (x mod 2^61) + (x >> 61), i.e. of the folded value before the
                // conditional subtract of P; exact unless that fold reached P, which needs the
                // low 61 bits of x to be at least P − 7 (tracked in `top`, fixed up below).
                acc[l] = acc[l].min(x.wrapping_add(x >> 61) & MAX_HASH);
                top[l] = top[l].max(x << 3);
            }
        }
        for l in 0..LANES {
            out[start + l] = if top[l] >= (MERSENNE_PRIME - 7) << 3 {
                // Astronomically rare (probability ~2^-58 per value): recompute exactly.
                let (a, b) = (a[l], b[l]);
                hashes.iter().map(|&h| permute(u64::from(h), a, b)).min().unwrap_or(MAX_HASH) as u32
            } else {
                acc[l] as u32
            };
        }
        start += LANES;
    }
    for i in full..n {
        let mut acc = MAX_HASH;
        for &h in hashes {
            acc = acc.min(permute(u64::from(h), perms.a[i], perms.b[i]));
        }
        out[i] = acc as u32;
    }
}

#[inline(always)]
fn kernel_generic(hashes: &[u32], perms: &Permutations, out: &mut [u32]) {
    kernel_block::<false>(hashes, perms, out);
}

fn kernel_generic_mul32(hashes: &[u32], perms: &Permutations, out: &mut [u32]) {
    kernel_block::<true>(hashes, perms, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl")]
unsafe fn kernel_avx512(hashes: &[u32], perms: &Permutations, out: &mut [u32]) {
    kernel_block::<false>(hashes, perms, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl")]
unsafe fn kernel_avx512_mul32(hashes: &[u32], perms: &Permutations, out: &mut [u32]) {
    kernel_block::<true>(hashes, perms, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn kernel_avx2(hashes: &[u32], perms: &Permutations, out: &mut [u32]) {
    kernel_block::<false>(hashes, perms, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn kernel_avx2_mul32(hashes: &[u32], perms: &Permutations, out: &mut [u32]) {
    kernel_block::<true>(hashes, perms, out);
}

/// The instruction set the CPU offers the signature kernels (`avx512`, `avx2` or `generic`).
pub fn kernel_isa() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            return "avx512";
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return "avx2";
        }
    }
    "generic"
}

type KernelFn = fn(&[u32], &Permutations, &mut [u32]);

/// Every signature kernel this CPU can run, best-guess order first: `(name, function)`.
/// All of them compute bit-identical signatures; they differ only in speed per CPU family.
pub fn kernels() -> Vec<(&'static str, KernelFn)> {
    let mut out: Vec<(&'static str, KernelFn)> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        let isa = kernel_isa();
        if isa == "avx512" {
            // SAFETY (both): these wrappers are only listed when AVX-512F/DQ/VL were detected.
            out.push(("avx512-mul64", |h, p, o| unsafe { kernel_avx512(h, p, o) }));
            out.push(("avx512-mul32", |h, p, o| unsafe { kernel_avx512_mul32(h, p, o) }));
        }
        if isa == "avx512" || isa == "avx2" {
            // SAFETY (both): AVX2 was detected (every AVX-512 CPU here also has AVX2).
            out.push(("avx2-mul32", |h, p, o| unsafe { kernel_avx2_mul32(h, p, o) }));
            out.push(("avx2-mul64", |h, p, o| unsafe { kernel_avx2(h, p, o) }));
        }
    }
    out.push(("generic-mul64", kernel_generic));
    out.push(("generic-mul32", kernel_generic_mul32));
    out
}

/// Time each kernel on a small synthetic document (interleaved rounds, best of each) and return
/// the fastest one's index in [`kernels`]. A few milliseconds, once per process.
fn calibrate(ks: &[(&'static str, KernelFn)]) -> usize {
    use std::time::Instant;
    if ks.len() == 1 {
        return 0;
    }
    let perms = Permutations::new(256, 42);
    let hashes: Vec<u32> = (0..2048u32).map(|i| i.wrapping_mul(2_654_435_761) ^ (i >> 3)).collect();
    let mut out = vec![0u32; perms.len()];
    let mut best = vec![u128::MAX; ks.len()];
    for _round in 0..4 {
        for (i, (_, f)) in ks.iter().enumerate() {
            let t0 = Instant::now();
            f(&hashes, &perms, &mut out);
            std::hint::black_box(&out);
            best[i] = best[i].min(t0.elapsed().as_nanos());
        }
    }
    (0..ks.len()).min_by_key(|&i| best[i]).unwrap_or(0)
}

struct Chosen {
    name: &'static str,
    f: KernelFn,
    how: &'static str,
}

static CHOSEN: std::sync::OnceLock<Chosen> = std::sync::OnceLock::new();

fn chosen() -> &'static Chosen {
    CHOSEN.get_or_init(|| {
        let ks = kernels();
        // SCTOOL_MINHASH_KERNEL pins a kernel (benchmarks, bug reports); unknown names are ignored.
        if let Ok(want) = std::env::var("SCTOOL_MINHASH_KERNEL") {
            if let Some(&(name, f)) = ks.iter().find(|(n, _)| *n == want) {
                return Chosen { name, f, how: "pinned" };
            }
        }
        let (name, f) = ks[calibrate(&ks)];
        Chosen { name, f, how: "calibrated" }
    })
}

/// The signature kernel this process uses, chosen by a short calibration on first use (or pinned
/// with `SCTOOL_MINHASH_KERNEL`): e.g. `avx512-mul32`. Recorded in near-dedup manifests.
pub fn kernel_name() -> &'static str {
    chosen().name
}

/// How [`kernel_name`] was chosen: `calibrated` or `pinned`.
pub fn kernel_choice() -> &'static str {
    chosen().how
}

/// Run a named kernel (tests and benchmarks); `None` when this CPU cannot run it.
pub fn signature_with_kernel(name: &str, hashes: &[u32], perms: &Permutations, out: &mut [u32]) -> Option<()> {
    assert_eq!(out.len(), perms.len(), "signature buffer must have one slot per permutation");
    let (_, f) = kernels().into_iter().find(|(n, _)| *n == name)?;
    f(hashes, perms, out);
    Some(())
}

/// Min-hash `hashes` (a document's shingle hashes) under every permutation into `out`
/// (`out.len() == perms.len()`). An empty `hashes` leaves every slot at [`EMPTY_SLOT`].
pub fn signature_from_hashes(hashes: &[u32], perms: &Permutations, out: &mut [u32]) {
    assert_eq!(out.len(), perms.len(), "signature buffer must have one slot per permutation");
    (chosen().f)(hashes, perms, out);
}

/// Scalar reference of [`signature_from_hashes`] (tests and the portable fallback's check).
pub fn signature_reference(hashes: &[u32], perms: &Permutations) -> Vec<u32> {
    perms
        .a
        .iter()
        .zip(&perms.b)
        .map(|(&a, &b)| {
            hashes
                .iter()
                .map(|&h| permute(u64::from(h), a, b))
                .min()
                .unwrap_or(MAX_HASH) as u32
        })
        .collect()
}

/// Signatures of a batch, row-major `(n, num_perm)`, computed in parallel and written by position.
///
/// Returns the signatures and, per document, its number of distinct shingles (0 for a null or too
/// short document, whose signature is all [`EMPTY_SLOT`]). When `keep_shingles` is set, the sorted
/// shingle-hash sets are returned too (for exact-Jaccard verification).
pub struct BatchSignatures {
    pub sigs: Vec<u32>,
    pub shingle_counts: Vec<u32>,
    pub shingles: Option<Vec<Vec<u32>>>,
}

pub fn signatures(
    texts: &[Option<&str>],
    params: &MinHashParams,
    perms: &Permutations,
    keep_shingles: bool,
) -> Result<BatchSignatures> {
    params.validate()?;
    if perms.len() != params.num_perm {
        return Err(CoreError::InvalidConfig(format!(
            "{} permutations given for num_perm={}",
            perms.len(),
            params.num_perm
        )));
    }
    let k = params.num_perm;
    let mut sigs = vec![EMPTY_SLOT; texts.len() * k];
    let mut counts = vec![0u32; texts.len()];
    let mut sets: Vec<Vec<u32>> = if keep_shingles {
        vec![Vec::new(); texts.len()]
    } else {
        Vec::new()
    };
    let work = |scratch: &mut (ShingleScratch, Vec<u32>), text: Option<&str>, sig: &mut [u32]| -> u32 {
        let Some(text) = text else { return 0 };
        let (sc, hashes) = scratch;
        shingle_hashes_unsorted(text, params.shingle, params.ngram, params.hash, sc, hashes);
        if keep_shingles {
            hashes.sort_unstable();
        }
        if !hashes.is_empty() {
            signature_from_hashes(hashes, perms, sig);
        }
        hashes.len() as u32
    };
    if keep_shingles {
        sigs.par_chunks_mut(k)
            .zip(counts.par_iter_mut())
            .zip(sets.par_iter_mut())
            .zip(texts.par_iter())
            .with_min_len(8)
            .for_each_init(
                || (ShingleScratch::default(), Vec::new()),
                |scratch, (((sig, count), set), text)| {
                    *count = work(scratch, *text, sig);
                    set.extend_from_slice(&scratch.1);
                },
            );
    } else {
        sigs.par_chunks_mut(k)
            .zip(counts.par_iter_mut())
            .zip(texts.par_iter())
            .with_min_len(8)
            .for_each_init(
                || (ShingleScratch::default(), Vec::new()),
                |scratch, ((sig, count), text)| {
                    *count = work(scratch, *text, sig);
                },
            );
    }
    Ok(BatchSignatures {
        sigs,
        shingle_counts: counts,
        shingles: keep_shingles.then_some(sets),
    })
}

/// MinHash estimate of Jaccard: the fraction of equal slots.
pub fn estimate_jaccard(a: &[u32], b: &[u32]) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    let eq = a.iter().zip(b).filter(|(x, y)| x == y).count();
    eq as f64 / a.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatched_kernel_equals_reference() {
        for num_perm in [1usize, 15, 16, 17, 64, 256, 300] {
            let perms = Permutations::new(num_perm, 42);
            let hashes: Vec<u32> = (0..97u32).map(|i| i.wrapping_mul(2_654_435_761)).collect();
            let mut out = vec![0u32; num_perm];
            signature_from_hashes(&hashes, &perms, &mut out);
            assert_eq!(out, signature_reference(&hashes, &perms));
            let mut out2 = vec![0u32; num_perm];
            kernel_generic(&hashes, &perms, &mut out2);
            assert_eq!(out2, out);
        }
    }

    #[test]
    fn every_kernel_equals_reference() {
        let names: Vec<&str> = kernels().iter().map(|(n, _)| *n).collect();
        assert!(names.contains(&"generic-mul32") && names.contains(&kernel_name()));
        for num_perm in [1usize, 16, 17, 256, 300] {
            let perms = Permutations::new(num_perm, 42);
            for hashes in [vec![0u32], vec![u32::MAX, 0, 1], (0..500u32).map(|i| i.wrapping_mul(2_654_435_761)).collect()] {
                let want = signature_reference(&hashes, &perms);
                for name in &names {
                    let mut out = vec![0u32; num_perm];
                    signature_with_kernel(name, &hashes, &perms, &mut out).expect("listed kernel runs");
                    assert_eq!(out, want, "{name} num_perm={num_perm}");
                }
            }
        }
        assert!(signature_with_kernel("no-such", &[1], &Permutations::new(1, 1), &mut [0]).is_none());
    }

    #[test]
    fn kernel_fixes_up_folds_that_reach_p() {
        // Parameters whose h·a + b lands on, just below and just past the fold edge, so the
        // kernel's exactness fix-up runs (random parameters essentially never reach it).
        let p = MERSENNE_PRIME;
        let two61 = 1u64 << 61;
        let specials = [p - 1, p - 7, p - 8, p, two61 + p - 2, 7 * two61 + p - 8, u64::MAX, u64::MAX - 1];
        for num_perm in [16usize, 33, 256] {
            let mut perms = Permutations::new(num_perm, 7);
            for (i, &b) in specials.iter().cycle().take(num_perm / 2).enumerate() {
                perms.a[2 * i] = 1 + (i as u64 % 3);
                perms.b[2 * i] = b;
            }
            for hashes in [vec![0u32], vec![1], vec![0, 1, 2, 3, 5, 9], (0..300u32).map(|i| i.wrapping_mul(2_654_435_761)).collect()] {
                let mut out = vec![0u32; num_perm];
                signature_from_hashes(&hashes, &perms, &mut out);
                assert_eq!(out, signature_reference(&hashes, &perms), "{num_perm} {hashes:?}");
                for (name, f) in kernels() {
                    let mut g = vec![0u32; num_perm];
                    f(&hashes, &perms, &mut g);
                    assert_eq!(g, out, "{name}");
                }
            }
        }
        // The edge itself: x = 2^61 + P − 1 folds to exactly P, whose residue is 0.
        let x = two61 + p - 1;
        assert_eq!(permute(1, 1, x - 1), 0);
    }

    #[test]
    fn batch_is_thread_independent_and_handles_nulls() {
        let params = MinHashParams::default();
        let perms = Permutations::new(256, 42);
        let docs: Vec<Option<&str>> = vec![
            Some("def f(x):\n    return x + 1\n"),
            None,
            Some("a b"),
            Some("def f(y):\n    return y + 1\n"),
        ];
        let one = crate::parallel::with_threads(1, || signatures(&docs, &params, &perms, true)).unwrap();
        let many = crate::parallel::with_threads(4, || signatures(&docs, &params, &perms, false)).unwrap();
        assert_eq!(one.sigs, many.sigs);
        assert_eq!(one.shingle_counts, many.shingle_counts);
        assert_eq!(one.shingle_counts[1], 0);
        assert_eq!(one.shingle_counts[2], 0);
        assert!(one.sigs[256..512].iter().all(|&v| v == EMPTY_SLOT));
        let sets = one.shingles.unwrap();
        assert_eq!(sets[0].len() as u32, one.shingle_counts[0]);
    }
}
