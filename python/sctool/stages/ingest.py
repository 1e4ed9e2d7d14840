"""``sctool ingest``: source trees, JSONL and Parquet into an sctool dataset.

Source files are read in parallel (I/O threads), checked and turned into rows with the columns
``id, content, path, repo, lang, size_bytes`` (+ ``stars``, ``license`` when a table source has them).
Files that cannot be documents — binary, not UTF-8, too large, empty — are not silently dropped:
each goes to ``removed/`` with its path and reason (content null), so kept + removed = files seen.

The walk reads only regular files (a FIFO, socket or device is a ``not_regular_file`` row, never
opened in a way that blocks), visits each ``(device, inode)`` once (symlink cycles end; a second name
for a file read already is a ``duplicate_link`` row), reads at most ``max_file_size + 1`` bytes of
any file, and turns a directory it cannot list into an ``unreadable`` row. A file name that is not
UTF-8 is kept: ``path`` shows it with ``\\xNN`` escapes and ``path_bytes`` holds the exact bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
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

    sources: tuple[str, ...] = field(default=(), metadata={"help": "directories, JSONL or Parquet files/globs",
                                                              "cli": False})
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
    """One walked file; ``reason`` is set when the walk itself already decided (not a regular file,
    a second link to a file, an unreadable directory). ``rel`` may hold surrogate escapes."""

    root: Path
    repo: str
    rel: str
    reason: str | None = None
    error: str | None = None
    size: int = 0
    mtime_ns: int = 0
    explicit: bool = False  # named on the command line: a link is followed like any named file
    inode: tuple[int, int] | None = None  # (device, inode) of a regular file
    via_link: bool = False


def _readable(name: str) -> str:
    """A file name for display and ids: exact when it is UTF-8, ``\\xNN`` escapes where it is not."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _path_bytes(name: str) -> bytes | None:
    """The exact bytes of a name that is not valid UTF-8 (None for ordinary names)."""
    raw = name.encode("utf-8", "surrogateescape")
    return raw if _readable(name) != name else None


@dataclass
class _WalkState:
    follow: bool
    seen_dirs: set[tuple[int, int]] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)

    def count(self, key: str) -> None:
        self.counters[key] = self.counters.get(key, 0) + 1


def _error_text(exc: OSError) -> str:
    return f"{type(exc).__name__}: {exc.strerror or exc}"


def _classify(root: Path, repo: str, rel: str, full: str, is_link: bool, ws: _WalkState,
              explicit: bool = False) -> _SourceFile | None:
    """The walk's decision for one non-directory entry (None: skipped, as unfollowed links are)."""
    if is_link and not ws.follow and not explicit:
        return None
    try:
        st = os.stat(full) if (is_link or explicit) else os.lstat(full)
    except OSError as exc:  # dangling link, link loop (ELOOP), vanished file
        return _SourceFile(root, repo, rel, "unreadable", _error_text(exc))
    if not stat.S_ISREG(st.st_mode):
        return _SourceFile(root, repo, rel, "not_regular_file", None, 0, st.st_mtime_ns)
    return _SourceFile(root, repo, rel, None, None, st.st_size, st.st_mtime_ns, explicit,
                       (st.st_dev, st.st_ino), is_link)


def _mark_duplicate_links(trees: list[list[_SourceFile]]) -> list[list[_SourceFile]]:
    """Read each file once: other names of an inode become ``duplicate_link`` rows.

    The name that is not a symlink wins (the file's own place in the tree), else the first walked.
    """
    owner: dict[tuple[int, int], tuple[bool, int, int]] = {}
    for t, files in enumerate(trees):
        for i, f in enumerate(files):
            if f.inode is None:
                continue
            cur = owner.get(f.inode)
            if cur is None or (cur[0] and not f.via_link):
                owner[f.inode] = (f.via_link, t, i)
    out: list[list[_SourceFile]] = []
    for t, files in enumerate(trees):
        marked = []
        for i, f in enumerate(files):
            if f.inode is not None and owner[f.inode][1:] != (t, i):
                f = dataclasses.replace(f, reason="duplicate_link")
            marked.append(f)
        out.append(marked)
    return out


def _is_dir(entry: os.DirEntry, follow: bool) -> bool:
    try:
        return entry.is_dir(follow_symlinks=follow)
    except OSError:  # a link loop: not a directory to descend; _classify reports it
        return False


def _walk(root: Path, repo: str, follow: bool, exclude: frozenset[str],
          ws: _WalkState | None = None) -> Iterator[_SourceFile]:
    """Files under ``root`` in a fixed order (a directory's files by name, then its subdirectories)."""
    ws = ws or _WalkState(follow)
    try:
        st = os.stat(root)
        ws.seen_dirs.add((st.st_dev, st.st_ino))
    except OSError as exc:
        yield _SourceFile(root, repo, ".", "unreadable", _error_text(exc))
        return
    stack: list[str] = [""]
    while stack:
        rel_dir = stack.pop()
        full_dir = os.path.join(root, rel_dir) if rel_dir else str(root)
        try:
            with os.scandir(full_dir) as it:
                entries = sorted((e.name, e.path, e.is_symlink(), _is_dir(e, follow)) for e in it)
        except OSError as exc:  # a directory we may not list is a counted row, not a silent gap
            yield _SourceFile(root, repo, rel_dir or ".", "unreadable", _error_text(exc))
            continue
        subdirs: list[str] = []
        for name, full, is_link, is_dir in entries:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if is_dir:
                if name in SKIP_DIRS or name in exclude or (is_link and not follow):
                    continue
                try:
                    dst = os.stat(full)
                except OSError as exc:
                    yield _SourceFile(root, repo, rel, "unreadable", _error_text(exc))
                    continue
                key = (dst.st_dev, dst.st_ino)
                if key in ws.seen_dirs:  # a cycle (a link to an ancestor) or a second link to a directory
                    ws.count("directory_links_skipped")
                    continue
                ws.seen_dirs.add(key)
                subdirs.append(rel)
                continue
            sf = _classify(root, repo, rel, full, is_link, ws)
            if sf is not None:
                yield sf
        stack.extend(reversed(subdirs))


def _tree_digest(files: list[_SourceFile]) -> str:
    """What a source tree held: every walked file's path, size, mtime and walk decision."""
    h = hashlib.sha256()
    for f in files:
        h.update(f.rel.encode("utf-8", "surrogateescape") + b"\0")
        h.update(f"{f.size}:{f.mtime_ns}:{f.reason}\n".encode())
    return h.hexdigest()


def _read_capped(full: Path, limit: int, follow: bool) -> tuple[bytes | None, int, str | None]:
    """(data, size, reason): at most ``limit + 1`` bytes of a regular file, whatever its stat said.

    ``O_NONBLOCK`` keeps a FIFO swapped in after the walk from blocking the open; the type is checked
    again on the open descriptor.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    fd = os.open(full, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, 0, "not_regular_file"
        if st.st_size > limit:
            return None, st.st_size, "too_large"
        chunks: list[bytes] = []
        got = 0
        while got <= limit:
            chunk = os.read(fd, min(limit + 1 - got, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > limit:  # grew since stat, or stat lies (procfs): never read more than the cap
            return None, max(got, st.st_size), "too_large"
        return b"".join(chunks), got, None
    finally:
        os.close(fd)


def _read_source(sf: _SourceFile, cfg: IngestConfig) -> dict[str, Any]:
    full = sf.root / sf.rel
    shown = _readable(sf.rel)
    row: dict[str, Any] = {
        "id": f"{_readable(sf.repo)}/{shown}",
        "content": None,
        "path": shown,
        "repo": _readable(sf.repo),
        "lang": detect_language(shown),
        "size_bytes": sf.size,
        "reason": sf.reason,
        "error": sf.error,
        "path_bytes": _path_bytes(sf.rel),
    }
    if sf.reason is not None:
        return row
    try:
        data, size, reason = _read_capped(full, cfg.max_file_size, cfg.follow_symlinks or sf.explicit)
    except OSError as exc:
        row["reason"] = "unreadable"
        row["error"] = _error_text(exc)
        return row
    row["size_bytes"] = size
    if reason is not None:
        row["reason"] = reason
        return row
    assert data is not None
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
    if any(r.get("path_bytes") is not None for r in rows):
        schema["path_bytes"] = pl.Binary  # only where some name is not UTF-8; the writer unifies parts
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
        elif p.exists() and not p.is_dir() and input_kind(p) is None:
            tables.append(f"__single__:{p}")  # a single source file (or a FIFO/device: counted, not read)
        else:
            tables.append(s)
    if not trees and not tables:
        raise DatasetError("nothing to ingest: give source directories, JSONL/Parquet files, or --stdlib")

    singles = {t.split(":", 1)[1] for t in tables if t.startswith("__single__:")}
    tables = [t for t in tables if not t.startswith("__single__:")]
    table_files = resolve_inputs(tables) if tables else []
    # Walk every tree before writing anything: the list of files, their sizes and mtimes is what the
    # output is built from, so it goes into the resume key (an edited, added or deleted file means
    # the parts of an interrupted run are not reused).
    ws = _WalkState(config.follow_symlinks)
    walked: list[list[_SourceFile]] = []
    input_desc: list[dict[str, Any]] = []
    for root, repo, exclude in trees:
        files = list(_walk(root, repo, config.follow_symlinks, exclude, ws))
        walked.append(files)
        input_desc.append({"path": str(root), "kind": "source_tree", "files": len(files),
                           "bytes": sum(f.size for f in files), "tree_digest": _tree_digest(files)})
    for single in sorted(singles):
        sp = Path(single)
        sf = _classify(sp.parent, sp.parent.resolve().name, sp.name, single, False, ws, explicit=True)
        files = [sf] if sf is not None else []
        walked.append(files)
        input_desc.append({"path": single, "kind": "source_file", "tree_digest": _tree_digest(files)})
    walked = _mark_duplicate_links(walked)
    input_desc += [f.describe() for f in table_files]
    writer = DatasetWriter(output, stage="ingest", config=config_to_dict(config), inputs=input_desc,
                           overwrite=runtime.overwrite, threads=runtime.threads)
    index = 0
    bar = progress(None, "sctool ingest", unit="file", quiet=runtime.quiet)
    workers = max(4, 2 * resolve_threads(runtime.threads))
    t0 = time.perf_counter()
    with bar, ThreadPoolExecutor(workers) as pool:
        for files in walked:
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
    if ws.counters:
        extra["walk"] = dict(sorted(ws.counters.items()))
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
