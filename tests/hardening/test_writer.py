"""The shared dataset writer under hostile conditions: concurrent runs, changed inputs, outputs that
overlap inputs, full and read-only disks, part schemas, file modes."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

from sctool.io.dataset import DatasetWriter, read_dataset, read_manifest
from sctool.stages.base import Runtime
from sctool.stages.ingest import IngestConfig, run_ingest
from tests.conftest import run_cli

RT = Runtime(quiet=True)


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "unexpected error" not in lines[0] and "Traceback" not in proc.stderr
    return lines[0]


# -- 1: two runs writing one output ----------------------------------------------------------------

HOLDER = textwrap.dedent("""
    import sys
    import polars as pl
    from sctool.io.dataset import DatasetWriter, PartStats
    w = DatasetWriter(sys.argv[1], stage="ingest", config={"holder": True}, inputs=[])
    print("ready", flush=True)
    sys.stdin.read()
    kept = pl.DataFrame({"id": ["a"], "content": ["held"]})
    w.write(0, kept, None, PartStats(docs_in=1, docs_out=1))
    w.finalize()
""")


def test_second_run_on_a_locked_output_refuses_and_leaves_the_first_intact(source_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        second = run_cli("ingest", source_tree, "-o", out, "--quiet", timeout=120)
        assert second.returncode == 2, second.stderr
        line = _one_error_line(second)
        assert str(out) in line and "in use" in line and str(holder.pid) in line
        assert not out.exists()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        assert holder.wait(timeout=120) == 0
    assert read_dataset(out)["content"].to_list() == ["held"]
    # the lock is gone with its holder: a later run proceeds
    assert run_cli("ingest", source_tree, "-o", out, "--quiet", "--overwrite", timeout=120).returncode == 0


def test_stale_lock_of_a_dead_process_does_not_block(source_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock = tmp_path / ".out.sctool-lock"
    lock.write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname()}))
    run_ingest([source_tree], out, IngestConfig(), RT)
    assert read_manifest(out).docs_in > 0


# -- 2: resume only what was built from the same inputs -------------------------------------------

def _crash_before_finalize(monkeypatch: pytest.MonkeyPatch, fn) -> None:
    def boom(self, extra=None):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(DatasetWriter, "finalize", boom)
        with pytest.raises(KeyboardInterrupt):
            fn()


def test_resume_sees_a_same_size_edit_in_the_middle_of_a_jsonl(tmp_path: Path, monkeypatch) -> None:
    rng = random.Random(3)
    src = tmp_path / "big.jsonl"
    recs = [{"content": "abc" + "".join(rng.choice("abcdef") for _ in range(1000))} for _ in range(3000)]
    src.write_text("".join(json.dumps(r) + "\n" for r in recs))
    rt = Runtime(quiet=True, batch_rows=500)
    out = tmp_path / "out"
    _crash_before_finalize(monkeypatch, lambda: run_ingest([src], out, IngestConfig(), rt))
    st = src.stat()
    data = bytearray(src.read_bytes())
    mid = data.index(b"abc", len(data) // 2)  # inside a document's text
    data[mid] = ord("z")  # same size; the old first/last-MiB fingerprint cannot see it
    src.write_bytes(bytes(data))
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))  # even with the old mtime
    m = run_ingest([src], out, IngestConfig(), rt)
    assert m.extra["resumed_parts"] == 0
    assert any("z" in c for c in read_dataset(out)["content"].to_list())


def test_resume_sees_edited_deleted_and_added_files_in_a_source_tree(source_tree: Path, tmp_path: Path,
                                                                    monkeypatch) -> None:
    out = tmp_path / "out"
    rt = Runtime(quiet=True, batch_rows=2)
    _crash_before_finalize(monkeypatch, lambda: run_ingest([source_tree], out, IngestConfig(), rt))
    (source_tree / "pkg" / "a.py").write_text("def sub(x, y):\n    return x - y\n")  # same size
    (source_tree / "main.c").unlink()
    (source_tree / "pkg" / "new.py").write_text("NEW = 1\n")
    run_ingest([source_tree], out, IngestConfig(), rt)
    fresh = tmp_path / "fresh"
    run_ingest([source_tree], fresh, IngestConfig(), rt)
    got = read_dataset(out).sort("id")
    assert got.equals(read_dataset(fresh).sort("id"))
    assert "main.c" not in got["path"].to_list() and "pkg/new.py" in got["path"].to_list()
    assert "x - y" in got.filter(pl.col("path") == "pkg/a.py")["content"][0]


# -- 3 and 4: outputs that overlap inputs ---------------------------------------------------------

@pytest.mark.parametrize("overwrite", [False, True])
def test_output_equal_to_the_source_tree_is_refused(source_tree: Path, overwrite: bool) -> None:
    before = sorted(p.relative_to(source_tree) for p in source_tree.rglob("*"))
    args = ["ingest", source_tree, "-o", source_tree, "--quiet"] + (["--overwrite"] if overwrite else [])
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert str(source_tree) in _one_error_line(proc)
    assert sorted(p.relative_to(source_tree) for p in source_tree.rglob("*")) == before


def test_output_inside_the_source_tree_is_refused(source_tree: Path) -> None:
    before = sorted(p.relative_to(source_tree) for p in source_tree.rglob("*"))
    proc = run_cli("ingest", source_tree, "-o", source_tree / "sub" / "out", "--quiet")
    assert proc.returncode == 2 and "inside" in _one_error_line(proc)
    assert sorted(p.relative_to(source_tree) for p in source_tree.rglob("*")) == before


def test_output_containing_an_input_file_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "x.jsonl").write_text('{"content": "a"}\n')
    proc = run_cli("ingest", d / "x.jsonl", "-o", d, "--overwrite", "--quiet")
    assert proc.returncode == 2 and "contains" in _one_error_line(proc)
    assert (d / "x.jsonl").exists()


def test_filter_onto_its_own_input_dataset_is_refused(source_tree: Path, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    run_ingest([source_tree], ds, IngestConfig(), RT)
    before = read_dataset(ds)
    proc = run_cli("filter", ds, "-o", ds, "--overwrite", "--quiet")
    assert proc.returncode == 2, proc.stderr
    _one_error_line(proc)
    assert read_dataset(ds).equals(before)


def test_output_path_through_a_symlink_to_the_input_is_refused(source_tree: Path, tmp_path: Path) -> None:
    link = tmp_path / "alias"
    link.symlink_to(source_tree)
    proc = run_cli("ingest", source_tree, "-o", link, "--overwrite", "--quiet")
    assert proc.returncode == 2
    assert (source_tree / "main.c").exists()


# -- 12 (writer side): full and read-only disks ---------------------------------------------------

def test_read_only_output_is_a_user_error_naming_the_path(source_tree: Path, readonly_fs: Path) -> None:
    out = readonly_fs / "existing" / "out"
    proc = run_cli("ingest", source_tree, "-o", out, "--quiet")
    assert proc.returncode == 2
    line = _one_error_line(proc)
    assert str(readonly_fs) in line and "read-only" in line.lower()


def test_full_disk_is_a_user_error_naming_the_path(tmp_path: Path, small_tmpfs: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    rng = random.Random(0)
    for i in range(8):  # ~1 MB of incompressible text; the tmpfs holds 256 KiB
        (src / f"f{i}.txt").write_text("".join(rng.choice("0123456789abcdefghijklmnopqrstuvwxyzABCDEF") for _ in range(120_000)))
    out = small_tmpfs / "out"
    proc = run_cli("ingest", src, "-o", out, "--quiet", "--batch-rows", "2")
    assert proc.returncode == 2
    line = _one_error_line(proc)
    assert str(small_tmpfs) in line and "no space" in line.lower()


# -- 15: one schema per dataset -------------------------------------------------------------------

def test_parts_share_one_schema_recorded_in_the_manifest(tmp_path: Path) -> None:
    src = tmp_path / "t.jsonl"
    rows = [{"content": f"x{i}", "stars": str(i)} for i in range(5)]
    rows += [{"content": f"y{i}", "stars": i, "license": "MIT"} for i in range(5)]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    run_ingest([src], out, IngestConfig(), Runtime(quiet=True, batch_rows=5))
    schemas = {str(pl.read_parquet_schema(p)) for p in sorted(out.glob("part-*.parquet"))}
    assert len(schemas) == 1
    df = pl.scan_parquet(str(out / "part-*.parquet")).collect()
    assert df.height == 10 and df.schema["stars"] == pl.String
    assert df["stars"].to_list()[5:] == ["0", "1", "2", "3", "4"]
    schema = json.loads((out / "manifest.json").read_text())["schema"]
    assert schema["stars"] == "String" and schema["license"] == "String"


# -- 17: file modes follow the umask --------------------------------------------------------------

@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_output_files_follow_the_umask(source_tree: Path, tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        run_ingest([source_tree], tmp_path / "out", IngestConfig(), RT)
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert files and {oct(p.stat().st_mode & 0o777) for p in files} == {oct(mode)}
