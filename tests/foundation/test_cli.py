"""The sctool command line, driven as a user would: subprocesses, exit codes, messages."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli


def test_help_lists_commands() -> None:
    proc = run_cli("--help", check=True)
    for cmd in ("ingest", "dedup", "stats", "run"):
        assert cmd in proc.stdout
    assert "--max-file-size" in run_cli("ingest", "--help", check=True).stdout


def test_ingest_dedup_stats_pipeline(source_tree: Path, tmp_path: Path) -> None:
    proc = run_cli("ingest", source_tree, "-o", tmp_path / "ing", "--quiet", check=True)
    assert "6 out" in proc.stdout and "invalid_utf8" in proc.stdout
    proc = run_cli("dedup", tmp_path / "ing", "-o", tmp_path / "dd", "--json", "--quiet", check=True)
    summary = json.loads(proc.stdout)
    assert summary["docs_in"] == 6 and summary["docs_out"] == 5
    assert summary["removed"] == {"exact_duplicate": 1}
    proc = run_cli("stats", tmp_path / "dd", check=True)
    assert "python" in proc.stdout and "total" in proc.stdout
    stats = json.loads(run_cli("stats", tmp_path / "dd", "--json", check=True).stdout)
    assert sum(r["docs"] for r in stats) == 5


def test_existing_output_is_refused_with_exit_2(source_tree: Path, tmp_path: Path) -> None:
    run_cli("ingest", source_tree, "-o", tmp_path / "ing", "--quiet", check=True)
    proc = run_cli("ingest", source_tree, "-o", tmp_path / "ing", "--quiet")
    assert proc.returncode == 2
    assert "exists" in proc.stderr and "--overwrite" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert run_cli("ingest", source_tree, "-o", tmp_path / "ing", "--quiet", "--overwrite").returncode == 0


def test_bad_inputs_give_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "t.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    proc = run_cli("dedup", bad, "-o", tmp_path / "o")
    assert proc.returncode == 2 and "t.parquet" in proc.stderr and "Traceback" not in proc.stderr
    j = tmp_path / "x.jsonl"
    j.write_text('{"text": "a"}\n')
    proc = run_cli("dedup", j, "-o", tmp_path / "o")
    assert proc.returncode == 2 and "--text-column" in proc.stderr
    assert run_cli("dedup", j, "-o", tmp_path / "o", "--text-column", "text", "--quiet").returncode == 0


def test_recipe_runs_and_rerun_skips(source_tree: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"workdir: {tmp_path / 'work'}\n"
        "stages:\n"
        f"  - stage: ingest\n    config: {{sources: ['{source_tree}']}}\n"
        "  - stage: dedup\n    config: {mode: exact}\n"
    )
    proc = run_cli("run", recipe, "--quiet", check=True)
    assert (tmp_path / "work" / "02-dedup" / "manifest.json").exists()
    assert "exact_duplicate" in proc.stdout
    proc = run_cli("run", recipe, "--quiet", "--json", check=True)
    assert [r["skipped"] for r in json.loads(proc.stdout)] == [True, True]


def test_recipe_errors_are_clear(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("stages:\n  - stage: dedup\n    config: {mode: exact, bogus: 1}\n")
    proc = run_cli("run", recipe)
    assert proc.returncode == 2 and "bogus" in proc.stderr
    recipe.write_text("stages:\n  - stage: nosuchstage\n")
    proc = run_cli("run", recipe)
    assert proc.returncode == 2 and "nosuchstage" in proc.stderr


def test_recipe_references_earlier_stage_outputs(source_tree: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"workdir: {tmp_path / 'work'}\n"
        "stages:\n"
        f"  - stage: ingest\n    name: raw\n    config: {{sources: ['{source_tree}']}}\n"
        "  - stage: dedup\n    config: {mode: exact}\n"
        "  - stage: dedup\n    name: again\n    inputs: ['@raw']\n    config: {mode: exact}\n"
    )
    results = json.loads(run_cli("run", recipe, "--quiet", "--json", check=True).stdout)
    assert [r["name"] for r in results] == ["raw", "dedup", "again"]
    assert results[2]["docs_in"] == results[0]["docs_out"] == 6  # read the ingest output, not dedup's
    recipe.write_text(recipe.read_text().replace("'@raw'", "'@nosuch'"))
    proc = run_cli("run", recipe, "--workdir", tmp_path / "w2")
    assert proc.returncode == 2 and "@nosuch" in proc.stderr
