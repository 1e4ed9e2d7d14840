//! The Python exception hierarchy and the single mapping from `CoreError` into it.

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use sctool_core::CoreError;

pyo3::create_exception!(sctool._native, SctoolError, PyException, "Base class of every sctool error.");
pyo3::create_exception!(
    sctool._native,
    InvalidInputError,
    SctoolError,
    "The data given to sctool is unusable; the message names what and where."
);
pyo3::create_exception!(
    sctool._native,
    ConfigError,
    SctoolError,
    "A parameter is out of range or inconsistent with another."
);
pyo3::create_exception!(
    sctool._native,
    InternalError,
    SctoolError,
    "A bug in sctool (a Rust panic caught at the boundary). Please report it."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("SctoolError", py.get_type::<SctoolError>())?;
    m.add("InvalidInputError", py.get_type::<InvalidInputError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    Ok(())
}

/// Map a core error to its Python exception; I/O errors become the matching `OSError` subclass.
#[allow(dead_code)] // used by bindings whose kernels return CoreError
pub fn to_py(err: CoreError) -> PyErr {
    match err {
        CoreError::InvalidInput(msg) => InvalidInputError::new_err(msg),
        CoreError::InvalidConfig(msg) => ConfigError::new_err(msg),
        CoreError::Io { path, source } => {
            let msg = format!("{path}: {source}");
            match source.kind() {
                std::io::ErrorKind::NotFound => pyo3::exceptions::PyFileNotFoundError::new_err(msg),
                std::io::ErrorKind::PermissionDenied => {
                    pyo3::exceptions::PyPermissionError::new_err(msg)
                }
                _ => pyo3::exceptions::PyOSError::new_err(msg),
            }
        }
    }
}
