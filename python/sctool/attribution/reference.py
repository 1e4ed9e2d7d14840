"""Brute-force reference of the membership index, for tests: plain Python sets of window strings.

No Bloom filter and no fingerprints, so it has no false positives; the Rust index with ``exact=True``
must agree with it exactly, and without ``exact`` may only add (rare) hits.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

#: Unicode White_Space (the characters Rust's ``char::is_whitespace`` accepts).
WHITE_SPACE = frozenset(
    [chr(c) for c in (*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
                      0x2028, 0x2029, 0x202F, 0x205F, 0x3000)]
)


def normalise(text: str) -> tuple[str, list[int]]:
    """Text without white space, and each kept character's index in ``text``."""
    kept = [(i, c) for i, c in enumerate(text) if c not in WHITE_SPACE]
    return "".join(c for _, c in kept), [i for i, _ in kept]


@dataclass
class ReferenceIndex:
    window: int
    stride: int
    windows: dict[str, set[int]]

    @classmethod
    def build(cls, docs: list[str | None], window: int = 50, stride: int | None = None) -> ReferenceIndex:
        stride = stride or window
        table: dict[str, set[int]] = {}
        for d, text in enumerate(docs):
            if text is None:
                continue
            norm, _ = normalise(text)
            for i in range(0, len(norm) - window + 1, stride):
                table.setdefault(norm[i: i + window], set()).add(d)
        return cls(window, stride, table)

    def attribute(self, text: str) -> dict:
        """Same fields as the index's ``Attribution`` (sources as a Counter doc -> windows)."""
        w = self.window
        norm, orig = normalise(text)
        hits = [i for i in range(len(norm) - w + 1) if norm[i: i + w] in self.windows]
        covered = set()
        for p in hits:
            covered.update(range(p, p + w))
        spans: list[tuple[int, int]] = []
        for p in sorted(covered):
            if spans and orig[p - 1] + 1 == spans[-1][1] and p - 1 in covered:
                spans[-1] = (spans[-1][0], orig[p] + 1)
            else:
                spans.append((orig[p], orig[p] + 1))
        chain: dict[int, int] = {}
        best, best_end = 0, 0
        for p in hits:
            chain[p] = chain.get(p - w, 0) + 1
            if chain[p] > best:
                best, best_end = chain[p], p + w
        sources: Counter[int] = Counter()
        for p in hits:
            sources.update(self.windows[norm[p: p + w]])
        return {
            "chars": len(norm),
            "covered_chars": len(covered),
            "longest_chain": best * w,
            "chain_span": (orig[best_end - best * w], orig[best_end - 1] + 1) if best else None,
            "spans": spans,
            "hits": hits,
            "sources": sources,
        }
