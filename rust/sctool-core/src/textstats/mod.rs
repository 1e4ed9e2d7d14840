//! Per-document text statistics for quality filtering, computed in one pass over the bytes.
//!
//! The numbers follow the definitions The Stack ships with and StarCoder's filters threshold
//! (BigCode 2023, arXiv 2305.06161 §3; `bigcode-dataset/preprocessing/filtering.py`):
//! lines are Python's `str.splitlines()` (every Unicode line boundary, `\r\n` counted once, no
//! empty last line after a trailing newline), lengths are in characters (code points), the
//! alphanumeric fraction counts `isalpha() or isnumeric()` and the alphabetic fraction `isalpha()`,
//! both over all characters. Rust's `char` predicates use different Unicode properties, so the
//! non-ASCII classes come from tables generated from Python's `unicodedata` (`gen_tables.py`).
//! Empty documents get 0 for every ratio instead of NaN.
//!
//! Everything a rule might need that is cheap is computed here in the same pass; the costlier
//! HTML visible-text and comment measures live in [`html`] and [`comments`] and run only on the
//! documents whose rules ask for them.

pub mod comments;
pub mod html;
#[rustfmt::skip]
mod unicode_tables;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use rayon::prelude::*;

use crate::{CoreError, Result};

const C_ALPHA: u8 = 1;
const C_NUM: u8 = 2;
const C_SPACE: u8 = 4;
const C_NEWLINE: u8 = 8;

/// Class bits of each ASCII byte, mirroring Python's `str` predicates on ASCII.
const ASCII_CLASS: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        if c.is_ascii_alphabetic() {
            t[b] |= C_ALPHA;
        }
        if c.is_ascii_digit() {
            t[b] |= C_NUM;
        }
        // Python's isspace() on ASCII: \t \n \v \f \r, \x1c-\x1f and space.
        if matches!(c, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | b' ') {
            t[b] |= C_SPACE;
        }
        // str.splitlines() boundaries in ASCII: \n \r \v \f \x1c \x1d \x1e.
        if matches!(c, b'\n' | b'\r' | 0x0b | 0x0c | 0x1c..=0x1e) {
            t[b] |= C_NEWLINE;
        }
        b += 1;
    }
    t
};

fn in_table(table: &[(u32, u32)], cp: u32) -> bool {
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

fn non_ascii_class(c: char) -> u8 {
    let cp = c as u32;
    let mut k = 0;
    if in_table(&unicode_tables::ALPHA, cp) {
        k |= C_ALPHA;
    }
    if in_table(&unicode_tables::NUMERIC, cp) {
        k |= C_NUM;
    }
    if in_table(&unicode_tables::SPACE, cp) {
        k |= C_SPACE;
    }
    if matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}') {
        k |= C_NEWLINE;
    }
    k
}

/// Statistics of one document.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TextStats {
    /// UTF-8 length.
    pub n_bytes: u64,
    /// Length in characters (Python `len`).
    pub n_chars: u64,
    /// `len(text.splitlines())`.
    pub n_lines: u64,
    /// Longest line in characters, line terminator excluded.
    pub max_line_length: u64,
    /// Mean line length in characters (0 for an empty document).
    pub avg_line_length: f64,
    /// Fraction of characters with `isalpha() or isnumeric()`.
    pub alphanum_fraction: f64,
    /// Fraction of characters with `isalpha()`.
    pub alpha_fraction: f64,
    /// Fraction of characters with `isspace()`; minified code has almost none.
    pub whitespace_fraction: f64,
    /// `'<?xml version=' in text[:100]` (StarCoder's XML filter).
    pub xml_header: bool,
    /// Index of the first generated-file marker found in the document's head, if any.
    pub generated_marker: Option<u32>,
}

/// Options of [`compute`]: which markers flag a generated file and where to look for them.
#[derive(Debug, Clone)]
pub struct StatsConfig {
    /// Case-insensitive (ASCII) substrings such as `do not edit` or `@generated`.
    pub generated_markers: Vec<String>,
    /// How many leading lines (split on `\n`) are searched for markers.
    pub marker_lines: usize,
    /// Upper bound on the bytes searched for markers, so a minified one-line file costs nothing.
    pub marker_max_bytes: usize,
    /// The XML header must start within this many leading characters (StarCoder: 100).
    pub xml_prefix_chars: usize,
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig {
            generated_markers: Vec::new(),
            marker_lines: 5,
            marker_max_bytes: 4096,
            xml_prefix_chars: 100,
        }
    }
}

/// A [`StatsConfig`] with its marker automaton built once per batch rather than per document.
pub struct StatsKernel {
    config: StatsConfig,
    markers: Option<AhoCorasick>,
}

const XML_HEADER: &[u8] = b"<?xml version=";

impl StatsKernel {
    pub fn new(config: StatsConfig) -> Result<Self> {
        if config.generated_markers.iter().any(String::is_empty) {
            return Err(CoreError::InvalidConfig("a generated-file marker is empty".into()));
        }
        let markers = if config.generated_markers.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(&config.generated_markers)
                    .map_err(|e| CoreError::InvalidConfig(format!("generated-file markers: {e}")))?,
            )
        };
        Ok(StatsKernel { config, markers })
    }

    /// Statistics of one document.
    pub fn compute(&self, text: &str) -> TextStats {
        let mut s = line_and_class_stats(text);
        s.xml_header = self.xml_header(text);
        s.generated_marker = self.generated_marker(text);
        s
    }

    /// Statistics of every document of a batch (None for a null document), in parallel.
    pub fn compute_batch(&self, texts: &[Option<&str>]) -> Vec<Option<TextStats>> {
        texts
            .par_iter()
            .with_min_len(16)
            .map(|t| t.map(|t| self.compute(t)))
            .collect()
    }

    fn xml_header(&self, text: &str) -> bool {
        let end = text
            .char_indices()
            .nth(self.config.xml_prefix_chars)
            .map_or(text.len(), |(i, _)| i);
        memchr::memmem::find(&text.as_bytes()[..end], XML_HEADER).is_some()
    }

    fn generated_marker(&self, text: &str) -> Option<u32> {
        let ac = self.markers.as_ref()?;
        let bytes = text.as_bytes();
        let limit = bytes.len().min(self.config.marker_max_bytes);
        let end = memchr::memchr_iter(b'\n', &bytes[..limit])
            .nth(self.config.marker_lines.saturating_sub(1))
            .unwrap_or(limit);
        let head = if self.config.marker_lines == 0 { &bytes[..0] } else { &bytes[..end] };
        ac.find(head).map(|m| m.pattern().as_u32())
    }
}

/// The single pass: line boundaries and character classes together.
fn line_and_class_stats(text: &str) -> TextStats {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let (mut chars, mut alpha, mut alnum, mut space) = (0u64, 0u64, 0u64, 0u64);
    let (mut lines, mut max_len, mut sum_len, mut cur) = (0u64, 0u64, 0u64, 0u64);
    let mut line_open = false;
    let mut i = 0;
    while i < n {
        let b = bytes[i];
        let (class, width) = if b < 0x80 {
            (ASCII_CLASS[b as usize], 1)
        } else {
            // `text` is valid UTF-8 and `i` is on a character boundary.
            let c = text[i..].chars().next().unwrap_or('\u{FFFD}');
            (non_ascii_class(c), c.len_utf8())
        };
        chars += 1;
        alpha += u64::from(class & C_ALPHA != 0);
        alnum += u64::from(class & (C_ALPHA | C_NUM) != 0);
        space += u64::from(class & C_SPACE != 0);
        i += width;
        if class & C_NEWLINE != 0 {
            if b == b'\r' && i < n && bytes[i] == b'\n' {
                // "\r\n" is one boundary; the "\n" still counts as a (whitespace) character.
                chars += 1;
                space += 1;
                i += 1;
            }
            lines += 1;
            max_len = max_len.max(cur);
            sum_len += cur;
            cur = 0;
            line_open = false;
        } else {
            cur += 1;
            line_open = true;
        }
    }
    if line_open {
        lines += 1;
        max_len = max_len.max(cur);
        sum_len += cur;
    }
    let frac = |k: u64| if chars == 0 { 0.0 } else { k as f64 / chars as f64 };
    TextStats {
        n_bytes: n as u64,
        n_chars: chars,
        n_lines: lines,
        max_line_length: max_len,
        avg_line_length: if lines == 0 { 0.0 } else { sum_len as f64 / lines as f64 },
        alphanum_fraction: frac(alnum),
        alpha_fraction: frac(alpha),
        whitespace_fraction: frac(space),
        xml_header: false,
        generated_marker: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(t: &str) -> TextStats {
        StatsKernel::new(StatsConfig::default()).unwrap().compute(t)
    }

    #[test]
    fn empty_document_is_all_zero() {
        let s = stats("");
        assert_eq!(s, TextStats::default());
    }

    #[test]
    fn splitlines_semantics() {
        // "a\r\nbb\n\nccc" -> ["a", "bb", "", "ccc"]
        let s = stats("a\r\nbb\n\nccc");
        assert_eq!(s.n_lines, 4);
        assert_eq!(s.max_line_length, 3);
        assert!((s.avg_line_length - 1.5).abs() < 1e-12);
        assert_eq!(s.n_chars, 10);
        // trailing newline adds no empty line; a lone "\n" is one empty line
        assert_eq!(stats("x\n").n_lines, 1);
        assert_eq!(stats("\n").n_lines, 1);
        assert_eq!(stats("\n").max_line_length, 0);
        // Unicode boundaries: U+2028 and NEL split lines, as in Python
        assert_eq!(stats("a\u{2028}b\u{85}c").n_lines, 3);
        assert_eq!(stats("a\x0bb\x1cc").n_lines, 3);
    }

    #[test]
    fn character_classes_follow_python() {
        let s = stats("ab1 _!");
        assert!((s.alphanum_fraction - 0.5).abs() < 1e-12);
        assert!((s.alpha_fraction - 2.0 / 6.0).abs() < 1e-12);
        // 'é' and '٣' (Arabic-Indic three) are alnum; '½' is numeric, not alpha; U+0301 is neither.
        let s = stats("é٣½\u{301}");
        assert_eq!(s.n_chars, 4);
        assert!((s.alphanum_fraction - 0.75).abs() < 1e-12);
        assert!((s.alpha_fraction - 0.25).abs() < 1e-12);
    }

    #[test]
    fn xml_header_only_in_first_100_chars() {
        assert!(stats("<?xml version=\"1.0\"?><a/>").xml_header);
        let late = format!("{}<?xml version=\"1.0\"?>", " ".repeat(86));
        assert!(stats(&late).xml_header); // starts at char 86, ends at 100
        let too_late = format!("{}<?xml version=\"1.0\"?>", " ".repeat(87));
        assert!(!stats(&too_late).xml_header);
    }

    #[test]
    fn generated_markers_in_head_only() {
        let k = StatsKernel::new(StatsConfig {
            generated_markers: vec!["do not edit".into(), "@generated".into()],
            marker_lines: 2,
            ..StatsConfig::default()
        })
        .unwrap();
        assert_eq!(k.compute("// Code generated. DO NOT EDIT.\nx").generated_marker, Some(0));
        assert_eq!(k.compute("x\n# @generated\n").generated_marker, Some(1));
        assert_eq!(k.compute("x\ny\n# @generated\n").generated_marker, None);
        assert!(StatsKernel::new(StatsConfig { generated_markers: vec![String::new()], ..StatsConfig::default() })
            .is_err());
    }

    #[test]
    fn batch_keeps_nulls_and_order() {
        let k = StatsKernel::new(StatsConfig::default()).unwrap();
        let docs = vec![Some("a"), None, Some("bb\ncc")];
        let out = crate::parallel::with_threads(2, || k.compute_batch(&docs));
        assert_eq!(out[0].unwrap().n_chars, 1);
        assert!(out[1].is_none());
        assert_eq!(out[2].unwrap().n_lines, 2);
    }
}
