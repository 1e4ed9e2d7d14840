"""sctool: StarCoder-style code-data curation with Rust kernels, and a multi-query-attention GPT trainer.

The public Python API lives here. Names load on first use (PEP 562), so ``import sctool`` costs a
few milliseconds and never imports torch, polars or the native extension until a function needs
them. The Polars ``.sct`` expression namespace is registered by ``import sctool.dedup`` (and by the
first use of ``sctool.dedup``/``sctool.minhash``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sctool._version import __version__

_LAZY = {
    "ConfigError": "sctool.errors",
    "DatasetError": "sctool.errors",
    "InternalError": "sctool.errors",
    "InvalidInputError": "sctool.errors",
    "OutputExistsError": "sctool.errors",
    "SctoolError": "sctool.errors",
    "read_dataset": "sctool.io.dataset",
    "hash_content": "sctool.native",
    "detect_pii": "sctool.pii",
    "redact": "sctool.pii",
    "minhash": "sctool.dedup",
}

if TYPE_CHECKING:
    from sctool import dedup
    from sctool.dedup import minhash
    from sctool.errors import (
        ConfigError,
        DatasetError,
        InternalError,
        InvalidInputError,
        OutputExistsError,
        SctoolError,
    )
    from sctool.io.dataset import read_dataset
    from sctool.native import hash_content
    from sctool.pii import detect_pii, redact


def __getattr__(name: str) -> Any:
    if name == "dedup":  # the callable package sctool.dedup(frame, ...)
        return importlib.import_module("sctool.dedup")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sctool' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY, "dedup"])


__all__ = [
    "ConfigError",
    "DatasetError",
    "InternalError",
    "InvalidInputError",
    "OutputExistsError",
    "SctoolError",
    "__version__",
    "dedup",
    "detect_pii",
    "hash_content",
    "minhash",
    "read_dataset",
    "redact",
]
