"""``sctool ingest``: source trees, JSONL and Parquet into an sctool dataset.

Source files are read in parallel (I/O threads), checked and turned into rows with the columns
``id, content, path, repo, lang, size_bytes`` (+ ``stars``, ``license`` when a table source has them).
Files that cannot be documents — binary, not UTF-8, too large, empty — are not silently dropped:
each goes to ``removed/`` with its path and reason (content null), so kept + removed = files seen.
"""

from __future__ import annotations

import os
import sysconfig
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from sctool.config import config_to_dict
from sctool.errors import DatasetError
from sctool.io.dataset import DatasetWriter, Manifest, PartStats, part_stats
from sctool.io.sources import InputReader, input_kind, is_dataset_dir, resolve_inputs
from sctool.languages import detect_language
from sctool.parallel import resolve_threads
from sctool.progress import progress
from sctool.stages.base import Runtime, Stage, register_stage

SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".tox", ".venv", ".mypy_cache"})
BINARY_SNIFF = 8192

SCHEMA = {
    "id": pl.String,
    "content": pl.String,
    "path": pl.String,
    "repo": pl.String,
    "lang": pl.String,
    "size_bytes": pl.Int64,
}


@dataclass(frozen=True)
class IngestConfig:
    """What `sctool ingest` reads and which files it accepts."""

    sources: tuple[str, ...] = field(default=(), metadata={"help": "directories, JSONL or Parquet files/globs"})
    stdlib: bool = field(default=False, metadata={"help": "ingest the running interpreter's standard library"})
    max_file_size: int = field(
        default=1 << 20, metadata={"help": "skip files larger than this many bytes (The Stack: 1 MiB)"}
    )
    keep_empty: bool = field(default=False, metadata={"help": "keep empty files instead of skipping them"})
    only_known_languages: bool = field(
        default=False, metadata={"help": "skip files whose extension is not in the StarCoder language table"}
    )
    follow_symlinks: bool = field(default=False, metadata={"help": "follow symlinked files and directories"})


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


@dataclass(frozen=True)
class _SourceFile:
    root: Path
    repo: str
    rel: str


def _walk(root: Path, repo: str, follow: bool, exclude: frozenset[str]) -> Iterator[_SourceFile]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=follow):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and d not in exclude)
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if not follow and full.is_symlink():
                continue
            yield _SourceFile(root, repo, full.relative_to(root).as_posix())


def _read_source(sf: _SourceFile, cfg: IngestConfig) -> dict[str, Any]:
    full = sf.root / sf.rel
    row: dict[str, Any] = {
        "id": f"{sf.repo}/{sf.rel}",
        "content": None,
        "path": sf.rel,
        "repo": sf.repo,
        "lang": detect_language(sf.rel),
        "size_bytes": 0,
        "reason": None,
    }
    try:
        size = full.stat().st_size
        row["size_bytes"] = size
        if size > cfg.max_file_size:
            row["reason"] = "too_large"
            return row
        data = full.read_bytes()
    except OSError as exc:
        row["reason"] = "unreadable"
        row["error"] = f"{type(exc).__name__}: {exc.strerror or exc}"
        return row
    if not data and not cfg.keep_empty:
        row["reason"] = "empty"
    elif b"\x00" in data[:BINARY_SNIFF]:
        row["reason"] = "binary"
    else:
        try:
            row["content"] = data.decode("utf-8")
        except UnicodeDecodeError:
            row["reason"] = "invalid_utf8"
    if row["reason"] is None and cfg.only_known_languages and row["lang"] is None:
        row["reason"] = "unknown_language"
        row["content"] = None
    return row


def _rows_to_frames(rows: list[dict[str, Any]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    schema = {**SCHEMA, "reason": pl.String, "error": pl.String}
    df = pl.DataFrame(
        {k: [r.get(k) for r in rows] for k in schema}, schema=schema
    )
    kept = df.filter(pl.col("reason").is_null()).drop("reason", "error")
    removed = df.filter(pl.col("reason").is_not_null())
    return kept, removed


def _file_stats(kept: pl.DataFrame, removed: pl.DataFrame) -> PartStats:
    """Counts for source files: bytes are file sizes, so skipped files' bytes are accounted too."""
    st = PartStats(
        docs_in=kept.height + removed.height,
        docs_out=kept.height,
        bytes_in=int(kept["size_bytes"].sum() or 0) + int(removed["size_bytes"].sum() or 0),
        bytes_out=int(kept["size_bytes"].sum() or 0),
    )
    for reason, n, b in removed.group_by("reason").agg(pl.len(), pl.col("size_bytes").sum()).iter_rows():
        st.removed[reason] = int(n)
        st.removed_bytes[reason] = int(b or 0)
    return st


def _table_to_ingest(frame: pl.DataFrame, text_column: str) -> pl.DataFrame:
    """Map a JSONL/Parquet table to the ingest columns, keeping its other columns."""
    cols = frame.columns
    out = frame
    if text_column != "content":
        out = out.rename({text_column: "content"}) if "content" not in cols else out
    # Common source layouts (The Stack uses max_stars_repo_*).
    aliases = {
        "path": ["path", "max_stars_repo_path", "file_path", "filename"],
        "repo": ["repo", "max_stars_repo_name", "repo_name", "repository"],
        "stars": ["stars", "max_stars_count", "stargazers_count"],
        "license": ["license", "licenses", "max_stars_repo_licenses"],
        "lang": ["lang", "language"],
    }
    for target, names in aliases.items():
        if target in out.columns:
            continue
        for n in names:
            if n in out.columns:
                out = out.with_columns(pl.col(n).alias(target))
                break
    if "path" not in out.columns:
        out = out.with_columns(pl.lit(None, dtype=pl.String).alias("path"))
    if "repo" not in out.columns:
        out = out.with_columns(pl.lit(None, dtype=pl.String).alias("repo"))
    if "lang" not in out.columns:
        langs = [detect_language(p) if p else None for p in out.get_column("path").to_list()]
        out = out.with_columns(pl.Series("lang", langs, dtype=pl.String))
    out = out.with_columns(pl.col("content").str.len_bytes().cast(pl.Int64).alias("size_bytes"))
    first = ["id", "content", "path", "repo", "lang", "size_bytes"]
    extra = [c for c in ("stars", "license") if c in out.columns]
    rest = [c for c in out.columns if c not in first and c not in extra]
    return out.select([*first, *extra, *rest])


def run_ingest(
    inputs: Sequence[str | Path], output: str | Path, config: IngestConfig, runtime: Runtime
) -> Manifest:
    """Ingest source trees and/or tables into the dataset ``output``."""
    sources = [*config.sources, *[str(i) for i in inputs]]
    trees: list[tuple[Path, str, frozenset[str]]] = []
    tables: list[str] = []
    if config.stdlib:
        trees.append((stdlib_root(), "python-stdlib", frozenset({"site-packages", "dist-packages"})))
    for s in sources:
        p = Path(s)
        if p.is_dir() and not is_dataset_dir(p):
            trees.append((p, p.resolve().name, frozenset()))
        elif p.is_file() and input_kind(p) is None:
            trees.append((p.parent, p.parent.resolve().name, frozenset()))  # a single source file
            tables.append(f"__single__:{p}")
        else:
            tables.append(s)
    if not trees and not tables:
        raise DatasetError("nothing to ingest: give source directories, JSONL/Parquet files, or --stdlib")

    singles = {t.split(":", 1)[1] for t in tables if t.startswith("__single__:")}
    tables = [t for t in tables if not t.startswith("__single__:")]
    table_files = resolve_inputs(tables) if tables else []
    input_desc: list[dict[str, Any]] = [{"path": str(r), "kind": "source_tree"} for r, _, _ in trees]
    input_desc += [f.describe() for f in table_files]
    writer = DatasetWriter(output, stage="ingest", config=config_to_dict(config), inputs=input_desc,
                           overwrite=runtime.overwrite, threads=runtime.threads)
    index = 0
    bar = progress(None, "sctool ingest", unit="file", quiet=runtime.quiet)
    workers = max(4, 2 * resolve_threads(runtime.threads))
    t0 = time.perf_counter()
    with bar, ThreadPoolExecutor(workers) as pool:
        for root, repo, exclude in trees:
            if singles and any(Path(s).parent == root for s in singles):
                files: Iterator[_SourceFile] = (
                    _SourceFile(root, repo, Path(s).name) for s in sorted(singles) if Path(s).parent == root
                )
            else:
                files = _walk(root, repo, config.follow_symlinks, exclude)
            chunk: list[_SourceFile] = []
            for sf in [*files, None]:
                if sf is not None:
                    chunk.append(sf)
                if chunk and (sf is None or len(chunk) >= runtime.batch_rows):
                    if not writer.done(index):
                        rows = list(pool.map(lambda f: _read_source(f, config), chunk))
                        kept, removed = _rows_to_frames(rows)
                        writer.write(index, kept, removed, _file_stats(kept, removed))
                    bar.update(len(chunk))
                    index += 1
                    chunk = []
        if table_files:
            reader = InputReader(table_files, text_column=runtime.text_column, batch_rows=runtime.batch_rows)
            for batch in reader.batches():
                if not writer.done(index):
                    rows = _table_to_ingest(batch.frame, runtime.text_column)
                    null = rows.filter(pl.col("content").is_null()).with_columns(
                        pl.lit("null_content").alias("reason"))
                    kept = rows.filter(pl.col("content").is_not_null())
                    writer.write(index, kept, null, part_stats(rows, kept, null, "content"))
                bar.update(batch.frame.height)
                index += 1
            errs = reader.line_errors
        else:
            errs = None
    extra: dict[str, Any] = {"kernel_seconds": round(time.perf_counter() - t0, 3)}
    if errs is not None and errs.count:
        extra["malformed_lines"] = errs.count
        extra["malformed_line_samples"] = [f"{p}:{n}: {m}" for p, n, m in errs.samples]
    m = writer.finalize(extra)
    return m


@register_stage
class IngestStage(Stage[IngestConfig]):
    """Walk source directories (skipping binary, non-UTF-8, empty and oversized files, each counted
    by reason) and/or read JSONL/Parquet tables into a dataset with columns id, content, path, repo,
    lang, size_bytes (+ stars, license when present)."""

    name = "ingest"
    Config = IngestConfig
    summary = "read source trees, JSONL or Parquet into an sctool dataset"
    require_text = False

    def run(self, inputs: Sequence[str | Path], output: str | Path) -> Manifest:
        # Its inputs are files and trees rather than datasets, so it drives the writer itself.
        return run_ingest(inputs, output, self.config, self.runtime)
