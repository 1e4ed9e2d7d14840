"""Brute-force pure-Python reference of StarCoder's near-dedup (BigCode minhash_deduplication.py).

Written from the definition, not from sctool's code: ``re.split`` tokens, ``" ".join`` n-grams,
``hashlib.sha1`` first four bytes little-endian, numpy ``RandomState`` permutations and the uint64
formula ``((h * a + b) % (2**61 - 1)) & (2**32 - 1)`` evaluated with numpy's wrapping arithmetic.
"""

from __future__ import annotations

import hashlib
import re
import struct

import numpy as np

NON_ALPHA = re.compile("[^A-Za-z_0-9]")
MERSENNE_PRIME = np.uint64((1 << 61) - 1)
MAX_HASH = np.uint64((1 << 32) - 1)


def permutations(num_perm: int, seed: int) -> np.ndarray:
    gen = np.random.RandomState(seed)
    return np.array(
        [(gen.randint(1, MERSENNE_PRIME, dtype=np.uint64), gen.randint(0, MERSENNE_PRIME, dtype=np.uint64))
         for _ in range(num_perm)],
        dtype=np.uint64,
    ).T


def shingles(text: str, ngram: int = 5, kind: str = "bigcode") -> set[str]:
    if kind == "chars":
        return {text[i:i + ngram] for i in range(len(text) - ngram + 1)}
    tokens = NON_ALPHA.split(text)
    if kind == "words":
        tokens = [t for t in tokens if t]
    if len(tokens) < ngram:
        return set()
    return {" ".join(tokens[i:i + ngram]) for i in range(len(tokens) - ngram + 1)}


def sha1_hash32(data: bytes) -> int:
    return struct.unpack("<I", hashlib.sha1(data).digest()[:4])[0]


def signature(text: str, num_perm: int = 256, ngram: int = 5, seed: int = 42, kind: str = "bigcode") -> np.ndarray:
    a, b = permutations(num_perm, seed)
    hv = np.array([sha1_hash32(s.encode("utf-8")) for s in shingles(text, ngram, kind)], dtype=np.uint64)
    out = np.ones(num_perm, dtype=np.uint64) * MAX_HASH
    if len(hv):
        with np.errstate(over="ignore"):
            phv = np.bitwise_and((hv[:, None] * a[None, :] + b[None, :]) % MERSENNE_PRIME, MAX_HASH)
        out = np.minimum(out, phv.min(axis=0))
    return out.astype(np.uint32)


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def natural_key(s: str) -> list:
    return [(0, int(t), len(t)) if t.isdigit() else (1, t, 0) for t in re.split(r"(\d+)", s) if t != ""]


def near_dedup(ids: list[str], texts: list[str], bands: int, rows: int, *, verify_threshold: float | None = None,
               num_perm: int = 256) -> dict[str, str]:
    """Map each removed id to the kept id: LSH buckets, union-find, keep the lowest id (natural order)."""
    sigs = [signature(t, num_perm) for t in texts]
    sets = [{sha1_hash32(s.encode()) for s in shingles(t)} for t in texts]
    parent = list(range(len(texts)))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for band in range(bands):
        buckets: dict[bytes, list[int]] = {}
        for i, sig in enumerate(sigs):
            if not sets[i]:
                continue
            buckets.setdefault(sig[band * rows:(band + 1) * rows].tobytes(), []).append(i)
        for members in buckets.values():
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    i, j = members[x], members[y]
                    if verify_threshold is None or jaccard(sets[i], sets[j]) >= verify_threshold:
                        parent[find(i)] = find(j)
    clusters: dict[int, list[int]] = {}
    for i in range(len(texts)):
        clusters.setdefault(find(i), []).append(i)
    removed = {}
    for members in clusters.values():
        keep = min(members, key=lambda i: (natural_key(ids[i]), i))
        for i in members:
            if i != keep:
                removed[ids[i]] = ids[keep]
    return removed


def component_roots(n: int, edges: list[tuple[int, int]], ranks: list[int] | None = None) -> list[int]:
    """Per node, the member of its connected component with the lowest rank (default: itself)."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in edges:
        parent[find(a)] = find(b)
    rank = ranks if ranks is not None else list(range(n))
    best: dict[int, int] = {}
    for x in range(n):
        r = find(x)
        if r not in best or rank[x] < rank[best[r]]:
            best[r] = x
    return [best[find(x)] for x in range(n)]
