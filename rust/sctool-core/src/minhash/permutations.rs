//! The MinHash permutation parameters `(a_i, b_i)`, bit-identical to datasketch and BigCode.
//!
//! Both draw them with `numpy.random.RandomState(seed)` as
//! `[(randint(1, P), randint(0, P)) for _ in range(num_perm)]` with `P = 2^61 - 1` and
//! `dtype=uint64`. Reproducing that stream here (MT19937 seeded by `init_genrand`, 64-bit draws as
//! two 32-bit outputs high word first, numpy's masked rejection sampling) makes a signature from
//! sctool equal, value for value, to one from the StarCoder pipeline with the same seed — which is
//! what lets users mix sctool with existing datasketch indexes and what the parity tests check.

// Kernels are written as fixed-width lane loops that must inline into the `target_feature`
// wrappers to be vectorised, and they follow the papers' one-letter names (a, b, h, w).
#![allow(clippy::inline_always, clippy::many_single_char_names)]

/// The Mersenne prime `2^61 - 1` of the classic universal-hash permutation.
pub const MERSENNE_PRIME: u64 = (1 << 61) - 1;
/// Permuted values are truncated to 32 bits (`& (2^32 - 1)`), as in datasketch's legacy scheme.
pub const MAX_HASH: u64 = (1 << 32) - 1;

const N: usize = 624;
const M: usize = 397;

/// The 32-bit Mersenne Twister exactly as numpy's legacy `RandomState` runs it.
pub struct Mt19937 {
    state: [u32; N],
    pos: usize,
}

impl Mt19937 {
    /// `RandomState(seed)` for an integer seed: Matsumoto–Nishimura `init_genrand`.
    pub fn new(seed: u32) -> Self {
        let mut state = [0u32; N];
        state[0] = seed;
        for i in 1..N {
            let prev = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { state, pos: N }
    }

    fn twist(&mut self) {
        for i in 0..N {
            let y = (self.state[i] & 0x8000_0000) | (self.state[(i + 1) % N] & 0x7fff_ffff);
            let mut next = self.state[(i + M) % N] ^ (y >> 1);
            if y & 1 != 0 {
                next ^= 0x9908_b0df;
            }
            self.state[i] = next;
        }
        self.pos = 0;
    }

    /// Next 32-bit output (tempered).
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= N {
            self.twist();
        }
        let mut y = self.state[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// numpy's `mt19937_next64`: the first 32-bit draw is the high word.
    pub fn next_u64(&mut self) -> u64 {
        let hi = u64::from(self.next_u32());
        let lo = u64::from(self.next_u32());
        (hi << 32) | lo
    }

    /// `randint(low, high, dtype=uint64)` for a range wider than 32 bits (numpy's masked
    /// rejection: draw 64 bits, keep the bits under the smallest all-ones mask ≥ range, retry
    /// until the value is within range).
    pub fn randint_u64(&mut self, low: u64, high: u64) -> u64 {
        debug_assert!(high - low - 1 > u64::from(u32::MAX));
        let rng = high - low - 1;
        let mask = u64::MAX >> rng.leading_zeros();
        loop {
            let v = self.next_u64() & mask;
            if v <= rng {
                return low + v;
            }
        }
    }
}

/// The `(a, b)` parameters of `num_perm` permutations, as two parallel arrays (the layout the
/// signature kernel vectorises over).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permutations {
    pub a: Vec<u64>,
    pub b: Vec<u64>,
}

impl Permutations {
    /// The permutations datasketch's `MinHash(num_perm, seed)` and BigCode's script use.
    pub fn new(num_perm: usize, seed: u32) -> Self {
        let mut mt = Mt19937::new(seed);
        let mut a = Vec::with_capacity(num_perm);
        let mut b = Vec::with_capacity(num_perm);
        for _ in 0..num_perm {
            a.push(mt.randint_u64(1, MERSENNE_PRIME));
            b.push(mt.randint_u64(0, MERSENNE_PRIME));
        }
        Permutations { a, b }
    }

    pub fn len(&self) -> usize {
        self.a.len()
    }

    pub fn is_empty(&self) -> bool {
        self.a.is_empty()
    }
}

/// One permuted value exactly as numpy computes `((h * a + b) % P) & MAX_HASH` in uint64:
/// the product and the sum wrap modulo 2^64 before the reduction (that wrap is part of the
/// StarCoder definition, so it is kept rather than "fixed").
#[inline(always)]
pub fn permute(h: u64, a: u64, b: u64) -> u64 {
    let x = h.wrapping_mul(a).wrapping_add(b);
    // x mod (2^61 - 1): 2^61 ≡ 1, so fold the top 3 bits onto the low 61; the sum is < 2P.
    let r = (x & MERSENNE_PRIME) + (x >> 61);
    let r = if r >= MERSENNE_PRIME { r - MERSENNE_PRIME } else { r };
    r & MAX_HASH
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_randomstate_42() {
        // numpy: g = RandomState(42); [(g.randint(1, P, dtype=uint64), g.randint(0, P, dtype=uint64)) ...]
        let p = Permutations::new(3, 42);
        assert_eq!(p.a, vec![2_297_359_619_001_564_596, 1_973_689_801_170_867_272, 572_192_888_165_898_362]);
        assert_eq!(p.b, vec![1_396_682_528_897_996_046, 1_819_927_849_474_927_636, 571_748_048_327_668_950]);
    }

    #[test]
    fn permute_matches_wide_arithmetic() {
        let p = Permutations::new(64, 7);
        for h in [0u64, 1, 0xdead_beef, u64::from(u32::MAX)] {
            for (&a, &b) in p.a.iter().zip(&p.b) {
                let x = u128::from(h.wrapping_mul(a).wrapping_add(b));
                let expect = (x % u128::from(MERSENNE_PRIME)) as u64 & MAX_HASH;
                assert_eq!(permute(h, a, b), expect);
            }
        }
        // The reduction edge: x == P exactly and x just above 2^64 - 1.
        assert_eq!(permute(1, MERSENNE_PRIME, 0), 0);
        assert_eq!(permute(1, u64::MAX, 0), (u64::MAX % MERSENNE_PRIME) & MAX_HASH);
    }
}
