"""Near (and ``both``) dedup on any executor: the step chain with a spilled shuffle.

The same steps as the in-process runner (``sctool.dedup.steps``; ``NearDupPlanner``), placed on
the executor's primitives:

1. ``executor.map_shards`` — per shard, the sign and band-keys steps; band records ``(key, doc)``
   (``doc = batch << 32 | row``) spilled partitioned by key (the shuffle), per-document meta and
   signatures spilled for the driver;
2. ``executor.map`` over partitions — the edges step (the Rust grouping the in-process runner
   uses), edges spilled;
3. the driver — the components step over the spilled edges, then the decisions step;
4. ``executor.write_parts`` — the write step: each shard joins the decisions of its batch range.

``verify`` needs every candidate's shingle set next to the union-find, so it stays in-process
(``run_dedup`` says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from sctool import native
from sctool.dedup import steps
from sctool.dedup.config import DedupConfig
from sctool.dedup.decisions import DedupRun, SpilledDecisions, near_manifest_extra
from sctool.dedup.near import NearDupParams
from sctool.dedup.steps import DECISION_SCHEMA
from sctool.errors import ConfigError, InternalError
from sctool.executors import get_executor
from sctool.executors.base import Shard, ShardInput
from sctool.executors.spill import SpillDir
from sctool.io.dataset import Manifest
from sctool.progress import progress
from sctool.stages.base import Runtime

EDGE_SCHEMA = {"a": pl.UInt64, "b": pl.UInt64}


def _fixed_binary(data: np.ndarray) -> pl.Series:
    """Rows of a C-contiguous ``uint8`` matrix as one Binary series, without a Python loop."""
    n, width = data.shape
    arr = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, pa.py_buffer(data.tobytes())])
    return pl.Series(pl.from_arrow(arr)).cast(pl.Binary)


@dataclass(frozen=True)
class SignShard:
    """Map: the sign and band-keys steps over one shard; band records spilled by key (the shuffle),
    per-document meta and signatures spilled for the driver."""

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
            signed = steps.sign(frame.get_column(self.text_column), p, threads=self.threads)
            base = batch.index << 32
            doc = pl.Series("doc", np.uint64(base) + np.arange(n, dtype=np.uint64), dtype=pl.UInt64)
            meta = steps.doc_meta(frame, batch.index, text_column=self.text_column, params=p, exact=self.exact,
                                  threads=self.threads)
            metas.append(meta.with_columns(doc, pl.Series("shingles", signed.counts, dtype=pl.UInt32))
                         .select("doc", *meta.columns, "shingles"))
            sigs = np.ascontiguousarray(signed.sigs, dtype="<u4").reshape(n, p.num_perm)
            sigs_out.append(pl.DataFrame({"doc": doc, "sig": _fixed_binary(sigs.view(np.uint8).reshape(n, -1))}))
            docs += n
            empty += int((np.asarray(signed.counts) == 0).sum())
            keys, nodes = steps.band_keys(signed, bands, rows, base=base, threads=self.threads)
            records.append(pl.DataFrame({"key": pl.Series(keys, dtype=pl.UInt64),
                                         "doc": pl.Series(nodes, dtype=pl.UInt64)}))
        rec = pl.concat(records) if records else pl.DataFrame(schema={"key": pl.UInt64, "doc": pl.UInt64})
        self.spill.write_partitioned("bands", shard.index, rec, "key", self.partitions)
        if metas:
            self.spill.write("meta", shard.index, pl.concat(metas))
            self.spill.write("sigs", shard.index, pl.concat(sigs_out))
        return [docs, empty, rec.height]


@dataclass(frozen=True)
class CandidateEdges:
    """Reduce: the edges step over one band-key partition (every record of a key is in it)."""

    spill: SpillDir
    shards: int
    threads: int = 0

    def __call__(self, p: int) -> list[int]:
        recs = self.spill.read_partition("bands", p, shards=self.shards)
        if recs.height == 0:
            e = steps.Edges(0, np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.uint64))
        else:
            e = steps.edges(recs.get_column("key").to_numpy(), recs.get_column("doc").to_numpy(),
                            threads=self.threads)
        self.spill.write("edges", p, pl.DataFrame({"a": e.a, "b": e.b}, schema=EDGE_SCHEMA))
        return [e.groups, len(e.a)]


def components_min_root(n: int, a: np.ndarray, b: np.ndarray, threads: int = 0) -> np.ndarray:
    """Per node of ``0..n``, the smallest node of its connected component under edges ``(a, b)``:
    the components step with ranks equal to positions."""
    comps = steps.Components(np.arange(n, dtype=np.uint32))
    comps.union(np.ascontiguousarray(a, dtype=np.uint64), np.ascontiguousarray(b, dtype=np.uint64), threads=threads)
    return comps.roots(threads=threads).astype(np.int64)


def _cluster_spilled(spill: SpillDir, doc: np.ndarray, ranks: np.ndarray, threads: int) -> np.ndarray:
    """The components step over the spilled edges, one partition file at a time (docs → positions)."""
    comps = steps.Components(np.ascontiguousarray(ranks, dtype=np.uint32))
    for f in sorted((spill.path("edges")).glob("*.parquet")):
        e = pl.read_parquet(f)
        if e.height == 0:
            continue
        a, b = e.get_column("a").to_numpy(), e.get_column("b").to_numpy()
        pa_, pb_ = np.searchsorted(doc, a), np.searchsorted(doc, b)
        if (pa_ >= len(doc)).any() or (pb_ >= len(doc)).any() or (doc[pa_] != a).any() or (doc[pb_] != b).any():
            raise InternalError("candidate edge names a document with no meta record; the spill is incomplete")
        comps.union(pa_.astype(np.uint64), pb_.astype(np.uint64), threads=threads)
    return comps.roots(threads=threads)


@dataclass
class SpilledSignatures:
    """Pair estimates from the signatures the map tasks spilled (read once, only the rows needed)."""

    spill: SpillDir
    doc: np.ndarray
    num_perm: int

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
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
        return steps.jaccard_rows(sig[np.searchsorted(need, a)], sig[np.searchsorted(need, b)])


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
    run = DedupRun.open(inputs, output, config, runtime)
    reader = run.reader
    ex = get_executor(runtime)
    shards = ex.plan(reader)
    n_part = partitions or ex.default_partitions()
    spill = run.spill_dir("dedup-near", runtime, n_part)
    with progress(len(shards), "dedup: minhash", unit="shard", quiet=runtime.quiet) as bar:
        mapped = ex.map_shards(reader, SignShard(spill, params, exact, runtime.text_column, runtime.threads, n_part),
                               shards=shards, checkpoint=spill.path("signed"), bar=bar)
    reduced = ex.map(CandidateEdges(spill, len(shards), runtime.threads), list(range(n_part)),
                     label="dedup candidates")
    lf = spill.scan("meta")
    meta_schema = {"doc": pl.UInt64, "batch": pl.UInt32, "row": pl.UInt32, "id": pl.String, "len": pl.Int64,
                   "stars": pl.Float64, **({"h": pl.Binary} if exact else {}), "shingles": pl.UInt32}
    meta = lf.collect().sort("batch", "row") if lf is not None else pl.DataFrame(schema=meta_schema)
    doc = meta.get_column("doc").to_numpy()
    counts = meta.get_column("shingles").to_numpy().astype(np.uint32)
    ranks = native.rank_ids(meta.get_column("id"), threads=runtime.threads)
    roots = _cluster_spilled(spill, doc, ranks, runtime.threads)
    engine = {
        "documents": sum(int(m[0]) for m in mapped),
        "empty_documents": sum(int(m[1]) for m in mapped),
        "band_records": sum(int(m[2]) for m in mapped),
        "candidate_groups": sum(int(r[0]) for r in reduced),
        "candidate_pairs": sum(int(r[1]) for r in reduced),
        "verified_pairs": 0,
        "rejected_pairs": 0,
        # The kernel this process calibrated (shards on other machines calibrate their own; every
        # kernel gives bit-identical signatures, so only the speed can differ).
        "signature_kernel": native.minhash_kernel()[0],
        "sha1_kernel": native.minhash_sha1_kernel(),
    }
    plan = steps.decide(meta.drop("doc", "shingles"), ranks=ranks, roots=roots, counts=counts,
                        estimate=SpilledSignatures(spill, doc, params.num_perm), params=params, exact=exact,
                        engine=engine)
    spill.write("decisions", 0, plan.decisions)
    process = steps.SplitByDecisions(SpilledDecisions(spill, "decisions", DECISION_SCHEMA), flag="reason")
    manifest = run.write(ex, process, shards, runtime, near_manifest_extra(config, plan))
    spill.remove()
    return manifest

__all__ = ["components_min_root", "run_near_dedup_executor"]
