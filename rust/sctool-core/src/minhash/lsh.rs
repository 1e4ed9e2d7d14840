//! Locality-sensitive hashing over MinHash signatures: banding and the choice of bands × rows.
//!
//! A signature of `b·r` slots is cut into `b` bands of `r` rows; two documents become candidates
//! when any band is identical, which happens with probability `1 − (1 − s^r)^b` at Jaccard `s`
//! (Leskovec, Rajaraman & Ullman, *Mining of Massive Datasets*, §3.4). [`optimal_param`] picks
//! `(b, r)` the way datasketch's `MinHashLSH` (and so BigCode) does: minimise the equally weighted
//! false-positive area below the threshold plus the false-negative area above it. For threshold
//! 0.7 and 256 permutations that is 25 bands × 10 rows, StarCoder's setting.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::error::{CoreError, Result};

fn adaptive_simpson(f: &dyn Fn(f64) -> f64, a: f64, b: f64, eps: f64) -> f64 {
    fn simpson(f: &dyn Fn(f64) -> f64, a: f64, fa: f64, b: f64, fb: f64) -> (f64, f64, f64) {
        let m = 0.5 * (a + b);
        let fm = f(m);
        (m, fm, (b - a) / 6.0 * (fa + 4.0 * fm + fb))
    }
    #[allow(clippy::too_many_arguments)]
    fn rec(
        f: &dyn Fn(f64) -> f64,
        a: f64,
        fa: f64,
        b: f64,
        fb: f64,
        eps: f64,
        whole: f64,
        m: f64,
        fm: f64,
        depth: u32,
    ) -> f64 {
        let (lm, flm, left) = simpson(f, a, fa, m, fm);
        let (rm, frm, right) = simpson(f, m, fm, b, fb);
        let delta = left + right - whole;
        if depth == 0 || delta.abs() <= 15.0 * eps {
            return left + right + delta / 15.0;
        }
        rec(f, a, fa, m, fm, eps / 2.0, left, lm, flm, depth - 1)
            + rec(f, m, fm, b, fb, eps / 2.0, right, rm, frm, depth - 1)
    }
    let (fa, fb) = (f(a), f(b));
    let (m, fm, whole) = simpson(f, a, fa, b, fb);
    rec(f, a, fa, b, fb, eps, whole, m, fm, 48)
}

/// Probability that a pair at Jaccard `s` shares at least one of `bands` bands of `rows` rows.
pub fn candidate_probability(s: f64, bands: usize, rows: usize) -> f64 {
    1.0 - (1.0 - s.powi(rows as i32)).powi(bands as i32)
}

/// datasketch's `_optimal_param(threshold, num_perm, 0.5, 0.5)`: the `(bands, rows)` with
/// `bands·rows ≤ num_perm` minimising the weighted false-positive + false-negative areas.
pub fn optimal_param(threshold: f64, num_perm: usize) -> Result<(usize, usize)> {
    if !(threshold > 0.0 && threshold < 1.0) {
        return Err(CoreError::InvalidConfig(format!(
            "threshold must be strictly between 0 and 1, got {threshold}"
        )));
    }
    if num_perm == 0 {
        return Err(CoreError::InvalidConfig("num_perm must be positive".into()));
    }
    let mut best = (f64::INFINITY, (0, 0));
    for b in 1..=num_perm {
        for r in 1..=num_perm / b {
            let fp = adaptive_simpson(&|s| candidate_probability(s, b, r), 0.0, threshold, 1e-12);
            let fn_ = adaptive_simpson(&|s| 1.0 - candidate_probability(s, b, r), threshold, 1.0, 1e-12);
            let err = 0.5 * fp + 0.5 * fn_;
            if err < best.0 {
                best = (err, (b, r));
            }
        }
    }
    Ok(best.1)
}

/// Check an explicit banding against the signature length.
pub fn check_bands(bands: usize, rows: usize, num_perm: usize) -> Result<()> {
    if bands == 0 || rows == 0 || bands * rows > num_perm {
        return Err(CoreError::InvalidConfig(format!(
            "bands × rows must be between 1 and num_perm ({num_perm}); got {bands} × {rows}"
        )));
    }
    if bands > usize::from(u16::MAX) {
        return Err(CoreError::InvalidConfig(format!("at most 65535 bands, got {bands}")));
    }
    Ok(())
}

/// The key of band `band` of a signature: XXH3-64 of the band's slots (little-endian), seeded by
/// the band number so equal slot values in different bands never collide by construction.
/// Equal keys mean equal bands except with probability 2^-64 per pair of bands.
#[inline]
pub fn band_key(sig: &[u32], band: usize, rows: usize, buf: &mut Vec<u8>) -> u64 {
    buf.clear();
    for &v in &sig[band * rows..(band + 1) * rows] {
        buf.extend_from_slice(&v.to_le_bytes());
    }
    xxh3_64_with_seed(buf, band as u64)
}

/// The band-keys step: for every document of a batch with at least one shingle, one record
/// `(band key, node)` per band, documents in order and bands in order within a document. `node` is
/// `base + i` for the batch's `i`-th document (a global position in process, `batch << 32 | row`
/// on a cluster). `sigs` holds `counts.len()` rows of `num_perm` slots.
pub fn band_records(
    sigs: &[u32],
    counts: &[u32],
    num_perm: usize,
    bands: usize,
    rows: usize,
    base: u64,
) -> Result<(Vec<u64>, Vec<u64>)> {
    use rayon::prelude::*;
    check_bands(bands, rows, num_perm)?;
    if sigs.len() != counts.len() * num_perm {
        return Err(CoreError::InvalidInput(format!(
            "{} signature slots for {} documents of {num_perm} permutations",
            sigs.len(),
            counts.len()
        )));
    }
    let per_doc: Vec<Vec<u64>> = sigs
        .par_chunks(num_perm.max(1))
        .zip(counts.par_iter())
        .map_init(Vec::new, |buf, (sig, &count)| {
            if count == 0 {
                Vec::new()
            } else {
                (0..bands).map(|b| band_key(sig, b, rows, buf)).collect()
            }
        })
        .collect();
    let total: usize = per_doc.iter().map(Vec::len).sum();
    let (mut keys, mut nodes) = (Vec::with_capacity(total), Vec::with_capacity(total));
    for (i, doc_keys) in per_doc.iter().enumerate() {
        keys.extend_from_slice(doc_keys);
        nodes.extend(std::iter::repeat_n(base + i as u64, doc_keys.len()));
    }
    Ok((keys, nodes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starcoder_banding() {
        assert_eq!(optimal_param(0.7, 256).unwrap(), (25, 10));
    }

    #[test]
    fn rejects_bad_params() {
        assert!(optimal_param(1.0, 256).is_err());
        assert!(optimal_param(0.5, 0).is_err());
        assert!(check_bands(30, 10, 256).is_err());
        assert!(check_bands(25, 10, 256).is_ok());
    }

    #[test]
    fn band_keys_differ_per_band() {
        let sig = [7u32; 20];
        let mut buf = Vec::new();
        assert_ne!(band_key(&sig, 0, 10, &mut buf), band_key(&sig, 1, 10, &mut buf));
    }

    #[test]
    fn band_records_skip_empty_documents_and_number_from_base() {
        let mut sigs = vec![0u32; 3 * 8];
        for (i, v) in sigs.iter_mut().enumerate() {
            *v = i as u32 % 5;
        }
        let (keys, nodes) = band_records(&sigs, &[2, 0, 1], 8, 4, 2, 100).unwrap();
        assert_eq!(nodes, vec![100, 100, 100, 100, 102, 102, 102, 102]);
        let mut buf = Vec::new();
        assert_eq!(keys[5], band_key(&sigs[16..24], 1, 2, &mut buf));
        assert!(band_records(&sigs, &[1, 1], 8, 4, 2, 0).is_err());
    }
}
