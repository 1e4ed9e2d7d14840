"""``sctool decontam --explain DOC_ID OUT``: why a document was removed, both sides side by side.

Reads the ``removed/`` rows of a decontam output; each match carries the benchmark, item, method,
part, score, the decoded view it was found in, the document offsets (Python string offsets into the
stored text) and the matched excerpts of the document and of the benchmark.
"""

from __future__ import annotations

import textwrap
from itertools import zip_longest
from pathlib import Path
from typing import Any

import polars as pl

from sctool.errors import ConfigError, DatasetError

ID_COLUMNS = ("id", "doc_id", "__id")


def find_removed(output: str | Path, doc_id: str) -> dict[str, Any]:
    """The removed row whose id is ``doc_id`` (an ``id``-like column, or the row number ``#N``)."""
    d = Path(output) / "removed"
    files = sorted(d.glob("*.parquet"))
    if not files:
        raise DatasetError(f"{d}: no removed/*.parquet files (is {output} the output of sctool decontam?)")
    df = pl.read_parquet(files)
    if "matches" not in df.columns:
        raise DatasetError(f"{d}: removed rows carry no 'matches' column (not a decontam output)")
    col = next((c for c in ID_COLUMNS if c in df.columns), None)
    if doc_id.startswith("#") and doc_id[1:].isdigit():
        k = int(doc_id[1:])
        if k >= df.height:
            raise ConfigError(f"--explain {doc_id}: only {df.height} removed documents in {output}")
        return df.row(k, named=True)
    if col is None:
        raise ConfigError(f"--explain {doc_id}: removed rows have no id column ({', '.join(ID_COLUMNS)}); "
                          f"use #N for the N-th removed document (0-based)")
    hit = df.filter(pl.col(col).cast(pl.String) == doc_id)
    if hit.height == 0:
        raise ConfigError(f"--explain {doc_id}: no removed document with {col} = {doc_id!r} in {output} "
                          f"({df.height} removed)")
    return hit.row(0, named=True)


def _column(text: str, width: int) -> list[str]:
    out: list[str] = []
    for line in text.splitlines() or [""]:
        line = line.expandtabs(4)
        out.extend(textwrap.wrap(line, width, drop_whitespace=False, replace_whitespace=False) or [""])
    return out


def explain(output: str | Path, doc_id: str, width: int = 60) -> str:
    row = find_removed(output, doc_id)
    matches = row["matches"] or []
    lines = [f"document {doc_id}: removed ({row.get('reason', 'contaminated')}), {len(matches)} match(es)"]
    for m in matches:
        lines.append("")
        lines.append(f"== {m['benchmark']} {m['item']}  method={m['method']}  part={m['part']}  "
                     f"score={m['score']:.2f}  view={m.get('view') or 'document'}  "
                     f"document[{m.get('doc_start')}:{m.get('doc_end')}]")
        left = _column(m.get("doc_excerpt") or "", width)
        right = _column(m.get("bench_excerpt") or "", width)
        lines.append(f"{'document (decoded view)':<{width}} | benchmark")
        lines.append(f"{'-' * width}-+-{'-' * width}")
        for a, b in zip_longest(left, right, fillvalue=""):
            lines.append(f"{a:<{width}} | {b}")
    return "\n".join(lines) + "\n"
