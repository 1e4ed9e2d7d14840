"""Thread-count resolution shared by the Python side (the Rust side has its own in sctool-core)."""

from __future__ import annotations

import os


def resolve_threads(threads: int) -> int:
    """0 means every core this process may use."""
    if threads > 0:
        return threads
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1
