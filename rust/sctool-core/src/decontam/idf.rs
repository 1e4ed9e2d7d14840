//! How common each n-gram is in real code: the weights that keep idioms from deciding a match.
//!
//! `for i in range(len(x))`, `d.setdefault(k, []).append(v)` or a nested pair loop occur in
//! thousands of unrelated files, so a benchmark solution built from them shares n-grams with clean
//! code. Each n-gram is therefore weighed by its document frequency `df` in a reference corpus of
//! real code (inverse document frequency, Sparck Jones 1972): an n-gram seen in at most
//! [`IdfTable::rare_df`] files weighs 1, a more common one `sqrt(rare_df / df)`, so an idiom in a
//! thousand files weighs a few hundredths. The table keeps only the common n-grams (what is absent
//! is rare) as 32-bit fingerprints of the n-gram hashes with their saturated `df`: small enough to
//! ship as package data.
//!
//! The table has a third channel, `defs`: how many files define a function with a given name and
//! parameter names ([`super::anchor`]), so a signature anchor is not built on `def gcd(a, b)`.
//!
//! Binary format `SCIDF002` (little-endian): magic, u32 code n, u32 prose n, u64 files, u32
//! rare_df, u32 reserved, then per channel (code, prose, defs) a u64 count, a u64 byte length and
//! that many bytes of LEB128 gaps between the sorted u32 fingerprints (the first from 0), then
//! `count` one-byte frequency codes (exact below 64, then steps of 5 %: [`df_code`]). Sorted
//! fingerprints of a few hundred thousand n-grams are about 14 bits apart, so a gap costs two
//! bytes where the fingerprint cost four. `SCIDF001` (raw u32 keys, u16 frequencies, no `defs`)
//! is still read.

use std::collections::HashMap;

use super::tokens::{self, IdHash};
use crate::{CoreError, Result};

const MAGIC_V1: &[u8; 8] = b"SCIDF001";
const MAGIC: &[u8; 8] = b"SCIDF002";

/// One-byte code of a document frequency: exact below 64, then a 5 % geometric scale.
pub fn df_code(df: u32) -> u8 {
    if df < 64 {
        return df as u8;
    }
    let q = 64.0 + (f64::from(df) / 64.0).ln() / 1.05f64.ln();
    q.round().min(255.0) as u8
}

/// The document frequency a [`df_code`] stands for.
pub fn df_decode(q: u8) -> u32 {
    if q < 64 {
        return u32::from(q);
    }
    (64.0 * 1.05f64.powi(i32::from(q) - 64)).round() as u32
}

/// Fingerprint of an n-gram hash kept in the table.
#[inline]
fn fp(h: u64) -> u32 {
    (h >> 32) as u32
}

/// Document frequencies of common n-grams, per channel.
#[derive(Debug, Clone, Default)]
pub struct IdfTable {
    pub code_ngram: usize,
    pub prose_ngram: usize,
    /// Files of the corpus the table was built from.
    pub files: u64,
    /// Files an n-gram may occur in and still weigh 1 (the table holds only more common ones).
    pub rare_df: u32,
    code: (Vec<u32>, Vec<u32>),
    prose: (Vec<u32>, Vec<u32>),
    defs: (Vec<u32>, Vec<u32>),
}

impl IdfTable {
    /// Document frequency of an n-gram hash of the code (`code = true`) or prose channel; 0 when
    /// it is not in the table (rare).
    pub fn df(&self, code: bool, h: u64) -> u32 {
        let (keys, dfs) = if code { &self.code } else { &self.prose };
        keys.binary_search(&fp(h)).map_or(0, |i| dfs[i])
    }

    /// Files defining a function with this signature key ([`super::anchor::DefHeader::key`]).
    pub fn def_df(&self, key: u64) -> u32 {
        let (keys, dfs) = &self.defs;
        keys.binary_search(&fp(key)).map_or(0, |i| dfs[i])
    }

    /// Entries of the `defs` channel.
    pub fn defs_len(&self) -> usize {
        self.defs.0.len()
    }

    /// Weight of an n-gram: 1 when rare, `sqrt(rare_df / df)` otherwise.
    pub fn weight(&self, code: bool, h: u64) -> f64 {
        let df = self.df(code, h);
        if df <= self.rare_df {
            1.0
        } else {
            (f64::from(self.rare_df.max(1)) / f64::from(df)).sqrt()
        }
    }

    /// Entries per channel (code, prose).
    pub fn len(&self) -> (usize, usize) {
        (self.code.0.len(), self.prose.0.len())
    }

    pub fn is_empty(&self) -> bool {
        self.code.0.is_empty() && self.prose.0.is_empty()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.code_ngram as u32).to_le_bytes());
        out.extend_from_slice(&(self.prose_ngram as u32).to_le_bytes());
        out.extend_from_slice(&self.files.to_le_bytes());
        out.extend_from_slice(&self.rare_df.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for (keys, dfs) in [&self.code, &self.prose, &self.defs] {
            let mut gaps = Vec::with_capacity(keys.len() * 2);
            let mut prev = 0u32;
            for &k in keys {
                let mut g = k - prev;
                prev = k;
                loop {
                    let byte = (g & 0x7f) as u8;
                    g >>= 7;
                    if g == 0 {
                        gaps.push(byte);
                        break;
                    }
                    gaps.push(byte | 0x80);
                }
            }
            out.extend_from_slice(&(keys.len() as u64).to_le_bytes());
            out.extend_from_slice(&(gaps.len() as u64).to_le_bytes());
            out.extend_from_slice(&gaps);
            out.extend(dfs.iter().map(|&d| df_code(d)));
        }
        out
    }

    #[allow(clippy::many_single_char_names)]
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let bad = |why: &str| CoreError::InvalidConfig(format!("not an sctool IDF table: {why}"));
        if b.len() < 32 || (&b[..8] != MAGIC && &b[..8] != MAGIC_V1) {
            return Err(bad("wrong magic bytes (expected SCIDF002 or SCIDF001)"));
        }
        let v1 = &b[..8] == MAGIC_V1;
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        let mut t = IdfTable {
            code_ngram: u32_at(8) as usize,
            prose_ngram: u32_at(12) as usize,
            files: u64_at(16),
            rare_df: u32_at(24),
            ..IdfTable::default()
        };
        let mut o = 32;
        for ch in 0..if v1 { 2 } else { 3 } {
            if o + 8 > b.len() {
                return Err(bad("truncated"));
            }
            let n = usize::try_from(u64_at(o)).map_err(|_| bad("count too large"))?;
            o += 8;
            let (keys, dfs) = if v1 {
                let need = n.checked_mul(6).ok_or_else(|| bad("count too large"))?;
                if o + need > b.len() {
                    return Err(bad("truncated"));
                }
                let keys: Vec<u32> = (0..n).map(|i| u32_at(o + 4 * i)).collect();
                o += 4 * n;
                let dfs: Vec<u32> = (0..n)
                    .map(|i| u32::from(u16::from_le_bytes([b[o + 2 * i], b[o + 2 * i + 1]])))
                    .collect();
                o += 2 * n;
                if keys.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(bad("keys not sorted"));
                }
                (keys, dfs)
            } else {
                if o + 8 > b.len() {
                    return Err(bad("truncated"));
                }
                let len = usize::try_from(u64_at(o)).map_err(|_| bad("length too large"))?;
                o += 8;
                let end = o.checked_add(len).ok_or_else(|| bad("length too large"))?;
                if end > b.len() || n > len {
                    return Err(bad("truncated"));
                }
                let mut keys = Vec::with_capacity(n);
                let (mut k, mut g, mut shift) = (0u64, 0u64, 0u32);
                for &byte in &b[o..end] {
                    if shift > 28 {
                        return Err(bad("bad key gap"));
                    }
                    g |= u64::from(byte & 0x7f) << shift;
                    shift += 7;
                    if byte & 0x80 == 0 {
                        if g == 0 && !keys.is_empty() {
                            return Err(bad("keys not sorted"));
                        }
                        k += g;
                        if k > u64::from(u32::MAX) {
                            return Err(bad("bad key gap"));
                        }
                        keys.push(k as u32);
                        g = 0;
                        shift = 0;
                    }
                }
                if keys.len() != n || shift != 0 {
                    return Err(bad("key count does not match"));
                }
                o = end;
                if o + n > b.len() {
                    return Err(bad("truncated"));
                }
                let dfs = b[o..o + n].iter().map(|&q| df_decode(q)).collect();
                o += n;
                (keys, dfs)
            };
            match ch {
                0 => t.code = (keys, dfs),
                1 => t.prose = (keys, dfs),
                _ => t.defs = (keys, dfs),
            }
        }
        if o != b.len() {
            return Err(bad("trailing bytes"));
        }
        Ok(t)
    }
}

/// Counts document frequencies over a corpus, batch by batch.
pub struct IdfBuilder {
    code_ngram: usize,
    prose_ngram: usize,
    files: u64,
    code: HashMap<u32, u32, IdHash>,
    prose: HashMap<u32, u32, IdHash>,
    defs: HashMap<u32, u32, IdHash>,
}

type Fingerprints = (Vec<u32>, Vec<u32>, Vec<u32>);

/// Distinct n-gram fingerprints of one document, per channel (code, prose, defs).
fn doc_fingerprints(text: &str, code_n: usize, prose_n: usize) -> Fingerprints {
    let mut ptoks = Vec::new();
    let mut ctoks = Vec::new();
    let mut p = Vec::new();
    let mut c = Vec::new();
    tokens::prose_tokens(text, &mut ptoks);
    tokens::prose_ngrams(&ptoks, prose_n, |h| p.push(fp(h)));
    tokens::code_tokens(text, &mut ctoks, code_n - 1);
    tokens::code_ngrams(&ctoks, code_n, |h| c.push(fp(h)));
    let mut d = Vec::new();
    super::anchor::def_headers(text, |h| d.push(fp(h.key)));
    for v in [&mut c, &mut p, &mut d] {
        v.sort_unstable();
        v.dedup();
    }
    (c, p, d)
}

impl IdfBuilder {
    pub fn new(code_ngram: usize, prose_ngram: usize) -> Result<Self> {
        if code_ngram == 0 || prose_ngram == 0 {
            return Err(CoreError::InvalidConfig(
                "n-gram sizes must be at least 1".into(),
            ));
        }
        Ok(IdfBuilder {
            code_ngram,
            prose_ngram,
            files: 0,
            code: HashMap::default(),
            prose: HashMap::default(),
            defs: HashMap::default(),
        })
    }

    /// Count the documents of a batch (tokenised in parallel; null documents are skipped).
    pub fn add(&mut self, texts: &[Option<&str>]) {
        use rayon::prelude::*;
        let per_doc: Vec<Fingerprints> = texts
            .par_iter()
            .filter_map(|t| t.map(|t| doc_fingerprints(t, self.code_ngram, self.prose_ngram)))
            .collect();
        for (c, p, d) in per_doc {
            self.files += 1;
            for k in d {
                *self.defs.entry(k).or_insert(0) += 1;
            }
            for k in c {
                *self.code.entry(k).or_insert(0) += 1;
            }
            for k in p {
                *self.prose.entry(k).or_insert(0) += 1;
            }
        }
    }

    pub fn files(&self) -> u64 {
        self.files
    }

    /// The table of n-grams seen in more than `rare_df` files.
    pub fn finish(&self, rare_df: u32) -> IdfTable {
        let pick = |m: &HashMap<u32, u32, IdHash>| {
            let mut v: Vec<(u32, u32)> = m
                .iter()
                .filter(|(_, &d)| d > rare_df)
                .map(|(&k, &d)| (k, df_decode(df_code(d))))
                .collect();
            v.sort_unstable();
            v.into_iter().unzip()
        };
        IdfTable {
            code_ngram: self.code_ngram,
            prose_ngram: self.prose_ngram,
            files: self.files,
            rare_df,
            code: pick(&self.code),
            prose: pick(&self.prose),
            defs: pick(&self.defs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_codes_are_monotone_and_close() {
        let mut last = 0;
        for df in 0..70_000u32 {
            let q = df_code(df);
            assert!(q >= last);
            last = q;
            let back = f64::from(df_decode(q));
            assert!(
                (back - f64::from(df)).abs() <= 0.03 * f64::from(df) + 0.5,
                "{df} -> {back}"
            );
        }
    }

    #[test]
    fn common_ngrams_weigh_less_and_round_trip() {
        let idiom = "for i in range(len(xs)):\n    for j in range(i + 1, len(xs)):\n        total += xs[i] * xs[j]\n";
        let mut b = IdfBuilder::new(12, 8).unwrap();
        let docs: Vec<String> = (0..20)
            .map(|k| format!("def f{k}(xs):\n    total = {k}\n{idiom}    return total\n"))
            .collect();
        let mut refs: Vec<Option<&str>> = docs.iter().map(|d| Some(d.as_str())).collect();
        refs.push(Some(
            "def rare(q):\n    return sorted(q, key=lambda z: (z % 7, -z))[::3]\n",
        ));
        refs.push(None);
        b.add(&refs);
        assert_eq!(b.files(), 21);
        let t = b.finish(2);
        let mut toks = Vec::new();
        tokens::code_tokens(idiom, &mut toks, 11);
        let mut common = Vec::new();
        tokens::code_ngrams(&toks, 12, |h| common.push(h));
        assert!(common.iter().all(|&h| t.df(true, h) == 20));
        assert!(common
            .iter()
            .all(|&h| (t.weight(true, h) - (2.0f64 / 20.0).sqrt()).abs() < 1e-9));
        tokens::code_tokens(
            "return sorted(q, key=lambda z: (z % 7, -z))[::3]",
            &mut toks,
            11,
        );
        let mut rare = Vec::new();
        tokens::code_ngrams(&toks, 12, |h| rare.push(h));
        assert!(rare
            .iter()
            .all(|&h| (t.weight(true, h) - 1.0).abs() < f64::EPSILON));
        let back = IdfTable::from_bytes(&t.to_bytes()).unwrap();
        assert_eq!(back.len(), t.len());
        assert_eq!(back.df(true, common[0]), 20);
        assert!(IdfTable::from_bytes(b"junk").is_err());
        // The def signature of the twenty copies is counted in its own channel.
        let mut key = 0;
        super::super::anchor::def_headers(&docs[0], |h| key = h.key);
        assert_eq!(back.def_df(key), 0, "f0..f19 are twenty distinct names");
        let mut b2 = IdfBuilder::new(12, 8).unwrap();
        let same: Vec<Option<&str>> = (0..5)
            .map(|_| Some("def find_max(xs, k):\n    pass\n"))
            .collect();
        b2.add(&same);
        let t2 = IdfTable::from_bytes(&b2.finish(2).to_bytes()).unwrap();
        super::super::anchor::def_headers("def find_max(xs, k):", |h| key = h.key);
        assert_eq!(t2.def_df(key), 5);
        assert_eq!(t2.defs_len(), 1);
        let mut cut = t.to_bytes();
        cut.pop();
        assert!(IdfTable::from_bytes(&cut).is_err());
    }
}
