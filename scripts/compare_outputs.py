"""Compare two runs of the curation stages, stage by stage: the check that a refactor changed no output.

Usage::

    python scripts/compare_outputs.py OLD_RUN NEW_RUN [--json REPORT]

Each run directory holds one sub-directory per stage (as ``scripts/stage_outputs.sh`` writes them).
Datasets are compared row by row after sorting by ``id`` (part boundaries and row order are not
contracts), on the columns both sides have; columns only one side has are listed, not failed,
because a behaviour change asked for elsewhere may add a column. Kept and ``removed/`` rows are
compared separately, removal reasons included. Token files (``.bin``/``.idx``) and tokenizers
(``tokenizer.json``) must be byte-identical. The exit status is 1 when any shared column differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import polars as pl


def read_rows(directory: Path) -> pl.DataFrame | None:
    parts = sorted(directory.glob("*.parquet"))
    if not parts:
        return None
    frame = pl.concat([pl.read_parquet(p) for p in parts], how="diagonal_relaxed")
    key = "id" if "id" in frame.columns else frame.columns[0]
    return frame.sort(key)


def compare_frames(old: pl.DataFrame | None, new: pl.DataFrame | None) -> dict[str, Any]:
    if old is None or new is None:
        return {"equal": old is None and new is None, "rows": [0 if old is None else old.height,
                                                               0 if new is None else new.height]}
    shared = [c for c in old.columns if c in new.columns]
    result: dict[str, Any] = {
        "rows": [old.height, new.height],
        "only_old": [c for c in old.columns if c not in new.columns],
        "only_new": [c for c in new.columns if c not in old.columns],
        "differing_columns": {},
    }
    if old.height != new.height:
        result["equal"] = False
        return result
    for col in shared:
        a, b = old.get_column(col), new.get_column(col)
        if a.dtype != b.dtype:
            try:
                b = b.cast(a.dtype)
            except pl.exceptions.PolarsError:
                result["differing_columns"][col] = f"dtype {a.dtype} vs {b.dtype}"
                continue
        differ = int((a.ne_missing(b)).sum())
        if differ:
            result["differing_columns"][col] = f"{differ} of {old.height} rows"
    result["equal"] = not result["differing_columns"]
    return result


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def compare_stage(old: Path, new: Path) -> dict[str, Any]:
    if old.is_file() or new.is_file():
        same = old.is_file() and new.is_file() and file_digest(old) == file_digest(new)
        return {"kind": "file", "equal": same}
    token_files = sorted(p.relative_to(old) for p in old.rglob("*") if p.suffix in (".bin", ".idx"))
    if token_files:
        differing = [str(p) for p in token_files if not (new / p).is_file() or file_digest(old / p) != file_digest(new / p)]
        return {"kind": "tokens", "files": len(token_files), "differing": differing, "equal": not differing}
    if not any(old.glob("*.parquet")) and not (old / "removed").is_dir():
        names = sorted(p.name for p in old.iterdir() if p.is_file() and not p.name.endswith("manifest.json"))
        differing = [n for n in names if not (new / n).is_file() or file_digest(old / n) != file_digest(new / n)]
        return {"kind": "files", "files": len(names), "differing": differing, "equal": not differing}
    kept = compare_frames(read_rows(old), read_rows(new))
    removed = compare_frames(read_rows(old / "removed"), read_rows(new / "removed"))
    return {"kind": "dataset", "kept": kept, "removed": removed, "equal": kept["equal"] and removed["equal"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--json", type=Path, help="write the full comparison here")
    args = ap.parse_args(argv)
    report: dict[str, Any] = {}
    for stage in sorted(p.name for p in args.old.iterdir()):
        if (args.new / stage).exists():
            report[stage] = compare_stage(args.old / stage, args.new / stage)
        else:
            report[stage] = {"equal": False, "missing": "new run has no output"}
    for stage, res in report.items():
        detail = ""
        if res.get("kind") == "dataset":
            k, r = res["kept"], res["removed"]
            detail = f"kept {k['rows'][0]}→{k['rows'][1]}, removed {r['rows'][0]}→{r['rows'][1]}"
            for side, part in (("kept", k), ("removed", r)):
                if part.get("differing_columns"):
                    detail += f"; {side} differs in {part['differing_columns']}"
                if part.get("only_new"):
                    detail += f"; {side} new columns {part['only_new']}"
                if part.get("only_old"):
                    detail += f"; {side} dropped columns {part['only_old']}"
        elif res.get("kind") in ("tokens", "files"):
            detail = f"{res['files']} file(s)" + (f", differing {res['differing']}" if res["differing"] else "")
        print(f"{'same' if res['equal'] else 'DIFF'}  {stage:<22} {detail}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(r["equal"] for r in report.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
