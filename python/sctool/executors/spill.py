"""Partitioned spill files: the shuffle between the map and the reduce of a two-pass stage.

A map task writes its rows split by key into ``<root>/<name>/p<PPPPP>/s<SSSSS>.parquet`` (partition
``P`` of shard ``S``); the reduce task of partition ``P`` reads every shard's file of it. All rows
with one key meet in one partition, so any per-key computation (first occurrence, band buckets,
candidate pairs) is exact; reading the files in shard order keeps input order within a partition.
The number of partitions changes which task does the work, never the result.

The spill root lives next to the output (on the same filesystem, which with a Ray cluster must be
shared by all nodes) and is keyed by a fingerprint of the stage, config and inputs: a rerun with
the same ones reuses it, a different one starts afresh.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from sctool.errors import InternalError
from sctool.io.atomic import write_json, write_parquet

# Fixed seed: partition assignment must agree between every worker of a run. Polars' hash is stable
# within one Polars version, so a cluster runs one version (Ray needs one environment anyway) and the
# spill fingerprint includes it.
_SEED = 0x5C7001


def partition_of(keys: pl.Series, partitions: int) -> pl.Series:
    """Partition number (UInt32) of each key; equal keys always share one."""
    if partitions < 1:
        raise ValueError("partitions must be >= 1")
    h = keys.hash(_SEED)
    return (h % partitions).cast(pl.UInt32).alias("__partition")


@dataclass(frozen=True)
class SpillDir:
    """A directory of spill files shared by the driver and every worker of one stage run."""

    root: Path

    @classmethod
    def for_output(cls, output: str | Path, key: Mapping[str, Any]) -> SpillDir:
        """The spill directory of ``output``, emptied unless it was made for the same ``key``."""
        out = Path(output)
        root = out.parent / f".{out.name}.sctool-spill"
        blob = json.dumps({**dict(key), "__polars": pl.__version__}, sort_keys=True, default=str)
        state = {"fingerprint": hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()}
        state_file = root / "_state.json"
        if root.exists():
            try:
                old = json.loads(state_file.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                old = None
            if old != state:
                shutil.rmtree(root)
        root.mkdir(parents=True, exist_ok=True)
        write_json(state_file, state)
        return cls(root)

    def path(self, name: str) -> Path:
        return self.root / name

    def write_partitioned(self, name: str, shard: int, frame: pl.DataFrame, key: str, partitions: int) -> int:
        """Write ``frame``'s rows split by ``partition_of(frame[key])``; returns the rows written.

        Every partition gets a file (possibly empty), so the reduce can tell a missing shard (a bug,
        or a map task that did not finish) from one with no rows there.
        """
        part = partition_of(frame.get_column(key), partitions) if frame.height else pl.Series(
            "__partition", [], dtype=pl.UInt32)
        tagged = frame.with_columns(part)
        groups = {int(k[0]): g.drop("__partition") for k, g in tagged.partition_by(
            "__partition", as_dict=True, maintain_order=True).items()} if frame.height else {}
        empty = frame.head(0)
        for p in range(partitions):
            write_parquet(self.root / name / f"p{p:05d}" / f"s{shard:05d}.parquet", groups.get(p, empty))
        return frame.height

    def read_partition(self, name: str, partition: int, shards: int | None = None) -> pl.DataFrame:
        """All shards' rows of one partition, in shard order (``shards``: check that many files exist)."""
        d = self.root / name / f"p{partition:05d}"
        files = sorted(d.glob("s*.parquet")) if d.is_dir() else []
        if shards is not None and len(files) != shards:
            raise InternalError(f"{d}: expected {shards} spill files (one per shard), found {len(files)}; "
                                "a map task did not finish or the spill directory is not shared by every node")
        if not files:
            return pl.DataFrame()
        return pl.concat([pl.read_parquet(f) for f in files], how="vertical")

    def write(self, name: str, index: int, frame: pl.DataFrame) -> None:
        write_parquet(self.root / name / f"{index:05d}.parquet", frame)

    def scan(self, name: str) -> pl.LazyFrame | None:
        """Every file written with ``write(name, …)``, lazily (filters push down into Parquet)."""
        files = sorted((self.root / name).glob("*.parquet"))
        return pl.scan_parquet(files) if files else None

    def by_batch(self, name: str, first_batch: int, n_batches: int, schema: Mapping[str, Any]) -> dict:
        """The rows of ``name`` whose ``batch`` lies in ``[first_batch, first_batch + n_batches)``,
        split by batch: ``{(batch,): frame}`` (a shard's write pass loads its range once)."""
        lf = self.scan(name)
        lo, hi = first_batch, first_batch + n_batches
        rows = (lf.filter((pl.col("batch") >= lo) & (pl.col("batch") < hi)).collect()
                if lf is not None else pl.DataFrame(schema=dict(schema)))
        return rows.partition_by("batch", as_dict=True) if rows.height else {}

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


SCRATCH_OWNER = "_owner.json"


def make_scratch_dir(parent: str | Path | None, prefix: str) -> Path:
    """A fresh private scratch directory ``<parent>/<prefix>XXXX`` that records its owner.

    A run killed before its cleanup (``kill -9``, OOM) leaves its scratch behind; the next run that
    makes one in the same place removes those whose owner is certainly dead (same host, pid gone or
    reused), and leaves live runs' and other hosts' alone.
    """
    import tempfile

    clean_stale_scratch(parent, prefix)
    d = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    from sctool.io.lock import owner_record

    (d / SCRATCH_OWNER).write_text(json.dumps(owner_record()), encoding="utf-8")
    return d


def clean_stale_scratch(parent: str | Path | None, prefix: str) -> list[Path]:
    """Remove ``<parent>/<prefix>*`` directories left by dead processes; returns what was removed."""
    import tempfile

    from sctool.io.lock import owner_is_dead

    removed = []
    for d in sorted(Path(parent if parent is not None else tempfile.gettempdir()).glob(prefix + "*")):
        try:
            owner = json.loads((d / SCRATCH_OWNER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # not ours to judge (no owner record): left alone
        if isinstance(owner, dict) and owner_is_dead(owner):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed
