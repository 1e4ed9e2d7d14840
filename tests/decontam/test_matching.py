"""The exact method against StarCoder's rule, the normalised method against transformed copies."""

from __future__ import annotations

import io
import keyword
import random
import tokenize
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sctool.decontam import BenchmarkItem, DecontamIndex, NormalisedParams, load_benchmarks
from sctool.decontam.benchmarks import load_humaneval
from sctool.errors import ConfigError


@pytest.fixture(scope="module")
def items(bench_specs: list[str]) -> list[BenchmarkItem]:
    return load_benchmarks(bench_specs)


def flagged(index: DecontamIndex, texts: list[str]) -> list[bool]:
    return [len(m) > 0 for m in index.scan(pl.Series(texts, dtype=pl.String)).to_list()]


def test_exact_reproduces_starcoder_on_the_public_set(items: list[BenchmarkItem], public_set: list[dict]) -> None:
    """The dataset's `starcoder_exact_match` column was computed with BigCode's own logic."""
    idx = DecontamIndex(items, method="exact")
    got = flagged(idx, [r["text"] for r in public_set])
    assert got == [r["starcoder_exact_match"] for r in public_set]


def test_default_meets_the_quality_targets(items: list[BenchmarkItem], public_set: list[dict]) -> None:
    got = flagged(DecontamIndex(items), [r["text"] for r in public_set])
    pos = [g for g, r in zip(got, public_set) if r["contaminated"]]
    neg = [g for g, r in zip(got, public_set) if not r["contaminated"]]
    # 0.95 since rarity weighting: every miss must be a solution-only copy (no prompt, docstring,
    # description or tests), the idiomatic ones the weighting does not count as evidence.
    assert sum(pos) / len(pos) >= 0.95
    assert sum(neg) / len(neg) <= 0.01
    missed = [r for g, r in zip(got, public_set) if r["contaminated"] and not g]
    assert all(set(r["content"]) <= {"solution", "partial_solution"} for r in missed), missed


PATTERNS = ["Return the sum", "def f(x):\n    return x", "ÉCOLE über", "a\r\nb"]


@given(st.lists(st.one_of(st.sampled_from(PATTERNS), st.text(max_size=6)), max_size=6), st.randoms())
def test_exact_equals_python_lower_in_lower(parts: list[str], rnd: random.Random) -> None:
    # Randomly re-case the document; the match is case-insensitive like `p.lower() in t.lower()`.
    doc = "".join(parts)
    doc = "".join(c.upper() if rnd.random() < 0.5 else c for c in doc)
    its = [BenchmarkItem("b", str(i), exact=[("p", p)]) for i, p in enumerate(PATTERNS)]
    idx = DecontamIndex(its, method="exact")
    found = {m["item"] for m in idx.scan(pl.Series([doc])).to_list()[0]}
    expected = {str(i) for i, p in enumerate(PATTERNS) if p.lower() in doc.lower()}
    assert found == expected


def rename_identifiers(src: str, protected: set[str]) -> str:
    """Consistently rename every non-keyword, non-builtin NAME token (what a copier might do)."""
    import builtins

    names: dict[str, str] = {}
    out = []
    prev = None
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        s = tok.string
        if (tok.type == tokenize.NAME and not keyword.iskeyword(s) and not hasattr(builtins, s)
                and s not in protected and not (prev and prev.string == ".")):
            s = names.setdefault(s, f"v{len(names)}")
        out.append((tok.type, s))
        prev = tok
    return tokenize.untokenize(out)


@pytest.fixture(scope="module")
def humaneval(bench: Path) -> list[BenchmarkItem]:
    return load_humaneval(bench / "humaneval" / "HumanEval.jsonl.gz")


@pytest.mark.parametrize("task", [0, 12, 31, 88, 120])
def test_normalised_catches_what_exact_misses(humaneval: list[BenchmarkItem], task: int) -> None:
    it = humaneval[task]
    doc = dict(it.prose)["docstring"]
    sol = dict(it.code)["solution"]
    exact = DecontamIndex(humaneval, method="exact")
    both = DecontamIndex(humaneval)
    variants = {
        "renamed_solution": "def g(a, b=None):\n" + rename_identifiers(sol, set()),
        "reindented_crlf": "def g(a):\r\n" + sol.replace("    ", "  ").replace("\n", "\r\n"),
        "docstring_as_comment": "".join(f"# {ln.strip()}\n" for ln in doc.splitlines()) + "pass\n",
        "docstring_in_markdown": "## Task\n\n" + " ".join(doc.split()) + "\n\n```python\n```\n",
    }
    for name, text in variants.items():
        hits = both.scan(pl.Series([text])).to_list()[0]
        assert any(h["item"] == it.item_id and h["method"] == "normalised" for h in hits), name
        if name != "docstring_in_markdown":
            assert not any(h["item"] == it.item_id for h in exact.scan(pl.Series([text])).to_list()[0]), name


def test_unrelated_code_with_the_same_name_is_clean(humaneval: list[BenchmarkItem]) -> None:
    text = ('def has_close_elements(numbers, threshold):\n    """Say whether the list has two close values."""\n'
            "    s = sorted(numbers)\n    return any(b - a < threshold for a, b in zip(s, s[1:]))\n")
    assert flagged(DecontamIndex(humaneval), [text]) == [False]


def test_threshold_is_configurable(humaneval: list[BenchmarkItem]) -> None:
    sol = dict(humaneval[0].code)["solution"]
    half = "\n".join(sol.splitlines()[:4])
    # Unit weights: this checks the threshold's mechanics (with the IDF table, the idiomatic loop
    # head this half copies weighs too little to count at any threshold).
    strict = DecontamIndex(humaneval, method="normalised", params=NormalisedParams(threshold=1.0, idf="none"))
    lax = DecontamIndex(humaneval, method="normalised", params=NormalisedParams(threshold=0.2, idf="none"))
    assert flagged(strict, [half]) == [False]
    assert flagged(lax, [half]) == [True]
    score = lax.scan(pl.Series([half])).to_list()[0][0]["score"]
    assert 0.2 <= score < 1.0


@pytest.mark.parametrize("params", [NormalisedParams(threshold=0.0), NormalisedParams(threshold=1.2),
                                    NormalisedParams(code_ngram=0), NormalisedParams(min_ngrams=0)])
def test_bad_parameters_are_config_errors(humaneval: list[BenchmarkItem], params: NormalisedParams) -> None:
    with pytest.raises(ConfigError):
        DecontamIndex(humaneval[:3], params=params)


def test_results_do_not_depend_on_threads(items: list[BenchmarkItem], public_set: list[dict]) -> None:
    idx = DecontamIndex(items)
    texts = pl.Series([r["text"] for r in public_set] + [None], dtype=pl.String)
    a = idx.scan(texts, threads=1).to_list()
    b = idx.scan(texts, threads=2).to_list()
    assert a == b and a[-1] == []


def test_partial_matches_of_short_pieces_need_min_matched() -> None:
    piece = ("def compare(game, guess):\n    out = [abs(x - y) for x, y in zip(game, guess)]\n"
             "    return sorted(out, reverse=True)[: len(game) // 2]\n")
    item = BenchmarkItem("b", "short", code=[("solution", piece)])
    partial = "deltas = [abs(a - b) for a, b in zip(xs, ys)]\n"  # 10 of the 37 n-grams
    # Unit weights (idf="none"): min_matched counts n-grams, as it did before rarity weighting.
    strict = DecontamIndex([item], method="normalised", params=NormalisedParams(threshold=0.25, idf="none"))
    lax = DecontamIndex([item], method="normalised", params=NormalisedParams(threshold=0.25, min_matched=1,
                                                                              idf="none"))
    assert flagged(lax, [partial]) == [True]
    assert flagged(strict, [partial]) == [False]
    # A whole copy of a short piece always counts.
    assert flagged(strict, [piece.replace("game", "g").replace("guess", "h")]) == [True]
