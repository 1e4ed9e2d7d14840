"""Span-level scoring of a PII detector against labelled records (the pii-public.jsonl schema).

A prediction matches a gold span when the types agree and the spans overlap (lenient) or are
identical (exact); matching is one-to-one. Hard negatives are scored separately: a negative is
"flagged" when any prediction overlaps it. Values are never included in the results.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TypeScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Scores:
    lenient: dict[str, TypeScore] = field(default_factory=dict)
    exact: dict[str, TypeScore] = field(default_factory=dict)
    negatives: int = 0
    negatives_flagged: int = 0
    flagged_by_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [flagged, total]

    @property
    def negative_fp_rate(self) -> float:
        return self.negatives_flagged / self.negatives if self.negatives else 0.0


def load_records(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _match(preds: list[tuple[int, int, str]], golds: list[tuple[int, int, str]], exact: bool,
           scores: dict[str, TypeScore], types: set[str]) -> None:
    used = [False] * len(preds)
    for gs, ge, gt in golds:
        if gt not in types:
            continue
        hit = -1
        for i, (ps, pe, pt) in enumerate(preds):
            if used[i] or pt != gt:
                continue
            if (ps == gs and pe == ge) if exact else (ps < ge and pe > gs):
                hit = i
                break
        sc = scores.setdefault(gt, TypeScore())
        if hit >= 0:
            used[hit] = True
            sc.tp += 1
        else:
            sc.fn += 1
    for i, (_, _, pt) in enumerate(preds):
        if not used[i] and pt in types:
            scores.setdefault(pt, TypeScore()).fp += 1


def score(records: Sequence[dict[str, Any]], predictions: Sequence[Iterable[tuple[int, int, str]]],
          types: Iterable[str]) -> Scores:
    """Score ``predictions[i]`` (``(start, end, type)`` tuples) against ``records[i]`` for ``types``."""
    types = set(types)
    out = Scores()
    for t in types:
        out.lenient[t] = TypeScore()
        out.exact[t] = TypeScore()
    for rec, pred in zip(records, predictions):
        preds = [(int(s), int(e), str(t)) for s, e, t in pred]
        golds = [(g["start"], g["end"], g["type"]) for g in rec.get("spans", [])]
        _match(preds, golds, False, out.lenient, types)
        _match(preds, golds, True, out.exact, types)
        typed = [(s, e) for s, e, t in preds if t in types]
        for neg in rec.get("negatives", []):
            flagged = any(s < neg["end"] and e > neg["start"] for s, e in typed)
            out.negatives += 1
            out.negatives_flagged += int(flagged)
            k = out.flagged_by_kind.setdefault(neg["kind"], [0, 0])
            k[0] += int(flagged)
            k[1] += 1
    return out


__all__ = ["Scores", "TypeScore", "load_records", "score"]
