#!/usr/bin/env bash
# `make demo`: the StarCoder pipeline end to end on the embedded default corpus (this Python's
# standard library), printing what each step did:
#   ingest → filter → dedup → redact → decontam → train-tokenizer → format → tokenize
#   → train a tiny MQA model → complete and infill code → evaluate (pass@k, infilling, perplexity)
set -euo pipefail
out="${1:-demo-out}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$root/.venv/bin:$PATH"
rm -rf "$out"
mkdir -p "$out"
step() { printf '\n==> %s\n' "$*" >&2; }
t0=$SECONDS

step "1/11 ingest: the Python standard library as a real code corpus"
sctool ingest --stdlib -o "$out/01-ingest" --quiet
sctool stats "$out/01-ingest" | head -6

step "2/11 filter: StarCoder's per-extension quality filters"
sctool filter "$out/01-ingest" -o "$out/02-filter" --quiet

step "3/11 dedup: exact, then MinHash-LSH near duplicates (5-grams, 256 perms, 0.7 → 25×10 bands)"
sctool dedup "$out/02-filter" -o "$out/03-dedup" --both --quiet

step "4/11 redact: e-mails, IPs, keys, passwords, names"
sctool redact "$out/03-dedup" -o "$out/04-redact" --quiet

step "5/11 decontam: remove files containing benchmark items"
# sctool ships no benchmark data: use a HumanEval/MBPP copy when one is around, else the demo's own items.
python scripts/demo_problems.py "$out/problems"
bench=(--benchmark "humaneval=$out/problems/demo-humaneval.jsonl")
shared="$root/../shared/data/benchmarks"
if [ -f "$shared/humaneval/HumanEval.jsonl.gz" ]; then
  bench=(--benchmark "humaneval=$shared/humaneval/HumanEval.jsonl.gz" --benchmark "mbpp=$shared/mbpp/mbpp.jsonl")
fi
sctool decontam "$out/04-redact" -o "$out/05-decontam" "${bench[@]}" --quiet

step "6/11 train-tokenizer: byte-level BPE with StarCoder's 19 special tokens (demo vocabulary 4096)"
sctool train-tokenizer "$out/05-decontam" -o "$out/tokenizer.json" --vocab-size 4096 --max-chars 20000000 --quiet

step "7/11 format: <reponame>/<filename>/<gh_stars> metadata prefixes (p = 0.2 each)"
sctool format "$out/05-decontam" -o "$out/07-format" --quiet

step "8/11 tokenize: Megatron .bin/.idx with <|endoftext|> after each document"
sctool tokenize "$out/07-format" -o "$out/tokens/stdlib" --tokenizer "$out/tokenizer.json" --quiet

step "9/11 train: the tiny MQA preset on 2 CPU cores (FIM 0.5, AdamW 0.9/0.95, cosine) — watch the loss fall"
python -m train fit --config configs/train/tiny.yaml --data "$out/tokens/stdlib" \
  --tokenizer "$out/tokenizer.json" --out "$out/train" --trainer.progress_bar false
python - "$out/train/metrics.csv" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r.get("loss")]
print("training loss by step: " + "  ".join(f"{r['step']}:{float(r['loss']):.2f}" for r in rows[:: max(1, len(rows) // 8)]))
first, last = float(rows[0]["loss"]), float(rows[-1]["loss"])
print(f"loss {first:.2f} -> {last:.2f} ({'falling' if last < first else 'NOT falling'})")
PY
python -m train export-hf "$out/train" "$out/model"

step "10/11 generate and infill with the model just trained (tiny and briefly trained: expect code-shaped noise)"
printf 'completion of "def read_config(path):" ->\n'
sctool generate --model "$out/model" --prompt 'def read_config(path):' --max-new-tokens 48 \
  --temperature 0.8 --top-p 0.95 --seed 0
printf '\ninfill between "def add(a, b):" and "return result" ->\n'
sctool infill --model "$out/model" --prefix 'def add(a, b):\n    ' --suffix '\n    return result\n' \
  --max-new-tokens 24 --temperature 0.8 --top-p 0.95 --seed 0
echo

step "11/11 evaluate: HumanEval-style pass@k (sandboxed), infilling exact match, perplexity"
sctool eval humaneval --model "$out/model" --problems "$out/problems/demo-humaneval.jsonl" \
  --samples "$out/eval/he-samples.jsonl" --n-samples 2 --max-length 128 --k 1,2 --quiet
sctool eval infill --model "$out/model" --problems "$out/problems/demo-infill.jsonl" \
  --samples "$out/eval/fim-samples.jsonl" --max-length 128 --quiet
sctool eval ppl --model "$out/model" --data "$out/tokens/stdlib" --max-tokens 8192 -o "$out/eval/ppl.json" --quiet


step "attribution: did the model copy its training data? (sctool index build / attribute / search)"
search=()
if python -c "import tantivy" 2>/dev/null; then search=(--search); fi
sctool index build "$out/05-decontam" -o "$out/attribution-index" "${search[@]}"
printf 'a generated completion ->\n'
sctool generate --model "$out/model" --prompt 'def read_config(path):' --max-new-tokens 48 \
  --temperature 0.8 --top-p 0.95 --seed 0 --attribute "$out/attribution-index"
echo
printf 'four lines copied from the corpus, re-indented ->\n'
python - "$out/05-decontam" > "$out/copied-snippet.py" <<'PY'
import sys
from sctool.io.dataset import read_dataset
docs = read_dataset(sys.argv[1], columns=["content", "path"]).rows()
text = next(t for t, p in docs if t and (p or "").endswith(".py") and t.count("\n") > 40)
lines = text.splitlines()
i = next(i for i in range(10, len(lines) - 4) if sum(len("".join(ln.split())) for ln in lines[i:i + 4]) >= 200)
print("\n".join("  " + ln.strip() for ln in lines[i:i + 4]))  # consecutive lines, re-indented
PY
sctool attribute "$out/attribution-index" -f "$out/copied-snippet.py" --exact
if [ -d "$out/attribution-index/search" ]; then
  printf '\nfull-text search for "read config file" ->\n'
  sctool search "$out/attribution-index" "read config file" -k 3
fi

step "report: the whole run as one HTML page of plots (sctool report; needs the report extra, matplotlib)"
if python -c "import matplotlib" 2>/dev/null; then
  sctool report "$out" -o "$out/report.html" --quiet >/dev/null
  printf 'Open the report: %s\n' "$(cd "$out" && pwd)/report.html" >&2
else
  printf "matplotlib is not installed: pip install 'sctool[report]' then run: sctool report %s -o %s/report.html\n" "$out" "$out" >&2
fi

printf '\nDemo finished in %ss: datasets, tokens, model and scores under %s/\n' "$((SECONDS - t0))" "$out" >&2
