"""`sctool decontam` end to end: stage function, manifest, command line."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from sctool.stages.base import Runtime
from sctool.stages.decontam import DecontamConfig, run_decontam
from tests.conftest import run_cli


@pytest.fixture
def corpus(tmp_path: Path, public_set: list[dict]) -> Path:
    p = tmp_path / "in.jsonl"
    rows = public_set[:60]
    p.write_text("".join(json.dumps({"id": r["id"], "content": r["text"], "lang": r["lang"]}) + "\n" for r in rows))
    return p


def test_stage_removes_contaminated_and_reports_items(corpus: Path, tmp_path: Path, bench_specs: list[str],
                                                      public_set: list[dict]) -> None:
    cfg = DecontamConfig(benchmarks=tuple(bench_specs))
    m = run_decontam([corpus], tmp_path / "out", cfg, Runtime(quiet=True, batch_rows=25))
    removed = pl.read_parquet(tmp_path / "out" / "removed" / "*.parquet")
    gold = {r["id"]: r for r in public_set[:60]}
    assert set(removed["reason"]) == {"contaminated"}
    for rid, matches in zip(removed["id"], removed["matches"].to_list()):
        assert gold[rid]["contaminated"]
        # The gold item is among the matches (MBPP ids are plain numbers in the benchmark file).
        assert gold[rid]["task_id"].split("/")[-1] in {mm["item"].split("/")[-1] for mm in matches}
        assert {mm["method"] for mm in matches} <= {"exact", "normalised", "signature"}
    saved = json.loads((tmp_path / "out" / "manifest.json").read_text())
    b = saved["benchmarks"]
    assert b["gsm8k"] == {"items_loaded": 1319, "items_found": 0, "docs_removed": 0, "items": []}
    # The summary names the items found, one entry per item.
    assert len(b["humaneval"]["items"]) == b["humaneval"]["items_found"]
    assert all(i.startswith("HumanEval/") for i in b["humaneval"]["items"])
    assert b["humaneval"]["items_found"] > 0 and b["mbpp"]["items_loaded"] == 500
    assert sum(saved["counters"]["docs_by_method"].values()) == removed.height
    assert m.extra["benchmarks"] == b
    n_pos = sum(r["contaminated"] for r in public_set[:60])
    # Up to three of these 35 are solution-only copies of idiomatic MBPP one-liners (`[x[n] for x in xs]`),
    # which the rarity weighting deliberately does not count as evidence.
    assert removed.height >= n_pos - 3


def test_exact_method_removes_only_starcoder_matches(corpus: Path, tmp_path: Path, bench_specs: list[str],
                                                     public_set: list[dict]) -> None:
    cfg = DecontamConfig(benchmarks=tuple(bench_specs), method="exact")
    run_decontam([corpus], tmp_path / "out", cfg, Runtime(quiet=True))
    removed = set(pl.read_parquet(tmp_path / "out" / "removed" / "*.parquet")["id"])
    assert removed == {r["id"] for r in public_set[:60] if r["starcoder_exact_match"]}


def test_cli(corpus: Path, tmp_path: Path, bench: Path) -> None:
    proc = run_cli("decontam", corpus, "-o", tmp_path / "o", "--quiet",
                   "--benchmark", f"humaneval={bench}/humaneval/HumanEval.jsonl.gz",
                   "--benchmark", f"mbpp={bench}/mbpp/mbpp.jsonl", check=True)
    assert "contaminated" in proc.stdout and "humaneval" in proc.stdout and "items" in proc.stdout
    proc = run_cli("decontam", corpus, "-o", tmp_path / "o2", "--benchmark", "nope=/x")
    assert proc.returncode == 2 and "unknown benchmark kind" in proc.stderr
    proc = run_cli("decontam", corpus, "-o", tmp_path / "o3", "--benchmark", f"gsm8k={tmp_path}/missing.jsonl")
    assert proc.returncode == 2 and "missing.jsonl" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("decontam", corpus, "-o", tmp_path / "o4", "--benchmark", f"mbpp={bench}/mbpp/mbpp.jsonl",
                   "--threshold", "2")
    assert proc.returncode == 2 and "threshold" in proc.stderr


def test_filter_then_decontam_as_a_recipe(corpus: Path, tmp_path: Path, bench: Path) -> None:
    from sctool.recipe import run_recipe

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"workdir: {tmp_path / 'work'}\n"
        "runtime: {threads: 1}\n"
        "stages:\n"
        f"  - stage: filter\n    inputs: [{corpus}]\n    config: {{presets: [starcoder, autogen]}}\n"
        f"  - stage: decontam\n    config: {{benchmarks: ['mbpp={bench}/mbpp/mbpp.jsonl'], threshold: 0.6}}\n"
    )
    results = run_recipe(recipe)
    assert [r.manifest.stage for r in results] == ["filter", "decontam"]
    assert results[1].manifest.config["threshold"] == 0.6
    assert results[1].manifest.extra["benchmarks"]["mbpp"]["items_found"] > 0
