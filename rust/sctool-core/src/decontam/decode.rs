//! Decoded views of a document: the code and prose that other formats' escaping hides.
//!
//! A benchmark solution copied into a JSON string (an instruction-tuning dump, a notebook cell), a
//! string literal of a program, an HTML page (`&lt;`, `<span>` highlighting) or a unified diff is
//! invisible to token n-grams as stored: the code stream sees one string token, and `\n`, `&quot;`
//! or a `+` at every line start break each n-gram. Before matching, each document is therefore
//! decoded into a few transient *views*, each a plain text plus a map back to the document:
//!
//! * **strings** — every quoted string (`"…"`, `'…'`, triple-quoted) whose content spans lines or
//!   carries escapes, with the escapes of JSON, Python, C, Java and JavaScript undone (`\n`, `\t`,
//!   `\"`, `\\`, `\uXXXX` with surrogate pairs, `\xHH`, ...). This covers whole-document JSON,
//!   JSONL lines and notebook cells (whose `source` is a list of such strings) without parsing.
//! * **html** — tags dropped (`<br>`, `</p>` and `</div>` become line breaks) and character
//!   references decoded, when the text carries HTML entities or tags.
//! * **diff** — the added and context lines of unified-diff hunks, their first column removed.
//! * **prefixed** — runs of three or more lines behind the same line prefix (`# `, `// `, `>>> `,
//!   `... `, `> `), the prefix removed: commented-out code, doctests, e-mail quotes.
//!
//! Markdown fences need no view: their content is plain text already, and the fence markers are
//! punctuation the n-gram streams step over. Views are decoded again, down to [`MAX_DEPTH`], so a
//! notebook cell holding an HTML-escaped string is found too. Every decoder is one forward pass,
//! and the bytes decoded per document are capped at [`MAX_EXPANSION`] times its length, so the
//! whole is linear-time. Views are never written anywhere.

/// Levels of decoding below the document (a JSON string holding a program holding a string).
pub const MAX_DEPTH: usize = 3;
/// All views of a document together hold at most this many times its bytes.
pub const MAX_EXPANSION: usize = 3;
/// Strings shorter than this (decoded) cannot carry an n-gram worth matching.
const MIN_STRING: usize = 24;

/// Which decoder produced a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ViewKind {
    Document = 0,
    Strings = 1,
    Html = 2,
    Diff = 3,
    Prefixed = 4,
}

impl ViewKind {
    pub fn name(self) -> &'static str {
        match self {
            ViewKind::Document => "document",
            ViewKind::Strings => "strings",
            ViewKind::Html => "html",
            ViewKind::Diff => "diff",
            ViewKind::Prefixed => "prefixed",
        }
    }
}

/// A stretch of a view that came from one stretch of the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Start of the stretch in the view (it runs to the next segment's start or the view's end).
    pub view_start: u32,
    /// Where its source lies in the document.
    pub doc_start: u32,
    pub doc_end: u32,
    /// The stretch is a verbatim copy of its source (no escape, entity or tag inside), so offsets
    /// map one to one: a match inside it maps to its own characters, not the whole container.
    pub linear: bool,
}

/// One decoded view: its text, the decoders that led to it, and its map to the document.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub text: String,
    /// The decoders applied, outermost first (empty for the document itself).
    pub path: Vec<ViewKind>,
    pub segments: Vec<Segment>,
}

impl View {
    /// The kind of the innermost decoder (`Document` for the document itself).
    pub fn kind(&self) -> ViewKind {
        self.path.last().copied().unwrap_or(ViewKind::Document)
    }

    /// Document byte range that the view range `[s, e)` came from.
    pub fn doc_range(&self, s: usize, e: usize) -> (usize, usize) {
        let (a, b, _) = self.doc_range_linear(s, e);
        (a, b)
    }

    /// [`doc_range`](Self::doc_range), and whether `[s, e)` lies in one verbatim stretch (so the
    /// range has its exact length).
    pub fn doc_range_linear(&self, s: usize, e: usize) -> (usize, usize, bool) {
        if self.segments.is_empty() {
            return (s, e, true);
        }
        let find = |p: usize| {
            self.segments
                .partition_point(|g| g.view_start as usize <= p)
                .saturating_sub(1)
        };
        let (ia, ib) = (find(s), find(e.saturating_sub(1).max(s)));
        let (a, b) = (self.segments[ia], self.segments[ib]);
        let at = |g: Segment, p: usize| {
            (g.doc_start as usize + p.saturating_sub(g.view_start as usize)).min(g.doc_end as usize)
        };
        let start = if a.linear {
            at(a, s)
        } else {
            a.doc_start as usize
        };
        let end = if b.linear {
            at(b, e)
        } else {
            b.doc_end as usize
        };
        let exact = ia == ib && a.linear && at(a, e) - at(a, s) == e - s;
        (start, end.max(start), exact)
    }
}

/// A view under construction: text plus segments (view start, source start, source end,
/// verbatim) in its parent's coordinates.
struct Builder {
    text: String,
    segs: Vec<(u32, u32, u32, bool)>,
    /// Record a segment per verbatim run and per escape or entity (for locating a match) instead of
    /// one per container (for scanning, where segments are not read).
    fine: bool,
}

impl Builder {
    fn new(fine: bool) -> Self {
        Builder {
            text: String::new(),
            segs: Vec::new(),
            fine,
        }
    }

    fn begin(&mut self, src_start: usize, src_end: usize) {
        self.push_seg(src_start, src_end, false);
    }

    /// A segment whose text is copied verbatim from `src_start..src_end`.
    fn begin_linear(&mut self, src_start: usize, src_end: usize) {
        self.push_seg(src_start, src_end, true);
    }

    fn push_seg(&mut self, src_start: usize, src_end: usize, linear: bool) {
        self.segs.push((self.text.len() as u32, src_start as u32, src_end as u32, linear));
    }

    /// End a segment with a line break, so n-grams of neighbouring pieces do not join mid-line.
    fn end_line(&mut self) {
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.text.push('\n');
        }
    }
}

/// Every view of `text` (not the text itself), decoded recursively.
pub fn decode_views(text: &str, out: &mut Vec<View>) {
    decode_views_with(text, out, false);
}

/// [`decode_views`] with fine segments: the same views and texts, each mapped back to the
/// document per verbatim run and per escape, so a match's offsets are its own characters.
pub fn decode_views_fine(text: &str, out: &mut Vec<View>) {
    decode_views_with(text, out, true);
}

fn decode_views_with(text: &str, out: &mut Vec<View>, fine: bool) {
    out.clear();
    let mut budget = text.len().saturating_mul(MAX_EXPANSION);
    let root = View {
        text: String::new(),
        path: Vec::new(),
        segments: Vec::new(),
    };
    // Work list of (index into `out`, or None for the document) and its depth.
    let mut queue: Vec<(Option<usize>, usize)> = vec![(None, 0)];
    while let Some((at, depth)) = queue.pop() {
        if depth >= MAX_DEPTH {
            continue;
        }
        let (src, parent) = match at {
            None => (text, &root),
            Some(i) => (out[i].text.as_str(), &out[i]),
        };
        let mut fresh: Vec<View> = Vec::new();
        for kind in [
            ViewKind::Strings,
            ViewKind::Html,
            ViewKind::Diff,
            ViewKind::Prefixed,
        ] {
            // A decoder is not applied to its own output (a diff holds no diff, an HTML view no
            // markup, a prefixed view no prefixed run), except strings: a decoded string may hold
            // escaped strings of its own (a notebook serialised into a JSONL field).
            if parent.kind() == kind && kind != ViewKind::Strings {
                continue;
            }
            let Some(b) = (match kind {
                ViewKind::Strings => strings_view(src, fine),
                ViewKind::Html => html_view(src, fine),
                ViewKind::Diff => diff_view(src, fine),
                ViewKind::Prefixed => prefixed_view(src, fine),
                ViewKind::Document => None,
            }) else {
                continue;
            };
            if b.text.len() < MIN_STRING || b.text.len() > budget {
                continue;
            }
            budget -= b.text.len();
            let mut path = parent.path.clone();
            path.push(kind);
            let segments = b
                .segs
                .iter()
                .map(|&(vs, ps, pe, lin)| {
                    let (ds, de, exact) = parent.doc_range_linear(ps as usize, pe as usize);
                    Segment {
                        view_start: vs,
                        doc_start: ds as u32,
                        doc_end: de as u32,
                        linear: lin && exact,
                    }
                })
                .collect();
            fresh.push(View {
                text: b.text,
                path,
                segments,
            });
        }
        for v in fresh {
            out.push(v);
            queue.push((Some(out.len() - 1), depth + 1));
        }
    }
}

fn hex_val(c: u8) -> Option<u32> {
    (c as char).to_digit(16)
}

fn hex_at(b: &[u8], i: usize, n: usize) -> Option<u32> {
    if i + n > b.len() {
        return None;
    }
    b[i..i + n]
        .iter()
        .try_fold(0u32, |v, &c| Some(v * 16 + hex_val(c)?))
}

/// Undo backslash escapes of `b` (the content of one literal) into `out`; whether any was undone.
pub(crate) fn unescape_into(b: &[u8], out: &mut String) -> bool {
    unescape_runs(b, out, |_, _, _, _| {})
}

/// [`unescape_into`], telling `run(out_at, from, to, verbatim)` for every stretch of `b` copied
/// verbatim and every escape, in order (`from..to` in `b`).
#[allow(clippy::many_single_char_names)]
fn unescape_runs(
    b: &[u8],
    out: &mut String,
    mut seg: impl FnMut(usize, usize, usize, bool),
) -> bool {
    let mut any = false;
    let mut i = 0;
    let mut run = 0;
    let n = b.len();
    while i < n {
        let Some(p) = memchr::memchr(b'\\', &b[i..]) else {
            break;
        };
        let k = i + p;
        if k + 1 >= n {
            break;
        }
        // SAFETY of the slice: `b` is a slice of a `str` between ASCII delimiters, and `k` is at an
        // ASCII backslash, so `b[run..k]` lies on character boundaries.
        if k > run {
            seg(out.len(), run, k, true);
        }
        out.push_str(std::str::from_utf8(&b[run..k]).unwrap_or(""));
        let esc_at = out.len();
        let c = b[k + 1];
        let mut next = k + 2;
        match c {
            b'n' => out.push('\n'),
            b't' => out.push('\t'),
            b'r' => out.push('\r'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'0' => out.push('\0'),
            b'"' | b'\'' | b'\\' | b'/' | b'`' => out.push(c as char),
            b'\n' => {} // a line continuation inside a literal
            b'x' => match hex_at(b, k + 2, 2) {
                Some(v) => {
                    out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                    next = k + 4;
                }
                None => out.push_str("\\x"),
            },
            b'u' => match hex_at(b, k + 2, 4) {
                Some(hi) => {
                    next = k + 6;
                    let ch = if (0xD800..0xDC00).contains(&hi)
                        && b.get(k + 6) == Some(&b'\\')
                        && b.get(k + 7) == Some(&b'u')
                    {
                        match hex_at(b, k + 8, 4) {
                            Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                                next = k + 12;
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                            }
                            _ => None,
                        }
                    } else {
                        char::from_u32(hi)
                    };
                    out.push(ch.unwrap_or('\u{fffd}'));
                }
                None => out.push_str("\\u"),
            },
            _ => {
                // Unknown escape: kept as written (Python keeps `\d` in a normal string). A non-ASCII
                // character after the backslash is copied whole by the next run.
                out.push('\\');
                next = k + 1;
            }
        }
        any |= next != k + 1;
        seg(esc_at, k, next.min(n), false);
        i = next;
        run = next;
    }
    if run < n {
        seg(out.len(), run, n, true);
    }
    out.push_str(std::str::from_utf8(&b[run.min(n)..]).unwrap_or(""));
    any
}

/// Quoted strings holding more than one line, or escapes, decoded.
///
/// Neighbouring strings separated only by blanks, `,` or `+` form one group (a notebook cell is a
/// list of one-line strings, a long literal is often split and concatenated); a group is kept when
/// it holds an escape or code in a triple-quoted string and is long enough to carry an n-gram.
/// Members joined by a comma get a line break between them unless the first ends with one.
#[allow(clippy::many_single_char_names)]
fn strings_view(text: &str, fine: bool) -> Option<Builder> {
    let b = text.as_bytes();
    let n = b.len();
    // Cheap refusal: no quote, no string.
    memchr::memchr2(b'"', b'\'', b)?;
    let mut out = Builder::new(fine);
    let mut group = Group {
        fine,
        ..Group::default()
    };
    let mut i = 0;
    let mut prev_end = usize::MAX;
    while i < n {
        let Some(p) = memchr::memchr2(b'"', b'\'', &b[i..]) else {
            break;
        };
        let q = i + p;
        let c = b[q];
        let triple = q + 2 < n && b[q + 1] == c && b[q + 2] == c;
        let (start, end, next) = if triple {
            match memchr::memmem::find(&b[q + 3..], &[c, c, c]) {
                Some(p) => (q + 3, q + 3 + p, q + 6 + p),
                None => (q + 3, n, n),
            }
        } else {
            let mut j = q + 1;
            loop {
                match memchr::memchr3(c, b'\\', b'\n', &b[j.min(n)..]) {
                    None => {
                        j = n;
                        break;
                    }
                    Some(p) => {
                        j += p;
                        if b[j] == b'\\' {
                            j += 2;
                            if j >= n {
                                j = n;
                                break;
                            }
                        } else {
                            break;
                        }
                    }
                }
            }
            let j = j.min(n);
            if j >= n || b[j] == b'\n' {
                // An unterminated one-line "string" (an apostrophe in prose): not a literal.
                i = q + 1;
                continue;
            }
            (q + 1, j, j + 1)
        };
        // Does this string continue the previous one's group?
        let joiner = if prev_end <= q {
            &b[prev_end..q]
        } else {
            &b[..0]
        };
        let joined = prev_end <= q
            && joiner
                .iter()
                .all(|x| x.is_ascii_whitespace() || *x == b',' || *x == b'+');
        if !joined {
            group.flush(text, &mut out);
        }
        let comma = joined && joiner.contains(&b',');
        group.push(text, start, end, triple, comma);
        prev_end = next;
        i = next.max(q + 1);
    }
    group.flush(text, &mut out);
    (!out.text.is_empty()).then_some(out)
}

/// A run of neighbouring string literals waiting to be kept or dropped. Members are decoded only
/// when the group is kept: most strings of a program are short, plain and dropped, and copying
/// them would cost more than finding them.
#[derive(Default)]
struct Group {
    /// (content start, content end, joined by a comma) of each member.
    members: Vec<(usize, usize, bool)>,
    /// An upper bound of the decoded length (decoding never lengthens a string).
    raw_len: usize,
    text: String,
    segs: Vec<(u32, u32, u32, bool)>,
    escaped: bool,
    code: bool,
    fine: bool,
}

impl Group {
    fn push(&mut self, src: &str, start: usize, end: usize, triple: bool, comma: bool) {
        self.members.push((start, end, comma));
        self.raw_len += end - start + usize::from(comma);
        let content = &src.as_bytes()[start..end];
        // A docstring stays where it is (prose n-grams see it already, and docstrings are most of
        // a Python file's strings); a triple-quoted string holding code is decoded.
        if memchr::memchr(b'\\', content).is_some() {
            self.text.clear();
            self.escaped |= unescape_into(content, &mut self.text);
            self.code |= triple && looks_like_code(&self.text);
        } else {
            self.code |= triple && looks_like_code(&src[start..end]);
        }
    }

    fn flush(&mut self, src: &str, out: &mut Builder) {
        if (self.escaped || self.code) && self.raw_len >= MIN_STRING {
            self.text.clear();
            self.segs.clear();
            for &(start, end, comma) in &self.members {
                if comma && !self.text.is_empty() && !self.text.ends_with('\n') {
                    self.text.push('\n');
                }
                let content = &src.as_bytes()[start..end];
                if self.fine {
                    let segs = &mut self.segs;
                    unescape_runs(content, &mut self.text, |at, s, e, lin| {
                        segs.push((at as u32, (start + s) as u32, (start + e) as u32, lin));
                    });
                } else {
                    self.segs
                        .push((self.text.len() as u32, start as u32, end as u32, false));
                    unescape_into(content, &mut self.text);
                }
            }
            if self.text.len() >= MIN_STRING {
                let base = out.text.len() as u32;
                out.segs
                    .extend(self.segs.iter().map(|&(v, s, e, l)| (base + v, s, e, l)));
                out.text.push_str(&self.text);
                out.end_line();
            }
        }
        self.members.clear();
        self.raw_len = 0;
        self.escaped = false;
        self.code = false;
    }
}

/// Whether a multi-line string holds program text rather than prose.
fn looks_like_code(s: &str) -> bool {
    let b = s.as_bytes();
    memchr::memmem::find(b, b"return ").is_some()
        || memchr::memmem::find(b, b"def ").is_some()
        || memchr::memmem::find(b, b"):\n").is_some()
        || memchr::memmem::find(b, b"){").is_some()
        || memchr::memmem::find(b, b") {").is_some()
}

/// Named character references common in escaped code.
fn entity(name: &[u8]) -> Option<char> {
    Some(match name {
        b"lt" | b"LT" => '<',
        b"gt" | b"GT" => '>',
        b"amp" | b"AMP" => '&',
        b"quot" | b"QUOT" => '"',
        b"apos" | b"#39" => '\'',
        b"nbsp" => ' ',
        _ => {
            let (digits, radix) = match name {
                [b'#', b'x' | b'X', rest @ ..] => (rest, 16),
                [b'#', rest @ ..] => (rest, 10),
                _ => return None,
            };
            if digits.is_empty()
                || digits.len() > 7
                || !digits.iter().all(|d| (*d as char).is_digit(radix))
            {
                return None;
            }
            let v = u32::from_str_radix(std::str::from_utf8(digits).ok()?, radix).ok()?;
            char::from_u32(v)?
        }
    })
}

/// HTML or XML with its tags dropped and character references decoded.
#[allow(clippy::many_single_char_names)]
fn html_view(text: &str, fine: bool) -> Option<Builder> {
    let b = text.as_bytes();
    let n = b.len();
    // One pass over the '&' and '<' bytes instead of a search per marker.
    let marks: [&[u8]; 12] = [
        b"&lt;", b"&gt;", b"&amp;", b"&quot;", b"&#", b"<pre", b"<code", b"<span", b"<br", b"<div",
        b"<p>", b"<td",
    ];
    // Markup must be dense enough to be the document's format (two markers, and one per 4 KiB):
    // an incidental `<br>` in a long C header's comments is no web page.
    let need = (n / 4096).max(2);
    let found = memchr::memchr2_iter(b'&', b'<', b)
        .filter(|&k| marks.iter().any(|m| b[k..].starts_with(m)))
        .take(need)
        .count();
    if found < need {
        return None;
    }
    let mut out = Builder::new(fine);
    out.begin(0, n);
    let mut i = 0;
    let mut run = 0;
    let flush = |out: &mut Builder, run: usize, to: usize| {
        if out.fine && to > run {
            out.begin_linear(run, to);
        }
        out.text.push_str(&text[run..to]);
    };
    while i < n {
        let Some(p) = memchr::memchr2(b'<', b'&', &b[i..]) else {
            break;
        };
        let k = i + p;
        if b[k] == b'<' {
            let opens_tag = b
                .get(k + 1)
                .is_some_and(|&x| x.is_ascii_alphabetic() || x == b'/' || x == b'!');
            let close = memchr::memchr(b'>', &b[k..(k + 512).min(n)]);
            if let (true, Some(e)) = (opens_tag, close) {
                flush(&mut out, run, k);
                let tag = &b[k + 1..k + e];
                let name: Vec<u8> = tag
                    .iter()
                    .take_while(|x| x.is_ascii_alphanumeric() || **x == b'/')
                    .map(u8::to_ascii_lowercase)
                    .collect();
                if matches!(
                    name.as_slice(),
                    b"br"
                        | b"br/"
                        | b"/p"
                        | b"/div"
                        | b"/li"
                        | b"/tr"
                        | b"/pre"
                        | b"/h1"
                        | b"/h2"
                        | b"/h3"
                ) {
                    out.text.push('\n');
                }
                i = k + e + 1;
                run = i;
                continue;
            }
            i = k + 1;
            continue;
        }
        // '&': a character reference ends with ';' within a few bytes.
        let semi = memchr::memchr(b';', &b[k + 1..(k + 10).min(n)]);
        if let Some(s) = semi {
            if let Some(ch) = entity(&b[k + 1..k + 1 + s]) {
                flush(&mut out, run, k);
                if out.fine {
                    out.begin(k, k + s + 2);
                }
                out.text.push(ch);
                i = k + s + 2;
                run = i;
                continue;
            }
        }
        i = k + 1;
    }
    flush(&mut out, run, n);
    Some(out)
}

/// Iterate over lines as (start, end without the line break).
fn lines(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let b = text.as_bytes();
    let mut s = 0;
    std::iter::from_fn(move || {
        if s >= b.len() {
            return None;
        }
        let e = memchr::memchr(b'\n', &b[s..]).map_or(b.len(), |p| s + p);
        let r = (s, e);
        s = e + 1;
        Some(r)
    })
}

/// Added and context lines of a unified diff's hunks, without their first column.
fn diff_view(text: &str, fine: bool) -> Option<Builder> {
    let b = text.as_bytes();
    if !(b.starts_with(b"@@ ") || memchr::memmem::find(b, b"\n@@ ").is_some()) {
        return None;
    }
    let mut out = Builder::new(fine);
    let mut in_hunk = false;
    for (s, e) in lines(text) {
        let line = &b[s..e];
        if line.starts_with(b"@@ ") {
            in_hunk = true;
            continue;
        }
        if !in_hunk {
            continue;
        }
        match line.first() {
            Some(b'+') if !line.starts_with(b"+++ ") => {}
            Some(b' ') | None => {}
            Some(b'-') if !line.starts_with(b"--- ") => continue,
            Some(b'\\') => continue, // "\ No newline at end of file"
            _ => {
                in_hunk = false;
                continue;
            }
        }
        let from = (s + 1).min(e);
        out.begin_linear(from, e.max(from));
        out.text.push_str(&text[from..e.max(from)]);
        out.text.push('\n');
    }
    (!out.text.is_empty()).then_some(out)
}

const PREFIXES: [&[u8]; 5] = [b"# ", b"// ", b">>> ", b"... ", b"> "];

/// Statement openers that make a commented line code rather than prose.
const CODE_STARTS: [&[u8]; 9] = [
    b"def ", b"return", b"for ", b"if ", b"while ", b"import ", b"from ", b"class ", b"assert ",
];

/// Whether a line (prefix removed) reads as a statement: it opens with a statement keyword, ends a
/// block header or statement (`:`, `;`, `{`, `}`), or assigns. A run of prose comments has no
/// such line and needs no view: its words are in the document's prose stream already.
fn line_looks_like_code(line: &[u8]) -> bool {
    let t = line.trim_ascii();
    CODE_STARTS.iter().any(|k| t.starts_with(k))
        || matches!(t.last(), Some(b':' | b';' | b'{' | b'}'))
        || memchr::memmem::find(t, b" = ").is_some()
}

/// Runs of at least three lines behind one prefix (after indentation), the prefix removed.
// Byte scanners read best with the usual short names (b: bytes, s/e: line bounds, n: length).
#[allow(clippy::many_single_char_names)]
fn prefixed_view(text: &str, fine: bool) -> Option<Builder> {
    let b = text.as_bytes();
    // Cheap refusal: every run starts with one of these bytes.
    memchr::memchr3(b'#', b'/', b'>', b)?;
    let mut out = Builder::new(fine);
    let mut run: Vec<(usize, usize)> = Vec::new();
    let mut run_prefix: Option<&[u8]> = None;
    // Doctests are code whatever their lines look like.
    let flush = |out: &mut Builder, run: &mut Vec<(usize, usize)>, prefix: Option<&[u8]>| {
        if run.len() >= 3
            && (prefix == Some(b">>> ") || run.iter().any(|&(s, e)| line_looks_like_code(&b[s..e])))
        {
            for &(s, e) in run.iter() {
                out.begin_linear(s, e);
                out.text.push_str(&text[s..e]);
                out.text.push('\n');
            }
        }
        run.clear();
    };
    let n = b.len();
    let mut pos = 0;
    loop {
        // With no run open, jump to the next line that starts (after blanks) with a byte a run can
        // start with, instead of visiting every line: most lines of most files are not comments.
        let s = if run.is_empty() {
            let Some(p) = memchr::memchr3(b'#', b'/', b'>', &b[pos.min(n)..]) else {
                break;
            };
            let k = pos + p;
            let mut ls = k;
            while ls > 0 && (b[ls - 1] == b' ' || b[ls - 1] == b'\t') {
                ls -= 1;
            }
            if ls > 0 && b[ls - 1] != b'\n' {
                pos = k + 1;
                continue;
            }
            ls
        } else {
            pos
        };
        if s >= n {
            break;
        }
        let e = memchr::memchr(b'\n', &b[s..]).map_or(n, |p| s + p);
        let line = &b[s..e];
        let indent = line
            .iter()
            .take_while(|x| **x == b' ' || **x == b'\t')
            .count();
        let rest = &line[indent..];
        // A bare "#" (an empty comment line) continues a "# " run; "... " continues a doctest and
        // nothing else.
        let (pre, skip) = match PREFIXES.iter().copied().find(|p| rest.starts_with(p)) {
            Some(p) if p == b"... " && run_prefix != Some(b">>> ") => (None, 0),
            Some(p) => (Some(p), p.len()),
            None if rest == b"#" => (Some(&b"# "[..]), 1),
            None => (None, 0),
        };
        let same = match (pre, run_prefix) {
            (Some(p), Some(r)) => p == r || (p == b"... " && r == b">>> "),
            _ => false,
        };
        if !same {
            flush(&mut out, &mut run, run_prefix);
            run_prefix = pre;
        }
        if pre.is_some() {
            let from = (s + indent + skip).min(e);
            run.push((from, e));
        }
        pos = e + 1;
    }
    flush(&mut out, &mut run, run_prefix);
    (!out.text.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn views(t: &str) -> Vec<View> {
        let mut v = Vec::new();
        decode_views(t, &mut v);
        v
    }

    const CODE: &str = "def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n    return a + b\n";

    #[test]
    fn json_string_is_decoded() {
        let doc = format!("{{\"text\": {}}}", json_quote(CODE));
        let v = views(&doc);
        let s = v
            .iter()
            .find(|v| v.kind() == ViewKind::Strings)
            .expect("a strings view");
        assert!(s.text.contains(CODE), "{:?}", s.text);
        let at = s.text.find("return").unwrap();
        let (ds, de) = s.doc_range(at, at + 6);
        assert!(ds < de && de <= doc.len());
        assert!(doc[ds..de].contains("return a + b"));
    }

    fn json_quote(s: &str) -> String {
        let mut o = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => o.push_str("\\\""),
                '\\' => o.push_str("\\\\"),
                '\n' => o.push_str("\\n"),
                c => o.push(c),
            }
        }
        o.push('"');
        o
    }

    #[test]
    fn notebook_lines_join_into_the_cell() {
        let cell: Vec<String> = CODE.split_inclusive('\n').map(json_quote).collect();
        let doc = format!(
            "{{\"cells\": [{{\"source\": [{}]}}]}}",
            cell.join(",\n    ")
        );
        let v = views(&doc);
        let s = v.iter().find(|v| v.kind() == ViewKind::Strings).unwrap();
        assert!(
            s.text
                .contains("def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n    return a + b\n"),
            "{:?}",
            s.text
        );
    }

    #[test]
    fn html_entities_and_tags() {
        let doc = "<pre><code><span class=\"k\">if</span> a &lt; b &amp;&amp; c &gt;= &#39;x&#x27;:<br>  pass</code></pre>";
        let v = views(doc);
        let h = v.iter().find(|v| v.kind() == ViewKind::Html).unwrap();
        assert!(
            h.text.contains("if a < b && c >= 'x':\n  pass"),
            "{:?}",
            h.text
        );
    }

    #[test]
    fn diff_keeps_added_and_context_lines() {
        let doc = "--- a/x.py\n+++ b/x.py\n@@ -1,3 +1,3 @@\n def f(x):\n-    return 1\n+    return x + 1\n \n";
        let v = views(doc);
        let d = v.iter().find(|v| v.kind() == ViewKind::Diff).unwrap();
        assert_eq!(d.text, "def f(x):\n    return x + 1\n\n");
    }

    #[test]
    fn prefixed_runs() {
        let doc = "x = 1\n# def f(a):\n#     b = a\n#     return b\ny = 2\n# lone comment\n";
        let v = views(doc);
        let p = v.iter().find(|v| v.kind() == ViewKind::Prefixed).unwrap();
        assert_eq!(p.text, "def f(a):\n    b = a\n    return b\n");
    }

    #[test]
    fn doubly_escaped_json_is_reached() {
        let cell: Vec<String> = CODE.split_inclusive('\n').map(json_quote).collect();
        let notebook = format!("{{\"cells\": [{{\"source\": [{}]}}]}}", cell.join(", "));
        let doc = format!("{{\"content\": {}}}\n", json_quote(&notebook));
        let v = views(&doc);
        let inner = v
            .iter()
            .find(|v| v.path == [ViewKind::Strings, ViewKind::Strings])
            .expect("strings of strings");
        assert!(inner.text.contains(CODE), "{:?}", inner.text);
    }

    #[test]
    fn nested_html_in_json_is_reached() {
        let html = "<pre>def f(a):\n    return a &lt; 3 and a &gt; 1 or a == 99\n</pre>";
        let doc = format!("{{\"page\": {}}}", json_quote(html));
        let v = views(&doc);
        let inner = v
            .iter()
            .find(|v| v.path == [ViewKind::Strings, ViewKind::Html])
            .expect("nested view");
        assert!(inner.text.contains("return a < 3 and a > 1 or a == 99"));
    }

    #[test]
    fn expansion_is_bounded_and_no_panic_on_odd_input() {
        let nasty = [
            "\"\\",
            "'''",
            "\\u12",
            "&#xFFFFFFFF;",
            "<",
            "@@ \n+",
            "\"\\ud800\\u0041\"",
            "é\"\\é\"",
        ];
        for a in nasty {
            for b in nasty {
                let t = format!("{a}{b}{a}\n{b}");
                let v = views(&t);
                let total: usize = v.iter().map(|x| x.text.len()).sum();
                assert!(total <= t.len() * MAX_EXPANSION);
            }
        }
        let deep = format!("\"{}\"", "\\\\\\\"".repeat(200));
        let v = views(&deep);
        assert!(v.iter().map(|x| x.text.len()).sum::<usize>() <= deep.len() * MAX_EXPANSION);
    }
}

#[cfg(test)]
mod timing {
    /// Per-decoder CPU cost over the files listed in `SCTOOL_DECODE_FILES` (a profiling aid, run
    /// with `--ignored --nocapture` in release mode; not a timed test).
    #[test]
    #[ignore = "profiling aid"]
    fn decoder_costs() {
        type Dec = fn(&str, bool) -> Option<super::Builder>;
        let Ok(list) = std::env::var("SCTOOL_DECODE_FILES") else {
            return;
        };
        let texts: Vec<String> = std::fs::read_to_string(list)
            .unwrap()
            .lines()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect();
        let mb = texts.iter().map(String::len).sum::<usize>() as f64 / 1e6;
        let decs: [(&str, Dec); 4] = [
            ("strings", super::strings_view),
            ("html", super::html_view),
            ("diff", super::diff_view),
            ("prefixed", super::prefixed_view),
        ];
        for (name, f) in decs {
            let t = std::time::Instant::now();
            let mut n = 0;
            for x in &texts {
                n += f(x, false).map_or(0, |b| b.text.len());
            }
            eprintln!(
                "{name}: {:.3} ms/MB ({n} bytes)",
                t.elapsed().as_secs_f64() * 1e3 / mb
            );
        }
        let t = std::time::Instant::now();
        let mut v = Vec::new();
        for x in &texts {
            super::decode_views(x, &mut v);
        }
        eprintln!("all: {:.3} ms/MB", t.elapsed().as_secs_f64() * 1e3 / mb);
    }
}
