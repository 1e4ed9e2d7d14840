"""A typed facade over the native decontamination index.

``method="exact"`` reproduces StarCoder (case-insensitive substring of any benchmark string);
``"normalised"`` runs only the n-gram containment detector; ``"both"`` (the default) flags a
document if either fires, so it finds everything StarCoder's rule finds and more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import polars as pl

from sctool import native
from sctool.decontam.benchmarks import BenchmarkItem
from sctool.decontam.idf import load_idf
from sctool.errors import InternalError
from sctool.native import TextColumn, as_arrow_text

Method = Literal["exact", "normalised", "both"]

MATCH_DTYPE = pl.List(pl.Struct({"benchmark": pl.String, "item": pl.String, "method": pl.String,
                                 "part": pl.String, "score": pl.Float32, "view": pl.String,
                                 "doc_start": pl.Int64, "doc_end": pl.Int64, "doc_excerpt": pl.String,
                                 "bench_excerpt": pl.String}))
# Native method codes of a hit: StarCoder's substring rule, n-gram containment, signature anchor.
METHOD_NAMES = ("exact", "normalised", "signature")
# Longest excerpt of either side kept in a removed row (the offsets always cover the whole match).
MAX_EXCERPT = 4000


@dataclass(frozen=True)
class NormalisedParams:
    """Parameters of the n-gram containment detector (see rust/sctool-core/src/decontam)."""

    threshold: float = field(default=0.5, metadata={"help": "fraction of a piece's n-grams found in a document "
                                                            "for it to count as contained"})
    prose_ngram: int = field(default=8, metadata={"help": "words per prose n-gram"})
    code_ngram: int = field(default=12, metadata={"help": "tokens per identifier-normalised code n-gram"})
    min_ngrams: int = field(default=3, metadata={"help": "pieces with fewer distinct n-grams are not used; a whole "
                                                             "copy must carry this much rarity-weighted evidence"})
    max_items_per_ngram: int = field(default=4, metadata={"help": "n-grams shared by more items are ignored"})
    min_matched: int = field(default=12, metadata={"help": "a partial match must share at least this many n-grams"})
    decode: bool = field(default=True, metadata={"help": "also match decoded views: JSON and program strings, HTML, "
                                                          "diffs, commented-out lines"})
    idf: str = field(default="builtin", metadata={"help": "n-gram rarity table: builtin, none, or a file from "
                                                          "`sctool decontam build-idf`"})
    min_weight: float = field(default=0.05, metadata={"help": "n-grams weighing less (idioms) are not indexed"})


class DecontamIndex:
    """Benchmark items indexed for one-pass scanning of document batches."""

    def __init__(self, items: Sequence[BenchmarkItem], method: Method = "both",
                 params: NormalisedParams | None = None, threads: int = 0) -> None:
        self.items = list(items)
        self.method = method
        self.params = params or NormalisedParams()
        self.threads = threads
        exact: list[tuple[int, str]] = []
        pieces: list[tuple[int, str, str]] = []
        self._piece_part: list[str] = []
        self._exact_part: list[str] = []
        self._piece_text: list[str] = []
        self._exact_text: list[str] = []
        for i, it in enumerate(self.items):
            if method in ("exact", "both"):
                for name, s in it.exact:
                    # Whitespace-only strings would match everywhere; they are not patterns.
                    if s.strip():
                        exact.append((i, s))
                        self._exact_part.append(name)
                        self._exact_text.append(s)
            if method in ("normalised", "both"):
                for name, s in it.prose:
                    pieces.append((i, "prose", s))
                    self._piece_part.append(name)
                    self._piece_text.append(s)
                for name, s in it.code:
                    pieces.append((i, "code", s))
                    self._piece_part.append(name)
                    self._piece_text.append(s)
                for name, s in it.signature:
                    pieces.append((i, "signature", s))
                    self._piece_part.append(name)
                    self._piece_text.append(s)
        p = self.params
        self._native = native.DecontamIndex(
            exact, pieces, prose_ngram=p.prose_ngram, code_ngram=p.code_ngram, threshold=p.threshold,
            min_ngrams=p.min_ngrams, max_items_per_ngram=p.max_items_per_ngram, min_matched=p.min_matched,
            decode=p.decode, idf=load_idf(p.idf) if pieces else None, min_weight=p.min_weight,
            threads=threads,
        )
        if len(self._native.exact_items()) != len(exact):
            raise InternalError("decontam: the native index dropped exact patterns the facade kept")
        self._benchmarks = np.array([it.benchmark for it in self.items], dtype=object)
        self._ids = np.array([it.item_id for it in self.items], dtype=object)

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        """Pickle as the items and settings; the native index is rebuilt where it is unpickled.

        That is what lets ``run_decontam``'s batch function travel to Ray workers.
        """
        return (DecontamIndex, (self.items, self.method, self.params, self.threads))

    def stats(self) -> dict[str, object]:
        d = dict(self._native.stats())
        d["items"] = len(self.items)
        _, ngrams = self._native.piece_ngrams()
        d["pieces_used"] = int((ngrams > 0).sum())
        return d

    def items_by_benchmark(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for it in self.items:
            out[it.benchmark] = out.get(it.benchmark, 0) + 1
        return out

    def _locate(self, texts: TextColumn, doc: np.ndarray, item: np.ndarray, method: np.ndarray,
                source: np.ndarray, view: np.ndarray) -> list[tuple[str, int, int, str]]:
        """Per hit: decoder path of its view, document offsets (characters) and the matched excerpt.

        Run only on the documents with hits (a small share of a corpus), one native call each.
        """
        col = texts if isinstance(texts, pl.Series) else pl.Series(texts)
        out: list[tuple[str, int, int, str]] = [("", 0, 0, "")] * len(doc)
        order: dict[int, list[int]] = {}
        for k, d in enumerate(doc.tolist()):
            order.setdefault(d, []).append(k)
        for d, ks in order.items():
            text = col[d]
            located = self._native.locate(text, [(int(item[k]), int(method[k]), int(source[k]), int(view[k]))
                                                 for k in ks])
            raw = text.encode("utf-8")
            for k, (path, bs, be, excerpt) in zip(ks, located):
                # Byte offsets to Python string offsets: what a user slices the document with.
                cs = len(raw[:bs].decode("utf-8", "ignore"))
                ce = cs + len(raw[bs:be].decode("utf-8", "ignore"))
                out[k] = (path, cs, ce, excerpt[:MAX_EXCERPT])
        return out

    def scan(self, texts: TextColumn, threads: int = 0) -> pl.Series:
        """Per document, the list of matches (empty for a clean document)."""
        doc, item, method, source, score, view = self._native.scan(as_arrow_text(texts), threads=threads)
        n = len(texts)
        if len(doc) == 0:
            # Built by repeating one empty list in Polars: a Python list of n empty lists costs ~0.5 s
            # per 20k documents, more than the Rust scan of a clean batch.
            return pl.select(pl.repeat(pl.lit([], dtype=MATCH_DTYPE), n)).to_series().alias("matches")
        part = np.where(method == 0,
                        np.array(self._exact_part, dtype=object)[np.where(method == 0, source, 0)]
                        if self._exact_part else "",
                        np.array(self._piece_part, dtype=object)[np.where(method != 0, source, 0)]
                        if self._piece_part else "")
        where = self._locate(texts, doc, item, method, source, view)
        hits = pl.DataFrame({
            "doc": doc.astype(np.int64),
            "benchmark": self._benchmarks[item].astype(str),
            "item": self._ids[item].astype(str),
            "method": np.array(METHOD_NAMES, dtype=object)[method].astype(str),
            "part": part.astype(str),
            "score": score,
            "view": [w[0] for w in where],
            "doc_start": pl.Series([w[1] for w in where], dtype=pl.Int64),
            "doc_end": pl.Series([w[2] for w in where], dtype=pl.Int64),
            "doc_excerpt": [w[3] for w in where],
            "bench_excerpt": [(self._exact_text if m == 0 else self._piece_text)[int(so)][:MAX_EXCERPT]
                              for m, so in zip(method, source)],
        })
        grouped = hits.group_by("doc", maintain_order=True).agg(
            pl.struct(*[f for f in MATCH_DTYPE.inner.to_schema()]).alias("matches"))
        full = pl.DataFrame({"doc": np.arange(n, dtype=np.int64)}).join(grouped, on="doc", how="left")
        return full.get_column("matches").fill_null(pl.lit([], dtype=MATCH_DTYPE)).cast(MATCH_DTYPE)
