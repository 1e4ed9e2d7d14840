//! Multi-buffer SHA-1: sixteen one-block messages hashed at once, one message per SIMD lane
//! (hand-written AVX-512, or SHA-NI with eight interleaved chains; see [`sha1_kernel`]).
//!
//! A shingle is short (almost always ≤ 55 bytes, one SHA-1 block), so hashing shingles one at a
//! time is latency-bound: SHA-1's 80 rounds form one dependency chain and the SHA-NI round
//! instruction has a multi-cycle latency. Hashing sixteen independent messages in the sixteen
//! 32-bit lanes of an AVX-512 register (or two AVX2 registers) turns that chain into throughput —
//! the "multi-buffer" technique of Intel's ISA-L crypto. The state is structure-of-arrays
//! (`[u32; 16]` per variable) and every step is a fixed 16-lane loop the compiler maps onto vector
//! instructions (`vprold` for the rotations, `vpternlogd` for the round functions); the same
//! source is compiled for AVX-512, AVX2 and baseline and picked at run time. Only the first digest
//! word is produced: StarCoder's shingle hash is the first four digest bytes.

// Kernels are written as fixed-width lane loops that must inline into the `target_feature`
// wrappers to be vectorised, and they follow the papers' one-letter names (a, b, h, w).
#![allow(clippy::inline_always, clippy::many_single_char_names, clippy::needless_range_loop)]

const L: usize = 16;
type V = [u32; L];

const H0: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];
const K: [u32; 4] = [0x5A82_7999, 0x6ED9_EBA1, 0x8F1B_BCDC, 0xCA62_C1D6];

/// Largest message that fits one padded block.
pub const ONE_BLOCK_MAX: usize = 55;

#[inline(always)]
fn splat(x: u32) -> V {
    [x; L]
}

/// Round function of phase `P` (rounds 20·P … 20·P+19), in the forms that map to one `vpternlogd`.
#[inline(always)]
fn f<const P: usize>(b: u32, c: u32, d: u32) -> u32 {
    match P {
        0 => d ^ (b & (c ^ d)),
        2 => (b & c) | (d & (b | c)),
        _ => b ^ c ^ d,
    }
}

/// Twenty rounds with a fixed round function, so the lane loops carry no branches.
#[inline(always)]
fn phase<const P: usize>(st: &mut [V; 5], w: &mut [V; 16]) {
    for t in 20 * P..20 * P + 20 {
        let mut wt = [0u32; L];
        if t < 16 {
            wt = w[t];
        } else {
            for l in 0..L {
                wt[l] = (w[(t + 13) & 15][l] ^ w[(t + 8) & 15][l] ^ w[(t + 2) & 15][l] ^ w[t & 15][l]).rotate_left(1);
            }
            w[t & 15] = wt;
        }
        let [a, b, c, d, e] = st;
        let mut na = [0u32; L];
        let mut nc = [0u32; L];
        for l in 0..L {
            na[l] = a[l]
                .rotate_left(5)
                .wrapping_add(f::<P>(b[l], c[l], d[l]))
                .wrapping_add(e[l])
                .wrapping_add(K[P])
                .wrapping_add(wt[l]);
            nc[l] = b[l].rotate_left(30);
        }
        *st = [na, *a, nc, *c, *d];
    }
}

#[inline(always)]
fn rounds(w: &mut [V; 16]) -> V {
    let mut st = [splat(H0[0]), splat(H0[1]), splat(H0[2]), splat(H0[3]), splat(H0[4])];
    phase::<0>(&mut st, w);
    phase::<1>(&mut st, w);
    phase::<2>(&mut st, w);
    phase::<3>(&mut st, w);
    let mut out = [0u32; L];
    for l in 0..L {
        out[l] = st[0][l].wrapping_add(H0[0]);
    }
    out
}

/// Pad up to 16 messages (each ≤ [`ONE_BLOCK_MAX`] bytes) into transposed schedule words.
#[inline(always)]
fn load(msgs: &[&[u8]]) -> [V; 16] {
    let mut blocks = [[0u8; 64]; L];
    for (block, m) in blocks.iter_mut().zip(msgs) {
        block[..m.len()].copy_from_slice(m);
        block[m.len()] = 0x80;
        // Bit length, big-endian in the last 8 bytes; ≤ 440 bits, so two bytes suffice.
        let bits = (m.len() as u16) * 8;
        block[62..].copy_from_slice(&bits.to_be_bytes());
    }
    let mut w = [[0u32; L]; 16];
    // A 16×16 word transpose: a gather per schedule word on AVX-512.
    for (t, word) in w.iter_mut().enumerate() {
        for (l, block) in blocks.iter().enumerate() {
            word[l] = u32::from_be_bytes([block[4 * t], block[4 * t + 1], block[4 * t + 2], block[4 * t + 3]]);
        }
    }
    w
}

#[inline(always)]
fn hash16_generic(msgs: &[&[u8]], out: &mut [u32]) {
    let mut w = load(msgs);
    let a = rounds(&mut w);
    for (o, v) in out.iter_mut().zip(a.iter()).take(msgs.len()) {
        // The digest starts with state[0] big-endian; StarCoder reads those bytes little-endian.
        *o = v.swap_bytes();
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn hash16_avx512(msgs: &[&[u8]], out: &mut [u32]) {
    hash16_generic(msgs, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn hash16_avx2(msgs: &[&[u8]], out: &mut [u32]) {
    hash16_generic(msgs, out);
}

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{
    __m128i, _mm_add_epi32, _mm_and_si128, _mm_cmpeq_epi8, _mm_cmpgt_epi8, _mm_extract_epi32, _mm_insert_epi16, _mm_loadu_si128, _mm_or_si128, _mm_set1_epi8, _mm_set_epi32, _mm_set_epi64x, _mm_setr_epi8, _mm_setzero_si128, _mm_sha1msg1_epu32, _mm_sha1msg2_epu32, _mm_sha1nexte_epu32, _mm_sha1rnds4_epu32, _mm_shuffle_epi8, _mm_xor_si128,
};

/// The SHA-NI kernels, stamped out once per feature set: with AVX-512VL the compiler has 32 vector
/// registers (the eight interleaved messages fit without spills), without it the same code still
/// runs on SHA-NI CPUs that lack AVX-512.
#[cfg(target_arch = "x86_64")]
macro_rules! sha_ni_kernels {
    ($module:ident, $features:literal) => {
        mod $module {
            #[allow(clippy::wildcard_imports)]
            use super::*;

            /// One padded block as four big-endian-word vectors in SHA-NI order, built by copying `m`.
            #[target_feature(enable = $features)]
            #[inline]
            fn block_copy(m: &[u8]) -> [__m128i; 4] {
                let mut block = [0u8; 64];
                block[..m.len()].copy_from_slice(m);
                block[m.len()] = 0x80;
                let bits = (m.len() as u16) * 8;
                block[62..].copy_from_slice(&bits.to_be_bytes());
                let bswap = _mm_set_epi64x(0x0001_0203_0405_0607, 0x0809_0a0b_0c0d_0e0f);
                let mut w = [_mm_setzero_si128(); 4];
                for (q, wq) in w.iter_mut().enumerate() {
                    let chunk: &[u8; 16] = block[16 * q..16 * q + 16].try_into().expect("16 bytes");
                    // SAFETY: `chunk` is 16 readable bytes; the load is unaligned.
                    let v = unsafe { _mm_loadu_si128(chunk.as_ptr().cast()) };
                    *wq = _mm_shuffle_epi8(v, bswap);
                }
                w
            }

            /// One padded block of the message `buf[s..s + len]`, loaded straight from `buf`, which must
            /// hold 64 bytes from `s` on: the bytes past `len` are masked off in registers, so no stack copy
            /// (and no store-forwarding stall from a byte-wise copy followed by vector loads) is needed.
            #[target_feature(enable = $features)]
            #[inline]
            fn block_direct(window: &[u8; 64], len: usize) -> [__m128i; 4] {
                debug_assert!(len <= ONE_BLOCK_MAX);
                let bswap = _mm_set_epi64x(0x0001_0203_0405_0607, 0x0809_0a0b_0c0d_0e0f);
                let lenv = _mm_set1_epi8(len as i8);
                let pad = _mm_set1_epi8(0x80u8 as i8);
                let mut w = [_mm_setzero_si128(); 4];
                for (q, wq) in w.iter_mut().enumerate() {
                    let chunk: &[u8; 16] = window[16 * q..16 * q + 16].try_into().expect("16 bytes");
                    // SAFETY: `chunk` is 16 readable bytes; the load is unaligned.
                    let v = unsafe { _mm_loadu_si128(chunk.as_ptr().cast()) };
                    let base = 16 * q as i8;
                    let idx = _mm_setr_epi8(
                        base, base + 1, base + 2, base + 3, base + 4, base + 5, base + 6, base + 7,
                        base + 8, base + 9, base + 10, base + 11, base + 12, base + 13, base + 14, base + 15,
                    );
                    // Byte positions < len keep the message, position len gets 0x80, the rest are zero.
                    let keep = _mm_cmpgt_epi8(lenv, idx);
                    let mark = _mm_and_si128(_mm_cmpeq_epi8(lenv, idx), pad);
                    let mut v = _mm_or_si128(_mm_and_si128(v, keep), mark);
                    if q == 3 {
                        // Bit length big-endian in bytes 62..64 (zero so far, as len ≤ 55).
                        let bits = ((len as u16) * 8).swap_bytes();
                        v = _mm_insert_epi16::<7>(v, i32::from(bits));
                    }
                    *wq = _mm_shuffle_epi8(v, bswap);
                }
                w
            }

            /// SHA-NI one-block SHA-1 of `N` prepared blocks at once, interleaved so the `sha1rnds4`
            /// dependency chains of independent messages overlap (one chain alone is latency-bound).
            /// Writes `sha1_hash32` (first digest word, read little-endian) of each into `out`.
            #[target_feature(enable = $features)]
            #[inline]
            fn sha_ni_n<const N: usize>(w: &mut [[__m128i; 4]; N], out: &mut [u32]) {
                let abcd0 = _mm_set_epi32(H0[0] as i32, H0[1] as i32, H0[2] as i32, H0[3] as i32);
                let e0 = _mm_set_epi32(H0[4] as i32, 0, 0, 0);
                let mut abcd = [abcd0; N];
                let mut prev = [abcd0; N];
                macro_rules! group {
                    ($i:expr, $f:expr) => {{
                        for j in 0..N {
                            let msg = w[j][$i & 3];
                            let e = if $i == 0 { _mm_add_epi32(e0, msg) } else { _mm_sha1nexte_epu32(prev[j], msg) };
                            prev[j] = abcd[j];
                            abcd[j] = _mm_sha1rnds4_epu32::<$f>(abcd[j], e);
                        }
                        if $i + 4 < 20 {
                            for j in 0..N {
                                // W[i+4] = msg2(msg1(W[i], W[i+1]) ^ W[i+2], W[i+3]).
                                let t = _mm_xor_si128(_mm_sha1msg1_epu32(w[j][$i & 3], w[j][($i + 1) & 3]), w[j][($i + 2) & 3]);
                                w[j][$i & 3] = _mm_sha1msg2_epu32(t, w[j][($i + 3) & 3]);
                            }
                        }
                    }};
                }
                group!(0, 0); group!(1, 0); group!(2, 0); group!(3, 0); group!(4, 0);
                group!(5, 1); group!(6, 1); group!(7, 1); group!(8, 1); group!(9, 1);
                group!(10, 2); group!(11, 2); group!(12, 2); group!(13, 2); group!(14, 2);
                group!(15, 3); group!(16, 3); group!(17, 3); group!(18, 3); group!(19, 3);
                for j in 0..N {
                    let a = (_mm_extract_epi32::<3>(abcd[j]) as u32).wrapping_add(H0[0]);
                    out[j] = a.swap_bytes();
                }
            }

            /// Messages per interleaved SHA-NI group (enough independent chains to hide the round latency,
            /// few enough to stay in registers).
            const NI: usize = 8;

            #[target_feature(enable = $features)]
            pub(super) fn hash16_sha_ni(msgs: &[&[u8]], out: &mut [u32]) {
                let mut i = 0;
                while i + NI <= msgs.len() {
                    let mut w = [[_mm_setzero_si128(); 4]; NI];
                    for j in 0..NI {
                        w[j] = block_copy(msgs[i + j]);
                    }
                    sha_ni_n::<NI>(&mut w, &mut out[i..i + NI]);
                    i += NI;
                }
                while i < msgs.len() {
                    let mut w = [block_copy(msgs[i])];
                    sha_ni_n::<1>(&mut w, &mut out[i..=i]);
                    i += 1;
                }
            }

            #[target_feature(enable = $features)]
            pub(super) fn ranges_sha_ni(buf: &[u8], ranges: &[(usize, usize)], out: &mut [u32]) {
                let load = |(s, e): (usize, usize)| match buf.get(s..s + 64) {
                    Some(win) => block_direct(win.try_into().expect("64 bytes"), e - s),
                    None => block_copy(&buf[s..e]),
                };
                let mut i = 0;
                while i + NI <= ranges.len() {
                    let mut w = [[_mm_setzero_si128(); 4]; NI];
                    for j in 0..NI {
                        w[j] = load(ranges[i + j]);
                    }
                    sha_ni_n::<NI>(&mut w, &mut out[i..i + NI]);
                    i += NI;
                }
                while i < ranges.len() {
                    let mut w = [load(ranges[i])];
                    sha_ni_n::<1>(&mut w, &mut out[i..=i]);
                    i += 1;
                }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
sha_ni_kernels!(ni512, "sha,sse2,ssse3,sse4.1,avx2,avx512f,avx512vl");
#[cfg(target_arch = "x86_64")]
sha_ni_kernels!(ni128, "sha,sse2,ssse3,sse4.1");

/// Hand-written 16-lane AVX-512 SHA-1 of one-block messages: each message is one masked 64-byte
/// row (padding and bit length set in registers), a 16×16 word transpose turns the rows into the
/// schedule words, and the 80 rounds run on whole registers (`vprold` rotations, `vpternlogd`
/// round functions).
#[cfg(target_arch = "x86_64")]
mod x16_512 {
    #![allow(clippy::wildcard_imports)]
    use super::{H0, K, L};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f")]
    #[inline]
    fn round<const F: i32>(st: &mut [__m512i; 5], k: __m512i, w: __m512i) {
        let [a, b, c, d, e] = *st;
        let f = _mm512_ternarylogic_epi32::<F>(b, c, d);
        let t = _mm512_add_epi32(_mm512_add_epi32(_mm512_rol_epi32::<5>(a), f), _mm512_add_epi32(e, _mm512_add_epi32(k, w)));
        *st = [t, a, _mm512_rol_epi32::<30>(b), c, d];
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    fn next_w(w: &mut [__m512i; 16], t: usize) -> __m512i {
        let x = _mm512_ternarylogic_epi32::<0x96>(w[(t + 13) & 15], w[(t + 8) & 15], w[(t + 2) & 15]);
        let v = _mm512_rol_epi32::<1>(_mm512_xor_si512(x, w[t & 15]));
        w[t & 15] = v;
        v
    }

    /// `buf` must hold 64 readable bytes from every range start (the caller checks).
    #[target_feature(enable = "avx512f,avx512bw,bmi1,bmi2")]
    pub(super) fn ranges(buf: &[u8], ranges: &[(usize, usize)], out: &mut [u32]) {
        let bswap = _mm512_set_epi64(
            0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203, 0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203,
            0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203, 0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203,
        );
        let pad = _mm512_set1_epi8(0x80u8 as i8);
        let mut r = [_mm512_setzero_si512(); L];
        for (row, &(s, e)) in r.iter_mut().zip(ranges) {
            let len = e - s;
            let _ = &buf[s..s + 64];
            // SAFETY: 64 bytes from s are inside buf (bounds-checked just above); masked to len.
            let v = unsafe { _mm512_maskz_loadu_epi8(_bzhi_u64(u64::MAX, len as u32), buf.as_ptr().add(s).cast()) };
            let v = _mm512_mask_mov_epi8(v, 1u64 << len, pad);
            let bits = ((len as u16) * 8).swap_bytes();
            let v = _mm512_mask_mov_epi16(v, 1 << 31, _mm512_set1_epi16(bits as i16));
            *row = _mm512_shuffle_epi8(v, bswap);
        }
        // 16×16 transpose of 32-bit words: w[t] lane l = r[l] word t.
        let mut t1 = [_mm512_setzero_si512(); L];
        for i in 0..8 {
            t1[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
            t1[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
        }
        let mut t2 = [_mm512_setzero_si512(); L];
        for i in 0..4 {
            t2[4 * i] = _mm512_unpacklo_epi64(t1[4 * i], t1[4 * i + 2]);
            t2[4 * i + 1] = _mm512_unpackhi_epi64(t1[4 * i], t1[4 * i + 2]);
            t2[4 * i + 2] = _mm512_unpacklo_epi64(t1[4 * i + 1], t1[4 * i + 3]);
            t2[4 * i + 3] = _mm512_unpackhi_epi64(t1[4 * i + 1], t1[4 * i + 3]);
        }
        // t2[4i + j] holds, in each 128-bit lane q, word (4q + j) of rows 4i..4i+4.
        let mut t3 = [_mm512_setzero_si512(); L];
        for j in 0..4 {
            // Gather 128-bit lanes: rows 0-3 & 4-7 (lanes q=0,1 of t2[j], t2[4+j]) etc.
            let a = _mm512_shuffle_i32x4::<0x88>(t2[j], t2[4 + j]); // lanes 0,2 of each
            let b = _mm512_shuffle_i32x4::<0xDD>(t2[j], t2[4 + j]); // lanes 1,3 of each
            let c = _mm512_shuffle_i32x4::<0x88>(t2[8 + j], t2[12 + j]);
            let d = _mm512_shuffle_i32x4::<0xDD>(t2[8 + j], t2[12 + j]);
            t3[j] = _mm512_shuffle_i32x4::<0x88>(a, c); // q = 0
            t3[4 + j] = _mm512_shuffle_i32x4::<0x88>(b, d); // q = 1
            t3[8 + j] = _mm512_shuffle_i32x4::<0xDD>(a, c); // q = 2
            t3[12 + j] = _mm512_shuffle_i32x4::<0xDD>(b, d); // q = 3
        }
        let mut w = t3;
        let mut st = [
            _mm512_set1_epi32(H0[0] as i32),
            _mm512_set1_epi32(H0[1] as i32),
            _mm512_set1_epi32(H0[2] as i32),
            _mm512_set1_epi32(H0[3] as i32),
            _mm512_set1_epi32(H0[4] as i32),
        ];
        let k0 = _mm512_set1_epi32(K[0] as i32);
        let k1 = _mm512_set1_epi32(K[1] as i32);
        let k2 = _mm512_set1_epi32(K[2] as i32);
        let k3 = _mm512_set1_epi32(K[3] as i32);
        for t in 0..16 {
            round::<0xCA>(&mut st, k0, w[t]);
        }
        for t in 16..20 {
            let v = next_w(&mut w, t);
            round::<0xCA>(&mut st, k0, v);
        }
        for t in 20..40 {
            let v = next_w(&mut w, t);
            round::<0x96>(&mut st, k1, v);
        }
        for t in 40..60 {
            let v = next_w(&mut w, t);
            round::<0xE8>(&mut st, k2, v);
        }
        for t in 60..80 {
            let v = next_w(&mut w, t);
            round::<0x96>(&mut st, k3, v);
        }
        let a = _mm512_add_epi32(st[0], _mm512_set1_epi32(H0[0] as i32));
        let mut lanes = [0u32; L];
        // SAFETY: lanes is 64 writable bytes.
        unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), a) };
        for (o, v) in out.iter_mut().zip(lanes).take(ranges.len()) {
            *o = v.swap_bytes();
        }
    }
}

/// Which SHA-NI kernel this CPU runs: 2 with AVX-512VL, 1 with SHA-NI alone, 0 without SHA-NI.
#[cfg(target_arch = "x86_64")]
fn sha_ni_level() -> u8 {
    use std::arch::is_x86_feature_detected as has;
    if !(has!("sha") && has!("sse4.1") && has!("ssse3")) {
        return 0;
    }
    if has!("avx2") && has!("avx512f") && has!("avx512vl") {
        2
    } else {
        1
    }
}

/// The one-block SHA-1 kernels [`sha1_hash32_ranges`] chooses between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sha1Kernel {
    /// SHA-NI, eight messages interleaved (or the autovectorised 16-lane kernel without SHA-NI).
    ShaNi,
    /// The hand-written 16-lane AVX-512 kernel.
    Avx512x16,
}

impl Sha1Kernel {
    pub fn name(self) -> &'static str {
        match self {
            Sha1Kernel::ShaNi => "sha-ni",
            Sha1Kernel::Avx512x16 => "avx512-x16",
        }
    }
}

/// The SHA-1 kernel this process uses: where both SHA-NI and AVX-512BW exist, the faster of the two
/// on a short synthetic batch (interleaved rounds, best of each; a few milliseconds once per
/// process), because which one wins depends on the core: on an AMD EPYC (Zen 4) the 16-lane kernel
/// takes about 13 ns per message against SHA-NI's 19.
pub fn sha1_kernel() -> Sha1Kernel {
    static CHOSEN: std::sync::OnceLock<Sha1Kernel> = std::sync::OnceLock::new();
    *CHOSEN.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if super::scan::simd_scan_available() {
                if sha_ni_level() == 0 {
                    return Sha1Kernel::Avx512x16;
                }
                return calibrate_sha1();
            }
        }
        Sha1Kernel::ShaNi
    })
}

#[cfg(target_arch = "x86_64")]
fn calibrate_sha1() -> Sha1Kernel {
    use std::time::Instant;
    let buf: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let ranges: Vec<(usize, usize)> = (0..16).map(|i| (i * 97, i * 97 + 9 + (i * 7) % 40)).collect();
    let mut out = [0u32; 16];
    let (mut ni, mut x16) = (u128::MAX, u128::MAX);
    for _round in 0..5 {
        let t0 = Instant::now();
        for _ in 0..200 {
            // SAFETY: calibrate_sha1 runs only when SHA-NI (level ≥ 1) and AVX-512BW were detected.
            unsafe {
                match sha_ni_level() {
                    2 => ni512::ranges_sha_ni(std::hint::black_box(&buf), &ranges, &mut out),
                    _ => ni128::ranges_sha_ni(std::hint::black_box(&buf), &ranges, &mut out),
                }
            }
        }
        ni = ni.min(t0.elapsed().as_nanos());
        let t0 = Instant::now();
        for _ in 0..200 {
            // SAFETY: as above; every range has 64 readable bytes.
            unsafe { x16_512::ranges(std::hint::black_box(&buf), &ranges, &mut out) };
        }
        x16 = x16.min(t0.elapsed().as_nanos());
    }
    if x16 < ni {
        Sha1Kernel::Avx512x16
    } else {
        Sha1Kernel::ShaNi
    }
}

/// `sha1_hash32` of the messages `buf[s..e]` for up to 16 `(s, e)` ranges (each at most
/// [`ONE_BLOCK_MAX`] bytes), into `out`. Same results as [`sha1_hash32_x16`] on the slices; with
/// SHA-NI, messages followed by at least 64 − len bytes of `buf` are loaded without a copy.
pub fn sha1_hash32_ranges(buf: &[u8], ranges: &[(usize, usize)], out: &mut [u32]) {
    assert!(ranges.len() <= L && out.len() >= ranges.len(), "at most 16 messages per call");
    assert!(
        ranges.iter().all(|&(s, e)| s <= e && e <= buf.len() && e - s <= ONE_BLOCK_MAX),
        "one-block messages inside the buffer only"
    );
    #[cfg(target_arch = "x86_64")]
    {
        if sha1_kernel() == Sha1Kernel::Avx512x16 && ranges.iter().all(|&(s, _)| s + 64 <= buf.len()) {
            // SAFETY: the kernel is only chosen when AVX-512F/BW and BMI1/2 were detected; every
            // range has 64 readable bytes (checked just above).
            return unsafe { x16_512::ranges(buf, ranges, out) };
        }
        match sha_ni_level() {
            // SAFETY: every feature the function enables was detected on this CPU.
            2 => return unsafe { ni512::ranges_sha_ni(buf, ranges, out) },
            // SAFETY: as above.
            1 => return unsafe { ni128::ranges_sha_ni(buf, ranges, out) },
            _ => {}
        }
    }
    let mut msgs: [&[u8]; L] = [&[]; L];
    for (m, &(s, e)) in msgs.iter_mut().zip(ranges) {
        *m = &buf[s..e];
    }
    sha1_hash32_x16(&msgs[..ranges.len()], out);
}

/// `sha1_hash32` of up to 16 messages of at most [`ONE_BLOCK_MAX`] bytes each, into `out`.
pub fn sha1_hash32_x16(msgs: &[&[u8]], out: &mut [u32]) {
    assert!(msgs.len() <= L && out.len() >= msgs.len(), "at most 16 messages per call");
    assert!(msgs.iter().all(|m| m.len() <= ONE_BLOCK_MAX), "one-block messages only");
    #[cfg(target_arch = "x86_64")]
    {
        match sha_ni_level() {
            // SAFETY: every feature the function enables was detected on this CPU.
            2 => return unsafe { ni512::hash16_sha_ni(msgs, out) },
            // SAFETY: as above.
            1 => return unsafe { ni128::hash16_sha_ni(msgs, out) },
            _ => {}
        }
        match super::signature::kernel_isa() {
            // SAFETY: AVX-512F/VL were detected on this CPU (kernel_isa checks them).
            "avx512" => return unsafe { hash16_avx512(msgs, out) },
            // SAFETY: AVX2 was detected on this CPU.
            "avx2" => return unsafe { hash16_avx2(msgs, out) },
            _ => {}
        }
    }
    hash16_generic(msgs, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::minhash::shingle::sha1_hash32;

    #[test]
    fn equals_scalar_sha1_for_every_length() {
        let data: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for n in 1..=16usize {
            let msgs: Vec<&[u8]> = (0..n).map(|i| &data[i * 7..i * 7 + (i * 13 + n) % (ONE_BLOCK_MAX + 1)]).collect();
            let mut out = [0u32; 16];
            sha1_hash32_x16(&msgs, &mut out);
            for (i, m) in msgs.iter().enumerate() {
                assert_eq!(out[i], sha1_hash32(m), "lane {i} len {}", m.len());
            }
            let mut g = [0u32; 16];
            hash16_generic(&msgs, &mut g);
            assert_eq!(g[..n], out[..n]);
        }
        let mut out = [0u32; 1];
        sha1_hash32_x16(&[b"abc"], &mut out);
        assert_eq!(out[0], 0x363e_99a9);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn both_sha_ni_variants_equal_generic() {
        if sha_ni_level() == 0 {
            return;
        }
        let data: Vec<u8> = (0..2048u32).map(|i| (i.wrapping_mul(2_246_822_519) >> 11) as u8).collect();
        for n in 1..=16usize {
            let ranges: Vec<(usize, usize)> = (0..n).map(|i| (i * 11, i * 11 + (i * 7 + n) % (ONE_BLOCK_MAX + 1))).collect();
            let msgs: Vec<&[u8]> = ranges.iter().map(|&(s, e)| &data[s..e]).collect();
            let mut g = [0u32; 16];
            hash16_generic(&msgs, &mut g);
            let (mut a, mut b) = ([0u32; 16], [0u32; 16]);
            // SAFETY: sha_ni_level() > 0, so SHA-NI, SSSE3 and SSE4.1 are present.
            unsafe {
                ni128::hash16_sha_ni(&msgs, &mut a);
                ni128::ranges_sha_ni(&data, &ranges, &mut b);
            }
            assert_eq!((a[..n].to_vec(), b[..n].to_vec()), (g[..n].to_vec(), g[..n].to_vec()), "n {n}");
            if sha_ni_level() == 2 {
                // SAFETY: level 2 also detected AVX2, AVX-512F and AVX-512VL.
                unsafe {
                    ni512::hash16_sha_ni(&msgs, &mut a);
                    ni512::ranges_sha_ni(&data, &ranges, &mut b);
                }
                assert_eq!((a[..n].to_vec(), b[..n].to_vec()), (g[..n].to_vec(), g[..n].to_vec()), "n {n}");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_x16_equals_scalar_for_every_length_and_lane_count() {
        if !crate::minhash::scan::simd_scan_available() {
            return;
        }
        let data: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_246_822_519) >> 11) as u8).collect();
        for n in 1..=16usize {
            for shift in 0..4usize {
                let ranges: Vec<(usize, usize)> =
                    (0..n).map(|i| (i * 131 + shift, i * 131 + shift + (i * 7 + n + shift * 13) % (ONE_BLOCK_MAX + 1))).collect();
                let mut out = [0u32; 16];
                // SAFETY: AVX-512F/BW and BMI1/2 were detected; every range has 64 readable bytes.
                unsafe { x16_512::ranges(&data, &ranges, &mut out) };
                for (i, &(s, e)) in ranges.iter().enumerate() {
                    assert_eq!(out[i], sha1_hash32(&data[s..e]), "lane {i} of {n}, len {}", e - s);
                }
            }
        }
        assert!(matches!(sha1_kernel(), Sha1Kernel::ShaNi | Sha1Kernel::Avx512x16));
    }

    #[test]
    fn ranges_equal_scalar_sha1_including_buffer_ends() {
        // Random bytes (high bytes included) so the in-register masking sees every byte value.
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let data: Vec<u8> = (0..700)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for buf_len in [0usize, 1, 30, 55, 63, 64, 65, 120, 700] {
            let buf = &data[..buf_len];
            for n in 1..=16usize {
                let ranges: Vec<(usize, usize)> = (0..n)
                    .map(|i| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let len = (x as usize % (ONE_BLOCK_MAX + 1)).min(buf_len);
                        // Every third message ends exactly at the buffer end (the copy fallback).
                        let s = if i % 3 == 0 { buf_len - len } else { (x >> 20) as usize % (buf_len - len + 1) };
                        (s, s + len)
                    })
                    .collect();
                let mut out = [0u32; 16];
                sha1_hash32_ranges(buf, &ranges, &mut out);
                let msgs: Vec<&[u8]> = ranges.iter().map(|&(s, e)| &buf[s..e]).collect();
                let mut g = [0u32; 16];
                hash16_generic(&msgs, &mut g);
                for (i, m) in msgs.iter().enumerate() {
                    assert_eq!(out[i], sha1_hash32(m), "lane {i} len {} buf {buf_len}", m.len());
                }
                assert_eq!(g[..n], out[..n]);
            }
        }
    }
}
