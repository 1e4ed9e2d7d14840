//! Content hashing for exact deduplication: XXH3-128 over the UTF-8 bytes of each document.
//!
//! XXH3-128 is non-cryptographic but its 128-bit output makes accidental collisions negligible at
//! corpus scale (~2^-64 at 4 billion documents), and it runs at memory bandwidth. The value equals
//! the reference implementation's (`xxhash.xxh3_128_intdigest` in Python), which the Python tests check.

use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_128;

/// Hash of one document.
pub fn content_hash(text: &str) -> u128 {
    xxh3_128(text.as_bytes())
}

/// Hash every document of a batch in parallel. `None` (a null document) hashes to `None`.
pub fn hash_batch(texts: &[Option<&str>]) -> Vec<Option<u128>> {
    texts
        .par_iter()
        .with_min_len(64)
        .map(|t| t.map(content_hash))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector_empty() {
        // XXH3-128 of the empty input, from the reference implementation.
        assert_eq!(content_hash(""), 0x99aa_06d3_0147_98d8_6001_c324_468d_497f);
    }

    #[test]
    fn batch_matches_single_and_keeps_nulls() {
        let docs = vec![Some("a"), None, Some("def f(): pass\n"), Some("a")];
        let h = hash_batch(&docs);
        assert_eq!(h[0], Some(content_hash("a")));
        assert_eq!(h[1], None);
        assert_eq!(h[0], h[3]);
        assert_ne!(h[0], h[2]);
    }
}
