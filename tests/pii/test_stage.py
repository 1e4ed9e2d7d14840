"""`sctool redact` as a stage and as a command: output columns, manifest counters, options, errors."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl

from sctool.config import config_from_dict
from sctool.stages.base import Runtime
from sctool.stages.redact import RedactConfig, run_redact
from sctool.stages.registry import stages
from tests.conftest import run_cli

from .synth import email_of, global_ipv4, password, person


def write_input(tmp: Path) -> tuple[Path, dict[str, str]]:
    rng = random.Random(4)
    vals = {"name": person(rng), "mail": email_of(rng), "ip": global_ipv4(rng), "pw": password(rng)}
    docs = [
        {"id": "a", "content": f"# Author: {vals['name']} <{vals['mail']}>\nhost = {vals['ip']}\n"},
        {"id": "b", "content": f"password = {vals['pw']}\n"},
        {"id": "c", "content": "print('nothing here')\n"},
        {"id": "d", "content": None},
    ]
    p = tmp / "in.jsonl"
    p.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return p, vals


def read_out(d: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted(d.glob("part-*.parquet"))).sort("id")


def test_stage_redacts_annotates_and_counts(tmp_path: Path) -> None:
    src, vals = write_input(tmp_path)
    m = run_redact([src], tmp_path / "out", RedactConfig(), Runtime(quiet=True, batch_rows=2))
    df = read_out(tmp_path / "out")
    assert df.height == 4 and "pii" in df.columns
    a = df.filter(pl.col("id") == "a").row(0, named=True)
    for v in vals.values():
        assert v not in (a["content"] or "")
    assert a["content"].startswith("# Author: <NAME> <<EMAIL>>\nhost = 10.")
    assert {s["type"] for s in a["pii"]} == {"NAME", "EMAIL", "IP_ADDRESS"}
    assert df.filter(pl.col("id") == "c")["pii"][0].to_list() == []
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    counters = manifest["counters"]
    assert counters["pii_by_type"] == {"EMAIL": 1, "IP_ADDRESS": 1, "NAME": 1, "PASSWORD": 1}
    assert counters["pii_by_rule"]["password-assignment"] == 1
    assert counters["pii_documents"] == 2 and counters["pii_redacted"] == 4
    # Values never reach the manifest.
    text = (tmp_path / "out" / "manifest.json").read_text()
    assert not any(v in text for v in vals.values())
    assert m is not None


def test_registry_and_recipe_config() -> None:
    cls = stages()["redact"]
    assert cls.Config is RedactConfig and cls.name == "redact"
    cfg = config_from_dict(cls.Config, {"types": ["key", "PASSWORD"], "annotate_only": True})
    assert cfg.types == ("KEY", "PASSWORD") and cfg.annotate_only


def test_cli_annotate_only_and_types(tmp_path: Path) -> None:
    src, vals = write_input(tmp_path)
    proc = run_cli("redact", src, "-o", tmp_path / "ann", "--annotate-only", "--quiet", "--json", check=True)
    summary = json.loads(proc.stdout)
    assert summary["docs_out"] == 4
    df = read_out(tmp_path / "ann")
    assert vals["pw"] in df.filter(pl.col("id") == "b")["content"][0]
    run_cli("redact", src, "-o", tmp_path / "pw", "--types", "PASSWORD", "--quiet", check=True)
    df = read_out(tmp_path / "pw")
    a = df.filter(pl.col("id") == "a")["content"][0]
    b = df.filter(pl.col("id") == "b")["content"][0]
    assert vals["mail"] in a and b == "password = <PASSWORD>\n"
    # Secrets never appear on the terminal.
    assert not any(v in proc.stdout + proc.stderr for v in vals.values())


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    src, _ = write_input(tmp_path)
    proc = run_cli("redact", src, "-o", tmp_path / "x", "--types", "PHONE")
    assert proc.returncode == 2 and "unknown PII type" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("redact", src, "-o", tmp_path / "y", "--ner-model", tmp_path / "missing")
    assert proc.returncode == 2 and "missing" in proc.stderr and "Traceback" not in proc.stderr
    assert "redact" in run_cli("--help", check=True).stdout
