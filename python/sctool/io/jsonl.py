"""Streaming JSONL reader (.jsonl, .jsonl.gz, .jsonl.zst) that survives malformed lines.

A bad line is counted and reported with its file and line number; the remaining lines are read.
A truncated or corrupt compressed stream is different: what follows the damage is lost, so it is an
error naming the file, never a short read that exits 0.
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


class TruncatedStreamError(OSError):
    """The compressed stream ended inside a frame."""


class _ZstdFrames(io.RawIOBase):
    """Decompresses every zstd frame of a file and raises at the end if the last frame is incomplete.

    ``zstandard``'s stream reader returns end-of-file at the end of the input even in the middle of
    a frame, so a truncated file would read as a shorter valid one.
    """

    def __init__(self, path: Path) -> None:
        import zstandard

        self._zstd = zstandard
        self._fh = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()
        self._buf = b""
        self._pos = 0
        self._in_frame = False
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf and not self._eof:
            chunk = self._fh.read(1 << 20)
            if not chunk:
                self._eof = True
                if self._in_frame:
                    raise TruncatedStreamError("compressed stream ends inside a zstd frame")
                break
            out = []
            while chunk:
                self._in_frame = True
                out.append(self._obj.decompress(chunk))
                if self._obj.eof:
                    chunk = self._obj.unused_data
                    self._obj = self._dctx.decompressobj()
                    self._in_frame = False
                else:
                    chunk = b""
            self._buf = b"".join(out)
        n = min(len(b), len(self._buf) - self._pos)
        b[:n] = self._buf[self._pos : self._pos + n]
        self._pos += n
        if self._pos == len(self._buf):
            self._buf, self._pos = b"", 0
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def open_text(path: Path) -> IO[bytes]:
    """Open a possibly compressed file for binary reading, chosen by suffix."""
    name = path.name
    try:
        if name.endswith(".gz"):
            return gzip.open(path, "rb")
        if name.endswith(".zst"):
            return io.BufferedReader(_ZstdFrames(path), buffer_size=1 << 20)
        return open(path, "rb")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot open: {exc}") from exc


def iter_jsonl_records(path: Path, errors: LineErrors) -> Iterator[dict[str, Any]]:
    """Yield each JSON object of a JSONL file; malformed or non-object lines go to ``errors``."""
    for _, rec in iter_jsonl_numbered(path, errors):
        yield rec


def iter_jsonl_numbered(path: Path, errors: LineErrors) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each JSON object of a JSONL file (see :func:`iter_jsonl_records`)."""
    with open_text(path) as fh:
        lineno = 0
        while True:
            try:
                raw = fh.readline()
            except (OSError, EOFError, ValueError) as exc:
                raise DatasetError(
                    f"{path}: truncated or corrupt compressed data after line {lineno}: {exc}"
                ) from exc
            except Exception as exc:
                if type(exc).__module__.startswith("zstandard") or "Zstd" in type(exc).__name__:
                    raise DatasetError(f"{path}: corrupt compressed data after line {lineno}: {exc}") from exc
                raise
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
            yield lineno, rec
