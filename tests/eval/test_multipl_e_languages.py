"""Every language we can run here, against hand-translated solutions and MultiPL-E's criterion.

For each language: the correct translation of 20 HumanEval problems passes in the sandbox, a wrong
body and an empty body fail, and the transcribed MultiPL-E referee (plain subprocess, MultiPL-E's
command lines and rules; :mod:`sctool.eval.multipl_e_referee`) gives the same pass/fail verdict on
every one of those programs. A language whose toolchain is missing is skipped, saying which package.

Compiled languages (their compilers take seconds per program on a small machine) check their first
6 problems here; ``SCTOOL_MULTIPL_E_FULL=1`` checks all 20, as ``benches/bench_eval.py`` always does.
"""

from __future__ import annotations

import os

import pytest

from sctool.eval import multipl_e as me
from sctool.eval.multipl_e_languages import LANGUAGES, detect_toolchain
from sctool.eval.multipl_e_referee import judge
from tests.eval.multipl_e_solutions import MULTIPL_E, TRANSLATED, cases, load_solutions

SLOW = {"cpp", "java", "ts", "rs", "go"}
FULL = os.environ.get("SCTOOL_MULTIPL_E_FULL") == "1"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_translations_cover_20_problems_of_the_data(lang: str) -> None:
    sols = load_solutions(lang)
    assert len(sols) >= 20
    assert all(s["correct"].strip() and s["wrong"].strip() and s["correct"] != s["wrong"] for s in sols.values())
    if (MULTIPL_E / f"humaneval-{lang}.jsonl").is_file():
        probs = me.load_problems(MULTIPL_E, lang)
        assert set(sols) <= set(probs), sorted(set(sols) - set(probs))


@pytest.mark.slow
@pytest.mark.parametrize("lang", TRANSLATED)
def test_sandbox_verdicts_match_expectations_and_the_referee(lang: str) -> None:
    if not (MULTIPL_E / f"humaneval-{lang}.jsonl").is_file():
        pytest.skip(f"MultiPL-E data not available: {MULTIPL_E}")
    spec = LANGUAGES[lang]
    tools = detect_toolchain(spec)
    if not tools.available:
        pytest.skip(f"{spec.name} toolchain missing: {tools.reason}")
    probs = me.load_problems(MULTIPL_E, lang)
    todo = cases(lang, None if FULL or lang not in SLOW else 6)
    programs = [probs[name].program(comp) for name, _case, comp in todo]
    verdicts = me.run_language_programs(spec, tools, programs, limits=me.limits_for(spec))
    unexpected = [
        (name, case, v.status, v.detail, v.stderr[-300:])
        for (name, case, _), v in zip(todo, verdicts)
        if v.passed != (case == "correct")
    ]
    assert not unexpected, unexpected
    # correct, wrong and empty all occur, so agreement below is not agreement on one verdict
    assert {v.passed for v in verdicts} == {True, False}
    differing = []
    for (name, case, _), prog, v in zip(todo, programs, verdicts):
        ref = judge(lang, prog)
        if ref.passed != v.passed:
            differing.append((name, case, v.status, ref.status, ref.exit_code))
    assert differing == []
