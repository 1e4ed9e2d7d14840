//! MinHash signatures: `sig[i] = min over shingles h of ((a_i·h + b_i) mod (2^61−1)) & (2^32−1)`.
//!
//! Layout for SIMD: the permutation parameters are two flat `u64` arrays ([`PreparedPerms`], padded
//! to whole passes), and a kernel walks them in passes of 32 permutations whose parameters and
//! running minima stay in registers while *every* shingle hash of the document streams past (one
//! broadcast per hash). The 64-bit product `h·a` is formed either with one 64×64 multiply
//! (`vpmullq`: one fast µop on AMD Zen 4, three microcoded µops on Intel cores) or with two
//! 32×32→64 multiplies (`vpmuludq`, cheap everywhere), giving the same bits. The Mersenne
//! reduction is a fold `x + (x >> 61)` without the conditional subtract: [`fold_can_reach_p`]
//! proves, once per permutation, that no 32-bit hash can need it, and the (astronomically rare)
//! permutations where one could are computed by the scalar definition. The variants the CPU
//! supports are timed on a small synthetic document on first use and the fastest one is kept for
//! the process ([`kernel_name`]; near-dedup manifests record it), because feature flags alone do
//! not say which is faster. Results are identical on every CPU (tests run every kernel against the
//! scalar definition).
//!
//! Reference: Broder, "On the resemblance and containment of documents" (1997); the permutation
//! family is the Carter–Wegman universal hash datasketch and BigCode use.

// Kernels are written as fixed-width lane loops that must inline into the `target_feature`
// wrappers to be vectorised, and they follow the papers' one-letter names (a, b, h, w).
#![allow(clippy::inline_always, clippy::many_single_char_names, clippy::needless_range_loop)]

use rayon::prelude::*;

use super::permutations::{permute, Permutations, MAX_HASH};
use super::shingle::{shingle_hashes_unsorted, ShingleHash, ShingleKind, ShingleScratch};
use crate::error::{CoreError, Result};

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

/// Whether some 32-bit shingle hash `h` makes `(a·h + b) mod 2^61 ≥ 2^61 − 8`, i.e. whether the
/// kernels' shortcut for the Mersenne reduction can ever be off for this permutation.
///
/// The kernels take the low 32 bits of `x + (x >> 61)` (`x = a·h + b mod 2^64`), which equals
/// [`permute`] unless the folded value reaches `P = 2^61 − 1` and needs its conditional subtract;
/// that needs `x mod 2^61 ≥ P − 7`. Writing `a mod 2^61 = 2^k·a'` with `a'` odd,
/// `a·h ≡ d (mod 2^61)` is solvable iff `2^k | d`, and then every solution is
/// `h ≡ (d / 2^k)·a'^{-1} (mod 2^{61−k})`, the smallest being that residue itself: so checking the
/// eight targets `d = v − b` decides the question exactly. For random parameters the answer is
/// "no" with probability about `1 − 2^-26` per permutation; the few permutations where it is "yes"
/// are computed with the scalar definition instead, so no per-shingle check is needed in the loop.
pub fn fold_can_reach_p(a: u64, b: u64) -> bool {
    const M61: u64 = (1 << 61) - 1;
    let (a, b) = (a & M61, b & M61);
    (M61 - 7..=M61).any(|v| {
        let d = v.wrapping_sub(b) & M61;
        if a == 0 {
            return d == 0;
        }
        let k = a.trailing_zeros();
        if d & ((1u64 << k) - 1) != 0 {
            return false;
        }
        let odd = a >> k;
        // Newton's iteration for the inverse modulo 2^64 (each step doubles the correct bits).
        let mut inv = odd;
        for _ in 0..6 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(odd.wrapping_mul(inv)));
        }
        let h0 = (d >> k).wrapping_mul(inv) & ((1u64 << (61 - k)) - 1);
        u32::try_from(h0).is_ok()
    })
}

/// Permutations per pass of the widest kernel: every pass keeps this many running minima in
/// registers while the document's hashes stream past.
const PASS: usize = 32;

/// The permutation parameters laid out for the kernels: `a` and `b` padded with zeros to a whole
/// number of passes (padding lanes compute junk that is never copied out), and the indices of the
/// permutations that need the exact scalar path ([`fold_can_reach_p`]).
pub struct PreparedPerms {
    n: usize,
    a: Vec<u64>,
    b: Vec<u64>,
    exact: Vec<usize>,
}

impl PreparedPerms {
    pub fn new(perms: &Permutations) -> Self {
        let n = perms.len();
        let padded = n.div_ceil(PASS) * PASS;
        let mut a = perms.a.clone();
        let mut b = perms.b.clone();
        a.resize(padded, 0);
        b.resize(padded, 0);
        let exact = (0..n).filter(|&i| fold_can_reach_p(a[i], b[i])).collect();
        PreparedPerms { n, a, b, exact }
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Permutations computed by the scalar definition (almost always none).
    pub fn exact_indices(&self) -> &[usize] {
        &self.exact
    }

    /// Overwrite the slots of the permutations that need the exact path.
    fn fix_up(&self, hashes: &[u32], out: &mut [u32]) {
        for &i in &self.exact {
            let (a, b) = (self.a[i], self.b[i]);
            out[i] = hashes.iter().map(|&h| permute(u64::from(h), a, b)).min().unwrap_or(MAX_HASH) as u32;
        }
    }
}

/// Portable kernel: one pass of [`PASS`] lanes as plain lane loops (the compiler vectorises them
/// for the baseline instruction set). `MUL32` forms `h·a mod 2^64` from two 32×32→64 products,
/// `h·a_lo + ((h·a_hi) << 32)`, which is the same value.
#[inline(always)]
fn kernel_portable<const MUL32: bool>(hashes: &[u32], p: &PreparedPerms, out: &mut [u32]) {
    let mut base = 0;
    while base < p.n {
        let a: &[u64; PASS] = p.a[base..base + PASS].try_into().expect("padded");
        let b: &[u64; PASS] = p.b[base..base + PASS].try_into().expect("padded");
        let mut a_lo = [0u64; PASS];
        let mut a_hi = [0u64; PASS];
        for l in 0..PASS {
            a_lo[l] = a[l] & 0xffff_ffff;
            a_hi[l] = a[l] >> 32;
        }
        let mut acc = [MAX_HASH; PASS];
        for &h in hashes {
            let h = u64::from(h);
            for l in 0..PASS {
                let ha = if MUL32 { (h * a_lo[l]).wrapping_add((h * a_hi[l]) << 32) } else { h.wrapping_mul(a[l]) };
                let x = ha.wrapping_add(b[l]);
                acc[l] = acc[l].min(x.wrapping_add(x >> 61) & MAX_HASH);
            }
        }
        let take = PASS.min(p.n - base);
        for l in 0..take {
            out[base + l] = acc[l] as u32;
        }
        base += PASS;
    }
    p.fix_up(hashes, out);
}

fn kernel_generic(hashes: &[u32], p: &PreparedPerms, out: &mut [u32]) {
    kernel_portable::<false>(hashes, p, out);
}

fn kernel_generic_mul32(hashes: &[u32], p: &PreparedPerms, out: &mut [u32]) {
    kernel_portable::<true>(hashes, p, out);
}

/// Hand-written x86-64 kernels. Each keeps `V` vectors of permutations (parameters and running
/// minima) in registers for a pass over the hashes; per hash and vector: the product, `+ b`,
/// the fold `x + (x >> 61)`, and an unsigned 32-bit `min` applied to the 64-bit lanes as they are
/// (the low half of each lane is the value that matters; the high halves collect junk that the
/// final narrowing drops), so no masking is needed.
#[cfg(target_arch = "x86_64")]
mod x86 {
    #![allow(clippy::wildcard_imports)]
    use super::{PreparedPerms, PASS};
    use std::arch::x86_64::*;

    /// AVX-512: 8 permutations per vector, `V` vectors per pass. `MUL32` uses two `vpmuludq`
    /// (one µop each on every AVX-512 CPU) instead of one `vpmullq` (fast on AMD Zen 4,
    /// three microcoded µops on Intel cores).
    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) fn avx512<const V: usize, const MUL32: bool>(hashes: &[u32], p: &PreparedPerms, out: &mut [u32]) {
        debug_assert!(PASS.is_multiple_of(8 * V));
        let w = 8 * V;
        let mut buf = [0u32; PASS];
        let mut base = 0;
        while base < p.n {
            let mut a = [_mm512_setzero_si512(); V];
            let mut a_hi = [_mm512_setzero_si512(); V];
            let mut b = [_mm512_setzero_si512(); V];
            for v in 0..V {
                let off = base + 8 * v;
                let (sa, sb) = (&p.a[off..off + 8], &p.b[off..off + 8]);
                // SAFETY: both slices hold 8 u64 (the arrays are padded to whole passes).
                unsafe {
                    a[v] = _mm512_loadu_epi64(sa.as_ptr().cast());
                    b[v] = _mm512_loadu_epi64(sb.as_ptr().cast());
                }
                a_hi[v] = _mm512_srli_epi64::<32>(a[v]);
            }
            let mut acc = [_mm512_set1_epi32(-1); V];
            for &h in hashes {
                if MUL32 {
                    // vpmuludq reads the low 32 bits of each lane, so a 32-bit broadcast suffices.
                    let hv = _mm512_set1_epi32(h as i32);
                    for v in 0..V {
                        let lo = _mm512_mul_epu32(hv, a[v]);
                        let hi = _mm512_slli_epi64::<32>(_mm512_mul_epu32(hv, a_hi[v]));
                        let x = _mm512_add_epi64(_mm512_add_epi64(lo, b[v]), hi);
                        let y = _mm512_add_epi64(x, _mm512_srli_epi64::<61>(x));
                        acc[v] = _mm512_min_epu32(acc[v], y);
                    }
                } else {
                    let hv = _mm512_set1_epi64(i64::from(h));
                    for v in 0..V {
                        let x = _mm512_add_epi64(_mm512_mullo_epi64(hv, a[v]), b[v]);
                        let y = _mm512_add_epi64(x, _mm512_srli_epi64::<61>(x));
                        acc[v] = _mm512_min_epu32(acc[v], y);
                    }
                }
            }
            for v in 0..V {
                let low = _mm512_cvtepi64_epi32(acc[v]);
                // SAFETY: buf has room for 8 u32 at 8·v (8·V ≤ PASS).
                unsafe { _mm256_storeu_si256(buf[8 * v..8 * v + 8].as_mut_ptr().cast(), low) };
            }
            let take = w.min(p.n - base);
            out[base..base + take].copy_from_slice(&buf[..take]);
            base += w;
        }
        p.fix_up(hashes, out);
    }

    /// AVX2: 4 permutations per vector, `V` vectors per pass, 32×32→64 products only (AVX2 has
    /// no 64-bit multiply).
    #[target_feature(enable = "avx2")]
    pub(super) fn avx2<const V: usize>(hashes: &[u32], p: &PreparedPerms, out: &mut [u32]) {
        debug_assert!(PASS.is_multiple_of(4 * V));
        let w = 4 * V;
        let mut base = 0;
        while base < p.n {
            let mut a = [_mm256_setzero_si256(); V];
            let mut a_hi = [_mm256_setzero_si256(); V];
            let mut b = [_mm256_setzero_si256(); V];
            for v in 0..V {
                let off = base + 4 * v;
                let (sa, sb) = (&p.a[off..off + 4], &p.b[off..off + 4]);
                // SAFETY: both slices hold 4 u64 (the arrays are padded to whole passes).
                unsafe {
                    a[v] = _mm256_loadu_si256(sa.as_ptr().cast());
                    b[v] = _mm256_loadu_si256(sb.as_ptr().cast());
                }
                a_hi[v] = _mm256_srli_epi64::<32>(a[v]);
            }
            let mut acc = [_mm256_set1_epi32(-1); V];
            for &h in hashes {
                let hv = _mm256_set1_epi32(h as i32);
                for v in 0..V {
                    let lo = _mm256_mul_epu32(hv, a[v]);
                    let hi = _mm256_slli_epi64::<32>(_mm256_mul_epu32(hv, a_hi[v]));
                    let x = _mm256_add_epi64(_mm256_add_epi64(lo, b[v]), hi);
                    let y = _mm256_add_epi64(x, _mm256_srli_epi64::<61>(x));
                    acc[v] = _mm256_min_epu32(acc[v], y);
                }
            }
            let take = w.min(p.n - base);
            for v in 0..V {
                let mut lanes = [0u64; 4];
                // SAFETY: lanes is 32 writable bytes.
                unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc[v]) };
                for (l, &x) in lanes.iter().enumerate() {
                    if 4 * v + l < take {
                        out[base + 4 * v + l] = x as u32;
                    }
                }
            }
            base += w;
        }
        p.fix_up(hashes, out);
    }
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

pub type KernelFn = fn(&[u32], &PreparedPerms, &mut [u32]);

/// Every signature kernel this CPU can run, best-guess order first: `(name, function)`.
/// All of them compute bit-identical signatures; they differ only in speed per CPU family.
pub fn kernels() -> Vec<(&'static str, KernelFn)> {
    let mut out: Vec<(&'static str, KernelFn)> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        let isa = kernel_isa();
        if isa == "avx512" {
            // SAFETY (both): these are only listed when AVX-512F/DQ/VL were detected.
            out.push(("avx512-mul64", |h, p, o| unsafe { x86::avx512::<4, false>(h, p, o) }));
            out.push(("avx512-mul32", |h, p, o| unsafe { x86::avx512::<4, true>(h, p, o) }));
        }
        if isa == "avx512" || isa == "avx2" {
            // SAFETY: AVX2 was detected (every AVX-512 CPU here also has AVX2).
            out.push(("avx2-mul32", |h, p, o| unsafe { x86::avx2::<8>(h, p, o) }));
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
    let perms = PreparedPerms::new(&Permutations::new(256, 42));
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
    f(hashes, &PreparedPerms::new(perms), out);
    Some(())
}

/// Min-hash `hashes` (a document's shingle hashes) under every permutation into `out`
/// (`out.len() == perms.len()`). An empty `hashes` leaves every slot at [`EMPTY_SLOT`].
pub fn signature_from_hashes(hashes: &[u32], perms: &Permutations, out: &mut [u32]) {
    signature_prepared(hashes, &PreparedPerms::new(perms), out);
}

/// [`signature_from_hashes`] with the permutations prepared once (batches, benchmarks).
pub fn signature_prepared(hashes: &[u32], perms: &PreparedPerms, out: &mut [u32]) {
    assert_eq!(out.len(), perms.len(), "signature buffer must have one slot per permutation");
    if hashes.is_empty() {
        out.fill(EMPTY_SLOT);
        return;
    }
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
    let prepared = PreparedPerms::new(perms);
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
            signature_prepared(hashes, &prepared, sig);
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
            kernel_generic(&hashes, &PreparedPerms::new(&perms), &mut out2);
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
        let p = crate::minhash::MERSENNE_PRIME;
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
                let prepared = PreparedPerms::new(&perms);
                assert!(!prepared.exact_indices().is_empty());
                for (name, f) in kernels() {
                    let mut g = vec![0u32; num_perm];
                    f(&hashes, &prepared, &mut g);
                    assert_eq!(g, out, "{name}");
                }
            }
        }
        // The edge itself: x = 2^61 + P − 1 folds to exactly P, whose residue is 0.
        let x = two61 + p - 1;
        assert_eq!(permute(1, 1, x - 1), 0);
    }

    #[test]
    fn fold_analysis_finds_every_constructed_witness() {
        // For random a, a 32-bit h and each target v in [P − 7, P], choose b so that
        // (a·h + b) mod 2^61 == v: the analysis must flag the pair, and the kernels must still equal
        // the scalar definition on a document containing h.
        const M61: u64 = (1 << 61) - 1;
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for trial in 0..400 {
            // Include even a (trailing zeros up to 40) so the non-invertible case is exercised.
            let a = (next() & M61).max(1) << (trial % 41) & M61;
            let a = if a == 0 { 1 << 40 } else { a };
            let h = next() as u32;
            let v = M61 - u64::from(trial % 8);
            let b = v.wrapping_sub(a.wrapping_mul(u64::from(h))) & M61;
            assert!(fold_can_reach_p(a, b), "a={a} b={b} h={h}");
            // And the upper bits of b (beyond 2^61) change nothing.
            assert!(fold_can_reach_p(a, b | (1 << 62)));
            let mut perms = Permutations::new(32, trial);
            perms.a[trial as usize % 32] = a;
            perms.b[trial as usize % 32] = b;
            let hashes = [next() as u32, h, next() as u32];
            let want = signature_reference(&hashes, &perms);
            for (name, _) in kernels() {
                let mut out = vec![0u32; 32];
                signature_with_kernel(name, &hashes, &perms, &mut out).expect("listed");
                assert_eq!(out, want, "{name} a={a} b={b} h={h}");
            }
        }
        // a ≡ 0 (mod 2^61): only b itself decides.
        assert!(fold_can_reach_p(1 << 61, M61 - 3));
        assert!(!fold_can_reach_p(1 << 61, 5));
    }

    #[test]
    fn fold_analysis_agrees_with_exhaustive_search_on_small_multipliers() {
        // With a tiny multiplier the values a·h + b for h < 2^32 stay below 2^61 unless b is near
        // the top, so the hits can be counted directly: h hits iff a·h + b ∈ [P − 7, P].
        const M61: u64 = (1 << 61) - 1;
        for a in 1..=9u64 {
            for b in [0u64, 5, M61 - 7, M61 - 6 * 9, M61 - 9 * u64::from(u32::MAX) - 3, M61 - a * u64::from(u32::MAX) - 8, M61 - a * u64::from(u32::MAX)] {
                // v − b must be a multiple of a with quotient < 2^32 for some v in [P−7, P].
                let expect = (M61 - 7..=M61).any(|v| v >= b && (v - b) % a == 0 && u32::try_from((v - b) / a).is_ok());
                assert_eq!(fold_can_reach_p(a, b), expect, "a={a} b={b}");
            }
        }
    }

    #[test]
    fn datasketch_default_permutations_need_no_exact_path() {
        // The fast path covers StarCoder's parameters entirely (informative: seed 42, 256 perms).
        assert!(PreparedPerms::new(&Permutations::new(256, 42)).exact_indices().is_empty());
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
