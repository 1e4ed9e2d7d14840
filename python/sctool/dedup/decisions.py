"""The write end of every dedup path (exact and near, in process and on an executor): one pass
that splits each batch by its decisions and writes its part, so all of them write identical parts
and manifests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from sctool.config import config_to_dict
from sctool.dedup.config import DedupConfig
from sctool.dedup.steps import SplitByDecisions, content_hashes, first_occurrences, split_by_decisions
from sctool.executors.base import Executor, Shard, plan_shards
from sctool.executors.spill import SpillDir
from sctool.io.dataset import DatasetWriter, Manifest
from sctool.io.sources import Batch, InputReader, resolve_inputs
from sctool.progress import progress

if TYPE_CHECKING:
    from sctool.stages.base import Runtime


@dataclass(frozen=True)
class SpilledDecisions:
    """Decisions the driver spilled; each write task reads its batch range."""

    spill: SpillDir
    name: str
    schema: Mapping[str, Any]

    def by_batch(self, first_batch: int, n_batches: int) -> dict:
        return self.spill.by_batch(self.name, first_batch, n_batches, self.schema)


@dataclass
class DedupRun:
    """What every dedup path opens first: the input reader and the output writer (and, on an
    executor, the spill directory keyed by everything that changes the result)."""

    reader: InputReader
    writer: DatasetWriter
    config: dict[str, Any]
    inputs: list[dict[str, Any]]
    output: Path

    @classmethod
    def open(cls, inputs: Sequence[str | Path], output: str | Path, config: DedupConfig,
             runtime: Runtime) -> DedupRun:
        files = resolve_inputs(inputs)
        reader = InputReader(files, text_column=runtime.text_column, batch_rows=runtime.batch_rows)
        cfg = config_to_dict(config)
        described = [f.describe() for f in files]
        writer = DatasetWriter(output, stage="dedup", config=cfg, inputs=described, overwrite=runtime.overwrite,
                               threads=runtime.threads)
        return cls(reader, writer, cfg, described, Path(output))

    def write(self, ex: Executor, process: SplitByDecisions, shards: list[Shard], runtime: Runtime,
              extra: dict[str, Any]) -> Manifest:
        """The write step: every batch through ``process`` into its part (finished parts are
        skipped, kept + removed = input checked per batch), then the manifest with ``extra``."""
        with progress(self.reader.total_rows(), "dedup: writing", quiet=runtime.quiet) as bar:
            ex.write_parts(stage="dedup", reader=self.reader, writer=self.writer, make_process=process,
                           shards=shards, bar=bar)
        return self.writer.finalize(extra)

    def spill_dir(self, stage: str, runtime: Runtime, partitions: int) -> SpillDir:
        return SpillDir.for_output(self.output, {"stage": stage, "config": self.config, "inputs": self.inputs,
                                                 "batch_rows": runtime.batch_rows,
                                                 "text_column": runtime.text_column, "partitions": partitions})


class BatchCounter:
    """Counts the batches of each input file during a pass, so the write pass's shards need no
    second read to plan (``executor.plan`` reads JSONL files once to count them)."""

    def __init__(self, reader: InputReader) -> None:
        self.reader = reader
        self.counts: Counter[str] = Counter()

    def __call__(self, batch: Batch) -> None:
        self.counts[str(batch.source.path)] += 1

    def shards(self) -> list[Shard]:
        return plan_shards(self.reader, [self.counts[str(f.path)] for f in self.reader.inputs])


def exact_duplicates(reader: InputReader, runtime: Runtime, counter: BatchCounter | None = None) -> pl.DataFrame:
    """The hash and first-occurrence steps in process (one partition): ``(batch, row, dup_of)`` of
    every document that repeats an earlier one."""
    frames = []
    with progress(reader.total_rows(), "dedup: hashing", quiet=runtime.quiet) as bar:
        for batch in reader.batches():
            if counter is not None:
                counter(batch)
            frames.append(content_hashes(batch.frame, batch.index, text_column=runtime.text_column,
                                         threads=runtime.threads))
            bar.update(batch.frame.height)
    return first_occurrences(pl.concat(frames) if frames else pl.DataFrame())


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


__all__ = ["BatchCounter", "DedupRun", "SpilledDecisions", "exact_duplicates", "near_manifest_extra",
           "split_by_decisions"]
