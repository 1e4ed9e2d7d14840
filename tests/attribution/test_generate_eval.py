"""``--attribute INDEX`` on ``sctool generate --prompts`` and ``sctool eval``: a column per sample."""

from __future__ import annotations

import json

import polars as pl
import pytest

from sctool.attribution import build_index
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    pytest.importorskip("torch", reason="generation needs torch (sctool[train])")
    from sctool.model.checkpoint import save_model_dir
    from tests.infer.conftest import varied_model
    from tests.model.conftest import make_byte_bpe

    tok = make_byte_bpe()
    return save_model_dir(varied_model(tok.get_vocab_size()), tok, tmp_path_factory.mktemp("m") / "tiny")


def test_generate_prompts_with_attribute(model_dir, corpus, tmp_path):
    _, docs = corpus
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"id": "a", "prompt": "def f(x):\n"}) + "\n"
                       + json.dumps({"id": "b", "prompt": "import os\n"}) + "\n")
    args = ("generate", "--model", model_dir, "--prompts", prompts, "--max-new-tokens", "80")
    plain = [json.loads(x) for x in run_cli(*args, check=True).stdout.splitlines()]
    # Make the first completion part of a corpus: the model's own output must then be attributed to it.
    src = tmp_path / "c.parquet"
    pl.DataFrame({"content": [plain[0]["completion"] + "\n# footer", docs[0][1]],
                  "repo": ["me/generated", "python/json"], "license": ["MIT", "PSF-2.0"]}).write_parquet(src)
    build_index([src], tmp_path / "idx")
    proc = run_cli(*args, "--attribute", tmp_path / "idx", check=True)
    rows = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [r["completion"] for r in rows] == [r["completion"] for r in plain]
    a0 = rows[0]["attribution"]
    if len("".join(plain[0]["completion"].split())) >= 50:
        assert a0["covered_fraction"] > 0.5 and a0["sources"][0]["repo"] == "me/generated"
        assert a0["sources"][0]["license"] == "MIT"
    assert set(rows[1]["attribution"]) == {"covered_fraction", "longest_chain", "spans", "sources"}
    assert "attribution: 2 completions" in proc.stderr


def test_eval_samples_get_an_attribution_column(index, corpus, tmp_path):
    _, docs = corpus
    problems = tmp_path / "problems.jsonl"
    problems.write_text(json.dumps({
        "task_id": "T/0", "prompt": "def add(a, b):\n", "entry_point": "add",
        "canonical_solution": "    return a + b\n", "test": "def check(f):\n    assert f(1, 2) == 3\n"}) + "\n")
    copied = docs[2][1][:400]
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"task_id": "T/0", "completion": "    return a + b\n"}) + "\n"
                       + json.dumps({"task_id": "T/0", "completion": copied}) + "\n")
    proc = run_cli("eval", "humaneval", "--samples", samples, "--problems", problems, "--k", "1",
                   "--attribute", index, "--json", "--unsafe-no-isolation")
    if proc.returncode != 0 and "unrecognized arguments: --unsafe-no-isolation" in proc.stderr:
        proc = run_cli("eval", "humaneval", "--samples", samples, "--problems", problems, "--k", "1",
                       "--attribute", index, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["attribution"]["samples"] == 2 and result["attribution"]["copied_samples"] == 1
    rows = [json.loads(x) for x in samples.read_text().splitlines()]
    assert rows[0]["attribution"]["covered_fraction"] == 0.0
    assert rows[1]["attribution"]["sources"][0]["path"] == docs[2][0]
