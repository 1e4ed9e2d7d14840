"""Fixtures for the hardening tests: scratch mounts (tmpfs, read-only) where the test runs as root."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _mount(args: list[str]) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs: a real full disk (needs root and mount(2); skipped otherwise)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or not _mount(["-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)]):
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.fixture
def readonly_fs(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs remounted read-only: writes fail with EROFS (needs root and mount(2); skipped otherwise)."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if os.geteuid() != 0 or not _mount(["-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)]):
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        (mnt / "existing").mkdir()
        if not _mount(["-o", "remount,ro", str(mnt)]):
            pytest.skip("cannot remount a tmpfs read-only here")
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
