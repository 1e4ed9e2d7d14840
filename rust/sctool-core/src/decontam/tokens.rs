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

/// FNV-1a, finished with splitmix: for the short tokens of code it is cheaper than a hash call.
#[inline]
fn bytes_hash(b: &[u8]) -> u64 {
    let mut h = 0xCBF2_9CE4_8422_2325u64;
    for &x in b {
        h = (h ^ u64::from(x)).wrapping_mul(0x100_0000_01B3);
    }
    finish(h)
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
    /// For identifiers: index of the previous occurrence of the same name in the stream.
    pub prev: Option<u32>,
    pub is_ident: bool,
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
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
        if is_word_byte(b[i]) {
            // FNV-1a over the lowercased bytes, finished below: cheaper than a hash call per word.
            let mut h = 0xCBF2_9CE4_8422_2325u64;
            while i < b.len() && is_word_byte(b[i]) {
                h = (h ^ u64::from(b[i].to_ascii_lowercase())).wrapping_mul(0x100_0000_01B3);
                i += 1;
            }
            out.push(finish(h));
        } else {
            i += 1;
        }
    }
}

/// Code tokens with identifier back-references reaching at most `max_back` tokens (n - 1 for n-grams).
pub(crate) fn code_tokens(text: &str, out: &mut Vec<CodeTok>, max_back: usize) {
    out.clear();
    let literals = literal_hashes();
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
                CodeTok { hash: h, prev: None, is_ident: false }
            } else {
                // Previous occurrence, looked for only as far back as an n-gram can reach.
                let idx = out.len();
                let prev = out[idx.saturating_sub(max_back)..]
                    .iter()
                    .rposition(|t| t.is_ident && t.hash == h)
                    .map(|p| (idx.saturating_sub(max_back) + p) as u32);
                CodeTok { hash: h, prev, is_ident: true }
            }
        } else if c.is_ascii_digit() {
            let s = i;
            while i < n && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
            CodeTok { hash: bytes_hash(&b[s..i]), prev: None, is_ident: false }
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
            CodeTok { hash: finish(h), prev: None, is_ident: false }
        } else {
            i += 1;
            CodeTok { hash: bytes_hash(&[0x02, c]), prev: None, is_ident: false }
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

/// N-gram hash -> piece ids, behind a bitmap that answers the common "absent" case from cache.
pub struct NgramSet {
    map: std::collections::HashMap<u64, Vec<u32>, IdHash>,
    bits: Vec<u64>,
    shift: u32,
}

impl NgramSet {
    pub fn new(map: std::collections::HashMap<u64, Vec<u32>, IdHash>) -> Self {
        // About 32 bits per entry, at least 2^16: a false "maybe" costs one hash-map probe.
        let log2 = (map.len().max(1) * 32).next_power_of_two().trailing_zeros().max(16);
        let mut bits = vec![0u64; 1 << (log2 - 6)];
        let shift = 64 - log2;
        for &h in map.keys() {
            let s = (h >> shift) as usize;
            bits[s >> 6] |= 1 << (s & 63);
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
        let s = (*h >> self.shift) as usize;
        self.bits[s >> 6] & (1 << (s & 63)) != 0 && self.map.contains_key(h)
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

/// Hash of every parameterised code n-gram, calling `f(hash)` for each window.
pub(crate) fn code_ngrams(toks: &[CodeTok], n: usize, mut f: impl FnMut(u64)) {
    if n == 0 || toks.len() < n {
        return;
    }
    for s in 0..=toks.len() - n {
        let mut h = 0x5EED_0002u64;
        for (p, t) in toks[s..s + n].iter().enumerate() {
            let code = if t.is_ident {
                // Back-reference inside the window, or "first occurrence in this window".
                match t.prev {
                    Some(q) if (q as usize) >= s => 0xD157_0000 + (s + p - q as usize) as u64,
                    _ => 0xD157_FFFF,
                }
            } else {
                t.hash
            };
            h = (h ^ code).wrapping_mul(MUL);
        }
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
