"""The benchmark suite cannot rot silently: every bench module imports and exposes ``main``."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCHES = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "benches").glob("bench_*.py"))


def test_every_area_has_a_benchmark() -> None:
    for name in ("bench_hash", "bench_neardup", "bench_pii", "bench_filter", "bench_decontam", "bench_tokenize",
                 "bench_train", "bench_generate", "bench_scaleout"):
        assert name in BENCHES


@pytest.mark.parametrize("name", BENCHES)
def test_bench_module_imports(name: str) -> None:
    mod = importlib.import_module(f"benches.{name}")
    assert callable(getattr(mod, "main", None)), f"benches/{name}.py has no main()"


def test_real_corpus_is_built_from_this_machine() -> None:
    from benches.harness import real_corpus

    corpus = real_corpus(max_bytes=2_000_000)
    assert corpus and sum(len(t.encode()) for _, t in corpus) >= 2_000_000
    assert all(Path(p).is_absolute() for p, _ in corpus)
