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
        if n == 0 {
            return 0.0;
        }
        let lambda = n as f64 / self.blocks as f64;
        if lambda > 600.0 {
            return 1.0;
        }
        let miss = 1.0 - 1.0 / BLOCK_BITS as f64;
        let k = f64::from(self.k);
        // P(j items in the block) * P(all k probe bits set | j items), summed over j.
        let mut p = (-lambda).exp();
        let mut total = 0.0;
        let upper = (lambda + 20.0 * lambda.sqrt() + 40.0) as u64;
        for j in 0..=upper {
            let fill = 1.0 - miss.powf(k * j as f64);
            total += p * fill.powf(k);
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
        for k in 1..=24 {
            let (mut lo, mut hi) = (1u64, 1u64);
            while (BloomParams { blocks: hi, k }).expected_fpr(n) > fpr {
                lo = hi;
                hi = hi.saturating_mul(2);
                if hi > (1 << 40) {
                    return Err(CoreError::InvalidConfig(format!("cannot reach fpr={fpr} for {n} items")));
                }
            }
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if (BloomParams { blocks: mid, k }).expected_fpr(n) <= fpr {
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
        let mut h = splitmix(fp);
        let mut left = 7;
        for _ in 0..self.k {
            if left == 0 {
                h = splitmix(h);
                left = 7;
            }
            let bit = (h & (BLOCK_BITS - 1)) as usize;
            masks[bit >> 6] |= 1u64 << (bit & 63);
            h >>= 9;
            left -= 1;
        }
        (block, masks)
    }

    /// Whether `fp` may be in the filter `words` (no false negatives).
    #[inline]
    pub fn contains(&self, words: &[u64], fp: u64) -> bool {
        // The same bit sequence as `probe`, checked bit by bit so an absent item (the common case)
        // usually stops after one or two bits.
        let block = ((u128::from(fp) * u128::from(self.blocks)) >> 64) as usize;
        let b = &words[block * BLOCK_WORDS..(block + 1) * BLOCK_WORDS];
        let mut h = splitmix(fp);
        let mut left = 7;
        for _ in 0..self.k {
            if left == 0 {
                h = splitmix(h);
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
        assert!(rate < 1.5e-2 && rate > 0.5e-2, "rate {rate}");
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
