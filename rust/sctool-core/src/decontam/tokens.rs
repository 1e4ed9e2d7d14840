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
    "False",
    "None",
    "True",
    "and",
    "as",
    "assert",
    "async",
    "await",
    "break",
    "class",
    "continue",
    "def",
    "del",
    "elif",
    "else",
    "except",
    "finally",
    "for",
    "from",
    "global",
    "if",
    "import",
    "in",
    "is",
    "lambda",
    "nonlocal",
    "not",
    "or",
    "pass",
    "raise",
    "return",
    "try",
    "while",
    "with",
    "yield",
    "self",
    "abs",
    "all",
    "any",
    "bin",
    "bool",
    "bytes",
    "chr",
    "dict",
    "divmod",
    "enumerate",
    "filter",
    "float",
    "format",
    "hex",
    "int",
    "isinstance",
    "iter",
    "len",
    "list",
    "map",
    "max",
    "min",
    "next",
    "oct",
    "open",
    "ord",
    "pow",
    "print",
    "range",
    "reversed",
    "round",
    "set",
    "sorted",
    "str",
    "sum",
    "tuple",
    "type",
    "zip",
    "math",
    "re",
    "List",
    "Tuple",
    "Dict",
    "Optional",
    "Any",
    "typing",
    "const",
    "var",
    "let",
    "function",
    "void",
    "public",
    "private",
    "static",
    "new",
    "this",
    "null",
    "true",
    "false",
    "char",
    "double",
    "long",
    "switch",
    "case",
    "do",
    "struct",
    "string",
    "bool",
];

/// Eight bytes per multiply, finished with splitmix: for the short tokens of code it is cheaper
/// than a general-purpose hash call.
#[inline]
pub(crate) fn bytes_hash(b: &[u8]) -> u64 {
    let mut h = 0xCBF2_9CE4_8422_2325u64;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(a)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    let rest = chunks.remainder();
    let tail = rest
        .iter()
        .enumerate()
        .fold(0u64, |v, (k, &x)| v | (u64::from(x) << (8 * k)));
    h = (h ^ tail ^ ((rest.len() as u64) << 59)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    finish(h)
}

/// [`bytes_hash`] of `b[s..e]` before its finaliser (`bytes_hash(&b[s..e]) == finish(result)`), reading
/// the last partial lane with one load where the text allows.
#[inline]
#[allow(clippy::many_single_char_names)]
fn bytes_prehash_at(b: &[u8], s: usize, e: usize) -> u64 {
    if e - s < 8 && s + 8 <= b.len() {
        let r = e - s;
        let tail = u64::from_le_bytes(b[s..s + 8].try_into().unwrap()) & !(u64::MAX << (8 * r));
        return (0xCBF2_9CE4_8422_2325u64 ^ tail ^ ((r as u64) << 59))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    let mut h = 0xCBF2_9CE4_8422_2325u64;
    let mut p = s;
    while p + 8 <= e {
        h = (h ^ u64::from_le_bytes(b[p..p + 8].try_into().unwrap()))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        p += 8;
    }
    let r = e - p;
    let tail = if r == 0 {
        0
    } else if p + 8 <= b.len() {
        u64::from_le_bytes(b[p..p + 8].try_into().unwrap()) & (u64::MAX >> (64 - 8 * r))
    } else if e >= 8 {
        u64::from_le_bytes(b[e - 8..e].try_into().unwrap()) >> (64 - 8 * r)
    } else {
        b[p..e]
            .iter()
            .enumerate()
            .fold(0u64, |v, (k, &x)| v | (u64::from(x) << (8 * k)))
    };
    (h ^ tail ^ ((r as u64) << 59)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn punct_hashes() -> &'static [u64; 256] {
    static T: std::sync::OnceLock<[u64; 256]> = std::sync::OnceLock::new();
    T.get_or_init(|| std::array::from_fn(|c| bytes_hash(&[0x02, c as u8])))
}

/// The hashes of [`LITERAL_NAMES`] before their finaliser ([`unfinish`] of each), in a small
/// open-addressed table (0 marks an empty slot; no literal hashes to 0). Since the finaliser is a
/// bijection, `x` is in the table exactly when `finish(x)` is a literal's hash, and the check need
/// not wait for the finaliser: it is on the path of a hard-to-predict branch.
pub(crate) struct LiteralTable([u64; 1024]);

impl LiteralTable {
    #[inline]
    fn contains(&self, x: u64) -> bool {
        if x == 0 {
            return false;
        }
        let mut k = (x >> 54) as usize;
        loop {
            let v = self.0[k];
            if v == x {
                return true;
            }
            if v == 0 {
                return false;
            }
            k = (k + 1) & 1023;
        }
    }
}

fn literal_table() -> &'static LiteralTable {
    static T: std::sync::OnceLock<LiteralTable> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let mut t = [0u64; 1024];
        for k in LITERAL_NAMES {
            let x = unfinish(bytes_hash(k.as_bytes()));
            assert_ne!(x, 0);
            let mut j = (x >> 54) as usize;
            while t[j] != 0 && t[j] != x {
                j = (j + 1) & 1023;
            }
            t[j] = x;
        }
        LiteralTable(t)
    })
}

#[cfg(test)]
fn literal_hashes() -> &'static std::collections::HashSet<u64, IdHash> {
    static SET: std::sync::OnceLock<std::collections::HashSet<u64, IdHash>> =
        std::sync::OnceLock::new();
    SET.get_or_init(|| {
        LITERAL_NAMES
            .iter()
            .map(|k| bytes_hash(k.as_bytes()))
            .collect()
    })
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

#[cfg(test)]
fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Per-byte classes of a text as bitmaps (bit `i % 64` of word `i / 64` is byte `i`), computed
/// once per document with SIMD compares (SSE2 on x86-64, 64-bit SWAR elsewhere) and shared by both
/// token streams, which find token starts and ends with bit operations and `trailing_zeros`
/// instead of a loop and a branch per byte. Bits past the end of the text are 0 in every map.
#[derive(Default)]
pub(crate) struct ByteClasses {
    /// Prose word bytes: ASCII letters and digits, and every byte of a non-ASCII character.
    word: Vec<u64>,
    /// Identifier bytes: word bytes and `_`.
    ident: Vec<u64>,
    /// ASCII whitespace (`u8::is_ascii_whitespace`).
    space: Vec<u64>,
    /// Whether some byte is 0x80 or above (the text is not ASCII).
    non_ascii: bool,
}

#[cfg(any(test, not(target_arch = "x86_64")))]
const HI: u64 = 0x8080_8080_8080_8080;
#[cfg(any(test, not(target_arch = "x86_64")))]
const ONES: u64 = 0x0101_0101_0101_0101;

/// 0x80 in each byte of `y` (all bytes < 0x80) that lies in `lo..=hi`.
#[cfg(any(test, not(target_arch = "x86_64")))]
#[inline]
fn in_range(y: u64, lo: u8, hi: u8) -> u64 {
    let ge = y.wrapping_add(ONES * u64::from(0x80 - lo));
    let gt = y.wrapping_add(ONES * u64::from(0x7F - hi));
    ge & !gt & HI
}

/// Gather the top bit of each byte into bits 0..8 (bit i = byte i).
#[cfg(any(test, not(target_arch = "x86_64")))]
#[inline]
fn pack(m: u64) -> u64 {
    (m >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56
}

impl ByteClasses {
    pub(crate) fn fill(&mut self, b: &[u8]) {
        let blocks = b.len().div_ceil(64);
        self.word.clear();
        self.ident.clear();
        self.space.clear();
        self.non_ascii = false;
        self.word.reserve(blocks);
        self.ident.reserve(blocks);
        self.space.reserve(blocks);
        let mut chunks = b.chunks_exact(64);
        for c in &mut chunks {
            self.push_block(c.try_into().unwrap());
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut pad = [0u8; 64];
            pad[..rest.len()].copy_from_slice(rest);
            self.push_block(&pad);
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    #[inline]
    fn push_block(&mut self, c: &[u8; 64]) {
        self.push_block_swar(c);
    }

    /// Classify 64 bytes with SSE2 (part of every x86-64 CPU): 16 bytes per compare.
    #[cfg(target_arch = "x86_64")]
    #[inline]
    fn push_block(&mut self, c: &[u8; 64]) {
        use std::arch::x86_64::{
            __m128i, _mm_and_si128, _mm_andnot_si128, _mm_cmpeq_epi8, _mm_cmpgt_epi8,
            _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        };
        let (mut w, mut id, mut sp) = (0u64, 0u64, 0u64);
        for k in 0..4 {
            let chunk: &[u8; 16] = c[16 * k..16 * k + 16].try_into().unwrap();
            // SAFETY: SSE2 is enabled on every x86-64 target, and the load reads exactly the 16
            // bytes of `chunk` (unaligned loads are allowed).
            #[allow(clippy::cast_ptr_alignment)] // `_mm_loadu_si128` needs no alignment
            let (wm, im, sm) = unsafe {
                let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
                let set = |x: u8| _mm_set1_epi8(x as i8);
                // Signed compares: bytes >= 0x80 are negative and fall outside every ASCII range.
                let range = |x: __m128i, lo: u8, hi: u8| {
                    _mm_and_si128(
                        _mm_cmpgt_epi8(x, set(lo - 1)),
                        _mm_cmplt_epi8(x, set(hi + 1)),
                    )
                };
                let high = _mm_cmplt_epi8(v, set(0));
                let letter = range(_mm_or_si128(v, set(0x20)), b'a', b'z');
                let digit = range(v, b'0', b'9');
                let word = _mm_or_si128(_mm_or_si128(letter, digit), high);
                let ident = _mm_or_si128(word, _mm_cmpeq_epi8(v, set(b'_')));
                let space = _mm_or_si128(
                    _mm_andnot_si128(_mm_cmpeq_epi8(v, set(0x0B)), range(v, 0x09, 0x0D)),
                    _mm_cmpeq_epi8(v, set(b' ')),
                );
                self.non_ascii |= _mm_movemask_epi8(v) != 0;
                (
                    _mm_movemask_epi8(word),
                    _mm_movemask_epi8(ident),
                    _mm_movemask_epi8(space),
                )
            };
            w |= u64::from(wm as u16) << (16 * k);
            id |= u64::from(im as u16) << (16 * k);
            sp |= u64::from(sm as u16) << (16 * k);
        }
        self.word.push(w);
        self.ident.push(id);
        self.space.push(sp);
    }

    /// Portable classification, eight bytes per 64-bit word (SWAR).
    #[cfg(any(test, not(target_arch = "x86_64")))]
    #[inline]
    fn push_block_swar(&mut self, c: &[u8; 64]) {
        let (mut w, mut id, mut sp) = (0u64, 0u64, 0u64);
        for k in 0..8 {
            let x = u64::from_le_bytes(c[8 * k..8 * k + 8].try_into().unwrap());
            let high = x & HI;
            self.non_ascii |= high != 0;
            let ascii = !x & HI;
            let y = x & !HI;
            let alnum =
                (in_range(y | 0x2020_2020_2020_2020, b'a', b'z') | in_range(y, b'0', b'9')) & ascii;
            let word = alnum | high;
            let ident = word | (in_range(y, b'_', b'_') & ascii);
            let space =
                ((in_range(y, 9, 13) & !in_range(y, 11, 11)) | in_range(y, b' ', b' ')) & ascii;
            w |= pack(word) << (8 * k);
            id |= pack(ident) << (8 * k);
            sp |= pack(space) << (8 * k);
        }
        self.word.push(w);
        self.ident.push(id);
        self.space.push(sp);
    }

    /// Whether the text last passed to [`fill`](Self::fill) is ASCII (`str::is_ascii`).
    pub(crate) fn is_ascii(&self) -> bool {
        !self.non_ascii
    }
}

/// First position at or after `i` whose bit in `map` is clear, at most `end`.
#[inline]
fn next_clear(map: &[u64], i: usize, end: usize) -> usize {
    let mut blk = i >> 6;
    if blk >= map.len() {
        return end;
    }
    let mut m = !map[blk] & (u64::MAX << (i & 63));
    while m == 0 {
        blk += 1;
        if blk >= map.len() {
            return end;
        }
        m = !map[blk];
    }
    (blk * 64 + m.trailing_zeros() as usize).min(end)
}

/// End of the run of set bits of `map` that contains position `s` (bit `s` is set), at most `end`.
#[inline]
fn run_end(map: &[u64], s: usize, end: usize) -> usize {
    let off = s & 63;
    let len = (!(map[s >> 6] >> off)).trailing_zeros() as usize;
    if off + len < 64 {
        (s + len).min(end)
    } else {
        next_clear(map, s + len, end)
    }
}

/// ASCII-lowercase the bytes of `x`, all of which are prose word bytes (or 0): a byte below 0x80
/// with bit 6 set is then a letter, and setting bit 5 lowercases it.
#[inline]
fn lower_word_bytes(x: u64) -> u64 {
    x | ((x & !(x >> 1) & 0x4040_4040_4040_4040) >> 1)
}

/// Prose words, ASCII-lowercased, as hashes.
pub(crate) fn prose_tokens(text: &str, out: &mut Vec<u64>) {
    let mut cls = ByteClasses::default();
    cls.fill(text.as_bytes());
    prose_tokens_with(text, &cls, out);
}

/// [`prose_tokens`] with the byte classes of `text` already computed.
#[allow(clippy::many_single_char_names)]
pub(crate) fn prose_tokens_with(text: &str, cls: &ByteClasses, out: &mut Vec<u64>) {
    out.clear();
    let b = text.as_bytes();
    let n = b.len();
    // Word starts come from the bitmap (a word byte after a non-word byte), so finding the next
    // word does not wait for the end of the current one: words are hashed independently.
    let mut carry = 0u64;
    for (blk, &w) in cls.word.iter().enumerate() {
        let mut starts = w & !((w << 1) | carry);
        carry = w >> 63;
        while starts != 0 {
            let s = blk * 64 + starts.trailing_zeros() as usize;
            starts &= starts - 1;
            prose_word(b, s, run_end(&cls.word, s, n), out);
        }
    }
}

/// Push the hash of the prose word `b[s..e]`.
#[inline]
#[allow(clippy::many_single_char_names)]
fn prose_word(b: &[u8], s: usize, e: usize, out: &mut Vec<u64>) {
    let n = b.len();
    // Most words are shorter than a lane and not at the very end: one load, no loop.
    if e - s < 8 && s + 8 <= n {
        let k = e - s;
        let lane =
            lower_word_bytes(u64::from_be_bytes(b[s..s + 8].try_into().unwrap()) >> (64 - 8 * k));
        out.push(finish(
            (0xCBF2_9CE4_8422_2325u64 ^ lane ^ ((k as u64) << 59))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ));
        return;
    }
    // Pack 8 lowercased bytes per 64-bit lane (first byte highest) and mix once per lane: a
    // word of up to eight letters costs one multiply before the finaliser.
    let mut h = 0xCBF2_9CE4_8422_2325u64;
    let mut p = s;
    while p + 8 <= e {
        let lane = lower_word_bytes(u64::from_be_bytes(b[p..p + 8].try_into().unwrap()));
        h = (h ^ lane).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        p += 8;
    }
    let k = e - p;
    let lane = if k == 0 {
        0
    } else if e >= 8 {
        let v = u64::from_be_bytes(b[e - 8..e].try_into().unwrap());
        lower_word_bytes(v & (u64::MAX >> (64 - 8 * k)))
    } else {
        b[p..e]
            .iter()
            .fold(0u64, |l, &x| (l << 8) | u64::from(x.to_ascii_lowercase()))
    };
    out.push(finish(
        (h ^ lane ^ ((k as u64) << 59)).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    ));
}

/// The definition [`prose_tokens`] computes with byte classes: a loop per byte.
#[cfg(test)]
pub(crate) fn prose_tokens_bytewise(text: &str, out: &mut Vec<u64>) {
    out.clear();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if WORD[b[i] as usize] {
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
            out.push(finish(
                (h ^ lane ^ (k << 59)).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            ));
        } else {
            i += 1;
        }
    }
}

/// Bytes of prose words: ASCII letters and digits, and every byte of a non-ASCII character.
#[cfg(test)]
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
pub(crate) fn code_tokens(text: &str, out: &mut Vec<CodeTok>, max_back: usize) {
    let mut cls = ByteClasses::default();
    cls.fill(text.as_bytes());
    code_tokens_with(text, &cls, out, max_back);
}

/// [`code_tokens`] with the byte classes of `text` already computed.
///
/// Token starts come from the bitmaps: every non-blank byte outside identifiers is a token of its
/// own (punctuation, or the start of a string, number or comment), and so is the first byte of
/// every run of identifier bytes. The next token is then the next set bit, found without waiting
/// for the current token's end except after strings, numbers and comments, which may swallow
/// later candidates.
// Byte scanners read best with the usual short names (b: bytes, i: index, c: byte).
#[allow(clippy::many_single_char_names)]
pub(crate) fn code_tokens_with(
    text: &str,
    cls: &ByteClasses,
    out: &mut Vec<CodeTok>,
    max_back: usize,
) {
    out.clear();
    let literals = literal_table();
    let punct = punct_hashes();
    let mut recent = [(0u64, u32::MAX); 256];
    let b = text.as_bytes();
    let n = b.len();
    let blocks = cls.ident.len();
    if blocks == 0 {
        return;
    }
    // Candidate token starts of block k: non-blank non-identifier bytes, and identifier bytes
    // after a non-identifier byte (bits past the end of the text are cut off by `i >= n` below).
    let cand = |k: usize| {
        let id = cls.ident[k];
        let carry = if k == 0 { 0 } else { cls.ident[k - 1] >> 63 };
        (!cls.space[k] & !id) | (id & !((id << 1) | carry))
    };
    let mut blk = 0;
    let mut m = cand(0);
    let mut after_dot = false;
    loop {
        while m == 0 {
            blk += 1;
            if blk >= blocks {
                return;
            }
            m = cand(blk);
        }
        let i = blk * 64 + m.trailing_zeros() as usize;
        if i >= n {
            return;
        }
        let c = b[i];
        // Where scanning resumes when the token may have swallowed later candidates.
        let mut resume = None;
        if c == b'#' {
            resume = Some(memchr::memchr(b'\n', &b[i..]).map_or(n, |p| i + p));
        } else {
            let tok = if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
                // An identifier run holds no other candidate: the next one is the next set bit.
                let e = run_end(&cls.ident, i, n);
                let x = bytes_prehash_at(b, i, e);
                let h = finish(x);
                if after_dot || literals.contains(x) {
                    CodeTok {
                        hash: h,
                        prev: None,
                        next: u32::MAX,
                        is_ident: false,
                    }
                } else {
                    // Previous occurrence, looked for only as far back as an n-gram can reach.
                    let idx = out.len();
                    let lo = idx.saturating_sub(max_back);
                    // A direct-mapped table of the latest identifier per slot answers most lookups:
                    // if the slot holds this name, that is its latest occurrence; if it is empty or
                    // holds a name seen before `lo`, this name cannot occur since `lo` either
                    // (anything written after it would have replaced it). Otherwise scan the
                    // reachable tokens. Keyed by the unfinished hash `x`: equal exactly when the
                    // names' hashes are.
                    let slot = (x >> 56) as usize;
                    let (sx, si) = recent[slot];
                    let prev = if si != u32::MAX && sx == x {
                        Some(si as usize).filter(|&q| q >= lo)
                    } else if si == u32::MAX || (si as usize) < lo {
                        None
                    } else {
                        out[lo..]
                            .iter()
                            .rposition(|t| t.is_ident && t.hash == h)
                            .map(|p| lo + p)
                    };
                    recent[slot] = (x, idx as u32);
                    if let Some(q) = prev {
                        out[q].next = idx as u32;
                    }
                    CodeTok {
                        hash: h,
                        prev: prev.map(|q| q as u32),
                        next: u32::MAX,
                        is_ident: true,
                    }
                }
            } else if c.is_ascii_digit() {
                let e = number_end(b, i);
                resume = Some(e);
                CodeTok {
                    hash: bytes_hash(&b[i..e]),
                    prev: None,
                    next: u32::MAX,
                    is_ident: false,
                }
            } else if c == b'"' || c == b'\'' {
                let (hash, next) = string_literal(b, i);
                resume = Some(next);
                CodeTok {
                    hash,
                    prev: None,
                    next: u32::MAX,
                    is_ident: false,
                }
            } else {
                CodeTok {
                    hash: punct[c as usize],
                    prev: None,
                    next: u32::MAX,
                    is_ident: false,
                }
            };
            // Only a punctuation token can start with '.', so this marks an attribute access next.
            after_dot = c == b'.';
            out.push(tok);
        }
        match resume {
            None => m &= m - 1,
            Some(e) => {
                if e >> 6 != blk {
                    blk = e >> 6;
                    if blk >= blocks {
                        return;
                    }
                    m = cand(blk);
                }
                m &= u64::MAX << (e & 63);
                // A number stops before a non-ASCII byte, which then starts an identifier although
                // it continues the run of identifier bytes (so it is no candidate of its own).
                if e < n && b[e] >= 0x80 {
                    m |= 1 << (e & 63);
                }
            }
        }
    }
}

/// The definition [`code_tokens`] computes with byte classes: a loop per byte.
#[cfg(test)]
// Byte scanners read best with the usual short names (b: bytes, i: index, c: byte).
#[allow(clippy::many_single_char_names)]
pub(crate) fn code_tokens_bytewise(text: &str, out: &mut Vec<CodeTok>, max_back: usize) {
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
                CodeTok {
                    hash: h,
                    prev: None,
                    next: u32::MAX,
                    is_ident: false,
                }
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
                    out[lo..]
                        .iter()
                        .rposition(|t| t.is_ident && t.hash == h)
                        .map(|p| lo + p)
                };
                recent[slot] = (h, idx as u32);
                if let Some(q) = prev {
                    out[q].next = idx as u32;
                }
                CodeTok {
                    hash: h,
                    prev: prev.map(|q| q as u32),
                    next: u32::MAX,
                    is_ident: true,
                }
            }
        } else if c.is_ascii_digit() {
            let s = i;
            i = number_end(b, i);
            CodeTok {
                hash: bytes_hash(&b[s..i]),
                prev: None,
                next: u32::MAX,
                is_ident: false,
            }
        } else if c == b'"' || c == b'\'' {
            let (hash, next) = string_literal(b, i);
            i = next;
            CodeTok {
                hash,
                prev: None,
                next: u32::MAX,
                is_ident: false,
            }
        } else {
            i += 1;
            CodeTok {
                hash: punct[c as usize],
                prev: None,
                next: u32::MAX,
                is_ident: false,
            }
        };
        // Only a punctuation token can start with '.', so this marks an attribute access next.
        after_dot = c == b'.';
        out.push(tok);
    }
}

/// Start offset of every prose word, in the order [`prose_tokens`] emits them.
pub(crate) fn prose_word_starts(text: &str) -> Vec<usize> {
    let b = text.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c >= 0x80;
    (0..b.len())
        .filter(|&i| word(b[i]) && (i == 0 || !word(b[i - 1])))
        .collect()
}

/// Start offset of every code token, in the order [`code_tokens`] emits them (the rules of
/// `code_tokens_bytewise`, keeping positions instead of hashes): what an explanation needs to
/// point at the matched text.
#[allow(clippy::many_single_char_names)]
pub(crate) fn code_token_starts(text: &str) -> Vec<usize> {
    let b = text.as_bytes();
    let n = b.len();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    let mut out = Vec::new();
    let mut i = 0;
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
        out.push(i);
        if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            while i < n && ident(b[i]) {
                i += 1;
            }
        } else if c.is_ascii_digit() {
            i = number_end(b, i);
        } else if c == b'"' || c == b'\'' {
            i = string_literal(b, i).1;
        } else {
            i += 1;
        }
    }
    out
}

/// End of a number token starting at `i`: digits, letters, `_` and `.` (`0x1F`, `1e-3` splits at `-`).
fn number_end(b: &[u8], i: usize) -> usize {
    let mut e = i;
    while e < b.len() && (b[e].is_ascii_alphanumeric() || b[e] == b'_' || b[e] == b'.') {
        e += 1;
    }
    e
}

/// Bytes of a string literal's content that its token hash reads.
const STRING_HASH_BYTES: usize = 256;

/// Index after the string literal opening at `i` (single, double or triple quoted).
pub(crate) fn string_end(b: &[u8], i: usize) -> usize {
    string_literal(b, i).1
}

/// A string literal opening at `i` (single, double or triple quoted): the hash of its content
/// (the first [`STRING_HASH_BYTES`]) with whitespace runs collapsed to one space, and the index
/// after its closing quote(s).
// Byte scanners read best with the usual short names (b: bytes, i: index, c: byte).
#[allow(clippy::many_single_char_names)]
fn string_literal(b: &[u8], i: usize) -> (u64, usize) {
    let n = b.len();
    let c = b[i];
    let triple = i + 2 < n && b[i + 1] == c && b[i + 2] == c;
    let (start, end, next) = if triple {
        let close = [c, c, c];
        match memchr::memmem::find(&b[i + 3..], &close) {
            Some(p) => (i + 3, i + 3 + p, i + 3 + p + 3),
            None => (i + 3, n, n),
        }
    } else {
        // The closing quote, a line break or an escape, found by memchr rather than byte by byte.
        let mut j = i + 1;
        while j < n {
            match memchr::memchr3(c, b'\n', b'\\', &b[j..]) {
                None => j = n,
                Some(p) => {
                    j += p;
                    if b[j] == b'\\' {
                        j += 2;
                        continue;
                    }
                }
            }
            break;
        }
        let j = j.min(n);
        (i + 1, j, (j + 1).min(n))
    };
    let mut h = 0x5354_5249_4E47u64; // "STRING": string tokens hash apart from names
    let mut in_ws = false;
    // The first [`STRING_HASH_BYTES`] bytes identify a string token: a long docstring is one token
    // of the code stream either way (its words are the prose stream's), and hashing all of it byte
    // by byte cost more than the rest of its tokenisation.
    for &x in &b[start..end.min(start + STRING_HASH_BYTES)] {
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
    (finish(h), next)
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
///
/// The filter is keyed by the n-gram's hash *before* its splitmix finaliser ([`finish`], a
/// bijection, inverted by [`unfinish`] when the filter is built), so a scan pays for the
/// finaliser only on the few windows the filter lets through.
pub struct NgramSet {
    map: std::collections::HashMap<u64, Vec<u32>, IdHash>,
    bits: Vec<u64>,
    shift: u32,
}

/// Filter position of an unfinished hash: one multiply spreads it over the top bits (word index)
/// and bits 20..32 (the two bits in the word).
#[inline]
fn bloom_key(raw: u64) -> u64 {
    (raw ^ (raw >> 32)).wrapping_mul(0xD6E8_FEB8_6659_FD93)
}

#[inline]
fn bloom_mask(x: u64) -> u64 {
    (1u64 << ((x >> 20) & 63)) | (1u64 << ((x >> 26) & 63))
}

impl NgramSet {
    pub fn new(map: std::collections::HashMap<u64, Vec<u32>, IdHash>) -> Self {
        let words = (map.len().max(1) * 16 / 64).next_power_of_two().max(64);
        let log2 = words.trailing_zeros();
        let shift = 64 - log2;
        let mut bits = vec![0u64; words];
        for &h in map.keys() {
            let x = bloom_key(unfinish(h));
            bits[(x >> shift) as usize] |= bloom_mask(x);
        }
        NgramSet { map, bits, shift }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn contains_key(&self, h: &u64) -> bool {
        self.probe_raw(unfinish(*h)).is_some()
    }

    /// The finished hash `finish(raw)` if it is a key of the set.
    #[inline]
    pub(crate) fn probe_raw(&self, raw: u64) -> Option<u64> {
        let x = bloom_key(raw);
        let m = bloom_mask(x);
        if self.bits[(x >> self.shift) as usize] & m != m {
            return None;
        }
        let h = finish(raw);
        self.map.contains_key(&h).then_some(h)
    }

    pub fn get(&self, h: &u64) -> Option<&Vec<u32>> {
        self.map.get(h)
    }
}

/// Inverse of `x ^= x >> s`.
fn unxorshift(y: u64, s: u32) -> u64 {
    let mut x = y;
    for _ in 0..64 / s {
        x = y ^ (x >> s);
    }
    x
}

/// Inverse of an odd multiplier modulo 2^64 (Newton's iteration doubles the correct bits).
const fn mul_inverse(m: u64) -> u64 {
    let mut inv = m;
    let mut k = 0;
    while k < 6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(m.wrapping_mul(inv)));
        k += 1;
    }
    inv
}

/// Inverse of [`finish`]: `finish(unfinish(h)) == h` for every `h`.
fn unfinish(h: u64) -> u64 {
    let mut x = unxorshift(h, 31);
    x = x.wrapping_mul(const { mul_inverse(0x94D0_49BB_1331_11EB) });
    x = unxorshift(x, 27);
    x = x.wrapping_mul(const { mul_inverse(0xBF58_476D_1CE4_E5B9) });
    unxorshift(x, 30)
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
    prose_ngrams_raw(toks, n, |h| f(finish(h)));
}

/// [`prose_ngrams`] before the finaliser: `f` gets `h` where the n-gram's hash is `finish(h)`.
pub(crate) fn prose_ngrams_raw(toks: &[u64], n: usize, mut f: impl FnMut(u64)) {
    if n == 0 || toks.len() < n {
        return;
    }
    let mut pow = 1u64; // MUL^(n-1)
    for _ in 1..n {
        pow = pow.wrapping_mul(MUL);
    }
    let mut h = toks[..n]
        .iter()
        .fold(0u64, |h, &t| h.wrapping_mul(MUL).wrapping_add(t));
    f(h);
    for i in n..toks.len() {
        h = h
            .wrapping_sub(toks[i - n].wrapping_mul(pow))
            .wrapping_mul(MUL)
            .wrapping_add(toks[i]);
        f(h);
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
    code_ngrams_raw(toks, n, |h| f(finish(h)));
}

/// [`code_ngrams`] before the finaliser: `f` gets `h` where the n-gram's hash is `finish(h)`.
pub(crate) fn code_ngrams_raw(toks: &[CodeTok], n: usize, mut f: impl FnMut(u64)) {
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
    f(h);
    for s in 0..toks.len() - n {
        h = h
            .wrapping_sub(code_at(&toks[s], s, s).wrapping_mul(pows[n - 1]))
            .wrapping_mul(MUL);
        let q = toks[s].next as usize;
        if toks[s].is_ident && q < s + n {
            let old = BACKREF + (q - s) as u64;
            h = h.wrapping_add(NEW_IDENT.wrapping_sub(old).wrapping_mul(pows[s + n - q]));
        }
        h = h.wrapping_add(code_at(&toks[s + n], s + n, s + 1));
        f(h);
    }
}

/// The definition [`code_ngrams`] computes incrementally: each window hashed from scratch.
#[cfg(test)]
pub(crate) fn code_ngrams_direct(toks: &[CodeTok], n: usize, mut f: impl FnMut(u64)) {
    if n == 0 || toks.len() < n {
        return;
    }
    for s in 0..=toks.len() - n {
        let h = (s..s + n).fold(0u64, |h, p| {
            h.wrapping_mul(MUL).wrapping_add(code_at(&toks[p], p, s))
        });
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

    /// Random texts over an alphabet that stresses the byte classes: every class boundary, `_`,
    /// every ASCII whitespace byte and its neighbours, non-ASCII letters, quotes, comments.
    fn soups() -> Vec<String> {
        let parts = [
            "a",
            "Z",
            "_",
            "9",
            "0",
            "q_",
            "É",
            "ß",
            "中文",
            "é",
            "\t",
            "\n",
            "\x0b",
            "\x0c",
            "\r",
            " ",
            "  ",
            "@",
            "[",
            "`",
            "{",
            "/",
            ":",
            "#",
            "'",
            "\"",
            "\"\"\"",
            ".",
            "\\",
            "x1.5e3",
            "self",
            "len",
            "Return",
            "ABCDEFGHIJ",
            "abcdefghijklmnopq",
            "snake_case_name_long",
            "\u{7f}",
            "\x01",
            "-",
            "~",
            "1é",
            "1_é",
            "1.é",
            "7中",
            "'a\\",
            "# c\n",
            "\"\"\"doc\n  string\"\"\"",
            // Runs longer than a 64-byte block.
            "identifier_that_runs_well_past_the_end_of_one_sixty_four_byte_block_x",
            "                                                                        ",
            "'a string literal that is longer than sixty four bytes, with  spaces  in it'",
        ];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut out = vec![String::new()];
        for round in 0..600 {
            let mut t = String::new();
            for _ in 0..(round % 150) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                t.push_str(parts[(x % parts.len() as u64) as usize]);
            }
            out.push(t);
        }
        out
    }

    #[test]
    fn byte_class_scanners_equal_bytewise_definitions() {
        let mut cls = ByteClasses::default();
        for t in soups() {
            // Every suffix start shifts the text against the 64-byte blocks and the 8-byte lanes.
            for cut in (0..t.len().min(20)).filter(|&c| t.is_char_boundary(c)) {
                let t = &t[cut..];
                cls.fill(t.as_bytes());
                let (mut a, mut b) = (Vec::new(), Vec::new());
                prose_tokens_with(t, &cls, &mut a);
                prose_tokens_bytewise(t, &mut b);
                assert_eq!(a, b, "{t:?}");
                for max_back in [0usize, 3, 11] {
                    let (mut a, mut b) = (Vec::new(), Vec::new());
                    code_tokens_with(t, &cls, &mut a, max_back);
                    code_tokens_bytewise(t, &mut b, max_back);
                    let key = |v: &[CodeTok]| {
                        v.iter()
                            .map(|c| (c.hash, c.prev, c.next, c.is_ident))
                            .collect::<Vec<_>>()
                    };
                    assert_eq!(key(&a), key(&b), "{t:?}");
                }
            }
        }
    }

    #[test]
    fn byte_classes_equal_per_byte_predicates() {
        // Every byte value at every lane position, through both classifiers.
        let mut bytes: Vec<u8> = (0..=255u8).collect();
        bytes.extend((0..=255u8).rev().step_by(3));
        bytes.extend((0..=255u8).step_by(7));
        for shift in 0..64 {
            let b = &bytes[shift..];
            let mut cls = ByteClasses::default();
            cls.fill(b);
            let mut swar = ByteClasses::default();
            for c in b.chunks(64) {
                let mut pad = [0u8; 64];
                pad[..c.len()].copy_from_slice(c);
                swar.push_block_swar(&pad);
            }
            assert_eq!(
                (&cls.word, &cls.ident, &cls.space),
                (&swar.word, &swar.ident, &swar.space)
            );
            assert_eq!(cls.is_ascii(), b.is_ascii());
            assert_eq!(swar.is_ascii(), b.is_ascii());
            for (i, &x) in b.iter().enumerate() {
                let bit = |m: &[u64]| m[i / 64] >> (i % 64) & 1 == 1;
                assert_eq!(bit(&cls.word), WORD[x as usize], "{x}");
                assert_eq!(bit(&cls.ident), is_ident_byte(x), "{x}");
                assert_eq!(bit(&cls.space), x.is_ascii_whitespace(), "{x}");
            }
        }
        let mut cls = ByteClasses::default();
        for k in [0usize, 1, 63, 64, 65, 200] {
            let ascii: Vec<u8> = (0..k).map(|i| (i % 128) as u8).collect();
            cls.fill(&ascii);
            assert!(cls.is_ascii());
            let mut non = ascii.clone();
            non.push(0xC3);
            cls.fill(&non);
            assert!(!cls.is_ascii());
        }
    }

    #[test]
    fn unfinish_inverts_finish() {
        let mut x = 0x0123_4567_89ab_cdefu64;
        for v in [0u64, 1, u64::MAX, 1 << 63] {
            assert_eq!(finish(unfinish(v)), v);
            assert_eq!(unfinish(finish(v)), v);
        }
        for _ in 0..100_000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            assert_eq!(finish(unfinish(x)), x);
            assert_eq!(unfinish(finish(x)), x);
        }
    }

    #[test]
    fn ngram_set_probe_equals_map_lookup() {
        let mut x = 7u64;
        let mut map: std::collections::HashMap<u64, Vec<u32>, IdHash> =
            std::collections::HashMap::default();
        let mut raws = Vec::new();
        for i in 0..5000u32 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            raws.push(x);
            if i % 3 == 0 {
                map.insert(finish(x), vec![i]);
            }
        }
        let set = NgramSet::new(map.clone());
        for r in raws {
            let h = finish(r);
            assert_eq!(set.probe_raw(r), map.contains_key(&h).then_some(h));
            assert_eq!(set.contains_key(&h), map.contains_key(&h));
        }
    }

    #[test]
    fn literal_table_equals_hash_set() {
        let set = literal_hashes();
        let table = literal_table();
        for k in LITERAL_NAMES {
            assert!(table.contains(unfinish(bytes_hash(k.as_bytes()))));
        }
        for k in ["selfx", "x", "lens", "Self", "", "_", "retur", "returns"] {
            let h = bytes_hash(k.as_bytes());
            assert_eq!(table.contains(unfinish(h)), set.contains(&h), "{k}");
        }
        let mut x = 1u64;
        for _ in 0..100_000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            assert_eq!(table.contains(x), set.contains(&finish(x)));
            assert_eq!(table.contains(unfinish(x)), set.contains(&x));
        }
    }

    #[test]
    fn bytes_prehash_at_finishes_to_bytes_hash() {
        let text = "abcdefghijklmnopqrstuvwxyz0123456789_ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let b = text.as_bytes();
        for s in 0..b.len() {
            for e in s..=b.len() {
                assert_eq!(
                    finish(bytes_prehash_at(b, s, e)),
                    bytes_hash(&b[s..e]),
                    "{s}..{e}"
                );
                assert_eq!(
                    finish(bytes_prehash_at(&b[..e], s, e)),
                    bytes_hash(&b[s..e]),
                    "{s}..{e}"
                );
            }
        }
    }

    #[test]
    fn rolling_code_hash_equals_direct_definition() {
        // Pseudo-random token soups with many repeated identifiers, every n from 1 to 14.
        let mut x = 0x1234_5678_9abc_def0u64;
        let words = [
            "a", "b", "c", "len", "(", ")", "x", "y", "=", "+", ".", "z", "return", "1",
        ];
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
                if k.is_multiple_of(7) {
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
                let want = (lo..i)
                    .rev()
                    .find(|&j| toks[j].is_ident && toks[j].hash == t.hash && t.is_ident);
                assert_eq!(
                    t.prev.map(|p| p as usize),
                    want,
                    "token {i}, max_back {max_back}"
                );
            }
        }
    }

    #[test]
    fn code_ngrams_survive_consistent_renaming_and_reformatting() {
        let a =
            "def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n";
        let b = "def g(items):\r\n  acc = 0\r\n  for it in items:  # sum\r\n\tacc += it\r\n  return acc";
        assert_eq!(code_hashes(a, 8), code_hashes(b, 8));
    }

    #[test]
    fn code_ngrams_distinguish_different_identifier_structure() {
        // Same shape, but `a + a` vs `a + b`.
        assert_ne!(
            code_hashes("return a + a", 4),
            code_hashes("return a + b", 4)
        );
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
