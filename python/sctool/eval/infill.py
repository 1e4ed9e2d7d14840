"""Fill-in-the-middle evaluation on HumanEval infilling (single-line, multi-line, random-span).

Two numbers per benchmark: exact match of the generated middle against the reference middle, and
the functional pass rate (``prefix + middle + suffix`` run against the HumanEval tests in the
sandbox, pass@k with the unbiased estimator). Exact match compares the texts with leading and
trailing whitespace removed, because a model that writes the right line without the reference's
trailing newline has filled the hole correctly; the rule is recorded in the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sctool.eval.problems import CodeProblem, normalize_task_id
from sctool.eval.samples import Sample
from sctool.eval.sandbox import SandboxConfig
from sctool.eval.score import DEFAULT_KS, ScoreReport, score_samples

EXACT_MATCH_RULE = "generated middle == reference middle after str.strip() on both"


def exact_match(generated: str, reference: str) -> bool:
    return generated.strip() == reference.strip()


def score_infill(
    problems: Mapping[str, CodeProblem],
    samples: Sequence[Sample],
    *,
    sandbox: SandboxConfig | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    quiet: bool = True,
) -> tuple[ScoreReport, dict[str, Any]]:
    """Execution scores plus exact match (mean over problems of each problem's exact-match rate)."""
    report = score_samples(problems, samples, sandbox=sandbox, ks=ks, quiet=quiet)
    per_task: dict[str, list[int]] = {}
    for s in samples:
        tid = normalize_task_id(s.task_id, dict(problems))
        if tid is None:
            continue
        hit = exact_match(s.completion, problems[tid].canonical_solution)
        per_task.setdefault(tid, []).append(int(hit))
    em = sum(sum(v) / len(v) for v in per_task.values()) / len(per_task) if per_task else 0.0
    extra = {"exact_match": em, "exact_match_rule": EXACT_MATCH_RULE}
    return report, extra
