//! sctool-core: the pure-Rust curation kernels of sctool.
//!
//! Nothing in this crate knows about Python: every kernel takes plain Rust slices and returns plain
//! Rust values, so `cargo test` exercises it without libpython and the PyO3 crate stays a thin
//! conversion layer (the huggingface/tokenizers split).
//!
//! Kernels take `&[Option<&str>]` batches (a null document is `None`) and run on a rayon pool sized by
//! [`parallel::with_threads`], so callers choose the thread count once per batch.

pub mod attribution;
pub mod decontam;
pub mod error;
pub mod hash;
pub mod minhash;
pub mod parallel;
pub mod pii;
pub mod textstats;

pub use error::{CoreError, Result};
