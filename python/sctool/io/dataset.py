"""The sctool dataset format and its atomic, resumable writer.

A dataset is a directory::

    OUT/
      part-00000.parquet …        kept documents
      removed/part-00000.parquet  documents the stage removed: original row + ``reason`` + detail
      manifest.json               version, stage, resolved config, inputs + fingerprints, counts, timing

While a stage runs, everything goes to a hidden staging directory next to ``OUT``; each finished part
leaves a completion marker with its counts. A rerun after a crash with the same stage, config and
inputs skips finished parts; the final rename makes ``OUT`` appear only when complete.

What the writer guarantees (docs/reliability.md says it for users): one run at a time per output
(an exclusive lock, see :mod:`sctool.io.lock`); a part is resumed only when the stage, config and the
content of every input are unchanged; the output never equals, contains or lies inside an input;
every part of a dataset has one schema, recorded in the manifest; a full or read-only disk is an
:class:`~sctool.errors.OutputError` naming the path.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl

from sctool._version import __version__
from sctool.errors import DatasetError, OutputError, OutputExistsError
from sctool.io.atomic import output_errors, write_json, write_parquet
from sctool.io.lock import OutputLock
from sctool.io.sources import dataset_parts, is_dataset_dir

PART = "part-{:05d}.parquet"
MANIFEST = "manifest.json"


def merge_counters(into: dict[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """Sum numeric leaves of nested dicts (counters from many parts)."""
    for key, val in other.items():
        if isinstance(val, Mapping):
            merge_counters(into.setdefault(key, {}), val)
        elif isinstance(val, (int, float)) and not isinstance(val, bool):
            into[key] = into.get(key, 0) + val
        else:
            into[key] = val
    return into


@dataclass
class PartStats:
    """Counts for one output part (and, summed, for a whole stage)."""

    docs_in: int = 0
    docs_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    removed: dict[str, int] = field(default_factory=dict)
    removed_bytes: dict[str, int] = field(default_factory=dict)
    counters: dict[str, Any] = field(default_factory=dict)

    def add(self, other: PartStats) -> None:
        self.docs_in += other.docs_in
        self.docs_out += other.docs_out
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        merge_counters(self.removed, other.removed)
        merge_counters(self.removed_bytes, other.removed_bytes)
        merge_counters(self.counters, other.counters)

    def to_dict(self) -> dict[str, Any]:
        return {
            "docs_in": self.docs_in,
            "docs_out": self.docs_out,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "removed": dict(sorted(self.removed.items())),
            "removed_bytes": dict(sorted(self.removed_bytes.items())),
            "counters": self.counters,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PartStats:
        return cls(
            docs_in=d["docs_in"],
            docs_out=d["docs_out"],
            bytes_in=d["bytes_in"],
            bytes_out=d["bytes_out"],
            removed=dict(d.get("removed", {})),
            removed_bytes=dict(d.get("removed_bytes", {})),
            counters=dict(d.get("counters", {})),
        )


def text_bytes(frame: pl.DataFrame, text_column: str) -> int:
    if frame.height == 0 or text_column not in frame.columns:
        return 0
    return int(frame.get_column(text_column).str.len_bytes().sum() or 0)


def check_part(where: str, index: int, kept: pl.DataFrame, removed: pl.DataFrame | None, stats: PartStats) -> None:
    """Every part write checks kept + removed = input: a stage that loses or invents rows fails loudly."""
    n_removed = removed.height if removed is not None else 0
    if kept.height != stats.docs_out or kept.height + n_removed != stats.docs_in:
        from sctool.errors import InternalError

        raise InternalError(f"{where}: part {index} has {stats.docs_in} input documents but kept "
                            f"{kept.height} (counted {stats.docs_out}) + removed {n_removed}")


def part_stats(
    batch: pl.DataFrame, kept: pl.DataFrame, removed: pl.DataFrame | None, text_column: str
) -> PartStats:
    st = PartStats(
        docs_in=batch.height,
        docs_out=kept.height,
        bytes_in=text_bytes(batch, text_column),
        bytes_out=text_bytes(kept, text_column),
    )
    if removed is not None and removed.height:
        if "reason" not in removed.columns:
            raise DatasetError("internal: removed rows must carry a 'reason' column")
        lens = (
            removed.get_column(text_column).str.len_bytes().fill_null(0)
            if text_column in removed.columns
            else pl.Series([0] * removed.height)
        )
        agg = (
            pl.DataFrame({"reason": removed.get_column("reason"), "b": lens})
            .group_by("reason")
            .agg(pl.len().alias("n"), pl.col("b").sum())
        )
        for reason, n, b in agg.iter_rows():
            st.removed[str(reason)] = int(n)
            st.removed_bytes[str(reason)] = int(b or 0)
    return st


@dataclass
class Manifest:
    """What a stage did: enough to compare runs and to explain every removal."""

    stage: str
    config: dict[str, Any]
    inputs: list[dict[str, Any]]
    stats: PartStats
    parts: int
    seconds: float
    started_at: str
    finished_at: str
    threads: int
    extra: dict[str, Any] = field(default_factory=dict)
    sctool_version: str = __version__
    output: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = {
            "sctool_version": self.sctool_version,
            "stage": self.stage,
            "config": self.config,
            "inputs": self.inputs,
            "output": self.output,
            **self.stats.to_dict(),
            "parts": self.parts,
            "threads": self.threads,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "seconds": round(self.seconds, 3),
        }
        d.update(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Manifest:
        known = {
            "sctool_version", "stage", "config", "inputs", "output", "docs_in", "docs_out", "bytes_in",
            "bytes_out", "removed", "removed_bytes", "counters", "parts", "threads", "started_at",
            "finished_at", "seconds",
        }
        return cls(
            stage=d["stage"],
            config=d.get("config", {}),
            inputs=d.get("inputs", []),
            stats=PartStats.from_dict(d),
            parts=d.get("parts", 0),
            seconds=d.get("seconds", 0.0),
            started_at=d.get("started_at", ""),
            finished_at=d.get("finished_at", ""),
            threads=d.get("threads", 0),
            extra={k: v for k, v in d.items() if k not in known},
            sctool_version=d.get("sctool_version", ""),
            output=d.get("output", ""),
        )

    @property
    def docs_in(self) -> int:
        return self.stats.docs_in

    @property
    def docs_out(self) -> int:
        return self.stats.docs_out


def read_manifest(directory: str | Path) -> Manifest:
    path = Path(directory) / MANIFEST
    try:
        return Manifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError as exc:
        raise DatasetError(f"{directory}: not an sctool dataset (no {MANIFEST})") from exc
    except (json.JSONDecodeError, KeyError) as exc:
        raise DatasetError(f"{path}: malformed manifest: {exc}") from exc


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    frames = [f for f in frames if f.width]
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal_relaxed")


def read_dataset(path: str | Path, *, removed: bool = False, columns: list[str] | None = None) -> pl.DataFrame:
    """Load a dataset's kept documents (or, with ``removed=True``, its removed ones) into memory."""
    directory = Path(path)
    if not is_dataset_dir(directory):
        raise DatasetError(f"{directory}: not an sctool dataset directory")
    parts = dataset_parts(directory / "removed") if removed else dataset_parts(directory)
    return _concat([pl.read_parquet(p, columns=columns) for p in parts])


def _fingerprint(stage: str, config: Mapping[str, Any], inputs: list[dict[str, Any]]) -> str:
    """The resume key: stage, config and what every input holds.

    A file input's ``fingerprint`` is a hash of its whole content, so touching or copying an input
    does not discard finished parts and editing it anywhere does. A source tree's ``tree_digest``
    covers every file's path, size and mtime.
    """
    import hashlib

    blob = json.dumps({"stage": stage, "config": config, "inputs": inputs}, sort_keys=True, default=str)
    return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()


def check_output_vs_inputs(output: str | Path, inputs: list[str | Path]) -> None:
    """Refuse an output that is, contains, or lies inside an input (real paths, links resolved).

    Writing into an input would read the run's own staging files as documents; replacing an input
    (``--overwrite``) would delete the user's data before it is read.
    """
    out = Path(os.path.realpath(output))
    for given in inputs:
        inp = Path(os.path.realpath(given))
        if out == inp:
            raise OutputError(f"{output}: output is the input {given}; choose another output")
        if inp in out.parents:
            raise OutputError(f"{output}: output lies inside the input {given}; choose an output outside it")
        if out in inp.parents:
            raise OutputError(f"{output}: output contains the input {given} (replacing it would delete the "
                              "input); choose another output")


def _supertype_schema(schemas: list[pl.Schema]) -> pl.Schema:
    """Every column of every schema, in first-seen order, with the type all its parts cast to."""
    return pl.concat([pl.DataFrame(schema=s) for s in schemas], how="diagonal_relaxed").schema


def unify_part_schemas(directory: Path) -> dict[str, str]:
    """Rewrite the parts of ``directory`` whose schema differs from the dataset's unified one.

    Parts are written batch by batch, and a batch of JSONL infers its own types (``stars`` all
    strings in one batch, all integers in the next), so without this step one dataset could not be
    scanned as one table (``pl.scan_parquet("OUT/part-*.parquet")``). Only differing parts are
    rewritten, atomically; returns the unified schema as ``{column: type name}``.
    """
    parts = dataset_parts(directory)
    if not parts:
        return {}
    schemas = [pl.read_parquet_schema(p) for p in parts]
    try:
        unified = _supertype_schema([pl.Schema(s) for s in schemas])
    except (pl.exceptions.PolarsError, TypeError) as exc:
        raise DatasetError(f"{directory}: parts have column types that do not unify: {exc}") from exc
    for part, schema in zip(parts, schemas):
        if list(schema.items()) == list(unified.items()):
            continue
        frame = pl.read_parquet(part)
        try:
            frame = frame.select([
                pl.col(c).cast(t) if c in frame.columns else pl.lit(None, dtype=t).alias(c) for c, t in unified.items()
            ])
        except pl.exceptions.PolarsError as exc:
            raise DatasetError(f"{part}: cannot cast to the dataset's schema {dict(unified)}: {exc}") from exc
        write_parquet(part, frame)
    return {c: str(t) for c, t in unified.items()}


@dataclass
class DeferredInputs:
    """Input descriptions a writer computes only when it first needs them.

    ``describe`` returns what ``inputs`` would have held (with each file's whole-content SHA-256,
    possibly still being hashed in a background thread); ``paths`` are known at once, for the
    output-versus-input check.
    """

    paths: list[str]
    describe: Callable[[], list[dict[str, Any]]]


class DatasetWriter:
    """Writes one stage's output dataset atomically, part by part, resumably.

    ``done(i)`` says whether part ``i`` was completed by an earlier, interrupted run with the same
    stage, config and inputs; ``write(i, …)`` stores a part and its counts; ``finalize()`` writes the
    manifest and renames the staging directory to the output.
    """

    def __init__(
        self,
        output: str | Path,
        *,
        stage: str,
        config: Mapping[str, Any],
        inputs: list[dict[str, Any]] | DeferredInputs,
        overwrite: bool = False,
        threads: int = 0,
    ) -> None:
        self.output = Path(output)
        self.stage = stage
        self.config = dict(config)
        if isinstance(inputs, DeferredInputs):
            self._deferred: DeferredInputs | None = inputs
            self._inputs: list[dict[str, Any]] | None = None
            paths = list(inputs.paths)
        else:
            self._deferred, self._inputs = None, inputs
            paths = [d["path"] for d in inputs if d.get("path")]
        self.overwrite = overwrite
        self.threads = threads
        self.started = time.time()
        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        check_output_vs_inputs(self.output, paths)
        with output_errors(self.output):
            self.lock = OutputLock(self.output).acquire()
        try:
            with output_errors(self.output):
                self._prepare(stage, overwrite)
        except BaseException:
            self.lock.release()
            raise

    @property
    def inputs(self) -> list[dict[str, Any]]:
        """The inputs' descriptions (waiting for deferred fingerprints if they are still being computed)."""
        if self._inputs is None:
            assert self._deferred is not None
            self._inputs = self._deferred.describe()
        return self._inputs

    def _prepare(self, stage: str, overwrite: bool) -> None:
        if self.output.exists() and not overwrite:
            raise OutputExistsError(f"{self.output}: output exists (pass --overwrite to replace it)")
        if self.output.exists() and not self.output.is_dir():
            raise OutputExistsError(f"{self.output}: exists and is not a directory")
        self.staging = self.output.parent / f".{self.output.name}.sctool-partial"
        self.markers = self.staging / "_parts"
        self._state_file = self.staging / "_state.json"
        self.resumed = 0
        if self.staging.exists():
            # Resuming needs the fingerprints now: finished parts count only if nothing changed.
            try:
                old = json.loads(self._state_file.read_text())
            except (OSError, json.JSONDecodeError):
                old = None
            if old != self._state():
                shutil.rmtree(self.staging)
        fresh = not self.staging.exists()
        self.markers.mkdir(parents=True, exist_ok=True)
        (self.staging / "removed").mkdir(exist_ok=True)
        # A fresh staging directory has no parts to resume, so with deferred inputs the state (and
        # with it the wait for the inputs' SHA-256) waits for the first part: the first batch is read
        # and processed while the fingerprints are still being computed. No part marker is ever
        # written before the state, so a crash in between leaves nothing that could be resumed wrongly.
        self._state_written = False
        if not (fresh and self._deferred is not None and self._inputs is None):
            self._write_state()

    def _state(self) -> dict[str, str]:
        return {"fingerprint": _fingerprint(self.stage, self.config, self.inputs)}

    def _write_state(self) -> None:
        if not self._state_written:
            write_json(self._state_file, self._state())
            self._state_written = True

    def done(self, index: int) -> bool:
        hit = (self.markers / f"{index:05d}.json").exists()
        self.resumed += int(hit)
        return hit

    def write(
        self, index: int, kept: pl.DataFrame, removed: pl.DataFrame | None, stats: PartStats
    ) -> None:
        check_part(f"stage {self.stage}", index, kept, removed, stats)
        self._write_state()
        write_parquet(self.staging / PART.format(index), kept)
        if removed is not None and removed.height:
            write_parquet(self.staging / "removed" / PART.format(index), removed)
        write_json(self.markers / f"{index:05d}.json", stats.to_dict())

    def close(self) -> None:
        """Give up the output's lock without finishing (the staging directory stays for a rerun)."""
        self.lock.release()

    def finalize(self, extra: Mapping[str, Any] | None = None) -> Manifest:
        """Write the manifest and move the finished dataset into place; releases the output's lock."""
        try:
            with output_errors(self.output):
                return self._finalize(extra)
        finally:
            self.lock.release()

    def _finalize(self, extra: Mapping[str, Any] | None) -> Manifest:
        self._write_state()
        schema = unify_part_schemas(self.staging)
        removed_schema = unify_part_schemas(self.staging / "removed")
        total = PartStats()
        markers = sorted(self.markers.glob("*.json"))
        for m in markers:
            total.add(PartStats.from_dict(json.loads(m.read_text())))
        finished = time.time()
        manifest = Manifest(
            stage=self.stage,
            config=self.config,
            inputs=self.inputs,
            stats=total,
            parts=len(markers),
            seconds=finished - self.started,
            started_at=self.started_at,
            finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            threads=self.threads,
            extra={"resumed_parts": self.resumed, **(extra or {}), "schema": schema,
                   **({"removed_schema": removed_schema} if removed_schema else {})},
            output=str(self.output),
        )
        write_json(self.staging / MANIFEST, manifest.to_dict())
        shutil.rmtree(self.markers)
        (self.staging / "_state.json").unlink()
        removed_dir = self.staging / "removed"
        if removed_dir.exists() and not any(removed_dir.iterdir()):
            removed_dir.rmdir()
        if self.output.exists():
            trash = self.output.parent / f".{self.output.name}.sctool-old"
            if trash.exists():
                shutil.rmtree(trash)
            self.output.rename(trash)
            self.staging.rename(self.output)
            shutil.rmtree(trash)
        else:
            self.staging.rename(self.output)
        return manifest
