"""Full-text BM25 search over the corpus with a code-aware analyser (``sctool search``).

The analysis happens here, before tantivy sees the text: identifiers are kept whole (lower-cased)
and also split on underscores and case changes (``parseHTTPResponse`` -> ``parsehttpresponse``,
``parse``, ``http``, ``response``), numbers are tokens, and the multi-character operators that
carry meaning in code (``->``, ``::``, ``=>``, ``!=``, ``&&``, ``#include``, …) are tokens too;
single punctuation characters are not (they are in every file). The tokens are indexed with a
whitespace tokenizer, so the engine's BM25 sees exactly these terms, and queries are built from
the same analysis as term queries (no query-syntax surprises with ``->`` or ``::``).

Documents are split over shards by a hash of their id. A search opens every ``shard-*`` directory
under ``INDEX/search``, so shards built on several machines are queried together by copying them
side by side; each shard scores with its own statistics (as Elasticsearch does by default) and the
top hits of all shards are merged by score.
"""

from __future__ import annotations

import bisect
import itertools
import re
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import zstandard

from sctool.errors import ConfigError, InvalidInputError
from sctool.io.sources import InputFile, InputReader

_TOKEN = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|#(?:include|define|if|ifdef|ifndef|endif|pragma)\b"
    r"|->|::|=>|==|!=|<=|>=|&&|\|\||<<|>>|\*\*|\+\+|:=|\.\.\.|\?\?|\?\."
)
_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_FIELDS = ("doc_id", "repo", "path", "license", "lang")
MAX_TOKEN_CHARS = 64
_ZSTD_C = zstandard.ZstdCompressor(level=6)


def _zstd_d() -> zstandard.ZstdDecompressor:
    return zstandard.ZstdDecompressor()


def _need_tantivy() -> Any:
    try:
        import tantivy
    except ImportError as exc:
        raise ConfigError("full-text search needs the tantivy package: pip install 'sctool[search]'") from exc
    return tantivy


def analyse(text: str) -> list[str]:
    """The code-aware terms of ``text`` (see the module docstring), in order, with repeats."""
    out: list[str] = []
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if len(tok) > MAX_TOKEN_CHARS:
            continue
        c = tok[0]
        if c.isalpha() or c == "_":
            low = tok.lower()
            out.append(low)
            parts = _PARTS.findall(tok)
            if len(parts) > 1:
                out.extend(p.lower() for p in parts)
        else:
            out.append(tok)
    return out


def _schema(tantivy: Any) -> Any:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("tokens", stored=False, tokenizer_name="code_ws", index_option="freq")
    # The text is stored zstd-compressed as bytes: not indexed, and smaller than the engine's own
    # LZ4 document store would make it.
    sb.add_bytes_field("content_zst", stored=True, indexed=False)
    for f in _FIELDS:
        sb.add_text_field(f, stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("repo_key", stored=False, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("lang_key", stored=False, tokenizer_name="raw", index_option="basic")
    return sb.build()


def _register(tantivy: Any, index: Any) -> None:
    index.register_tokenizer("code_ws", tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build())


def _first(row: dict[str, Any], names: Sequence[str]) -> str | None:
    for n in names:
        v = row.get(n)
        if isinstance(v, list):
            v = ", ".join(str(x) for x in v)
        if v is not None and v != "":
            return str(v)
    return None


def build_search_index(files: list[InputFile], directory: Path, *, text_column: str = "content", shards: int = 1,
                       batch_rows: int = 10_000, heap_mb: int = 128) -> int:
    """Write ``shards`` tantivy indexes under ``directory``; returns the number of documents."""
    tantivy = _need_tantivy()
    from sctool.attribution.membership import METADATA_ALIASES

    if shards < 1:
        raise ConfigError(f"shards must be >= 1, got {shards}")
    schema = _schema(tantivy)
    writers = []
    for s in range(shards):
        d = directory / f"shard-{s:03d}"
        d.mkdir(parents=True)
        idx = tantivy.Index(schema, path=str(d), reuse=False)
        _register(tantivy, idx)
        writers.append(idx.writer(heap_size=heap_mb * 1_000_000 // shards if shards > 1 else heap_mb * 1_000_000,
                                  num_threads=1))
    n = 0
    for batch in InputReader(files, text_column=text_column, batch_rows=batch_rows).batches():
        for row in batch.frame.iter_rows(named=True):
            text = row.get(text_column)
            if not isinstance(text, str):
                continue
            doc_id = str(row["id"])
            meta = {k: _first(row, a) for k, a in METADATA_ALIASES.items()}
            repo = meta["repo"] or ""
            doc = tantivy.Document()
            doc.add_text("tokens", " ".join(analyse(text)))
            doc.add_bytes("content_zst", _ZSTD_C.compress(text.encode("utf-8")))
            doc.add_text("doc_id", doc_id)
            for k in ("repo", "path", "license", "lang"):
                if meta[k]:
                    doc.add_text(k, meta[k])
            if repo:
                doc.add_text("repo_key", repo.lower())
                doc.add_text("repo_key", repo.split("/", 1)[0].lower())
            if meta["lang"]:
                doc.add_text("lang_key", meta["lang"].lower())
            writers[zlib.crc32(doc_id.encode()) % shards].add_document(doc)
            n += 1
    for w in writers:
        w.commit()
        w.wait_merging_threads()
    return n


@dataclass
class SearchHit:
    score: float
    id: str
    repo: str | None
    path: str | None
    license: str | None
    lang: str | None
    excerpt: str
    excerpt_line: int
    highlights: list[tuple[int, int]]
    shard: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def excerpt(text: str, terms: set[str], lines: int = 3) -> tuple[str, int, list[tuple[int, int]]]:
    """The ``lines``-line window of ``text`` with the most query terms, its first line number (1-based)
    and the character spans (within the excerpt) of the matching tokens.

    A line holds a term only if its lower-cased text contains the term as a substring (every term
    of :func:`analyse` is a lower-cased piece of the line), so one regular-expression scan of the
    document finds the few candidate lines and only those are analysed: a hit in a 20,000-line file
    costs a scan, not 20,000 analyses.
    """
    all_lines = text.split("\n")
    n = len(all_lines)
    scores: dict[int, int] = {}
    if terms:
        low = text.lower()
        pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)))
        # next_start[k]: offset where line k + 1 starts (lower() keeps every line break in place).
        next_start = list(itertools.accumulate(len(x) + 1 for x in low.split("\n")))
        candidates = sorted({bisect.bisect_right(next_start, m.start()) for m in pattern.finditer(low)})
        for ln in candidates:
            sc = len(terms.intersection(analyse(all_lines[ln])))
            if sc:
                scores[ln] = sc

    def window_score(i: int) -> int:
        return sum(scores.get(j, 0) for j in range(i, i + lines))

    last_start = max(1, n - lines + 1) - 1
    best, best_score = 0, window_score(0)
    for i in sorted({max(0, min(last_start, ln - d)) for ln in scores for d in range(lines)}):
        sc = window_score(i)
        if sc > best_score:
            best, best_score = i, sc
    ex = "\n".join(all_lines[best: best + lines])
    if len(ex) > 600:
        ex = ex[:600]
    spans = [(m.start(), m.end()) for m in _TOKEN.finditer(ex) if terms.intersection(analyse(m.group()))]
    return ex, best + 1, spans


class SearchIndex:
    """Every shard under ``directory`` (an index directory, its ``search/`` folder, or one shard)."""

    def __init__(self, directory: str | Path) -> None:
        self.tantivy = _need_tantivy()
        root = Path(directory)
        if (root / "search").is_dir():
            root = root / "search"
        shard_dirs = sorted(p for p in root.glob("shard-*") if p.is_dir()) if root.is_dir() else []
        if not shard_dirs and (root / "meta.json").exists():
            shard_dirs = [root]
        if not shard_dirs:
            raise FileNotFoundError(
                f"{directory}: no full-text index (build one with `sctool index build … --search`)")
        self.shards = []
        for d in shard_dirs:
            try:
                idx = self.tantivy.Index.open(str(d))
            except (ValueError, OSError) as exc:
                raise InvalidInputError(f"{d}: not a readable full-text shard ({exc})") from exc
            _register(self.tantivy, idx)
            self.shards.append((d.name, idx, idx.searcher()))

    @property
    def num_docs(self) -> int:
        return sum(s.num_docs for _, _, s in self.shards)

    def search(self, query: str, *, k: int = 10, lang: str | None = None, repo: str | None = None) -> list[SearchHit]:
        t = self.tantivy
        terms = list(dict.fromkeys(analyse(query)))
        if not terms:
            raise InvalidInputError(f"query {query!r} has no searchable tokens (identifiers, numbers, operators)")
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k}")
        hits: list[tuple[float, str, Any, Any]] = []
        for name, idx, searcher in self.shards:
            schema = idx.schema
            should = [(t.Occur.Should, t.Query.term_query(schema, "tokens", term)) for term in terms]
            clauses = [(t.Occur.Must, t.Query.boolean_query(should))]
            if lang:
                clauses.append((t.Occur.Must, t.Query.term_query(schema, "lang_key", lang.lower())))
            if repo:
                clauses.append((t.Occur.Must, t.Query.term_query(schema, "repo_key", repo.lower())))
            res = searcher.search(t.Query.boolean_query(clauses), limit=k, count=False)
            hits.extend((score, name, searcher, addr) for score, addr in res.hits)
        hits.sort(key=lambda h: (-h[0], h[1]))
        out = []
        tset = set(terms)
        for score, name, searcher, addr in hits[:k]:
            doc = searcher.doc(addr)

            def get(f: str, _doc: Any = doc) -> str | None:
                v = _doc.get_first(f)
                return None if v is None else str(v)

            raw = doc.get_first("content_zst")
            content = _zstd_d().decompress(raw).decode("utf-8") if raw else ""
            ex, line, spans = excerpt(content, tset)
            out.append(SearchHit(score=round(float(score), 4), id=get("doc_id") or "", repo=get("repo"),
                                 path=get("path"), license=get("license"), lang=get("lang"), excerpt=ex,
                                 excerpt_line=line, highlights=spans, shard=name))
        return out
