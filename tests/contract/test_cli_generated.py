"""The stage commands are generated from the stage configs: flag names are a contract, and the CLI
builds exactly the config a recipe with the same keys builds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sctool.config import config_flags, config_from_dict
from sctool.errors import ConfigError
from sctool.stages.base import Runtime
from sctool.stages.registry import stages
from sctool_cli.main import build_parser
from tests.conftest import run_cli, sctool_cmd

RUNTIME_FLAGS = {"--overwrite", "--text-column", "--threads", "--batch-rows", "--quiet", "--json", "--executor",
                 "--ray-address"}
# Flags users and scripts already drive the tool with; generation must keep every one of them.
CONTRACT = {
    "dedup": {"--exact", "--near", "--both", "--threshold", "--bands", "--rows", "--num-perm", "--ngram", "--seed",
              "--shingle", "--hash", "--verify", "--keep", "--stars-column", "--clusters", "--memory-budget"},
    "filter": {"--preset", "--rules", "--disable", "--tokenizer", "--list-rules"},
    "decontam": {"--benchmark", "--method", "--threshold", "--prose-ngram", "--code-ngram"},
    "redact": {"--types", "--annotate-only", "--seed", "--pii-column", "--ner-model"},
    "format": {"--config", "--seed", "--metadata-rate", "--notebooks"},
    "ingest": {"--stdlib", "--max-file-size", "--keep-empty", "--only-known-languages", "--follow-symlinks"},
    "tokenize": {"--tokenizer", "--mix", "--root", "--allow-missing", "--dtype", "--no-eod", "--max-chunk-chars"},
    "train-tokenizer": {"--vocab-size", "--min-frequency", "--max-chars", "--max-doc-chars", "--no-split-digits"},
}


def _options(command: str) -> set[str]:
    parser = build_parser([command])
    sub = next(a for a in parser._actions if a.dest == "command")
    return {s for a in sub.choices[command]._actions for s in a.option_strings}


@pytest.mark.parametrize("command", sorted(CONTRACT))
def test_every_contract_flag_and_every_config_field_has_an_option(command: str) -> None:
    opts = _options(command)
    assert CONTRACT[command] | RUNTIME_FLAGS <= opts, sorted(CONTRACT[command] | RUNTIME_FLAGS - opts)
    assert set(config_flags(stages()[command].Config)) <= opts


def _parse(*argv: str):
    return build_parser(list(argv)).parse_args(list(argv))


def test_flags_build_the_same_config_as_recipe_keys() -> None:
    from sctool_cli.common import runtime_from_args, stage_config

    args = _parse("dedup", "in", "-o", "out", "--near", "--num-perm", "128", "--memory-budget", "512M",
                  "--threads", "1", "--batch-rows", "7")
    dedup = stages()["dedup"]
    assert stage_config(dedup, args) == config_from_dict(dedup.Config, {"mode": "near", "num_perm": 128,
                                                                        "memory_budget_mb": 512.0})
    assert runtime_from_args(args) == Runtime(threads=1, batch_rows=7)
    args = _parse("redact", "in", "-o", "out", "--types", "EMAIL, KEY", "--annotate-only")
    red = stages()["redact"]
    assert stage_config(red, args) == config_from_dict(red.Config, {"types": ["EMAIL", "KEY"], "annotate_only": True})
    args = _parse("filter", "in", "-o", "out", "--preset", "autogen", "--preset", "santacoder", "--disable", "x")
    assert stage_config(stages()["filter"], args).presets == ("autogen", "santacoder")
    args = _parse("tokenize", "in", "-o", "out", "--tokenizer", "t.json", "--no-eod")
    assert stage_config(stages()["tokenize"], args).append_eod is False


def test_unset_flags_keep_the_config_defaults_and_config_files_layer_under_flags(tmp_path: Path) -> None:
    from sctool_cli.common import stage_config

    dedup = stages()["dedup"]
    assert stage_config(dedup, _parse("dedup", "in", "-o", "out")) == dedup.Config()
    cfg = tmp_path / "d.yaml"
    cfg.write_text("mode: near\nnum_perm: 64\n")
    got = stage_config(dedup, _parse("dedup", "in", "-o", "out", "--config", str(cfg), "--num-perm", "32"))
    assert (got.mode, got.num_perm) == ("near", 32)
    cfg.write_text("num_prem: 64\n")
    with pytest.raises(ConfigError, match="num_prem"):
        stage_config(dedup, _parse("dedup", "in", "-o", "out", "--config", str(cfg)))


@pytest.mark.parametrize("bad", [["--threads", "-3"], ["--batch-rows", "0"], ["--threshold", "high"],
                                 ["--executor", "spark"]])
def test_bad_option_values_are_one_line_user_errors(tmp_path: Path, bad: list[str]) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"content": "x = 1"}\n')
    proc = run_cli("dedup", src, "-o", tmp_path / "out", *bad)
    assert proc.returncode == 2, proc.stderr
    assert "unexpected" not in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 3
    assert not (tmp_path / "out").exists()


def test_threads_far_above_the_cpus_are_capped_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="capped"):
        rt = Runtime(threads=100_000)
    assert rt.threads == 4 * (os.cpu_count() or 1)


def test_a_closed_output_pipe_is_a_clean_error(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"content": "x = 1"}\n')
    proc = subprocess.Popen([*sctool_cmd(), "filter", str(src), "-o", str(tmp_path / "o"), "--list-rules"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader goes away before the rules are printed
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 2
    assert "output pipe closed" in err and "Traceback" not in err


def test_version_and_help_import_nothing_heavy() -> None:
    code = ("import sys; from sctool_cli.main import main; main(['--version']); "
            "heavy = [m for m in ('polars', 'torch', 'numpy', 'sctool._native') if m in sys.modules]; "
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out
    code = ("import sys; from sctool_cli.main import build_parser; build_parser(['filter', '-h']); "
            "print('HEAVY', [m for m in ('torch', 'lightning', 'transformers') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out


@pytest.mark.parametrize(("text", "mb"), [("512M", 512.0), ("2G", 2048.0), ("2GiB", 2048.0), ("2gb", 2048.0),
                                          ("256K", 0.25), ("1.5G", 1536.0), ("100", 100.0)])
def test_memory_budget_sizes(text: str, mb: float) -> None:
    from sctool_cli.common import stage_config

    cfg = stage_config(stages()["dedup"], _parse("dedup", "in", "-o", "out", "--memory-budget", text))
    assert cfg.memory_budget_mb == mb


def test_a_bad_memory_budget_is_a_config_error() -> None:
    from sctool_cli.common import stage_config

    with pytest.raises(ConfigError, match="memory size"):
        stage_config(stages()["dedup"], _parse("dedup", "in", "-o", "out", "--memory-budget", "lots"))


def test_tokenize_refuses_to_write_into_its_input(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"<unk>": 0, "<|endoftext|>": 1, "x": 2}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(["<|endoftext|>"])
    tok.save(str(tmp_path / "tok.json"))
    (tmp_path / "a.jsonl").write_text('{"content": "x = 1"}\n')
    data = tmp_path / "data"
    assert run_cli("ingest", tmp_path / "a.jsonl", "-o", data, "--quiet").returncode == 0
    inside = run_cli("tokenize", data, "-o", data / "tokens", "--tokenizer", tmp_path / "tok.json", "--quiet")
    assert inside.returncode == 2 and "inside the input" in inside.stderr, inside.stderr
    assert not (data / "tokens.bin").exists()
    ok = run_cli("tokenize", data, "-o", tmp_path / "out" / "tokens", "--tokenizer", tmp_path / "tok.json", "--quiet")
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "out" / "tokens.bin").stat().st_size > 0
