"""Keep freed host memory for reuse while training on a CPU (glibc's ``mallopt``).

Why: glibc serves every allocation above its mmap threshold (at most 32 MiB) with a fresh
``mmap`` and gives it back to the kernel on ``free``. A CPU training step allocates and frees the
same large tensors every step (activations, the output head's gradient, the embedding's dense
gradient), so each step page-faults and zero-fills hundreds of megabytes anew: on this project's
2-core machine that was 15-30% of a small model's step, for transformers and sctool alike
(``benches/results/train.md``). With ``M_MMAP_MAX = 0`` large blocks come from the heap instead,
and with a high ``M_TRIM_THRESHOLD`` freed blocks stay there for the next step.

glibc needs a few steps to settle: torch asks for 64-byte-aligned blocks, and the remainders
split off them take a few rounds to coalesce before a freed block fits the next request
(``tests/train/test_host_memory.py`` counts the page faults).

The cost: the process keeps its peak heap instead of shrinking after a spike. A training process
runs at a steady peak anyway. The setting is process-wide and irreversible, so ``fit()`` applies it
only for CPU runs and only when ``trainer.host_memory_reuse`` is on (the default); it is the
same as starting Python with ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# glibc <malloc.h> parameter numbers.
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD_BYTES = 2**31 - 1  # mallopt takes an int: the largest value it accepts

_applied = False


def glibc_version() -> str | None:
    """``"2.36"`` on glibc systems, None elsewhere (musl, macOS, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"
    except (ValueError, OSError):
        return None
    if not value or not value.startswith("glibc "):
        return None
    return value.split()[1]


def reuse_freed_memory() -> bool:
    """Apply the setting once per process; True when it is in effect (now or from an earlier call)."""
    global _applied
    if _applied:
        return True
    if glibc_version() is None:
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    # mallopt returns 1 on success, 0 on error.
    ok = libc.mallopt(M_MMAP_MAX, 0) == 1 and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    _applied = ok
    return ok


__all__ = ["glibc_version", "reuse_freed_memory"]
