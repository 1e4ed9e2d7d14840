"""Exact dedup on any executor: the two-pass pattern (map → partitioned spill → reduce → write).

The output equals ``sctool.stages.dedup.run_dedup``'s byte for byte: the same first-occurrence rule
(earliest (batch, row) among equal XXH3-128 digests, null documents never duplicates), the same
per-batch join, the same part numbering. It is also the worked example of the primitives a global
stage (near-dedup) uses on a cluster:

1. ``executor.map_shards`` — each shard hashes its batches and writes ``(h, batch, row, id)`` to
   spill partitions keyed by ``h``; the task returns only its row count (checkpointed, so a rerun
   skips hashed shards);
2. ``executor.map`` over partitions — each reduce reads its partition from every shard, finds the
   duplicates, and writes ``(batch, row, dup_of)`` plus the distinct kept ids it points to;
3. ``executor.write_parts`` — each shard loads the duplicates of its own batch range once and
   writes its output parts (marker per part, resumable).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from sctool.dedup.config import DedupConfig
from sctool.dedup.decisions import DedupRun, SpilledDecisions
from sctool.dedup.steps import EXACT_SCHEMA, SplitByDecisions, content_hashes, first_occurrences
from sctool.errors import ConfigError
from sctool.executors import get_executor
from sctool.executors.base import Shard, ShardInput
from sctool.executors.spill import SpillDir
from sctool.io.dataset import Manifest
from sctool.progress import progress
from sctool.stages.base import Runtime

DUPS_SCHEMA = EXACT_SCHEMA


@dataclass(frozen=True)
class HashShard:
    """Map: the hash step over one shard, spilled by hash (the shuffle)."""

    spill: SpillDir
    text_column: str
    threads: int
    partitions: int

    def __call__(self, shard: Shard, inp: ShardInput) -> int:
        frames = [content_hashes(batch.frame, batch.index, text_column=self.text_column, threads=self.threads)
                  for batch in inp.batches()]
        return self.spill.write_partitioned("hashes", shard.index, pl.concat(frames), "h", self.partitions)


@dataclass(frozen=True)
class FindDuplicates:
    """Reduce: the first-occurrence step over one hash partition (every copy of a hash is in it)."""

    spill: SpillDir
    shards: int
    partitions: int

    def __call__(self, p: int) -> int:
        dups = first_occurrences(self.spill.read_partition("hashes", p, shards=self.shards)).sort("batch", "row")
        self.spill.write("dups", p, dups)
        # Distinct kept ids, re-spilled by id so the group count is exact even if ids repeat.
        kept_ids = dups.select("dup_of").unique(maintain_order=True)
        self.spill.write_partitioned("groups", p, kept_ids, "dup_of", self.partitions)
        return dups.height


@dataclass(frozen=True)
class CountGroups:
    spill: SpillDir
    partitions: int

    def __call__(self, p: int) -> int:
        ids = self.spill.read_partition("groups", p, shards=self.partitions)
        return int(ids.get_column("dup_of").n_unique()) if ids.height else 0


def run_exact_dedup(
    inputs: Sequence[str | Path],
    output: str | Path,
    config: DedupConfig,
    runtime: Runtime,
    *,
    partitions: int | None = None,
) -> Manifest:
    """``run_dedup`` on ``runtime.executor``; ``partitions`` (default: from the cluster size) never changes the result."""
    if config.mode != "exact":
        raise ConfigError(f"run_exact_dedup handles mode 'exact' only, got {config.mode!r}")
    run = DedupRun.open(inputs, output, config, runtime)
    reader = run.reader
    ex = get_executor(runtime)
    shards = ex.plan(reader)
    n_part = partitions or ex.default_partitions()
    spill = run.spill_dir("dedup", runtime, n_part)
    with progress(len(shards), "dedup: hashing", unit="shard", quiet=runtime.quiet) as bar:
        ex.map_shards(reader, HashShard(spill, runtime.text_column, runtime.threads, n_part), shards=shards,
                      checkpoint=spill.path("hashed"), bar=bar)
    ex.map(FindDuplicates(spill, len(shards), n_part), list(range(n_part)), label="dedup reduce")
    groups = sum(ex.map(CountGroups(spill, n_part), list(range(n_part)), label="dedup groups"))
    process = SplitByDecisions(SpilledDecisions(spill, "dups", DUPS_SCHEMA), flag="dup_of", reason="exact_duplicate")
    manifest = run.write(ex, process, shards, runtime, {"duplicate_groups": groups})
    spill.remove()
    return manifest


__all__ = ["run_exact_dedup"]
