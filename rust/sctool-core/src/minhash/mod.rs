//! MinHash near-deduplication, StarCoder-exact by default (BigCode `minhash_deduplication.py`).
//!
//! * [`shingle`]: BigCode tokenisation + n-gram shingles (or character n-grams), SHA-1-32 hashes;
//! * [`permutations`]: the datasketch/BigCode permutation parameters from numpy's `RandomState`;
//! * [`scan`]: the BigCode tokeniser as a SIMD byte scan (normalised text + token starts);
//! * [`sha1x`]: 16-lane multi-buffer SHA-1 for shingles;
//! * [`signature`]: the SIMD signature kernel (runtime-dispatched AVX-512/AVX2);
//! * [`lsh`]: banding and datasketch's optimal `(bands, rows)` for a threshold;
//! * [`unionfind`]: lock-free union-find with lowest-rank roots;
//! * [`engine`]: the steps after band keys — in-process shuffle, candidate edges, verification.
//!
//! Broder (1997) for MinHash; Leskovec, Rajaraman & Ullman §3.4 for banding; Kocetkov et al.,
//! "The Stack" (2022) and Li et al., "StarCoder" (2023) §3 for the settings.

pub mod engine;
pub mod lsh;
pub mod permutations;
pub mod scan;
pub mod sha1x;
pub mod shingle;
pub mod signature;
pub mod unionfind;

pub use engine::{natural_cmp, partition_edges, rank_ids, BandShuffle, PartitionEdges, ShuffleStats};
pub use lsh::{band_key, band_records, optimal_param};
pub use permutations::{Permutations, MAX_HASH, MERSENNE_PRIME};
pub use shingle::{ShingleHash, ShingleKind};
pub use signature::{signatures, BatchSignatures, MinHashParams};
