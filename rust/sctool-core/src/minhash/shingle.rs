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
    tokens: Vec<(u32, u32)>,
    buf: Vec<u8>,
    chars: Vec<u32>,
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
    out.clear();
    match kind {
        ShingleKind::BigCode | ShingleKind::Words => {
            bigcode_tokens(text, kind == ShingleKind::BigCode, &mut scratch.tokens);
            let tokens = &scratch.tokens;
            if tokens.len() < ngram || ngram == 0 {
                return;
            }
            let bytes = text.as_bytes();
            out.reserve(tokens.len() + 1 - ngram);
            for window in tokens.windows(ngram) {
                let buf = &mut scratch.buf;
                buf.clear();
                for (k, &(s, e)) in window.iter().enumerate() {
                    if k > 0 {
                        buf.push(b' ');
                    }
                    buf.extend_from_slice(&bytes[s as usize..e as usize]);
                }
                out.push(hash.hash(buf));
            }
        }
        ShingleKind::Chars => {
            // Offsets of every char boundary, plus the end.
            let chars = &mut scratch.chars;
            chars.clear();
            chars.extend(text.char_indices().map(|(i, _)| i as u32));
            chars.push(text.len() as u32);
            let n_chars = chars.len() - 1;
            if n_chars < ngram || ngram == 0 {
                return;
            }
            let bytes = text.as_bytes();
            out.reserve(n_chars + 1 - ngram);
            for i in 0..=n_chars - ngram {
                out.push(hash.hash(&bytes[chars[i] as usize..chars[i + ngram] as usize]));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
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
    fn sha1_hash32_known_value() {
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

    #[test]
    fn jaccard_of_sorted_sets() {
        assert!((jaccard_sorted(&[1, 2, 3], &[2, 3, 4]) - 0.5).abs() < 1e-12);
        assert!((jaccard_sorted(&[], &[]) - 1.0).abs() < 1e-12);
        assert!(jaccard_sorted(&[1], &[]).abs() < 1e-12);
    }
}
