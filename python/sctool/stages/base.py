"""The contract every per-document stage shares, and the runner that executes it.

A stage is a function ``process(batch) -> StageOutput`` over a Polars DataFrame batch. The runner
owns everything else: deterministic batching of the inputs, resuming finished parts, checking that
kept + removed = input for every batch, atomic output, progress, the manifest (datatrove's
PipelineStep + executor split).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from sctool.config import config_to_dict
from sctool.errors import ConfigError
from sctool.io.dataset import DatasetWriter, Manifest, PartStats
from sctool.io.sources import InputReader, resolve_inputs
from sctool.progress import progress


@dataclass(frozen=True)
class Runtime:
    """How a stage runs (not what it computes): never changes results, so not part of the config."""

    threads: int = field(default=0, metadata={"help": "worker threads for Rust kernels (0 = all cores)"})
    text_column: str = field(default="content", metadata={"help": "column holding the document text"})
    batch_rows: int = field(default=10_000, metadata={"help": "documents per batch / output part"})
    overwrite: bool = field(default=False, metadata={"help": "replace an existing output"})
    quiet: bool = field(default=False, metadata={"help": "no progress bar"})
    executor: str = field(
        default="local",
        metadata={"help": "where batches run: local (this process) or ray (tasks on a Ray cluster)"},
    )
    ray_address: str | None = field(
        default=None,
        metadata={"help": "Ray cluster to join with executor=ray (default: $RAY_ADDRESS, else a new local one)"},
    )

    def __post_init__(self) -> None:
        if self.executor not in ("local", "ray"):
            raise ConfigError(f"executor must be 'local' or 'ray', got {self.executor!r}")


@dataclass
class StageOutput:
    """Result of processing one batch.

    ``removed`` holds the original rows that were dropped plus ``reason`` and detail columns;
    ``counters`` are numbers (nested dicts allowed) summed over batches into the manifest.
    """

    kept: pl.DataFrame
    removed: pl.DataFrame | None = None
    counters: dict[str, Any] = field(default_factory=dict)


def run_map_stage(
    *,
    stage: str,
    config: Any,
    inputs: Sequence[str | Path],
    output: str | Path,
    runtime: Runtime,
    process: Callable[[pl.DataFrame], StageOutput],
    manifest_extra: Mapping[str, Any] | None = None,
    require_text: bool = True,
) -> Manifest:
    """Run a per-document stage over ``inputs`` and write the dataset ``output``."""
    files = resolve_inputs(inputs)
    reader = InputReader(files, text_column=runtime.text_column, batch_rows=runtime.batch_rows,
                         require_text=require_text)
    cfg = config if isinstance(config, dict) else config_to_dict(config)
    writer = DatasetWriter(
        output,
        stage=stage,
        config=cfg,
        inputs=[f.describe() for f in files],
        overwrite=runtime.overwrite,
        threads=runtime.threads,
    )
    bar = progress(reader.total_rows(), f"sctool {stage}", quiet=runtime.quiet)
    t0 = time.perf_counter()
    with bar:
        # The executor owns the per-batch loop (in process, or as Ray tasks); it leaves finished parts
        # in the writer's staging directory and the malformed-line tally in ``reader.line_errors``.
        from sctool.executors import get_executor

        get_executor(runtime).run_map(stage=stage, reader=reader, writer=writer, process=process, bar=bar)
    extra = dict(manifest_extra or {})
    errs = reader.line_errors
    if errs.count:
        extra["malformed_lines"] = errs.count
        extra["malformed_line_samples"] = [f"{p}:{n}: {m}" for p, n, m in errs.samples]
    extra["kernel_seconds"] = round(time.perf_counter() - t0, 3)
    return writer.finalize(extra)


def empty_removed(batch: pl.DataFrame, **detail: pl.DataType) -> pl.DataFrame:
    """A zero-row removed frame with the batch's schema plus ``reason`` and detail columns."""
    cols = {"reason": pl.String, **detail}
    return batch.head(0).with_columns([pl.lit(None, dtype=t).alias(n) for n, t in cols.items()])


__all__ = ["Manifest", "PartStats", "Runtime", "StageOutput", "empty_removed", "run_map_stage"]
