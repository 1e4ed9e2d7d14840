#!/usr/bin/env bash
# Create (or reuse) the project virtualenv and point ./.venv at it.
#
# Why a cache outside the clone: PyPI's torch for Linux is a CUDA build of several GB. CI and every
# fresh clone on the same machine reuse one environment keyed by the requirement files' hash, so the
# download happens once per machine. Set SCTOOL_VENV to put it elsewhere.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3.11}"
command -v "$py" >/dev/null 2>&1 || py=python3
key="$(cat requirements/*.txt | sha256sum | cut -c1-12)"
venv="${SCTOOL_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/sctool/venv-$key}"
if [ ! -f "$venv/.sctool-complete" ]; then
  echo "setup: creating $venv (first run on this machine downloads torch; later runs reuse it)" >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip uv
  "$venv/bin/python" -m uv pip install --python "$venv/bin/python" --compile-bytecode -r requirements/dev.txt
  touch "$venv/.sctool-bytecode" "$venv/.sctool-complete"
fi
# Bytecode for every installed module. uv (unlike pip) installs without it, and where
# PYTHONDONTWRITEBYTECODE is set Python never caches it either: every process then compiles Polars,
# NumPy, PyArrow and torch from source, which was most of a command's start-up (0.8 s before the
# first batch, 0.27 s with bytecode; docs/performance.md). Venvs made before this step get it once.
if [ ! -f "$venv/.sctool-bytecode" ]; then
  echo "setup: compiling bytecode in $venv (once; ~30 s)" >&2
  # A few test files inside packages target newer Pythons and do not compile; they are never imported.
  "$venv/bin/python" -m compileall -q -j 0 "$venv/lib" >/dev/null 2>&1 || true
  touch "$venv/.sctool-bytecode"
fi
touch "$venv/.sctool-complete"
if [ "$(readlink .venv 2>/dev/null || true)" != "$venv" ]; then
  rm -rf .venv
  ln -s "$venv" .venv
fi
