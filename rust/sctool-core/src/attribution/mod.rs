//! Membership and provenance of code snippets in a training corpus.
//!
//! The Data Portraits scheme (Marone and Van Durme, "Data Portraits: Recording Foundation Model
//! Training Data", 2023) as StarCoder used it: the corpus is whitespace-normalised and cut into
//! `window`-character windows at stride `window`; their fingerprints go into a Bloom filter. A query
//! is cut at stride 1, so a copied passage hits at every position aligned with the corpus grid, and
//! a run of hits `window` apart (a chain) is strong evidence of copying.
//!
//! Beyond StarCoder's tool, a sorted table fingerprint -> document ids names the documents a hit
//! comes from, and [`verify_batch`] re-checks windows against the documents' text so a reported
//! source is never a Bloom false positive.

pub mod bloom;
pub mod normalise;

use std::collections::HashSet;

use rayon::prelude::*;

pub use bloom::BloomParams;
pub use normalise::{Normalised, FINGERPRINT_SEED, NORMALISATION};

use crate::error::{CoreError, Result};

/// Fingerprints of the windows of `text` at `stride`, sorted and without repeats.
pub fn doc_fingerprints(text: &str, window: usize, stride: usize) -> Vec<u64> {
    let norm = Normalised::new(text, false);
    let n = norm.chars();
    let mut out = Vec::with_capacity(n / stride.max(1) + 1);
    let mut i = 0;
    while i + window <= n {
        out.push(norm.fingerprint(i, window));
        i += stride;
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn check_window(window: usize, stride: usize) -> Result<()> {
    if window == 0 || stride == 0 || window > 1 << 16 {
        return Err(CoreError::InvalidConfig(format!(
            "window must be in 1..=65536 and stride >= 1, got window={window} stride={stride}"
        )));
    }
    Ok(())
}

/// (fingerprint, document) pairs of a batch; document ids are `first_doc + position in batch`.
pub fn build_pairs(
    texts: &[Option<&str>],
    first_doc: u32,
    window: usize,
    stride: usize,
) -> Result<(Vec<u64>, Vec<u32>)> {
    check_window(window, stride)?;
    let per_doc: Vec<Vec<u64>> =
        texts.par_iter().map(|t| t.map_or_else(Vec::new, |t| doc_fingerprints(t, window, stride))).collect();
    let total: usize = per_doc.iter().map(Vec::len).sum();
    let mut fps = Vec::with_capacity(total);
    let mut docs = Vec::with_capacity(total);
    for (i, v) in per_doc.into_iter().enumerate() {
        docs.extend(std::iter::repeat_n(first_doc + i as u32, v.len()));
        fps.extend(v);
    }
    Ok((fps, docs))
}

/// Sort pairs by (fingerprint, document) and drop repeats; returns the table and the number of
/// distinct fingerprints (the Bloom filter's item count).
pub fn finish_table(fps: &[u64], docs: &[u32]) -> Result<(Vec<u64>, Vec<u32>, u64)> {
    if fps.len() != docs.len() {
        return Err(CoreError::InvalidInput(format!(
            "fingerprint and document arrays differ in length ({} vs {})",
            fps.len(),
            docs.len()
        )));
    }
    let mut pairs: Vec<(u64, u32)> = fps.iter().copied().zip(docs.iter().copied()).collect();
    pairs.par_sort_unstable();
    pairs.dedup();
    let mut distinct = 0u64;
    let mut last = None;
    for &(f, _) in &pairs {
        if last != Some(f) {
            distinct += 1;
            last = Some(f);
        }
    }
    let (f, d) = pairs.into_iter().unzip();
    Ok((f, d, distinct))
}

/// XXH3-64 of a byte buffer: the integrity checksum of index files.
pub fn checksum(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// Distinct values of a sorted fingerprint array.
pub fn distinct_sorted(fps: &[u64]) -> Vec<u64> {
    let mut out = fps.to_vec();
    out.dedup();
    out
}

/// A read-only view of a built index (slices may be memory-mapped).
pub struct IndexView<'a> {
    pub bloom: BloomParams,
    pub words: &'a [u64],
    pub table_fps: &'a [u64],
    pub table_docs: &'a [u32],
    pub window: usize,
}

impl IndexView<'_> {
    /// Check the slices agree with each other and with the parameters.
    pub fn validate(&self) -> Result<()> {
        self.bloom.check_words(self.words)?;
        check_window(self.window, 1)?;
        if self.table_fps.len() != self.table_docs.len() {
            return Err(CoreError::InvalidInput("index table columns differ in length".into()));
        }
        Ok(())
    }

    /// Range of table rows holding `fp`.
    ///
    /// Fingerprints are uniform 64-bit hashes, so a row's position is close to `fp / 2^64 * rows`:
    /// start there and gallop outwards, which touches a few neighbouring cache lines instead of the
    /// ~log2(rows) scattered ones of a plain binary search.
    #[inline]
    pub fn lookup(&self, fp: u64) -> (usize, usize) {
        let t = self.table_fps;
        let n = t.len();
        if n == 0 {
            return (0, 0);
        }
        let guess = ((u128::from(fp) * n as u128) >> 64) as usize;
        // Bracket [lo, hi) so that t[lo - 1] < fp <= t[hi] (where those exist), then search it.
        let (mut lo, mut hi);
        if t[guess] < fp {
            let mut step = 1;
            lo = guess + 1;
            hi = lo;
            while hi < n && t[hi] < fp {
                lo = hi + 1;
                hi = (hi + step).min(n);
                step *= 2;
            }
        } else {
            let mut step = 1;
            hi = guess;
            lo = hi;
            while lo > 0 && t[lo - 1] >= fp {
                hi = lo - 1;
                lo = lo.saturating_sub(step);
                step *= 2;
            }
        }
        let start = lo + t[lo..hi].partition_point(|&x| x < fp);
        let end = start + t[start..].iter().take_while(|&&x| x == fp).count();
        (start, end)
    }
}

/// What one query text hit.
#[derive(Debug, Default, Clone)]
pub struct TextHits {
    /// Code points of the normalised text.
    pub chars: u32,
    /// Windows the Bloom filter accepted.
    pub bloom_hits: u32,
    /// (window position, first table row, end table row) of every Bloom hit found in the table.
    pub hits: Vec<(u32, u32, u32)>,
}

/// Windows hashed before their Bloom probes in [`query_text`].
const CHUNK: usize = 64;

/// Probe every stride-1 window of `text`.
pub fn query_text(index: &IndexView<'_>, text: &str) -> TextHits {
    probe(index, &Normalised::new(text, false))
}

/// Probe every stride-1 window of normalised text; hits come out in ascending position.
fn probe(index: &IndexView<'_>, norm: &Normalised) -> TextHits {
    let n = norm.chars();
    let w = index.window;
    let mut out = TextHits { chars: n as u32, ..TextHits::default() };
    if n < w {
        return out;
    }
    // Hash a chunk first, then probe: the probes are independent loads the CPU can overlap.
    let mut fps = [0u64; CHUNK];
    let last = n - w;
    let mut start = 0;
    while start <= last {
        let m = CHUNK.min(last + 1 - start);
        for (j, slot) in fps.iter_mut().take(m).enumerate() {
            *slot = norm.fingerprint(start + j, w);
            index.bloom.prefetch(index.words, *slot);
        }
        for (j, &fp) in fps.iter().take(m).enumerate() {
            if index.bloom.contains(index.words, fp) {
                out.bloom_hits += 1;
                let (lo, hi) = index.lookup(fp);
                if hi > lo {
                    out.hits.push(((start + j) as u32, lo as u32, hi as u32));
                }
            }
        }
        start += m;
    }
    out
}

/// Everything `sctool attribute` reports about one text (Bloom false positives already dropped:
/// only windows whose fingerprint is in the table count).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TextAttribution {
    pub summary: Summary,
    /// Windows the Bloom filter accepted.
    pub bloom_hits: u32,
    /// Windows found in the table.
    pub table_hits: u32,
    /// Hit windows found in more than `max_docs` documents (only the first `max_docs` count).
    pub common_windows: u32,
    /// (document, hit windows), most windows first, then lowest document; at most `top`.
    pub sources: Vec<(u32, u32)>,
    /// Source documents found beyond `top`.
    pub more_sources: u32,
}

/// Probe, summarise and name the sources of one text in one pass over its normalised form.
pub fn attribute_text(index: &IndexView<'_>, text: &str, top: usize, max_docs: usize) -> TextAttribution {
    let norm = Normalised::new(text, false);
    let hits = probe(index, &norm);
    let positions: Vec<usize> = hits.hits.iter().map(|h| h.0 as usize).collect();
    let summary = summarise_sorted(&norm, text, index.window, &positions);
    let mut out = TextAttribution {
        summary,
        bloom_hits: hits.bloom_hits,
        table_hits: hits.hits.len() as u32,
        ..TextAttribution::default()
    };
    if top == 0 || hits.hits.is_empty() {
        out.common_windows = hits.hits.iter().filter(|h| (h.2 - h.1) as usize > max_docs).count() as u32;
        return out;
    }
    let mut docs: Vec<u32> = Vec::with_capacity(hits.hits.len());
    for &(_, lo, hi) in &hits.hits {
        let (lo, hi) = (lo as usize, hi as usize);
        if hi - lo > max_docs {
            out.common_windows += 1;
        }
        docs.extend_from_slice(&index.table_docs[lo..hi.min(lo + max_docs)]);
    }
    docs.sort_unstable();
    let mut counts: Vec<(u32, u32)> = Vec::new();
    for d in docs {
        match counts.last_mut() {
            Some((last, c)) if *last == d => *c += 1,
            _ => counts.push((d, 1)),
        }
    }
    counts.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out.more_sources = counts.len().saturating_sub(top) as u32;
    counts.truncate(top);
    out.sources = counts;
    out
}

/// [`attribute_text`] over a batch, in parallel; a null text gives an empty result.
pub fn attribute_batch(
    index: &IndexView<'_>,
    texts: &[Option<&str>],
    top: usize,
    max_docs: usize,
) -> Result<Vec<TextAttribution>> {
    index.validate()?;
    if max_docs == 0 {
        return Err(CoreError::InvalidConfig("max_docs (documents per window) must be >= 1".into()));
    }
    Ok(texts
        .par_iter()
        .map(|t| t.map_or_else(TextAttribution::default, |t| attribute_text(index, t, top, max_docs)))
        .collect())
}

/// [`query_text`] over a batch, in parallel; a null text gives an empty result.
pub fn query_batch(index: &IndexView<'_>, texts: &[Option<&str>]) -> Result<Vec<TextHits>> {
    index.validate()?;
    Ok(texts.par_iter().map(|t| t.map_or_else(TextHits::default, |t| query_text(index, t))).collect())
}

/// Bloom membership of raw fingerprints (for measuring the false-positive rate).
pub fn bloom_contains_batch(index: &IndexView<'_>, fps: &[u64]) -> Result<Vec<bool>> {
    index.bloom.check_words(index.words)?;
    Ok(fps.par_iter().map(|&f| index.bloom.contains(index.words, f)).collect())
}

/// Coverage of one text by a set of hit windows.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Code points of the normalised text.
    pub chars: u32,
    /// Normalised code points inside at least one hit window.
    pub covered: u32,
    /// Longest chain (hits `window` apart) in normalised code points: hits x window.
    pub longest_chain: u32,
    /// The longest chain as original code-point offsets [start, end); (0, 0) when there is none.
    pub chain_span: (u32, u32),
    /// Maximal covered runs as original code-point offsets [start, end).
    pub spans: Vec<(u32, u32)>,
}

/// Summarise hit positions (window starts in normalised code points, any order) of `text`.
pub fn summarise(text: &str, window: usize, positions: &[u32]) -> Result<Summary> {
    let norm = Normalised::new(text, false);
    let n = norm.chars();
    let mut pos: Vec<usize> = positions.iter().map(|&p| p as usize).collect();
    pos.sort_unstable();
    pos.dedup();
    if let Some(&p) = pos.last() {
        if p + window > n {
            return Err(CoreError::InvalidInput(format!(
                "hit position {p} + window {window} is past the text's {n} normalised characters"
            )));
        }
    }
    Ok(summarise_sorted(&norm, text, window, &pos))
}

/// [`summarise`] of ascending, distinct positions that all fit in `norm` (the normalised `text`).
fn summarise_sorted(norm: &Normalised, text: &str, window: usize, pos: &[usize]) -> Summary {
    let mut s = Summary { chars: norm.chars() as u32, ..Summary::default() };
    // Union of [p, p + window), in normalised code points.
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &p in pos {
        match runs.last_mut() {
            Some((_, b)) if p <= *b => *b = (*b).max(p + window),
            _ => runs.push((p, p + window)),
        }
    }
    s.covered = runs.iter().map(|&(a, b)| (b - a) as u32).sum();
    // Chains: chain(p) = chain(p - window) + 1; `j` walks behind `i` to the position p - window.
    let mut chain = vec![0u32; pos.len()];
    let mut best = (0u32, 0usize);
    let mut j = 0;
    for (i, &p) in pos.iter().enumerate() {
        let c = if p >= window {
            let want = p - window;
            while pos[j] < want {
                j += 1;
            }
            if pos[j] == want {
                chain[j] + 1
            } else {
                1
            }
        } else {
            1
        };
        chain[i] = c;
        if c > best.0 {
            best = (c, p);
        }
    }
    if best.0 > 0 {
        let end = best.1 + window;
        runs.push((end - best.0 as usize * window, end));
    }
    // Map [a, b) to original code points [orig(a), orig(b - 1) + 1) with one walk of the text, and
    // only for texts with hits: most queries have none, and the others a handful of boundaries.
    let mut want: Vec<usize> = runs.iter().flat_map(|&(a, b)| [a, b - 1]).collect();
    want.sort_unstable();
    want.dedup();
    let orig = orig_of(text, &want);
    let map = |a: usize, b: usize| {
        let at = |x: usize| orig[want.binary_search(&x).expect("boundary was collected")];
        (at(a), at(b - 1) + 1)
    };
    if best.0 > 0 {
        let (a, b) = runs.pop().expect("chain pushed last");
        s.longest_chain = best.0 * window as u32;
        s.chain_span = map(a, b);
    }
    s.spans = runs.iter().map(|&(a, b)| map(a, b)).collect();
    s
}

/// Original code-point index of each normalised code-point index in `want` (ascending, in range).
fn orig_of(text: &str, want: &[usize]) -> Vec<u32> {
    let mut out = Vec::with_capacity(want.len());
    if want.is_empty() {
        return out;
    }
    let mut k = 0;
    let mut j = 0;
    let mut visit = |i: usize, kept: bool| {
        if kept {
            while k < want.len() && want[k] == j {
                out.push(i as u32);
                k += 1;
            }
            j += 1;
        }
        k < want.len()
    };
    if text.is_ascii() {
        for (i, &b) in text.as_bytes().iter().enumerate() {
            if !visit(i, !normalise::is_ascii_ws(b)) {
                break;
            }
        }
    } else {
        for (i, c) in text.chars().enumerate() {
            if !visit(i, !c.is_whitespace()) {
                break;
            }
        }
    }
    out
}

/// Which (query, document, position) hits are real: the query's window at `position` equals one
/// of the document's windows at `stride`. Texts are the raw query and document texts.
pub fn verify_batch(
    queries: &[&str],
    docs: &[&str],
    pairs: &[(u32, u32, u32)],
    window: usize,
    stride: usize,
) -> Result<Vec<bool>> {
    check_window(window, stride)?;
    for &(q, d, _) in pairs {
        if q as usize >= queries.len() || d as usize >= docs.len() {
            return Err(CoreError::InvalidInput(format!("verify pair ({q}, {d}) is out of range")));
        }
    }
    let nq: Vec<Normalised> = queries.par_iter().map(|q| Normalised::new(q, false)).collect();
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    order.sort_by_key(|&i| pairs[i].1);
    let groups: Vec<&[usize]> = order.chunk_by(|&a, &b| pairs[a].1 == pairs[b].1).collect();
    let results: Vec<Vec<(usize, bool)>> = groups
        .par_iter()
        .map(|g| {
            let doc = Normalised::new(docs[pairs[g[0]].1 as usize], false);
            let n = doc.chars();
            let mut set: HashSet<&[u8]> = HashSet::new();
            let mut i = 0;
            while i + window <= n {
                set.insert(doc.window(i, window));
                i += stride;
            }
            g.iter()
                .map(|&k| {
                    let (q, _, p) = pairs[k];
                    let qn = &nq[q as usize];
                    let p = p as usize;
                    let ok = p + window <= qn.chars() && set.contains(qn.window(p, window));
                    (k, ok)
                })
                .collect()
        })
        .collect();
    let mut out = vec![false; pairs.len()];
    for (k, ok) in results.into_iter().flatten() {
        out[k] = ok;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(docs: &[&str], window: usize) -> (BloomParams, Vec<u64>, Vec<u64>, Vec<u32>) {
        let texts: Vec<Option<&str>> = docs.iter().map(|d| Some(*d)).collect();
        let (f, d) = build_pairs(&texts, 0, window, window).unwrap();
        let (f, d, n) = finish_table(&f, &d).unwrap();
        let p = BloomParams::for_target(n, 1e-4).unwrap();
        let words = p.build(&distinct_sorted(&f)).unwrap();
        (p, words, f, d)
    }

    #[test]
    fn copied_passage_hits_with_its_source_and_chain() {
        let first = "def alpha(x):\n    return x * 2 + 1  # the first document, long enough\n".repeat(3);
        let second = "class Beta:\n    pass\n".repeat(10);
        let (params, words, fps, docs) = build(&[&first, &second], 10);
        let idx = IndexView { bloom: params, words: &words, table_fps: &fps, table_docs: &docs, window: 10 };
        let query = format!("zzz {}", first.replace("    ", "  "));
        let hits = query_batch(&idx, &[Some(&query)]).unwrap();
        let found = &hits[0];
        assert!(!found.hits.is_empty());
        for &(_, lo, hi) in &found.hits {
            assert!((lo..hi).any(|r| docs[r as usize] == 0));
        }
        let pos: Vec<u32> = found.hits.iter().map(|x| x.0).collect();
        let summary = summarise(&query, 10, &pos).unwrap();
        assert!(summary.longest_chain >= 100, "{summary:?}");
        assert!(summary.covered >= summary.longest_chain);
        let pairs: Vec<(u32, u32, u32)> = pos.iter().map(|&x| (0, 0, x)).collect();
        assert!(verify_batch(&[&query], &[&first], &pairs, 10, 10).unwrap().iter().all(|&x| x));
        assert!(!verify_batch(&[&query], &[&second], &pairs, 10, 10).unwrap().iter().any(|&x| x));
    }

    #[test]
    fn fused_attribution_equals_probe_then_summarise_then_count() {
        // Documents sharing a prefix, so its windows sit in every document and sources tie.
        let lines: Vec<String> = (0..40).map(|i| format!("let value_{i} = compute({i}, \"éà{}\");\n", i * 7)).collect();
        let docs: Vec<String> =
            (0..6).map(|d| format!("{}{}", lines[..8].concat(), lines[8 + d * 4..16 + d * 4].concat())).collect();
        let mut saw_common = false;
        let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
        let (params, words, fps, tdocs) = build(&refs, 12);
        let idx = IndexView { bloom: params, words: &words, table_fps: &fps, table_docs: &tdocs, window: 12 };
        let queries =
            [format!("x {}  y", docs[2].replace('\n', " ")), docs[0][5..].to_string(), "short".into(), String::new()];
        for (top, max_docs) in [(3, 64), (1, 2), (0, 64), (10, 1)] {
            for q in &queries {
                let fused = attribute_text(&idx, q, top, max_docs);
                let hits = query_text(&idx, q);
                let pos: Vec<u32> = hits.hits.iter().map(|h| h.0).collect();
                assert_eq!(fused.summary, summarise(q, 12, &pos).unwrap());
                assert_eq!(fused.bloom_hits, hits.bloom_hits);
                assert_eq!(fused.table_hits as usize, hits.hits.len());
                let mut count = std::collections::BTreeMap::<u32, u32>::new();
                let mut common = 0;
                for &(_, lo, hi) in &hits.hits {
                    common += u32::from(hi - lo > max_docs as u32);
                    for r in lo..hi.min(lo + max_docs as u32) {
                        *count.entry(tdocs[r as usize]).or_default() += 1;
                    }
                }
                let mut want: Vec<(u32, u32)> = count.into_iter().collect();
                want.sort_by_key(|&(d, c)| (std::cmp::Reverse(c), d));
                let more = if top == 0 { 0 } else { want.len().saturating_sub(top) as u32 };
                want.truncate(top);
                saw_common |= common > 0 && more > 0;
                assert_eq!((fused.sources, fused.more_sources, fused.common_windows), (want, more, common), "{q:?}");
            }
        }
        assert!(saw_common);
    }

    #[test]
    fn lookup_finds_every_run_and_nothing_else() {
        let mut fps: Vec<u64> = (0..5000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).collect();
        fps.extend([7, 7, 7, u64::MAX, u64::MAX, 0]);
        fps.sort_unstable();
        let docs = vec![0u32; fps.len()];
        let words = vec![0u64; 8];
        let idx = IndexView { bloom: BloomParams { blocks: 1, k: 1 }, words: &words, table_fps: &fps, table_docs: &docs, window: 8 };
        for probe in fps.iter().copied().chain([1, 8, u64::MAX - 1, 12_345_678_901]) {
            let lo = fps.partition_point(|&x| x < probe);
            let hi = fps.partition_point(|&x| x <= probe);
            assert_eq!(idx.lookup(probe), (lo, hi), "{probe}");
        }
    }

    #[test]
    fn summary_spans_map_to_original_offsets() {
        let s = summarise("ab cd ef gh", 2, &[0, 2]).unwrap();
        assert_eq!(s.chars, 8);
        assert_eq!(s.covered, 4);
        assert_eq!(s.spans, vec![(0, 5)]);
        assert_eq!(s.longest_chain, 4);
        assert!(summarise("abc", 2, &[2]).is_err());
    }
}
