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


__all__ = [
    "ConfigError",
    "DatasetError",
    "InternalError",
    "InvalidInputError",
    "OutputExistsError",
    "SctoolError",
]
