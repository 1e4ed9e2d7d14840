"""Full-text search: the code-aware analyser, sharding, filters and the CLI."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sctool.attribution.search import analyse, excerpt
from tests.conftest import run_cli

tantivy = pytest.importorskip("tantivy", reason="full-text search needs the optional tantivy package")


@pytest.mark.parametrize(("text", "expected"), [
    ("parseHTTPResponse", ["parsehttpresponse", "parse", "http", "response"]),
    ("read_config(path)", ["read_config", "read", "config", "path"]),
    ("a->b != c::d", ["a", "->", "b", "!=", "c", "::", "d"]),
    ("#include <stdio.h>", ["#include", "stdio", "h"]),
    ("x = 3.14 + y;", ["x", "3.14", "y"]),
    ("XMLParser2", ["xmlparser2", "xml", "parser", "2"]),
])
def test_analyser_splits_identifiers_and_keeps_operators(text, expected):
    assert analyse(text) == expected


def test_excerpt_picks_the_best_lines_and_marks_terms():
    text = "import os\n\n\ndef read_config(path):\n    return open(path).read()\n"
    ex, line, spans = excerpt(text, {"read", "config"})
    assert line in (2, 3, 4) and "def read_config" in ex
    assert [ex[a:b] for a, b in spans] == ["read_config", "read"]


def _excerpt_reference(text, terms, lines=3):
    """Analyse every line (the obvious version, slow on long files)."""
    all_lines = text.split("\n")
    scores = [len(terms.intersection(analyse(ln))) for ln in all_lines]
    best, best_score = 0, -1
    for i in range(max(1, len(all_lines) - lines + 1)):
        s = sum(scores[i: i + lines])
        if s > best_score:
            best, best_score = i, s
    return best + 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["def read_config(x):", "  return parseHTTP(x)", "", "# config READ",
                                 "x->y != z", "readConfig = 1", "Ünïcode ß ΣΑΣ", "\tconfiguration()"]),
                max_size=30),
       st.sets(st.sampled_from(["read", "config", "http", "->", "parse", "readconfig", "x", "ß"]), max_size=3),
       st.integers(1, 4))
def test_excerpt_equals_analysing_every_line(lines, terms, width):
    text = "\n".join(lines)
    assert excerpt(text, terms, width)[1] == _excerpt_reference(text, terms, width)


@pytest.fixture(scope="module")
def search_index(corpus, tmp_path_factory):
    from sctool.attribution import build_index

    d, _ = corpus
    out = tmp_path_factory.mktemp("search") / "idx"
    build_index([d / "a.parquet", d / "b.jsonl"], out, search=True, search_shards=3)
    return out


def test_shards_are_queried_together_and_filters_apply(search_index, corpus):
    from sctool.attribution.search import SearchIndex

    _, docs = corpus
    idx = SearchIndex(search_index)
    assert len(idx.shards) == 3 and idx.num_docs == len(docs)
    hits = idx.search("JSONDecodeError", k=5)
    assert hits and hits[0].path.startswith("json/") and hits[0].license == "PSF-2.0"
    assert {h.shard for h in idx.search("def", k=40)} == {"shard-000", "shard-001", "shard-002"}
    scores = [h.score for h in idx.search("getLogger handler", k=20)]
    assert scores == sorted(scores, reverse=True)
    assert all(h.repo == "python/email" for h in idx.search("message header", k=10, repo="python/email"))
    assert all(h.repo.startswith("python/") for h in idx.search("message", repo="PYTHON", k=5))
    assert idx.search("message", lang="cobol") == []


def test_index_is_smaller_than_half_the_corpus(search_index, corpus):
    _, docs = corpus
    size = sum(p.stat().st_size for p in (search_index / "search").rglob("*") if p.is_file())
    assert size < 0.5 * sum(len(t.encode()) for _, t in docs)


def test_cli_search(search_index):
    proc = run_cli("search", search_index, "class HTTPConnection", "-k", "3", check=True)
    assert "http/client.py" in proc.stdout and "[[HTTPConnection]]" in proc.stdout
    hits = json.loads(run_cli("search", search_index, "json.loads", "--json", "-k", "2", check=True).stdout)
    assert len(hits) == 2 and {"score", "excerpt", "path", "repo", "license", "highlights"} <= set(hits[0])
    proc = run_cli("search", search_index, "+ - ;")
    assert proc.returncode == 2 and "no searchable tokens" in proc.stderr
