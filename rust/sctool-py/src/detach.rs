//! The one place where the GIL is released around Rust work.
//!
//! Every binding calls [`run`]: it releases the GIL, runs the kernel on a rayon pool of the requested
//! size, and turns a panic into `InternalError` instead of letting it unwind across the FFI boundary.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;

use crate::errors::InternalError;

/// Run `f` without the GIL on `threads` workers (0 = all cores).
pub fn run<T: Send>(py: Python<'_>, threads: usize, f: impl FnOnce() -> T + Send) -> PyResult<T> {
    py.detach(|| {
        catch_unwind(AssertUnwindSafe(|| {
            sctool_core::parallel::with_threads(threads, f)
        }))
    })
    .map_err(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        InternalError::new_err(format!("internal error in sctool's native code: {msg}"))
    })
}
