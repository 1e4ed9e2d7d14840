"""What every executor shares: shards, part files and completion markers, the checked batch step.

A *shard* is one input file together with the global numbers of its batches. The numbers come from
the same deterministic batching the local loop uses (``InputReader``: sorted files, fixed-size
batches, numbering continued across files), so part ``i`` holds the same documents whichever
executor wrote it, and a run can be resumed by either.

Markers live in the writer's staging directory:

* ``_parts/NNNNN.json`` — a finished output part (the ``DatasetWriter`` contract: written last,
  atomically, after the part files);
* ``_shards/NNNNN.json`` — a finished shard: every part of it exists, plus the malformed-line tally
  of its file, so a rerun need not even read it. Removed before the writer finalizes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from sctool.errors import DatasetError, InternalError, SctoolError
from sctool.io.atomic import write_json, write_parquet
from sctool.io.dataset import PART, DatasetWriter, PartStats, check_part, part_stats
from sctool.io.jsonl import LineErrors
from sctool.io.sources import Batch, InputFile, InputReader

if TYPE_CHECKING:
    from sctool.stages.base import StageOutput

T = TypeVar("T")
R = TypeVar("R")

MAX_LINE_ERROR_SAMPLES = 20
SHARD_MARKERS = "_shards"


class ExecutorError(SctoolError):
    """The executor could not run the work (engine missing, cluster unreachable, worker lost)."""


@dataclass(frozen=True)
class Shard:
    """One input file and the global indexes (= output part numbers) of its batches."""

    index: int
    file: InputFile
    first_batch: int
    n_batches: int

    @property
    def parts(self) -> range:
        return range(self.first_batch, self.first_batch + self.n_batches)


@dataclass
class ShardInput:
    """The batches of one shard, numbered globally, as a worker reads them from the shard's file."""

    shard: Shard
    reader: InputReader

    @property
    def line_errors(self) -> LineErrors:
        return self.reader.line_errors

    def batches(self) -> Iterator[Batch]:
        n = 0
        for b in self.reader.batches():
            yield Batch(index=self.shard.first_batch + b.index, frame=b.frame, source=b.source)
            n += 1
        if n != self.shard.n_batches:
            raise InternalError(
                f"{self.shard.file.path}: planned {self.shard.n_batches} batches but read {n} "
                "(did the file change while the stage ran?)"
            )


@dataclass
class ShardReport:
    """What a shard's task sends back to the driver: counts only, never documents."""

    shard: int
    rows: int = 0
    written: int = 0
    skipped: int = 0
    line_errors: LineErrors = field(default_factory=LineErrors)

    def to_dict(self) -> dict[str, Any]:
        return {"shard": self.shard, "rows": self.rows, "written": self.written, "skipped": self.skipped,
                "line_errors": {"count": self.line_errors.count,
                                "samples": [list(s) for s in self.line_errors.samples]}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ShardReport:
        le = LineErrors(count=d["line_errors"]["count"],
                        samples=[(str(p), int(n), str(m)) for p, n, m in d["line_errors"]["samples"]])
        return cls(shard=d["shard"], rows=d["rows"], written=d["written"], skipped=d["skipped"], line_errors=le)


def shard_reader(reader: InputReader, file: InputFile) -> InputReader:
    """A reader of one file with the same batching as ``reader`` (its batch indexes start at 0)."""
    return dataclasses.replace(reader, inputs=[file], line_errors=LineErrors())


def count_batches(reader: InputReader, file: InputFile) -> int:
    """How many batches ``InputReader`` makes of ``file``: Parquet from its metadata, JSONL by reading.

    Parquet record batches are cut every ``batch_rows`` rows across row groups, and an empty file
    still gives one (empty) batch; ``ShardInput.batches`` re-checks the count when it reads.
    """
    if file.kind == "parquet":
        try:
            rows = pq.ParquetFile(file.path).metadata.num_rows
        except (pa.ArrowInvalid, OSError) as exc:
            raise DatasetError(f"{file.path}: not a readable Parquet file ({exc})") from exc
        return max(1, math.ceil(rows / reader.batch_rows))
    return sum(1 for _ in shard_reader(reader, file).batches())


def plan_shards(reader: InputReader, counts: Sequence[int]) -> list[Shard]:
    shards, first = [], 0
    for i, (f, n) in enumerate(zip(reader.inputs, counts, strict=True)):
        shards.append(Shard(index=i, file=f, first_batch=first, n_batches=n))
        first += n
    return shards


def merge_line_errors(parts: Sequence[LineErrors]) -> LineErrors:
    """Combine per-file tallies in input order, keeping the first samples as one reader would."""
    out = LineErrors()
    for le in parts:
        out.count += le.count
        for s in le.samples:
            if len(out.samples) < MAX_LINE_ERROR_SAMPLES:
                out.samples.append(s)
    return out


def checked_part(stage: str, batch: Batch, out: StageOutput, text_column: str) -> PartStats:
    """Check kept + removed = input for one batch and compute its part's counts."""
    removed = out.removed
    n_removed = removed.height if removed is not None else 0
    if out.kept.height + n_removed != batch.frame.height:
        raise InternalError(
            f"stage {stage}: batch {batch.index} of {batch.source.path} has {batch.frame.height} "
            f"documents but kept {out.kept.height} + removed {n_removed}"
        )
    st = part_stats(batch.frame, out.kept, removed, text_column)
    st.counters = out.counters
    return st


def part_done(staging: Path, index: int) -> bool:
    return (staging / "_parts" / f"{index:05d}.json").exists()


def write_part(staging: Path, index: int, kept: pl.DataFrame, removed: pl.DataFrame | None,
               stats: PartStats) -> None:
    """``DatasetWriter.write`` for a process that only knows the staging directory (a Ray worker)."""
    check_part(str(staging), index, kept, removed, stats)
    write_parquet(staging / PART.format(index), kept)
    if removed is not None and removed.height:
        write_parquet(staging / "removed" / PART.format(index), removed)
    write_json(staging / "_parts" / f"{index:05d}.json", stats.to_dict())


def shard_marker(staging: Path, shard: int) -> Path:
    return staging / SHARD_MARKERS / f"{shard:05d}.json"


def load_shard_marker(staging: Path, shard: Shard) -> ShardReport | None:
    path = shard_marker(staging, shard.index)
    try:
        rep = ShardReport.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    if not all(part_done(staging, i) for i in shard.parts):
        return None
    return rep


def clear_shard_markers(staging: Path) -> None:
    shutil.rmtree(staging / SHARD_MARKERS, ignore_errors=True)


BatchProcess = Callable[[Batch], "StageOutput"]
ProcessFactory = Callable[[Shard], BatchProcess]


@dataclass(frozen=True)
class FrameProcess:
    """Adapts a map stage's ``process(frame)`` to the per-shard factory ``write_parts`` takes."""

    process: Callable[[pl.DataFrame], StageOutput]

    def __call__(self, shard: Shard) -> BatchProcess:
        return lambda batch: self.process(batch.frame)


@dataclass(frozen=True)
class WriteShard:
    """The unit of work of ``write_parts``: process and write every unfinished part of one shard.

    Runs where the executor puts it (this process or a Ray worker); everything it needs travels
    with it, and it writes straight into the staging directory, which therefore must be on a
    filesystem every worker sees.
    """

    stage: str
    staging: Path
    text_column: str
    make_process: ProcessFactory

    def __call__(self, item: tuple[Shard, InputReader]) -> ShardReport:
        shard, reader = item
        if not (self.staging / "_parts").is_dir():
            raise ExecutorError(
                f"{self.staging}: the output's staging directory is not visible here; with a Ray cluster "
                "the output must be on a filesystem shared by every node"
            )
        rep = ShardReport(shard=shard.index)
        inp = ShardInput(shard, reader)
        process: BatchProcess | None = None
        for batch in inp.batches():
            rep.rows += batch.frame.height
            if part_done(self.staging, batch.index):
                rep.skipped += 1
                continue
            if process is None:
                process = self.make_process(shard)
            out = process(batch)
            st = checked_part(self.stage, batch, out, self.text_column)
            write_part(self.staging, batch.index, out.kept, out.removed, st)
            rep.written += 1
        rep.line_errors = inp.line_errors
        write_json(shard_marker(self.staging, shard.index), rep.to_dict())
        return rep


@dataclass(frozen=True)
class ShardCall:
    """``map_shards``'s unit of work: ``fn(shard, input)``, its JSON result checkpointed if asked."""

    fn: Callable[[Shard, ShardInput], Any]
    checkpoint: Path | None

    def __call__(self, item: tuple[Shard, InputReader]) -> Any:
        shard, reader = item
        result = self.fn(shard, ShardInput(shard, reader))
        if self.checkpoint is not None:
            write_json(self.checkpoint / f"{shard.index:05d}.json", {"result": result})
        return result


class Executor(ABC):
    """Runs a stage's work units somewhere; results never depend on where.

    ``run_map`` is the per-batch loop of ``run_map_stage``. Two-pass (global) stages use the
    primitives: ``plan`` (shards), ``map_shards`` (a function over each shard's batches, returning
    something small — spill files carry the bulk), ``map`` (a function over small items, e.g. the
    partitions of a spilled shuffle: the reduce), and ``write_parts`` (the final pass writing the
    output dataset with part markers).
    """

    name: str = ""

    @abstractmethod
    def map(self, fn: Callable[[T], R], items: Sequence[T], *, label: str = "task") -> list[R]:
        """``[fn(x) for x in items]``, in order; each call may run in another process."""

    @abstractmethod
    def _run_units(self, fn: Callable[[Any], R], items: Sequence[Any], labels: Sequence[str],
                   on_result: Callable[[int, R], None]) -> None:
        """Run ``fn`` over ``items``, calling ``on_result(i, result)`` on the driver as each finishes."""

    def default_partitions(self) -> int:
        """How many partitions a shuffle should use: a few per CPU so reducers stay balanced."""
        return 4

    def plan(self, reader: InputReader) -> list[Shard]:
        """Shards of ``reader``'s inputs with their global batch numbers (JSONL files are read once)."""
        counts: list[int | None] = [
            count_batches(reader, f) if f.kind == "parquet" else None for f in reader.inputs
        ]
        todo = [i for i, c in enumerate(counts) if c is None]
        if todo:
            got = self.map(_CountBatches(dataclasses.replace(reader, inputs=[])),
                           [reader.inputs[i] for i in todo], label="count batches")
            for i, c in zip(todo, got, strict=True):
                counts[i] = c
        return plan_shards(reader, [int(c or 0) for c in counts])

    def map_shards(
        self,
        reader: InputReader,
        fn: Callable[[Shard, ShardInput], R],
        *,
        shards: Sequence[Shard] | None = None,
        checkpoint: str | Path | None = None,
        bar: Any = None,
    ) -> list[R]:
        """``fn(shard, input)`` for every shard, results in shard order.

        With ``checkpoint`` (a directory every worker sees), each result is saved as JSON when its
        shard finishes and a rerun returns the saved result instead of running the shard again.
        """
        shards = list(self.plan(reader) if shards is None else shards)
        ck = Path(checkpoint) if checkpoint is not None else None
        results: list[Any] = [None] * len(shards)
        todo: list[int] = []
        for i, s in enumerate(shards):
            saved = _load_checkpoint(ck, s.index) if ck is not None else None
            if saved is not None:
                results[i] = saved[0]
            else:
                todo.append(i)
        if ck is not None:
            ck.mkdir(parents=True, exist_ok=True)
        call = ShardCall(fn, ck)
        items = [(shards[i], shard_reader(reader, shards[i].file)) for i in todo]

        def done(j: int, r: Any) -> None:
            results[todo[j]] = r
            if bar is not None:
                bar.update(1)

        self._run_units(call, items, [str(shards[i].file.path) for i in todo], done)
        return results

    def write_parts(
        self,
        *,
        stage: str,
        reader: InputReader,
        writer: DatasetWriter,
        make_process: ProcessFactory,
        shards: Sequence[Shard] | None = None,
        bar: Any = None,
    ) -> list[ShardReport]:
        """Process every batch and write its output part; finished parts and shards are skipped.

        ``make_process(shard)`` runs once per shard where the shard runs and returns the per-batch
        function (so per-shard context, e.g. a spilled lookup table, is loaded once). Afterwards
        ``reader.line_errors`` holds the malformed-line tally and ``writer.resumed`` counts the
        parts an earlier run had finished.
        """
        shards = list(self.plan(reader) if shards is None else shards)
        reports: list[ShardReport | None] = [None] * len(shards)
        todo: list[int] = []
        for i, s in enumerate(shards):
            rep = load_shard_marker(writer.staging, s)
            if rep is not None:
                rep.skipped, rep.written = s.n_batches, 0
                reports[i] = rep
                if bar is not None:
                    bar.update(rep.rows)
            else:
                todo.append(i)
        (writer.staging / SHARD_MARKERS).mkdir(parents=True, exist_ok=True)
        unit = WriteShard(stage=stage, staging=writer.staging, text_column=reader.text_column,
                          make_process=make_process)
        items = [(shards[i], shard_reader(reader, shards[i].file)) for i in todo]

        def done(j: int, rep: ShardReport) -> None:
            reports[todo[j]] = rep
            if bar is not None:
                bar.update(rep.rows)

        self._run_units(unit, items, [str(shards[i].file.path) for i in todo], done)
        final = [r for r in reports if r is not None]
        reader.line_errors = merge_line_errors([r.line_errors for r in final])
        writer.resumed += sum(r.skipped for r in final)
        clear_shard_markers(writer.staging)
        return final

    def run_map(
        self,
        *,
        stage: str,
        reader: InputReader,
        writer: DatasetWriter,
        process: Callable[[pl.DataFrame], StageOutput],
        bar: Any = None,
    ) -> None:
        """The per-batch loop of ``run_map_stage``: every batch through ``process`` into ``writer``."""
        self.write_parts(stage=stage, reader=reader, writer=writer, make_process=FrameProcess(process), bar=bar)


@dataclass(frozen=True)
class _CountBatches:
    reader: InputReader

    def __call__(self, file: InputFile) -> int:
        return count_batches(self.reader, file)


def _load_checkpoint(ck: Path, shard: int) -> tuple[Any] | None:
    try:
        return (json.loads((ck / f"{shard:05d}.json").read_text(encoding="utf-8"))["result"],)
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return None


__all__ = [
    "Executor",
    "ExecutorError",
    "FrameProcess",
    "Shard",
    "ShardInput",
    "ShardReport",
    "checked_part",
    "count_batches",
    "merge_line_errors",
    "plan_shards",
    "write_part",
]
