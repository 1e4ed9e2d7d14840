"""Signature anchors: a benchmark function found by its own name, parameter names and body; and the
offsets of matches inside decoded containers."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest

from sctool import _native
from sctool.decontam import BenchmarkItem, DecontamIndex, NormalisedParams
from sctool.decontam.benchmarks import def_header, load_humaneval

# An idiomatic solution: every n-gram is common code, so n-gram evidence alone never removes it.
SOLUTION = "def specified_element(nums, N):\n    result = [i[N] for i in nums]\n    return result\n"
ITEM = BenchmarkItem("mbpp", "49", code=[("solution", SOLUTION)])
FILLER = "import os\n\n\ndef helper(path):\n    return os.path.join(path, 'x')\n\n\n"


def methods(texts: list[str], item: BenchmarkItem = ITEM, **kw: object) -> list[set[str]]:
    idx = DecontamIndex([item], method="normalised", params=NormalisedParams(**kw))  # type: ignore[arg-type]
    return [{m["method"] for m in ms} for ms in idx.scan(pl.Series(texts, dtype=pl.String)).to_list()]


def test_solution_only_copy_is_found_by_its_own_signature() -> None:
    copies = [
        FILLER + SOLUTION,
        FILLER + SOLUTION.replace("    ", "\t"),                                   # re-indented
        FILLER + SOLUTION.replace(":\n", ':\n    """Pick column N."""\n', 1),       # docstring added
        FILLER + SOLUTION.replace("[i[N]", "[ i[ N ]").replace("\n    return", "  # pick\n    return"),
        "class Helpers:\n" + "".join("    " + ln for ln in SOLUTION.replace("(nums", "(self, nums")
                                     .splitlines(True)),                            # pasted into a class
        json.dumps({"instruction": "Pick a column", "output": SOLUTION}),            # in a JSONL record
    ]
    assert all("signature" in m for m in methods(copies)), methods(copies)


def test_same_name_other_body_or_other_names_is_not_evidence() -> None:
    clean = [
        FILLER + "def specified_element(nums, N):\n    return [row[N] for row in nums]\n",   # own body
        FILLER + "def pick(nums, N):\n    result = [i[N] for i in nums]\n    return result\n",  # own name
        FILLER + "def specified_element(rows, k):\n    result = [i[k] for i in rows]\n    return result\n",
        FILLER + "def specified_element(nums, N):\n    result = []\n",                   # too little body
    ]
    assert methods(clean) == [set()] * len(clean)


def test_short_or_common_names_make_no_anchor() -> None:
    """`add`/`fib`-grade names are no evidence, however exact the copy."""
    sol = "def add(x, y):\n    total = x + y\n    total = total * 1\n    return total\n"
    item = BenchmarkItem("b", "1", code=[("solution", sol)])
    assert "signature" not in methods([FILLER + sol], item)[0]
    idx = _native.DecontamIndex([], [(0, "code", sol)])
    assert idx.stats()["anchors"] == 0 and idx.stats()["anchors_dropped"] == 1


def test_partial_prefix_needs_the_header_and_eight_body_tokens() -> None:
    sol = ("def find_remainder(arr, lens, n):\n    mul = 1\n    for i in range(lens):\n"
           "        mul = (mul * (arr[i] % n)) % n\n    return mul % n\n")
    item = BenchmarkItem("mbpp", "471", code=[("solution", sol)])
    lines = sol.splitlines(True)
    two = FILLER + "".join(lines[:3]) + "\n\nx = 1\n"   # header + 11 body tokens
    one = FILLER + "".join(lines[:2]) + "\n\nx = 1\n"   # header + 3 body tokens
    assert methods([two, one], item) == [{"signature"}, set()]


def test_a_key_shared_by_many_items_is_dropped() -> None:
    test = "def check(candidate):\n    assert candidate([1, 2, 3]) == 6\n    assert candidate([]) == 0\n"
    items = [BenchmarkItem("b", str(k), code=[("tests", test.replace("6", str(k + 10)))]) for k in range(6)]
    idx = DecontamIndex(items, method="normalised")
    assert idx.stats()["anchors"] == 0


def test_common_signature_in_the_rarity_table_makes_no_anchor(tmp_path) -> None:
    sol = "def merge_dicts(a, b):\n    d = a.copy()\n    d.update(b)\n    return d\n"
    builder = _native.IdfBuilder(code_ngram=6, prose_ngram=4)
    builder.add(pl.Series([f"# file {k}\n{sol}" for k in range(30)]).to_arrow())
    table = builder.finish(rare_df=20)
    assert _native.idf_info(table)["def_entries"] == 1
    path = tmp_path / "idf.bin"
    path.write_bytes(table)
    item = BenchmarkItem("b", "1", code=[("solution", sol)])
    assert methods([FILLER + sol], item, idf="none") == [{"signature", "normalised"}]
    assert "signature" not in methods([FILLER + sol], item, idf=str(path))[0]


def test_humaneval_function_piece_is_header_plus_solution(bench) -> None:
    prompt = 'from typing import List\n\n\ndef helper(x):\n    return x\n\n\ndef below_zero(operations: List[int],\n               strict: bool = False) -> bool:\n    """Doc."""\n'
    assert def_header(prompt, "below_zero") == ("def below_zero(operations: List[int],\n"
                                                "               strict: bool = False) -> bool:")
    assert def_header(prompt, "missing") == "def below_zero(operations: List[int],\n" \
                                            "               strict: bool = False) -> bool:"
    assert def_header("x = 1\n", None) == ""
    items = load_humaneval(bench / "humaneval" / "HumanEval.jsonl.gz")
    he16 = next(it for it in items if it.item_id == "HumanEval/16")
    (name, fn), = he16.signature
    assert name == "function" and fn.startswith("def count_distinct_characters(string: str) -> int:\n")
    assert [n for n, _ in he16.code] == ["solution", "tests"]
    doc = FILLER + "def count_distinct_characters(string: str) -> int:\n    return len(set(string.lower()))\n"
    found = DecontamIndex(items).scan(pl.Series([doc])).to_list()[0]
    assert {(m["item"], m["method"], m["part"]) for m in found} == {("HumanEval/16", "signature", "function")}


@pytest.mark.parametrize("wrap", ["jsonl", "html", "diff"])
def test_decoded_match_offsets_are_the_copys_own(wrap: str) -> None:
    """A match inside a container points at its own characters, not the whole container."""
    item = BenchmarkItem("mbpp", "49", code=[("solution", SOLUTION)])
    body = "Some words before the code. " * 20 + "\n"
    if wrap == "jsonl":
        doc = json.dumps({"id": 3, "text": body + FILLER + SOLUTION + body})
    elif wrap == "html":
        code = "".join(f'<span class="n">{w}</span>' if w.strip() else w
                       for w in re.split(r"(\s+)", FILLER + SOLUTION))
        doc = "<html><body><p>" + body + "</p><pre><code>" + code + "</code></pre><p>" + body + "</p></body></html>"

    else:
        lines = (body + FILLER + SOLUTION + body).splitlines(True)
        doc = f"--- a/m.py\n+++ b/m.py\n@@ -0,0 +1,{len(lines)} @@\n" + "".join("+" + ln for ln in lines)
    (m,) = DecontamIndex([item]).scan(pl.Series([doc])).to_list()[0]
    assert m["method"] == "signature" and m["view"] == {"jsonl": "strings", "html": "html", "diff": "diff"}[wrap]
    own = doc[m["doc_start"]:m["doc_end"]]
    if wrap == "html":
        assert own.startswith('def</span> <span class="n">specified_element'), own
        assert "Some words" not in own and "helper" not in own, own
    else:
        assert own.startswith("def specified_element(nums, N):"), own
        assert len(own) < len(SOLUTION) + 20, own
