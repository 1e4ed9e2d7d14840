"""Shared test fixtures and Hypothesis profiles (fast by default; SCTOOL_HYPOTHESIS=slow for more)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# In CI the examples are derandomized (the same on every run), so a red build always reproduces.
settings.register_profile("fast", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                          derandomize=bool(os.environ.get("CI")))
settings.register_profile("slow", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("SCTOOL_HYPOTHESIS", "fast"))

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def sctool_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "sctool"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "sctool_cli"]


def run_cli(*args: str, cwd: Path | None = None, check: bool = False, input: str | None = None,
            timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.run([*sctool_cmd(), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=env, input=input, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"sctool {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


@pytest.fixture
def shared_data() -> Path:
    if not SHARED.exists():
        pytest.skip("../shared is not present")
    return SHARED / "data"


@pytest.fixture
def source_tree(tmp_path: Path) -> Path:
    """A small source tree with good files and every kind of bad file."""
    root = tmp_path / "myrepo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "a.py").write_text("def add(x, y):\n    return x + y\n")
    (root / "pkg" / "b.py").write_text("def add(x, y):\n    return x + y\n")  # exact duplicate of a.py
    (root / "main.c").write_text("int main(void) { return 0; }\n")
    (root / "README.md").write_text("# my repo\n\nSome text.\n")
    (root / "notes").write_text("no extension here\n")
    (root / "empty.py").write_bytes(b"")
    (root / "latin1.py").write_bytes("x = 'caf\xe9'\n".encode("latin-1"))
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (root / "big.js").write_text("var x = 1;\n" * 20000)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\x00\x01")
    return root


@pytest.fixture
def has_cli() -> bool:
    return shutil.which("sctool") is not None or (Path(sys.executable).parent / "sctool").exists()
