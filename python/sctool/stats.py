"""Documents and bytes per language (or any column) of a dataset, streamed batch by batch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from sctool.io.sources import InputReader, resolve_inputs


def dataset_stats(inputs: Sequence[str | Path], *, by: str = "lang", text_column: str = "content") -> pl.DataFrame:
    reader = InputReader(resolve_inputs(inputs), text_column=text_column, batch_rows=50_000)
    parts = []
    for batch in reader.batches():
        f = batch.frame
        key = pl.col(by).cast(pl.String).fill_null("(none)") if by in f.columns else pl.lit("(all)")
        parts.append(
            f.select(key.alias(by), pl.col(text_column).str.len_bytes().fill_null(0).alias("bytes"))
            .group_by(by)
            .agg(pl.len().alias("docs"), pl.col("bytes").sum())
        )
    if not parts:
        return pl.DataFrame(schema={by: pl.String, "docs": pl.UInt32, "bytes": pl.UInt64})
    return (
        pl.concat(parts)
        .group_by(by)
        .agg(pl.col("docs").sum(), pl.col("bytes").sum())
        .sort(["bytes", by], descending=[True, False])
    )


def format_stats(table: pl.DataFrame, *, by: str = "lang") -> str:
    total_docs = int(table.get_column("docs").sum() or 0) if table.height else 0
    total_bytes = int(table.get_column("bytes").sum() or 0) if table.height else 0
    width = max([len(by), 5, *(len(str(x)) for x in table.get_column(by).to_list())])
    lines = [f"{by:<{width}}  {'docs':>10}  {'MB':>10}  {'% bytes':>7}"]
    for key, docs, nbytes in table.select(by, "docs", "bytes").iter_rows():
        share = 100 * nbytes / total_bytes if total_bytes else 0.0
        lines.append(f"{key!s:<{width}}  {docs:>10,}  {nbytes / 1e6:>10.2f}  {share:>6.1f}%")
    lines.append(f"{'total':<{width}}  {total_docs:>10,}  {total_bytes / 1e6:>10.2f}")
    return "\n".join(lines)
