//! Signature anchors: a benchmark function found by its own name, its own parameter names and the
//! start of its own body.
//!
//! A solution-only copy of a short benchmark solution (`def specified_element(nums, N): result =
//! [i[N] for i in nums]; return result`) carries almost no rare n-grams: its parameterised token
//! stream is an idiom of real code, and the rarity weighting rightly refuses it as evidence. What
//! makes it the benchmark item is not its shape but its *names*: the function name and parameter
//! names the benchmark chose, followed by the benchmark's own statements, token for token. A
//! clean look-alike that reuses the name has another body; an idiom with the same body has other
//! names.
//!
//! An anchor is therefore the `def` header of a benchmark function reduced to a key (its name and
//! its parameter names in order, annotations and defaults ignored, a leading `self`/`cls` dropped
//! so a copy pasted into a class still matches), kept only when the name is distinctive (two words
//! or eight characters: never `add` or `fib`), the key belongs to one item, and the key is not
//! common in real code (the `defs` channel of the rarity table). A document matches an anchor
//! when one of its own `def` headers has the key and the raw tokens after it (a docstring skipped
//! on either side; whitespace, comments and quote style already invisible to the token stream)
//! equal the benchmark body's first [`MIN_BODY`] tokens, or the whole body when it is shorter.

use super::tokens::{self, CodeTok};

/// Body tokens a copy must reproduce after the header (the whole body when shorter).
pub const MIN_BODY: usize = 8;
/// Body tokens kept per anchor (a longer match adds nothing to the decision).
pub const MAX_BODY: usize = 64;
/// Bodies shorter than this (`return x`) say nothing beyond the header.
pub const MIN_BODY_LEN: usize = 3;
/// Longest `def` header considered, in bytes (parameter lists with long defaults are cut).
const MAX_HEADER: usize = 2048;
/// Bytes after a header tokenised to compare bodies (after a skipped docstring).
const BODY_WINDOW: usize = 4096;

/// A `def` header found in a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefHeader {
    /// Byte offset of `def`.
    pub start: usize,
    /// Byte offset right after the header's closing `:`.
    pub body: usize,
    /// Hash of the name and parameter names.
    pub key: u64,
    /// Byte range of the function name.
    pub name: (usize, usize),
}

impl DefHeader {
    /// Whether the name is distinctive enough to identify a function (see the module docs); `text`
    /// is the text the header was found in.
    pub fn distinctive(&self, text: &str) -> bool {
        distinctive(&text.as_bytes()[self.name.0..self.name.1])
    }
}

fn ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

fn ident_at(b: &[u8], i: usize) -> usize {
    let mut e = i;
    while e < b.len() && ident_byte(b[e]) {
        e += 1;
    }
    e
}

fn skip_blank(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    i
}

/// Two words (`find_max`, `isPrime`) or eight characters, leading and trailing underscores aside
/// (`__lt__` is one short word).
fn distinctive(name: &[u8]) -> bool {
    let s = name.iter().position(|&c| c != b'_').unwrap_or(name.len());
    let e = name.iter().rposition(|&c| c != b'_').map_or(s, |p| p + 1);
    let name = &name[s..e];
    let inner = name.len() > 2 && name[1..name.len() - 1].contains(&b'_');
    let camel = name
        .windows(2)
        .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase());
    let letters = name.iter().filter(|c| **c != b'_').count();
    inner || camel || letters >= 8
}

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix(h: u64, x: u64) -> u64 {
    let v = (h ^ x).wrapping_mul(MUL);
    v ^ (v >> 29)
}

/// Parse the header whose `def` keyword starts at `i`; None if it is no function header.
#[allow(clippy::many_single_char_names)]
fn parse_header(b: &[u8], i: usize) -> Option<DefHeader> {
    let n = b.len();
    let limit = (i + MAX_HEADER).min(n);
    let s = skip_blank(b, i + 3);
    if s == i + 3 || s >= limit {
        return None;
    }
    if !(b[s].is_ascii_alphabetic() || b[s] == b'_' || b[s] >= 0x80) {
        return None;
    }
    let e = ident_at(b, s);
    let name = &b[s..e];
    let mut p = skip_blank(b, e);
    if p >= limit || b[p] != b'(' {
        return None;
    }
    p += 1;
    let mut key = mix(0x5349_474E, tokens::bytes_hash(name));
    let mut depth = 0usize;
    let mut param_start = true;
    let mut params = 0u64;
    let mut first = true;
    while p < limit {
        let c = b[p];
        match c {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' if depth > 0 => depth -= 1,
            b')' => break,
            b',' if depth == 0 => param_start = true,
            b'"' | b'\'' => {
                p = tokens::string_end(b, p);
                param_start = false;
                continue;
            }
            b'#' => {
                p = memchr::memchr(b'\n', &b[p..limit]).map_or(limit, |k| p + k);
                continue;
            }
            _ if param_start && depth == 0 && (ident_byte(c) && !c.is_ascii_digit()) => {
                let pe = ident_at(b, p);
                let pn = &b[p..pe];
                if !(first && (pn == b"self" || pn == b"cls")) {
                    key = mix(key, tokens::bytes_hash(pn));
                    params += 1;
                }
                first = false;
                param_start = false;
                p = pe;
                continue;
            }
            b' ' | b'\t' | b'\n' | b'\r' | b'*' | b'\\' => {}
            b'/' if param_start => {}
            _ => param_start = false,
        }
        p += 1;
    }
    if p >= limit {
        return None;
    }
    // After `)`: an optional `-> annotation`, then the colon that ends the header.
    p += 1;
    let mut depth = 0usize;
    while p < limit {
        match b[p] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b':' if depth == 0 => {
                return Some(DefHeader {
                    start: i,
                    body: p + 1,
                    key: mix(key, params),
                    name: (s, e),
                });
            }
            b'\n' if depth == 0 => return None,
            b'"' | b'\'' => {
                p = tokens::string_end(b, p);
                continue;
            }
            _ => {}
        }
        p += 1;
    }
    None
}

/// Every `def NAME(...)` header of `text` (the keyword at a word start), in order.
pub fn def_headers(text: &str, mut f: impl FnMut(DefHeader)) {
    let b = text.as_bytes();
    for k in memchr::memmem::find_iter(b, b"def") {
        if k > 0 && (ident_byte(b[k - 1]) || b[k - 1] == b'.') {
            continue;
        }
        match b.get(k + 3) {
            Some(b' ' | b'\t') => {}
            _ => continue,
        }
        if let Some(h) = parse_header(b, k) {
            f(h);
        }
    }
}

/// Where the body's tokens start: after blanks, comments and one docstring.
fn body_start(b: &[u8], mut i: usize) -> usize {
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < b.len() && b[i] == b'#' {
            i = memchr::memchr(b'\n', &b[i..]).map_or(b.len(), |k| i + k);
            continue;
        }
        break;
    }
    // A string prefix (r, b, u, f, rb, ...) then a quote: a docstring.
    let mut q = i;
    while q < b.len() && q < i + 2 && b[q].is_ascii_alphabetic() {
        q += 1;
    }
    if q < b.len() && (b[q] == b'"' || b[q] == b'\'') {
        return tokens::string_end(b, q);
    }
    i
}

/// Raw token hashes of the body after a header ending at `body` (at most [`MAX_BODY`] + 1, the
/// last one marking where a full-length match ends), and the byte offset where each starts.
pub(crate) fn body_tokens(
    text: &str,
    body: usize,
    toks: &mut Vec<CodeTok>,
    out: &mut Vec<(u64, usize)>,
) {
    out.clear();
    let b = text.as_bytes();
    let s = body_start(b, body.min(b.len()));
    let mut e = (s + BODY_WINDOW).min(b.len());
    while !text.is_char_boundary(e) {
        e -= 1;
    }
    let window = &text[s..e];
    tokens::code_tokens(window, toks, 0);
    let starts = tokens::code_token_starts(window);
    out.extend(
        toks.iter()
            .zip(starts)
            .take(MAX_BODY + 1)
            .map(|(t, p)| (t.hash, s + p)),
    );
}

/// Whether a document body (`doc`) reproduces an anchor's body (`bench`, capped at [`MAX_BODY`],
/// `full` tokens long uncapped): the number of leading tokens they share, if that is enough.
pub fn body_match(bench: &[u64], full: usize, doc: &[(u64, usize)]) -> Option<usize> {
    if full < MIN_BODY_LEN {
        return None;
    }
    let m = bench
        .iter()
        .zip(doc)
        .take_while(|(a, (b, _))| *a == b)
        .count();
    (m >= MIN_BODY.min(full)).then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(t: &str) -> Vec<DefHeader> {
        let mut v = Vec::new();
        def_headers(t, |h| v.push(h));
        v
    }

    #[test]
    #[allow(clippy::many_single_char_names)]
    fn key_ignores_annotations_defaults_self_and_layout() {
        let a = headers("def find_max(nums, k=3):\n    pass\n");
        let b = headers("class A:\n    def find_max(self, nums: list[int],\n                 k: int = (1, 2)) -> int:\n        pass\n");
        let c = headers("async def  find_max( nums , k ) :\n pass");
        assert_eq!(a.len(), 1);
        assert_eq!(b.len(), 1);
        assert_eq!(c.len(), 1);
        assert_eq!(a[0].key, b[0].key);
        assert_eq!(a[0].key, c[0].key);
        assert!(a[0].distinctive("def find_max(nums, k=3):"));
        // Other parameter names or another order: another key.
        let d = headers("def find_max(k, nums):\n pass");
        let e = headers("def find_max(xs, k):\n pass");
        assert_ne!(a[0].key, d[0].key);
        assert_ne!(a[0].key, e[0].key);
        // Not headers: `undef x`, `obj.def (`, `#define`, a def with no colon.
        assert!(headers("undef (x):\n#define F(x) x\nobj.def (a):\ndef f(a)\n").is_empty());
        for (t, want) in [
            ("def add(a, b):\n return a + b", false),
            ("def isPrime(n):\n", true),
            ("def __lt__(self, other):\n", false),
            ("def _find_max_(a):\n", true),
            ("def quadratic(a):\n", true),
        ] {
            assert_eq!(headers(t)[0].distinctive(t), want, "{t}");
        }
    }

    #[test]
    fn body_match_needs_the_benchmark_tokens_after_the_header() {
        let bench = "def specified_element(nums, N):\n    result = [i[N] for i in nums]\n    return result\n";
        let h = headers(bench)[0];
        let (mut toks, mut a) = (Vec::new(), Vec::new());
        body_tokens(bench, h.body, &mut toks, &mut a);
        let bench_body: Vec<u64> = a.iter().map(|x| x.0).collect();
        let copy = "x = 1\n\ndef specified_element(nums, N):\n  \"\"\"Doc.\"\"\"\n  # pick\n  result = [i[N]  for i in nums]\n  return result\n";
        let hc = headers(copy)[0];
        assert_eq!(hc.key, h.key);
        let mut d = Vec::new();
        body_tokens(copy, hc.body, &mut toks, &mut d);
        assert_eq!(
            body_match(&bench_body, bench_body.len(), &d),
            Some(bench_body.len())
        );
        // Same names, another body: no match.
        let other = "def specified_element(nums, N):\n    return [row[N] for row in nums]\n";
        let ho = headers(other)[0];
        body_tokens(other, ho.body, &mut toks, &mut d);
        assert_eq!(body_match(&bench_body, bench_body.len(), &d), None);
    }
}
