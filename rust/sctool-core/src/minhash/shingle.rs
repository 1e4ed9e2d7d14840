//! Shingling: text → the set of 32-bit shingle hashes MinHash works on.
//!
//! The default reproduces BigCode's near-dedup exactly (`minhash_deduplication.py`):
//! `tokens = re.split(r"[^A-Za-z_0-9]", text)` with the empty tokens *kept* (so runs of
//! punctuation and indentation become shingles), shingles = `" ".join(tokens[i:i+n])`, no shingles
//! when there are fewer than `n` tokens, and each shingle hashed to the first four bytes of its
//! SHA-1, read little-endian (`struct.unpack("<I", sha1(s).digest()[:4])`, datasketch's
//! `sha1_hash32`). Two options widen that: `Words` drops the empty tokens and `Chars` uses
//! character n-grams of the raw text; `Xxh3` swaps SHA-1 for the low 32 bits of XXH3-64, which is
//! several times cheaper and statistically as good for MinHash, but no longer StarCoder-exact.
//!
//! Hashing a shingle and de-duplicating the hashes is exactly equivalent to hashing the set of
//! shingle strings: two distinct shingles with the same 32-bit hash produce identical permuted
//! values, so they cannot change any minimum.

// The hot helpers are tiny and must inline into the per-window loop.
#![allow(clippy::inline_always)]

use sha1::{Digest, Sha1};
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{CoreError, Result};

/// How a document is cut into shingles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShingleKind {
    /// BigCode/StarCoder: split on `[^A-Za-z_0-9]`, empty tokens kept, n-grams joined by a space.
    BigCode,
    /// Like `BigCode` with the empty tokens dropped (whitespace-only edits leave the set unchanged).
    Words,
    /// Character n-grams of the raw text (n Unicode scalar values).
    Chars,
}

impl ShingleKind {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "bigcode" | "starcoder" => Ok(ShingleKind::BigCode),
            "words" => Ok(ShingleKind::Words),
            "chars" | "char" => Ok(ShingleKind::Chars),
            other => Err(CoreError::InvalidConfig(format!(
                "unknown shingle kind {other:?} (expected bigcode, words or chars)"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ShingleKind::BigCode => "bigcode",
            ShingleKind::Words => "words",
            ShingleKind::Chars => "chars",
        }
    }
}

/// Which 32-bit hash a shingle gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShingleHash {
    /// First 4 bytes of SHA-1, little-endian: StarCoder/datasketch exact.
    Sha1,
    /// Low 32 bits of XXH3-64: fast, not StarCoder-exact.
    Xxh3,
}

impl ShingleHash {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "sha1" => Ok(ShingleHash::Sha1),
            "xxh3" => Ok(ShingleHash::Xxh3),
            other => Err(CoreError::InvalidConfig(format!(
                "unknown shingle hash {other:?} (expected sha1 or xxh3)"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ShingleHash::Sha1 => "sha1",
            ShingleHash::Xxh3 => "xxh3",
        }
    }

    #[inline]
    pub fn hash(self, bytes: &[u8]) -> u32 {
        match self {
            ShingleHash::Sha1 => sha1_hash32(bytes),
            ShingleHash::Xxh3 => xxh3_64(bytes) as u32,
        }
    }
}

/// datasketch's `sha1_hash32`: the first four digest bytes as a little-endian u32.
///
/// This is the one-message path (shingles longer than one block, tests); batches of short
/// shingles go through the 16-lane kernel in [`super::sha1x`].
#[inline]
pub fn sha1_hash32(bytes: &[u8]) -> u32 {
    let digest = Sha1::digest(bytes);
    u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]])
}

#[inline]
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Byte ranges of the tokens of `re.split(r"[^A-Za-z_0-9]", text)`, empty tokens included.
///
/// Every character outside `[A-Za-z_0-9]` is one separator; a non-ASCII character is several UTF-8
/// bytes but one separator, so only its lead byte counts (continuation bytes `0b10xx_xxxx` are
/// skipped). Tokens therefore consist of ASCII word bytes only.
pub fn bigcode_tokens(text: &str, keep_empty: bool, out: &mut Vec<(u32, u32)>) {
    out.clear();
    let bytes = text.as_bytes();
    let mut start = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        if is_word_byte(b) {
            continue;
        }
        if b & 0xC0 == 0x80 {
            // A UTF-8 continuation byte: part of the separator character already counted.
            start = i + 1;
            continue;
        }
        if keep_empty || i > start {
            out.push((start as u32, i as u32));
        }
        start = i + 1;
    }
    if keep_empty || bytes.len() > start {
        out.push((start as u32, bytes.len() as u32));
    }
}

/// Reusable buffers so shingling a batch allocates once per worker, not per document.
#[derive(Default)]
pub struct ShingleScratch {
    /// The text with every separator character replaced by one space: each BigCode shingle
    /// (`" ".join(tokens[i:i+n])`) is then a contiguous slice of it, hashed without copying.
    norm: Vec<u8>,
    /// Token (start, end) offsets into `norm` (`Words`).
    tokens: Vec<(u32, u32)>,
    /// Token start offsets into `norm` (`BigCode`, see [`super::scan`]).
    starts: Vec<u32>,
    /// Char boundary offsets (character n-grams).
    chars: Vec<u32>,
    /// Open-addressing set of the hashes seen in this document (0 = empty slot).
    table: Vec<u64>,
    /// Open-addressing set of the one-block shingle *strings* seen in this document (see
    /// [`ShingleScratch::first_occurrence`]), so SHA-1 runs once per distinct shingle.
    strings: Vec<u64>,
}

impl ShingleScratch {
    /// Home slot of `h`: Fibonacci hashing of an already uniform value just spreads structured
    /// inputs.
    #[inline(always)]
    fn slot(h: u32, mask: usize) -> usize {
        (u64::from(h).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask
    }

    /// Insert-if-absent into the per-document hash set; the table has a power-of-two size ≥ 2n.
    #[inline]
    fn insert(table: &mut [u64], mask: usize, h: u32) -> bool {
        let tagged = u64::from(h) | (1 << 32);
        let mut i = Self::slot(h, mask);
        loop {
            let slot = table[i];
            if slot == 0 {
                table[i] = tagged;
                return true;
            }
            if slot == tagged {
                return false;
            }
            i = (i + 1) & mask;
        }
    }

    /// Insert-if-absent of the one-block shingle `bytes[s..e]` (at most 63 bytes) into the
    /// string set (same size as `table`), `k` being its XXH3-64; true the first time this exact
    /// byte string is seen.
    /// A slot packs `1 | fingerprint (25 bits) | length (6 bits) | start (32 bits)` into one
    /// word (0 = empty); equal fingerprints and lengths are confirmed by comparing the bytes.
    #[inline(always)]
    fn first_occurrence<const AVX512: bool>(strings: &mut [u64], mask: usize, bytes: &[u8], s: usize, e: usize, k: u64) -> bool {
        debug_assert!(e - s < 64 && u32::try_from(s).is_ok());
        let msg = &bytes[s..e];
        let key = (1 << 63) | ((k >> 39) << 38) | (((e - s) as u64) << 32);
        let mut i = k as usize & mask;
        loop {
            let slot = strings[i];
            if slot == 0 {
                strings[i] = key | s as u64;
                return true;
            }
            if slot >> 32 == key >> 32 {
                let ts = (slot & 0xFFFF_FFFF) as usize;
                if same_bytes::<AVX512>(bytes, ts, s, msg.len()) {
                    return false;
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Mask of the per-document sets' size (a power of two ≥ 2 × windows).
    fn reset_table(windows: usize) -> usize {
        (windows * 2).next_power_of_two().max(16) - 1
    }
}

/// `bytes[a..a + len] == bytes[b..b + len]` for `len` < 64. With AVX-512BW (the padded BigCode
/// buffer, where 64 bytes are readable from either offset) one masked compare replaces the
/// `memcmp` call, which was 8 % of the shingling profile.
#[inline(always)]
fn same_bytes<const AVX512: bool>(bytes: &[u8], a: usize, b: usize, len: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    if AVX512 && a.max(b) + 64 <= bytes.len() {
        use std::arch::x86_64::{_bzhi_u64, _mm512_cmpneq_epi8_mask, _mm512_maskz_loadu_epi8};
        debug_assert!(len < 64);
        // SAFETY: only instantiated inside the AVX-512BW/BMI2 wrapper of `hash_windows`; both
        // 64-byte windows lie inside `bytes` (checked above) and the loads are masked anyway.
        unsafe {
            let live = _bzhi_u64(u64::MAX, len as u32);
            let first = _mm512_maskz_loadu_epi8(live, bytes.as_ptr().add(a).cast());
            let second = _mm512_maskz_loadu_epi8(live, bytes.as_ptr().add(b).cast());
            return _mm512_cmpneq_epi8_mask(first, second) == 0;
        }
    }
    bytes[a..a + len] == bytes[b..b + len]
}

/// Normalise `text` for word shingles: one space per separator character (or, with
/// `keep_empty == false`, one space between consecutive non-empty tokens) and record the tokens.
/// `BigCode` documents go through [`super::scan`] instead; this loop is its reference in tests.
fn normalise_tokens(text: &str, keep_empty: bool, norm: &mut Vec<u8>, tokens: &mut Vec<(u32, u32)>) {
    norm.clear();
    tokens.clear();
    let bytes = text.as_bytes();
    norm.reserve(bytes.len());
    let mut start = 0u32;
    let mut in_token = false;
    for &b in bytes {
        if is_word_byte(b) {
            if !keep_empty && !in_token && !tokens.is_empty() {
                norm.push(b' ');
                start = norm.len() as u32;
            }
            if !in_token {
                start = norm.len() as u32;
                in_token = true;
            }
            norm.push(b);
        } else if b & 0xC0 != 0x80 {
            // One separator character (continuation bytes belong to it and are dropped).
            if keep_empty {
                tokens.push((start, norm.len() as u32));
                norm.push(b' ');
                start = norm.len() as u32;
            } else if in_token {
                tokens.push((start, norm.len() as u32));
            }
            in_token = false;
        }
    }
    if keep_empty || in_token {
        tokens.push((start, norm.len() as u32));
    }
}

/// Hash the byte ranges `windows` of `bytes` and insert each distinct hash into `out`.
///
/// SHA-1 goes through the 16-lane multi-buffer kernel for one-block shingles (nearly all of them);
/// longer ones, and XXH3, are hashed one by one.
fn hash_windows(
    bytes: &[u8],
    windows: impl Iterator<Item = (usize, usize)>,
    hash: ShingleHash,
    table: &mut Vec<u64>,
    strings: &mut Vec<u64>,
    mask: usize,
    out: &mut Vec<u32>,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if super::scan::simd_scan_available() {
            // SAFETY: the scan's feature set (AVX-512F/BW, BMI1/2, POPCNT) was detected.
            return unsafe { hash_windows_avx512(bytes, windows, hash, table, strings, mask, out) };
        }
    }
    hash_windows_impl::<false>(bytes, windows, hash, table, strings, mask, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,bmi1,bmi2,popcnt")]
fn hash_windows_avx512(
    bytes: &[u8],
    windows: impl Iterator<Item = (usize, usize)>,
    hash: ShingleHash,
    table: &mut Vec<u64>,
    strings: &mut Vec<u64>,
    mask: usize,
    out: &mut Vec<u32>,
) {
    hash_windows_impl::<true>(bytes, windows, hash, table, strings, mask, out);
}

#[inline(always)]
fn hash_windows_impl<const AVX512: bool>(
    bytes: &[u8],
    windows: impl Iterator<Item = (usize, usize)>,
    hash: ShingleHash,
    table: &mut Vec<u64>,
    strings: &mut Vec<u64>,
    mask: usize,
    out: &mut Vec<u32>,
) {
    match hash {
        ShingleHash::Xxh3 => {
            table.clear();
            table.resize(mask + 1, 0);
            let mut short = ShortCache::default();
            for (s, e) in windows {
                let word = ShortCache::word(bytes, s, e);
                if short.seen(word) {
                    continue;
                }
                short.remember(word);
                let h = xxh3_64(&bytes[s..e]) as u32;
                if ShingleScratch::insert(table, mask, h) {
                    out.push(h);
                }
            }
        }
        ShingleHash::Sha1 => {
            // Code repeats itself (indentation runs, boilerplate): typically only a third of a
            // file's shingles are distinct strings, so a cheap exact string set in front of SHA-1
            // saves most of the SHA-1 work. Dropping a repeated string cannot change the set of
            // hashes.
            const B: usize = 16;
            strings.clear();
            strings.resize(mask + 1, 0);
            let mut pending = [(0usize, 0usize); B];
            let mut n = 0;
            let mut hashes = [0u32; B];
            let mut short = ShortCache::default();
            for (s, e) in windows {
                let word = ShortCache::word(bytes, s, e);
                if short.seen(word) {
                    continue;
                }
                short.remember(word);
                if e - s > super::sha1x::ONE_BLOCK_MAX {
                    // Long shingles are rare: hashed directly, de-duplicated by hash below.
                    out.push(sha1_hash32(&bytes[s..e]));
                    continue;
                }
                let k = xxh3_64(&bytes[s..e]);
                let new = ShingleScratch::first_occurrence::<AVX512>(strings, mask, bytes, s, e, k);
                // Whether a shingle is new is unpredictable (about one in three is): it only
                // decides whether the pending index advances.
                pending[n] = (s, e);
                n += usize::from(new);
                if n == B {
                    super::sha1x::sha1_hash32_ranges(bytes, &pending, &mut hashes);
                    out.extend_from_slice(&hashes);
                    n = 0;
                }
            }
            if n > 0 {
                super::sha1x::sha1_hash32_ranges(bytes, &pending[..n], &mut hashes);
                out.extend_from_slice(&hashes[..n]);
            }
            dedup_values(out, table);
        }
    }
}

/// Short shingles dominate code: five empty tokens (four spaces, from indentation and blank-line
/// runs) alone are 40 % of all BigCode 5-gram windows in the benchmark corpus, and half are at most
/// 8 bytes. A shingle of at most 7 bytes is packed exactly into one word (bytes, then the length
/// in the top byte), and a small direct-mapped cache of such words remembers strings that already
/// went through the string set: a hit is a known repeat, skipped before the key hash and the
/// probe (a repeated string cannot change the set of hashes). Exact, because the word is the
/// string.
struct ShortCache {
    slots: [u64; 1024],
}

impl Default for ShortCache {
    fn default() -> Self {
        ShortCache { slots: [0; 1024] }
    }
}

impl ShortCache {
    /// The packed word of `bytes[s..e]`, or 0 when it is too long (or too near the buffer end to
    /// load a word).
    #[inline(always)]
    fn word(bytes: &[u8], s: usize, e: usize) -> u64 {
        let len = e - s;
        match bytes.get(s..s + 8) {
            Some(w) if len <= 7 => {
                let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
                (w & ((1u64 << (8 * len)) - 1)) | ((len as u64 + 1) << 56)
            }
            _ => 0,
        }
    }

    #[inline(always)]
    fn slot(word: u64) -> usize {
        (word.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as usize
    }

    /// True when `word` (non-zero) is cached: a string already seen in this document.
    #[inline(always)]
    fn seen(&self, word: u64) -> bool {
        word != 0 && self.slots[Self::slot(word)] == word
    }

    /// Remember `word` (a string that has now been through the string set).
    #[inline(always)]
    fn remember(&mut self, word: u64) {
        if word != 0 {
            self.slots[Self::slot(word)] = word;
        }
    }
}

/// Remove repeated values from `out` (keeping each value's first occurrence, in order).
///
/// The hashes come from distinct shingle strings, so repeats are rare (two strings sharing a
/// 32-bit hash: 16 in the 100 MB benchmark corpus) and a hash set probed for every value was 7 %
/// of the shingling time. Instead a bitmap of at least 8 bits per value is filled from the values'
/// top bits; values alone in their bucket are distinct from all others, and only the values in
/// shared buckets (about 12 %) are sorted to find the true repeats. `bits` is scratch space.
fn dedup_values(out: &mut Vec<u32>, bits: &mut Vec<u64>) {
    if out.len() < 2 {
        return;
    }
    let k = (out.len().next_power_of_two().trailing_zeros() + 3).clamp(6, 32);
    let words = 1usize << (k - 6);
    let shift = 32 - k;
    bits.clear();
    bits.resize(2 * words, 0);
    let (seen, shared) = bits.split_at_mut(words);
    let mut any = false;
    for &h in out.iter() {
        let b = (h >> shift) as usize;
        let (w, m) = (b >> 6, 1u64 << (b & 63));
        let repeat = seen[w] & m != 0;
        shared[w] |= if repeat { m } else { 0 };
        seen[w] |= m;
        any |= repeat;
    }
    if !any {
        return;
    }
    let mut crowded: Vec<(u32, u32)> = out
        .iter()
        .enumerate()
        .filter(|&(_, &h)| {
            let b = (h >> shift) as usize;
            shared[b >> 6] & (1u64 << (b & 63)) != 0
        })
        .map(|(i, &h)| (h, i as u32))
        .collect();
    crowded.sort_unstable();
    let mut drop: Vec<u32> = crowded.windows(2).filter(|p| p[0].0 == p[1].0).map(|p| p[1].1).collect();
    if drop.is_empty() {
        return;
    }
    drop.sort_unstable();
    let (mut next, mut idx) = (0usize, 0u32);
    out.retain(|_| {
        let keep = drop.get(next) != Some(&idx);
        next += usize::from(!keep);
        idx += 1;
        keep
    });
}

/// The distinct shingle hashes of one document, in first-seen order (`out` is overwritten).
/// Order does not matter to MinHash; [`shingle_hashes`] sorts them when a set is needed.
pub fn shingle_hashes_unsorted(
    text: &str,
    kind: ShingleKind,
    ngram: usize,
    hash: ShingleHash,
    scratch: &mut ShingleScratch,
    out: &mut Vec<u32>,
) {
    out.clear();
    if ngram == 0 {
        return;
    }
    match kind {
        ShingleKind::BigCode => {
            super::scan::bigcode_scan(text.as_bytes(), &mut scratch.norm, &mut scratch.starts);
            let n_tokens = scratch.starts.len() - 1;
            if n_tokens < ngram {
                return;
            }
            let windows = n_tokens + 1 - ngram;
            let mask = ShingleScratch::reset_table(windows);
            let (norm, starts, table, strings) = (&scratch.norm, &scratch.starts, &mut scratch.table, &mut scratch.strings);
            out.reserve(windows);
            // Window i is `norm[starts[i] .. starts[i + n] - 1]` (see `scan`).
            let ranges = (0..windows).map(|i| (starts[i] as usize, starts[i + ngram] as usize - 1));
            hash_windows(norm, ranges, hash, table, strings, mask, out);
        }
        ShingleKind::Words => {
            normalise_tokens(text, false, &mut scratch.norm, &mut scratch.tokens);
            let n_tokens = scratch.tokens.len();
            if n_tokens < ngram {
                return;
            }
            let windows = n_tokens + 1 - ngram;
            let mask = ShingleScratch::reset_table(windows);
            let (norm, tokens, table, strings) = (&scratch.norm, &scratch.tokens, &mut scratch.table, &mut scratch.strings);
            out.reserve(windows);
            let ranges = (0..windows).map(|i| (tokens[i].0 as usize, tokens[i + ngram - 1].1 as usize));
            hash_windows(norm, ranges, hash, table, strings, mask, out);
        }
        ShingleKind::Chars => {
            let chars = &mut scratch.chars;
            chars.clear();
            chars.extend(text.char_indices().map(|(i, _)| i as u32));
            chars.push(text.len() as u32);
            let n_chars = chars.len() - 1;
            if n_chars < ngram {
                return;
            }
            let windows = n_chars + 1 - ngram;
            let mask = ShingleScratch::reset_table(windows);
            let (chars, table, strings) = (&scratch.chars, &mut scratch.table, &mut scratch.strings);
            let bytes = text.as_bytes();
            out.reserve(windows);
            let ranges = (0..windows).map(|i| (chars[i] as usize, chars[i + ngram] as usize));
            hash_windows(bytes, ranges, hash, table, strings, mask, out);
        }
    }
}

/// The sorted, de-duplicated shingle hashes of one document (`out` is overwritten).
pub fn shingle_hashes(
    text: &str,
    kind: ShingleKind,
    ngram: usize,
    hash: ShingleHash,
    scratch: &mut ShingleScratch,
    out: &mut Vec<u32>,
) {
    shingle_hashes_unsorted(text, kind, ngram, hash, scratch, out);
    out.sort_unstable();
}

/// Exact Jaccard of two sorted, de-duplicated hash sets (1.0 for two empty sets, as in the
/// evaluation set's definition).
pub fn jaccard_sorted(a: &[u32], b: &[u32]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut inter) = (0usize, 0usize, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    inter as f64 / (a.len() + b.len() - inter) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str, keep: bool) -> Vec<&str> {
        let mut v = Vec::new();
        bigcode_tokens(text, keep, &mut v);
        v.iter().map(|&(s, e)| &text[s as usize..e as usize]).collect()
    }

    #[test]
    fn tokens_match_re_split() {
        // re.split(r"[^A-Za-z_0-9]", "def f(x):\n  return x") ==
        // ['def', 'f', 'x', '', '', '', '', 'return', 'x']
        assert_eq!(toks("def f(x):\n  return x", true), ["def", "f", "x", "", "", "", "", "return", "x"]);
        assert_eq!(toks("def f(x):\n  return x", false), ["def", "f", "x", "return", "x"]);
        assert_eq!(toks("", true), [""]);
        // One separator per non-ASCII character, however many bytes it has.
        assert_eq!(toks("a€b", true), ["a", "b"]);
        assert_eq!(toks("é", true), ["", ""]);
        assert_eq!(toks("a\u{1F600}", true), ["a", ""]);
    }

    #[test]
    fn normalised_slices_equal_joined_tokens() {
        let texts = ["def f(x):\n  return x", "", "a€b  c\td(é)e_1 2 3", "  lead", "x=1;;y=2  ", "ab"];
        for text in texts {
            for keep in [true, false] {
                let mut norm = Vec::new();
                let mut tk = Vec::new();
                normalise_tokens(text, keep, &mut norm, &mut tk);
                let expect = toks(text, keep);
                let got: Vec<&str> = tk.iter().map(|&(s, e)| std::str::from_utf8(&norm[s as usize..e as usize]).unwrap()).collect();
                assert_eq!(got, expect, "{text:?} keep={keep}");
                for n in 1..=4usize {
                    for i in 0..(tk.len() + 1).saturating_sub(n) {
                        let joined = expect[i..i + n].join(" ");
                        assert_eq!(&norm[tk[i].0 as usize..tk[i + n - 1].1 as usize], joined.as_bytes());
                    }
                }
            }
        }
    }

    #[test]
    fn sha1_hash32_known_value() {
        for len in [0usize, 1, 54, 55, 56, 63, 64, 100, 118, 119, 120, 200] {
            let msg: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let d = Sha1::digest(&msg);
            assert_eq!(sha1_hash32(&msg), u32::from_le_bytes([d[0], d[1], d[2], d[3]]), "len {len}");
        }
        // struct.unpack("<I", hashlib.sha1(b"abc").digest()[:4])[0] == 0x363e99a9
        assert_eq!(sha1_hash32(b"abc"), 0x363e_99a9);
    }

    #[test]
    fn shingles_of_short_text_are_empty() {
        let mut s = ShingleScratch::default();
        let mut out = vec![1];
        shingle_hashes("a b c", ShingleKind::BigCode, 5, ShingleHash::Sha1, &mut s, &mut out);
        assert!(out.is_empty());
        shingle_hashes("a b c d e", ShingleKind::BigCode, 5, ShingleHash::Sha1, &mut s, &mut out);
        assert_eq!(out, vec![sha1_hash32(b"a b c d e")]);
        shingle_hashes("abcd", ShingleKind::Chars, 5, ShingleHash::Sha1, &mut s, &mut out);
        assert!(out.is_empty());
        shingle_hashes("h\u{e9}llo!", ShingleKind::Chars, 5, ShingleHash::Xxh3, &mut s, &mut out);
        assert_eq!(out.len(), 2);
    }

    /// Deterministic xorshift generator for the randomised comparisons below.
    fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    /// Random text mixing identifiers, punctuation runs, whitespace, non-ASCII characters and
    /// occasional very long tokens (so some shingles exceed one SHA-1 block).
    fn random_text(seed: &mut u64) -> String {
        let pieces = ["def", "x", "_y1", "(", ")", ":", " ", "  ", "\n", "\t", "é", "€", "\u{1F600}", "ß9", ";", "==", "a"];
        let n = (rng(seed) % 60) as usize;
        let mut t = String::new();
        for _ in 0..n {
            let r = rng(seed);
            if r.is_multiple_of(23) {
                let len = 20 + (r >> 8) as usize % 90;
                t.extend((0..len).map(|i| char::from(b'a' + ((r >> (i % 40)) % 26) as u8)));
            } else {
                t.push_str(pieces[(r >> 5) as usize % pieces.len()]);
            }
        }
        t
    }

    #[test]
    fn scan_equals_reference_normalisation() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut texts: Vec<String> = ["", "a", "é", "a€b", "  ", "x_1\u{1F600}", "abc", "(((("].iter().map(|s| (*s).to_string()).collect();
        texts.extend((0..500).map(|_| random_text(&mut seed)));
        for text in &texts {
            let (mut n1, mut s1, mut n2, mut t2) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let len = super::super::scan::bigcode_scan(text.as_bytes(), &mut n1, &mut s1);
            normalise_tokens(text, true, &mut n2, &mut t2);
            assert_eq!(&n1[..len], &n2[..], "{text:?}");
            let t1: Vec<(u32, u32)> = s1.windows(2).map(|w| (w[0], w[1] - 1)).collect();
            assert_eq!(t1, t2, "{text:?}");
        }
    }

    #[test]
    fn sha1_shingles_equal_scalar_reference() {
        let mut seed = 0x0123_4567_89AB_CDEFu64;
        let mut texts: Vec<String> = ["", "a b c d", "a b c d e", "é é é é é é", "a€b€c€d€e€f"].iter().map(|s| (*s).to_string()).collect();
        texts.extend((0..400).map(|_| random_text(&mut seed)));
        let mut sc = ShingleScratch::default();
        let mut got = Vec::new();
        for text in &texts {
            for kind in [ShingleKind::BigCode, ShingleKind::Words, ShingleKind::Chars] {
                shingle_hashes(text, kind, 5, ShingleHash::Sha1, &mut sc, &mut got);
                // Brute force: join the tokens / take the characters, hash each shingle one by one.
                let mut expect: Vec<u32> = if kind == ShingleKind::Chars {
                    let ch: Vec<char> = text.chars().collect();
                    ch.windows(5).map(|w| sha1_hash32(w.iter().collect::<String>().as_bytes())).collect()
                } else {
                    let tk = toks(text, kind == ShingleKind::BigCode);
                    tk.windows(5).map(|w| sha1_hash32(w.join(" ").as_bytes())).collect()
                };
                expect.sort_unstable();
                expect.dedup();
                assert_eq!(got, expect, "{text:?} {kind:?}");
            }
        }
    }

    #[test]
    fn value_dedup_equals_sort_dedup() {
        let mut seed = 0x5851_F42D_4C95_7F2Du64;
        let mut bits = Vec::new();
        for n in [0usize, 1, 2, 3, 50, 1000, 70_000] {
            for range in [4u32, 1000, u32::MAX] {
                let vals: Vec<u32> = (0..n).map(|_| (rng(&mut seed) as u32) % range.max(1)).collect();
                let mut got = vals.clone();
                dedup_values(&mut got, &mut bits);
                // First occurrences, in order.
                let mut seen = std::collections::HashSet::new();
                let want: Vec<u32> = vals.iter().copied().filter(|v| seen.insert(*v)).collect();
                assert_eq!(got, want, "n={n} range={range}");
            }
        }
    }

    #[test]
    fn distinct_strings_sharing_a_hash_count_once() {
        // 300,000 distinct one-token-wide shingles: by the birthday bound some pairs share their
        // 32-bit SHA-1 prefix (expected ≈ 10), and the set must hold each value once.
        let mut text = String::new();
        for i in 0..300_004u32 {
            text.push('t');
            text.push_str(&i.to_string());
            text.push(' ');
        }
        let mut sc = ShingleScratch::default();
        let mut got = Vec::new();
        shingle_hashes_unsorted(&text, ShingleKind::BigCode, 5, ShingleHash::Sha1, &mut sc, &mut got);
        let mut want: Vec<u32> = toks(&text, true).windows(5).map(|w| sha1_hash32(w.join(" ").as_bytes())).collect();
        let windows = want.len();
        want.sort_unstable();
        want.dedup();
        assert!(want.len() < windows, "the test needs a 32-bit collision");
        let mut sorted = got.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, want);
    }

    #[test]
    fn jaccard_of_sorted_sets() {
        assert!((jaccard_sorted(&[1, 2, 3], &[2, 3, 4]) - 0.5).abs() < 1e-12);
        assert!((jaccard_sorted(&[], &[]) - 1.0).abs() < 1e-12);
        assert!(jaccard_sorted(&[1], &[]).abs() < 1e-12);
    }
}
