//! A blocked Bloom filter: all `k` bits of an item live in one 512-bit block (one cache line), so a
//! query costs one memory access however large the filter is (Putze, Sanders and Singler, "Cache-,
//! Hash- and Space-Efficient Bloom Filters", 2007).
//!
//! Blocking raises the false-positive rate over a classic filter of the same size because blocks
//! receive unequal numbers of items; [`BloomParams::expected_fpr`] accounts for that exactly (a
//! Poisson mixture over block loads), and [`BloomParams::for_target`] sizes the filter from it.

use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::error::{CoreError, Result};

/// Bits per block.
pub const BLOCK_BITS: u64 = 512;
/// 64-bit words per block.
pub const BLOCK_WORDS: usize = 8;

/// Size of a blocked Bloom filter: number of 512-bit blocks and bits set per item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BloomParams {
    pub blocks: u64,
    pub k: u32,
}

#[inline]
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl BloomParams {
    /// Check the parameters describe a usable filter.
    pub fn validate(&self) -> Result<()> {
        if self.blocks == 0 || self.k == 0 || self.k > 32 {
            return Err(CoreError::InvalidConfig(format!(
                "Bloom filter needs blocks >= 1 and 1 <= k <= 32, got blocks={} k={}",
                self.blocks, self.k
            )));
        }
        Ok(())
    }

    /// Number of u64 words of the filter.
    pub fn words(&self) -> usize {
        self.blocks as usize * BLOCK_WORDS
    }

    /// False-positive rate after inserting `n` distinct items.
    pub fn expected_fpr(&self, n: u64) -> f64 {
        self.fpr_with(&block_fpr_table(self.k), n)
    }

    /// The rate for `n` items given `table[j]` = P(false positive | the probed block holds j items).
    fn fpr_with(&self, table: &[f64], n: u64) -> f64 {
        if n == 0 {
            return 0.0;
        }
        let lambda = n as f64 / self.blocks as f64;
        let upper = (lambda + 20.0 * lambda.sqrt() + 40.0) as usize;
        if upper >= table.len() {
            return 1.0;
        }
        // Block loads are Poisson(lambda); sum P(j items) * P(false positive | j items).
        let mut p = (-lambda).exp();
        let mut total = 0.0;
        for (j, f) in table.iter().enumerate().take(upper + 1) {
            total += p * f;
            p *= lambda / (j + 1) as f64;
        }
        total.min(1.0)
    }

    /// The smallest filter (then the smallest k) whose expected rate for `n` items is at most `fpr`.
    pub fn for_target(n: u64, fpr: f64) -> Result<Self> {
        if !(fpr > 0.0 && fpr < 0.5) {
            return Err(CoreError::InvalidConfig(format!("false-positive rate must be in (0, 0.5), got {fpr}")));
        }
        let n = n.max(1);
        let mut best: Option<BloomParams> = None;
        for k in 1..=16 {
            let table = block_fpr_table(k);
            let rate = |blocks: u64| (BloomParams { blocks, k }).fpr_with(&table, n);
            let (mut lo, mut hi) = (1u64, 1u64);
            while rate(hi) > fpr {
                lo = hi;
                hi = hi.saturating_mul(2);
                if hi > (1 << 40) {
                    return Err(CoreError::InvalidConfig(format!("cannot reach fpr={fpr} for {n} items")));
                }
            }
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if rate(mid) <= fpr {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            if best.is_none_or(|b| hi < b.blocks) {
                best = Some(BloomParams { blocks: hi, k });
            }
        }
        Ok(best.expect("k loop runs at least once"))
    }

    /// Block index and the eight word masks of `fp`.
    #[inline]
    fn probe(&self, fp: u64) -> (usize, [u64; BLOCK_WORDS]) {
        // Lemire's multiply-shift range reduction on the high bits; the in-block bits come from a
        // remixed value so they are independent of the block choice.
        let block = ((u128::from(fp) * u128::from(self.blocks)) >> 64) as usize;
        let mut masks = [0u64; BLOCK_WORDS];
        let mut seed = splitmix(fp);
        let mut h = seed;
        let mut left = 7;
        for _ in 0..self.k {
            if left == 0 {
                // Seven 9-bit fields used up: remix the full 64-bit seed, never the shifted rest.
                seed = splitmix(seed);
                h = seed;
                left = 7;
            }
            let bit = (h & (BLOCK_BITS - 1)) as usize;
            masks[bit >> 6] |= 1u64 << (bit & 63);
            h >>= 9;
            left -= 1;
        }
        (block, masks)
    }

    /// Ask the CPU to start loading `fp`'s block, so a batch of probes overlaps its cache misses.
    #[inline]
    pub fn prefetch(&self, words: &[u64], fp: u64) {
        let block = ((u128::from(fp) * u128::from(self.blocks)) >> 64) as usize;
        #[cfg(target_arch = "x86_64")]
        if let Some(w) = words.get(block * BLOCK_WORDS) {
            // SAFETY: prefetching is a hint that never faults; the pointer comes from a live slice.
            unsafe {
                std::arch::x86_64::_mm_prefetch(std::ptr::from_ref(w).cast::<i8>(), std::arch::x86_64::_MM_HINT_T0);
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (words, block);
    }

    /// Whether `fp` may be in the filter `words` (no false negatives).
    #[inline]
    pub fn contains(&self, words: &[u64], fp: u64) -> bool {
        // The same bit sequence as `probe`, checked bit by bit so an absent item (the common case)
        // usually stops after one or two bits.
        let block = ((u128::from(fp) * u128::from(self.blocks)) >> 64) as usize;
        let b = &words[block * BLOCK_WORDS..(block + 1) * BLOCK_WORDS];
        let mut seed = splitmix(fp);
        let mut h = seed;
        let mut left = 7;
        for _ in 0..self.k {
            if left == 0 {
                seed = splitmix(seed);
                h = seed;
                left = 7;
            }
            let bit = (h & (BLOCK_BITS - 1)) as usize;
            if b[bit >> 6] & (1u64 << (bit & 63)) == 0 {
                return false;
            }
            h >>= 9;
            left -= 1;
        }
        true
    }

    /// Build the filter holding `fps` (in parallel; the result does not depend on order or threads).
    pub fn build(&self, fps: &[u64]) -> Result<Vec<u64>> {
        self.validate()?;
        let words: Vec<AtomicU64> = (0..self.words()).map(|_| AtomicU64::new(0)).collect();
        fps.par_iter().with_min_len(4096).for_each(|&fp| {
            let (block, masks) = self.probe(fp);
            for (w, m) in masks.iter().enumerate() {
                if *m != 0 {
                    words[block * BLOCK_WORDS + w].fetch_or(*m, Ordering::Relaxed);
                }
            }
        });
        Ok(words.into_iter().map(AtomicU64::into_inner).collect())
    }

    /// Check that `words` has the length these parameters imply.
    pub fn check_words(&self, words: &[u64]) -> Result<()> {
        self.validate()?;
        if words.len() != self.words() {
            return Err(CoreError::InvalidInput(format!(
                "Bloom filter has {} words, its parameters need {}",
                words.len(),
                self.words()
            )));
        }
        Ok(())
    }
}

/// Largest block load the rate model covers (a mean load near it means a uselessly full filter).
const MAX_LOAD: usize = 400;

/// `table[j]` = probability that `k` probe bits all hit set bits of a 512-bit block holding `j`
/// items, i.e. E[(X/512)^k] with X the number of distinct bits set by `k * j` uniform draws.
/// Exact (an occupancy distribution, not the `(1 - e^(-kj/m))^k` approximation, which
/// underestimates the rate of small blocks).
fn block_fpr_table(k: u32) -> Vec<f64> {
    let m = BLOCK_BITS as usize;
    let mut dist = vec![0.0f64; m + 1];
    dist[0] = 1.0;
    let powk: Vec<f64> = (0..=m).map(|x| (x as f64 / m as f64).powi(k as i32)).collect();
    let mut table = Vec::with_capacity(MAX_LOAD + 1);
    for j in 0..=MAX_LOAD {
        if j > 0 {
            for _ in 0..k {
                // One more draw: it lands on a set bit with probability x/m.
                for x in (0..=m).rev() {
                    let stay = dist[x] * x as f64 / m as f64;
                    let grow = if x > 0 { dist[x - 1] * (m - x + 1) as f64 / m as f64 } else { 0.0 };
                    dist[x] = stay + grow;
                }
            }
        }
        table.push(dist.iter().zip(&powk).map(|(p, q)| p * q).sum());
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_rate_near_expected() {
        let n = 20_000u64;
        let p = BloomParams::for_target(n, 1e-2).unwrap();
        let fps: Vec<u64> = (0..n).map(|i| splitmix(i ^ 0xabc)).collect();
        let words = p.build(&fps).unwrap();
        assert!(fps.iter().all(|&f| p.contains(&words, f)));
        let trials = 200_000u64;
        let fp_count = (0..trials).filter(|&i| p.contains(&words, splitmix(i + (1 << 40)))).count();
        let rate = fp_count as f64 / trials as f64;
        let expected = p.expected_fpr(n);
        assert!((rate - expected).abs() < 0.1 * expected, "rate {rate} vs expected {expected}");
    }

    #[test]
    fn rate_matches_the_model_when_k_needs_a_second_mix() {
        let n = 50_000u64;
        let p = BloomParams::for_target(n, 1e-3).unwrap();
        assert!(p.k > 7, "{p:?}");
        let fps: Vec<u64> = (0..n).map(|i| splitmix(i ^ 0x5eed)).collect();
        let words = p.build(&fps).unwrap();
        let trials = 2_000_000u64;
        let hits = (0..trials).filter(|&i| p.contains(&words, splitmix(i + (1 << 41)))).count();
        let rate = hits as f64 / trials as f64;
        let expected = p.expected_fpr(n);
        assert!((rate - expected).abs() < 0.15 * expected, "rate {rate} vs expected {expected}");
    }

    #[test]
    fn sizing_meets_target_and_rejects_bad_rates() {
        let p = BloomParams::for_target(1_000_000, 1e-3).unwrap();
        assert!(p.expected_fpr(1_000_000) <= 1e-3);
        let smaller = BloomParams { blocks: p.blocks - 1, k: p.k };
        assert!(smaller.expected_fpr(1_000_000) > 1e-3);
        assert!(BloomParams::for_target(10, 0.0).is_err());
        assert!(BloomParams::for_target(10, 0.7).is_err());
    }
}
