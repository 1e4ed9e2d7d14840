"""Harness self-checks: canonical solutions pass, empty and wrong completions fail, pass@k is the
estimator over the verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from sctool.eval.infill import score_infill
from sctool.eval.passk import pass_at_k
from sctool.eval.problems import load_humaneval, load_infilling, load_mbpp, resolve_infilling_path
from sctool.eval.samples import Sample
from sctool.eval.sandbox import SandboxConfig
from sctool.eval.score import score_samples

SANDBOX = SandboxConfig(workers=2, timeout_s=10.0)


def test_humaneval_canonical_solutions_score_1(humaneval_path: Path) -> None:
    problems = load_humaneval(humaneval_path)
    samples = [Sample(p.task_id, p.canonical_solution) for p in problems.values()]
    report = score_samples(problems, samples, sandbox=SANDBOX, ks=(1,))
    failed = [(s.task_id, s.result.detail) for s in report.scored if not s.result.passed]
    assert failed == []
    assert report.scores == {"pass@1": 1.0}
    assert report.missing_tasks == []


def test_humaneval_empty_completions_score_0(humaneval_path: Path) -> None:
    problems = dict(list(load_humaneval(humaneval_path).items())[:40])
    report = score_samples(problems, [Sample(t, "") for t in problems], sandbox=SANDBOX, ks=(1,))
    assert report.scores["pass@1"] == 0.0
    # all empty programs are identical per problem, never shared across problems
    assert report.unique_programs == len(problems)


def test_humaneval_wrong_completions_score_0(humaneval_path: Path) -> None:
    problems = dict(list(load_humaneval(humaneval_path).items())[:40])
    report = score_samples(problems, [Sample(t, "    return None\n") for t in problems], sandbox=SANDBOX, ks=(1,))
    assert report.scores["pass@1"] == 0.0
    assert report.status_counts["failed"] == 40


def test_pass_at_k_over_mixed_samples(humaneval_path: Path) -> None:
    problems = dict(list(load_humaneval(humaneval_path).items())[:6])
    samples = []
    passes = {}
    for i, (tid, p) in enumerate(problems.items()):
        c = i % 5  # 0..4 correct samples out of 5
        passes[tid] = c
        for j in range(5):
            samples.append(Sample(tid, p.canonical_solution if j < c else "    raise ValueError\n", j))
    report = score_samples(problems, samples, sandbox=SANDBOX, ks=(1, 2, 5, 10))
    for k in (1, 2, 5):
        expected = sum(pass_at_k(5, c, k) for c in passes.values()) / len(passes)
        assert report.scores[f"pass@{k}"] == pytest.approx(expected)
    assert "pass@10" not in report.scores
    assert report.unique_programs == sum(min(c, 1) + min(5 - c, 1) for c in passes.values())


def test_partial_and_foreign_samples_are_reported(humaneval_path: Path) -> None:
    problems = dict(list(load_humaneval(humaneval_path).items())[:3])
    first = next(iter(problems.values()))
    samples = [Sample(first.task_id, first.canonical_solution), Sample("NotABenchmark/1", "")]
    report = score_samples(problems, samples, sandbox=SANDBOX, ks=(1,))
    assert report.scores["pass@1"] == 1.0
    assert len(report.missing_tasks) == 2 and report.unknown_task_samples == 1
    assert any("no samples" in w for w in report.warnings)


def test_mbpp_canonical_solutions_pass(mbpp_path: Path) -> None:
    problems = dict(list(load_mbpp(mbpp_path).items())[:60])
    # task 367 needs its setup code after the solution (it uses the solution's Node class)
    problems.update({k: v for k, v in load_mbpp(mbpp_path).items() if k == "MBPP/367"})
    samples = [Sample(p.task_id, p.canonical_solution) for p in problems.values()]
    report = score_samples(problems, samples, sandbox=SANDBOX, ks=(1,))
    failed = [(s.task_id, s.result.detail) for s in report.scored if not s.result.passed]
    assert failed == []


def test_infilling_canonical_middles_match_and_pass(infill_dir: Path) -> None:
    problems = dict(list(load_infilling(resolve_infilling_path(infill_dir, "single-line")).items())[:40])
    good = [Sample(p.task_id, p.canonical_solution) for p in problems.values()]
    report, extra = score_infill(problems, good, sandbox=SANDBOX, ks=(1,))
    assert report.scores["pass@1"] == 1.0 and extra["exact_match"] == 1.0
    bad = [Sample(p.task_id, "") for p in problems.values()]
    report, extra = score_infill(problems, bad, sandbox=SANDBOX, ks=(1,))
    assert extra["exact_match"] == 0.0 and report.scores["pass@1"] < 0.2
