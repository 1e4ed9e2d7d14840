"""scripts/compare_outputs.py: the before/after check reports equal runs as equal and names what differs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[2]


def load():
    spec = importlib.util.spec_from_file_location("compare_outputs", ROOT / "scripts" / "compare_outputs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write_run(root: Path, texts: list[str], removed: list[str], token_bytes: bytes) -> None:
    stage = root / "01-stage"
    (stage / "removed").mkdir(parents=True)
    # Two parts in a different order than the ids: row order and part boundaries are not compared.
    ids = [f"d{i}" for i in range(len(texts))][::-1]
    pl.DataFrame({"id": ids[:1], "content": texts[::-1][:1]}).write_parquet(stage / "part-00000.parquet")
    pl.DataFrame({"id": ids[1:], "content": texts[::-1][1:]}).write_parquet(stage / "part-00001.parquet")
    pl.DataFrame({"id": [f"r{i}" for i in range(len(removed))], "reason": removed}).write_parquet(
        stage / "removed" / "part-00000.parquet")
    (root / "02-tokens").mkdir()
    (root / "02-tokens" / "x.bin").write_bytes(token_bytes)


def test_equal_runs_pass_and_each_kind_of_difference_is_named(tmp_path, capsys):
    mod = load()
    write_run(tmp_path / "a", ["x", "y", "z"], ["dup"], b"\x01\x02")
    write_run(tmp_path / "b", ["x", "y", "z"], ["dup"], b"\x01\x02")
    assert mod.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    write_run(tmp_path / "c", ["x", "Y", "z"], ["near_dup"], b"\x01\x03")
    assert mod.main([str(tmp_path / "a"), str(tmp_path / "c")]) == 1
    out = capsys.readouterr().out
    assert "DIFF  01-stage" in out and "'content': '1 of 3 rows'" in out and "'reason': '1 of 1 rows'" in out
    assert "DIFF  02-tokens" in out and "x.bin" in out
