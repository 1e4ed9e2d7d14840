"""Atomic file output: write to a temporary name in the same directory, fsync, then rename.

A crash mid-write leaves at most a ``.tmp-*`` file, never a truncated file under the final name.
The file gets the mode any other tool would give it (``0666`` less the umask), not ``mkstemp``'s
private ``0600``. A full disk or a read-only file system is the user's problem to fix, so it becomes
an :class:`~sctool.errors.OutputError` naming the path, not an internal error.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from sctool.errors import OutputError

#: errno values that mean "the place you asked me to write cannot take it", with a remedy.
USER_WRITE_ERRORS = {
    errno.ENOSPC: "no space left on device (free space or choose another output)",
    errno.EDQUOT: "disk quota exceeded (free space or choose another output)",
    errno.EROFS: "read-only file system (choose a writable output)",
    errno.EFBIG: "file too large for this file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
# Polars and PyArrow report OS errors inside their own exception types: "... (os error 28)".
_OS_ERROR_IN_TEXT = re.compile(r"os error (\d+)|\[Errno (\d+)\]")
_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc/self/status``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a newly created regular file gets from ``open(2)``: ``0666`` less the umask."""
    return 0o666 & ~current_umask()


def user_write_errno(exc: BaseException) -> int | None:
    """The errno of ``exc`` when it is a full/read-only/forbidden-disk error, else None."""
    if isinstance(exc, OSError) and exc.errno in USER_WRITE_ERRORS:
        return exc.errno
    m = _OS_ERROR_IN_TEXT.search(str(exc))
    if m:
        code = int(m.group(1) or m.group(2))
        if code in USER_WRITE_ERRORS:
            return code
    return None


@contextlib.contextmanager
def output_errors(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn a full disk, a read-only file system or a permission error while writing ``path`` into
    an :class:`OutputError` that names it (the CLI's exit 2 with one line)."""
    try:
        yield
    except OutputError:
        raise
    except Exception as exc:
        code = user_write_errno(exc)
        if code is None:
            raise
        where = getattr(exc, "filename", None) or path
        raise OutputError(f"{where}: cannot write: {USER_WRITE_ERRORS[code]}") from exc


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; on success it is renamed to ``final``."""
    final = Path(final)
    with output_errors(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".tmp-{final.name}.", dir=final.parent)
        try:
            os.fchmod(fd, file_mode())
        finally:
            os.close(fd)
        tmp_path = Path(tmp)
        try:
            yield tmp_path
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp_path, final)
        finally:
            if tmp_path.exists():
                tmp_path.unlink()


def write_json(final: Path, obj: Any) -> None:
    with atomic_path(final) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")


def write_parquet(final: Path, df: pl.DataFrame) -> None:
    with atomic_path(final) as tmp:
        df.write_parquet(tmp, compression="zstd", statistics=True)
