"""Evidence over idioms, default calibration, exact-method parity and the audit trail of removals."""

from __future__ import annotations

import json
import sysconfig
from dataclasses import fields
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sctool import _native
from sctool.decontam import BenchmarkItem, DecontamIndex, NormalisedParams
from sctool.decontam.idf import build_idf, load_idf
from sctool.errors import ConfigError
from sctool.stages.base import Runtime
from sctool.stages.decontam import DecontamConfig, run_decontam
from tests.conftest import run_cli

# A solution whose string literals and numbers make every n-gram rare: its containment in a
# document is exactly the share of its lines copied (the lines are alike in length).
LINES = [f'    table["{w}_{k}"] = mix({k * 37 + 11}, "{w}", {k * 13 + 5})' for k, w in
         enumerate(["quartz", "zephyr", "lumen", "fjord", "krypton", "nimbus", "ocelot", "pylon", "quasar",
                    "rhombus", "sprocket", "tundra", "umbra", "vortex", "wombat", "xylem", "yonder", "zenith"])]
SOLUTION = "def build(table):\n" + "\n".join(LINES) + "\n    return table\n"
ITEM = BenchmarkItem("bench", "rare/1", exact=[("solution", SOLUTION)], code=[("solution", SOLUTION)])


def copy_of(share: float) -> str:
    k = round(len(LINES) * share)
    return "import os\n\n\ndef build(table):\n" + "\n".join(LINES[:k]) + "\n\n\nprint(os.sep)\n"


def flagged(idx: DecontamIndex, texts: list[str]) -> list[bool]:
    return [len(m) > 0 for m in idx.scan(pl.Series(texts, dtype=pl.String)).to_list()]


def test_default_threshold_is_half_the_pieces_evidence() -> None:
    """A 70% copy is removed and a 30% copy kept: moving the default threshold (to 0.9 or 0.2)
    fails here, in the index defaults and in the stage config alike."""
    idx = DecontamIndex([ITEM], method="normalised")
    scores = [m[0]["score"] if m else 0.0 for m in idx.scan(pl.Series([copy_of(0.7), copy_of(0.3)])).to_list()]
    assert 0.6 < scores[0] < 0.8 and scores[1] == 0.0
    assert flagged(idx, [copy_of(0.7), copy_of(0.3), copy_of(0.55), copy_of(0.45)]) == [True, False, True, False]
    cfg = DecontamConfig()
    stage_defaults = {f.name: getattr(cfg, f.name) for f in fields(cfg)}
    for f in fields(NormalisedParams):
        assert stage_defaults[f.name] == getattr(NormalisedParams(), f.name), f.name
    assert cfg.params() == NormalisedParams()


def test_cli_default_threshold_removes_a_70_percent_copy(tmp_path: Path) -> None:
    bench = tmp_path / "b.jsonl"
    bench.write_text(json.dumps({"sol": SOLUTION}) + "\n")
    data = tmp_path / "in.jsonl"
    docs = {"seventy": copy_of(0.7), "thirty": copy_of(0.3), "clean": "print('hello')\n"}
    data.write_text("".join(json.dumps({"id": k, "content": v}) + "\n" for k, v in docs.items()))
    out = tmp_path / "out"
    run_cli("decontam", data, "-o", out, "--benchmark", f"jsonl:sol:code={bench}", "--quiet", check=True)
    removed = pl.read_parquet(out / "removed" / "*.parquet")
    assert removed["id"].to_list() == ["seventy"]
    proc = run_cli("decontam", "--explain", "seventy", out, check=True)
    assert "method=normalised" in proc.stdout and "quartz_0" in proc.stdout and "| " in proc.stdout
    bad = run_cli("decontam", "--explain", "nope", out)
    assert bad.returncode != 0 and "no removed document" in bad.stderr and "Traceback" not in bad.stderr


def test_removed_rows_carry_offsets_and_both_excerpts(tmp_path: Path) -> None:
    notebook = json.dumps({"cells": [{"cell_type": "code", "source": SOLUTION.splitlines(keepends=True)}]}, indent=1)
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({"id": "nb", "content": notebook}) + "\n")
    bench = tmp_path / "b.jsonl"
    bench.write_text(json.dumps({"sol": SOLUTION}) + "\n")
    cfg = DecontamConfig(benchmarks=(f"jsonl:sol:code={bench}",), method="normalised")
    m = run_decontam([data], tmp_path / "out", cfg, Runtime(quiet=True))
    removed = pl.read_parquet(tmp_path / "out" / "removed" / "*.parquet")
    (hit,) = removed["matches"].to_list()[0]
    assert hit["view"] == "strings" and hit["score"] == pytest.approx(1.0)
    assert "quartz_0" in notebook[hit["doc_start"]:hit["doc_end"]]
    assert "quartz_0" in hit["doc_excerpt"] and hit["bench_excerpt"] == SOLUTION
    assert m.extra["benchmarks"]["b.sol"]["items"] == ["0"]


def test_idioms_do_not_decide() -> None:
    """merge_dict-grade code matches a clean file only without the rarity table."""
    idiom = "def merge(d1, d2):\n    d = d1.copy()\n    d.update(d2)\n    return d\n"
    item = BenchmarkItem("b", "idiom", code=[("solution", idiom)])
    clean = "import socks\n\n\ndef merge_dict(a, b):\n    d = a.copy()\n    d.update(b)\n    return d\n"
    assert flagged(DecontamIndex([item], params=NormalisedParams(idf="none")), [clean]) == [True]
    assert flagged(DecontamIndex([item]), [clean]) == [False]
    # A distinctive solution is still found whole and renamed.
    assert flagged(DecontamIndex([ITEM]), [SOLUTION.replace("table", "t")]) == [True]


SITE = Path(sysconfig.get_paths()["purelib"])
KNOWN_FALSE = [("sympy/core/mul.py", "174"), ("sympy/polys/distributedmodules.py", "HumanEval/43"),
               ("sockshandler.py", "263"), ("numpy/_core/_internal.py", "HumanEval/13")]


@pytest.mark.parametrize(("rel", "item"), KNOWN_FALSE)
def test_known_false_removals_stay(rel: str, item: str, bench_specs: list[str]) -> None:
    from sctool.decontam import load_benchmarks

    path = SITE / rel
    if not path.exists():
        pytest.skip(f"{rel} is not installed in this environment")
    items = [it for it in load_benchmarks(bench_specs) if it.item_id == item]
    text = path.read_text(encoding="utf-8")
    assert flagged(DecontamIndex(items, params=NormalisedParams(idf="none", decode=False, min_ngrams=5)),
                   [text]) == [True], "no longer reproduces the reported false removal"
    assert flagged(DecontamIndex(items), [text]) == [False]


WRAPS = [lambda t: json.dumps({"output": t}), lambda t: "<pre>" + t.replace("<", "&lt;") + "</pre>", lambda t: t]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["Return the sum of a and b.", SOLUTION, "x < y and 'q'\n"]), st.sampled_from(WRAPS),
       st.text(max_size=20))
def test_exact_method_is_starcoders_rule_on_any_container(pat: str, wrap, noise: str) -> None:
    """--method exact neither decodes nor weighs: `p.lower() in t.lower()` over the stored text."""
    doc = noise + wrap(pat) + noise
    its = [BenchmarkItem("b", "0", exact=[("p", pat)])]
    found = bool(DecontamIndex(its, method="exact").scan(pl.Series([doc])).to_list()[0])
    assert found == (pat.lower() in doc.lower())


def test_build_idf_and_bad_tables(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    body = "for i in range(len(values)):\n    total = total + values[i] * weights[i]\n"
    for k in range(6):
        (corpus / f"m{k}.py").write_text(f"def f{k}(values, weights):\n    total = {k}\n{body}    return total\n")
    (corpus / "blob.bin").write_bytes(b"\x00\x01binary")
    info = build_idf([corpus], tmp_path / "t.bin", rare_df=2, code_ngram=6, prose_ngram=4)
    assert info["files"] == 6 and info["skipped"] == {"binary": 1} and info["code_entries"] > 0
    assert load_idf(str(tmp_path / "t.bin")) == (tmp_path / "t.bin").read_bytes()
    (tmp_path / "junk.bin").write_bytes(b"not a table")
    with pytest.raises(ConfigError, match=r"junk\.bin"):
        load_idf(str(tmp_path / "junk.bin"))
    # A table of longer sub-grams than the index's n-grams is refused with the reason.
    long = build_idf([corpus], tmp_path / "long.bin", rare_df=2, code_ngram=14, prose_ngram=4)
    assert long["code_ngram"] == 14
    with pytest.raises(ConfigError, match="build-idf"):
        DecontamIndex([ITEM], params=NormalisedParams(idf=str(tmp_path / "long.bin")))


def test_builtin_table_is_small_and_well_formed() -> None:
    data = load_idf("builtin")
    assert data is not None and len(data) < 4_000_000
    info = _native.idf_info(data)
    assert (info["code_ngram"], info["prose_ngram"]) == (6, 4) and info["files"] > 10_000


def test_cli_build_idf(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    for k in range(4):
        (corpus / f"m{k}.py").write_text(f"def f{k}(xs):\n    return [x * 2 for x in xs if x]\n")
    proc = run_cli("decontam", "build-idf", corpus, "-o", tmp_path / "t.bin", "--rare-df", "1", check=True)
    assert "4 files" in proc.stdout
    info = _native.idf_info((tmp_path / "t.bin").read_bytes())
    assert (info["code_ngram"], info["prose_ngram"], info["rare_df"]) == (6, 4, 1) and info["code_entries"] > 0
    bad = run_cli("decontam", "build-idf", "-o", tmp_path / "u.bin")
    assert bad.returncode != 0 and "usage: sctool decontam build-idf" in bad.stderr
