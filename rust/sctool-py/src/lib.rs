//! `sctool._native`: the thin PyO3 layer over sctool-core.
//!
//! One file per core module it wraps. Conversions happen under the GIL (`arrow_input`), all kernel
//! work runs with the GIL released through [`detach::run`], and every core error crosses as one of
//! the exceptions in [`errors`] — never as a panic.

// PyO3 extracts arguments into owned values (Vec, String, numpy views); taking them by value is
// the binding's idiom, not a missed borrow.
#![allow(clippy::needless_pass_by_value)]

use pyo3::prelude::*;

mod arrow_input;
mod attribution;
mod decontam;
mod dedup;
mod detach;
mod errors;
mod hash;
mod minhash;
mod pii;
mod textstats;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    attribution::register(m)?;
    hash::register(m)?;
    minhash::register(m)?;
    dedup::register(m)?;
    pii::register(m)?;
    textstats::register(m)?;
    decontam::register(m)?;
    Ok(())
}
