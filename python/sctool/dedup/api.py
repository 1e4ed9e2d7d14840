"""``sctool.dedup(frame)``: exact and near deduplication of an in-memory Polars frame."""

from __future__ import annotations

from typing import Literal

import polars as pl

from sctool.dedup.near import Keep, NearDupParams, NearDupPlanner
from sctool.errors import ConfigError, InvalidInputError

Mode = Literal["exact", "near", "both"]


def dedup(
    data: pl.DataFrame | pl.LazyFrame,
    *,
    mode: Mode = "both",
    text_column: str = "content",
    id_column: str = "id",
    threshold: float = 0.7,
    bands: int | None = None,
    rows: int | None = None,
    num_perm: int = 256,
    ngram: int = 5,
    seed: int = 42,
    shingle: str = "bigcode",
    hash: str = "sha1",
    verify: bool = False,
    keep: Keep = "lowest-id",
    stars_column: str = "max_stars_count",
    memory_budget_mb: float = 1024,
    batch_rows: int = 10_000,
    threads: int = 0,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return ``(kept, removed)``; the same engine and rules as ``sctool dedup`` (see its docs).

    ``removed`` holds the dropped rows with ``reason`` (``exact_duplicate``/``near_duplicate``),
    ``dup_of`` (the id kept), ``cluster_id`` and ``jaccard`` (MinHash estimate to the kept row).
    Without an ``id_column`` the row number (as a string) is the id, so ``lowest-id`` keeps the
    first row of each cluster. Rows keep their input order.
    """
    if mode not in ("exact", "near", "both"):
        raise ConfigError(f"mode must be exact, near or both, got {mode!r}")
    frame = data.collect() if isinstance(data, pl.LazyFrame) else data
    if not isinstance(frame, pl.DataFrame):
        raise InvalidInputError(f"expected a Polars DataFrame or LazyFrame, got {type(data).__name__}")
    if text_column not in frame.columns:
        raise InvalidInputError(f"no text column {text_column!r}; columns are {frame.columns}")
    if frame.schema[text_column] not in (pl.String, pl.Null):
        raise InvalidInputError(f"text column {text_column!r} has type {frame.schema[text_column]}, expected strings")
    if batch_rows < 1:
        raise ConfigError("batch_rows must be >= 1")
    params = NearDupParams(
        threshold=threshold, bands=bands, rows=rows, num_perm=num_perm, ngram=ngram, seed=seed, shingle=shingle,
        hash=hash, verify=verify, keep=keep, stars_column=stars_column, memory_budget_mb=memory_budget_mb,
    )
    if id_column in frame.columns:
        ids = frame.get_column(id_column).cast(pl.String)
    else:
        ids = pl.Series("id", [str(i) for i in range(frame.height)], dtype=pl.String)
    work = frame.with_columns(ids.alias("id"), pl.col(text_column).cast(pl.String)) if frame.height else frame.with_columns(
        pl.lit(None, dtype=pl.String).alias("id"))
    with NearDupPlanner(params, exact=mode in ("exact", "both"), near=mode in ("near", "both"),
                        text_column=text_column, threads=threads) as planner:
        for i, start in enumerate(range(0, work.height, batch_rows)):
            planner.add(work.slice(start, batch_rows), i)
        plan = planner.plan()
    # Batches are fixed-size slices, so (batch, row) maps straight back to the frame's row number.
    decisions = plan.decisions.with_columns(
        (pl.col("batch").cast(pl.Int64) * batch_rows + pl.col("row").cast(pl.Int64)).alias("__row")
    ).drop("batch", "row")
    indexed = frame.with_row_index("__row").with_columns(pl.col("__row").cast(pl.Int64))
    joined = indexed.join(decisions, on="__row", how="left", maintain_order="left")
    kept = joined.filter(pl.col("reason").is_null()).drop("__row", "reason", "dup_of", "cluster_id", "jaccard")
    removed = joined.filter(pl.col("reason").is_not_null()).drop("__row")
    return kept, removed
