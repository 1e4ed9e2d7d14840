"""Scratch directories of killed runs are cleaned by the next run; live runs' are left alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import run_cli

PLANNER = textwrap.dedent("""
    import os, sys
    from sctool.dedup.near import NearDupParams, NearDupPlanner
    p = NearDupPlanner(NearDupParams(), exact=False, work_parent=sys.argv[1])
    print(p.work_dir, flush=True)
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), 9)
    sys.stdin.read()
    p.close()
""")


def test_killed_near_dedup_scratch_is_removed_by_the_next_run(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(f'{{"content": "def f{i}(x):\\n    return x + {i}\\n"}}\n' for i in range(50)))
    killed = subprocess.run([sys.executable, "-c", PLANNER, str(tmp_path), "kill"], capture_output=True, text=True)
    assert killed.returncode == -9
    dead_dir = Path(killed.stdout.strip())
    assert dead_dir.is_dir()
    live = subprocess.Popen([sys.executable, "-c", PLANNER, str(tmp_path), "wait"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert live.stdout is not None
        live_dir = Path(live.stdout.readline().strip())
        proc = run_cli("dedup", src, "-o", tmp_path / "out", "--quiet")
        assert proc.returncode == 0, proc.stderr
        assert not dead_dir.exists()
        assert live_dir.is_dir()
    finally:
        assert live.stdin is not None
        live.stdin.close()
        live.wait(timeout=60)
    assert not list(tmp_path.glob(".*sctool-neardup-*"))
