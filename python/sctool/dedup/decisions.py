"""Turning dedup decisions into output parts: shared by every dedup path (exact and near, local and
on an executor), so all of them write identical parts and manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from sctool.dedup.config import DedupConfig
from sctool.io.sources import InputReader
from sctool.native import hash_content
from sctool.progress import progress
from sctool.stages.base import Runtime


def split_by_decisions(
    frame: pl.DataFrame, decisions: pl.DataFrame | None, *, flag: str, reason: str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Apply per-row decisions (``row`` + detail columns, optional ``batch``) to one batch.

    Rows whose ``flag`` column is set are removed and keep the detail columns (plus ``reason`` when
    given); the others are kept unchanged, in input order. Every dedup path (exact and near, local
    and executor) writes its parts through this one function.
    """
    if decisions is None or decisions.height == 0:
        return frame, None
    detail = [c for c in decisions.columns if c not in ("batch", "row")]
    joined = frame.with_row_index("__row").join(
        decisions.drop("batch", strict=False).rename({"row": "__row"}), on="__row", how="left",
        maintain_order="left",
    )
    kept = joined.filter(pl.col(flag).is_null()).drop("__row", *detail)
    removed = joined.filter(pl.col(flag).is_not_null()).drop("__row")
    if reason is not None:
        removed = removed.with_columns(pl.lit(reason).alias("reason"))
    return kept, removed


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


def near_manifest_extra(config: DedupConfig, plan: Any) -> dict[str, Any]:
    """Write the ``--clusters`` table (if asked) and build the manifest's near-dedup section.

    Shared by the in-process engine and the executor path, so both record the same parameters.
    """
    if config.clusters:
        from sctool.io.atomic import write_parquet

        write_parquet(Path(config.clusters), plan.clusters)
    summary = dict(plan.summary)
    extra = {
        "duplicate_groups": summary.pop("near_clusters"),
        "near_dedup": {
            "bands": summary.pop("bands"),
            "rows": summary.pop("rows"),
            "banding": summary.pop("banding"),
            "threshold": config.threshold,
            "num_perm": config.num_perm,
            "ngram": config.ngram,
            "seed": config.seed,
            "shingle": config.shingle,
            "hash": config.hash,
            "verify": config.verify,
            "keep": config.keep,
            "clusters_file": config.clusters,
            **summary,
        },
    }
    return extra
