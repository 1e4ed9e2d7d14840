//! The two normalised token streams decontamination compares, and their n-gram hashes.
//!
//! * **Prose**: maximal runs of letters and digits, ASCII-lowercased; everything else (punctuation,
//!   comment markers, quotes, indentation, line endings, Markdown) is dropped. A docstring matches
//!   itself whether it sits in a string, behind `#`, in Markdown or re-wrapped.
//! * **Code**: identifiers, numbers, string literals and single punctuation characters, whitespace
//!   and `#` comments dropped. Keywords, common builtins and names right after `.` (attributes,
//!   methods) stay literal; every other identifier is replaced, inside each n-gram, by the distance
//!   back to its previous occurrence in that n-gram, or by "new" (Baker's parameterised-string
//!   encoding, "A program for identifying duplicated code", 1992). Consistent renaming of
//!   variables, parameters or the function therefore leaves every n-gram hash unchanged while two
//!   different identifiers stay distinguishable.

/// Words and keywords that stay literal in the code stream (Python keywords, builtins and the most
/// common keywords of C-family languages).
const LITERAL_NAMES: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda",
    "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield", "self", "abs", "all",
    "any", "bin", "bool", "bytes", "chr", "dict", "divmod", "enumerate", "filter", "float", "format", "hex",
    "int", "isinstance", "iter", "len", "list", "map", "max", "min", "next", "oct", "open", "ord", "pow",
    "print", "range", "reversed", "round", "set", "sorted", "str", "sum", "tuple", "type", "zip", "math",
    "re", "List", "Tuple", "Dict", "Optional", "Any", "typing", "const", "var", "let", "function", "void",
    "public", "private", "static", "new", "this", "null", "true", "false", "char", "double", "long",
    "switch", "case", "do", "struct", "string", "bool",
];

/// Eight bytes per multiply, finished with splitmix: for the short tokens of code it is cheaper
/// than a general-purpose hash call.
#[inline]
fn bytes_hash(b: &[u8]) -> u64 {
    let mut h = 0xCBF2_9CE4_8422_2325u64;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(a)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    let rest = chunks.remainder();
    let tail = rest.iter().enumerate().fold(0u64, |v, (k, &x)| v | (u64::from(x) << (8 * k)));
    h = (h ^ tail ^ ((rest.len() as u64) << 59)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    finish(h)
}

fn punct_hashes() -> &'static [u64; 256] {
    static T: std::sync::OnceLock<[u64; 256]> = std::sync::OnceLock::new();
    T.get_or_init(|| std::array::from_fn(|c| bytes_hash(&[0x02, c as u8])))
}

fn literal_hashes() -> &'static std::collections::HashSet<u64, IdHash> {
    static SET: std::sync::OnceLock<std::collections::HashSet<u64, IdHash>> = std::sync::OnceLock::new();
    SET.get_or_init(|| LITERAL_NAMES.iter().map(|k| bytes_hash(k.as_bytes())).collect())
}

/// Token of the code stream: a literal hash, or an identifier to be parameterised.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CodeTok {
    /// Hash of the token text (for identifiers: of the name, used to find its previous occurrence).
    pub hash: u64,
    /// For identifiers: index of the previous occurrence of the same name, if an n-gram can reach it.
    pub prev: Option<u32>,
    /// For identifiers: index of the next occurrence, if an n-gram can reach it (`u32::MAX`: none).
    pub next: u32,
    pub is_ident: bool,
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Prose words, ASCII-lowercased, as hashes.
pub(crate) fn prose_tokens(text: &str, out: &mut Vec<u64>) {
    out.clear();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if WORD[b[i] as usize] {
            // Pack 8 lowercased bytes per 64-bit lane and mix once per lane: a word of up to eight
            // letters costs one multiply before the finaliser instead of one per byte.
            let mut h = 0xCBF2_9CE4_8422_2325u64;
            let mut lane = 0u64;
            let mut k = 0;
            while i < b.len() && WORD[b[i] as usize] {
                lane = (lane << 8) | u64::from(b[i].to_ascii_lowercase());
                k += 1;
                if k == 8 {
                    h = (h ^ lane).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    lane = 0;
                    k = 0;
                }
                i += 1;
            }
            out.push(finish((h ^ lane ^ (k << 59)).wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        } else {
            i += 1;
        }
    }
}

/// Bytes of prose words: ASCII letters and digits, and every byte of a non-ASCII character.
static WORD: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b >= 0x80;
        c += 1;
    }
    t
};

/// Code tokens with identifier back-references reaching at most `max_back` tokens (n - 1 for n-grams).
// Byte scanners read best with the usual short names (b: bytes, i: index, c: byte).
#[allow(clippy::many_single_char_names)]
pub(crate) fn code_tokens(text: &str, out: &mut Vec<CodeTok>, max_back: usize) {
    out.clear();
    let literals = literal_hashes();
    let punct = punct_hashes();
    let mut recent = [(0u64, u32::MAX); 64];
    let b = text.as_bytes();
    let n = b.len();
    let mut i = 0;
    let mut after_dot = false;
    while i < n {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' {
            i = memchr::memchr(b'\n', &b[i..]).map_or(n, |p| i + p);
            continue;
        }
        let tok = if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            let s = i;
            while i < n && is_ident_byte(b[i]) {
                i += 1;
            }
            let name = &b[s..i];
            let h = bytes_hash(name);
            if after_dot || literals.contains(&h) {
                CodeTok { hash: h, prev: None, next: u32::MAX, is_ident: false }
            } else {
                // Previous occurrence, looked for only as far back as an n-gram can reach.
                let idx = out.len();
                let lo = idx.saturating_sub(max_back);
                // A direct-mapped table of the latest identifier per slot answers most lookups: if
                // the slot holds this name, that is its latest occurrence; if it is empty or holds
                // a name seen before `lo`, this name cannot occur since `lo` either (anything
                // written after it would have replaced it). Otherwise scan the reachable tokens.
                let slot = (h >> 58) as usize;
                let (sh, si) = recent[slot];
                let prev = if si != u32::MAX && sh == h {
                    Some(si as usize).filter(|&q| q >= lo)
                } else if si == u32::MAX || (si as usize) < lo {
                    None
                } else {
                    out[lo..].iter().rposition(|t| t.is_ident && t.hash == h).map(|p| lo + p)
                };
                recent[slot] = (h, idx as u32);
                if let Some(q) = prev {
                    out[q].next = idx as u32;
                }
                CodeTok { hash: h, prev: prev.map(|q| q as u32), next: u32::MAX, is_ident: true }
            }
        } else if c.is_ascii_digit() {
            let s = i;
            while i < n && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
            CodeTok { hash: bytes_hash(&b[s..i]), prev: None, next: u32::MAX, is_ident: false }
        } else if c == b'"' || c == b'\'' {
            // String literal (single or triple quoted); its content with whitespace runs collapsed.
            let triple = i + 2 < n && b[i + 1] == c && b[i + 2] == c;
            let (start, end, next) = if triple {
                let close = [c, c, c];
                match memchr::memmem::find(&b[i + 3..], &close) {
                    Some(p) => (i + 3, i + 3 + p, i + 3 + p + 3),
                    None => (i + 3, n, n),
                }
            } else {
                let mut j = i + 1;
                while j < n && b[j] != c && b[j] != b'\n' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                let j = j.min(n);
                (i + 1, j, (j + 1).min(n))
            };
            let mut h = 0x5354_5249_4E47u64; // "STRING": string tokens hash apart from names
            let mut in_ws = false;
            for &x in &b[start..end] {
                if x.is_ascii_whitespace() {
                    in_ws = true;
                } else {
                    if in_ws {
                        h = (h ^ u64::from(b' ')).wrapping_mul(0x100_0000_01B3);
                        in_ws = false;
                    }
                    h = (h ^ u64::from(x)).wrapping_mul(0x100_0000_01B3);
                }
            }
            i = next;
            CodeTok { hash: finish(h), prev: None, next: u32::MAX, is_ident: false }
        } else {
            i += 1;
            CodeTok { hash: punct[c as usize], prev: None, next: u32::MAX, is_ident: false }
        };
        // Only a punctuation token can start with '.', so this marks an attribute access next.
        after_dot = c == b'.';
        out.push(tok);
    }
}

/// Identity hasher for keys that are already uniformly distributed 64-bit hashes.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
    fn write_u32(&mut self, v: u32) {
        self.0 = u64::from(v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub type IdHash = std::hash::BuildHasherDefault<IdHasher>;

/// N-gram hash -> piece ids, behind a small blocked Bloom filter (two bits in one 64-bit word,
/// about 16 bits per entry) that answers the common "absent" case from L1/L2 cache.
pub struct NgramSet {
    map: std::collections::HashMap<u64, Vec<u32>, IdHash>,
    bits: Vec<u64>,
    shift: u32,
}

#[inline]
fn bloom_mask(h: u64) -> u64 {
    (1u64 << (h & 63)) | (1u64 << ((h >> 6) & 63))
}

impl NgramSet {
    pub fn new(map: std::collections::HashMap<u64, Vec<u32>, IdHash>) -> Self {
        let words = (map.len().max(1) * 16 / 64).next_power_of_two().max(64);
        let log2 = words.trailing_zeros();
        let shift = 64 - log2;
        let mut bits = vec![0u64; words];
        for &h in map.keys() {
            bits[(h >> shift) as usize] |= bloom_mask(h);
        }
        NgramSet { map, bits, shift }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    #[inline]
    pub fn contains_key(&self, h: &u64) -> bool {
        let m = bloom_mask(*h);
        self.bits[(*h >> self.shift) as usize] & m == m && self.map.contains_key(h)
    }

    pub fn get(&self, h: &u64) -> Option<&Vec<u32>> {
        self.map.get(h)
    }
}

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

fn finish(mut h: u64) -> u64 {
    // splitmix64 finaliser: spreads the polynomial hash over all bits.
    h ^= h >> 30;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

/// Hash of every n-gram of prose words, calling `f(hash)` for each window (a rolling polynomial hash).
pub(crate) fn prose_ngrams(toks: &[u64], n: usize, mut f: impl FnMut(u64)) {
    if n == 0 || toks.len() < n {
        return;
    }
    let mut pow = 1u64; // MUL^(n-1)
    for _ in 1..n {
        pow = pow.wrapping_mul(MUL);
    }
    let mut h = toks[..n].iter().fold(0u64, |h, &t| h.wrapping_mul(MUL).wrapping_add(t));
    f(finish(h));
    for i in n..toks.len() {
        h = h.wrapping_sub(toks[i - n].wrapping_mul(pow)).wrapping_mul(MUL).wrapping_add(toks[i]);
        f(finish(h));
    }
}

const NEW_IDENT: u64 = 0xD157_FFFF;
const BACKREF: u64 = 0xD157_0000;

/// Code of token `p` inside the window starting at `s`.
#[inline]
fn code_at(t: &CodeTok, p: usize, s: usize) -> u64 {
    if !t.is_ident {
        return t.hash;
    }
    match t.prev {
        // Back-reference inside the window, or "first occurrence in this window".
        Some(q) if (q as usize) >= s => BACKREF + (p - q as usize) as u64,
        _ => NEW_IDENT,
    }
}

/// Hash of every parameterised code n-gram, calling `f(hash)` for each window.
///
/// Rolling: sliding the window by one changes the codes of only three tokens (the one leaving,
/// the one entering, and the next occurrence of the leaving identifier, whose back-reference now
/// points outside the window and becomes "new"), so each window costs O(1) instead of O(n).
/// Equal to [`code_ngrams_direct`], which tests check.
pub(crate) fn code_ngrams(toks: &[CodeTok], n: usize, mut f: impl FnMut(u64)) {
    if n == 0 || toks.len() < n {
        return;
    }
    let mut pows = vec![1u64; n + 1];
    for k in 1..=n {
        pows[k] = pows[k - 1].wrapping_mul(MUL);
    }
    let mut h = 0u64;
    for (p, t) in toks[..n].iter().enumerate() {
        h = h.wrapping_mul(MUL).wrapping_add(code_at(t, p, 0));
    }
    f(finish(h));
    for s in 0..toks.len() - n {
        h = h.wrapping_sub(code_at(&toks[s], s, s).wrapping_mul(pows[n - 1])).wrapping_mul(MUL);
        let q = toks[s].next as usize;
        if toks[s].is_ident && q < s + n {
            let old = BACKREF + (q - s) as u64;
            h = h.wrapping_add(NEW_IDENT.wrapping_sub(old).wrapping_mul(pows[s + n - q]));
        }
        h = h.wrapping_add(code_at(&toks[s + n], s + n, s + 1));
        f(finish(h));
    }
}

/// The definition [`code_ngrams`] computes incrementally: each window hashed from scratch.
#[cfg(test)]
pub(crate) fn code_ngrams_direct(toks: &[CodeTok], n: usize, mut f: impl FnMut(u64)) {
    if n == 0 || toks.len() < n {
        return;
    }
    for s in 0..=toks.len() - n {
        let h = (s..s + n).fold(0u64, |h, p| h.wrapping_mul(MUL).wrapping_add(code_at(&toks[p], p, s)));
        f(finish(h));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn code_hashes(t: &str, n: usize) -> Vec<u64> {
        let mut toks = Vec::new();
        code_tokens(t, &mut toks, n - 1);
        let mut out = Vec::new();
        code_ngrams(&toks, n, |h| out.push(h));
        out
    }

    fn prose_hashes(t: &str, n: usize) -> Vec<u64> {
        let mut toks = Vec::new();
        prose_tokens(t, &mut toks);
        let mut out = Vec::new();
        prose_ngrams(&toks, n, |h| out.push(h));
        out
    }

    #[test]
    fn rolling_code_hash_equals_direct_definition() {
        // Pseudo-random token soups with many repeated identifiers, every n from 1 to 14.
        let mut x = 0x1234_5678_9abc_def0u64;
        let words = ["a", "b", "c", "len", "(", ")", "x", "y", "=", "+", ".", "z", "return", "1"];
        for round in 0..200 {
            let mut src = String::new();
            for _ in 0..(round % 60) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                src.push_str(words[(x % words.len() as u64) as usize]);
                src.push(' ');
            }
            for n in 1..15 {
                let mut toks = Vec::new();
                code_tokens(&src, &mut toks, n - 1);
                let (mut a, mut b) = (Vec::new(), Vec::new());
                code_ngrams(&toks, n, |h| a.push(h));
                code_ngrams_direct(&toks, n, |h| b.push(h));
                assert_eq!(a, b, "n={n} src={src:?}");
            }
        }
    }

    #[test]
    fn back_references_equal_a_linear_search() {
        // Hundreds of distinct names force slot collisions in the direct-mapped table.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for max_back in [1usize, 3, 11, 30] {
            let mut src = String::new();
            for _ in 0..3000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let k = x % 400;
                if k % 7 == 0 {
                    src.push_str("+ ");
                } else {
                    src.push('v');
                    src.push_str(&(k % 300).to_string());
                    src.push(' ');
                }
            }
            let mut toks = Vec::new();
            code_tokens(&src, &mut toks, max_back);
            for (i, t) in toks.iter().enumerate() {
                let lo = i.saturating_sub(max_back);
                let want = (lo..i).rev().find(|&j| toks[j].is_ident && toks[j].hash == t.hash && t.is_ident);
                assert_eq!(t.prev.map(|p| p as usize), want, "token {i}, max_back {max_back}");
            }
        }
    }

    #[test]
    fn code_ngrams_survive_consistent_renaming_and_reformatting() {
        let a = "def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n";
        let b = "def g(items):\r\n  acc = 0\r\n  for it in items:  # sum\r\n\tacc += it\r\n  return acc";
        assert_eq!(code_hashes(a, 8), code_hashes(b, 8));
    }

    #[test]
    fn code_ngrams_distinguish_different_identifier_structure() {
        // Same shape, but `a + a` vs `a + b`.
        assert_ne!(code_hashes("return a + a", 4), code_hashes("return a + b", 4));
        // Attributes and builtins stay literal.
        assert_ne!(code_hashes("x.append(y)", 6), code_hashes("x.extend(y)", 6));
        assert_ne!(code_hashes("len(x) + 1", 6), code_hashes("sum(x) + 1", 6));
    }

    #[test]
    fn prose_ignores_case_punctuation_and_markup() {
        let a = "Return the sum of\n    the two numbers.";
        let b = "# return THE sum of the two\n# numbers";
        assert_eq!(prose_hashes(a, 4), prose_hashes(b, 4));
        assert!(prose_hashes("too short", 4).is_empty());
    }
}
