"""``sctool dedup``: exact (XXH3-128) and near (MinHash-LSH, StarCoder) deduplication.

``mode=both`` is the default (exact first, then near, as the issue and StarCoder's pipeline — exact
copies are cheap to find and would otherwise only be caught by LSH).

``mode=exact``: two passes over the input: hash every document (Rust, GIL released,
all cores), pick the first occurrence of each hash in input order, then write kept documents and,
in ``removed/``, every other copy with ``reason=exact_duplicate`` and ``dup_of`` = the id kept.

``mode=near`` / ``mode=both``: pass 1 runs the sign → band keys → shuffle steps of
``sctool.dedup.steps`` on every batch (signatures and, with ``verify``, shingle sets go to a
scratch directory next to the output; the band shuffle is partitioned into files so memory stays
under ``memory_budget_mb``), then edges → components → decisions (``sctool.dedup.near``); ``both``
removes exact copies first. Pass 2 is the write step; removed rows carry ``reason``, ``dup_of``,
``cluster_id`` and ``jaccard`` (the MinHash estimate to the document kept). On an executor the
same steps run with a spilled shuffle (``sctool.dedup.distributed_near``). Results do not depend on
executor, thread count, batch size or input order (ids decide, compared in natural order); the
manifest records every parameter, including the derived bands and rows.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from sctool.dedup.config import DedupConfig
from sctool.dedup.decisions import BatchCounter, DedupRun, exact_duplicates, near_manifest_extra
from sctool.dedup.distributed_exact import run_exact_dedup
from sctool.dedup.distributed_near import run_near_dedup_executor
from sctool.dedup.near import NearDupPlanner
from sctool.dedup.steps import InMemoryDecisions, SplitByDecisions, split_by_decisions
from sctool.errors import ConfigError
from sctool.executors import LocalExecutor
from sctool.io.dataset import Manifest
from sctool.progress import progress
from sctool.stages.base import Runtime, Stage, register_stage


def run_dedup(
    inputs: Sequence[str | Path], output: str | Path, config: DedupConfig, runtime: Runtime
) -> Manifest:
    """The same steps either way; the runner only decides where the shuffle lives: in this process
    (memory, then scratch files) or spilled for the executor's tasks (``--verify`` stays here)."""
    if config.mode not in ("exact", "near", "both"):
        raise ConfigError(f"dedup mode must be exact, near or both, got {config.mode!r}")
    if config.mode != "exact":
        if runtime.executor != "local":
            if not config.verify:
                return run_near_dedup_executor(inputs, output, config, runtime)
            print("sctool dedup: --verify runs in this process; --executor ray applies without --verify",
                  file=sys.stderr)
        return run_near_dedup(inputs, output, config, runtime)
    if runtime.executor != "local":
        return run_exact_dedup(inputs, output, config, runtime)
    run = DedupRun.open(inputs, output, config, runtime)
    reader = run.reader
    counter = BatchCounter(reader)
    dups = exact_duplicates(reader, runtime, counter)
    groups = int(dups.get_column("dup_of").n_unique()) if dups.height else 0
    process = SplitByDecisions(InMemoryDecisions(dups), flag="dup_of", reason="exact_duplicate")
    return run.write(LocalExecutor(runtime.threads), process, counter.shards(), runtime, {"duplicate_groups": groups})


def run_near_dedup(
    inputs: Sequence[str | Path], output: str | Path, config: DedupConfig, runtime: Runtime
) -> Manifest:
    """Near (and, for mode ``both``, first exact) deduplication in this process; see the module docstring."""
    params = config.near_params()
    params.validate()
    run = DedupRun.open(inputs, output, config, runtime)
    reader = run.reader
    counter = BatchCounter(reader)
    with NearDupPlanner(params, exact=config.mode == "both", text_column=runtime.text_column,
                        threads=runtime.threads, work_parent=Path(output).resolve().parent) as planner:
        with progress(reader.total_rows(), "dedup: minhash", quiet=runtime.quiet) as bar:
            for batch in reader.batches():
                counter(batch)
                planner.add(batch.frame, batch.index)
                bar.update(batch.frame.height)
        plan = planner.plan()
    process = SplitByDecisions(InMemoryDecisions(plan.decisions), flag="reason")
    extra = near_manifest_extra(config, plan)
    return run.write(LocalExecutor(runtime.threads), process, counter.shards(), runtime, extra)


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


__all__ = ["DedupConfig", "DedupStage", "exact_duplicates", "near_manifest_extra", "run_dedup", "run_near_dedup",
           "split_by_decisions"]
