//! Multi-buffer SHA-1: sixteen one-block messages hashed at once, one message per SIMD lane.
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

/// `sha1_hash32` of up to 16 messages of at most [`ONE_BLOCK_MAX`] bytes each, into `out`.
pub fn sha1_hash32_x16(msgs: &[&[u8]], out: &mut [u32]) {
    assert!(msgs.len() <= L && out.len() >= msgs.len(), "at most 16 messages per call");
    assert!(msgs.iter().all(|m| m.len() <= ONE_BLOCK_MAX), "one-block messages only");
    #[cfg(target_arch = "x86_64")]
    {
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
}
