"""The contract every per-document stage shares, and the runner that executes it.

A stage is a function ``process(batch) -> StageOutput`` over a Polars DataFrame batch. The runner
owns everything else: deterministic batching of the inputs, resuming finished parts, checking that
kept + removed = input for every batch, atomic output, progress, the manifest (datatrove's
PipelineStep + executor split).
"""

from __future__ import annotations

import os
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

import polars as pl

from sctool.config import config_to_dict
from sctool.errors import ConfigError
from sctool.executors import get_executor
from sctool.io.dataset import DatasetWriter, DeferredInputs, Manifest, PartStats
from sctool.io.fingerprint import prefetch as prefetch_fingerprints
from sctool.io.sources import InputReader, resolve_inputs
from sctool.progress import progress
from sctool.startup_trace import ENABLED as TRACE
from sctool.startup_trace import mark

#: ``--threads`` above this many times the CPU count is capped (with a warning): more threads than
#: that only add scheduling and memory cost, and 100,000 of them never finish starting.
MAX_THREADS_PER_CPU = 4


@dataclass(frozen=True)
class Runtime:
    """How a stage runs (not what it computes): never changes results, so not part of the config."""

    threads: int = field(default=0, metadata={"help": "worker threads for Rust kernels (0 = all cores)"})
    text_column: str = field(default="content", metadata={"help": "column holding the document text"})
    batch_rows: int = field(default=10_000, metadata={"help": "documents per batch / output part"})
    overwrite: bool = field(default=False, metadata={"help": "replace an existing output"})
    quiet: bool = field(default=False, metadata={"help": "no progress bar"})
    executor: Literal["local", "ray"] = field(
        default="local",
        metadata={"help": "where batches run: local (this process) or ray (tasks on a Ray cluster; "
                          "pip install 'sctool[ray]')"},
    )
    ray_address: str | None = field(
        default=None,
        metadata={"help": "Ray cluster to join with executor=ray (default: $RAY_ADDRESS, else a new local one)",
                  "metavar": "ADDR"},
    )

    def __post_init__(self) -> None:
        if self.executor not in ("local", "ray"):
            raise ConfigError(f"executor must be 'local' or 'ray', got {self.executor!r}")
        if self.threads < 0:
            raise ConfigError(f"threads must be >= 0 (0 = all cores), got {self.threads}")
        if self.batch_rows < 1:
            raise ConfigError(f"batch_rows must be >= 1, got {self.batch_rows}")
        cap = MAX_THREADS_PER_CPU * (os.cpu_count() or 1)
        if self.threads > cap:
            warnings.warn(f"threads={self.threads} capped at {cap} ({MAX_THREADS_PER_CPU} x {os.cpu_count()} CPUs)",
                          stacklevel=3)
            object.__setattr__(self, "threads", cap)


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
    # The inputs' whole-file SHA-256 (the resume key) runs in a background thread (hashlib releases
    # the GIL) while the first batches are read and processed; the local writer waits for it only
    # when it writes its first part. A Ray run's workers write parts themselves, so it hashes first.
    described: list[dict[str, Any]] | DeferredInputs
    if runtime.executor == "local":
        prefetch_fingerprints(f.path for f in files)
        described = DeferredInputs([str(f.path) for f in files], lambda: [f.describe() for f in files])
    else:
        described = [f.describe() for f in files]
    writer = DatasetWriter(
        output,
        stage=stage,
        config=cfg,
        inputs=described,
        overwrite=runtime.overwrite,
        threads=runtime.threads,
    )
    mark("writer_ready")
    first = True

    def traced(batch: pl.DataFrame) -> StageOutput:
        nonlocal first
        if first:
            first = False
            mark("first_batch_map", f"rows={batch.height}")
            out = process(batch)
            mark("first_batch_done")
            return out
        return process(batch)

    bar = progress(reader.total_rows(), f"sctool {stage}", quiet=runtime.quiet)
    t0 = time.perf_counter()
    with bar:
        # The executor owns the per-batch loop (in process, or as Ray tasks); it leaves finished parts
        # in the writer's staging directory and the malformed-line tally in ``reader.line_errors``.
        get_executor(runtime).run_map(stage=stage, reader=reader, writer=writer,
                                    process=traced if TRACE else process, bar=bar)
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


C = TypeVar("C")


class Stage(ABC, Generic[C]):
    """The contract every stage implements; the CLI, recipes and the Python API all run stages this way.

    A stage is a class with a typed ``Config`` (a frozen dataclass whose field metadata also
    generates its command-line flags and checks its recipe keys), built once per run with that
    config and a :class:`Runtime`. Per-document stages derive from :class:`MapStage` and implement
    only ``map`` (one batch in, kept + removed out). Global stages (dedup, tokenize,
    train-tokenizer, ingest) implement ``run`` themselves, still writing through ``DatasetWriter`` or
    the packed-token writer.
    """

    name: ClassVar[str]
    Config: ClassVar[type]
    #: One line for ``sctool --help``; the class docstring is the command's description.
    summary: ClassVar[str] = ""
    #: Whether inputs must carry the text column (ingest reads source trees instead).
    require_text: ClassVar[bool] = True

    def __init__(self, config: C | None = None, runtime: Runtime | None = None) -> None:
        self.config: C = config if config is not None else self.Config()
        self.runtime = runtime or Runtime()

    @abstractmethod
    def run(self, inputs: Sequence[str | Path], output: str | Path) -> Manifest:
        """Read ``inputs``, write the output dataset (or token files) at ``output``, return its manifest."""


class MapStage(Stage[C]):
    """A per-document stage: the shared runner streams the inputs through ``map`` batch by batch,
    with resume of finished parts, the kept + removed = input check, atomic output and the manifest."""

    def setup(self) -> None:
        """Per-run preparation (load rules, benchmarks, models) before the first batch."""

    @abstractmethod
    def map(self, batch: pl.DataFrame) -> StageOutput:
        """One batch in; the kept rows, the removed rows (with ``reason``) and counters out."""

    def manifest_extra(self) -> dict[str, Any]:
        """Stage-level facts recorded in the manifest besides the summed counters."""
        return {}

    def run(self, inputs: Sequence[str | Path], output: str | Path) -> Manifest:
        self.setup()
        return run_map_stage(stage=self.name, config=self.config, inputs=inputs, output=output,
                             runtime=self.runtime, process=self.map, manifest_extra=self.manifest_extra(),
                             require_text=self.require_text)


STAGES: dict[str, type[Stage[Any]]] = {}


def register_stage(cls: type[Stage[Any]]) -> type[Stage[Any]]:
    """Class decorator: make a stage known to recipes (``stage: NAME``) under its ``name``."""
    if cls.name in STAGES and STAGES[cls.name] is not cls:
        raise ValueError(f"two stages named {cls.name!r}: {STAGES[cls.name]} and {cls}")
    STAGES[cls.name] = cls
    return cls


__all__ = ["STAGES", "Manifest", "MapStage", "PartStats", "Runtime", "Stage", "StageOutput", "empty_removed",
           "register_stage", "run_map_stage"]
