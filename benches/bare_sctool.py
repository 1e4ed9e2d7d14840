"""Import sctool's torch-only modules on a bare CUDA machine (no Rust extension, no polars).

The GPU checks run where only torch (and maybe transformers/lightning) is installed. The model and
trainer code import nothing from sctool's Rust side but its exception classes, so a package object
without ``__init__`` plus a stand-in ``sctool._native`` holding those classes is enough.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def install_sctool_stub() -> None:
    """Register ``sctool`` (no ``__init__``) and a ``sctool._native`` with the exception hierarchy."""
    pkg = types.ModuleType("sctool")
    pkg.__path__ = [str(REPO / "python" / "sctool")]
    sys.modules["sctool"] = pkg
    native = types.ModuleType("sctool._native")

    class SctoolError(Exception):
        pass

    for name in ("InvalidInputError", "ConfigError", "InternalError"):
        setattr(native, name, type(name, (SctoolError,), {}))
    native.SctoolError = SctoolError
    sys.modules["sctool._native"] = native
