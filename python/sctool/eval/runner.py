"""One call per ``sctool eval`` task: load problems, generate (optional), execute, build the result JSON.

The result JSON carries every setting that can move a score: the problems file and its hash, the
samples file, generation settings (or ``null`` for samples from elsewhere), prompt stripping and
prefix, stop words, sandbox limits and the isolation layers this machine granted, plus the scores
at the top level (``pass@1``, ``pass@10``, …) so scripts can read them directly.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sctool.config import config_to_dict
from sctool.errors import ConfigError
from sctool.eval.problems import (
    CodeProblem,
    load_humaneval,
    load_infilling,
    load_mbpp,
    resolve_infilling_path,
)
from sctool.eval.protocol import GenerationSettings
from sctool.eval.sandbox import SandboxConfig
from sctool.eval.score import DEFAULT_KS, write_details

TASKS = ("humaneval", "mbpp", "infill")


@dataclass(frozen=True)
class CodeEvalJob:
    """Everything ``sctool eval humaneval|mbpp|infill`` was asked to do."""

    task: str
    samples: str
    problems: str | None = None
    model: str | None = None
    tokenizer: str | None = None
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    ks: tuple[int, ...] = DEFAULT_KS
    mbpp_split: str = "test"
    infill_benchmark: str = "single-line"
    limit: int | None = None
    generate_only: bool = False
    device: str = "cpu"
    dtype: str | None = None
    details: str | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"unknown eval task {self.task!r}; choose from {', '.join(TASKS)}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit must be >= 1, got {self.limit}")
        if self.generate_only and self.model is None:
            raise ConfigError("generate-only needs a model")


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_problems(job: CodeEvalJob) -> tuple[dict[str, CodeProblem], Path]:
    if job.task == "humaneval":
        from sctool.eval.problems import default_humaneval_path

        path = Path(job.problems) if job.problems else default_humaneval_path()
        problems = load_humaneval(path)
    elif job.task == "mbpp":
        if not job.problems:
            raise ConfigError("MBPP needs --problems PATH (mbpp.jsonl or sanitized-mbpp.json)")
        path = Path(job.problems)
        problems = load_mbpp(path, split=job.mbpp_split)
    else:
        if not job.problems:
            raise ConfigError("infill needs --problems PATH (a HumanEval-*Infilling.jsonl.gz file or its directory)")
        path = resolve_infilling_path(job.problems, job.infill_benchmark)
        problems = load_infilling(path)
    if job.limit is not None:
        problems = dict(list(problems.items())[: job.limit])
    return problems, path


def environment() -> dict[str, Any]:
    from sctool import __version__

    return {
        "sctool_version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "argv": list(sys.argv),
    }


def run_code_eval(job: CodeEvalJob, *, quiet: bool = True) -> dict[str, Any]:
    """Generate (when a model is given) and score; the returned dict is the result JSON."""
    from sctool.eval.samples import read_samples

    problems, problems_path = load_problems(job)
    generation_info: dict[str, Any] | None = None
    if job.model is not None:
        generation_info = _generate(job, problems, quiet=quiet)
        if job.generate_only:
            return {
                "task": job.task,
                "generated_only": True,
                "samples": {"path": job.samples, **generation_info.pop("counts")},
                "generation": generation_info,
                "environment": environment(),
            }
    read = read_samples(job.samples)
    if not read.samples:
        raise ConfigError(f"{job.samples}: no usable samples ({read.bad_lines} malformed lines; {read.first_error})")
    if job.task == "infill":
        from sctool.eval.infill import score_infill

        report, extra = score_infill(problems, read.samples, sandbox=job.sandbox, ks=job.ks, quiet=quiet)
    else:
        from sctool.eval.score import score_samples

        report = score_samples(problems, read.samples, sandbox=job.sandbox, ks=job.ks, quiet=quiet)
        extra = {}
    if job.details:
        write_details(job.details, report.scored)
    body = report.to_dict()
    result: dict[str, Any] = {"task": job.task if job.task != "infill" else f"infill/{job.infill_benchmark}"}
    result.update(report.scores)
    result.update(extra)
    if read.bad_lines:
        body["warnings"].append(f"{read.bad_lines} malformed sample lines skipped (first: {read.first_error})")
    result.update(
        {
            "problems": {
                "path": str(problems_path),
                "sha256": file_sha256(problems_path),
                "count": len(problems),
                "limit": job.limit,
                **({"split": job.mbpp_split} if job.task == "mbpp" else {}),
            },
            "samples": {"path": str(job.samples), "count": len(read.samples), "malformed_lines": read.bad_lines},
            "generation": generation_info,
            "ks": list(job.ks),
        }
    )
    result.update({k: v for k, v in body.items() if k not in result and not k.startswith("pass@")})
    result["environment"] = environment()
    return result


def _generate(job: CodeEvalJob, problems: dict[str, CodeProblem], *, quiet: bool) -> dict[str, Any]:
    from sctool.eval.generate import generate_infill_samples, generate_samples
    from sctool.eval.samples import check_or_write_meta

    assert job.model is not None
    settings = config_to_dict(job.generation)
    meta = {
        "task": job.task,
        "model": str(job.model),
        "generation": settings,
        **({"infill_benchmark": job.infill_benchmark} if job.task == "infill" else {}),
    }
    # Refuse a mismatched resume before paying for loading the model, and skip loading it when
    # the samples file is already complete.
    check_or_write_meta(job.samples, meta)
    if Path(job.samples).exists():
        from sctool.eval.samples import count_by_task, iter_missing, read_samples

        have = read_samples(job.samples).samples
        if next(iter_missing(problems.keys(), count_by_task(have), job.generation.n_samples), None) is None:
            return {
                **settings,
                "prompt_stripped": job.generation.strip_prompt,
                "model": {"model": str(job.model), "loaded": False},
                "counts": {"resumed_from": len(have), "generated": 0, "total": len(have)},
            }
    from sctool.eval.backend import load_backend

    backend = load_backend(job.model, job.generation, tokenizer=job.tokenizer, device=job.device, dtype=job.dtype)
    if job.task == "infill":
        rep = generate_infill_samples(
            problems, job.generation, job.samples, backend.infill, backend.count_tokens, meta=meta, quiet=quiet
        )
    else:
        rep = generate_samples(
            problems, job.generation, job.samples, backend.complete, backend.count_tokens, meta=meta, quiet=quiet
        )
    return {
        **settings,
        "prompt_stripped": job.generation.strip_prompt,
        "model": backend.meta,
        "counts": {"resumed_from": rep.already_present, "generated": rep.generated, "total": rep.total},
    }


def run_ppl_eval(
    model_dir: str,
    data: str,
    config: Any,
    *,
    tokenizer: str | None = None,
    device: str = "cpu",
    dtype: str | None = None,
    quiet: bool = True,
) -> dict[str, Any]:
    """Perplexity / bits per byte of a model on a packed dataset; the returned dict is the result JSON."""
    from sctool.errors import DatasetError
    from sctool.packing.indexed import data_path, index_path

    for needed in (data_path(data), index_path(data)):
        if not needed.is_file():
            raise DatasetError(f"{needed}: no such file (--data takes the PREFIX of PREFIX.bin/PREFIX.idx)")

    from sctool.eval.ppl import evaluate_perplexity, token_byte_lengths
    from sctool.model.checkpoint import find_tokenizer_file, load_model
    from sctool.model.dtypes import torch_dtype

    model = load_model(model_dir, device=device, dtype=torch_dtype(dtype))
    tok_path = Path(tokenizer) if tokenizer else find_tokenizer_file(model_dir)
    byte_lengths, method = (None, "no tokenizer: bits per byte not computed")
    if tok_path is not None:
        byte_lengths, method = token_byte_lengths(tok_path, int(model.config.vocab_size))
    scores = evaluate_perplexity(model, data, byte_lengths, config, device=device, quiet=quiet)
    return {
        "task": "ppl",
        **scores,
        "byte_count_method": method,
        "settings": config_to_dict(config),
        "model": {"path": str(model_dir), "tokenizer": str(tok_path) if tok_path else None, "device": device,
                  "dtype": dtype or str(next(model.parameters()).dtype).replace("torch.", "")},
        "environment": environment(),
    }


def format_table(result: dict[str, Any]) -> str:
    """A short human-readable table of a result JSON (the CLI prints it unless --json)."""
    rows: list[tuple[str, str]] = []
    task = str(result.get("task"))
    if task == "ppl":
        for key in ("tokens_scored", "loss_nats_per_token", "perplexity", "bits_per_token", "bits_per_byte"):
            val = result.get(key)
            rows.append((key, f"{val:.4f}" if isinstance(val, float) else str(val)))
    elif result.get("generated_only"):
        samples = result.get("samples", {})
        rows.append(("samples", f"{samples.get('total')} in {samples.get('path')} (generated {samples.get('generated')})"))
    else:
        for key, val in result.items():
            if key.startswith("pass@"):
                rows.append((key, f"{100 * val:.2f} %"))
        if "exact_match" in result:
            rows.append(("exact match", f"{100 * result['exact_match']:.2f} %"))
        rows.append(("problems", f"{result.get('problems_scored')} of {result.get('problems', {}).get('count')}"))
        rows.append(("samples", str(result.get("samples_scored"))))
        counts = result.get("status_counts", {})
        rows.append(("verdicts", ", ".join(f"{k} {v}" for k, v in counts.items() if v)))
        sandbox = result.get("sandbox", {})
        rows.append(("timeout", f"{sandbox.get('timeout_s')} s wall per program"))
        iso = result.get("isolation", {})
        rows.append(("isolation", ", ".join(k for k in ("net", "pid", "fs", "uid", "user") if iso.get(k)) or "guards only"))
    width = max(len(k) for k, _ in rows)
    lines = [f"{task}", *(f"  {k.ljust(width)}  {v}" for k, v in rows)]
    for w in result.get("warnings", []) or []:
        lines.append(f"  warning: {w}")
    return "\n".join(lines)
