"""MinHash signatures from Python: StarCoder-exact by default, over the Rust kernel.

``minhash(texts)`` equals, value for value, what BigCode's ``minhash_deduplication.py`` and
``datasketch.MinHash(num_perm=256, seed=42)`` compute for the same shingles (tests check both), so
signatures made here can be mixed with signatures made there.
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np

from sctool import native
from sctool.errors import ConfigError
from sctool.native import TextColumn, as_arrow_text

Shingle = Literal["bigcode", "words", "chars"]
ShingleHashName = Literal["sha1", "xxh3"]


def minhash(
    texts: TextColumn,
    num_perm: int = 256,
    ngram: int = 5,
    seed: int = 42,
    *,
    shingle: Shingle = "bigcode",
    hash: ShingleHashName = "sha1",
    threads: int = 0,
) -> np.ndarray:
    """Signatures of ``texts`` as a ``uint32`` array of shape ``(n, num_perm)``.

    ``shingle``: ``bigcode`` (StarCoder: tokens split on ``[^A-Za-z_0-9]``, empty tokens kept,
    ``ngram``-grams joined by spaces), ``words`` (empty tokens dropped) or ``chars`` (character
    ``ngram``-grams). ``hash``: ``sha1`` (first 4 bytes, StarCoder-exact) or ``xxh3`` (faster, not
    StarCoder-exact). A null or too-short document (no shingles) gets every slot at ``2**32 - 1``,
    as datasketch does.
    """
    sigs, _ = minhash_with_counts(texts, num_perm, ngram, seed, shingle=shingle, hash=hash, threads=threads)
    return sigs


def minhash_with_counts(
    texts: TextColumn,
    num_perm: int = 256,
    ngram: int = 5,
    seed: int = 42,
    *,
    shingle: Shingle = "bigcode",
    hash: ShingleHashName = "sha1",
    threads: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`minhash`, plus each document's number of distinct shingles (0 = no shingles)."""
    _check_seed(seed)
    return native.minhash_signatures(
        as_arrow_text(texts), num_perm=num_perm, ngram=ngram, seed=seed, shingle=shingle, hash=hash,
        threads=threads,
    )


def shingle_hashes(text: str, ngram: int = 5, *, shingle: Shingle = "bigcode", hash: ShingleHashName = "sha1") -> np.ndarray:
    """The sorted distinct 32-bit shingle hashes of one text (what the signature is taken over)."""
    return native.shingle_hashes(text, ngram=ngram, shingle=shingle, hash=hash)


def permutations(num_perm: int = 256, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """The ``(a, b)`` permutation parameters; equal to ``datasketch.MinHash(num_perm, seed).permutations``."""
    _check_seed(seed)
    return native.minhash_permutations(num_perm, seed)


#: ``optimal_param`` for common settings, exactly what the native search returns (a test recomputes
#: every entry). The search integrates the false-positive and false-negative areas of every
#: (bands, rows) pair at 1e-12 tolerance: 23 ms at 256 permutations, which every near-dedup run would
#: otherwise pay before its first batch.
KNOWN_BANDING: dict[tuple[float, int], tuple[int, int]] = {
    (0.5, 128): (25, 5), (0.6, 128): (18, 7), (0.7, 128): (14, 9), (0.75, 128): (11, 11),
    (0.8, 128): (9, 13), (0.85, 128): (8, 16), (0.9, 128): (5, 25),
    (0.5, 256): (42, 6), (0.6, 256): (32, 8), (0.7, 256): (25, 10), (0.75, 256): (21, 12),
    (0.8, 256): (17, 15), (0.85, 256): (13, 19), (0.9, 256): (9, 28),
}


@functools.lru_cache(maxsize=64)
def optimal_param(threshold: float, num_perm: int = 256) -> tuple[int, int]:
    """``(bands, rows)`` for a Jaccard threshold, chosen as datasketch's ``MinHashLSH`` (and StarCoder) do."""
    known = KNOWN_BANDING.get((float(threshold), int(num_perm)))
    if known is not None:
        return known
    b, r = native.lsh_optimal_param(float(threshold), int(num_perm))
    return int(b), int(r)


def estimate_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """MinHash Jaccard estimate: the fraction of equal slots (row-wise for 2-D inputs)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ConfigError(f"signatures differ in shape: {a.shape} vs {b.shape}")
    eq = (a == b).mean(axis=-1)
    return float(eq) if eq.ndim == 0 else eq


def kernel_isa() -> str:
    """The instruction set the signature kernel dispatches to on this CPU (avx512, avx2, generic)."""
    return native.minhash_kernel_isa()


def _check_seed(seed: int) -> None:
    if not 0 <= int(seed) < 2**32:
        raise ConfigError(f"seed must be between 0 and 2**32 - 1, got {seed}")
