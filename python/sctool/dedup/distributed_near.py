"""Near (and ``both``) dedup on any executor, with the same result as the in-process engine.

The in-process engine (``NearDupPlanner`` over the Rust ``NearDupEngine``) is stateful and lives in
one process, so on a cluster the work is split along the plan of ``docs/scaleout.md``:

1. ``executor.map_shards`` — each shard computes stateless signatures (``minhash_with_counts``) and
   spills, partitioned by band key, one ``(key, doc)`` record per band of every document with at
   least one shingle (``doc = batch << 32 | row``), plus per-document meta (id, length, stars, exact
   hash for ``both``, shingle count) and the signatures themselves;
2. ``executor.map`` over partitions — group records by band key: each group of two or more
   documents is a set of candidate edges (first member to every other one);
3. the driver — connected components of the candidate graph with the lowest id rank as root, then
   *the planner's own decision code* (``NearDupPlanner.plan``) over a small adapter standing in for
   the engine, so the keep rule, exact-first for ``both``, cluster ids and MinHash estimates are
   the local ones by construction, not by re-implementation;
4. ``executor.write_parts`` — each shard joins the decisions of its batch range.

The band key is the band's slot values themselves (prefixed by the band number) rather than the
engine's XXH3-64 of them: equal keys then mean equal bands exactly, which is the relation the
engine's hash stands for (it differs only on a 2^-64 hash collision). ``verify`` needs every
candidate's shingle set next to the union-find, so it stays in-process (``run_dedup`` says so).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from sctool.config import config_to_dict
from sctool.dedup.config import DedupConfig
from sctool.dedup.decisions import near_manifest_extra, split_by_decisions
from sctool.dedup.minhash import minhash_with_counts
from sctool.dedup.near import DECISION_SCHEMA, NearDupParams, NearDupPlanner
from sctool.errors import ConfigError, InternalError
from sctool.executors import get_executor
from sctool.executors.base import Shard, ShardInput
from sctool.executors.spill import SpillDir
from sctool.io.dataset import DatasetWriter, Manifest
from sctool.io.sources import Batch, InputReader, resolve_inputs
from sctool.native import hash_content
from sctool.progress import progress
from sctool.stages.base import Runtime, StageOutput

EDGE_SCHEMA = {"a": pl.UInt64, "b": pl.UInt64}


def _fixed_binary(data: np.ndarray) -> pl.Series:
    """Rows of a C-contiguous ``uint8`` matrix as one Binary series, without a Python loop."""
    n, width = data.shape
    arr = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, pa.py_buffer(data.tobytes())])
    return pl.Series(pl.from_arrow(arr)).cast(pl.Binary)


@dataclass(frozen=True)
class SignShard:
    """Map: signatures, band records and per-document meta of one shard."""

    spill: SpillDir
    params: NearDupParams
    exact: bool
    text_column: str
    threads: int
    partitions: int

    def __call__(self, shard: Shard, inp: ShardInput) -> list[int]:
        bands, rows, _ = self.params.banding()
        p = self.params
        metas, records, sigs_out = [], [], []
        docs = empty = 0
        for batch in inp.batches():
            frame, n = batch.frame, batch.frame.height
            text = frame.get_column(self.text_column)
            sigs, counts = minhash_with_counts(text, p.num_perm, p.ngram, p.seed, shingle=p.shingle, hash=p.hash,
                                               threads=self.threads)
            sigs = np.ascontiguousarray(sigs, dtype=np.uint32).reshape(n, p.num_perm)
            counts = np.asarray(counts, dtype=np.uint32)
            doc = (np.uint64(batch.index) << np.uint64(32)) | np.arange(n, dtype=np.uint64)
            cols: dict[str, pl.Series] = {
                "doc": pl.Series(doc, dtype=pl.UInt64),
                "batch": pl.Series([batch.index] * n, dtype=pl.UInt32),
                "row": pl.Series(np.arange(n, dtype=np.uint32)),
                "id": frame.get_column("id").cast(pl.String),
                "len": text.str.len_bytes().fill_null(0).cast(pl.Int64),
            }
            if p.keep == "most-stars" and p.stars_column in frame.columns:
                try:
                    cols["stars"] = frame.get_column(p.stars_column).cast(pl.Float64)
                except pl.exceptions.InvalidOperationError as exc:
                    raise ConfigError(f"column {p.stars_column!r} is not numeric; --keep most-stars needs "
                                      "star counts") from exc
            else:
                cols["stars"] = pl.Series([None] * n, dtype=pl.Float64)
            if self.exact:
                cols["h"] = hash_content(text, threads=self.threads)
            cols["shingles"] = pl.Series(counts, dtype=pl.UInt32)
            metas.append(pl.DataFrame(cols))
            sigs_out.append(pl.DataFrame({"doc": cols["doc"],
                                          "sig": _fixed_binary(sigs.astype("<u4").view(np.uint8).reshape(n, -1))}))
            docs += n
            live = counts > 0
            empty += int((~live).sum())
            if live.any():
                ls, ld = sigs[live], doc[live]
                for b in range(bands):
                    key = np.empty((ls.shape[0], 1 + rows), dtype=np.uint32)
                    key[:, 0] = b
                    key[:, 1:] = ls[:, b * rows:(b + 1) * rows]
                    records.append(pl.DataFrame({"key": _fixed_binary(key.astype("<u4").view(np.uint8)),
                                                 "doc": pl.Series(ld, dtype=pl.UInt64)}))
        rec = pl.concat(records) if records else pl.DataFrame(schema={"key": pl.Binary, "doc": pl.UInt64})
        self.spill.write_partitioned("bands", shard.index, rec, "key", self.partitions)
        if metas:
            self.spill.write("meta", shard.index, pl.concat(metas))
            self.spill.write("sigs", shard.index, pl.concat(sigs_out))
        return [docs, empty, rec.height]


@dataclass(frozen=True)
class CandidateEdges:
    """Reduce: the candidate edges of one band-key partition (every record of a key is in it)."""

    spill: SpillDir
    shards: int

    def __call__(self, p: int) -> list[int]:
        recs = self.spill.read_partition("bands", p, shards=self.shards)
        if recs.height == 0:
            edges = pl.DataFrame(schema=EDGE_SCHEMA)
            groups = 0
        else:
            g = (recs.group_by("key").agg(pl.col("doc").min().alias("a"), pl.col("doc"), pl.len().alias("n"))
                 .filter(pl.col("n") > 1))
            groups = g.height
            edges = (g.select("a", pl.col("doc").alias("b")).explode("b").filter(pl.col("a") != pl.col("b"))
                     .cast(EDGE_SCHEMA))
        self.spill.write("edges", p, edges)
        # candidate_pairs as the engine counts them without verify: members − 1 per group.
        return [groups, edges.height]


def components_min_root(n: int, a: np.ndarray, b: np.ndarray, threads: int = 0) -> np.ndarray:
    """Per node of ``0..n``, the smallest node of its connected component under edges ``(a, b)``.

    The Rust engine's own union-find (smaller root always wins), so the distributed path clusters
    exactly as the in-process engine does, with no second implementation to keep equal.
    """
    from sctool import _native

    roots = _native.components_min_root(n, np.ascontiguousarray(a, dtype=np.uint32),
                                        np.ascontiguousarray(b, dtype=np.uint32), threads=threads)
    return roots.astype(np.int64)


class _SpilledEngine:
    """Stands in for ``NearDupEngine`` inside ``NearDupPlanner.plan``: clusters from the spilled edges."""

    def __init__(self, spill: SpillDir, meta: pl.DataFrame, num_perm: int, stats: dict[str, int]) -> None:
        self.spill = spill
        self.doc = meta.get_column("doc").to_numpy()
        self.counts = meta.get_column("shingles").to_numpy().astype(np.uint32)
        self.num_perm = num_perm
        self._stats = stats

    def cluster(self, ranks: np.ndarray, threads: int = 0) -> np.ndarray:
        n = len(ranks)
        lf = self.spill.scan("edges")
        edges = lf.collect() if lf is not None else pl.DataFrame(schema=EDGE_SCHEMA)
        pos = pl.DataFrame({"doc": self.doc, "pos": np.arange(n, dtype=np.int64)})
        e = (edges.join(pos.rename({"doc": "a", "pos": "pa"}), on="a")
             .join(pos.rename({"doc": "b", "pos": "pb"}), on="b"))
        if e.height != edges.height:
            raise InternalError("candidate edge names a document with no meta record; the spill is incomplete")
        ranks = np.asarray(ranks, dtype=np.int64)
        rank_to_pos = np.empty(n, dtype=np.int64)
        rank_to_pos[ranks] = np.arange(n, dtype=np.int64)
        root = components_min_root(n, ranks[e.get_column("pa").to_numpy()], ranks[e.get_column("pb").to_numpy()])
        return rank_to_pos[root[ranks]].astype(np.uint32)

    def shingle_counts(self) -> np.ndarray:
        return self.counts

    def stats(self) -> dict[str, Any]:
        # The kernel this process calibrated (shards on other machines calibrate their own; every
        # kernel gives bit-identical signatures, so only the speed can differ).
        from sctool import _native

        return {**self._stats, "signature_kernel": _native.minhash_kernel()[0]}

    def estimate_pairs(self, a: np.ndarray, b: np.ndarray, threads: int = 0) -> np.ndarray:
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        need = np.unique(np.concatenate([a, b]))
        lf = self.spill.scan("sigs")
        if lf is None:
            raise InternalError("no spilled signatures for the Jaccard estimates")
        docs = self.doc[need]
        got = lf.filter(pl.col("doc").is_in(pl.Series(docs, dtype=pl.UInt64).implode())).collect()
        got = pl.DataFrame({"doc": pl.Series(docs, dtype=pl.UInt64)}).join(got, on="doc", how="left",
                                                                            maintain_order="left")
        if got.get_column("sig").null_count():
            raise InternalError("a signature is missing from the spill")
        sig = np.frombuffer(b"".join(got.get_column("sig").to_list()), dtype="<u4").reshape(len(need), self.num_perm)
        ia, ib = np.searchsorted(need, a), np.searchsorted(need, b)
        eq = np.count_nonzero(sig[ia] == sig[ib], axis=1)
        return eq.astype(np.float64) / float(self.num_perm)


@dataclass(frozen=True)
class NearShardWriter:
    """Write pass: per shard, load the decisions of its batch range once; per batch, split kept / removed."""

    spill: SpillDir

    def __call__(self, shard: Shard) -> Callable[[Batch], StageOutput]:
        by_batch = self.spill.by_batch("decisions", shard.first_batch, shard.n_batches, DECISION_SCHEMA)

        def process(batch: Batch) -> StageOutput:
            kept, removed = split_by_decisions(batch.frame, by_batch.get((batch.index,)), flag="reason")
            return StageOutput(kept=kept, removed=removed)

        return process


def run_near_dedup_executor(
    inputs: Sequence[str | Path],
    output: str | Path,
    config: DedupConfig,
    runtime: Runtime,
    *,
    partitions: int | None = None,
) -> Manifest:
    """``run_dedup`` for modes ``near``/``both`` on ``runtime.executor``; ``partitions`` never changes the result."""
    if config.mode not in ("near", "both"):
        raise ConfigError(f"run_near_dedup_executor handles modes 'near' and 'both', got {config.mode!r}")
    params = config.near_params()
    params.validate()
    if params.verify:
        raise ConfigError("--verify runs in-process only; run_dedup falls back to the local engine for it")
    exact = config.mode == "both"
    files = resolve_inputs(inputs)
    reader = InputReader(files, text_column=runtime.text_column, batch_rows=runtime.batch_rows)
    cfg = config_to_dict(config)
    described = [f.describe() for f in files]
    writer = DatasetWriter(output, stage="dedup", config=cfg, inputs=described, overwrite=runtime.overwrite,
                           threads=runtime.threads)
    ex = get_executor(runtime)
    shards = ex.plan(reader)
    n_part = partitions or ex.default_partitions()
    spill = SpillDir.for_output(output, {"stage": "dedup-near", "config": cfg, "inputs": described,
                                         "batch_rows": runtime.batch_rows, "text_column": runtime.text_column,
                                         "partitions": n_part})
    with progress(len(shards), "dedup: minhash", unit="shard", quiet=runtime.quiet) as bar:
        mapped = ex.map_shards(reader, SignShard(spill, params, exact, runtime.text_column, runtime.threads, n_part),
                               shards=shards, checkpoint=spill.path("signed"), bar=bar)
    reduced = ex.map(CandidateEdges(spill, len(shards)), list(range(n_part)), label="dedup candidates")
    stats: dict[str, Any] = {
        "documents": sum(int(m[0]) for m in mapped),
        "empty_documents": sum(int(m[1]) for m in mapped),
        "band_records": sum(int(m[2]) for m in mapped),
        "candidate_groups": sum(int(r[0]) for r in reduced),
        "candidate_pairs": sum(int(r[1]) for r in reduced),
        "verified_pairs": 0,
        "rejected_pairs": 0,
    }
    lf = spill.scan("meta")
    meta_schema = {"doc": pl.UInt64, "batch": pl.UInt32, "row": pl.UInt32, "id": pl.String, "len": pl.Int64,
                   "stars": pl.Float64, **({"h": pl.Binary} if exact else {}), "shingles": pl.UInt32}
    meta = lf.collect().sort("batch", "row") if lf is not None else pl.DataFrame(schema=meta_schema)
    out = Path(output)
    with NearDupPlanner(params, exact=exact, near=False, text_column=runtime.text_column, threads=runtime.threads,
                        work_parent=out.resolve().parent) as planner:
        planner.use_clustered(_SpilledEngine(spill, meta, params.num_perm, stats), meta)
        plan = planner.plan()
    spill.write("decisions", 0, plan.decisions)
    with progress(reader.total_rows(), "dedup: writing", quiet=runtime.quiet) as bar:
        ex.write_parts(stage="dedup", reader=reader, writer=writer, make_process=NearShardWriter(spill),
                       shards=shards, bar=bar)
    extra = near_manifest_extra(config, plan)
    manifest = writer.finalize(extra)
    spill.remove()
    return manifest


__all__ = ["components_min_root", "run_near_dedup_executor"]
