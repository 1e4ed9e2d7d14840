"""Walking hostile source trees: unreadable directories, FIFOs, device links, symlink loops,
non-UTF-8 file names. Walks that could hang run in a subprocess with a timeout."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from sctool.io.dataset import read_dataset, read_manifest
from sctool.stages.base import Runtime
from sctool.stages.ingest import IngestConfig, run_ingest
from tests.conftest import run_cli

RT = Runtime(quiet=True)


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "a.py").write_text("A = 1\n")
    (root / "b.py").write_text("B = 2\n")
    return root


# -- 6: an unreadable directory is a counted removed row ------------------------------------------

def test_unreadable_directory_is_a_counted_removed_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root, for whom chmod 000 changes nothing; os.scandir is made to fail the way it
    # does for an ordinary user on a mode-000 directory.
    root = _tree(tmp_path)
    (root / "secret").mkdir()
    (root / "secret" / "s.py").write_text("S = 3\n")
    real = os.scandir

    def scandir(path=".", *a, **k):
        if not isinstance(path, int) and Path(os.fsdecode(path)).name == "secret":
            raise PermissionError(13, "Permission denied", os.fsdecode(path))
        return real(path, *a, **k)

    monkeypatch.setattr(os, "scandir", scandir)
    m = run_ingest([root], tmp_path / "out", IngestConfig(), RT)
    removed = read_dataset(tmp_path / "out", removed=True)
    row = removed.filter(pl.col("path") == "secret").row(0, named=True)
    assert row["reason"] == "unreadable" and "Permission denied" in row["error"]
    assert m.stats.removed == {"unreadable": 1}
    assert sorted(read_dataset(tmp_path / "out")["path"].to_list()) == ["b.py", "pkg/a.py"]


# -- 8: only regular files are read, each once, never more than max_file_size + 1 bytes -----------

def test_fifo_in_a_tree_does_not_hang_and_is_counted(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    os.mkfifo(root / "pipe.py")
    proc = run_cli("ingest", root, "-o", tmp_path / "out", "--quiet", timeout=60)
    assert proc.returncode == 0, proc.stderr
    removed = read_dataset(tmp_path / "out", removed=True)
    assert removed.filter(pl.col("path") == "pipe.py")["reason"].to_list() == ["not_regular_file"]


def test_followed_links_read_each_file_once_and_loops_end(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "pkg" / "up").symlink_to("..")  # a cycle back to the root
    (root / "loop1").symlink_to("loop2")
    (root / "loop2").symlink_to("loop1")
    (root / "self").symlink_to("self")
    (root / "alias.py").symlink_to("b.py")
    proc = run_cli("ingest", root, "-o", tmp_path / "out", "--quiet", "--follow-symlinks", timeout=120)
    assert proc.returncode == 0, proc.stderr
    kept = read_dataset(tmp_path / "out")
    assert sorted(kept["content"].to_list()) == ["A = 1\n", "B = 2\n"]
    removed = read_dataset(tmp_path / "out", removed=True)
    reasons = dict(zip(removed["path"].to_list(), removed["reason"].to_list()))
    assert reasons["alias.py"] == "duplicate_link"
    assert reasons["loop1"] == reasons["loop2"] == reasons["self"] == "unreadable"


def test_link_to_dev_zero_is_not_read(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "zero.py").symlink_to("/dev/zero")
    proc = run_cli("ingest", root, "-o", tmp_path / "out", "--quiet", "--follow-symlinks", timeout=60)
    assert proc.returncode == 0, proc.stderr
    removed = read_dataset(tmp_path / "out", removed=True)
    assert removed.filter(pl.col("path") == "zero.py")["reason"].to_list() == ["not_regular_file"]


def test_file_growing_past_its_stat_size_is_cut_at_the_limit(tmp_path: Path, monkeypatch) -> None:
    root = _tree(tmp_path)
    (root / "big.py").write_text("x" * 5000)
    real = os.fstat

    class Small:  # stat says small, the file is large: the read itself must stop
        def __init__(self, st):
            self._st = st

        def __getattr__(self, name):
            return 10 if name == "st_size" else getattr(self._st, name)

    monkeypatch.setattr(os, "fstat", lambda fd: Small(real(fd)))
    monkeypatch.setattr(Path, "stat", lambda self, **k: Small(os.stat(self, **k)))
    run_ingest([root], tmp_path / "out", IngestConfig(max_file_size=100), RT)
    removed = read_dataset(tmp_path / "out", removed=True)
    assert removed.filter(pl.col("path") == "big.py")["reason"].to_list() == ["too_large"]


# -- 9: file names that are not UTF-8 -------------------------------------------------------------

def test_non_utf8_file_name_is_kept_losslessly(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    raw = os.fsencode(root) + b"/caf\xe9.py"
    with open(raw, "wb") as fh:
        fh.write(b"C = 4\n")
    m = run_ingest([root], tmp_path / "out", IngestConfig(), RT)
    kept = read_dataset(tmp_path / "out")
    row = kept.filter(pl.col("content") == "C = 4\n").row(0, named=True)
    assert row["path"] == "caf\\xe9.py" and row["path_bytes"] == b"caf\xe9.py"
    assert row["lang"] == "python"
    assert kept.filter(pl.col("path") == "b.py")["path_bytes"].to_list() == [None]
    assert m.docs_out == 3
    assert read_manifest(tmp_path / "out").docs_in == 3
