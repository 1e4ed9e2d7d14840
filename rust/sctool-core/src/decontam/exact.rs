//! All-patterns-at-once case-insensitive substring search for long benchmark strings.
//!
//! Benchmark strings are long (docstrings, solutions, questions), and an Aho–Corasick automaton
//! over thousands of them is too large for a DFA and slow as an NFA. Instead each pattern is
//! indexed by S consecutive K-byte windows, placed where its windows are rare among all patterns
//! (so shared indentation or `return ` prefixes do not create candidates everywhere). The document
//! is then probed only at every S-th position: any occurrence puts exactly one of its S indexed
//! windows on a probed position (the sampling idea of Manber & Wu's agrep and of BigCode's
//! successors). Each probe hashes 16 bytes with two 64-bit loads, a bitmap rejects almost every
//! probe, and the few candidates are verified byte for byte. Patterns shorter than K + S - 1 go to
//! a small Aho–Corasick automaton. Matching is ASCII case-insensitive on input that the caller
//! has already lowercased where it is not ASCII.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::tokens::IdHash;
use crate::{CoreError, Result};

const K: usize = 16;
const S: usize = 8;
const BITMAP_BITS: u32 = 21;
/// Setting bit 5 of every byte folds ASCII case (and maps a few punctuation pairs together, which
/// only costs a failed verification).
const FOLD: u64 = 0x2020_2020_2020_2020;

#[inline]
#[allow(clippy::many_single_char_names)]
fn window_hash(w: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    let mut b = [0u8; 8];
    a.copy_from_slice(&w[..8]);
    b.copy_from_slice(&w[8..16]);
    let x = (u64::from_le_bytes(a) | FOLD).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let y = (u64::from_le_bytes(b) | FOLD).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    let h = x ^ y.rotate_left(31);
    h ^ (h >> 29)
}

#[inline]
fn slot(h: u64) -> usize {
    (h >> (64 - BITMAP_BITS)) as usize
}

/// `text.to_lowercase()` written into `out`, whose allocation is reused from document to document.
///
/// Character by character with `char::to_lowercase`, which is what `str::to_lowercase` does for
/// every character but 'Σ' (its final-sigma rule needs the context): a text containing 'Σ' is
/// handed to `str::to_lowercase` itself.
pub(crate) fn lowercase_into(text: &str, out: &mut String) {
    out.clear();
    if memchr::memmem::find(text.as_bytes(), "Σ".as_bytes()).is_some() {
        out.push_str(&text.to_lowercase());
        return;
    }
    out.reserve(text.len());
    let mut rest = text;
    loop {
        let ascii = rest.bytes().position(|b| b >= 0x80).unwrap_or(rest.len());
        let start = out.len();
        out.push_str(&rest[..ascii]);
        out[start..].make_ascii_lowercase();
        rest = &rest[ascii..];
        let Some(c) = rest.chars().next() else { break };
        out.extend(c.to_lowercase());
        rest = &rest[c.len_utf8()..];
    }
}

/// The long-pattern index plus an automaton for the short ones.
pub struct ExactMatcher {
    patterns: Vec<Box<[u8]>>,
    /// window hash -> (pattern id, offset of the window in the pattern)
    by_window: HashMap<u64, Vec<(u32, u32)>, IdHash>,
    bitmap: Vec<u64>,
    short: Option<AhoCorasick>,
    short_ids: Vec<u32>,
}

impl ExactMatcher {
    /// `patterns` must already be lowercased (Unicode) and non-empty.
    pub fn new(patterns: Vec<String>) -> Result<Self> {
        let patterns: Vec<Box<[u8]>> = patterns
            .into_iter()
            .map(|p| p.into_bytes().into_boxed_slice())
            .collect();
        let long = |p: &[u8]| p.len() >= K + S - 1;
        // How many patterns contain each window: a window shared by many patterns is a poor anchor.
        let mut freq: HashMap<u64, u32, IdHash> = HashMap::default();
        for p in patterns.iter().filter(|p| long(p)) {
            let mut seen: Vec<u64> = p.windows(K).map(window_hash).collect();
            seen.sort_unstable();
            seen.dedup();
            for h in seen {
                *freq.entry(h).or_insert(0) += 1;
            }
        }
        let mut by_window: HashMap<u64, Vec<(u32, u32)>, IdHash> = HashMap::default();
        let mut bitmap = vec![0u64; 1 << (BITMAP_BITS - 6)];
        let mut short = Vec::new();
        let mut short_ids = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            if !long(p) {
                short.push(p.clone());
                short_ids.push(i as u32);
                continue;
            }
            let hashes: Vec<u64> = p.windows(K).map(window_hash).collect();
            // The block of S windows whose worst window is rarest; then fewest blanks; then earliest.
            let start = (0..=hashes.len() - S)
                .min_by_key(|&o| {
                    let worst = hashes[o..o + S]
                        .iter()
                        .map(|h| freq.get(h).copied().unwrap_or(0))
                        .max();
                    let blanks = p[o..o + K + S - 1]
                        .iter()
                        .filter(|b| b.is_ascii_whitespace())
                        .count();
                    (worst, blanks, o)
                })
                .unwrap_or(0);
            for (j, &h) in hashes[start..start + S].iter().enumerate() {
                let entry = by_window.entry(h).or_default();
                let item = (i as u32, (start + j) as u32);
                if !entry.contains(&item) {
                    entry.push(item);
                }
                let s = slot(h);
                bitmap[s >> 6] |= 1 << (s & 63);
            }
        }
        let short = if short.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&short)
                    .map_err(|e| {
                        CoreError::InvalidConfig(format!(
                            "cannot build the exact-match automaton: {e}"
                        ))
                    })?,
            )
        };
        Ok(ExactMatcher {
            patterns,
            by_window,
            bitmap,
            short,
            short_ids,
        })
    }

    /// Pattern `id`, lowercased.
    pub fn pattern(&self, id: u32) -> &[u8] {
        &self.patterns[id as usize]
    }

    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Push the id of every pattern occurring in `hay` (each once) onto `out`.
    pub fn find_all(&self, hay: &[u8], out: &mut Vec<u32>) {
        if let Some(ac) = &self.short {
            for m in ac.find_overlapping_iter(hay) {
                let id = self.short_ids[m.pattern().as_usize()];
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        }
        if hay.len() < K || self.by_window.is_empty() {
            return;
        }
        let mut pos = 0;
        while pos + K <= hay.len() {
            let h = window_hash(&hay[pos..pos + K]);
            let s = slot(h);
            if self.bitmap[s >> 6] & (1 << (s & 63)) != 0 {
                if let Some(cands) = self.by_window.get(&h) {
                    for &(id, off) in cands {
                        let p = &self.patterns[id as usize];
                        let off = off as usize;
                        if pos >= off && pos - off + p.len() <= hay.len() {
                            let at = pos - off;
                            if hay[at..at + p.len()].eq_ignore_ascii_case(p) && !out.contains(&id) {
                                out.push(id);
                            }
                        }
                    }
                }
            }
            pos += S;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(pats: &[String], hay: &str) -> Vec<u32> {
        let low = hay.to_ascii_lowercase();
        let mut v: Vec<u32> = pats
            .iter()
            .enumerate()
            .filter(|(_, p)| low.contains(&p.to_lowercase()))
            .map(|(i, _)| i as u32)
            .collect();
        v.sort_unstable();
        v
    }

    fn check(pats: &[String], hays: &[String]) {
        let m = ExactMatcher::new(pats.iter().map(|p| p.to_lowercase()).collect()).unwrap();
        for hay in hays {
            let mut got = Vec::new();
            m.find_all(hay.as_bytes(), &mut got);
            got.sort_unstable();
            assert_eq!(got, naive(pats, hay), "{hay:?}");
        }
    }

    #[test]
    fn matches_naive_search() {
        let pats: Vec<String> = [
            "    return sorted(set(l1) & set(l2))",
            "    return x",
            "write a function to find the maximum of two numbers.",
            "short",
            "    return sorted(set(l1) | set(l2))",
            "exactly 23 bytes long!!",
        ]
        .map(String::from)
        .to_vec();
        let hays: Vec<String> = [
            "def f(l1, l2):\n    RETURN sorted(set(l1) & set(l2))\n",
            "# Write a function to find the maximum of two numbers.\n    return x",
            "Short and    return sorted(set(l1) | set(l2))",
            "",
            "    return sorted(set(l1) & set(l",
            "EXACTLY 23 BYTES LONG!!",
        ]
        .map(String::from)
        .to_vec();
        check(&pats, &hays);
    }

    #[test]
    fn lowercase_into_equals_to_lowercase() {
        let parts = [
            "ABC",
            "xyz",
            "É",
            "é",
            "ΑΒΓ",
            "Σ",
            "ΌΣ",
            " ",
            "İ",
            "ẞ",
            "ǅ",
            "Ⅻ",
            "中文",
            "ΣΑΣ",
            "\u{10400}",
            "ﬃ",
            "K",
            "Ω",
            "Ⅰ",
            "Ａ",
            "1",
            "_",
            "\n",
            "ς",
            "σ",
            "a\u{301}",
        ];
        let mut x = 0x1234_5678u64;
        let mut out = String::new();
        for round in 0..2000 {
            let mut t = String::new();
            for _ in 0..(round % 40) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                t.push_str(parts[(x % parts.len() as u64) as usize]);
            }
            lowercase_into(&t, &mut out);
            assert_eq!(out, t.to_lowercase(), "{t:?}");
        }
    }

    #[test]
    fn every_alignment_is_found() {
        // Shift a pattern through every offset modulo S and both ends of the document.
        let pat = "the quick brown fox jumps over the lazy dog".to_string();
        let hays: Vec<String> = (0..2 * S)
            .flat_map(|k| {
                [
                    format!("{}{}", "x".repeat(k), pat.to_uppercase()),
                    format!("{}{}y", "x".repeat(k), pat),
                ]
            })
            .collect();
        check(&[pat], &hays);
    }
}
