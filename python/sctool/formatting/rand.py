"""Seeded, order-independent randomness keyed by document id.

Every random choice in formatting (add a metadata prefix? keep this commit? how many context lines?)
is a pure function of (seed, purpose, document id): the same document gets the same text whatever
batch, shard or thread it lands in, and two purposes never share a draw. The hash is XXH3-128 from
the native module, so the draws are stable across platforms and Python versions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sctool.native import hash_content


def hash64(keys: Sequence[str], seed: int, purpose: str) -> np.ndarray:
    """The high 64 bits of XXH3-128(``purpose``, ``seed``, key) for each key, as uint64."""
    if not keys:
        return np.zeros(0, dtype=np.uint64)
    salted = [f"{purpose}\x1f{seed}\x1f{k}" for k in keys]
    digests = hash_content(salted).to_list()
    return np.frombuffer(b"".join(d[:8] for d in digests), dtype=">u8").astype(np.uint64)


def uniform(keys: Sequence[str], seed: int, purpose: str) -> np.ndarray:
    """One draw in [0, 1) per key (53 bits of the hash, like ``random.random``)."""
    return (hash64(keys, seed, purpose) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def doc_seed(key: str, seed: int, purpose: str) -> int:
    """A 64-bit seed for a per-document ``random.Random`` when a document needs several draws."""
    return int(hash64([key], seed, purpose)[0])
