#!/usr/bin/env bash
# `make demo`: the StarCoder pipeline end to end on the embedded default corpus (this Python's
# standard library), printing what each step did.
set -euo pipefail
out="${1:-demo-out}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$root/.venv/bin:$PATH"
rm -rf "$out"
mkdir -p "$out"
step() { printf '\n==> %s\n' "$*" >&2; }

step "ingest: the Python standard library as a real code corpus"
sctool ingest --stdlib -o "$out/01-ingest" --quiet
sctool stats "$out/01-ingest" | head -8

step "dedup: exact duplicates"
sctool dedup "$out/01-ingest" -o "$out/02-dedup" --quiet

printf '\nDemo finished: datasets under %s/\n' "$out" >&2
