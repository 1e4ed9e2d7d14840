"""Exact dedup against a brute-force reference; determinism across batch sizes and threads."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from sctool.io.dataset import read_dataset
from sctool.stages.base import Runtime
from sctool.stages.dedup import DedupConfig, run_dedup


def reference(docs: list[str]) -> tuple[list[int], dict[int, int]]:
    first: dict[str, int] = {}
    kept, dup_of = [], {}
    for i, d in enumerate(docs):
        if d in first:
            dup_of[i] = first[d]
        else:
            first[d] = i
            kept.append(i)
    return kept, dup_of


@settings(max_examples=25)
@given(st.lists(st.sampled_from(["a", "b", "c", "", "def f(): pass", "é"]), max_size=30), st.integers(1, 7),
       st.sampled_from([1, 2]))
def test_matches_reference(tmp_path_factory, docs: list[str], batch_rows: int, threads: int) -> None:
    tmp = tmp_path_factory.mktemp("dd")
    src = tmp / "in.jsonl"
    src.write_text("".join(json.dumps({"id": f"d{i}", "content": d}) + "\n" for i, d in enumerate(docs)))
    run_dedup([src], tmp / "out", DedupConfig(mode="exact"), Runtime(batch_rows=batch_rows, threads=threads, quiet=True))
    kept_idx, dup_of = reference(docs)
    kept = read_dataset(tmp / "out")
    assert kept["id"].to_list() == [f"d{i}" for i in kept_idx] if docs else kept.height == 0
    if dup_of:
        removed = read_dataset(tmp / "out", removed=True)
        got = dict(zip(removed["id"].to_list(), removed["dup_of"].to_list()))
        assert got == {f"d{i}": f"d{j}" for i, j in dup_of.items()}
        assert set(removed["reason"].to_list()) == {"exact_duplicate"}
        assert removed["content"].to_list() == [docs[i] for i in sorted(dup_of)]
