"""A wheel install is a working install: build both wheels, install them into a fresh venv outside the
checkout, and run stages and a few training steps from there (presets come from package data).

The fresh venv gets the wheels only; their third-party dependencies (torch is several GB) come from
the project venv's site-packages through a path entry, which does not run that venv's editable-install
hooks, so ``sctool`` itself can only be the installed wheel's.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 900) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("cargo") is None:
        pytest.skip("cargo is not installed: the extension wheel cannot be built")
    tmp = tmp_path_factory.mktemp("wheel")
    dist = tmp / "dist"
    env = {**os.environ}
    env.setdefault("CARGO_TARGET_DIR", str(Path.home() / ".cache" / "sctool" / "target"))
    _run([sys.executable, "-m", "maturin", "build", "--release", "-q", "-o", str(dist)], REPO, env)
    cli_src = tmp / "cli-src"  # setuptools writes build/ beside the sources: keep it out of the checkout
    shutil.copytree(REPO / "cli", cli_src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist),
          str(cli_src)], tmp, env)
    wheels = sorted(dist.glob("*.whl"))
    assert {w.name.split("-")[0] for w in wheels} == {"sctool", "sctool_cli"}, wheels
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp)
    vpy = venv / "bin" / "python"
    _run([sys.executable, "-m", "uv", "pip", "install", "-q", "--python", str(vpy), "--no-deps",
          *map(str, wheels)], tmp, env)
    purelib = _run([str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp).strip()
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    Path(purelib, "_project_deps.pth").write_text("\n".join(deps) + "\n")
    return venv


def test_installed_wheel_runs_stages_and_training(wheel_venv: Path, tmp_path: Path) -> None:
    bin_ = wheel_venv / "bin"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SCTOOL_CONFIGS")}
    env["PATH"] = f"{bin_}{os.pathsep}{env.get('PATH', '')}"
    where = _run([str(bin_ / "python"), "-c", "import sctool, sctool_cli, sctool._native as n; "
                  "print(sctool.__file__); print(sctool_cli.__file__); print(n.__file__)"], tmp_path, env)
    for line in where.split():
        assert line.startswith(str(wheel_venv)), f"imported from outside the installed wheel: {line}"
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    for i in range(40):
        (src / "pkg" / f"m{i}.py").write_text(f"def f{i}(x):\n    return x * {i} + {i % 7}\n" * 20)
    (src / "pkg" / "copy.py").write_text((src / "pkg" / "m1.py").read_text())
    sctool = str(bin_ / "sctool")
    _run([sctool, "ingest", str(src), "-o", "raw", "--quiet"], tmp_path, env)
    _run([sctool, "filter", "raw", "-o", "filtered", "--quiet"], tmp_path, env)
    summary = json.loads(_run([sctool, "dedup", "filtered", "-o", "dedup", "--quiet", "--json"], tmp_path, env))
    assert summary["removed"].get("exact_duplicate") == 1
    _run([sctool, "train-tokenizer", "dedup", "-o", "tok.json", "--vocab-size", "300", "--quiet"], tmp_path, env)
    _run([sctool, "tokenize", "dedup", "-o", "tokens/corpus", "--tokenizer", "tok.json", "--quiet"], tmp_path, env)
    # `--model tiny` is a preset: found in the installed package, not in a checkout's configs/.
    _run([str(bin_ / "python"), "-m", "train", "fit", "--model", "tiny", "--data", "tokens/corpus",
          "--tokenizer", "tok.json", "--out", "run", "--data.seq_len", "64", "--trainer.max_steps", "3",
          "--trainer.micro_batch_size", "2", "--trainer.val_every", "0", "--trainer.ckpt_every", "3",
          "--trainer.progress_bar", "false", "--trainer.accelerator", "cpu", "--trainer.precision", "32-true"],
         tmp_path, env)
    assert (tmp_path / "run" / "metrics.csv").exists()
    _run([sctool, "export-hf", "run", "hf"], tmp_path, env)
    assert (tmp_path / "hf" / "config.json").exists()
