"""The membership index: did this snippet come from the corpus, and from which documents?

An index directory holds

* ``membership.bin``: a fixed prefix (magic, format version, header length, header checksum), a JSON
  header recording the normalisation, window, build stride, fingerprint and Bloom parameters and
  the XXH3-64 checksum of every section, then 64-byte aligned sections: the blocked Bloom filter
  words, and the table (window fingerprint -> document) as two sorted columns. It is opened with
  ``numpy.memmap``, so a query reads only the pages it probes.
* ``docs.parquet``: one row per document (``doc`` number, ``id``, ``repo``, ``path``, ``license``,
  ``lang``) with its locator (input ``file`` number and ``row`` within it) for the exact re-check.
* ``index.json``: the inputs (with content fingerprints), counts and build parameters.

The Bloom filter answers membership as StarCoder's tool did; the table names sources; ``exact=True``
re-reads the named documents and keeps only windows whose text really occurs in them.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from sctool import native
from sctool.errors import ConfigError, DatasetError, InvalidInputError, OutputExistsError, SctoolError
from sctool.io.sources import InputFile, InputReader, resolve_inputs

MAGIC = b"SCTATTR\x01"
FORMAT_VERSION = 1
PREFIX = struct.Struct("<8sIIQ")  # magic, version, header length, header XXH3-64
ALIGN = 64
MEMBERSHIP_FILE = "membership.bin"
DOCS_FILE = "docs.parquet"
META_FILE = "index.json"
#: Documents per window considered when naming sources (a licence header can sit in thousands).
MAX_DOCS_PER_WINDOW = 64

METADATA_ALIASES = {
    "repo": ("repo", "max_stars_repo_name", "repo_name", "repository"),
    "path": ("path", "max_stars_repo_path", "file_path", "filename"),
    "license": ("license", "licenses", "max_stars_repo_licenses"),
    "lang": ("lang", "language"),
}


class IndexCorruptError(InvalidInputError):
    """An index file is truncated, damaged or not an sctool attribution index."""


class IndexMismatchError(ConfigError):
    """The index was built with other parameters than the query expects."""


@dataclass(frozen=True)
class IndexConfig:
    """How `sctool index build` cuts and stores the corpus."""

    fpr: float = field(default=1e-3, metadata={"help": "target false-positive rate of the Bloom filter"})
    window: int = field(default=50, metadata={"help": "window length in characters of whitespace-free text"})
    stride: int = field(default=0, metadata={"help": "build stride in characters (0 = the window length)"})
    text_column: str = field(default="content", metadata={"help": "column holding the document text"})

    def __post_init__(self) -> None:
        if not 0 < self.fpr < 0.5:
            raise ConfigError(f"fpr must be in (0, 0.5), got {self.fpr}")
        if not 8 <= self.window <= 4096:
            raise ConfigError(f"window must be in 8..4096 characters, got {self.window}")
        if self.stride < 0 or self.stride > self.window:
            raise ConfigError(f"stride must be in 0..window ({self.window}), got {self.stride}")

    @property
    def build_stride(self) -> int:
        return self.stride or self.window


def _string_column(frame: pl.DataFrame, names: Sequence[str]) -> pl.Series:
    for n in names:
        if n in frame.columns:
            s = frame.get_column(n)
            if s.dtype == pl.List(pl.String) or isinstance(s.dtype, pl.List):
                return s.cast(pl.List(pl.String)).list.join(", ")
            return s.cast(pl.String)
    return pl.Series([None] * frame.height, dtype=pl.String)


def _doc_rows(frame: pl.DataFrame, first_doc: int, file_index: int, row0: int) -> pl.DataFrame:
    cols = {"doc": pl.Series(np.arange(first_doc, first_doc + frame.height, dtype=np.uint32)),
            "id": frame.get_column("id").cast(pl.String)}
    for name, aliases in METADATA_ALIASES.items():
        cols[name] = _string_column(frame, aliases)
    cols["file"] = pl.Series([file_index] * frame.height, dtype=pl.UInt32)
    cols["row"] = pl.Series(np.arange(row0, row0 + frame.height, dtype=np.uint64))
    return pl.DataFrame(cols)


def _as_bytes(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint8).reshape(-1)


def _write_membership(path: Path, header: dict[str, Any], sections: list[tuple[str, np.ndarray]]) -> None:
    """Write the prefix, header and aligned sections; section offsets/checksums go in the header."""
    # The header's length depends on the offsets it records: lay out with a fixed-width guess, then
    # pad the JSON to that width.
    meta: dict[str, Any] = {}
    header = {**header, "sections": meta}
    reserve = 4096
    while True:
        offset = _align(PREFIX.size + reserve)
        for name, arr in sections:
            meta[name] = {"offset": offset, "length": int(arr.nbytes), "dtype": arr.dtype.str,
                          "count": int(arr.size), "xxh3": int(native.attribution_checksum(_as_bytes(arr)))}
            offset = _align(offset + arr.nbytes)
        header["file_size"] = offset
        blob = json.dumps(header, sort_keys=True).encode()
        if len(blob) <= reserve:
            blob = blob + b" " * (reserve - len(blob))
            break
        reserve *= 2
    checksum = native.attribution_checksum(np.frombuffer(blob, dtype=np.uint8))
    with open(path, "wb") as fh:
        fh.write(PREFIX.pack(MAGIC, FORMAT_VERSION, len(blob), checksum))
        fh.write(blob)
        for name, arr in sections:
            fh.seek(meta[name]["offset"])
            fh.write(memoryview(_as_bytes(arr)))
        fh.truncate(header["file_size"])
        fh.flush()
        os.fsync(fh.fileno())


def _stat(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class BuildSummary:
    output: str
    documents: int
    text_bytes: int
    windows: int
    distinct_windows: int
    bloom_bytes: int
    table_bytes: int
    expected_fpr: float
    seconds: float
    kernel_seconds: float
    search_documents: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _prepare_output(output: Path, overwrite: bool) -> Path:
    if output.exists() and not overwrite:
        raise OutputExistsError(f"{output}: already exists (pass --overwrite to replace it)")
    output.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".tmp-{output.name}.", dir=output.parent))


def _commit_output(tmp: Path, output: Path) -> None:
    """Swap the finished directory in: the old index (if any) stays whole until the rename."""
    old = None
    if output.exists():
        old = output.parent / f".old-{output.name}.{os.getpid()}"
        os.replace(output, old)
    os.replace(tmp, output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build_index(
    inputs: Sequence[str | Path],
    output: str | Path,
    config: IndexConfig | None = None,
    *,
    threads: int = 0,
    overwrite: bool = False,
    batch_rows: int = 10_000,
    search: bool = False,
    search_shards: int = 1,
    progress: Any = None,
) -> BuildSummary:
    """Build the membership index (and with ``search`` the full-text index) of ``inputs`` at ``output``.

    The output appears whole or not at all: everything is written to a temporary sibling directory
    that replaces ``output`` by rename at the end.
    """
    cfg = config or IndexConfig()
    out = Path(output)
    files = resolve_inputs(inputs)
    tmp = _prepare_output(out, overwrite)
    t0 = time.perf_counter()
    try:
        summary = _build(files, tmp, cfg, threads=threads, batch_rows=batch_rows, progress=progress)
        if search:
            from sctool.attribution.search import build_search_index

            summary.search_documents = build_search_index(files, tmp / "search", text_column=cfg.text_column,
                                                          shards=search_shards, batch_rows=batch_rows)
            meta = json.loads((tmp / META_FILE).read_text())
            meta["search"] = {"shards": search_shards, "documents": summary.search_documents}
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
            summary.seconds = round(time.perf_counter() - t0, 3)
        _commit_output(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    summary.output = str(out)
    return summary


def _build(files: list[InputFile], tmp: Path, cfg: IndexConfig, *, threads: int, batch_rows: int,
           progress: Any) -> BuildSummary:
    t0 = time.perf_counter()
    kernel = 0.0
    reader = InputReader(files, text_column=cfg.text_column, batch_rows=batch_rows)
    fps: list[np.ndarray] = []
    docs: list[np.ndarray] = []
    doc_frames: list[pl.DataFrame] = []
    file_index = {f.path: i for i, f in enumerate(files)}
    rows_in_file: dict[int, int] = {}
    n_docs = 0
    text_bytes = 0
    for batch in reader.batches():
        frame = batch.frame
        fi = file_index[batch.source.path]
        row0 = rows_in_file.get(fi, 0)
        rows_in_file[fi] = row0 + frame.height
        if n_docs + frame.height >= 2**32 - 1:
            raise ConfigError("an index holds at most 2**32 - 1 documents; build several indexes")
        text = frame.get_column(cfg.text_column)
        text_bytes += int(text.str.len_bytes().sum() or 0)
        k0 = time.perf_counter()
        f, d = native.attribution_build_pairs(text, n_docs, cfg.window, cfg.build_stride, threads=threads)
        kernel += time.perf_counter() - k0
        fps.append(f)
        docs.append(d)
        doc_frames.append(_doc_rows(frame, n_docs, fi, row0))
        n_docs += frame.height
        if progress is not None:
            progress(frame.height)
    k0 = time.perf_counter()
    all_f = np.concatenate(fps) if fps else np.zeros(0, np.uint64)
    all_d = np.concatenate(docs) if docs else np.zeros(0, np.uint32)
    del fps, docs
    table_f, table_d, distinct = native.attribution_finish_table(all_f, all_d, threads=threads)
    windows = int(all_f.size)
    del all_f, all_d
    blocks, k, expected = native.attribution_bloom_params(max(int(distinct), 1), cfg.fpr)
    words = native.attribution_bloom_build(table_f, blocks, k, threads=threads)
    kernel += time.perf_counter() - k0
    consts = native.attribution_constants()
    header = {
        "format": "sctool-attribution-membership",
        "version": FORMAT_VERSION,
        "normalisation": consts["normalisation"],
        "window": cfg.window,
        "build_stride": cfg.build_stride,
        "fingerprint": consts["fingerprint"],
        "fingerprint_seed": consts["fingerprint_seed"],
        "bloom": {"kind": consts["bloom"], "blocks": int(blocks), "k": int(k), "items": int(distinct),
                  "target_fpr": cfg.fpr, "expected_fpr": float(expected)},
        "documents": n_docs,
        "table_rows": int(table_f.size),
    }
    _write_membership(tmp / MEMBERSHIP_FILE,
                      header, [("bloom", words), ("table_fps", table_f), ("table_docs", table_d)])
    doc_table = pl.concat(doc_frames) if doc_frames else _doc_rows(pl.DataFrame({"id": []}, schema={"id": pl.String}), 0, 0, 0)
    doc_table.write_parquet(tmp / DOCS_FILE, compression="zstd")
    seconds = time.perf_counter() - t0
    meta = {
        "format": "sctool-attribution",
        "version": FORMAT_VERSION,
        "config": asdict(cfg),
        "inputs": [{**f.describe(), "path": str(f.path.resolve()), "stat": _stat(f.path)} for f in files],
        "documents": n_docs,
        "text_bytes": text_bytes,
        "windows": windows,
        "distinct_windows": int(distinct),
        "bloom": header["bloom"],
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return BuildSummary(output=str(tmp), documents=n_docs, text_bytes=text_bytes, windows=windows,
                        distinct_windows=int(distinct), bloom_bytes=int(words.nbytes),
                        table_bytes=int(table_f.nbytes + table_d.nbytes), expected_fpr=float(expected),
                        seconds=round(seconds, 3), kernel_seconds=round(kernel, 3))


# --------------------------------------------------------------------------------------------------
# Reading


def _read_header(path: Path) -> tuple[dict[str, Any], int]:
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            prefix = fh.read(PREFIX.size)
            if len(prefix) < PREFIX.size:
                raise IndexCorruptError(f"{path}: truncated ({size} bytes; not even the fixed prefix)")
            magic, version, hlen, hsum = PREFIX.unpack(prefix)
            if magic != MAGIC:
                raise IndexCorruptError(f"{path}: not an sctool attribution index (bad magic bytes)")
            if version != FORMAT_VERSION:
                raise IndexMismatchError(
                    f"{path}: index format version {version}; this sctool reads version {FORMAT_VERSION} "
                    "(rebuild the index with this sctool)")
            if hlen > size - PREFIX.size:
                raise IndexCorruptError(f"{path}: truncated ({size} bytes; the header alone needs {hlen})")
            blob = fh.read(hlen)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{path}: no such file (is this an sctool index directory?)") from exc
    if native.attribution_checksum(np.frombuffer(blob, dtype=np.uint8)) != hsum:
        raise IndexCorruptError(f"{path}: header checksum mismatch (the file is damaged)")
    try:
        header = json.loads(blob)
    except ValueError as exc:
        raise IndexCorruptError(f"{path}: header is not valid JSON ({exc})") from exc
    return header, size


@dataclass(slots=True)
class Source:
    """A document that holds hit windows of a query."""

    doc: int
    id: str | None
    repo: str | None
    path: str | None
    license: str | None
    lang: str | None
    windows: int
    verified: bool

    def to_dict(self) -> dict[str, Any]:
        return {"doc": self.doc, "id": self.id, "repo": self.repo, "path": self.path, "license": self.license,
                "lang": self.lang, "windows": self.windows, "verified": self.verified}


@dataclass(slots=True)
class Attribution:
    """What the index knows about one query text. Offsets are Python ``str`` indices of the query."""

    chars: int
    covered_chars: int
    covered_fraction: float
    longest_chain: int
    chain_span: tuple[int, int] | None
    spans: list[tuple[int, int]]
    bloom_hits: int
    table_hits: int
    sources: list[Source]
    exact: bool
    #: Hit windows found in more than MAX_DOCS_PER_WINDOW documents (boilerplate such as licence
    #: headers): only the first of those documents were considered as sources.
    common_windows: int = 0
    #: Source documents found but not listed (beyond ``top``).
    more_sources: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = {f: getattr(self, f) for f in self.__dataclass_fields__}
        d["spans"] = list(self.spans)
        d["sources"] = [s.to_dict() for s in self.sources]
        return d



def _checked_request(texts: Sequence[str], top: int) -> list[str]:
    """The texts of an attribution request as a list; a negative ``top`` is refused (when there is work)."""
    texts = list(texts)
    if texts and top < 0:
        raise ConfigError(f"top must be >= 0, got {top}")
    return texts

class MembershipIndex:
    """An opened index. ``window`` (when given) is the window the caller expects; a different one
    is an :class:`IndexMismatchError` rather than silently meaningless results."""

    def __init__(self, directory: str | Path, *, window: int | None = None, verify: bool = True) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise FileNotFoundError(f"{self.directory}: no such index directory")
        path = self.directory / MEMBERSHIP_FILE
        header, size = _read_header(path)
        consts = native.attribution_constants()
        if header.get("format") != "sctool-attribution-membership":
            raise IndexCorruptError(f"{path}: header does not describe a membership index")
        for key in ("normalisation", "fingerprint", "fingerprint_seed"):
            if header.get(key) != consts[key]:
                raise IndexMismatchError(
                    f"{path}: built with {key}={header.get(key)!r}, this sctool uses {consts[key]!r} "
                    "(rebuild the index)")
        if header.get("bloom", {}).get("kind") != consts["bloom"]:
            raise IndexMismatchError(f"{path}: Bloom filter kind {header.get('bloom')!r} is not {consts['bloom']!r}")
        if window is not None and header["window"] != window:
            raise IndexMismatchError(
                f"{path}: built with {header['window']}-character windows (stride {header['build_stride']}), "
                f"but the query expects {window}-character windows")
        if size != header["file_size"]:
            kind = "truncated" if size < header["file_size"] else "has trailing bytes"
            raise IndexCorruptError(f"{path}: {kind} ({size} bytes, the header says {header['file_size']})")
        self.header = header
        self.window = int(header["window"])
        self.stride = int(header["build_stride"])
        self.blocks = int(header["bloom"]["blocks"])
        self.k = int(header["bloom"]["k"])
        mm = np.memmap(path, dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)
        arrays = {}
        for name, sec in header["sections"].items():
            raw = mm[sec["offset"]: sec["offset"] + sec["length"]]
            if verify and native.attribution_checksum(raw) != sec["xxh3"]:
                raise IndexCorruptError(f"{path}: section {name!r} checksum mismatch (the file is damaged)")
            arrays[name] = raw.view(np.dtype(sec["dtype"]))
        self.words = arrays["bloom"]
        self.table_fps = arrays["table_fps"]
        self.table_docs = arrays["table_docs"]
        if self.table_docs.size and int(self.table_docs.max(initial=0)) >= header["documents"]:
            raise IndexCorruptError(f"{path}: table names a document past the {header['documents']} indexed")
        try:
            self.meta = json.loads((self.directory / META_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise IndexCorruptError(f"{self.directory / META_FILE}: unreadable ({exc})") from exc
        try:
            self.docs = pl.read_parquet(self.directory / DOCS_FILE)
        except Exception as exc:  # polars raises several types for damaged files
            raise IndexCorruptError(f"{self.directory / DOCS_FILE}: unreadable ({exc})") from exc
        if self.docs.height != header["documents"]:
            raise IndexCorruptError(
                f"{self.directory / DOCS_FILE}: {self.docs.height} rows, the index has {header['documents']} documents")
        self._store: DocStore | None = None

    @property
    def has_search(self) -> bool:
        return (self.directory / "search").is_dir()

    def query_raw(self, texts: Sequence[str], *, threads: int = 0) -> dict[str, np.ndarray]:
        """Per-window hits of ``texts`` (the kernel's arrays), for callers that aggregate themselves."""
        return native.attribution_query(_text_column(texts), self.words, self.blocks, self.k,
                                         self.table_fps, self.table_docs, self.window, threads=threads)

    def bloom_contains(self, fps: np.ndarray, *, threads: int = 0) -> np.ndarray:
        return native.attribution_bloom_contains(self.words, self.blocks, self.k,
                                                  np.ascontiguousarray(fps, dtype=np.uint64), threads=threads)

    def attribute(self, texts: Sequence[str], *, exact: bool = False, top: int = 5,
                  threads: int = 0) -> list[Attribution]:
        """Attribute each text: covered fraction, longest chain, hit spans and up to ``top`` sources."""
        texts = _checked_request(texts, top)
        if not texts:
            return []
        if exact:
            return self._attribute_exact(texts, top, threads)
        r = self._attribute_native(texts, top, threads)
        meta = self._doc_meta(r["src_doc"])
        src = [Source(d, *meta[d], w, False) for d, w in zip(r["src_doc"].tolist(), r["src_windows"].tolist())]
        spans = list(zip(r["span_start"].tolist(), r["span_end"].tolist()))
        sp, rp = r["span_ptr"].tolist(), r["src_ptr"].tolist()
        cols = zip(r["chars"].tolist(), r["covered"].tolist(), r["longest_chain"].tolist(), r["chain_start"].tolist(),
                   r["chain_end"].tolist(), r["bloom_hits"].tolist(), r["table_hits"].tolist(),
                   r["common_windows"].tolist(), r["more_sources"].tolist())
        return [Attribution(chars=chars, covered_chars=cov, covered_fraction=round(cov / chars, 6) if chars else 0.0,
                            longest_chain=chain, chain_span=(a, b) if chain else None, spans=spans[sp[i]: sp[i + 1]],
                            bloom_hits=bh, table_hits=th, sources=src[rp[i]: rp[i + 1]], exact=False,
                            common_windows=cw, more_sources=more)
                for i, (chars, cov, chain, a, b, bh, th, cw, more) in enumerate(cols)]

    def attribute_compact(self, texts: Sequence[str], *, top: int = 3, threads: int = 0) -> list[dict[str, Any]]:
        """``sctool.attribution.samples.compact`` of each text's :meth:`attribute` (the per-sample JSONL
        column), built straight from the kernel's arrays: no Attribution or Source objects in between,
        which were a fifth of the ``attribute --jsonl`` path's time."""
        texts = _checked_request(texts, top)
        if not texts:
            return []
        r = self._attribute_native(texts, top, threads)
        meta = self._doc_meta(r["src_doc"])
        src = [{"id": m[0], "repo": m[1], "path": m[2], "license": m[3], "windows": w}
               for m, w in zip(map(meta.__getitem__, r["src_doc"].tolist()), r["src_windows"].tolist())]
        spans = [[a, b] for a, b in zip(r["span_start"].tolist(), r["span_end"].tolist())]
        sp, rp = r["span_ptr"].tolist(), r["src_ptr"].tolist()
        return [{"covered_fraction": round(cov / chars, 6) if chars else 0.0, "longest_chain": chain,
                 "spans": spans[sp[i]: sp[i + 1]], "sources": src[rp[i]: rp[i + 1]]}
                for i, (chars, cov, chain) in enumerate(zip(r["chars"].tolist(), r["covered"].tolist(),
                                                            r["longest_chain"].tolist()))]

    def _attribute_native(self, texts: list[str], top: int, threads: int) -> dict[str, np.ndarray]:
        # One native pass per text (normalise once, probe, chains, spans, source counts): no
        # per-window arrays cross into Python, only per-text results and the listed sources.
        return native.attribution_attribute(_text_column(texts), self.words, self.blocks, self.k, self.table_fps,
                                            self.table_docs, self.window, top, MAX_DOCS_PER_WINDOW, threads=threads)

    def _doc_meta(self, docs: np.ndarray) -> dict[int, tuple[str | None, ...]]:
        """(id, repo, path, license, lang) of each distinct document number in ``docs``."""
        if not docs.size:
            return {}
        uniq = np.unique(docs)
        frame = self.docs.select(["id", "repo", "path", "license", "lang"])[uniq]
        return dict(zip(uniq.tolist(), frame.iter_rows()))

    def _attribute_exact(self, texts: list[str], top: int, threads: int) -> list[Attribution]:
        """The per-window path: every (window, document) pair is re-checked against the document's
        text, and only confirmed windows count towards coverage, chains and sources."""
        raw = self.query_raw(texts, threads=threads)
        lo = raw["row_lo"].astype(np.int64)
        full = raw["row_hi"].astype(np.int64) - lo
        n_rows = np.minimum(full, MAX_DOCS_PER_WINDOW)
        common = np.bincount(raw["hit_text"][full > MAX_DOCS_PER_WINDOW], minlength=len(texts))
        hit_idx = np.repeat(np.arange(lo.size), n_rows)
        offsets = np.arange(hit_idx.size) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows)
        pair_doc = self.table_docs[lo[hit_idx] + offsets].astype(np.uint32)
        pair_text = raw["hit_text"][hit_idx]
        pair_pos = raw["hit_pos"][hit_idx]
        # Documents not read (beyond `top`, never needed to confirm a window) are still counted
        # in `more_sources`; documents whose every pair was read and failed are not.
        candidates = np.zeros(len(texts), dtype=np.int64)
        if pair_doc.size:
            ok, checked = self._verify(texts, pair_text, pair_pos, pair_doc, top, threads=threads)
            alive = ok | ~checked
            key = np.unique(pair_text[alive].astype(np.uint64) << np.uint64(32) | pair_doc[alive].astype(np.uint64))
            candidates = np.bincount((key >> np.uint64(32)).astype(np.int64), minlength=len(texts))
            pair_text, pair_pos, pair_doc = pair_text[ok], pair_pos[ok], pair_doc[ok]
        key = np.unique(pair_text.astype(np.uint64) << np.uint64(32) | pair_pos.astype(np.uint64))
        kept_text = (key >> np.uint64(32)).astype(np.uint32)
        kept_pos = (key & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        summaries = native.attribution_summarise(texts, self.window, np.ascontiguousarray(kept_text),
                                                  np.ascontiguousarray(kept_pos), threads=threads)
        table_hits = np.bincount(raw["hit_text"], minlength=len(texts))
        sources, _ = self._sources(len(texts), pair_text, pair_doc, top, True)
        more = np.maximum(candidates - top, 0) if top > 0 else np.zeros(len(texts), dtype=np.int64)
        out = []
        for i, (chars, covered, chain, chain_span, spans) in enumerate(summaries):
            out.append(Attribution(
                chars=int(chars), covered_chars=int(covered),
                covered_fraction=round(covered / chars, 6) if chars else 0.0,
                longest_chain=int(chain), chain_span=tuple(chain_span) if chain else None,
                spans=[tuple(s) for s in spans], bloom_hits=int(raw["bloom_hits"][i]),
                table_hits=int(table_hits[i]), sources=sources[i], exact=True,
                common_windows=int(common[i]), more_sources=int(more[i])))
        return out

    def _sources(self, n: int, pair_text: np.ndarray, pair_doc: np.ndarray, top: int,
                 verified: bool) -> tuple[list[list[Source]], np.ndarray]:
        """Up to ``top`` sources per text, and how many more each text has."""
        out: list[list[Source]] = [[] for _ in range(n)]
        if not pair_doc.size or top <= 0:
            return out, np.zeros(n, dtype=np.int64)
        # Windows per (text, document), then per text: most windows first, lowest document first.
        key, count = np.unique(pair_text.astype(np.uint64) << np.uint64(32) | pair_doc.astype(np.uint64),
                               return_counts=True)
        text = (key >> np.uint64(32)).astype(np.int64)
        doc = (key & np.uint64(0xFFFFFFFF)).astype(np.int64)
        order = np.lexsort((doc, -count, text))
        text, doc, count = text[order], doc[order], count[order]
        first = np.searchsorted(text, text, side="left")
        keep = (np.arange(text.size) - first) < top
        more = np.maximum(np.bincount(text, minlength=n) - top, 0)
        text, doc, count = text[keep], doc[keep], count[keep]
        meta = self.docs.select(["id", "repo", "path", "license", "lang"])[doc].to_dict(as_series=False)
        for j, (t, d, c) in enumerate(zip(text.tolist(), doc.tolist(), count.tolist())):
            out[t].append(Source(doc=d, id=meta["id"][j], repo=meta["repo"][j], path=meta["path"][j],
                                 license=meta["license"][j], lang=meta["lang"][j], windows=c, verified=verified))
        return out, more

    def _verify(self, texts: list[str], pair_text: np.ndarray, pair_pos: np.ndarray, pair_doc: np.ndarray,
                top: int, *, threads: int) -> tuple[np.ndarray, np.ndarray]:
        """Which (text, position, document) pairs hold in the documents' text, and which were read.

        Reading documents is the cost, so it goes in two rounds. First only the documents that can
        be reported (each text's ``top`` candidates by window count) plus, for every hit window none
        of those holds, its first document. When every pair read holds (a 64-bit fingerprint almost
        never collides), the unread candidates cannot change the result: each window is confirmed
        and the ranking of sources stands. Otherwise the texts with a failed pair get all their
        candidates read in a second round. Pairs with an unread document count as unconfirmed.
        """
        if self._store is None:
            self._store = DocStore(self)
        n = pair_doc.size
        ok = np.zeros(n, dtype=bool)
        checked = np.zeros(n, dtype=bool)
        tkey = pair_text.astype(np.uint64) << np.uint64(32)
        key, inv, count = np.unique(tkey | pair_doc.astype(np.uint64), return_inverse=True, return_counts=True)
        ktext = (key >> np.uint64(32)).astype(np.int64)
        kdoc = (key & np.uint64(0xFFFFFFFF)).astype(np.int64)
        order = np.lexsort((kdoc, -count, ktext))
        rank = np.empty(key.size, dtype=np.int64)
        rank[order] = np.arange(key.size) - np.searchsorted(ktext[order], ktext[order], side="left")
        chosen = rank[inv] < max(top, 1)
        # Windows (text, position) none of whose chosen pairs exist: add their first pair.
        wkey = tkey | pair_pos.astype(np.uint64)
        wuniq, winv = np.unique(wkey, return_inverse=True)
        has = np.zeros(wuniq.size, dtype=bool)
        np.logical_or.at(has, winv, chosen)
        first = np.full(wuniq.size, n, dtype=np.int64)
        np.minimum.at(first, winv, np.arange(n))
        chosen[first[~has]] = True

        def check(sel: np.ndarray) -> None:
            idx = np.flatnonzero(sel & ~checked)
            if not idx.size:
                return
            uniq, local = np.unique(pair_doc[idx], return_inverse=True)
            doc_texts = self._store.texts(uniq.tolist())
            ok[idx] = native.attribution_verify(texts, doc_texts, pair_text[idx].astype(np.uint32),
                                                 local.astype(np.uint32), pair_pos[idx].astype(np.uint32),
                                                 self.window, self.stride, threads=threads)
            checked[idx] = True

        check(chosen)
        failed_texts = np.unique(pair_text[checked & ~ok])
        if failed_texts.size:
            check(np.isin(pair_text, failed_texts))
        return ok, checked


def _text_column(texts: Sequence[str]) -> Any:
    import pyarrow as pa

    if isinstance(texts, (str, bytes)):
        raise InvalidInputError("expected a sequence of texts, got a single string")
    try:
        return pa.array(list(texts), type=pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidInputError(f"expected a sequence of str: {exc}") from exc


class DocStore:
    """Reads indexed documents' text back from the dataset the index was built from.

    Only the rows asked for are decoded: a Parquet row is read by a sliced scan, which decodes the
    pages holding it rather than its whole row group (a dataset part is often one row group of
    100 MB of text); a row group with many rows asked for is read in one scan from the first of
    them to the last. Plain JSONL gets a row ->
    byte offset table on first use. Texts are kept in an LRU cache, so a server or a batch of
    samples rereads nothing.
    """

    #: Rows of one row group above which one scan over their range beats one sliced scan per row
    #: (a sliced scan decodes at least a whole page, often megabytes).
    SLICE_MAX = 4

    def __init__(self, index: MembershipIndex, cache_bytes: int = 256 << 20) -> None:
        self.index = index
        self.inputs = index.meta["inputs"]
        self.text_column = index.meta["config"]["text_column"]
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[int, str] = OrderedDict()
        self._cached = 0
        self._checked: set[int] = set()
        self._group_starts: dict[int, np.ndarray] = {}
        self._line_offsets: dict[int, np.ndarray] = {}
        self.rows_read = 0

    def _file(self, fi: int) -> InputFile:
        d = self.inputs[fi]
        path = Path(d["path"])
        if not path.exists():
            raise DatasetError(f"{path}: indexed input is gone; --exact needs the dataset the index was built from")
        st = path.stat()
        inp = InputFile(path=path, kind=d["kind"], size_bytes=st.st_size)
        if fi not in self._checked:
            # Unchanged size and modification time (recorded at build) pass as unchanged, as make
            # and rsync decide; anything else is settled by the full content hash.
            quick = d.get("stat")
            if not (quick and quick == [st.st_size, st.st_mtime_ns]) and inp.fingerprint() != d["fingerprint"]:
                raise DatasetError(f"{path}: changed since the index was built; rebuild it or drop --exact")
            self._checked.add(fi)
        return inp

    def texts(self, docs: Iterable[int]) -> list[str]:
        docs = list(docs)
        need = [d for d in dict.fromkeys(docs) if d not in self._cache]
        got: dict[int, str] = {}
        if need:
            loc = self.index.docs.select(["doc", "file", "row"])[np.asarray(need, dtype=np.int64)]
            for (fi,), g in loc.group_by(["file"]):
                rows = dict(zip(g.get_column("row").to_list(), g.get_column("doc").to_list()))
                for row, text in self._read_rows(self._file(int(fi)), int(fi), sorted(rows)):
                    got[rows[row]] = text
            missing = [d for d in need if d not in got]
            if missing:
                raise DatasetError(f"documents {missing[:5]} could not be read back from the indexed inputs")
            self.rows_read += len(got)
        out = []
        for d in docs:
            t = got.get(d)
            if t is None:
                t = self._cache[d]
                self._cache.move_to_end(d)
            out.append(t)
        for d, t in got.items():
            self._cache[d] = t
            self._cached += len(t)
        while self._cached > self.cache_bytes and len(self._cache) > 1:
            _, t = self._cache.popitem(last=False)
            self._cached -= len(t)
        return out

    def _read_rows(self, inp: InputFile, fi: int, rows: list[int]) -> Iterable[tuple[int, str]]:
        if inp.kind == "parquet":
            yield from self._read_parquet(inp, fi, rows)
        elif inp.path.name.lower().endswith((".jsonl", ".ndjson")):
            yield from self._read_jsonl_plain(inp, fi, rows)
        else:
            yield from self._read_stream(inp, rows)

    def _read_parquet(self, inp: InputFile, fi: int, rows: list[int]) -> Iterable[tuple[int, str]]:
        import pyarrow.parquet as pq

        starts = self._group_starts.get(fi)
        if starts is None:
            md = pq.ParquetFile(inp.path).metadata
            starts = np.cumsum([0] + [md.row_group(i).num_rows for i in range(md.num_row_groups)])
            self._group_starts[fi] = starts
        by_group: dict[int, list[int]] = {}
        for r in rows:
            by_group.setdefault(int(np.searchsorted(starts, r, side="right") - 1), []).append(r)
        lf = pl.scan_parquet(inp.path).select(pl.col(self.text_column).cast(pl.String))
        sliced: list[int] = []
        for _, rs in sorted(by_group.items()):
            if len(rs) > self.SLICE_MAX:
                # One scan from the first to the last row wanted: polars decodes only that range's
                # pages (and several times faster than pyarrow's read_row_group plus as_py).
                col = lf.slice(rs[0], rs[-1] - rs[0] + 1).collect().to_series()
                yield from zip(rs, (t or "" for t in col.gather([r - rs[0] for r in rs]).to_list()))
            else:
                sliced.extend(rs)
        if sliced:
            for r, frame in zip(sliced, pl.collect_all([lf.slice(r, 1) for r in sliced])):
                yield r, frame.item() or ""

    def _read_jsonl_plain(self, inp: InputFile, fi: int, rows: list[int]) -> Iterable[tuple[int, str]]:
        offsets = self._line_offsets.get(fi)
        if offsets is None:
            # Row numbers count the records the reader kept (blank and malformed lines are skipped).
            found = []
            with open(inp.path, "rb") as fh:
                pos = 0
                for raw in fh:
                    if raw.strip():
                        try:
                            ok = isinstance(json.loads(raw), dict)
                        except ValueError:
                            ok = False
                        if ok:
                            found.append(pos)
                    pos += len(raw)
            offsets = self._line_offsets[fi] = np.asarray(found, dtype=np.int64)
        with open(inp.path, "rb") as fh:
            for r in rows:
                if r >= offsets.size:
                    continue
                fh.seek(int(offsets[r]))
                val = json.loads(fh.readline()).get(self.text_column)
                yield r, val if isinstance(val, str) else ""

    def _read_stream(self, inp: InputFile, rows: list[int]) -> Iterable[tuple[int, str]]:
        want = set(rows)
        reader = InputReader([inp], text_column=self.text_column, batch_rows=10_000)
        row0 = 0
        for batch in reader.batches():
            col = batch.frame.get_column(self.text_column)
            for r in [r for r in want if row0 <= r < row0 + batch.frame.height]:
                yield r, col[r - row0] or ""
            row0 += batch.frame.height
            if row0 > rows[-1]:
                return


__all__ = ["Attribution", "BuildSummary", "IndexConfig", "IndexCorruptError", "IndexMismatchError",
           "MembershipIndex", "SctoolError", "Source", "build_index"]
