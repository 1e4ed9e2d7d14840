"""Fill-in-the-middle evaluation in both sentinel orders StarCoder was trained with (PSM and SPM).

StarCoder's FIM training (``sctool.fim``) lays a document out as PSM::

    <fim_prefix> P <fim_suffix> S <fim_middle> M

or, for half of the FIM documents, as SPM (Bavarian et al.'s "variant 2")::

    <fim_prefix> <fim_suffix> S <fim_middle> P M

The published infilling numbers use PSM; scoring SPM too shows whether a model learned both orders.
``sctool eval fim`` runs HumanEval single-line and multi-line infilling (the benchmark files that
exist are Python; the code is language-agnostic: a benchmark is prefix, suffix, reference middle and a
test) in each asked mode and reports, per benchmark x mode, exact match and pass@k with the same rules
as ``sctool eval infill`` (:mod:`sctool.eval.infill`). Prompts are built from the tokenizer's own FIM
token ids, the prefix and suffix encoded separately, exactly as at training time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sctool.errors import ConfigError
from sctool.fim import MODES

BENCHMARKS = ("single-line", "multi-line")


def fim_prompt_ids(tokenizer: Any, prefix: str, suffix: str, mode: str) -> list[int]:
    """Token ids of the FIM prompt in ``mode`` (the model continues with the middle): the training layout."""
    from sctool.infer.fim import fim_prompt_ids as prompt_ids

    return prompt_ids(tokenizer, prefix, suffix, mode)


def infill_fn(backend: Any, mode: str) -> Any:
    """An ``InfillFn`` (see ``sctool.eval.generate``) that prompts ``backend``'s model in ``mode``."""
    from sctool.infer.generate import generate_ids

    def fn(prefixes: Sequence[str], suffixes: Sequence[str], max_new_tokens: int, seed: int) -> list[str]:
        cfg = replace(backend._config(max_new_tokens, seed, backend.settings.stop_words), stop_at_eos=True)
        prompts = [fim_prompt_ids(backend.tokenizer, p, s, mode) for p, s in zip(prefixes, suffixes)]
        return [c.text for c in generate_ids(backend.model, prompts, cfg, backend.tokenizer)]

    return fn


@dataclass(frozen=True)
class FimJob:
    problems: str  # the directory with HumanEval-*Infilling.jsonl.gz
    samples_dir: str
    model: str
    modes: tuple[str, ...] = MODES
    benchmarks: tuple[str, ...] = BENCHMARKS
    tokenizer: str | None = None
    generation: Any = None
    sandbox: Any = None
    ks: tuple[int, ...] = (1,)
    limit: int | None = None
    device: str = "cpu"
    dtype: str | None = None

    def __post_init__(self) -> None:
        for m in self.modes:
            if m not in MODES:
                raise ConfigError(f"unknown FIM mode {m!r}; choose from {', '.join(MODES)}")
        for b in self.benchmarks:
            if b not in BENCHMARKS:
                raise ConfigError(f"unknown FIM benchmark {b!r}; choose from {', '.join(BENCHMARKS)}")


def run_fim(job: FimJob, *, quiet: bool = True) -> dict[str, Any]:
    """Generate (resumable, one samples file per benchmark x mode) and score; the result JSON."""
    from sctool.config import config_to_dict
    from sctool.eval.backend import load_backend
    from sctool.eval.generate import generate_infill_samples
    from sctool.eval.infill import score_infill
    from sctool.eval.problems import load_infilling, resolve_infilling_path
    from sctool.eval.protocol import GenerationSettings
    from sctool.eval.runner import environment, file_sha256
    from sctool.eval.samples import read_samples
    from sctool.eval.sandbox import SandboxConfig

    settings = job.generation or GenerationSettings(n_samples=1, temperature=0.0, stop_words=())
    sandbox = job.sandbox or SandboxConfig()
    out_dir = Path(job.samples_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    backend = None
    rows = []
    for bench in job.benchmarks:
        path = resolve_infilling_path(job.problems, bench)
        problems = load_infilling(path)
        if job.limit is not None:
            problems = dict(list(problems.items())[: job.limit])
        for mode in job.modes:
            samples = out_dir / f"{bench}-{mode}.jsonl"
            meta = {"task": f"fim/{bench}/{mode}", "model": str(job.model), "generation": config_to_dict(settings)}
            if backend is None:
                backend = load_backend(job.model, settings, tokenizer=job.tokenizer, device=job.device,
                                       dtype=job.dtype)
            rep = generate_infill_samples(problems, settings, samples, infill_fn(backend, mode),
                                          backend.count_tokens, meta=meta, quiet=quiet)
            read = read_samples(samples)
            report, extra = score_infill(problems, read.samples, sandbox=sandbox, ks=job.ks, quiet=quiet)
            rows.append({
                "benchmark": bench, "mode": mode, **report.scores, **extra,
                "problems": {"path": str(path), "sha256": file_sha256(path), "count": len(problems),
                             "limit": job.limit},
                "samples": {"path": str(samples), "count": len(read.samples), "generated": rep.generated},
                "status_counts": report.status_counts,
                "warnings": report.warnings,
            })
    return {
        "task": "fim",
        "results": rows,
        "generation": {**config_to_dict(settings), "model": backend.meta if backend is not None else None},
        "sandbox": config_to_dict(sandbox),
        "environment": environment(),
    }


def format_fim_table(result: dict[str, Any]) -> str:
    lines = ["fim", f"  {'benchmark':12} {'mode':4} {'exact match %':>14} {'pass@1 %':>9}"]
    for r in result.get("results", []):
        p1 = r.get("pass@1")
        lines.append(f"  {r['benchmark']:12} {r['mode']:4} {100 * r['exact_match']:14.2f} "
                     f"{(f'{100 * p1:.2f}' if isinstance(p1, float) else '-'):>9}")
    return "\n".join(lines)
