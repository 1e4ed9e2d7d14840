"""SHA-256 sidecar files (``<file>.sha256``, the ``sha256sum`` format) for checkpoints and weights.

Neither ``torch.load`` nor safetensors checks the bytes of the tensors it reads, so a file with a
block overwritten loads silently; the sidecar written with the file is checked before every load.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sctool.errors import InvalidInputError

SUFFIX = ".sha256"


def checksum_path(path: str | Path) -> Path:
    p = Path(path)
    return p.with_name(p.name + SUFFIX)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def write_checksum(path: str | Path) -> Path:
    """Write ``<path>.sha256`` for a file just saved (atomically: a reader sees the old or the new)."""
    p = Path(path)
    side = checksum_path(p)
    tmp = side.with_name(f".{side.name}.tmp")
    tmp.write_text(f"{sha256_file(p)}  {p.name}\n", encoding="ascii")
    os.replace(tmp, side)
    return side


def verify_against_sidecar(path: str | Path) -> bool:
    """True when ``path`` matches its sidecar, False when it has none; raise when it does not match."""
    p = Path(path)
    side = checksum_path(p)
    if not side.exists():
        return False
    try:
        expected = side.read_text(encoding="ascii").split()[0]
    except (OSError, UnicodeDecodeError, IndexError) as exc:
        raise InvalidInputError(f"{side}: unreadable checksum file: {exc}") from exc
    try:
        actual = sha256_file(p)
    except OSError as exc:
        raise InvalidInputError(f"{p}: cannot read: {exc.strerror or exc}") from exc
    if actual != expected:
        raise InvalidInputError(
            f"{p}: checksum mismatch against {side.name} (the file was truncated or overwritten after saving)"
        )
    return True
