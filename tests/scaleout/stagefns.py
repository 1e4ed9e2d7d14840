"""Test-only stage pieces that run on Ray workers (pickled by value, see conftest)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from sctool.stages.base import StageOutput

BENCH_PROMPT = ("def has_close_elements(numbers, threshold):\n"
                "    \"\"\" Check if in given list of numbers, are any two numbers closer to each other than\n"
                "    given threshold.\n    \"\"\"\n")


def document(k: int, i: int) -> str | None:
    """Document ``i`` of file ``k``: repeats across files, some PII, one benchmark copy, one null."""
    if k == 1 and i == 5:
        return None
    if i == 30:
        return "data = '" + "=+" * (1500 + k) + "'\n"  # a long, non-alphanumeric line: the filter drops it
    if i % 7 == 0:
        return f"def shared_{i % 3}():\n    return {i % 3}\n"  # exact duplicates across files
    if k == 2 and i == 9:
        return "# copied from a benchmark\n" + BENCH_PROMPT + "    return False\n"
    if i % 5 == 1:
        return f"# contact dev{k}{i}@example.com or 10.{k}.{i}.7\nx_{k}_{i} = {i}\n"
    body = "".join(f"    v{j} = {k * 100 + i + j}\n" for j in range(i % 9 + 1))
    return f"def fn_{k}_{i}(a, b):\n{body}    return a + b\n"


def toy_process(batch: pl.DataFrame) -> StageOutput:
    """Drop documents whose id ends in 3, upper-case the rest, count characters: a map stage in miniature."""
    drop = batch.get_column("id").str.ends_with("3")
    text = batch.get_column("content")
    kept = batch.filter(~drop).with_columns(pl.col("content").str.to_uppercase())
    removed = batch.filter(drop).with_columns(pl.lit("ends_in_3").alias("reason"),
                                              pl.col("content").str.len_chars().alias("chars"))
    counters = {"chars": int(text.str.len_chars().sum() or 0), "by_kind": {"null": int(text.null_count())}}
    return StageOutput(kept=kept, removed=removed, counters=counters)


@dataclass(frozen=True)
class DieOn:
    """``toy_process`` that kills its worker process on the batch holding ``doc_id``.

    ``once``: only the first time (a marker file records it), so Ray's retry succeeds; otherwise
    every time while ``armed`` exists, so the run fails and a rerun (after disarming) must resume.
    """

    doc_id: str
    marker: str
    once: bool = True

    def __call__(self, batch: pl.DataFrame) -> StageOutput:
        if self.doc_id in batch.get_column("id").to_list():
            m = Path(self.marker)
            if self.once and not m.exists():
                m.write_text("died\n")
                os._exit(17)
            if not self.once and m.exists():
                with open(m.with_suffix(".deaths"), "a") as fh:
                    fh.write("x\n")
                os._exit(17)
        return toy_process(batch)


def loses_rows(batch: pl.DataFrame) -> StageOutput:
    """A broken stage: keeps one row and reports no removals."""
    return StageOutput(kept=batch.head(1))
