"""Attribution of many generated samples at once (``sctool attribute --jsonl``, ``--attribute`` of
``sctool generate`` and ``sctool eval``): one column per sample, one summary per run, so
memorisation can be measured across a whole benchmark."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sctool.attribution.membership import Attribution, MembershipIndex
from sctool.errors import InvalidInputError

#: Fields tried, in order, for the generated text of a sample record.
TEXT_FIELDS = ("completion", "generation", "output", "text", "content")
#: Chains at least this many windows long count as "copied" in run summaries.
COPIED_WINDOWS = 2


def compact(a: Attribution, top: int = 3) -> dict[str, Any]:
    """The per-sample column: small enough to sit in every JSONL line."""
    return {
        "covered_fraction": a.covered_fraction,
        "longest_chain": a.longest_chain,
        "spans": [list(s) for s in a.spans],
        "sources": [{"id": s.id, "repo": s.repo, "path": s.path, "license": s.license, "windows": s.windows}
                    for s in a.sources[:top]],
    }


def pick_field(record: dict[str, Any], field: str | None) -> str:
    if field:
        if field not in record:
            raise InvalidInputError(f"sample has no field {field!r}; fields are {sorted(record)}")
        return field
    for f in TEXT_FIELDS:
        if isinstance(record.get(f), str):
            return f
    raise InvalidInputError(f"sample has none of the text fields {TEXT_FIELDS}; pass --field")


def read_samples(path: str | Path) -> list[dict[str, Any]]:
    out = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as exc:
                raise InvalidInputError(f"{path}:{n}: not JSON ({exc})") from exc
            if not isinstance(rec, dict):
                raise InvalidInputError(f"{path}:{n}: expected a JSON object per line")
            out.append(rec)
    return out


def attribute_texts(index: MembershipIndex, texts: Sequence[str], *, exact: bool = False, top: int = 3,
                    threads: int = 0, batch: int = 2048) -> list[dict[str, Any]]:
    cols: list[dict[str, Any]] = []
    for i in range(0, len(texts), batch):
        part = texts[i: i + batch]
        if exact:
            cols.extend(compact(a, top) for a in index.attribute(part, exact=True, top=top, threads=threads))
        else:
            cols.extend(index.attribute_compact(part, top=top, threads=threads))
    return cols


def run_summary(cols: Sequence[dict[str, Any]], window: int) -> dict[str, Any]:
    """Mean covered fraction, share of samples with a chain of >= COPIED_WINDOWS windows, top sources."""
    n = len(cols)
    copied = sum(1 for c in cols if c["longest_chain"] >= COPIED_WINDOWS * window)
    top: Counter[str] = Counter()
    for c in cols:
        for s in c["sources"]:
            top[f"{s.get('repo') or '?'}/{s.get('path') or s.get('id')}"] += 1
    return {
        "samples": n,
        "mean_covered_fraction": round(sum(c["covered_fraction"] for c in cols) / n, 6) if n else 0.0,
        "copied_samples": copied,
        "copied_min_chars": COPIED_WINDOWS * window,
        "top_sources": [{"source": k, "samples": v} for k, v in top.most_common(10)],
    }


def attribute_rows(rows: list[dict[str, Any]], index_dir: str | Path, *, field: str = "completion",
                   exact: bool = False, top: int = 3, threads: int = 0) -> dict[str, Any]:
    """Add an ``attribution`` column to each row (in place); returns the run summary."""
    index = MembershipIndex(index_dir)
    texts = [str(r.get(field) or "") for r in rows]
    cols = attribute_texts(index, texts, exact=exact, top=top, threads=threads)
    for r, c in zip(rows, cols):
        r["attribution"] = c
    return run_summary(cols, index.window)


def attribute_samples_file(path: str | Path, index_dir: str | Path, *, exact: bool = False, top: int = 3,
                           threads: int = 0) -> dict[str, Any]:
    """Rewrite a samples JSONL (plain or .gz) with an ``attribution`` column; returns the run summary.

    Other fields and the line order are kept, so readers that ignore unknown fields (the eval
    scorer) read the file as before.
    """
    import gzip

    from sctool.io.atomic import atomic_path

    p = Path(path)
    opener = gzip.open if p.name.endswith(".gz") else open
    rows: list[dict[str, Any]] = []
    with opener(p, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a torn last line: the eval reader drops it too
                if isinstance(rec, dict):
                    rows.append(rec)
    field = pick_field(rows[0], None) if rows else "completion"
    summary = attribute_rows(rows, index_dir, field=field, exact=exact, top=top, threads=threads)
    with atomic_path(p) as tmp, opener(tmp, "wt", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return summary


def summary_line(summary: dict[str, Any]) -> str:
    top = summary["top_sources"][0]["source"] if summary["top_sources"] else "none"
    return (f"attribution: {summary['samples']} completions, mean covered fraction "
            f"{summary['mean_covered_fraction']:.3f}, {summary['copied_samples']} with a copied chain of "
            f">= {summary['copied_min_chars']} chars; top source: {top}")
