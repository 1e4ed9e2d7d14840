"""Streaming JSONL reader (.jsonl, .jsonl.gz, .jsonl.zst) that survives malformed lines.

A bad line is counted and reported with its file and line number; the remaining lines are read.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sctool.errors import DatasetError


@dataclass
class LineErrors:
    """Malformed lines seen while reading, kept as (file, line number, message) samples."""

    count: int = 0
    samples: list[tuple[str, int, str]] = field(default_factory=list)

    def add(self, path: str, lineno: int, msg: str) -> None:
        self.count += 1
        if len(self.samples) < 20:
            self.samples.append((path, lineno, msg))


def open_text(path: Path) -> IO[bytes]:
    """Open a possibly compressed file for binary reading, chosen by suffix."""
    name = path.name
    try:
        if name.endswith(".gz"):
            return gzip.open(path, "rb")
        if name.endswith(".zst"):
            import zstandard

            fh = open(path, "rb")  # noqa: SIM115 - ownership passes to the stream reader
            return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(fh, closefd=True))
        return open(path, "rb")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot open: {exc}") from exc


def iter_jsonl_records(path: Path, errors: LineErrors) -> Iterator[dict[str, Any]]:
    """Yield each JSON object of a JSONL file; malformed or non-object lines go to ``errors``."""
    with open_text(path) as fh:
        lineno = 0
        while True:
            try:
                raw = fh.readline()
            except (OSError, EOFError, ValueError) as exc:
                # Truncated gzip/zstd stream: report and stop reading this file.
                errors.add(str(path), lineno + 1, f"unreadable compressed data: {exc}")
                return
            if not raw:
                return
            lineno += 1
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                errors.add(str(path), lineno, f"invalid JSON: {exc}")
                continue
            if not isinstance(rec, dict):
                errors.add(str(path), lineno, f"expected a JSON object, got {type(rec).__name__}")
                continue
            yield rec
