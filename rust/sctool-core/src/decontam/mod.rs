//! Benchmark decontamination: find training documents that contain evaluation items.
//!
//! Two detectors share one index and one pass per document:
//!
//! * **exact** — StarCoder's rule (BigCode 2023, §3.7; `bigcode-dataset/decontamination`): a
//!   document is contaminated if it contains, case-insensitively, any benchmark string. All
//!   strings are matched at once with an Aho–Corasick automaton (Aho & Corasick 1975) instead of
//!   one `str.find` per string. Patterns are lowercased with Unicode case mapping; an all-ASCII
//!   document is matched as is with ASCII case folding, any other document is lowercased first, so
//!   the result equals Python's `pattern.lower() in text.lower()`.
//! * **normalised** — token n-gram containment (the measure of Broder 1997, used for
//!   contamination by GPT-3, Brown et al. 2020, with 13-grams): for each benchmark piece (a
//!   docstring, a solution, a question), the fraction of its distinct n-grams that also occur in
//!   the document. Prose pieces use lowercased words, code pieces use the parameterised code
//!   stream of [`tokens`], so reformatting, re-indentation, line endings, moving a docstring into a
//!   comment and renaming identifiers do not change the n-grams; a partial copy scores the share
//!   it copied. N-grams that occur in many benchmark items (boilerplate such as "write a function
//!   to") are dropped from the index because they identify nothing.

pub mod anchor;
pub mod decode;
pub mod exact;
pub mod idf;
pub mod tokens;

use std::collections::HashMap;
use std::sync::Arc;

use rayon::prelude::*;

use crate::{CoreError, Result};
use exact::ExactMatcher;
use idf::IdfTable;
use tokens::{CodeTok, IdHash, NgramSet};

/// Which token stream a piece is compared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Prose,
    Code,
    /// A benchmark function (its `def` header and body) used only for signature anchors
    /// ([`anchor`]); its n-grams are not indexed.
    Signature,
}

/// How an item was found in a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Exact,
    Normalised,
    /// The benchmark function's own `def` header (name and parameter names) followed by its own
    /// body ([`anchor`]).
    Signature,
}

impl Method {
    /// Order of hits of one item: exact, normalised, signature.
    fn rank(self) -> u8 {
        match self {
            Method::Exact => 0,
            Method::Normalised => 1,
            Method::Signature => 2,
        }
    }
}

/// Parameters of the normalised detector.
#[derive(Debug, Clone)]
pub struct NormalisedConfig {
    /// Words per prose n-gram.
    pub prose_ngram: usize,
    /// Tokens per code n-gram.
    pub code_ngram: usize,
    /// A piece matches when at least this fraction of its n-grams occurs in the document.
    pub threshold: f64,
    /// Pieces with fewer distinct n-grams than this are too short to be evidence and are skipped.
    pub min_ngrams: usize,
    /// N-grams shared by more than this many benchmark items are dropped from the index.
    pub max_items_per_ngram: usize,
    /// A partial match (containment below 1) must also share at least this many n-grams: a few
    /// n-grams of a short, idiomatic solution are common in unrelated code.
    pub min_matched: usize,
    /// Also match the decoded views of each document ([`decode`]): JSON and program strings, HTML,
    /// diffs and commented-out lines.
    pub decode: bool,
    /// Weigh n-grams by their rarity in real code ([`idf`]); None weighs every n-gram 1.
    pub idf: Option<Arc<IdfTable>>,
    /// N-grams weighing less than this (idioms of thousands of files) are left out of the index.
    pub min_weight: f64,
}

impl Default for NormalisedConfig {
    fn default() -> Self {
        NormalisedConfig {
            prose_ngram: 8,
            code_ngram: 12,
            threshold: 0.5,
            min_ngrams: 3,
            max_items_per_ngram: 4,
            min_matched: 12,
            decode: true,
            idf: None,
            min_weight: 0.05,
        }
    }
}

impl NormalisedConfig {
    fn validate(&self) -> Result<()> {
        if self.prose_ngram == 0 || self.code_ngram == 0 {
            return Err(CoreError::InvalidConfig(
                "n-gram sizes must be at least 1".into(),
            ));
        }
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(CoreError::InvalidConfig(format!(
                "containment threshold must be in (0, 1], got {}",
                self.threshold
            )));
        }
        if let Some(t) = &self.idf {
            if t.code_ngram == 0
                || t.prose_ngram == 0
                || t.code_ngram > self.code_ngram
                || t.prose_ngram > self.prose_ngram
            {
                return Err(CoreError::InvalidConfig(format!(
                    "the IDF table counts {}-token code and {}-word prose n-grams, longer than the index's {} and \
                     {}: rebuild it with `sctool decontam build-idf` for shorter sub-grams",
                    t.code_ngram, t.prose_ngram, self.code_ngram, self.prose_ngram
                )));
            }
        }
        if !(0.0..=1.0).contains(&self.min_weight) {
            return Err(CoreError::InvalidConfig(format!(
                "min_weight must be in [0, 1], got {}",
                self.min_weight
            )));
        }
        if self.min_ngrams == 0 || self.max_items_per_ngram == 0 {
            return Err(CoreError::InvalidConfig(
                "min_ngrams and max_items_per_ngram must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// One benchmark piece for the normalised detector.
#[derive(Debug, Clone, Copy)]
pub struct Piece<'a> {
    pub item: u32,
    pub channel: Channel,
    pub text: &'a str,
}

/// Per-piece facts kept in the index.
#[derive(Debug, Clone, Copy)]
pub struct PieceInfo {
    pub item: u32,
    pub channel: Channel,
    /// Distinct n-grams of the piece that are in the index (0 if the piece is too short).
    pub ngrams: u32,
    /// Their total weight (rarity in real code; equal to `ngrams` without an IDF table).
    pub weight: f32,
}

/// One match of a benchmark item in a document.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub item: u32,
    pub method: Method,
    /// Exact: the pattern index; normalised: the piece index.
    pub source: u32,
    /// Exact: 1.0; normalised: the containment of the piece in the document.
    pub score: f32,
    /// Where it was found: 0 for the document as stored, k for the k-th decoded view.
    pub view: u16,
}

/// Where a hit lies, for the audit trail of a removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The decoders that led to the view (`document` for the text as stored).
    pub view_path: String,
    pub view_start: usize,
    pub view_end: usize,
    /// Byte range of the document the matched stretch came from.
    pub doc_start: usize,
    pub doc_end: usize,
    /// The matched stretch of the view (decoded text), trimmed.
    pub excerpt: String,
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Facts about a built index, for the stage's manifest.
#[derive(Debug, Clone, Default)]
pub struct IndexStats {
    pub exact_patterns: usize,
    pub exact_patterns_empty: usize,
    pub pieces: usize,
    pub pieces_too_short: usize,
    pub prose_ngrams: usize,
    pub code_ngrams: usize,
    pub ngrams_dropped_common: usize,
    /// N-grams left out because they are idioms of real code (weight below `min_weight`).
    pub ngrams_dropped_idiom: usize,
    /// Exact patterns whose hits do not count alone: too idiomatic to be evidence.
    pub exact_patterns_idiom: usize,
    /// Signature anchors kept, and left out (name not distinctive, body too short, signature
    /// common in real code, or shared by several items).
    pub anchors: usize,
    pub anchors_dropped: usize,
}

/// A benchmark function's signature anchor: its piece and the first tokens of its body.
struct Anchor {
    piece: u32,
    item: u32,
    body: Vec<u64>,
}

/// Exact patterns and normalised pieces, built once and shared by every worker.
pub struct DecontamIndex {
    exact: Option<ExactMatcher>,
    exact_items: Vec<u32>,
    /// Exact patterns too idiomatic to count on their own (see [`DecontamIndex::build`]).
    exact_idiom: Vec<bool>,
    prose: NgramSet,
    code: NgramSet,
    /// Weight of each indexed n-gram below 1 (absent: 1), per channel (prose, code).
    weights: [HashMap<u64, f32, IdHash>; 2],
    pieces: Vec<PieceInfo>,
    /// Signature key -> anchors ([`anchor`]).
    anchor_keys: HashMap<u64, Vec<u32>, IdHash>,
    anchors: Vec<Anchor>,
    config: NormalisedConfig,
    stats: IndexStats,
}

/// Per-worker buffers, reused across documents.
#[derive(Default)]
pub struct Scratch {
    classes: tokens::ByteClasses,
    lowered: String,
    prose: Vec<u64>,
    code: Vec<CodeTok>,
    hits: Vec<u64>,
    found: Vec<u32>,
    views: Vec<decode::View>,
    headers: Vec<anchor::DefHeader>,
    body: Vec<(u64, usize)>,
}

fn piece_ngrams(piece: &Piece<'_>, cfg: &NormalisedConfig, scratch: &mut Scratch) -> Vec<u64> {
    let mut out = Vec::new();
    match piece.channel {
        Channel::Signature => {}
        Channel::Prose => {
            tokens::prose_tokens(piece.text, &mut scratch.prose);
            tokens::prose_ngrams(&scratch.prose, cfg.prose_ngram, |h| out.push(h));
        }
        Channel::Code => {
            tokens::code_tokens(piece.text, &mut scratch.code, cfg.code_ngram - 1);
            tokens::code_ngrams(&scratch.code, cfg.code_ngram, |h| out.push(h));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Weight of each n-gram of a piece: the mean IDF weight of the table's shorter sub-grams inside
/// it. A 12-token n-gram made only of common 6-token runs is an idiom even when the whole 12 tokens
/// never occurred in the reference corpus (12-grams are too sparse to count directly); one rare
/// identifier or literal makes every sub-gram holding it rare, and the n-gram with them.
#[allow(clippy::many_single_char_names)]
fn piece_weights(
    piece: &Piece<'_>,
    cfg: &NormalisedConfig,
    t: &IdfTable,
) -> HashMap<u64, f64, IdHash> {
    let (n, k, code) = match piece.channel {
        Channel::Prose => (cfg.prose_ngram, t.prose_ngram, false),
        Channel::Code => (cfg.code_ngram, t.code_ngram, true),
        Channel::Signature => return HashMap::default(),
    };
    let mut long = Vec::new();
    let mut sub = Vec::new();
    match piece.channel {
        Channel::Prose => {
            let mut toks = Vec::new();
            tokens::prose_tokens(piece.text, &mut toks);
            tokens::prose_ngrams(&toks, n, |h| long.push(h));
            tokens::prose_ngrams(&toks, k, |h| sub.push(t.weight(false, h)));
        }
        Channel::Code => {
            let mut toks = Vec::new();
            tokens::code_tokens(piece.text, &mut toks, n - 1);
            tokens::code_ngrams(&toks, n, |h| long.push(h));
            tokens::code_tokens(piece.text, &mut toks, k - 1);
            tokens::code_ngrams(&toks, k, |h| sub.push(t.weight(code, h)));
        }
        Channel::Signature => {}
    }
    let span = n - k + 1;
    let mut out: HashMap<u64, f64, IdHash> = HashMap::default();
    for (i, &h) in long.iter().enumerate() {
        let Some(ws) = sub.get(i..i + span) else {
            break;
        };
        let w = ws.iter().sum::<f64>() / span as f64;
        let e = out.entry(h).or_insert(0.0);
        *e = e.max(w);
    }
    out
}

impl DecontamIndex {
    /// Build the index. `exact` pairs each pattern with its item; `pieces` feed the normalised
    /// detector (pass none to run the exact method alone).
    pub fn build(
        exact: &[(u32, &str)],
        pieces: &[Piece<'_>],
        config: NormalisedConfig,
    ) -> Result<Self> {
        config.validate()?;
        let mut stats = IndexStats::default();
        let mut pats = Vec::with_capacity(exact.len());
        let mut exact_items = Vec::with_capacity(exact.len());
        for &(item, p) in exact {
            if p.trim().is_empty() {
                stats.exact_patterns_empty += 1;
                continue;
            }
            pats.push(p.to_lowercase());
            exact_items.push(item);
        }
        stats.exact_patterns = pats.len();
        // With a rarity table and the normalised detector on (the default, not `--method exact`), an
        // exact pattern must carry evidence too: a solution such as `while b: a, b = b, a % b` is
        // in real libraries verbatim. Its evidence is the rarity-weighted count of its distinct
        // n-grams in the richer of the two streams; below `min_ngrams`, its hits are dropped.
        let gate = config.idf.is_some() && !pieces.is_empty();
        let exact_idiom: Vec<bool> = exact
            .iter()
            .filter(|(_, p)| !p.trim().is_empty())
            .map(|&(item, p)| {
                gate && config.idf.as_ref().is_some_and(|t| {
                    let w = |channel| {
                        piece_weights(
                            &Piece {
                                item,
                                channel,
                                text: p,
                            },
                            &config,
                            t,
                        )
                        .values()
                        .sum::<f64>()
                    };
                    w(Channel::Code).max(w(Channel::Prose)) < config.min_ngrams as f64
                })
            })
            .collect();
        stats.exact_patterns_idiom = exact_idiom.iter().filter(|&&x| x).count();
        let exact_ac = if pats.is_empty() {
            None
        } else {
            Some(ExactMatcher::new(pats)?)
        };

        // N-grams of every piece (in parallel: APPS has thousands of long questions).
        let grams: Vec<Vec<u64>> = pieces
            .par_iter()
            .map_init(Scratch::default, |s, p| piece_ngrams(p, &config, s))
            .collect();
        // How many distinct items use each n-gram, per channel.
        let mut items_of: [HashMap<u64, Vec<u32>, IdHash>; 2] =
            [HashMap::default(), HashMap::default()];
        for (p, g) in pieces.iter().zip(&grams) {
            let map = &mut items_of[usize::from(p.channel == Channel::Code)];
            for &h in g {
                let v = map.entry(h).or_default();
                if v.last() != Some(&p.item) && !v.contains(&p.item) {
                    v.push(p.item);
                }
            }
        }
        let common = |ch: Channel, h: &u64| {
            items_of[usize::from(ch == Channel::Code)]
                .get(h)
                .is_some_and(|v| v.len() > config.max_items_per_ngram)
        };
        stats.ngrams_dropped_common = items_of
            .iter()
            .map(|m| {
                m.values()
                    .filter(|v| v.len() > config.max_items_per_ngram)
                    .count()
            })
            .sum();
        let mut prose: HashMap<u64, Vec<u32>, IdHash> = HashMap::default();
        let mut code: HashMap<u64, Vec<u32>, IdHash> = HashMap::default();
        let mut infos = Vec::with_capacity(pieces.len());
        let mut weights: [HashMap<u64, f32, IdHash>; 2] = [HashMap::default(), HashMap::default()];
        for (idx, (p, g)) in pieces.iter().zip(&grams).enumerate() {
            if p.channel == Channel::Signature {
                infos.push(PieceInfo {
                    item: p.item,
                    channel: p.channel,
                    ngrams: 0,
                    weight: 0.0,
                });
                continue;
            }
            let is_code = p.channel == Channel::Code;
            let mut kept: Vec<u64> = g
                .iter()
                .copied()
                .filter(|h| !common(p.channel, h))
                .collect();
            let mut total = kept.len() as f64;
            if let Some(t) = &config.idf {
                let pw = piece_weights(p, &config, t);
                let wt = |h: &u64| pw.get(h).copied().unwrap_or(1.0);
                let before = kept.len();
                kept.retain(|h| wt(h) >= config.min_weight);
                stats.ngrams_dropped_idiom += before - kept.len();
                total = 0.0;
                for h in &kept {
                    let w = wt(h);
                    total += w;
                    if w < 1.0 {
                        weights[usize::from(is_code)].insert(*h, w as f32);
                    }
                }
            }
            let short = kept.len() < config.min_ngrams;
            stats.pieces_too_short += usize::from(short);
            infos.push(PieceInfo {
                item: p.item,
                channel: p.channel,
                ngrams: if short { 0 } else { kept.len() as u32 },
                weight: if short { 0.0 } else { total as f32 },
            });
            if short {
                continue;
            }
            let map = if p.channel == Channel::Code {
                &mut code
            } else {
                &mut prose
            };
            for h in kept {
                map.entry(h).or_default().push(idx as u32);
            }
        }
        stats.pieces = pieces.len();
        stats.prose_ngrams = prose.len();
        stats.code_ngrams = code.len();
        let (anchor_keys, anchors) = build_anchors(pieces, &config, &mut stats);
        Ok(DecontamIndex {
            exact: exact_ac,
            exact_items,
            exact_idiom,
            prose: NgramSet::new(prose),
            code: NgramSet::new(code),
            weights,
            pieces: infos,
            anchor_keys,
            anchors,
            config,
            stats,
        })
    }

    pub fn stats(&self) -> &IndexStats {
        &self.stats
    }

    pub fn pieces(&self) -> &[PieceInfo] {
        &self.pieces
    }

    /// Item of each exact pattern (after empty patterns were dropped).
    pub fn exact_items(&self) -> &[u32] {
        &self.exact_items
    }

    /// Every benchmark item found in `text` or in one of its decoded views, sorted by item, exact
    /// hits before normalised ones; a piece found in several views is reported once, where it
    /// scored highest (the earliest view on ties).
    pub fn scan(&self, text: &str, s: &mut Scratch) -> Vec<Hit> {
        let mut out = Vec::new();
        self.scan_view(text, 0, true, s, &mut out);
        if self.config.decode
            && (!self.prose.is_empty() || !self.code.is_empty() || !self.anchors.is_empty())
        {
            let mut views = std::mem::take(&mut s.views);
            decode::decode_views(text, &mut views);
            for (k, v) in views.iter().enumerate() {
                // Prose behind comment markers is prose in the document already (the prose stream
                // skips punctuation): a prefixed view is there for the code it holds.
                let prose = v.kind() != decode::ViewKind::Prefixed;
                self.scan_view(
                    &v.text,
                    (k + 1).min(usize::from(u16::MAX)) as u16,
                    prose,
                    s,
                    &mut out,
                );
            }
            s.views = views;
        }
        out.sort_by(|a, b| {
            (a.item, a.method.rank(), a.source)
                .cmp(&(b.item, b.method.rank(), b.source))
                .then(b.score.total_cmp(&a.score))
                .then(a.view.cmp(&b.view))
        });
        out.dedup_by(|b, a| a.item == b.item && a.method == b.method && a.source == b.source);
        out
    }

    /// [`views`](Self::views) mapped back to the document per verbatim run and per escape: what
    /// [`locate`](Self::locate) needs to give a match's own offsets rather than its container's.
    pub fn views_fine(&self, text: &str) -> Vec<decode::View> {
        let mut v = Vec::new();
        if self.config.decode {
            decode::decode_views_fine(text, &mut v);
        }
        v
    }

    /// The decoded views [`scan`](Self::scan) matched for `text` (view k of a hit is element k - 1).
    pub fn views(&self, text: &str) -> Vec<decode::View> {
        let mut v = Vec::new();
        if self.config.decode {
            decode::decode_views(text, &mut v);
        }
        v
    }

    fn scan_view(&self, text: &str, view: u16, prose: bool, s: &mut Scratch, out: &mut Vec<Hit>) {
        let normalised = !self.prose.is_empty() || !self.code.is_empty();
        if normalised {
            // One classification pass serves both token streams and tells whether the text is ASCII.
            s.classes.fill(text.as_bytes());
        }
        // StarCoder's rule reads the document as stored; a decoded view is the normalised
        // detector's, whose n-grams cover every multi-line pattern an escape could hide.
        if let (Some(ex), 0) = (&self.exact, view) {
            let ascii = if normalised {
                s.classes.is_ascii()
            } else {
                text.is_ascii()
            };
            let hay: &[u8] = if ascii {
                text.as_bytes()
            } else {
                exact::lowercase_into(text, &mut s.lowered);
                s.lowered.as_bytes()
            };
            s.found.clear();
            ex.find_all(hay, &mut s.found);
            s.found.sort_unstable();
            for &pid in &s.found {
                if self.exact_idiom[pid as usize] {
                    continue;
                }
                out.push(Hit {
                    item: self.exact_items[pid as usize],
                    method: Method::Exact,
                    source: pid,
                    score: 1.0,
                    view,
                });
            }
        }
        if normalised {
            s.hits.clear();
            let mut counts: HashMap<u32, (u32, f32), IdHash> = HashMap::default();
            if prose && !self.prose.is_empty() {
                tokens::prose_tokens_with(text, &s.classes, &mut s.prose);
                let hits = &mut s.hits;
                tokens::prose_ngrams_raw(&s.prose, self.config.prose_ngram, |r| {
                    if let Some(h) = self.prose.probe_raw(r) {
                        hits.push(h);
                    }
                });
                tally(&mut s.hits, &self.prose, &self.weights[0], &mut counts);
            }
            if !self.code.is_empty() {
                tokens::code_tokens_with(text, &s.classes, &mut s.code, self.config.code_ngram - 1);
                let hits = &mut s.hits;
                tokens::code_ngrams_raw(&s.code, self.config.code_ngram, |r| {
                    if let Some(h) = self.code.probe_raw(r) {
                        hits.push(h);
                    }
                });
                tally(&mut s.hits, &self.code, &self.weights[1], &mut counts);
            }
            let mut found: Vec<(u32, (u32, f32))> = counts.into_iter().collect();
            found.sort_unstable_by_key(|x| x.0);
            for (pid, (c, w)) in found {
                let info = self.pieces[pid as usize];
                // Containment by weight: the share of the piece's rarity the document holds. The
                // evidence is that weight itself, in units of rare n-grams: a whole piece needs
                // `min_ngrams` of it, a partial copy `min_matched`.
                let score = f64::from(w) / f64::from(info.weight).max(f64::MIN_POSITIVE);
                let whole = c >= info.ngrams;
                let evidence = f64::from(w) + 1e-4;
                let enough = evidence >= self.config.min_matched as f64
                    || (whole && evidence >= self.config.min_ngrams as f64);
                if score + 1e-6 >= self.config.threshold && enough {
                    out.push(Hit {
                        item: info.item,
                        method: Method::Normalised,
                        source: pid,
                        score: score.min(1.0) as f32,
                        view,
                    });
                }
            }
        }
        if !self.anchors.is_empty() {
            self.scan_anchors(text, view, s, out);
        }
    }

    /// Signature anchors: `def` headers of `text` with a benchmark function's key, followed by its
    /// body (see [`anchor`]).
    fn scan_anchors(&self, text: &str, view: u16, s: &mut Scratch, out: &mut Vec<Hit>) {
        s.headers.clear();
        let keys = &self.anchor_keys;
        let headers = &mut s.headers;
        anchor::def_headers(text, |h| {
            if keys.contains_key(&h.key) {
                headers.push(h);
            }
        });
        for k in 0..s.headers.len() {
            let h = s.headers[k];
            anchor::body_tokens(text, h.body, &mut s.code, &mut s.body);
            for &a in &self.anchor_keys[&h.key] {
                let a = &self.anchors[a as usize];
                if let Some(m) = anchor::body_match(&a.body, a.body.len(), &s.body) {
                    out.push(Hit {
                        item: a.item,
                        method: Method::Signature,
                        source: a.piece,
                        score: (m as f32 / a.body.len() as f32).min(1.0),
                        view,
                    });
                }
            }
        }
    }

    /// Where a hit of [`scan`](Self::scan) lies: the stretch of its view from the first to the
    /// last matched n-gram (exact: the pattern's first occurrence), with the document range it
    /// came from. `views` must be [`views_fine`](Self::views_fine) (exact offsets) or
    /// [`views`](Self::views) (container offsets) of the same text.
    pub fn locate(&self, text: &str, views: &[decode::View], hit: &Hit) -> Located {
        let (vt, view) = match usize::from(hit.view)
            .checked_sub(1)
            .and_then(|k| views.get(k))
        {
            Some(v) => (v.text.as_str(), Some(v)),
            None => (text, None),
        };
        let (s, e) = match hit.method {
            Method::Exact => self.locate_exact(vt, hit.source),
            Method::Normalised => self.locate_normalised(vt, hit.source),
            Method::Signature => self.locate_signature(vt, hit.source),
        };
        let (s, e) = (floor_boundary(vt, s), ceil_boundary(vt, e));
        let (ds, de) = view.map_or((s, e), |v| v.doc_range(s, e));
        Located {
            view_path: view.map_or_else(
                || "document".into(),
                |v| {
                    v.path
                        .iter()
                        .map(|k| k.name())
                        .collect::<Vec<_>>()
                        .join("/")
                },
            ),
            view_start: s,
            view_end: e,
            doc_start: ds,
            doc_end: de,
            excerpt: vt[s..e].trim().to_string(),
        }
    }

    fn locate_exact(&self, vt: &str, pid: u32) -> (usize, usize) {
        let Some(ex) = &self.exact else {
            return (0, vt.len());
        };
        let pat = ex.pattern(pid);
        let mut low = String::new();
        exact::lowercase_into(vt, &mut low);
        match memchr::memmem::find(low.as_bytes(), pat) {
            // Lowercasing kept every length: the offsets are the view's.
            Some(p) if low.len() == vt.len() => (p, p + pat.len()),
            _ => (0, vt.len()),
        }
    }

    fn locate_signature(&self, vt: &str, pid: u32) -> (usize, usize) {
        let mut headers = Vec::new();
        anchor::def_headers(vt, |h| {
            if self.anchor_keys.contains_key(&h.key) {
                headers.push(h);
            }
        });
        let (mut toks, mut body) = (Vec::new(), Vec::new());
        for h in headers {
            anchor::body_tokens(vt, h.body, &mut toks, &mut body);
            for &a in &self.anchor_keys[&h.key] {
                let a = &self.anchors[a as usize];
                if a.piece != pid {
                    continue;
                }
                if let Some(m) = anchor::body_match(&a.body, a.body.len(), &body) {
                    let end = body.get(m).map_or(vt.len(), |x| x.1);
                    return (h.start, end);
                }
            }
        }
        (0, vt.len())
    }

    fn locate_normalised(&self, vt: &str, pid: u32) -> (usize, usize) {
        let info = self.pieces[pid as usize];
        let mut hashes = Vec::new();
        let (starts, n, set) = match info.channel {
            Channel::Prose => {
                let mut toks = Vec::new();
                tokens::prose_tokens(vt, &mut toks);
                tokens::prose_ngrams(&toks, self.config.prose_ngram, |h| hashes.push(h));
                (
                    tokens::prose_word_starts(vt),
                    self.config.prose_ngram,
                    &self.prose,
                )
            }
            Channel::Code | Channel::Signature => {
                let mut toks = Vec::new();
                tokens::code_tokens(vt, &mut toks, self.config.code_ngram - 1);
                tokens::code_ngrams(&toks, self.config.code_ngram, |h| hashes.push(h));
                (
                    tokens::code_token_starts(vt),
                    self.config.code_ngram,
                    &self.code,
                )
            }
        };
        let hit = |h: &u64| set.get(h).is_some_and(|ps| ps.contains(&pid));
        let first = hashes.iter().position(hit);
        let last = hashes.iter().rposition(hit);
        match (first, last) {
            (Some(f), Some(l)) if starts.len() >= hashes.len() + n - 1 => {
                (starts[f], starts.get(l + n).copied().unwrap_or(vt.len()))
            }
            _ => (0, vt.len()),
        }
    }

    /// [`scan`](Self::scan) over a batch, in parallel; None for a null document.
    pub fn scan_batch(&self, texts: &[Option<&str>]) -> Vec<Option<Vec<Hit>>> {
        texts
            .par_iter()
            .with_min_len(8)
            .map_init(Scratch::default, |s, t| t.map(|t| self.scan(t, s)))
            .collect()
    }
}

/// Signature anchors of the code and signature pieces: distinctive names, bodies long enough to
/// say something, signatures rare in real code (the rarity table's `defs` channel) and owned by
/// at most `max_items_per_ngram` items.
fn build_anchors(
    pieces: &[Piece<'_>],
    config: &NormalisedConfig,
    stats: &mut IndexStats,
) -> (HashMap<u64, Vec<u32>, IdHash>, Vec<Anchor>) {
    let mut keys: HashMap<u64, Vec<u32>, IdHash> = HashMap::default();
    let mut anchors = Vec::new();
    let (mut toks, mut body) = (Vec::new(), Vec::new());
    for (idx, p) in pieces.iter().enumerate() {
        if p.channel == Channel::Prose {
            continue;
        }
        let mut headers = Vec::new();
        anchor::def_headers(p.text, |h| headers.push(h));
        for h in headers {
            anchor::body_tokens(p.text, h.body, &mut toks, &mut body);
            let common = config
                .idf
                .as_ref()
                .is_some_and(|t| t.def_df(h.key) > t.rare_df);
            if !h.distinctive(p.text) || common || body.len() < anchor::MIN_BODY_LEN {
                stats.anchors_dropped += 1;
                continue;
            }
            body.truncate(anchor::MAX_BODY);
            keys.entry(h.key).or_default().push(anchors.len() as u32);
            anchors.push(Anchor {
                piece: idx as u32,
                item: p.item,
                body: body.iter().map(|x| x.0).collect(),
            });
        }
    }
    // A key shared by many items (`def check(candidate)` of every HumanEval test) identifies none;
    // a few items may share one (MBPP holds the same function under two task ids), as n-grams may.
    keys.retain(|_, ids| {
        let mut items: Vec<u32> = ids.iter().map(|&a| anchors[a as usize].item).collect();
        items.sort_unstable();
        items.dedup();
        let shared = items.len() > config.max_items_per_ngram;
        if shared {
            stats.anchors_dropped += ids.len();
        }
        !shared
    });
    // Same key and same body within an item (a function piece and the solution holding it): one.
    for ids in keys.values_mut() {
        let mut seen: Vec<(u32, &[u64])> = Vec::new();
        ids.retain(|&a| {
            let b = (
                anchors[a as usize].item,
                anchors[a as usize].body.as_slice(),
            );
            let dup = seen.contains(&b);
            if !dup {
                seen.push(b);
            }
            !dup
        });
    }
    stats.anchors = keys.values().map(Vec::len).sum();
    (keys, anchors)
}

/// Count and weigh, per piece, the distinct hit n-grams; leaves `hits` empty.
fn tally(
    hits: &mut Vec<u64>,
    map: &NgramSet,
    weights: &HashMap<u64, f32, IdHash>,
    counts: &mut HashMap<u32, (u32, f32), IdHash>,
) {
    hits.sort_unstable();
    hits.dedup();
    for h in hits.iter() {
        if let Some(ps) = map.get(h) {
            let w = if weights.is_empty() {
                1.0
            } else {
                weights.get(h).copied().unwrap_or(1.0)
            };
            for &p in ps {
                let e = counts.entry(p).or_insert((0, 0.0));
                e.0 += 1;
                e.1 += w;
            }
        }
    }
    hits.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOLUTION: &str = "    for idx, elem in enumerate(numbers):\n        for idx2, elem2 in enumerate(numbers):\n            if idx != idx2:\n                distance = abs(elem - elem2)\n                if distance < threshold:\n                    return True\n\n    return False\n";
    const DOC: &str = "Check if in given list of numbers, are any two numbers closer to each other than\n    given threshold.";

    fn index(cfg: NormalisedConfig) -> DecontamIndex {
        let pieces = [
            Piece {
                item: 0,
                channel: Channel::Code,
                text: SOLUTION,
            },
            Piece {
                item: 0,
                channel: Channel::Prose,
                text: DOC,
            },
        ];
        DecontamIndex::build(&[(0, DOC), (0, SOLUTION)], &pieces, cfg).unwrap()
    }

    #[test]
    fn exact_is_case_insensitive_substring() {
        let idx = index(NormalisedConfig::default());
        let mut s = Scratch::default();
        let text = format!("x = 1\n{}\n", DOC.to_uppercase());
        let hits = idx.scan(&text, &mut s);
        assert!(hits
            .iter()
            .any(|h| h.method == Method::Exact && h.item == 0));
        // Non-ASCII document: lowercased before matching.
        let text = format!("é {}", DOC.to_uppercase());
        assert!(idx
            .scan(&text, &mut s)
            .iter()
            .any(|h| h.method == Method::Exact));
        assert!(idx.scan("nothing here", &mut s).is_empty());
    }

    #[test]
    fn normalised_catches_renamed_reindented_solution() {
        let idx = index(NormalisedConfig::default());
        let mut s = Scratch::default();
        let renamed = SOLUTION
            .replace("elem2", "b")
            .replace("elem", "a")
            .replace("idx2", "j")
            .replace("idx", "i")
            .replace("distance", "d")
            .replace("    ", "  ");
        let hits = idx.scan(&renamed, &mut s);
        assert!(!hits.iter().any(|h| h.method == Method::Exact));
        let norm: Vec<_> = hits
            .iter()
            .filter(|h| h.method == Method::Normalised)
            .collect();
        assert_eq!(norm.len(), 1);
        assert!((norm[0].score - 1.0).abs() < 1e-6);
    }

    #[test]
    fn docstring_as_comment_is_caught_by_prose() {
        let idx = index(NormalisedConfig::default());
        let mut s = Scratch::default();
        let commented: String = DOC.lines().flat_map(|l| ["# ", l.trim(), "\n"]).collect();
        let hits = idx.scan(&commented, &mut s);
        assert!(hits
            .iter()
            .any(|h| h.method == Method::Normalised && h.source == 1));
    }

    #[test]
    fn partial_copy_scores_its_share_and_threshold_applies() {
        let half: String = SOLUTION.lines().take(4).collect::<Vec<_>>().join("\n");
        let mut s = Scratch::default();
        let low = index(NormalisedConfig {
            threshold: 0.99,
            ..NormalisedConfig::default()
        });
        assert!(low.scan(&half, &mut s).is_empty());
        let lax = index(NormalisedConfig {
            threshold: 0.2,
            ..NormalisedConfig::default()
        });
        let hits = lax.scan(&half, &mut s);
        assert_eq!(hits.len(), 1);
        assert!(hits[0].score > 0.2 && hits[0].score < 0.99);
    }

    #[test]
    fn bad_config_is_an_error_not_a_panic() {
        for cfg in [
            NormalisedConfig {
                threshold: 0.0,
                ..NormalisedConfig::default()
            },
            NormalisedConfig {
                threshold: 1.5,
                ..NormalisedConfig::default()
            },
            NormalisedConfig {
                code_ngram: 0,
                ..NormalisedConfig::default()
            },
        ] {
            assert!(DecontamIndex::build(&[], &[], cfg).is_err());
        }
        // Empty patterns are skipped and counted.
        let idx = DecontamIndex::build(&[(0, "  ")], &[], NormalisedConfig::default()).unwrap();
        assert_eq!(idx.stats().exact_patterns_empty, 1);
        assert!(idx.scan("anything", &mut Scratch::default()).is_empty());
    }

    #[test]
    fn common_ngrams_are_dropped() {
        let text = "write a function to find the answer to the question please";
        let pieces: Vec<Piece> = (0..6)
            .map(|i| Piece {
                item: i,
                channel: Channel::Prose,
                text,
            })
            .collect();
        let idx = DecontamIndex::build(&[], &pieces, NormalisedConfig::default()).unwrap();
        assert_eq!(idx.stats().prose_ngrams, 0);
        assert_eq!(idx.stats().pieces_too_short, 6);
    }

    #[test]
    fn token_starts_agree_with_the_token_streams() {
        let texts = [
            SOLUTION,
            DOC,
            "x = 1 # c\n'a\\'b' \"\"\"doc\"\"\" 0x1Fé é9 _a.b(c)",
            "",
            "é",
            "12ab.3e-4",
        ];
        for t in texts {
            let mut toks = Vec::new();
            tokens::code_tokens(t, &mut toks, 11);
            assert_eq!(tokens::code_token_starts(t).len(), toks.len(), "{t:?}");
            let mut words = Vec::new();
            tokens::prose_tokens(t, &mut words);
            assert_eq!(tokens::prose_word_starts(t).len(), words.len(), "{t:?}");
        }
    }

    #[test]
    fn locate_points_at_the_copy_inside_a_json_string() {
        let idx = index(NormalisedConfig::default());
        let mut s = Scratch::default();
        let escaped = SOLUTION.replace('\n', "\\n");
        let doc =
            format!("{{\"id\": 7, \"answer\": \"def f(numbers, threshold):\\n{escaped}\"}}\n");
        let hits = idx.scan(&doc, &mut s);
        let code = hits
            .iter()
            .find(|h| h.method == Method::Normalised && h.source == 0)
            .expect("code hit");
        assert!(code.view > 0, "found only in a decoded view");
        let views = idx.views(&doc);
        let at = idx.locate(&doc, &views, code);
        assert_eq!(at.view_path, "strings");
        assert!(
            at.excerpt.contains("distance = abs(elem - elem2)"),
            "{}",
            at.excerpt
        );
        assert!(doc[at.doc_start..at.doc_end].contains("distance = abs(elem - elem2)"));
        assert!(at.doc_start > doc.find("answer").unwrap());
        // Fine views: the offsets are the match's own, not the whole JSON string's.
        let fine = idx.locate(&doc, &idx.views_fine(&doc), code);
        assert_eq!(fine.excerpt, at.excerpt);
        assert!(fine.doc_start >= at.doc_start && fine.doc_end <= at.doc_end);
        // The first matched n-gram starts at the header's `):` (its parameterised window equals one
        // of the solution's); the container starts at `def f(`.
        let own = &doc[fine.doc_start..fine.doc_end];
        assert!(own.starts_with("):\\n    for idx, elem"), "{own:?}");
        assert!(fine.doc_start > at.doc_start);
        assert!(doc[fine.doc_end..].len() < 8, "ends at the copy's end");
    }

    #[test]
    fn batch_is_thread_independent() {
        let idx = index(NormalisedConfig::default());
        let docs: Vec<Option<&str>> = vec![Some(SOLUTION), None, Some(DOC), Some("x")];
        let a = crate::parallel::with_threads(1, || idx.scan_batch(&docs));
        let b = crate::parallel::with_threads(3, || idx.scan_batch(&docs));
        assert_eq!(a, b);
        assert!(a[1].is_none());
    }
}
