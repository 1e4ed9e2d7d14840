"""Resolving stage inputs and reading them as a deterministic sequence of batches.

Every stage accepts a dataset directory, Parquet files, JSONL files (.jsonl, .jsonl.gz, .jsonl.zst)
or globs of these. Inputs are sorted and read in fixed-size batches, so batch ``i`` is the same on
every run: that is what lets a rerun resume per output part.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from sctool.errors import DatasetError
from sctool.io.fingerprint import content_hash
from sctool.io.fingerprint import dataset_part_files as dataset_parts
from sctool.io.jsonl import LineErrors, iter_jsonl_numbered
from sctool.startup_trace import mark

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".ndjson", ".json.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
MAX_BATCH_BYTES = 64 << 20


def input_kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    return None


@dataclass(frozen=True)
class InputFile:
    """One input file, its format and size."""

    path: Path
    kind: str
    size_bytes: int

    def fingerprint(self) -> str:
        """Content fingerprint: SHA-256 of the whole file (see :func:`content_hash`)."""
        return content_hash(self.path)

    def describe(self) -> dict[str, object]:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise DatasetError(f"{self.path}: cannot read input: {exc.strerror or exc}") from exc
        # No mtime: the content hash decides, and two copies of one file describe alike.
        return {
            "path": str(self.path),
            "kind": self.kind,
            "size_bytes": st.st_size,
            "fingerprint": self.fingerprint(),
        }


def is_dataset_dir(directory: Path) -> bool:
    return directory.is_dir() and ((directory / "manifest.json").exists() or bool(dataset_parts(directory)))


def resolve_inputs(specs: Sequence[str | Path]) -> list[InputFile]:
    """Expand dataset directories, files and globs into a sorted, de-duplicated list of input files."""
    if not specs:
        raise DatasetError("no input given")
    files: list[Path] = []
    for spec in specs:
        p = Path(spec)
        if p.is_dir():
            if not is_dataset_dir(p):
                raise DatasetError(
                    f"{p}: directory is not an sctool dataset (no manifest.json or part-*.parquet); "
                    "use `sctool ingest` to read a source tree"
                )
            files.extend(dataset_parts(p))
        elif p.is_file():
            files.append(p)
        elif any(ch in str(spec) for ch in "*?["):
            matched = sorted(Path(m) for m in glob.glob(str(spec), recursive=True))
            if not matched:
                raise DatasetError(f"{spec}: glob matched no files")
            for m in matched:
                files.extend(dataset_parts(m) if m.is_dir() else [m])
        else:
            raise DatasetError(f"{spec}: no such file or directory")
    out: list[InputFile] = []
    seen: set[Path] = set()
    for f in files:
        rp = f.resolve()
        if rp in seen:
            continue
        seen.add(rp)
        kind = input_kind(f)
        if kind is None:
            raise DatasetError(f"{f}: unknown input format (expected .parquet, .jsonl, .jsonl.gz or .jsonl.zst)")
        out.append(InputFile(path=f, kind=kind, size_bytes=f.stat().st_size))
    return out


@dataclass
class Batch:
    """A slice of the input: ``index`` is its global position and the number of its output part."""

    index: int
    frame: pl.DataFrame
    source: InputFile


@dataclass
class InputReader:
    """Reads inputs as batches with a text column and a stable ``id`` column.

    ``id`` is created when missing as ``<file name>:<row>`` (row counted within the file), which is
    deterministic and independent of where the file lives.
    """

    inputs: list[InputFile]
    text_column: str = "content"
    batch_rows: int = 10_000
    require_text: bool = True
    line_errors: LineErrors = field(default_factory=LineErrors)

    def batches(self) -> Iterator[Batch]:
        self.line_errors = LineErrors()
        index = 0
        for inp in self.inputs:
            row0 = 0
            for frame in self._read_file(inp):
                frame = self._normalise(frame, inp, row0)
                row0 += frame.height
                mark("first_batch_read", f"rows={frame.height}")
                yield Batch(index=index, frame=frame, source=inp)
                index += 1

    def total_rows(self) -> int | None:
        """Row count when every input is Parquet (from metadata), else None."""
        total = 0
        for inp in self.inputs:
            if inp.kind != "parquet":
                return None
            try:
                total += pq.ParquetFile(inp.path).metadata.num_rows
            except (pa.ArrowInvalid, OSError) as exc:
                raise DatasetError(f"{inp.path}: not a readable Parquet file ({exc})") from exc
        return total

    def _read_file(self, inp: InputFile) -> Iterator[pl.DataFrame]:
        if inp.kind == "parquet":
            yield from self._read_parquet(inp)
        else:
            yield from self._read_jsonl(inp)

    def _read_parquet(self, inp: InputFile) -> Iterator[pl.DataFrame]:
        try:
            pf = pq.ParquetFile(inp.path)
            if pf.metadata.num_rows == 0:
                yield pl.from_arrow(pf.schema_arrow.empty_table())
                return
            for rb in pf.iter_batches(batch_size=self.batch_rows):
                yield pl.from_arrow(pa.Table.from_batches([rb]))
        except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
            raise DatasetError(f"{inp.path}: not a readable Parquet file (truncated or corrupt?): {exc}") from exc

    def _read_jsonl(self, inp: InputFile) -> Iterator[pl.DataFrame]:
        records: list[dict] = []
        nbytes = 0
        produced = False
        for lineno, rec in iter_jsonl_numbered(inp.path, self.line_errors):
            val = rec.get(self.text_column)
            if isinstance(val, str):
                nbytes += len(val)
            elif val is not None and self.require_text:
                # One rule for every batch: a batch of mixed values would otherwise be cast to strings
                # silently, and a batch of only numbers refused.
                raise DatasetError(
                    f"{inp.path}:{lineno}: text column {self.text_column!r} holds a {type(val).__name__}, "
                    "expected a string (or null)"
                )
            records.append(rec)
            if len(records) >= self.batch_rows or nbytes >= MAX_BATCH_BYTES:
                yield self._frame_from_records(records, inp)
                produced = True
                records, nbytes = [], 0
        if records or not produced:
            yield self._frame_from_records(records, inp)

    def _frame_from_records(self, records: list[dict], inp: InputFile) -> pl.DataFrame:
        if not records:
            return pl.DataFrame({self.text_column: pl.Series([], dtype=pl.String)})
        try:
            return pl.from_dicts(records, infer_schema_length=None)
        except Exception as exc:  # polars raises several unrelated types for schema conflicts
            raise DatasetError(f"{inp.path}: records do not form a table (mixed types?): {exc}") from exc

    def _normalise(self, frame: pl.DataFrame, inp: InputFile, row0: int) -> pl.DataFrame:
        if self.require_text:
            if self.text_column not in frame.columns:
                if frame.height == 0:
                    frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(self.text_column))
                else:
                    raise DatasetError(
                        f"{inp.path}: no text column {self.text_column!r}; columns are {frame.columns} "
                        "(choose one with --text-column)"
                    )
            dtype = frame.schema[self.text_column]
            if isinstance(dtype, (pl.Categorical, pl.Enum)):
                # Dictionary-encoded Parquet text (common for repetitive columns) is still text.
                frame = frame.with_columns(pl.col(self.text_column).cast(pl.String))
            elif dtype == pl.Null:
                frame = frame.with_columns(pl.col(self.text_column).cast(pl.String))
            elif dtype != pl.String:
                raise DatasetError(
                    f"{inp.path}: row {row0 + 1}: text column {self.text_column!r} has type {dtype}, expected strings"
                )
        elif self.text_column in frame.columns and frame.schema[self.text_column] == pl.Null:
            # A batch whose texts are all null still carries a String column, so stats and writers agree.
            frame = frame.with_columns(pl.col(self.text_column).cast(pl.String))
        if "id" not in frame.columns:
            ids = pl.Series("id", [f"{inp.path.name}:{row0 + i}" for i in range(frame.height)], dtype=pl.String)
            frame = frame.insert_column(0, ids)
        elif frame.schema["id"] != pl.String:
            frame = frame.with_columns(pl.col("id").cast(pl.String))
        return frame
