from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from sctool.errors import ConfigError, DatasetError
from sctool.eval.problems import (
    load_humaneval,
    load_infilling,
    load_mbpp,
    normalize_task_id,
    resolve_infilling_path,
)


def test_humaneval_has_164_problems_and_builds_the_check_program(humaneval_path: Path) -> None:
    problems = load_humaneval(humaneval_path)
    assert len(problems) == 164
    p = problems["HumanEval/0"]
    program = p.program("    return False\n")
    assert program.startswith(p.prompt + "    return False\n")
    assert program.rstrip().endswith(f"check({p.entry_point})")


def test_mbpp_test_split_is_ids_11_to_510(mbpp_path: Path) -> None:
    problems = load_mbpp(mbpp_path)
    assert len(problems) == 500
    assert "MBPP/11" in problems and "MBPP/510" in problems and "MBPP/10" not in problems
    assert len(load_mbpp(mbpp_path, split="all")) == 974
    p = problems["MBPP/11"]
    assert p.prompt.startswith('"""\n') and p.prompt.endswith('\n"""\n')
    assert "assert" in p.prompt  # the first test is shown to the model (InCoder / harness prompt)


def test_sanitized_mbpp_loads(mbpp_path: Path) -> None:
    sanitized = mbpp_path.with_name("sanitized-mbpp.json")
    if not sanitized.exists():
        pytest.skip("sanitized-mbpp.json not available")
    problems = load_mbpp(sanitized, split="all")
    assert len(problems) == 427


def test_infilling_files_and_directory_resolution(infill_dir: Path) -> None:
    single = load_infilling(resolve_infilling_path(infill_dir, "single-line"))
    assert len(single) == 1033
    p = next(iter(single.values()))
    assert p.suffix and p.program(p.canonical_solution).startswith(p.prompt + p.canonical_solution + p.suffix)
    with pytest.raises(ConfigError):
        resolve_infilling_path(infill_dir, "no-such-benchmark")


def test_malformed_files_name_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "a", "prompt": "", "test": "", "entry_point": "f"}\n{not json\n')
    with pytest.raises(DatasetError, match=r"bad\.jsonl:2"):
        load_humaneval(bad)
    missing = tmp_path / "missing-field.jsonl"
    missing.write_text('{"task_id": "a", "prompt": ""}\n')
    with pytest.raises(DatasetError, match="lacks field"):
        load_humaneval(missing)
    trunc = tmp_path / "trunc.jsonl.gz"
    trunc.write_bytes(gzip.compress(json.dumps({"a": 1}).encode() * 50)[:30])
    with pytest.raises(DatasetError, match="trunc"):
        load_humaneval(trunc)
    with pytest.raises(DatasetError, match="no such"):
        load_humaneval(tmp_path / "absent.jsonl")


def test_task_id_normalisation() -> None:
    from sctool.eval.problems import CodeProblem

    problems = {"MBPP/11": CodeProblem("MBPP/11", "", "", "")}
    assert normalize_task_id(11, problems) == "MBPP/11"
    assert normalize_task_id("Mbpp/11", problems) == "MBPP/11"
    assert normalize_task_id("HumanEval/11", problems) is None
