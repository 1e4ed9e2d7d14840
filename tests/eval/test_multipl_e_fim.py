"""FIM evaluation in PSM and SPM order (``sctool eval fim``) on HumanEval infilling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sctool.errors import ConfigError
from sctool.eval.fim_modes import FimJob, fim_prompt_ids, run_fim
from tests.eval.conftest import tiny_tokenizer


def test_psm_and_spm_layouts_use_the_fim_token_ids() -> None:
    tok = tiny_tokenizer()
    pre, suf, mid = (tok.token_to_id(t) for t in ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"))
    p_ids = tok.encode("def add(a, b):\n").ids
    s_ids = tok.encode("    return a + b\n").ids
    psm = fim_prompt_ids(tok, "def add(a, b):\n", "    return a + b\n", "psm")
    spm = fim_prompt_ids(tok, "def add(a, b):\n", "    return a + b\n", "spm")
    assert psm == [pre, *p_ids, suf, *s_ids, mid]
    # SPM as StarCoder's training lays it out: <fim_prefix><fim_suffix>S<fim_middle>P, then the middle
    assert spm == [pre, suf, *s_ids, mid, *p_ids]
    with pytest.raises(ConfigError):
        fim_prompt_ids(tok, "a", "b", "mps")


def test_fim_job_checks_names() -> None:
    with pytest.raises(ConfigError, match="unknown FIM mode"):
        FimJob(problems=".", samples_dir=".", model=".", modes=("pms",))
    with pytest.raises(ConfigError, match="unknown FIM benchmark"):
        FimJob(problems=".", samples_dir=".", model=".", benchmarks=("random",))


def test_run_fim_both_modes_both_benchmarks(tmp_path: Path, tiny_model_dir: Path, infill_dir: Path) -> None:
    from sctool.eval.protocol import GenerationSettings

    job = FimJob(problems=str(infill_dir), samples_dir=str(tmp_path / "fim"), model=str(tiny_model_dir),
                 generation=GenerationSettings(n_samples=1, temperature=0.0, max_length=700, stop_words=(),
                                               strip_prompt=False),
                 limit=2)
    result = run_fim(job)
    rows = {(r["benchmark"], r["mode"]): r for r in result["results"]}
    assert set(rows) == {(b, m) for b in ("single-line", "multi-line") for m in ("psm", "spm")}
    for r in rows.values():
        assert r["samples"]["count"] == 2 and r["problems"]["count"] == 2
        assert 0.0 <= r["exact_match"] <= 1.0 and 0.0 <= r["pass@1"] <= 1.0
        assert sum(r["status_counts"].values()) == 2
    # resumable: a second run generates nothing new
    again = run_fim(job)
    assert all(r["samples"]["generated"] == 0 for r in again["results"])
    lines = (tmp_path / "fim" / "single-line-spm.jsonl").read_text().splitlines()
    assert {json.loads(x)["task_id"] for x in lines} == {"SingleLineInfilling/HumanEval/0/L0",
                                                       "SingleLineInfilling/HumanEval/0/L1"}


def test_oracle_middles_score_full_marks(tmp_path: Path, tiny_model_dir: Path, infill_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """With a model that writes the reference middle, both modes get exact match 1 and pass@1 1."""
    from sctool.eval import fim_modes
    from sctool.eval.problems import load_infilling, resolve_infilling_path

    reference = {}
    for bench in ("single-line", "multi-line"):
        for p in list(load_infilling(resolve_infilling_path(infill_dir, bench)).values())[:3]:
            reference[(p.prompt, p.suffix)] = p.canonical_solution
    seen_modes = []

    def oracle(_backend, mode):
        seen_modes.append(mode)
        return lambda prefixes, suffixes, _n, _seed: [reference[(p, s)] for p, s in zip(prefixes, suffixes)]

    monkeypatch.setattr(fim_modes, "infill_fn", oracle)
    result = run_fim(FimJob(problems=str(infill_dir), samples_dir=str(tmp_path / "o"), model=str(tiny_model_dir),
                            limit=3))
    assert seen_modes == ["psm", "spm", "psm", "spm"]
    assert all(r["exact_match"] == 1.0 and r["pass@1"] == 1.0 for r in result["results"])
