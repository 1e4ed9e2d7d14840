"""The Rust statistics against a pure-Python reference of The Stack's definitions."""

from __future__ import annotations

import math
from html.parser import HTMLParser

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sctool import _native
from sctool.errors import ConfigError, InvalidInputError
from sctool.filters import text_stats


def ref_stats(t: str) -> dict[str, float]:
    """The Stack's statistics, written the obvious way in Python."""
    lines = t.splitlines()
    n = len(t)
    return {
        "n_bytes": len(t.encode("utf-8")),
        "n_chars": n,
        "n_lines": len(lines),
        "max_line_length": max([0] + [len(x) for x in lines]),
        "avg_line_length": sum(len(x) for x in lines) / len(lines) if lines else 0.0,
        "alphanum_fraction": sum(c.isalpha() or c.isnumeric() for c in t) / n if n else 0.0,
        "alpha_fraction": sum(c.isalpha() for c in t) / n if n else 0.0,
        "whitespace_fraction": sum(c.isspace() for c in t) / n if n else 0.0,
        "xml_header": "<?xml version=" in t[:100],
    }


def ref_marker(t: str, markers: list[str], lines: int = 5, max_bytes: int = 4096) -> int:
    head = b"\n".join(t.encode("utf-8")[:max_bytes].split(b"\n")[:lines]).lower() if lines else b""
    best = None
    for i, m in enumerate(markers):
        pos = head.find(m.encode("utf-8").lower())
        if pos >= 0 and (best is None or (pos, i) < best):
            best = (pos, i)
    return -1 if best is None else best[1]


TRICKY = list("ab Z09_ \t\r\n\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029\u00a0\u3000éßİK٣½\u0301中😀<?xml version=")
texts = st.one_of(st.text(), st.text(alphabet=st.sampled_from(TRICKY)), st.lists(
    st.sampled_from(["<?xml version=", "\r\n", "x" * 50, " ", "é", "\n"]), max_size=8).map("".join))


def check(docs: list[str]) -> None:
    df = text_stats(docs)
    for t, row in zip(docs, df.iter_rows(named=True)):
        ref = ref_stats(t)
        for k, v in ref.items():
            if isinstance(v, float):
                assert math.isclose(row[k], v, rel_tol=1e-12, abs_tol=1e-12), (k, t, row[k], v)
            else:
                assert row[k] == v, (k, repr(t), row[k], v)


@given(st.lists(texts, max_size=8))
def test_stats_match_python_reference(docs: list[str]) -> None:
    check(docs)


def test_stats_known_cases() -> None:
    check(["", "\n", "a\r\nb", "a\rb\n\n", "x" * 1001, "Ⅻ½٣", "\u2028", "<?xml version='1.0'?>"])


@given(st.text(alphabet=st.sampled_from(list("ab\n DO NOT EDIT generated é")), max_size=200),
       st.integers(0, 4))
def test_generated_marker_matches_reference(t: str, lines: int) -> None:
    markers = ["do not edit", "generated", "é"]
    _, _, flags = _native.text_stats(pl.Series([t]), generated_markers=markers, marker_lines=lines)
    assert flags[0, 1] == ref_marker(t, markers, lines)


def test_null_documents_give_null_stats() -> None:
    df = text_stats(pl.Series([None, "ab"], dtype=pl.String))
    assert df.row(0) == (None,) * df.width
    assert df["n_chars"][1] == 2


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(InvalidInputError):
        text_stats(pl.Series([1, 2]))
    with pytest.raises(ConfigError):
        _native.text_stats(pl.Series(["a"]), generated_markers=[""])


class _Visible(HTMLParser):
    """Reference: text outside script/style, one character per character reference."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.parts: list[str] = []
        self.raw = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.raw += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.raw = max(0, self.raw - 1)

    def handle_data(self, data):
        if not self.raw:
            self.parts.append(data)

    def handle_entityref(self, name):
        self.parts.append("&")

    def handle_charref(self, name):
        self.parts.append("&")


def ref_visible(html: str) -> int:
    p = _Visible()
    p.feed(html)
    p.close()
    return len(" ".join("".join(p.parts).split()))


words = st.text(alphabet=st.sampled_from(list("ab Z9 \t\n\u3000é>\"'=")), max_size=12)
attr = st.tuples(st.sampled_from(["id", "class", "title"]), st.text(alphabet=st.sampled_from(list("ab >")),
                                                                     max_size=5))


@st.composite
def html_docs(draw, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["text", "elem", "raw", "comment", "ref"] if depth < 3 else ["text", "ref"]))
        if kind == "text":
            parts.append(draw(words))
        elif kind == "ref":
            parts.append(draw(st.sampled_from(["&amp;", "&#39;", "&lt;", "&#x27;"])))
        elif kind == "comment":
            parts.append(f"<!--{draw(words)}-->")
        elif kind == "raw":
            tag = draw(st.sampled_from(["script", "style", "SCRIPT"]))
            parts.append(f"<{tag}>{draw(words).replace('<', '')}</{tag}>")
        else:
            tag = draw(st.sampled_from(["p", "div", "b", "span", "a"]))
            attrs = "".join(f' {k}="{v}"' for k, v in draw(st.lists(attr, max_size=2)))
            parts.append(f"<{tag}{attrs}>{draw(html_docs(depth + 1))}</{tag}>")
    return "".join(parts)


@given(st.lists(html_docs(), max_size=5))
def test_html_visible_text_matches_htmlparser(docs: list[str]) -> None:
    got = _native.html_visible_chars(pl.Series(docs, dtype=pl.String)) if docs else np.zeros(0)
    assert [int(x) for x in got] == [ref_visible(d) for d in docs]


@pytest.mark.parametrize(
    ("src", "syntax", "expected"),
    [
        ("x = 1  # note\n", 1, 6),
        ('def f():\n    """Doc."""\n    return "#"\n', 1, 10),
        ("int a; /* b */ // c\n", 2, 7 + 4),
        ('s = "/* no */";\n', 2, 0),
        ("select 1; -- x\n", 3, 4),
        ("<p><!-- c --></p>", 4, 10),
        ("anything # here", 0, 0),
    ],
)
def test_comment_chars(src: str, syntax: int, expected: int) -> None:
    got = _native.comment_chars(pl.Series([src]), np.array([syntax], dtype=np.uint8))
    assert int(got[0]) == expected


def test_comment_chars_length_mismatch_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="2 syntax codes for 1 documents"):
        _native.comment_chars(pl.Series(["a"]), np.array([1, 1], dtype=np.uint8))
