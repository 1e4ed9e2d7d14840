"""``sctool dedup``: exact deduplication by content hash (XXH3-128).

Two passes over the input: hash every document (Rust, GIL released, all cores), pick the first
occurrence of each hash in input order, then write kept documents and, in ``removed/``, every other
copy with ``reason=exact_duplicate`` and ``dup_of`` = the id kept. Input order is the deterministic
batch order of the inputs, so reruns give identical output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl

from sctool.config import config_to_dict
from sctool.io.dataset import DatasetWriter, Manifest, part_stats
from sctool.io.sources import InputReader, resolve_inputs
from sctool.native import hash_content
from sctool.progress import progress
from sctool.stages.base import Runtime


@dataclass(frozen=True)
class DedupConfig:
    """Which duplicates `sctool dedup` removes."""

    mode: Literal["exact"] = field(
        default="exact", metadata={"help": "exact: identical content (XXH3-128 of the UTF-8 bytes)"}
    )


def exact_duplicates(reader: InputReader, runtime: Runtime) -> pl.DataFrame:
    """Pass 1: a table ``(batch, row, dup_of)`` of every document that repeats an earlier one."""
    frames = []
    bar = progress(reader.total_rows(), "dedup: hashing", quiet=runtime.quiet)
    with bar:
        for batch in reader.batches():
            text = batch.frame.get_column(runtime.text_column)
            frames.append(
                pl.DataFrame(
                    {
                        "batch": pl.Series([batch.index] * batch.frame.height, dtype=pl.UInt32),
                        "row": pl.Series(range(batch.frame.height), dtype=pl.UInt32),
                        "id": batch.frame.get_column("id"),
                        "h": hash_content(text, threads=runtime.threads),
                    }
                )
            )
            bar.update(batch.frame.height)
    if not frames:
        return pl.DataFrame(schema={"batch": pl.UInt32, "row": pl.UInt32, "dup_of": pl.String})
    allh = pl.concat(frames).filter(pl.col("h").is_not_null())
    first = allh.group_by("h", maintain_order=True).agg(pl.col("id").first().alias("dup_of"),
                                                        pl.col("batch").first().alias("fb"),
                                                        pl.col("row").first().alias("fr"))
    dups = (
        allh.join(first, on="h")
        .filter((pl.col("batch") != pl.col("fb")) | (pl.col("row") != pl.col("fr")))
        .select("batch", "row", "dup_of")
    )
    return dups


def run_dedup(
    inputs: Sequence[str | Path], output: str | Path, config: DedupConfig, runtime: Runtime
) -> Manifest:
    files = resolve_inputs(inputs)
    reader = InputReader(files, text_column=runtime.text_column, batch_rows=runtime.batch_rows)
    writer = DatasetWriter(output, stage="dedup", config=config_to_dict(config),
                           inputs=[f.describe() for f in files], overwrite=runtime.overwrite,
                           threads=runtime.threads)
    dups = exact_duplicates(reader, runtime)
    by_batch = dups.partition_by("batch", as_dict=True) if dups.height else {}
    bar = progress(reader.total_rows(), "dedup: writing", quiet=runtime.quiet)
    with bar:
        for batch in reader.batches():
            bar.update(batch.frame.height)
            if writer.done(batch.index):
                continue
            d = by_batch.get((batch.index,))
            frame = batch.frame.with_row_index("__row")
            if d is None:
                kept, removed = batch.frame, None
            else:
                joined = frame.join(d.drop("batch").rename({"row": "__row"}), on="__row", how="left")
                kept = joined.filter(pl.col("dup_of").is_null()).drop("__row", "dup_of")
                removed = (
                    joined.filter(pl.col("dup_of").is_not_null())
                    .drop("__row")
                    .with_columns(pl.lit("exact_duplicate").alias("reason"))
                )
            writer.write(batch.index, kept, removed, part_stats(batch.frame, kept, removed, runtime.text_column))
    return writer.finalize({"duplicate_groups": int(dups.get_column("dup_of").n_unique()) if dups.height else 0})
