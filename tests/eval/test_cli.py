"""``sctool eval`` as a subprocess, scoring existing samples (no model, no torch)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def sctool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    exe = REPO / ".venv" / "bin" / "sctool"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "sctool_cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def read_jsonl_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt") as fh:
        return [json.loads(line) for line in fh]


def test_humaneval_canonical_samples_score_1_via_cli(tmp_path: Path, humaneval_path: Path) -> None:
    # (the full 164-problem self-check runs in-process in test_score.py)
    samples = tmp_path / "canonical.jsonl"
    samples.write_text("".join(
        json.dumps({"task_id": r["task_id"], "completion": r["canonical_solution"]}) + "\n"
        for r in read_jsonl_gz(humaneval_path)[:24]
    ))
    details = tmp_path / "details.jsonl"
    res = sctool("eval", "humaneval", "--samples", str(samples), "--problems", str(humaneval_path),
                 "--json", "--quiet", "--workers", "2", "--timeout", "10", "--details", str(details))
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert result["pass@1"] == 1.0
    assert result["problems_scored"] == 24 and result["status_counts"]["passed"] == 24
    assert result["sandbox"]["timeout_s"] == 10.0 and result["generation"] is None
    assert result["problems"]["sha256"]
    written = json.loads((tmp_path / "canonical.result.json").read_text())
    assert written["pass@1"] == 1.0
    assert len(details.read_text().splitlines()) == 24


def test_table_output_and_wrong_samples(tmp_path: Path, humaneval_path: Path) -> None:
    recs = read_jsonl_gz(humaneval_path)[:5]
    samples = tmp_path / "wrong.jsonl"
    samples.write_text("".join(json.dumps({"task_id": r["task_id"], "completion": "    pass\n"}) + "\n" for r in recs))
    out = tmp_path / "r.json"
    res = sctool("eval", "humaneval", "--samples", str(samples), "--problems", str(humaneval_path), "-o", str(out),
                 "--quiet")
    assert res.returncode == 0, res.stderr
    assert "pass@1" in res.stdout and "0.00 %" in res.stdout
    assert "159 of 164 problems have no samples" in res.stdout
    assert json.loads(out.read_text())["pass@1"] == 0.0


def test_mbpp_samples_with_integer_task_ids(tmp_path: Path, mbpp_path: Path) -> None:
    rows = [json.loads(line) for line in mbpp_path.read_text().splitlines()]
    chosen = [r for r in rows if 11 <= r["task_id"] <= 20]
    samples = tmp_path / "mbpp.jsonl"
    samples.write_text("".join(json.dumps({"task_id": r["task_id"], "completion": r["code"]}) + "\n" for r in chosen))
    res = sctool("eval", "mbpp", "--samples", str(samples), "--problems", str(mbpp_path), "--json", "--quiet")
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert result["pass@1"] == 1.0 and result["problems_scored"] == 10
    assert result["problems"]["split"] == "test" and result["problems"]["count"] == 500


def test_infill_samples_from_a_directory(tmp_path: Path, infill_dir: Path) -> None:
    recs = read_jsonl_gz(infill_dir / "HumanEval-MultiLineInfilling.jsonl.gz")[:8]
    samples = tmp_path / "mid.jsonl"
    samples.write_text("".join(
        json.dumps({"task_id": r["task_id"], "completion": r["canonical_solution"] if i % 2 else "    pass\n"}) + "\n"
        for i, r in enumerate(recs)
    ))
    res = sctool("eval", "infill", "--problems", str(infill_dir), "--benchmark", "multi-line",
                 "--samples", str(samples), "--json", "--quiet")
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert result["task"] == "infill/multi-line"
    assert result["exact_match"] == 0.5
    assert result["problems_scored"] == 8


def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path, humaneval_path: Path) -> None:
    res = sctool("eval", "humaneval", "--problems", str(humaneval_path))
    assert res.returncode == 2 and "--samples" in res.stderr and "Traceback" not in res.stderr
    res = sctool("eval", "humaneval", "--samples", str(tmp_path / "absent.jsonl"), "--problems", str(humaneval_path))
    assert res.returncode == 2 and "absent.jsonl" in res.stderr
    res = sctool("eval", "mbpp", "--samples", str(tmp_path / "x.jsonl"))
    assert res.returncode == 2 and "--problems" in res.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("not json\n")
    res = sctool("eval", "humaneval", "--samples", str(empty), "--problems", str(humaneval_path))
    assert res.returncode == 2 and "no usable samples" in res.stderr
    res = sctool("eval", "humaneval", "--samples", str(empty), "--timeout", "0")
    assert res.returncode == 2 and "--timeout" in res.stderr
