//! BigCode tokenisation as a byte scan: `re.split(r"[^A-Za-z_0-9]", text)` with the empty tokens
//! kept, written out as the *normalised* text (every separator character replaced by one space,
//! UTF-8 continuation bytes dropped) plus the start offset of every token in it.
//!
//! With that layout the n-gram shingle `" ".join(tokens[i:i+n])` is the contiguous slice
//! `norm[starts[i] .. starts[i+n] - 1]`, so shingles are hashed and compared in place, never
//! built. Token `t` is `norm[starts[t] .. starts[t+1] - 1]`; the last entry of `starts` is
//! `norm_len + 1`, as if a separator followed the text.
//!
//! The AVX-512BW scan classifies 64 bytes per step (three range compares give the word bytes, one
//! signed compare the continuation bytes), writes the normalised chunk with one masked blend, and
//! walks the separator bit mask with `tzcnt`. A chunk that contains UTF-8 continuation bytes
//! (rare in source code) goes through the portable byte loop, which is also the fallback on other
//! CPUs and the reference the tests compare against.

// The byte step must inline into the SIMD scan's `target_feature` context; i, j, k, n follow the
// usual input/output/token/length roles.
#![allow(clippy::inline_always, clippy::many_single_char_names)]

/// Zero bytes kept after the normalised text, so kernels may load 64 bytes from any offset in it.
pub const PAD: usize = 64;

const WORD: u8 = 0;
const SEP: u8 = 1;
const CONT: u8 = 2;
/// Word byte, lead byte of a separator character (ASCII or the first byte of a multi-byte UTF-8
/// character), or UTF-8 continuation byte.
const BYTE_CLASS: [u8; 256] = {
    let mut t = [SEP; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c == b'_' {
            t[b] = WORD;
        } else if c & 0xC0 == 0x80 {
            t[b] = CONT;
        }
        b += 1;
    }
    t
};

/// The branch-free byte step shared by both scans: write the output byte, record a token start
/// after a separator. Returns the new `(j, k)`.
#[inline(always)]
fn step(b: u8, norm: &mut [u8], starts: &mut [u32], j: usize, k: usize) -> (usize, usize) {
    let c = BYTE_CLASS[b as usize];
    norm[j] = if c == WORD { b } else { b' ' };
    let j = j + usize::from(c != CONT);
    // Written unconditionally; only kept (k advanced) after a separator.
    starts[k] = j as u32;
    (j, k + usize::from(c == SEP))
}

fn prepare(n: usize, norm: &mut Vec<u8>, starts: &mut Vec<u32>) {
    assert!(u32::try_from(n + 1).is_ok(), "documents are limited to 4 GiB");
    norm.clear();
    norm.resize(n + PAD, 0);
    starts.clear();
    // One entry per separator, the first token and the end sentinel, plus room for a whole chunk
    // of unconditional writes.
    starts.resize(n + 2 + 64, 0);
}

fn finish(norm: &mut Vec<u8>, starts: &mut Vec<u32>, j: usize, k: usize) -> usize {
    starts[k] = (j + 1) as u32;
    starts.truncate(k + 1);
    // The byte loop writes one slot past j for a continuation byte; keep the padding zero.
    norm.truncate(j + PAD);
    norm[j..].fill(0);
    j
}

/// Portable scan (and the reference for the SIMD one). Returns the normalised length; `norm` ends
/// up `PAD` bytes longer than that.
pub fn bigcode_scan_portable(text: &[u8], norm: &mut Vec<u8>, starts: &mut Vec<u32>) -> usize {
    prepare(text.len(), norm, starts);
    let (mut j, mut k) = (0usize, 1usize);
    for &b in text {
        (j, k) = step(b, norm, starts, j, k);
    }
    finish(norm, starts, j, k)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    #![allow(clippy::wildcard_imports)]
    use super::{finish, prepare, step};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f,avx512bw,bmi1,bmi2,popcnt")]
    pub(super) fn bigcode_scan_avx512(text: &[u8], norm: &mut Vec<u8>, starts: &mut Vec<u32>) -> usize {
        prepare(text.len(), norm, starts);
        let n = text.len();
        let (mut j, mut k) = (0usize, 1usize);
        let spaces = _mm512_set1_epi8(b' ' as i8);
        let zero = _mm512_set1_epi8(b'0' as i8);
        let lower_a = _mm512_set1_epi8(b'a' as i8);
        let case = _mm512_set1_epi8(0x20);
        let ten = _mm512_set1_epi8(10);
        let twenty_six = _mm512_set1_epi8(26);
        let underscore = _mm512_set1_epi8(b'_' as i8);
        let cont_limit = _mm512_set1_epi8(-64);
        let mut i = 0;
        while i < n {
            let rem = n - i;
            let live: u64 = if rem >= 64 { u64::MAX } else { _bzhi_u64(u64::MAX, rem as u32) };
            // SAFETY: the mask covers only bytes i..n of `text`; masked-off lanes are not read.
            let v = unsafe { _mm512_maskz_loadu_epi8(live, text.as_ptr().add(i).cast()) };
            let digit = _mm512_cmplt_epu8_mask(_mm512_sub_epi8(v, zero), ten);
            let letter = _mm512_cmplt_epu8_mask(_mm512_sub_epi8(_mm512_or_si512(v, case), lower_a), twenty_six);
            let word = digit | letter | _mm512_cmpeq_epi8_mask(v, underscore);
            // 0x80..=0xBF are the only bytes below -64 as i8.
            let cont = _mm512_cmplt_epi8_mask(v, cont_limit) & live;
            if cont == 0 {
                let out = _mm512_mask_blend_epi8(word, spaces, v);
                debug_assert!(j + 64 <= norm.len());
                // SAFETY: j ≤ i < n and norm.len() = n + PAD with PAD = 64, and the store is masked
                // to the live bytes.
                unsafe { _mm512_mask_storeu_epi8(norm.as_mut_ptr().add(j).cast(), live, out) };
                let mut seps = !word & live;
                while seps != 0 {
                    let t = seps.trailing_zeros() as usize;
                    starts[k] = (j + t + 1) as u32;
                    k += 1;
                    seps &= seps - 1;
                }
                j += rem.min(64);
            } else {
                for &b in &text[i..i + rem.min(64)] {
                    (j, k) = step(b, norm, starts, j, k);
                }
            }
            i += 64;
        }
        finish(norm, starts, j, k)
    }
}

/// Whether [`bigcode_scan`] uses the AVX-512BW scan on this CPU.
pub fn simd_scan_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *OK.get_or_init(|| has!("avx512f") && has!("avx512bw") && has!("bmi1") && has!("bmi2") && has!("popcnt"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Scan `text` into its normalised bytes and token starts (see the module docs). Returns the
/// normalised length; `norm.len()` is that plus [`PAD`].
pub fn bigcode_scan(text: &[u8], norm: &mut Vec<u8>, starts: &mut Vec<u32>) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        if simd_scan_available() {
            // SAFETY: every feature the function enables was detected on this CPU.
            return unsafe { x86::bigcode_scan_avx512(text, norm, starts) };
        }
    }
    bigcode_scan_portable(text, norm, starts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<String> {
        let (mut norm, mut starts) = (Vec::new(), Vec::new());
        let len = bigcode_scan(text.as_bytes(), &mut norm, &mut starts);
        assert_eq!(norm.len(), len + PAD);
        assert!(norm[len..].iter().all(|&b| b == 0), "padding stays zero");
        starts.windows(2).map(|w| String::from_utf8(norm[w[0] as usize..w[1] as usize - 1].to_vec()).unwrap()).collect()
    }

    #[test]
    fn tokens_match_re_split() {
        assert_eq!(tokens("def f(x):\n  return x"), ["def", "f", "x", "", "", "", "", "return", "x"]);
        assert_eq!(tokens(""), [""]);
        assert_eq!(tokens("a€b"), ["a", "b"]);
        assert_eq!(tokens("é"), ["", ""]);
        assert_eq!(tokens("a\u{1F600}"), ["a", ""]);
        // Chunk boundaries: 63, 64 and 65 bytes, with a separator on the boundary.
        for n in [63usize, 64, 65, 127, 128, 129] {
            let text: String = (0..n).map(|i| if i % 7 == 6 || i == 63 { ' ' } else { 'x' }).collect();
            let expect: Vec<String> = text.split(' ').map(str::to_string).collect();
            assert_eq!(tokens(&text), expect, "n={n}");
        }
    }

    #[test]
    fn simd_scan_equals_portable_on_every_byte_value() {
        // Every byte class in every chunk position, ASCII-only chunks and chunks with multi-byte
        // characters, lengths around the 64-byte step.
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let pieces = ["a", "Z", "_", "0", "9", " ", "\t", "(", "@", "[", "`", "{", "é", "€", "\u{1F600}", "\u{7f}", "/", ":"];
        for len in 0..300usize {
            let mut text = String::new();
            while text.len() < len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                // Mostly ASCII so that the SIMD fast path runs, sometimes a non-ASCII character.
                let p = if seed.is_multiple_of(11) { pieces[12 + (seed >> 8) as usize % 3] } else { pieces[(seed >> 8) as usize % 12] };
                text.push_str(p);
            }
            let (mut n1, mut s1, mut n2, mut s2) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let l1 = bigcode_scan(text.as_bytes(), &mut n1, &mut s1);
            let l2 = bigcode_scan_portable(text.as_bytes(), &mut n2, &mut s2);
            assert_eq!((l1, &n1, &s1), (l2, &n2, &s2), "{text:?}");
        }
        // All 128 ASCII values in one 128-byte text (two chunks).
        let all: String = (0u8..128).map(char::from).collect();
        let (mut n1, mut s1, mut n2, mut s2) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        bigcode_scan(all.as_bytes(), &mut n1, &mut s1);
        bigcode_scan_portable(all.as_bytes(), &mut n2, &mut s2);
        assert_eq!((n1, s1), (n2, s2));
    }
}
