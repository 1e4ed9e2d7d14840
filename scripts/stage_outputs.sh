#!/usr/bin/env bash
# Run the curation stages of `make demo` one by one, each on a fixed input, for before/after checks:
#
#   scripts/stage_outputs.sh OUT [INPUTS]
#
# With INPUTS (a previous OUT), every stage reads INPUTS' output of the stage before it instead of
# its own, so each stage is compared on identical input even if an earlier stage changed. Run it
# once with the old build (INPUTS unset), once with the new one (INPUTS = the old OUT), then
# `python scripts/compare_outputs.py OLD NEW`. `sctool` is whatever is first on PATH/PYTHONPATH.
set -euo pipefail
out="$1"
inputs="${2:-$1}"
problems="${PROBLEMS:?set PROBLEMS to a HumanEval-style JSONL for decontam}"
mkdir -p "$out"
run() { printf '==> %s\n' "$1" >&2; shift; "$@"; }
sc() { python -m sctool_cli.main "$@"; }

run ingest sc ingest --stdlib -o "$out/01-ingest" --quiet
run filter sc filter "$inputs/01-ingest" -o "$out/02-filter" --quiet
run dedup-both sc dedup "$inputs/02-filter" -o "$out/03-dedup" --both --quiet
run dedup-exact sc dedup "$inputs/02-filter" -o "$out/03a-dedup-exact" --exact --quiet
run dedup-near sc dedup "$inputs/02-filter" -o "$out/03b-dedup-near" --near --quiet
run redact sc redact "$inputs/03-dedup" -o "$out/04-redact" --quiet
run decontam sc decontam "$inputs/04-redact" -o "$out/05-decontam" --benchmark "humaneval=$problems" --quiet
run decontam-exact sc decontam "$inputs/04-redact" -o "$out/05a-decontam-exact" --benchmark "humaneval=$problems" \
  --method exact --quiet
mkdir -p "$out/06-tokenizer"
run train-tokenizer sc train-tokenizer "$inputs/05-decontam" -o "$out/06-tokenizer/tokenizer.json" \
  --vocab-size 4096 --max-chars 20000000 --quiet
run format sc format "$inputs/05-decontam" -o "$out/07-format" --quiet
run tokenize sc tokenize "$inputs/07-format" -o "$out/08-tokens/stdlib" \
  --tokenizer "$inputs/06-tokenizer/tokenizer.json" --quiet
