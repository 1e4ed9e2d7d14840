"""Decoded views: the native decoder against the pure-Python statement of its rules."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from sctool import _native
from tests.decontam.reference_decode import decode_views

IDX = _native.DecontamIndex([], [(0, "prose", "unused piece of prose text for the index only")])

CODE = 'def add(a, b):\n    """Add two numbers."""\n    return a + b\n'


def native(text: str) -> list[tuple[str, str, list[tuple[int, int, int]]]]:
    return [(p, t, [tuple(s) for s in segs]) for p, t, segs in IDX.views(text)]


# Fragments that exercise every decoder and the seams between them.
FRAGMENTS = ['"', "'", '"""', "'''", "\\", "\\n", "\\t", '\\"', "\\u00e9", "\\ud83d\\ude00", "\\ud800", "\\x41",
             "\\q", "&lt;", "&gt;", "&amp;", "&#39;", "&#x27;", "&#65;", "&#+65;", "&bogus;", "<pre>", "</pre>",
             "<br>", "<span class='k'>", "</span>", "< b", "@@ -1 +1 @@\n", "+", "-", "--- a\n", "+++ b\n", " ",
             "\n", "# ", "#", "// ", ">>> ", "... ", "> ", ", ", " + ", "return ", "def ", "):\n", "é", "中",
             "x = 1", CODE, json.dumps(CODE), "abcdefghijklmnopqrstuvwxyz"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30))
def test_native_views_equal_reference(parts: list[str]) -> None:
    text = "".join(parts)
    assert native(text) == decode_views(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_native_views_equal_reference_on_any_text(text: str) -> None:
    assert native(text) == decode_views(text)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30))
def test_segments_point_into_the_document(parts: list[str]) -> None:
    text = "".join(parts)
    n = len(text.encode())
    total = 0
    for _, vt, segs in native(text):
        total += len(vt.encode())
        assert segs == sorted(segs, key=lambda g: g[0])
        for _, s, e in segs:
            assert 0 <= s <= e <= n
    assert total <= 3 * n


def test_containers_yield_the_code() -> None:
    notebook = json.dumps({"cells": [{"cell_type": "code", "source": CODE.splitlines(keepends=True)}]}, indent=1)
    jsonl = json.dumps({"instruction": "Add numbers", "output": CODE})
    html = "<pre><code>" + CODE.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;") + "</code></pre>"
    program = "SOURCE = " + repr(CODE) + "\n"
    diff = "--- a/m.py\n+++ b/m.py\n@@ -0,0 +1,3 @@\n" + "".join("+" + ln for ln in CODE.splitlines(True))
    for doc in (notebook, jsonl, html, program, diff, json.dumps({"page": html})):
        assert any(CODE in t for _, t, _ in native(doc)), doc
