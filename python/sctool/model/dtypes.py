"""Weight dtypes by name: the one table every command-line ``--dtype`` and stored config uses."""

from __future__ import annotations

from typing import Any

#: Names accepted by ``--dtype`` options and written into model configs.
DTYPE_NAMES = ("float32", "bfloat16", "float16")


def torch_dtype(name: str | None) -> Any:
    """``"bfloat16"`` -> ``torch.bfloat16``; None stays None (keep what is stored)."""
    if name is None:
        return None
    import torch

    if name not in DTYPE_NAMES:
        from sctool.errors import ConfigError

        raise ConfigError(f"unknown dtype {name!r}; known: {', '.join(DTYPE_NAMES)}")
    return getattr(torch, name)


def dtype_name(dtype: Any) -> str:
    """``torch.bfloat16`` -> ``"bfloat16"`` (the inverse of ``torch_dtype``)."""
    name = str(dtype).removeprefix("torch.")
    if name not in DTYPE_NAMES:
        from sctool.errors import ConfigError

        raise ConfigError(f"unsupported weight dtype {dtype}; supported: {', '.join(DTYPE_NAMES)}")
    return name
