"""Near-duplicate planning: feed batches to the Rust engine, then decide what each document becomes.

The planner is shared by the ``dedup`` stage (batches read from disk, two passes) and the in-memory
``sctool.dedup`` API. It never holds texts: per document it keeps a few numbers (input position,
id, length, stars, exact hash), while signatures, shingle sets and the band shuffle live in the
engine's spill directory.

Decisions follow StarCoder (BigCode ``minhash_deduplication.py``) with deterministic ties:

* exact duplicates (mode ``both``) are found first, by XXH3-128, and keep their first occurrence in
  input order — the rule of the exact stage;
* every other document with at least one shingle is clustered by MinHash-LSH; components of the
  candidate graph are clusters, and the document kept is chosen by ``keep``: ``lowest-id`` (the
  StarCoder rule, "keep the minimum index", with ids compared in natural order), ``longest`` or
  ``most-stars`` (ties to the lowest id);
* each removed row records the id kept (``dup_of``), its cluster (``cluster_id`` = the lowest id in
  the cluster) and the MinHash estimate of its Jaccard similarity to the document kept.

An exact duplicate has the same signature as its original, so it lands in the same buckets and can
neither join nor split clusters; its ``dup_of`` is whatever its original ends up kept as.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import polars as pl

from sctool import _native
from sctool.dedup.minhash import optimal_param
from sctool.errors import ConfigError
from sctool.native import as_arrow_text, hash_content

Keep = Literal["lowest-id", "longest", "most-stars"]

DECISION_SCHEMA = {
    "batch": pl.UInt32,
    "row": pl.UInt32,
    "reason": pl.String,
    "dup_of": pl.String,
    "cluster_id": pl.String,
    "jaccard": pl.Float64,
}


@dataclass(frozen=True)
class NearDupParams:
    """Everything that changes which documents are near duplicates."""

    threshold: float = 0.7
    bands: int | None = None
    rows: int | None = None
    num_perm: int = 256
    ngram: int = 5
    seed: int = 42
    shingle: str = "bigcode"
    hash: str = "sha1"
    verify: bool = False
    keep: Keep = "lowest-id"
    stars_column: str = "max_stars_count"
    memory_budget_mb: float = 1024
    partitions: int = 32

    def banding(self) -> tuple[int, int, str]:
        """``(bands, rows, how)``: explicit when both are given, else derived from the threshold."""
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"threshold must be strictly between 0 and 1, got {self.threshold}")
        if (self.bands is None) != (self.rows is None):
            raise ConfigError("give both --bands and --rows, or neither (derived from --threshold)")
        if self.bands is not None and self.rows is not None:
            if self.bands < 1 or self.rows < 1 or self.bands * self.rows > self.num_perm:
                raise ConfigError(
                    f"bands × rows must be between 1 and num_perm={self.num_perm}; got {self.bands} × {self.rows}"
                )
            return self.bands, self.rows, "explicit"
        b, r = optimal_param(self.threshold, self.num_perm)
        return b, r, "optimal_param(threshold, num_perm)"

    def validate(self) -> None:
        if self.keep not in ("lowest-id", "longest", "most-stars"):
            raise ConfigError(f"keep must be lowest-id, longest or most-stars, got {self.keep!r}")
        if self.memory_budget_mb < 1 / 16:
            raise ConfigError(f"memory budget must be at least 64K, got {self.memory_budget_mb} MB")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be between 0 and 2**32 - 1, got {self.seed}")
        self.banding()


def parse_size_mb(text: str | float) -> float:
    """``512M``, ``2G``, ``2GiB``, ``1.5G``, ``256K`` or a plain number of MB → MB."""
    if isinstance(text, (int, float)):
        return float(text)
    s = str(text).strip().upper().removesuffix("B").removesuffix("I")  # 2G, 2GB and 2GiB alike
    mult = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}
    try:
        if s and s[-1] in mult:
            return float(s[:-1]) * mult[s[-1]]
        return float(s)
    except ValueError as exc:
        raise ConfigError(f"cannot read memory size {text!r} (examples: 512M, 2G)") from exc


@dataclass
class NearDupPlan:
    """The outcome: one row per removed document, an optional cluster table and counters."""

    decisions: pl.DataFrame
    clusters: pl.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


class ClusterEngine(Protocol):
    """What :meth:`NearDupPlanner.plan` asks of an engine: the Rust ``NearDupEngine``, or the
    distributed path's view of documents signed and banded on other machines."""

    def cluster(self, ranks: np.ndarray, threads: int = 0) -> np.ndarray: ...

    def shingle_counts(self) -> np.ndarray: ...

    def stats(self) -> dict[str, Any]: ...

    def estimate_pairs(self, a: np.ndarray, b: np.ndarray, threads: int = 0) -> np.ndarray: ...


class NearDupPlanner:
    """Collects batches (pass 1) and returns the per-document decisions (:meth:`plan`)."""

    def __init__(
        self,
        params: NearDupParams,
        *,
        exact: bool,
        near: bool = True,
        text_column: str = "content",
        threads: int = 0,
        work_parent: str | Path | None = None,
    ) -> None:
        params.validate()
        self.params = params
        self.exact = exact
        self.near = near
        self.text_column = text_column
        self.threads = threads
        self.bands, self.rows, self.banding_from = params.banding()
        from sctool.executors.spill import make_scratch_dir  # scratch of killed runs is cleaned here

        self.work_dir = make_scratch_dir(work_parent, ".sctool-neardup-")
        self.engine: ClusterEngine | None = None
        if near:
            self.engine = _native.NearDupEngine(
                str(self.work_dir),
                num_perm=params.num_perm, ngram=params.ngram, seed=params.seed, shingle=params.shingle,
                hash=params.hash, bands=self.bands, rows=self.rows, verify=params.verify,
                threshold=params.threshold, memory_budget=int(params.memory_budget_mb * (1 << 20)),
                partitions=params.partitions,
            )
        self._meta: list[pl.DataFrame] = []

    def use_clustered(self, engine: ClusterEngine, meta: pl.DataFrame) -> None:
        """Plan from documents whose pass 1 ran elsewhere (the distributed path, ``distributed_near``).

        ``engine`` answers what the in-process engine would (clusters, shingle counts, pair
        estimates, counters) and ``meta`` holds the per-document rows ``add`` would have collected,
        in input order; :meth:`plan` then decides with the same code as a local run.
        """
        cols = ["batch", "row", "id", "len", "stars", *(["h"] if self.exact else [])]
        self.engine = engine
        self._meta = [meta.select(cols)]

    def close(self) -> None:
        """Remove the spill directory."""
        self.engine = None
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> NearDupPlanner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, frame: pl.DataFrame, batch_index: int) -> None:
        """Pass 1 for one batch (its rows get the next positions)."""
        text = frame.get_column(self.text_column)
        if self.engine is not None:
            self.engine.add_batch(as_arrow_text(text), threads=self.threads)
        n = frame.height
        cols: dict[str, pl.Series] = {
            "batch": pl.Series([batch_index] * n, dtype=pl.UInt32),
            "row": pl.Series(np.arange(n, dtype=np.uint32)),
            "id": frame.get_column("id").cast(pl.String),
            "len": text.str.len_bytes().fill_null(0).cast(pl.Int64),
        }
        stars_col = self.params.stars_column
        if self.params.keep == "most-stars" and stars_col in frame.columns:
            try:
                cols["stars"] = frame.get_column(stars_col).cast(pl.Float64)
            except pl.exceptions.InvalidOperationError as exc:
                raise ConfigError(f"column {stars_col!r} is not numeric; --keep most-stars needs star counts") from exc
        else:
            cols["stars"] = pl.Series([None] * n, dtype=pl.Float64)
        if self.exact:
            cols["h"] = hash_content(text, threads=self.threads)
        self._meta.append(pl.DataFrame(cols))

    def plan(self) -> NearDupPlan:
        """Cluster everything added and decide, per document, kept or removed (and why)."""
        schema = {"batch": pl.UInt32, "row": pl.UInt32, "id": pl.String, "len": pl.Int64, "stars": pl.Float64}
        if self.exact:
            schema["h"] = pl.Binary
        meta = pl.concat(self._meta) if self._meta else pl.DataFrame(schema=schema)
        n = meta.height
        meta = meta.with_columns(pl.Series("pos", np.arange(n, dtype=np.uint32)))
        summary: dict[str, Any] = {}
        if self.engine is not None:
            ranks = _native.rank_ids(meta.get_column("id"), threads=self.threads)
            roots = self.engine.cluster(np.ascontiguousarray(ranks, dtype=np.uint32), threads=self.threads)
            counts = self.engine.shingle_counts()
            meta = meta.with_columns(
                pl.Series("rank", ranks), pl.Series("root", roots), pl.Series("shingles", counts)
            )
            summary["docs_without_shingles"] = int((counts == 0).sum())
            summary["engine"] = dict(self.engine.stats())
        else:
            meta = meta.with_columns(pl.col("pos").alias("rank"), pl.col("pos").alias("root"),
                                     pl.lit(0, dtype=pl.UInt32).alias("shingles"))
        # Exact duplicates: first occurrence in input order keeps.
        if self.exact:
            first = meta.filter(pl.col("h").is_not_null()).group_by("h").agg(pl.col("pos").min().alias("orig"))
            meta = meta.join(first, on="h", how="left").sort("pos")
            meta = meta.with_columns(
                pl.when(pl.col("orig").is_not_null() & (pl.col("orig") != pl.col("pos")))
                .then(pl.col("orig"))
                .otherwise(None)
                .alias("orig")
            ).drop("h")
        else:
            meta = meta.with_columns(pl.lit(None, dtype=pl.UInt32).alias("orig"))
        eligible = meta.filter(pl.col("orig").is_null())
        # Near clusters among documents that are not exact copies.
        sizes = eligible.group_by("root").agg(pl.len().alias("size"))
        members = eligible.join(sizes.filter(pl.col("size") > 1), on="root", how="inner")
        keep_key = {
            "lowest-id": [pl.col("rank")],
            "longest": [-pl.col("len"), pl.col("rank")],
            "most-stars": [-pl.col("stars").fill_null(float("-inf")), pl.col("rank")],
        }[self.params.keep]
        reps = (
            members.sort([*keep_key])
            .group_by("root", maintain_order=True)
            .agg(pl.col("pos").first().alias("rep"), pl.col("id").first().alias("rep_id"))
        )
        lowest = members.sort("rank").group_by("root", maintain_order=True).agg(pl.col("id").first().alias("cluster_id"))
        members = members.join(reps, on="root").join(lowest, on="root").sort("pos")
        near_removed = members.filter(pl.col("pos") != pl.col("rep"))
        # Where each document's content ends up kept: itself, or its cluster representative.
        kept_as = members.select("pos", pl.col("rep").alias("kept_pos"), pl.col("rep_id").alias("kept_id"),
                                 "cluster_id")
        exact_removed = (
            meta.filter(pl.col("orig").is_not_null())
            .select("batch", "row", "pos", "orig")
            .join(kept_as.rename({"pos": "orig"}), on="orig", how="left")
            .join(meta.select(pl.col("pos").alias("orig"), pl.col("id").alias("orig_id")), on="orig")
            .with_columns(
                pl.col("kept_pos").fill_null(pl.col("orig")),
                pl.col("kept_id").fill_null(pl.col("orig_id")),
            )
            .sort("pos")
        )
        # MinHash estimates: removed near duplicate vs its representative; exact copy vs the
        # document its original was kept as (1.0 when that is the original itself).
        est_near = self._estimate(near_removed.get_column("pos"), near_removed.get_column("rep"))
        est_exact = self._estimate(exact_removed.get_column("orig"), exact_removed.get_column("kept_pos"))
        removed_all = pl.concat(
            [
                near_removed.select(
                    "batch", "row", "pos", pl.lit("near_duplicate").alias("reason"),
                    pl.col("rep_id").alias("dup_of"), "cluster_id",
                    pl.Series("jaccard", est_near, dtype=pl.Float64),
                ),
                exact_removed.select(
                    "batch", "row", "pos", pl.lit("exact_duplicate").alias("reason"),
                    pl.col("kept_id").alias("dup_of"), "cluster_id",
                    pl.Series("jaccard", est_exact, dtype=pl.Float64),
                ),
            ]
        ).cast({**DECISION_SCHEMA, "pos": pl.UInt32}).sort("batch", "row")
        decisions = removed_all.drop("pos")
        detail = meta.select("pos", "id", "len", "stars")
        clusters = (
            pl.concat(
                [
                    members.select("pos", "cluster_id", (pl.col("pos") == pl.col("rep")).alias("kept")),
                    exact_removed.filter(pl.col("cluster_id").is_not_null()).select(
                        "pos", "cluster_id", pl.lit(False).alias("kept")
                    ),
                ]
            )
            .join(detail, on="pos")
            .join(removed_all.select("pos", "reason", "dup_of", "jaccard"), on="pos", how="left")
            .with_columns(pl.col("dup_of").fill_null(pl.col("id")), pl.col("jaccard").fill_null(1.0))
            .sort("cluster_id", "kept", "pos", descending=[False, True, False])
            .select("cluster_id", "id", "kept", "reason", "dup_of", "jaccard", "len", "stars")
        )
        summary.update(
            {
                "documents": n,
                "exact_duplicates": exact_removed.height,
                "near_duplicates": near_removed.height,
                "near_clusters": reps.height,
                "bands": self.bands,
                "rows": self.rows,
                "banding": self.banding_from,
            }
        )
        return NearDupPlan(decisions=decisions, clusters=clusters, summary=summary)

    def _estimate(self, a: pl.Series, b: pl.Series) -> np.ndarray:
        if a.len() == 0:
            return np.zeros(0, dtype=np.float64)
        if self.engine is None:
            return np.ones(a.len(), dtype=np.float64)
        return self.engine.estimate_pairs(
            a.cast(pl.UInt32).to_numpy().astype(np.uint32), b.cast(pl.UInt32).to_numpy().astype(np.uint32),
            threads=self.threads,
        )
