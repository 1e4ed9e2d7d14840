"""The rarity table that keeps code idioms from deciding a decontamination match.

``sctool decontam build-idf CORPUS... -o FILE`` counts, over any corpus of real code, in how many
files each normalised n-gram occurs; the index then weighs an n-gram seen in more than ``rare_df``
files by ``sqrt(rare_df / df)`` (rust/sctool-core/src/decontam/idf.rs). sctool ships one such table
(``sctool/data/decontam-idf.bin``, built by the command recorded in docs/decontam.md); ``--idf PATH``
replaces it and ``--idf none`` turns weighting off.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path

import pyarrow as pa

from sctool import native
from sctool.errors import ConfigError, DatasetError

BUILTIN = "builtin"
NONE = "none"
BUILTIN_FILE = "decontam-idf.bin"
SKIP_DIRS = frozenset({".git", "__pycache__", ".hg", ".svn", "node_modules"})


def load_idf(spec: str | None) -> bytes | None:
    """Bytes of the table ``spec`` names: ``builtin`` (the shipped one), ``none``/None, or a path."""
    if spec is None or spec == NONE:
        return None
    if spec == BUILTIN:
        try:
            data = resources.files("sctool.data").joinpath(BUILTIN_FILE).read_bytes()
        except (FileNotFoundError, OSError) as exc:
            raise ConfigError(f"the built-in IDF table sctool/data/{BUILTIN_FILE} is missing from this "
                              f"installation ({exc}); pass --idf PATH or --idf none") from exc
    else:
        try:
            data = Path(spec).read_bytes()
        except OSError as exc:
            raise ConfigError(f"--idf {spec}: cannot read the IDF table: {exc}") from exc
    try:
        native.idf_info(data)
    except ConfigError as exc:
        raise ConfigError(f"--idf {spec}: {exc}") from exc
    return data


def idf_info(spec: str) -> dict[str, int]:
    data = load_idf(spec)
    if data is None:
        return {}
    return dict(native.idf_info(data))


@dataclass
class CorpusWalk:
    """What walking the corpus skipped, by reason (nothing is skipped silently)."""

    files: int = 0
    bytes: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1


def walk_corpus(roots: Sequence[str | Path], exclude: Sequence[str] = (), max_file: int = 1 << 20,
                stats: CorpusWalk | None = None) -> Iterator[tuple[str, str]]:
    """(path, text) of every UTF-8 text file under ``roots``, in sorted order.

    Binary files (a NUL byte in the first 8 KiB), files over ``max_file`` bytes, undecodable files
    and paths matching an ``exclude`` glob are skipped and counted in ``stats``.
    """
    st = stats if stats is not None else CorpusWalk()
    for root in roots:
        r = Path(root)
        if not r.exists():
            raise DatasetError(f"{r}: corpus path not found")
        paths: Iterator[Path]
        if r.is_file():
            paths = iter([r])
        else:
            def gen(r: Path = r) -> Iterator[Path]:
                for dirpath, dirnames, filenames in os.walk(r):
                    dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
                    for f in sorted(filenames):
                        yield Path(dirpath) / f
            paths = gen()
        for p in paths:
            sp = str(p)
            if any(fnmatch(sp, g) for g in exclude):
                st.skip("excluded")
                continue
            try:
                if p.is_symlink() or not p.is_file():
                    st.skip("not a regular file")
                    continue
                if p.stat().st_size > max_file:
                    st.skip("larger than max_file")
                    continue
                data = p.read_bytes()
            except OSError:
                st.skip("unreadable")
                continue
            if not data:
                st.skip("empty")
                continue
            if b"\x00" in data[:8192]:
                st.skip("binary")
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                st.skip("not UTF-8")
                continue
            st.files += 1
            st.bytes += len(data)
            yield sp, text


def build_idf(roots: Sequence[str | Path], output: str | Path, *, exclude: Sequence[str] = (),
              rare_df: int = 12, code_ngram: int = 6, prose_ngram: int = 4, max_file: int = 1 << 20,
              threads: int = 0, batch_bytes: int = 32 << 20) -> dict[str, object]:
    """Count n-gram document frequencies over the corpus and write the table to ``output``.

    The table counts sub-grams half as long as the index's n-grams (6 code tokens, 4 words): the
    index weighs each 12-token n-gram by the mean weight of the 6-token runs inside it, since whole
    12-grams are too sparse in any corpus to tell an idiom from a one-off.
    """
    if rare_df < 1:
        raise ConfigError(f"--rare-df must be at least 1, got {rare_df}")
    builder = native.IdfBuilder(code_ngram=code_ngram, prose_ngram=prose_ngram)
    stats = CorpusWalk()
    batch: list[str] = []
    size = 0
    for _, text in walk_corpus(roots, exclude=exclude, max_file=max_file, stats=stats):
        batch.append(text)
        size += len(text)
        if size >= batch_bytes:
            builder.add(pa.array(batch, type=pa.large_string()), threads=threads)
            batch, size = [], 0
    if batch:
        builder.add(pa.array(batch, type=pa.large_string()), threads=threads)
    if builder.files == 0:
        raise DatasetError(f"no text files under {', '.join(map(str, roots))}: nothing to count")
    data = builder.finish(rare_df=rare_df)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    info = dict(native.idf_info(data))
    info.update({"bytes_read": stats.bytes, "skipped": stats.skipped, "table_bytes": len(data), "output": str(out)})
    return info
