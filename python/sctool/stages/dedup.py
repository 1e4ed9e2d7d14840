"""``sctool dedup``: exact (XXH3-128) and near (MinHash-LSH, StarCoder) deduplication.

``mode=both`` is the default (exact first, then near, as the issue and StarCoder's pipeline — exact
copies are cheap to find and would otherwise only be caught by LSH).

``mode=exact``: two passes over the input: hash every document (Rust, GIL released,
all cores), pick the first occurrence of each hash in input order, then write kept documents and,
in ``removed/``, every other copy with ``reason=exact_duplicate`` and ``dup_of`` = the id kept.

``mode=near`` / ``mode=both``: pass 1 feeds every batch to the out-of-core near-dup engine
(signatures, band keys and, with ``verify``, shingle sets spill to a scratch directory next to the
output; the band shuffle is partitioned into files so memory stays under ``memory_budget_mb``),
clusters, and decides per document (``sctool.dedup.near``); ``both`` removes exact copies first.
Pass 2 writes the parts; removed rows carry ``reason``, ``dup_of``, ``cluster_id`` and ``jaccard``
(the MinHash estimate to the document kept). Results do not depend on thread count, batch size or
input order (ids decide, compared in natural order); the manifest records every parameter,
including the derived bands and rows.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

from sctool.config import config_to_dict
from sctool.dedup.near import NearDupParams, NearDupPlanner
from sctool.errors import ConfigError
from sctool.io.dataset import DatasetWriter, Manifest, part_stats
from sctool.io.sources import InputReader, resolve_inputs
from sctool.native import hash_content
from sctool.progress import progress
from sctool.stages.base import Runtime, Stage, register_stage


def _parse_size_mb(text: str) -> float:
    from sctool.dedup.near import parse_size_mb

    return parse_size_mb(text)


@dataclass(frozen=True)
class DedupConfig:
    """Which duplicates `sctool dedup` removes, and how near duplicates are found."""

    mode: Literal["exact", "near", "both"] = field(
        default="both",
        metadata={"help": "exact: identical content (XXH3-128); near: MinHash-LSH near duplicates; "
                          "both: exact first, then near",
                  "consts": {"--exact": "exact", "--near": "near", "--both": "both"}},
    )
    threshold: float = field(
        default=0.7, metadata={"help": "Jaccard threshold; bands/rows derived from it as StarCoder did (0.7 → 25×10)"}
    )
    bands: int | None = field(default=None, metadata={"help": "LSH bands (with rows; overrides the threshold-derived banding)"})
    rows: int | None = field(default=None, metadata={"help": "LSH rows per band (with bands)"})
    num_perm: int = field(default=256, metadata={"help": "MinHash permutations"})
    ngram: int = field(default=5, metadata={"help": "shingle size in tokens (characters with shingle=chars)"})
    seed: int = field(default=42, metadata={"help": "seed of the permutations (numpy RandomState, as datasketch)"})
    shingle: Literal["bigcode", "words", "chars"] = field(
        default="bigcode",
        metadata={"help": "bigcode: split on [^A-Za-z_0-9] keeping empty tokens (StarCoder); words: drop empty "
                          "tokens; chars: character n-grams"},
    )
    hash: Literal["sha1", "xxh3"] = field(
        default="sha1", metadata={"help": "shingle hash: sha1 (first 4 bytes, StarCoder-exact) or xxh3 (faster)"}
    )
    verify: bool = field(
        default=False,
        metadata={"help": "merge candidates only if their exact shingle Jaccard reaches the threshold "
                          "(StarCoder did not verify)"},
    )
    keep: Literal["lowest-id", "longest", "most-stars"] = field(
        default="lowest-id", metadata={"help": "which document of a near-duplicate cluster is kept"}
    )
    stars_column: str = field(default="max_stars_count", metadata={"help": "star counts for keep=most-stars"})
    clusters: str | None = field(
        default=None, metadata={"help": "also write the cluster table (Parquet) to this path", "metavar": "PATH"}
    )
    memory_budget_mb: float = field(
        default=1024.0, metadata={"help": "memory for band records before they spill to disk, e.g. 512M, 4G "
                                      "(in a recipe: MB, at least 1/16)",
                              "flag": "--memory-budget", "parse": _parse_size_mb, "metavar": "SIZE"}
    )

    def near_params(self) -> NearDupParams:
        return NearDupParams(
            threshold=self.threshold, bands=self.bands, rows=self.rows, num_perm=self.num_perm, ngram=self.ngram,
            seed=self.seed, shingle=self.shingle, hash=self.hash, verify=self.verify, keep=self.keep,
            stars_column=self.stars_column, memory_budget_mb=self.memory_budget_mb,
        )


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


def run_dedup(
    inputs: Sequence[str | Path], output: str | Path, config: DedupConfig, runtime: Runtime
) -> Manifest:
    if config.mode not in ("exact", "near", "both"):
        raise ConfigError(f"dedup mode must be exact, near or both, got {config.mode!r}")
    if config.mode != "exact":
        if runtime.executor != "local":
            if not config.verify:
                from sctool.executors.dedup_near import run_near_dedup_executor

                return run_near_dedup_executor(inputs, output, config, runtime)
            print("sctool dedup: --verify runs in this process; --executor ray applies without --verify",
                  file=sys.stderr)
        return run_near_dedup(inputs, output, config, runtime)
    if runtime.executor != "local":
        from sctool.executors.dedup_exact import run_exact_dedup

        return run_exact_dedup(inputs, output, config, runtime)
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
            kept, removed = split_by_decisions(batch.frame, by_batch.get((batch.index,)), flag="dup_of",
                                               reason="exact_duplicate")
            writer.write(batch.index, kept, removed, part_stats(batch.frame, kept, removed, runtime.text_column))
    return writer.finalize({"duplicate_groups": int(dups.get_column("dup_of").n_unique()) if dups.height else 0})


def run_near_dedup(
    inputs: Sequence[str | Path], output: str | Path, config: DedupConfig, runtime: Runtime
) -> Manifest:
    """Near (and, for mode ``both``, first exact) deduplication; see the module docstring."""
    params = config.near_params()
    params.validate()
    files = resolve_inputs(inputs)
    reader = InputReader(files, text_column=runtime.text_column, batch_rows=runtime.batch_rows)
    writer = DatasetWriter(output, stage="dedup", config=config_to_dict(config),
                           inputs=[f.describe() for f in files], overwrite=runtime.overwrite,
                           threads=runtime.threads)
    out = Path(output)
    with NearDupPlanner(params, exact=config.mode == "both", text_column=runtime.text_column,
                        threads=runtime.threads, work_parent=out.resolve().parent) as planner:
        bar = progress(reader.total_rows(), "dedup: minhash", quiet=runtime.quiet)
        with bar:
            for batch in reader.batches():
                planner.add(batch.frame, batch.index)
                bar.update(batch.frame.height)
        plan = planner.plan()
    by_batch = plan.decisions.partition_by("batch", as_dict=True) if plan.decisions.height else {}
    bar = progress(reader.total_rows(), "dedup: writing", quiet=runtime.quiet)
    with bar:
        for batch in reader.batches():
            bar.update(batch.frame.height)
            if writer.done(batch.index):
                continue
            kept, removed = split_by_decisions(batch.frame, by_batch.get((batch.index,)), flag="reason")
            writer.write(batch.index, kept, removed, part_stats(batch.frame, kept, removed, runtime.text_column))
    extra = near_manifest_extra(config, plan)
    return writer.finalize(extra)


@register_stage
class DedupStage(Stage[DedupConfig]):
    """Exact deduplication keeps the first of each group of identical documents; near
    deduplication is MinHash-LSH as StarCoder ran it (5-grams of [^A-Za-z_0-9] tokens, 256
    permutations, seed 42, Jaccard 0.7 -> 25 bands x 10 rows, the lowest id of each cluster kept).
    The default (both) runs exact first, then near. Removed documents go to removed/ with reason
    (exact_duplicate / near_duplicate), dup_of (the id kept), cluster_id and jaccard (estimate)."""

    name = "dedup"
    Config = DedupConfig
    summary = "remove exact and near-duplicate documents"

    def run(self, inputs: Sequence[str | Path], output: str | Path) -> Manifest:
        # Global: every document's fate depends on the whole corpus (plan, then write per part).
        return run_dedup(inputs, output, self.config, self.runtime)
