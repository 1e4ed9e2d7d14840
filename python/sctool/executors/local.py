"""The default executor: everything in this process, parallelism from the Rust kernels' own threads.

``run_map`` is the original single pass over the input (no planning), so a local run costs what it
did before executors existed; the two-pass primitives run their units one after another.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl

from sctool.executors.base import Executor, checked_part, clear_shard_markers
from sctool.io.dataset import DatasetWriter
from sctool.io.sources import InputReader
from sctool.parallel import resolve_threads

if TYPE_CHECKING:
    from sctool.stages.base import StageOutput

T = TypeVar("T")
R = TypeVar("R")


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads

    def default_partitions(self) -> int:
        return max(1, resolve_threads(self.threads))

    def map(self, fn: Callable[[T], R], items: Sequence[T], *, label: str = "task") -> list[R]:
        return [fn(x) for x in items]

    def _run_units(self, fn: Callable[[Any], R], items: Sequence[Any], labels: Sequence[str],
                   on_result: Callable[[int, R], None]) -> None:
        for i, item in enumerate(items):
            on_result(i, fn(item))

    def run_map(
        self,
        *,
        stage: str,
        reader: InputReader,
        writer: DatasetWriter,
        process: Callable[[pl.DataFrame], StageOutput],
        bar: Any = None,
    ) -> None:
        for batch in reader.batches():
            if bar is not None:
                bar.update(batch.frame.height)
            if writer.done(batch.index):
                continue
            out = process(batch.frame)
            writer.write(batch.index, out.kept, out.removed,
                         checked_part(stage, batch, out, reader.text_column))
        # A Ray run interrupted earlier may have left shard markers; they must not reach the output.
        clear_shard_markers(writer.staging)
