"""Benchmark files from ../shared/data/benchmarks (the product ships none)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED

BENCH = SHARED / "data" / "benchmarks"
PUBLIC = SHARED / "data" / "decontam" / "decontam-public.jsonl"


@pytest.fixture(scope="session")
def bench() -> Path:
    if not (BENCH / "humaneval" / "HumanEval.jsonl.gz").exists():
        pytest.skip("../shared/data/benchmarks is not present")
    return BENCH


@pytest.fixture(scope="session")
def bench_specs(bench: Path) -> list[str]:
    return [f"humaneval={bench}/humaneval/HumanEval.jsonl.gz", f"mbpp={bench}/mbpp/mbpp.jsonl",
            f"gsm8k={bench}/gsm8k/test.jsonl"]


@pytest.fixture(scope="session")
def public_set() -> list[dict]:
    import json

    if not PUBLIC.exists():
        pytest.skip("../shared/data/decontam is not present")
    return [json.loads(x) for x in PUBLIC.read_text().splitlines() if x.strip()]
