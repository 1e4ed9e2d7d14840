//! Secret and PII detection and redaction for source code (StarCoder §2, re-designed for speed).
//!
//! Detect, then decide (dolma's taggers): [`detect`] returns spans `(start, end, type, rule)` with
//! offsets in Unicode code points of the original text, and [`redact::redact`] is a separate, pure
//! step whose replacement text depends only on the matched value and a seed.
//!
//! Every detector is an entry of [`rules::RULES`] (gitleaks-style rules as data): an id, the type it
//! reports, a description, keywords and a matcher. One Aho-Corasick pass over each document finds
//! all keywords of all rules; a rule whose keywords are absent is skipped, so most regexes never run
//! on most files. Candidates are then validated (checksums, IP scopes, entropy, placeholders, hash
//! contexts) and overlaps are resolved by rule priority (table order): provider formats beat
//! generic assignments, which beat e-mail, IP and name patterns.

// Byte-scanning parsers index `b`, `s`, `e`, `i`, `k` the way the literature writes them.
#![allow(clippy::many_single_char_names)]

pub mod assign;
pub mod network;
pub mod people;
pub mod redact;
pub mod rules;
pub mod validate;

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use rayon::prelude::*;
use regex::Regex;

use crate::error::{CoreError, Result};
pub use rules::{Matcher, Rule, RULES};

/// The kinds of personal or secret information sctool reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum PiiType {
    Email = 0,
    IpAddress = 1,
    Key = 2,
    Password = 3,
    Name = 4,
    Username = 5,
}

impl PiiType {
    pub const ALL: [PiiType; 6] = [
        PiiType::Email,
        PiiType::IpAddress,
        PiiType::Key,
        PiiType::Password,
        PiiType::Name,
        PiiType::Username,
    ];

    /// The label used in spans, reports and the `--types` option.
    pub fn as_str(self) -> &'static str {
        match self {
            PiiType::Email => "EMAIL",
            PiiType::IpAddress => "IP_ADDRESS",
            PiiType::Key => "KEY",
            PiiType::Password => "PASSWORD",
            PiiType::Name => "NAME",
            PiiType::Username => "USERNAME",
        }
    }

    pub fn parse(s: &str) -> Result<PiiType> {
        PiiType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                CoreError::InvalidConfig(format!(
                    "unknown PII type {s:?}; expected one of EMAIL, IP_ADDRESS, KEY, PASSWORD, NAME, USERNAME"
                ))
            })
    }

    /// Bit of this type in a type mask.
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// One finding. Offsets are Unicode code points (Python `str` indices), end-exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PiiSpan {
    pub start: usize,
    pub end: usize,
    pub kind: PiiType,
    /// Index into [`RULES`].
    pub rule: u16,
}

impl PiiSpan {
    pub fn rule_id(&self) -> &'static str {
        RULES[self.rule as usize].id
    }
}

/// A candidate in byte offsets, before overlap resolution.
#[derive(Clone, Copy, Debug)]
pub struct Cand {
    pub start: usize,
    pub end: usize,
    pub rule: usize,
}

/// Per-document state shared by the matchers: the text and where each keyword occurs.
pub struct Doc<'a> {
    pub text: &'a str,
    /// (keyword pattern id, byte start, byte end), in text order.
    hits: Vec<(u32, usize, usize)>,
    rule_active: Vec<bool>,
    config_like: std::cell::OnceCell<bool>,
}

impl Doc<'_> {
    /// Byte ranges of the keywords of rule `rule` in this document.
    pub fn keyword_hits<'e>(&'e self, engine: &'e Engine, rule: usize) -> impl Iterator<Item = (usize, usize)> + 'e {
        let mask = &engine.rule_keywords[rule];
        // A hit of a longer keyword that contains one of this rule's keywords (leftmost-longest
        // matching reports only the longer one) yields the inner keyword's range.
        self.hits.iter().filter_map(move |&(p, s, _)| {
            mask.iter().find(|(q, _, _)| *q == p).map(|&(_, off, len)| (s + off, s + off + len))
        })
    }

    /// Does the document read like a configuration file (INI, properties, YAML, .env, ssh_config)
    /// rather than program code? Computed once, on demand.
    pub fn config_like(&self) -> bool {
        *self.config_like.get_or_init(|| {
            const CODE_STARTS: &[&str] = &[
                "def ", "class ", "import ", "from ", "function ", "const ", "let ", "var ", "return ", "public ",
                "private ", "protected ", "package ", "#include", "fn ", "func ", "if ", "for ", "while ", "elif ",
                "else", "try:", "except", "async ", "static ", "void ", "int ", "pub ", "use ", "module.exports",
                "print(", "console.", "}", "@",
            ];
            let mut code = 0usize;
            let mut lines = 0usize;
            for line in self.text.lines().take(400) {
                let t = line.trim_start();
                if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
                    continue;
                }
                lines += 1;
                if CODE_STARTS.iter().any(|k| t.starts_with(k)) || t.ends_with(';') || t.ends_with('{') || t.ends_with("):") {
                    code += 1;
                }
            }
            code * 20 <= lines
        })
    }

    /// The line containing byte `pos`, as (line start, line end) byte offsets.
    pub fn line_bounds(&self, pos: usize) -> (usize, usize) {
        line_bounds(self.text, pos)
    }
}

pub fn line_bounds(text: &str, pos: usize) -> (usize, usize) {
    let b = text.as_bytes();
    let pos = pos.min(b.len());
    let start = memchr::memrchr(b'\n', &b[..pos]).map_or(0, |i| i + 1);
    let end = memchr::memchr(b'\n', &b[pos..]).map_or(b.len(), |i| pos + i);
    (start, end)
}

/// The compiled rule set. Built once per process ([`engine`]) and shared by all threads.
pub struct Engine {
    ac: AhoCorasick,
    /// keyword pattern id -> rules that own it
    keyword_rules: Vec<Vec<usize>>,
    /// rule -> (keyword pattern id, offset and length of the rule's keyword inside that pattern)
    rule_keywords: Vec<Vec<(u32, usize, usize)>>,
    regexes: Vec<Option<Regex>>,
    /// rules whose keyword is '@' (checked with memchr, not the automaton)
    at_rules: Vec<usize>,
}

impl Engine {
    fn build() -> Result<Engine> {
        let mut patterns: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        let mut rule_keywords = vec![Vec::new(); RULES.len()];
        let mut regexes = Vec::with_capacity(RULES.len());
        let mut at_rules = Vec::new();
        for (ri, rule) in RULES.iter().enumerate() {
            for kw in rule.keywords {
                if *kw == "@" {
                    at_rules.push(ri);
                    continue;
                }
                let kw = kw.to_ascii_lowercase();
                let pid = if let Some(p) = patterns.iter().position(|p| *p == kw) {
                    p
                } else {
                    patterns.push(kw);
                    keyword_rules.push(Vec::new());
                    patterns.len() - 1
                };
                keyword_rules[pid].push(ri);
            }
            regexes.push(match &rule.matcher {
                Matcher::Regex { pattern, .. } => Some(Regex::new(pattern).map_err(|e| {
                    CoreError::InvalidConfig(format!("rule {}: bad regex: {e}", rule.id))
                })?),
                _ => None,
            });
        }
        // Every pattern that contains a rule's keyword counts as a hit of that rule, at the offset
        // of the keyword inside it (`api_key` is also a `key` hit for the assignment scanner).
        // When several of the rule's keywords lie inside one pattern, the longest one is the hit:
        // `co-authored-by` is that trigger, not the `author` inside it.
        for (ri, rule) in RULES.iter().enumerate() {
            for kw in rule.keywords.iter().filter(|k| **k != "@") {
                let kw = kw.to_ascii_lowercase();
                for (pid, pat) in patterns.iter().enumerate() {
                    if let Some(off) = pat.find(kw.as_str()) {
                        match rule_keywords[ri].iter_mut().find(|(p, _, _)| *p == pid as u32) {
                            Some(entry) if entry.2 < kw.len() => *entry = (pid as u32, off, kw.len()),
                            Some(_) => {}
                            None => rule_keywords[ri].push((pid as u32, off, kw.len())),
                        }
                        if !keyword_rules[pid].contains(&ri) {
                            keyword_rules[pid].push(ri);
                        }
                    }
                }
            }
        }
        // Leftmost-longest, non-overlapping: several times faster than overlapping search, and a
        // keyword hidden inside a longer keyword belongs to the same rule in this table.
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(&patterns)
            .map_err(|e| CoreError::InvalidConfig(format!("keyword automaton: {e}")))?;
        Ok(Engine { ac, keyword_rules, rule_keywords, regexes, at_rules })
    }

    fn doc<'a>(&self, text: &'a str) -> Doc<'a> {
        let mut rule_active: Vec<bool> =
            RULES.iter().map(|r| r.keywords.is_empty()).collect();
        // '@' is the one single-byte keyword: memchr answers it far faster than the automaton.
        if memchr::memchr(b'@', text.as_bytes()).is_some() {
            for &r in &self.at_rules {
                rule_active[r] = true;
            }
        }
        let mut hits = Vec::new();
        for m in self.ac.find_iter(text) {
            let pid = m.pattern().as_u32();
            for &r in &self.keyword_rules[pid as usize] {
                rule_active[r] = true;
            }
            hits.push((pid, m.start(), m.end()));
        }
        Doc { text, hits, rule_active, config_like: std::cell::OnceCell::new() }
    }

    /// All accepted findings of `text`, in byte offsets, sorted by start.
    pub fn detect_bytes(&self, text: &str) -> Vec<Cand> {
        self.detect_bytes_without(text, &[])
    }

    /// [`Engine::detect_bytes`] with the rules flagged in `disabled` (by index) switched off before
    /// overlaps are resolved — what the detector finds without them (leave-one-family-out).
    pub fn detect_bytes_without(&self, text: &str, disabled: &[bool]) -> Vec<Cand> {
        let doc = self.doc(text);
        let mut cands = Vec::new();
        for (ri, rule) in RULES.iter().enumerate() {
            if !doc.rule_active[ri] || disabled.get(ri).copied().unwrap_or(false) {
                continue;
            }
            match &rule.matcher {
                Matcher::Regex { group, check, .. } => {
                    let Some(re) = &self.regexes[ri] else { continue };
                    for caps in re.captures_iter(text) {
                        let Some(m) = caps.get(*group) else { continue };
                        if check.is_none_or(|f| f(&doc, m.start(), m.end())) {
                            cands.push(Cand { start: m.start(), end: m.end(), rule: ri });
                        }
                    }
                }
                Matcher::Custom(f) => f(self, &doc, ri, &mut cands),
                Matcher::Companion => {}
            }
        }
        // Companion findings are emitted by their parent's matcher; a disabled rule emits none.
        if !disabled.is_empty() {
            cands.retain(|c| !disabled.get(c.rule).copied().unwrap_or(false));
        }
        drop_allowlisted(text, &mut cands);
        drop_identifiers(text, &mut cands);
        let mut accepted = resolve_overlaps(cands);
        propagate(text, &mut accepted);
        accepted
    }
}

/// Inline markers by which authors declare a line's secret-looking value a non-secret (detect-secrets'
/// `pragma: allowlist secret`, gitleaks' `gitleaks:allow`, Bandit's `nosec`).
const ALLOW_MARKERS: &[&str] = &["allowlist secret", "gitleaks:allow", "nosec"];

/// Drop KEY and PASSWORD candidates on lines that carry an allow marker.
fn drop_allowlisted(text: &str, cands: &mut Vec<Cand>) {
    if !ALLOW_MARKERS.iter().any(|m| memchr::memmem::find(text.as_bytes(), m.as_bytes()).is_some()) {
        return;
    }
    cands.retain(|c| {
        if !matches!(RULES[c.rule].kind, PiiType::Key | PiiType::Password) {
            return true;
        }
        let (ls, le) = line_bounds(text, c.start);
        let line = &text[ls..le];
        !ALLOW_MARKERS.iter().any(|m| line.contains(m))
    });
}

/// Drop generic KEY findings (a secret-named field or flag, no provider format) whose value the
/// same document elsewhere calls an id or a name: `--api-key V` next to `"id": "V"` names the key
/// object, not its secret material.
fn drop_identifiers(text: &str, cands: &mut Vec<Cand>) {
    let generic = |c: &Cand| matches!(RULES[c.rule].id, "secret-assignment" | "secret-call-pair" | "header-credential");
    if !cands.iter().any(generic) {
        return;
    }
    cands.retain(|c| !(generic(c) && assign::named_as_identifier(text, &text[c.start..c.end], c.start)));
    // A table of same-shaped values (schema hashes keyed by resource type, checksums keyed by file)
    // where only a few keys happen to contain `key`/`secret`/`token`: the values are the table's
    // data, not secrets. Same shape = same length and character classes; the table must hold at
    // least three other distinct values of that shape, twice as many as the secret-named ones.
    let shapes: Vec<(usize, (bool, bool, bool, bool))> = cands
        .iter()
        .filter(|c| generic(c))
        .map(|c| (c.end - c.start, validate::classes(&text[c.start..c.end])))
        .collect();
    let mut table_shapes = Vec::new();
    for shape in &shapes {
        if table_shapes.iter().any(|(s, _)| s == shape) {
            continue;
        }
        let named: std::collections::HashSet<&str> = cands
            .iter()
            .filter(|c| generic(c) && (c.end - c.start, validate::classes(&text[c.start..c.end])) == *shape)
            .map(|c| &text[c.start..c.end])
            .collect();
        let others = same_shape_tokens(text, *shape, &named, 2 * named.len().max(2));
        table_shapes.push((*shape, others >= 3 && others >= 2 * named.len()));
    }
    cands.retain(|c| {
        !(generic(c)
            && table_shapes
                .iter()
                .any(|(s, t)| *t && *s == (c.end - c.start, validate::classes(&text[c.start..c.end]))))
    });
}

/// Distinct tokens of `text` (maximal runs of value characters) with the given length and character
/// classes that are not in `skip`, counted up to `cap`.
fn same_shape_tokens(text: &str, shape: (usize, (bool, bool, bool, bool)), skip: &std::collections::HashSet<&str>, cap: usize) -> usize {
    let b = text.as_bytes();
    let value_byte = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'_' | b'-' | b'.');
    let mut seen = std::collections::HashSet::new();
    let mut i = 0;
    while i < b.len() {
        if !value_byte(b[i]) {
            i += 1;
            continue;
        }
        let s = i;
        while i < b.len() && value_byte(b[i]) {
            i += 1;
        }
        if i - s == shape.0 {
            let tok = &text[s..i];
            if !skip.contains(tok) && validate::classes(tok) == shape.1 && seen.insert(tok) && seen.len() >= cap {
                return seen.len();
            }
        }
    }
    seen.len()
}

/// Keep the highest-priority (lowest rule index, then longest, then leftmost) candidate of every
/// overlapping group.
fn resolve_overlaps(mut cands: Vec<Cand>) -> Vec<Cand> {
    cands.retain(|c| c.end > c.start);
    cands.sort_by_key(|c| (c.rule, std::cmp::Reverse(c.end - c.start), c.start));
    let mut taken: Vec<Cand> = Vec::with_capacity(cands.len());
    for c in cands {
        if taken.iter().all(|t| c.end <= t.start || c.start >= t.end) {
            taken.push(c);
        }
    }
    taken.sort_by_key(|c| (c.start, c.end));
    taken
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// A value found once (a password, a username, a name) is labelled at every other occurrence in the
/// same document, with the same rule, so redaction cannot leave a copy behind.
fn propagate(text: &str, accepted: &mut Vec<Cand>) {
    // Only distinctive values spread: a short or word-like value (`repo`, `current`) would label
    // unrelated text.
    let spreads = |c: &Cand| {
        let v = &text[c.start..c.end];
        let marked = v.bytes().any(|b| b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.'));
        match RULES[c.rule].kind {
            PiiType::Name => true,
            PiiType::Key | PiiType::Password => v.len() >= 8 && (marked || v.bytes().any(|b| !b.is_ascii_alphanumeric())),
            // Usernames from unambiguous contexts (profile URLs, logins, handles) spread even when
            // they are plain words; a bare word from a `user = …` field does not.
            PiiType::Username => {
                // (A profile URL may name an organisation: it labels itself only.)
                let strong = matches!(RULES[c.rule].id, "ssh-login" | "uri-username" | "cli-username");
                v.len() >= 4 && (marked || (strong && v.len() >= 5))
            }
            _ => false,
        }
    };
    let seeds: Vec<(String, usize)> = accepted
        .iter()
        .filter(|c| spreads(c))
        .map(|c| (text[c.start..c.end].to_string(), c.rule))
        .collect();
    if seeds.is_empty() {
        return;
    }
    let b = text.as_bytes();
    let mut extra = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (value, rule) in seeds {
        if !seen.insert(value.clone()) {
            continue;
        }
        for (pos, _) in text.match_indices(value.as_str()) {
            let end = pos + value.len();
            let vb = value.as_bytes();
            if is_word_byte(vb[0]) && pos > 0 && is_word_byte(b[pos - 1]) {
                continue;
            }
            if is_word_byte(vb[vb.len() - 1]) && end < b.len() && is_word_byte(b[end]) {
                continue;
            }
            if accepted.iter().chain(extra.iter()).any(|t: &Cand| pos < t.end && end > t.start) {
                continue;
            }
            extra.push(Cand { start: pos, end, rule });
        }
    }
    if !extra.is_empty() {
        accepted.extend(extra);
        accepted.sort_by_key(|c| (c.start, c.end));
    }
}

static ENGINE: OnceLock<std::result::Result<Engine, String>> = OnceLock::new();

/// The process-wide compiled rule set.
pub fn engine() -> Result<&'static Engine> {
    ENGINE
        .get_or_init(|| Engine::build().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| CoreError::InvalidConfig(e.clone()))
}

/// Convert sorted byte spans to code-point spans in one pass over the text.
pub fn to_char_spans(text: &str, cands: &[Cand]) -> Vec<PiiSpan> {
    let mk = |c: &Cand, s: usize, e: usize| PiiSpan { start: s, end: e, kind: RULES[c.rule].kind, rule: c.rule as u16 };
    if text.is_ascii() {
        return cands.iter().map(|c| mk(c, c.start, c.end)).collect();
    }
    // Offsets to convert, sorted; walk the text once.
    let mut points: Vec<usize> = cands.iter().flat_map(|c| [c.start, c.end]).collect();
    points.sort_unstable();
    points.dedup();
    let mut map = std::collections::HashMap::with_capacity(points.len());
    let mut chars = 0usize;
    let mut last = 0usize;
    for p in points {
        chars += text[last..p].chars().count();
        last = p;
        map.insert(p, chars);
    }
    cands.iter().map(|c| mk(c, map[&c.start], map[&c.end])).collect()
}

/// Detect PII in one document; spans in code points, sorted by start, never overlapping.
pub fn detect(text: &str) -> Result<Vec<PiiSpan>> {
    let eng = engine()?;
    Ok(to_char_spans(text, &eng.detect_bytes(text)))
}

/// Detect PII in every document of a batch, in parallel. A null document gives no spans.
pub fn detect_batch(texts: &[Option<&str>]) -> Result<Vec<Vec<PiiSpan>>> {
    detect_batch_without(texts, &[])
}

/// [`detect_batch`] with some rules (by id) switched off. An unknown id is an error.
pub fn detect_batch_without_ids(texts: &[Option<&str>], disabled: &[String]) -> Result<Vec<Vec<PiiSpan>>> {
    let mut mask = vec![false; RULES.len()];
    for id in disabled {
        let i = RULES
            .iter()
            .position(|r| r.id == id.as_str())
            .ok_or_else(|| CoreError::InvalidConfig(format!("unknown PII rule {id:?}")))?;
        mask[i] = true;
    }
    detect_batch_without(texts, if disabled.is_empty() { &[] } else { &mask })
}

fn detect_batch_without(texts: &[Option<&str>], disabled: &[bool]) -> Result<Vec<Vec<PiiSpan>>> {
    let eng = engine()?;
    Ok(texts
        .par_iter()
        .with_min_len(8)
        .map(|t| t.map(|t| to_char_spans(t, &eng.detect_bytes_without(t, disabled))).unwrap_or_default())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(String, &'static str, &'static str)> {
        let spans = detect(text).unwrap();
        let chars: Vec<char> = text.chars().collect();
        spans
            .iter()
            .map(|s| (chars[s.start..s.end].iter().collect(), s.kind.as_str(), s.rule_id()))
            .collect()
    }

    #[test]
    fn engine_builds_and_rule_ids_are_unique() {
        engine().unwrap();
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }

    #[test]
    fn offsets_are_code_points() {
        let text = "héllo ünïcode — contact: pat.jones@orchardline.co ok";
        let spans = detect(text).unwrap();
        assert_eq!(spans.len(), 1);
        let s: String = text.chars().skip(spans[0].start).take(spans[0].end - spans[0].start).collect();
        assert_eq!(s, "pat.jones@orchardline.co");
    }

    #[test]
    fn mixed_document() {
        let text = "host = 136.172.114.170\nuser = tinkerfox689\npassword = Welc0me$154\nlocal = 10.0.0.1\n";
        let f = found(text);
        assert!(f.iter().any(|(v, t, _)| v == "136.172.114.170" && *t == "IP_ADDRESS"), "{f:?}");
        assert!(f.iter().any(|(v, t, _)| v == "Welc0me$154" && *t == "PASSWORD"), "{f:?}");
        assert!(f.iter().any(|(v, t, _)| v == "tinkerfox689" && *t == "USERNAME"), "{f:?}");
        assert!(!f.iter().any(|(v, _, _)| v == "10.0.0.1"), "{f:?}");
    }

    #[test]
    fn batch_keeps_nulls_and_order() {
        let docs = vec![Some("mail a.b@orchardline.co"), None, Some("nothing here")];
        let out = detect_batch(&docs).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].len(), 1);
        assert!(out[1].is_empty() && out[2].is_empty());
    }
}

#[cfg(test)]
mod profile {
    use super::*;

    /// Per-rule timing over a NUL-separated corpus: `SCTOOL_PII_PROFILE=/path cargo test --release -p
    /// sctool-core profile_rules -- --ignored --nocapture`.
    #[test]
    #[ignore = "manual profiling aid"]
    fn profile_rules() {
        let Ok(path) = std::env::var("SCTOOL_PII_PROFILE") else { return };
        let data = std::fs::read_to_string(path).unwrap();
        let docs: Vec<&str> = data.split('\0').collect();
        let eng = engine().unwrap();
        let mut times = vec![0f64; RULES.len()];
        let mut ac_time = 0f64;
        let t_all = std::time::Instant::now();
        for d in &docs {
            let t = std::time::Instant::now();
            let doc = eng.doc(d);
            ac_time += t.elapsed().as_secs_f64();
            let mut cands = Vec::new();
            for (ri, rule) in RULES.iter().enumerate() {
                if !doc.rule_active[ri] {
                    continue;
                }
                let t = std::time::Instant::now();
                match &rule.matcher {
                    Matcher::Regex { group, check, .. } => {
                        let re = eng.regexes[ri].as_ref().unwrap();
                        for caps in re.captures_iter(d) {
                            let m = caps.get(*group).unwrap();
                            if check.is_none_or(|f| f(&doc, m.start(), m.end())) {
                                cands.push(Cand { start: m.start(), end: m.end(), rule: ri });
                            }
                        }
                    }
                    Matcher::Custom(f) => f(eng, &doc, ri, &mut cands),
                    Matcher::Companion => {}
                }
                times[ri] += t.elapsed().as_secs_f64();
            }
        }
        let total = t_all.elapsed().as_secs_f64();
        let mut counts = std::collections::HashMap::new();
        for d in &docs {
            for m in eng.ac.find_iter(*d) {
                *counts.entry(m.pattern().as_usize()).or_insert(0usize) += 1;
            }
        }
        let mut cv: Vec<_> = counts.into_iter().collect();
        cv.sort_by_key(|x| std::cmp::Reverse(x.1));
        println!("hits {:?}", &cv[..cv.len().min(12)]);
        println!("total {total:.3}s for {} MB, AC {ac_time:.3}s", data.len() / 1_000_000);
        let mut order: Vec<usize> = (0..RULES.len()).collect();
        order.sort_by(|a, b| times[*b].total_cmp(&times[*a]));
        for i in order.iter().take(15) {
            println!("{:28} {:.3}s", RULES[*i].id, times[*i]);
        }
    }
}
