"""Secret and PII detection and redaction over the Rust rule engine.

Detect, then decide: :func:`detect_pii` returns spans ``(start, end, type, rule)`` in Unicode code
points of the original text (Python ``str`` indices); :func:`redact` replaces the chosen types with
deterministic placeholders (``<EMAIL>``, ``<KEY>``, ``<PASSWORD>``, ``<NAME>``, ``<USERNAME>``) and IP
addresses with a synthetic address of the same family drawn from a seeded hash of the value.
Both run the batch in Rust with the GIL released on all cores.

Secrets never go to logs in full: use :func:`mask_secret` for anything printed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import pyarrow as pa

from sctool import native
from sctool.errors import ConfigError
from sctool.native import TextColumn, as_arrow_text

if TYPE_CHECKING:
    from sctool.pii.ner import NerModel

PII_TYPES: tuple[str, ...] = tuple(native.pii_types())
"""Every type the detector reports, in type-code order."""

DEFAULT_REDACT_TYPES: tuple[str, ...] = ("EMAIL", "IP_ADDRESS", "KEY", "PASSWORD", "NAME")
"""What StarCoder redacted: usernames are reported but kept by default."""

SPAN_STRUCT = pa.struct(
    [("start", pa.int64()), ("end", pa.int64()), ("type", pa.large_string()), ("rule", pa.large_string()),
     ("redacted", pa.bool_())]
)
"""One finding in the span column; ``redacted`` says whether the output text has it replaced."""


@dataclass(frozen=True)
class PiiSpan:
    """One finding: ``text[start:end]`` is the value."""

    start: int
    end: int
    type: str
    rule: str


@dataclass(frozen=True)
class PiiRule:
    """A detector of the rule table, in priority order (earlier wins an overlap)."""

    id: str
    type: str
    description: str
    keywords: tuple[str, ...]
    kind: str


def pii_rules() -> list[PiiRule]:
    """The rule table of the Rust engine."""
    return [PiiRule(i, t, d, tuple(k), kind) for i, t, d, k, kind in native.pii_rules()]


_RULE_IDS: tuple[str, ...] = tuple(r.id for r in pii_rules())


@dataclass
class SpanTable:
    """Spans of a batch as flat arrays (one row per span, grouped by document, sorted by start).

    ``rule`` indexes ``rule_names`` (the rule table, plus model names when NER spans were merged).
    """

    n_docs: int
    doc: np.ndarray
    start: np.ndarray
    end: np.ndarray
    type: np.ndarray
    rule: np.ndarray
    rule_names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.doc.shape[0])

    def per_doc(self) -> list[list[PiiSpan]]:
        out: list[list[PiiSpan]] = [[] for _ in range(self.n_docs)]
        for d, s, e, t, r in zip(self.doc.tolist(), self.start.tolist(), self.end.tolist(),
                                 self.type.tolist(), self.rule.tolist()):
            out[d].append(PiiSpan(s, e, PII_TYPES[t], self.rule_names[r]))
        return out

    def to_series(self, name: str = "pii", redacted: np.ndarray | None = None) -> pl.Series:
        """A ``list[struct{start, end, type, rule, redacted}]`` column, one list per document."""
        counts = np.bincount(self.doc, minlength=self.n_docs) if len(self) else np.zeros(self.n_docs, np.int64)
        offsets = np.zeros(self.n_docs + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        types = pa.array(PII_TYPES, type=pa.large_string()).take(pa.array(self.type.astype(np.int64)))
        rules = pa.array(self.rule_names, type=pa.large_string()).take(pa.array(self.rule.astype(np.int64)))
        if redacted is None:
            redacted = np.zeros(len(self), dtype=bool)
        structs = pa.StructArray.from_arrays(
            [pa.array(self.start, pa.int64()), pa.array(self.end, pa.int64()), types, rules,
             pa.array(redacted, pa.bool_())],
            fields=list(SPAN_STRUCT),
        )
        lists = pa.LargeListArray.from_arrays(pa.array(offsets), structs)
        return pl.Series(name, pl.from_arrow(lists))

    def counters(self, redacted_types: Iterable[str] = ()) -> dict[str, Any]:
        """Findings per type and per rule, and how many spans were replaced."""
        red = {PII_TYPES.index(t) for t in redacted_types}
        by_type = np.bincount(self.type, minlength=len(PII_TYPES)) if len(self) else np.zeros(len(PII_TYPES), int)
        by_rule = np.bincount(self.rule, minlength=len(self.rule_names)) if len(self) else []
        docs = np.unique(self.doc).shape[0] if len(self) else 0
        return {
            "pii_documents": int(docs),
            "pii_by_type": {t: int(by_type[i]) for i, t in enumerate(PII_TYPES) if by_type[i]},
            "pii_by_rule": {self.rule_names[i]: int(c) for i, c in enumerate(by_rule) if c},
            "pii_redacted": int(sum(int(by_type[i]) for i in red)),
        }


def _check_types(types: Iterable[str] | None) -> tuple[str, ...]:
    if types is None:
        return DEFAULT_REDACT_TYPES
    out = tuple(str(t).strip().upper() for t in types if str(t).strip())
    bad = [t for t in out if t not in PII_TYPES]
    if bad:
        raise ConfigError(f"unknown PII type(s) {bad}; expected some of {list(PII_TYPES)}")
    return out


def detect_pii_table(texts: TextColumn, *, threads: int = 0, disabled_rules: Sequence[str] = ()) -> SpanTable:
    """Detect PII in a column of texts; spans as flat arrays (the fast path used by the stage).

    ``disabled_rules`` switches rules off by id before overlaps are resolved, so the table says what
    the remaining rules find on their own (used by the leave-one-family-out benchmark).
    """
    col = as_arrow_text(texts)
    n = len(col)
    try:
        d, s, e, t, r = native.pii_detect(col, threads=threads, disabled=list(disabled_rules))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return SpanTable(n, d, s, e, t, r.astype(np.int64), _RULE_IDS)


def detect_pii(texts: TextColumn, *, threads: int = 0, types: Iterable[str] | None = None) -> list[list[PiiSpan]]:
    """One list of :class:`PiiSpan` per text (a list of ``str``, a Polars Series or an Arrow array).

    ``types`` keeps only those types (default: all of :data:`PII_TYPES`). A null text gets ``[]``.
    """
    table = detect_pii_table(texts, threads=threads)
    keep = set(_check_types(types)) if types is not None else None
    out = table.per_doc()
    if keep is not None:
        out = [[sp for sp in doc if sp.type in keep] for doc in out]
    return out


def redact_texts(texts: TextColumn, spans: SpanTable, *, types: Sequence[str] = DEFAULT_REDACT_TYPES,
                 seed: int = 0, threads: int = 0) -> pl.Series:
    """Replace the spans of the chosen types; returns the redacted texts (nulls stay null)."""
    col = as_arrow_text(texts)
    data, offsets, valid = native.pii_redact(
        col, spans.doc, spans.start, spans.end, spans.type, list(_check_types(types)), seed=seed, threads=threads
    )
    n = offsets.shape[0] - 1
    mask = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little").tobytes())
    arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data), mask)
    return pl.Series(pl.from_arrow(arr))


def synthetic_ip(value: str, seed: int = 0) -> str:
    """The replacement :func:`redact` uses for the IP address ``value``."""
    return native.pii_synthetic_ip(value, seed)


def mask_secret(value: str) -> str:
    """A loggable stand-in for a secret: its first two characters and its length."""
    if len(value) <= 4:
        return f"{'*' * len(value)} ({len(value)} chars)"
    return f"{value[:2]}{'*' * 6} ({len(value)} chars)"


def redact(
    df: pl.DataFrame,
    *,
    text_column: str = "content",
    types: Sequence[str] | None = None,
    seed: int = 0,
    annotate_only: bool = False,
    pii_column: str = "pii",
    threads: int = 0,
    ner: NerModel | None = None,
) -> pl.DataFrame:
    """Redact ``df[text_column]`` and add a ``pii_column`` of spans in original-text offsets.

    ``types`` chooses what is replaced (default :data:`DEFAULT_REDACT_TYPES`); every detected span is
    reported either way. ``annotate_only`` keeps the text. ``ner`` merges a token-classification
    model's spans (rules win where they overlap).
    """
    table = spans_for_frame(df, text_column=text_column, threads=threads, ner=ner)
    return apply_redaction(df, table, text_column=text_column, types=_check_types(types), seed=seed,
                           annotate_only=annotate_only, pii_column=pii_column, threads=threads)


def spans_for_frame(df: pl.DataFrame, *, text_column: str, threads: int = 0, ner: NerModel | None = None) -> SpanTable:
    if text_column not in df.columns:
        raise ConfigError(f"no text column {text_column!r}; columns are {df.columns}")
    texts = df.get_column(text_column)
    table = detect_pii_table(texts, threads=threads)
    if ner is not None:
        from sctool.pii.ner import merge_spans

        table = merge_spans(table, ner.predict(texts.to_list()), ner.rule_name)
    return table


def apply_redaction(df: pl.DataFrame, table: SpanTable, *, text_column: str, types: Sequence[str], seed: int,
                    annotate_only: bool, pii_column: str, threads: int,
                    guard_stats: dict[str, int] | None = None) -> pl.DataFrame:
    """Replace the chosen types and add the span column; the parse guard keeps parsing documents parsing.

    ``guard_stats`` (when given) receives the parse guard's counts: documents checked, documents
    repaired, spans narrowed and spans left unreplaced.
    """
    replaced = np.isin(table.type, [PII_TYPES.index(t) for t in types]) if len(table) else np.zeros(0, bool)
    if annotate_only:
        return df.with_columns(table.to_series(pii_column, np.zeros(len(table), dtype=bool)))
    red = redact_texts(df.get_column(text_column), table, types=types, seed=seed, threads=threads)
    red, table, replaced = _parse_guard(df, text_column, red, table, replaced, seed, guard_stats)
    return df.with_columns(table.to_series(pii_column, replaced), red.alias(text_column))


def _parse_guard(df: pl.DataFrame, text_column: str, red: pl.Series, table: SpanTable, replaced: np.ndarray,
                 seed: int, stats: dict[str, int] | None) -> tuple[pl.Series, SpanTable, np.ndarray]:
    from sctool.pii.guard import format_of, guard_document

    counts = {"checked": 0, "repaired": 0, "narrowed": 0, "unreplaced": 0}
    docs = np.unique(table.doc[replaced]) if len(table) else np.zeros(0, np.int64)
    paths = df.get_column("path") if "path" in df.columns else None
    langs = df.get_column("lang") if "lang" in df.columns else None
    if not len(docs) or (paths is None and langs is None):
        if stats is not None:
            for k, v in counts.items():
                stats[k] = stats.get(k, 0) + v
        return red, table, replaced
    texts = df.get_column(text_column)
    red_list: list[str | None] | None = None
    start, end = table.start, table.end
    bounds = np.searchsorted(table.doc, np.arange(table.n_docs + 1))
    for d in docs.tolist():
        fmt = format_of(paths[d] if paths is not None else None, langs[d] if langs is not None else None)
        if fmt is None:
            continue
        idx = [i for i in range(bounds[d], bounds[d + 1]) if replaced[i]]
        counts["checked"] += 1
        spans = [(int(table.start[i]), int(table.end[i]), PII_TYPES[table.type[i]]) for i in idx]
        res = guard_document(texts[d], red[d], spans, seed, fmt)
        if res is None:
            continue
        counts["repaired"] += 1
        counts["unreplaced"] += res.kept
        counts["narrowed"] += len(res.narrowed)
        if red_list is None:
            red_list = red.to_list()
            replaced = replaced.copy()
            start, end = start.copy(), end.copy()
        red_list[d] = res.text
        for j, ok in enumerate(res.replaced):
            replaced[idx[j]] = ok
        for j, ns, ne in res.narrowed:
            start[idx[j]], end[idx[j]] = ns, ne
    if stats is not None:
        for k, v in counts.items():
            stats[k] = stats.get(k, 0) + v
    if red_list is None:
        return red, table, replaced
    table = SpanTable(table.n_docs, table.doc, start, end, table.type, table.rule, table.rule_names)
    return pl.Series(red.name, red_list, dtype=pl.String), table, replaced


__all__ = [
    "DEFAULT_REDACT_TYPES",
    "PII_TYPES",
    "PiiRule",
    "PiiSpan",
    "SpanTable",
    "detect_pii",
    "detect_pii_table",
    "mask_secret",
    "pii_rules",
    "redact",
    "redact_texts",
    "synthetic_ip",
]
