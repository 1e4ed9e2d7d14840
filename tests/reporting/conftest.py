"""A small but complete run for the report tests: a source tree built to make every stage act
(binary and empty files, filter hits, exact and near duplicates, planted secrets, a benchmark
copy), run through ``sctool run RECIPE --report`` once per session, plus a training run directory
in the trainer's metrics.csv layout and an evaluation result."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_cli

# Planted values the page must never show in full.
SECRETS = {
    "email": "maria.kowalska@example-mail.org",
    "key": "AKIAIOSFODNN7QXZPLMR",
    "password": "Tr0ub4dor&3horse",
    "ip": "142.250.74.206",
}
BENCH_TEXT = ("Write a function that returns the number of distinct palindromic substrings of the given "
              "string, counting overlapping occurrences only once and ignoring the case of letters")
WORDS = ["alpha", "beta", "gamma", "delta", "node", "tree", "value", "index", "buffer", "count", "parse",
         "token", "frame", "queue", "stack", "cache", "lookup", "merge", "split", "update", "render"]


def _func(rng: random.Random, k: int) -> str:
    a, b, c = rng.sample(WORDS, 3)
    body = "\n".join(f"    {rng.choice(WORDS)}_{i} = {a}_{b}({rng.randint(0, 999)}, '{rng.choice(WORDS)}')"
                     for i in range(rng.randint(3, 9)))
    return f"def {a}_{b}_{k}({c}, {b}=None):\n    \"\"\"Compute the {c} of {a}.\"\"\"\n{body}\n    return {c}\n"


def build_tree(root: Path) -> None:
    rng = random.Random(7)
    (root / "pkg").mkdir(parents=True)
    (root / "web").mkdir()
    (root / "native").mkdir()
    (root / "copies").mkdir()
    for i in range(24):
        (root / "pkg" / f"mod{i:02d}.py").write_text("\n".join(_func(rng, i * 10 + j) for j in range(6)))
    for i in range(6):
        (root / "web" / f"app{i}.js").write_text(
            "\n".join(f"function {rng.choice(WORDS)}{i}_{j}(x) {{ return x * {j} + {rng.randint(1, 99)}; }}"
                      for j in range(20)))
        (root / "native" / f"lib{i}.c").write_text(
            "\n".join(f"int {rng.choice(WORDS)}_{i}_{j}(int x) {{ return x + {j}; }}" for j in range(25)))
    # Exact duplicates.
    for k in range(3):
        shutil.copy(root / "pkg" / "mod00.py", root / "copies" / f"mod00_copy{k}.py")
    # Near duplicates: a long file and copies differing in one line; an e-mail in the first line.
    base = [f"# Maintainer: {SECRETS['email']}"] + [
        f"def handler_{i}(request, response):\n    return dispatch(request, '{WORDS[i % len(WORDS)]}', {i})"
        for i in range(60)]
    (root / "pkg" / "handlers.py").write_text("\n".join(base))
    for k in range(4):
        lines = list(base)
        lines[10 + k] = f"def handler_changed_{k}(request):\n    return None"
        (root / "copies" / f"handlers_v{k}.py").write_text("\n".join(lines))
    # Filter hits.
    (root / "pkg" / "longline.py").write_text("x = [" + ", ".join(str(i) for i in range(400)) + "]\n")
    (root / "pkg" / "symbols.py").write_text("#" * 50 + "\n" + "# -=-=-=-=-=-=-=-=-=-=-=-=-\n" * 20)
    (root / "web" / "tiny.json").write_text('{"a": 1}\n')
    (root / "web" / "config.json").write_text(json.dumps({f"key{i}": f"value number {i}" for i in range(40)},
                                                         indent=2))
    # Secrets.
    (root / "pkg" / "settings.py").write_text(
        f"# contact {SECRETS['email']}\nAWS_ACCESS_KEY_ID = '{SECRETS['key']}'\n"
        f"password = \"{SECRETS['password']}\"\nSERVER = '{SECRETS['ip']}'\n" + _func(rng, 999))
    # A copy of a benchmark item.
    (root / "pkg" / "leak.py").write_text(f'"""{BENCH_TEXT}."""\n\n' + _func(rng, 1234))
    # Files ingest skips.
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (root / "pkg" / "empty.py").write_bytes(b"")


def write_training(work: Path, prefix: Path) -> Path:
    run = work / "train"
    run.mkdir(parents=True)
    cols = "step,tokens,loss,lr,grad_norm,tokens_per_s,mfu,val_loss,val_ppl,elapsed_s"
    lines = [cols]
    for s in range(5, 105, 5):
        lines.append(f"{s},{s * 1024},{8 - s / 25:.4f},{0.003 * min(1, s / 10):.6f},{1 + 1 / s:.4f},"
                     f"{20000 + s},{0.1 + s / 1000:.4f},,,{s / 10}")
        if s % 50 == 0:
            lines.append(f"{s},,,,,,,{8.2 - s / 25:.4f},{2.7 ** (8.2 - s / 25):.2f},")
    (run / "metrics.csv").write_text("\n".join(lines) + "\n")
    (run / "config.yaml").write_text(
        f"data:\n  sources:\n  - prefix: {prefix}\n    weight: 1.0\n    name: ''\n")
    ev = work / "eval"
    ev.mkdir()
    (ev / "he.result.json").write_text(json.dumps({"task": "humaneval", "scores": {"pass@1": 0.25, "pass@10": 0.5}}))
    (ev / "ppl.json").write_text(json.dumps({"task": "ppl", "perplexity": 12.5, "bits_per_byte": 1.25}))
    return run


@pytest.fixture(scope="session")
def report_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("matplotlib", reason="sctool report needs the report extra (matplotlib)")
    base = tmp_path_factory.mktemp("reportrun")
    tree = base / "tree"
    build_tree(tree)
    bench = base / "bench.jsonl"
    bench.write_text(json.dumps({"text": BENCH_TEXT}) + "\n" + json.dumps({"text": "An unrelated item " * 8}) + "\n")
    work = base / "work"
    write_training(work, work / "08-tokenize" / "tokens")
    recipe = base / "recipe.yaml"
    recipe.write_text(f"""
workdir: {work}
runtime: {{threads: 1, batch_rows: 16}}
stages:
  - stage: ingest
    config: {{sources: ["{tree}"]}}
  - stage: filter
  - stage: dedup
  - stage: redact
  - stage: decontam
    config: {{benchmarks: ["jsonl:text={bench}"]}}
  - stage: train-tokenizer
    name: tokenizer
    config: {{vocab_size: 400}}
  - stage: format
    inputs: ["@decontam"]
  - stage: tokenize
    config: {{tokenizer: "@tokenizer"}}
""")
    proc = run_cli("run", recipe, "--quiet", "--report", check=True)
    return {"work": work, "report": work / "report.html", "tree": tree, "bench": bench, "stderr": proc.stderr,
            "base": base}
