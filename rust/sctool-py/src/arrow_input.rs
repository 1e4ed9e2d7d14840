//! Zero-copy text columns from Python through the Arrow PyCapsule interface.
//!
//! Any object exposing `__arrow_c_stream__` (a Polars Series, a PyArrow Array/ChunkedArray, …) or
//! `__arrow_c_array__` is imported as Arrow arrays whose buffers stay owned by the producer; the
//! kernels then read `&str` slices straight out of those buffers. Only one pointer and length per
//! document is materialised, never the text.

use std::ffi::CStr;

use arrow_array::cast::AsArray;
use arrow_array::ffi::{from_ffi, FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyTuple};

use crate::errors::InvalidInputError;

fn stream_error(stream: &mut FFI_ArrowArrayStream, rc: i32) -> PyErr {
    let msg = stream
        .get_last_error
        .map(|f| {
            // SAFETY: get_last_error returns null or a NUL-terminated string valid until the next call.
            let p = unsafe { f(stream) };
            if p.is_null() {
                String::new()
            } else {
                // SAFETY: checked non-null above; the producer guarantees NUL termination.
                unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
            }
        })
        .unwrap_or_default();
    InvalidInputError::new_err(format!("cannot read Arrow stream (code {rc}): {msg}"))
}

/// Drain an Arrow C stream of arrays. Streams of record batches (struct type) with one column are
/// unwrapped to that column, so both a Series and a one-column table work.
fn read_stream(stream: &mut FFI_ArrowArrayStream) -> PyResult<Vec<ArrayRef>> {
    let (Some(get_schema), Some(get_next)) = (stream.get_schema, stream.get_next) else {
        return Err(InvalidInputError::new_err("Arrow stream is already released"));
    };
    let mut schema = FFI_ArrowSchema::empty();
    // SAFETY: stream is a valid, unreleased stream; schema is an out-parameter we own.
    let rc = unsafe { get_schema(stream, &raw mut schema) };
    if rc != 0 {
        return Err(stream_error(stream, rc));
    }
    let mut chunks = Vec::new();
    loop {
        let mut array = FFI_ArrowArray::empty();
        // SAFETY: as above; `array` receives ownership of the next chunk.
        let rc = unsafe { get_next(stream, &raw mut array) };
        if rc != 0 {
            return Err(stream_error(stream, rc));
        }
        if array.is_released() {
            break; // end of stream
        }
        // SAFETY: `array` was produced by the stream for `schema`.
        let data = unsafe { from_ffi(array, &schema) }
            .map_err(|e| InvalidInputError::new_err(format!("cannot import Arrow array: {e}")))?;
        let arr = arrow_array::make_array(data);
        let arr = match arr.as_struct_opt() {
            Some(st) if st.num_columns() == 1 => st.column(0).clone(),
            _ => arr,
        };
        chunks.push(arr);
    }
    Ok(chunks)
}

/// A column of (nullable) strings imported from Python, possibly in several chunks.
pub struct TextColumn {
    chunks: Vec<ArrayRef>,
}

fn capsule_ptr(cap: &Bound<'_, PyAny>, name: &CStr) -> PyResult<*mut std::ffi::c_void> {
    let cap = cap.downcast::<PyCapsule>().map_err(|_| {
        InvalidInputError::new_err("__arrow_c_* did not return a PyCapsule")
    })?;
    let got_name = cap.name()?;
    if got_name != Some(name) {
        return Err(InvalidInputError::new_err(format!(
            "expected an Arrow capsule named {name:?}, got {got_name:?}"
        )));
    }
    Ok(cap.pointer())
}

impl TextColumn {
    /// Import `obj` (anything with `__arrow_c_stream__` or `__arrow_c_array__`).
    pub fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        let mut chunks = Vec::new();
        if obj.hasattr("__arrow_c_stream__")? {
            let cap = obj.call_method0("__arrow_c_stream__")?;
            let ptr = capsule_ptr(&cap, c"arrow_array_stream")?.cast::<FFI_ArrowArrayStream>();
            // SAFETY: the capsule holds a valid FFI_ArrowArrayStream; from_raw moves it out and leaves
            // a released stream behind, which the capsule destructor then ignores (Arrow C spec).
            let mut stream = unsafe { FFI_ArrowArrayStream::from_raw(ptr) };
            chunks = read_stream(&mut stream)?;
        } else if obj.hasattr("__arrow_c_array__")? {
            let tuple = obj.call_method0("__arrow_c_array__")?;
            let tuple = tuple.downcast::<PyTuple>()?;
            let schema_ptr = capsule_ptr(&tuple.get_item(0)?, c"arrow_schema")?.cast::<FFI_ArrowSchema>();
            let array_ptr = capsule_ptr(&tuple.get_item(1)?, c"arrow_array")?.cast::<FFI_ArrowArray>();
            // SAFETY: both capsules hold valid Arrow C structs; we move the array out (leaving a
            // released one) and only borrow the schema, as the PyCapsule interface specifies.
            let data = unsafe {
                let array = std::ptr::replace(array_ptr, FFI_ArrowArray::empty());
                from_ffi(array, &*schema_ptr)
            }
            .map_err(|e| InvalidInputError::new_err(format!("cannot import Arrow array: {e}")))?;
            chunks.push(arrow_array::make_array(data));
        } else {
            return Err(InvalidInputError::new_err(
                "expected an Arrow-compatible column (Polars Series, PyArrow array) of strings",
            ));
        }
        for c in &chunks {
            match c.data_type() {
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {}
                other => {
                    return Err(InvalidInputError::new_err(format!(
                        "expected a column of strings, got Arrow type {other}"
                    )))
                }
            }
        }
        Ok(TextColumn { chunks })
    }

    /// Borrow every document as `Option<&str>` (None for null), in order.
    pub fn strs(&self) -> Vec<Option<&str>> {
        let total: usize = self.chunks.iter().map(Array::len).sum();
        let mut out = Vec::with_capacity(total);
        for c in &self.chunks {
            match c.data_type() {
                DataType::Utf8 => out.extend(c.as_string::<i32>().iter()),
                DataType::LargeUtf8 => out.extend(c.as_string::<i64>().iter()),
                DataType::Utf8View => out.extend(c.as_string_view().iter()),
                _ => out.extend(std::iter::repeat_n(None, c.len())),
            }
        }
        out
    }
}
