"""The dedup steps: what every executor runs, each a function with typed inputs and outputs.

Near dedup is one chain (``docs/dedup.md`` draws it)::

    sign → band_keys → shuffle → edges → components → decide → write

and exact dedup a shorter one::

    content_hashes → shuffle → first_occurrences → write

Every step but the shuffle is the same call on every executor; the heavy work of each is Rust
(signatures, band keys, edge groups, union-find). The shuffle is where executors differ: the
in-process runner (``near.NearDupPlanner``) hands records to the native ``BandShuffle`` (memory up
to the budget, then partition files) and keeps everything else in memory; the executor runner
(``distributed_near``) spills them, partitioned by key, for reduce tasks on other machines. Both
then feed :func:`edges` one partition at a time, cluster with the one :class:`Components`, decide
with :func:`decide` and write through :class:`SplitByDecisions`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import polars as pl

from sctool import native
from sctool.errors import ConfigError
from sctool.native import as_arrow_text, hash_content

if TYPE_CHECKING:
    from sctool.dedup.near import NearDupParams
    from sctool.executors.base import BatchProcess, Shard

DECISION_SCHEMA = {
    "batch": pl.UInt32,
    "row": pl.UInt32,
    "reason": pl.String,
    "dup_of": pl.String,
    "cluster_id": pl.String,
    "jaccard": pl.Float64,
}
EXACT_SCHEMA = {"batch": pl.UInt32, "row": pl.UInt32, "dup_of": pl.String}

# The components step: union-find over document positions, roots at the lowest rank.
Components = native.Components


# --- sign -------------------------------------------------------------------------------------


def doc_meta(frame: pl.DataFrame, batch_index: int, *, text_column: str, params: NearDupParams, exact: bool,
             threads: int = 0) -> pl.DataFrame:
    """Per document what the decisions need: ``batch``, ``row``, ``id``, ``len``, ``stars`` and, for
    exact-first (``both``), the content hash ``h``. Never the text."""
    text = frame.get_column(text_column)
    n = frame.height
    cols: dict[str, pl.Series] = {
        "batch": pl.Series([batch_index] * n, dtype=pl.UInt32),
        "row": pl.Series(np.arange(n, dtype=np.uint32)),
        "id": frame.get_column("id").cast(pl.String),
        "len": text.str.len_bytes().fill_null(0).cast(pl.Int64),
    }
    stars_col = params.stars_column
    if params.keep == "most-stars" and stars_col in frame.columns:
        try:
            cols["stars"] = frame.get_column(stars_col).cast(pl.Float64)
        except pl.exceptions.InvalidOperationError as exc:
            raise ConfigError(f"column {stars_col!r} is not numeric; --keep most-stars needs star counts") from exc
    else:
        cols["stars"] = pl.Series([None] * n, dtype=pl.Float64)
    if exact:
        cols["h"] = hash_content(text, threads=threads)
    return pl.DataFrame(cols)


@dataclass(frozen=True)
class Signed:
    """Output of :func:`sign`: ``(n, num_perm)`` signatures, distinct-shingle counts (0 = never
    clustered) and, when verifying, the shingle hashes one document after another with byte offsets."""

    sigs: np.ndarray
    counts: np.ndarray
    shingles: np.ndarray | None = None
    offsets: np.ndarray | None = None


def sign(text: pl.Series, params: NearDupParams, *, threads: int = 0, shingles: bool = False) -> Signed:
    """The signatures step (the StarCoder-exact kernel)."""
    kw = dict(num_perm=params.num_perm, ngram=params.ngram, seed=params.seed, shingle=params.shingle, hash=params.hash,
              threads=threads)
    if shingles:
        sigs, counts, flat, offsets = native.minhash_signatures_shingles(as_arrow_text(text), **kw)
        return Signed(sigs, counts, flat, offsets)
    sigs, counts = native.minhash_signatures(as_arrow_text(text), **kw)
    return Signed(sigs, counts)


# --- band keys, edges -------------------------------------------------------------------------


def band_keys(signed: Signed, bands: int, rows: int, *, base: int, threads: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The band-keys step: ``(keys, nodes)``, one record per band of each document with shingles;
    ``node = base + row`` (a global position in process, ``batch << 32 | row`` on a cluster)."""
    sigs = np.ascontiguousarray(signed.sigs, dtype=np.uint32)
    return native.lsh_band_records(sigs, np.ascontiguousarray(signed.counts, dtype=np.uint32), bands, rows,
                                    base=base, threads=threads)


@dataclass(frozen=True)
class Edges:
    """Candidate edges of one shuffle partition (star edges of each key group) and the group count."""

    groups: int
    a: np.ndarray
    b: np.ndarray


def edges(keys: np.ndarray, nodes: np.ndarray, *, threads: int = 0) -> Edges:
    """The edges step over one partition: every record of a key must be in it."""
    groups, a, b = native.lsh_partition_edges(np.ascontiguousarray(keys, dtype=np.uint64),
                                               np.ascontiguousarray(nodes, dtype=np.uint64), threads=threads)
    return Edges(int(groups), a, b)


# --- decide -----------------------------------------------------------------------------------


@dataclass
class NearDupPlan:
    """Output of :func:`decide`: one row per removed document, the cluster table and counters."""

    decisions: pl.DataFrame
    clusters: pl.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)



class PairEstimator(Protocol):
    """MinHash Jaccard estimates of position pairs, from wherever the signatures were kept."""

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray: ...


def jaccard_rows(sa: np.ndarray, sb: np.ndarray) -> np.ndarray:
    """Fraction of equal slots, row by row (the kernel's ``estimate_jaccard``, bit for bit)."""
    return np.count_nonzero(sa == sb, axis=1).astype(np.float64) / float(sa.shape[1])


@dataclass
class SignatureFile:
    """Signatures appended row by row to one file (the in-process runner's store); estimates read
    only the rows they compare, a block of pairs at a time."""

    path: Path
    num_perm: int
    block: int = 8192

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.empty(len(a), dtype=np.float64)
        if len(a) == 0:
            return out
        rows = np.memmap(self.path, dtype="<u4", mode="r").reshape(-1, self.num_perm)
        for s in range(0, len(a), self.block):
            ia, ib = a[s:s + self.block], b[s:s + self.block]
            out[s:s + len(ia)] = jaccard_rows(np.asarray(rows[ia]), np.asarray(rows[ib]))
        del rows
        return out


def decide(meta: pl.DataFrame, *, ranks: np.ndarray | None, roots: np.ndarray | None, counts: np.ndarray | None,
           estimate: PairEstimator | None, params: NearDupParams, exact: bool, engine: Mapping[str, Any] | None = None,
           ) -> NearDupPlan:
    """The decisions step: exact copies first (mode ``both``), then per near cluster the document
    ``keep`` picks; every removed row gets ``dup_of``, ``cluster_id`` and a Jaccard estimate.

    ``meta`` is :func:`doc_meta`'s rows of every document in input order (position = row number);
    ``roots`` the components step's result (``None`` without near dedup).
    """
    bands, rows, banding = params.banding()
    n = meta.height
    meta = meta.with_columns(pl.Series("pos", np.arange(n, dtype=np.uint32)))
    summary: dict[str, Any] = {}
    if roots is not None and ranks is not None and counts is not None:
        meta = meta.with_columns(pl.Series("rank", ranks), pl.Series("root", roots), pl.Series("shingles", counts))
        summary["docs_without_shingles"] = int((counts == 0).sum())
        summary["engine"] = dict(engine or {})
    else:
        meta = meta.with_columns(pl.col("pos").alias("rank"), pl.col("pos").alias("root"),
                                 pl.lit(0, dtype=pl.UInt32).alias("shingles"))
    # Exact duplicates: first occurrence in input order keeps.
    if exact:
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
    }[params.keep]
    reps = (
        members.sort([*keep_key])
        .group_by("root", maintain_order=True)
        .agg(pl.col("pos").first().alias("rep"), pl.col("id").first().alias("rep_id"))
    )
    lowest = members.sort("rank").group_by("root", maintain_order=True).agg(pl.col("id").first().alias("cluster_id"))
    members = members.join(reps, on="root").join(lowest, on="root").sort("pos")
    near_removed = members.filter(pl.col("pos") != pl.col("rep"))
    # Where each document's content ends up kept: itself, or its cluster representative.
    kept_as = members.select("pos", pl.col("rep").alias("kept_pos"), pl.col("rep_id").alias("kept_id"), "cluster_id")
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
    def est(a: pl.Series, b: pl.Series) -> np.ndarray:
        if a.len() == 0:
            return np.zeros(0, dtype=np.float64)
        if estimate is None:
            return np.ones(a.len(), dtype=np.float64)
        return estimate(a.cast(pl.UInt32).to_numpy().astype(np.int64), b.cast(pl.UInt32).to_numpy().astype(np.int64))

    est_near = est(near_removed.get_column("pos"), near_removed.get_column("rep"))
    est_exact = est(exact_removed.get_column("orig"), exact_removed.get_column("kept_pos"))
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
            "bands": bands,
            "rows": rows,
            "banding": banding,
        }
    )
    return NearDupPlan(decisions=decisions, clusters=clusters, summary=summary)


# --- exact ------------------------------------------------------------------------------------


def content_hashes(frame: pl.DataFrame, batch_index: int, *, text_column: str, threads: int = 0) -> pl.DataFrame:
    """The hash step of exact dedup: ``(batch, row, id, h)`` of one batch's non-null documents."""
    n = frame.height
    return pl.DataFrame({
        "batch": pl.Series([batch_index] * n, dtype=pl.UInt32),
        "row": pl.Series(range(n), dtype=pl.UInt32),
        "id": frame.get_column("id"),
        "h": hash_content(frame.get_column(text_column), threads=threads),
    }).filter(pl.col("h").is_not_null())


def first_occurrences(hashes: pl.DataFrame) -> pl.DataFrame:
    """The exact-dedup decisions of one shuffle partition (rows in input order, every copy of a
    hash present): ``(batch, row, dup_of)`` of every row that repeats an earlier one."""
    if hashes.height == 0:
        return pl.DataFrame(schema=EXACT_SCHEMA)
    first = hashes.group_by("h", maintain_order=True).agg(pl.col("id").first().alias("dup_of"),
                                                          pl.col("batch").first().alias("fb"),
                                                          pl.col("row").first().alias("fr"))
    return (
        hashes.join(first, on="h")
        .filter((pl.col("batch") != pl.col("fb")) | (pl.col("row") != pl.col("fr")))
        .select("batch", "row", "dup_of")
    )


# --- write ------------------------------------------------------------------------------------


class DecisionSource(Protocol):
    """Per-row decisions of a batch range, ``{(batch,): frame}`` (in memory, or read from a spill)."""

    def by_batch(self, first_batch: int, n_batches: int) -> dict: ...


@dataclass(frozen=True)
class InMemoryDecisions:
    """Decisions held by the driver (the in-process runner); travels with the task otherwise."""

    frame: pl.DataFrame

    def by_batch(self, first_batch: int, n_batches: int) -> dict:
        f = self.frame
        if f.height == 0:
            return {}
        f = f.filter((pl.col("batch") >= first_batch) & (pl.col("batch") < first_batch + n_batches))
        return f.partition_by("batch", as_dict=True) if f.height else {}


def split_by_decisions(
    frame: pl.DataFrame, decisions: pl.DataFrame | None, *, flag: str, reason: str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Apply per-row decisions (``row`` + detail columns, optional ``batch``) to one batch.

    Rows whose ``flag`` column is set are removed and keep the detail columns (plus ``reason`` when
    given); the others are kept unchanged, in input order.
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


@dataclass(frozen=True)
class SplitByDecisions:
    """The write step of every dedup path: per shard, load the decisions of its batch range once;
    per batch, split kept / removed (``executor.write_parts`` checks kept + removed = input)."""

    source: DecisionSource
    flag: str
    reason: str | None = None

    def __call__(self, shard: Shard) -> BatchProcess:
        from sctool.stages.base import StageOutput

        by_batch = self.source.by_batch(shard.first_batch, shard.n_batches)

        def process(batch: Any) -> StageOutput:
            kept, removed = split_by_decisions(batch.frame, by_batch.get((batch.index,)), flag=self.flag,
                                               reason=self.reason)
            return StageOutput(kept=kept, removed=removed)

        return process


__all__ = [
    "DECISION_SCHEMA",
    "EXACT_SCHEMA",
    "Components",
    "DecisionSource",
    "Edges",
    "InMemoryDecisions",
    "NearDupPlan",
    "PairEstimator",
    "SignatureFile",
    "Signed",
    "SplitByDecisions",
    "band_keys",
    "content_hashes",
    "decide",
    "doc_meta",
    "edges",
    "first_occurrences",
    "jaccard_rows",
    "sign",
    "split_by_decisions",
]
