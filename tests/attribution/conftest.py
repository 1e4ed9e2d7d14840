"""A small real-code corpus (this Python's standard library) written as a dataset, and its index."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import polars as pl
import pytest

STDLIB = Path(sysconfig.get_paths()["stdlib"])
PACKAGES = ("json", "email", "http", "logging", "importlib")


def stdlib_docs() -> list[tuple[str, str]]:
    out = []
    for pkg in PACKAGES:
        for p in sorted((STDLIB / pkg).glob("*.py")):
            out.append((f"{pkg}/{p.name}", p.read_text(encoding="utf-8", errors="replace")))
    return out


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, str]]]:
    docs = stdlib_docs()
    d = tmp_path_factory.mktemp("corpus")
    half = len(docs) // 2
    frame = pl.DataFrame({
        "content": [t for _, t in docs],
        "max_stars_repo_path": [p for p, _ in docs],
        "max_stars_repo_name": [f"python/{p.split('/')[0]}" for p, _ in docs],
        "max_stars_repo_licenses": [["PSF-2.0"]] * len(docs),
    })
    frame[:half].write_parquet(d / "a.parquet")
    frame[half:].write_ndjson(d / "b.jsonl")
    return d, docs


@pytest.fixture(scope="session")
def index(corpus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sctool.attribution import build_index

    d, _ = corpus
    out = tmp_path_factory.mktemp("index") / "idx"
    build_index([d / "a.parquet", d / "b.jsonl"], out, batch_rows=7)
    return out
