"""The exception hierarchy every sctool error belongs to.

The base classes are created by the native module so Rust errors and Python errors share them; the
Python-only subclasses below cover dataset and output problems. Every message names the file (and
line or column) it is about, so a failure in a long pipeline points at its cause.
"""

from sctool._native import ConfigError, InternalError, InvalidInputError, SctoolError


class DatasetError(InvalidInputError):
    """An input file or dataset cannot be read (truncated Parquet, missing column, unknown format)."""


class OutputExistsError(SctoolError, FileExistsError):
    """The output path already exists and ``--overwrite`` was not given."""


class OutputError(SctoolError):
    """The output cannot be written: a full disk, a read-only file system, an output that overlaps an
    input, or another run writing the same output."""


__all__ = [
    "ConfigError",
    "DatasetError",
    "InternalError",
    "InvalidInputError",
    "OutputError",
    "OutputExistsError",
    "SctoolError",
]
