"""``python -m train``: generated help, config layering, --print_config, errors, export/import, DDP."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from sctool.config import config_to_dict
from sctool.train.cli import parse_value, resolve_fit_config
from sctool.train.fit import fit

from .conftest import assert_two_ranks_match_one, run_train, tiny_config

REPO = Path(__file__).resolve().parents[2]
TINY = str(REPO / "configs" / "train" / "tiny.yaml")


def call_main(capsys: pytest.CaptureFixture[str], *args: object) -> subprocess.CompletedProcess:
    """The same entry point in-process (importing torch + Lightning per subprocess costs seconds)."""
    from sctool.train.cli import main

    try:
        rc = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's --help / usage errors
        rc = int(exc.code or 0)
    cap = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), rc, cap.out, cap.err)


@pytest.mark.parametrize(
    ("text", "tp", "expected"),
    [
        ("1e-3", float, 1e-3),
        ("3", float, 3),
        ("true", bool, True),
        ("false", bool, False),
        ("null", int | None, None),
        ("auto", int | str, "auto"),
        ("2", int | str, 2),
        ("x.yaml", str, "x.yaml"),
        ("[1, 2]", tuple[int, ...], [1, 2]),
    ],
)
def test_values_parse_as_their_field_types(text, tp, expected):
    assert parse_value(text, tp) == expected


def test_layers_apply_in_order_defaults_file_options(tmp_path):
    extra = tmp_path / "extra.yaml"
    extra.write_text("optim: {lr: 0.5}\ntrainer: {max_steps: 7}\nmodel: {n_layer: 3}\n")
    cfg, _ = resolve_fit_config(
        ["--config", TINY, "--config", str(extra), "--optim.lr", "1e-4", "--trainer.compile", "--model.n_embd", "128",
         "--data", "2:/x/a", "/x/b", "--tokenizer", "tok.json", "--out", "o"]
    )
    assert cfg.optim.lr == 1e-4 and cfg.trainer.max_steps == 7 and cfg.trainer.compile is True
    assert cfg.model.n_layer == 3 and cfg.model.n_embd == 128 and cfg.model.n_head == 4  # rest from the tiny preset
    assert cfg.data.seq_len == 128 and cfg.data.tokenizer == "tok.json" and cfg.out == "o"
    assert [(s.prefix, s.weight) for s in cfg.data.sources] == [("/x/a", 2.0), ("/x/b", 1.0)]
    # a preset named later replaces the whole model section
    cfg2, _ = resolve_fit_config(["--config", TINY, "--model", "125m"])
    assert cfg2.model.n_layer == 12 and cfg2.model.n_embd == 768


def test_print_config_round_trips_and_help_comes_from_the_dataclasses(tmp_path, capsys):
    out = call_main(capsys, "fit", "--config", TINY, "--optim.lr", "2e-4", "--trainer.max_steps", "9", "--print_config")
    assert out.returncode == 0, out.stderr
    data = yaml.safe_load(out.stdout)
    assert data["optim"]["lr"] == 2e-4 and data["trainer"]["max_steps"] == 9 and data["model"]["n_layer"] == 2
    # the printed config is itself a valid --config
    saved = tmp_path / "c.yaml"
    saved.write_text(out.stdout)
    cfg, _ = resolve_fit_config(["--config", str(saved)])
    assert config_to_dict(cfg) == data
    help_out = call_main(capsys, "fit", "--help")
    assert help_out.returncode == 0
    for flag in ("--optim.beta2", "--trainer.grad_accum", "--model.n_kv_heads", "--data.fim_rate", "--print_config"):
        assert flag in help_out.stdout
    assert "StarCoder: 0.95" in help_out.stdout  # field help text, not just names
    top = run_train("--help")  # through the real `python -m train` shim
    assert top.returncode == 0 and "export-hf" in top.stdout and "import-hf" in top.stdout


def test_bad_options_are_one_line_errors(capsys):
    out = call_main(capsys, "fit", "--config", TINY, "--optim.lr", "-1", "--print_config")
    assert out.returncode == 2 and "optim.lr must be > 0" in out.stderr and "Traceback" not in out.stderr
    out = call_main(capsys, "fit", "--config", "no-such-preset")
    assert out.returncode == 2 and "no-such-preset" in out.stderr
    out = call_main(capsys, "fit", "--config", TINY, "--data", "/nonexistent/prefix", "--data.fim_rate", "0",
                    "--out", "/tmp/sctool-train-never-created")
    assert out.returncode == 2 and "/nonexistent/prefix" in out.stderr and "Traceback" not in out.stderr
    out = call_main(capsys, "fit", "--config", TINY, "--data", "/x", "--out", "/tmp/sctool-train-never-created")
    assert out.returncode == 2 and "tokenizer" in out.stderr  # FIM without a tokenizer
    out = call_main(capsys, "fit", "--config", TINY, "--trainer.bogus", "1")
    assert out.returncode == 2 and "--trainer.bogus" in out.stderr
    out = call_main(capsys, "frobnicate")
    assert out.returncode == 2 and "unknown command" in out.stderr


def test_export_hf_loads_in_transformers_and_import_hf_round_trips(tmp_path, tokenized_data, capsys):
    from transformers import GPTBigCodeForCausalLM

    from sctool.model.checkpoint import load_model
    from sctool.train.checkpoint import model_from_checkpoint

    prefix, tok = tokenized_data
    cfg = tiny_config(
        tmp_path / "run", prefix, data={"tokenizer": str(tok), "fim_rate": 0.5},
        model={"embd_pdrop": 0.0, "resid_pdrop": 0.0, "attn_pdrop": 0.0}, trainer={"max_steps": 2},
    )
    fit(cfg)
    out = call_main(capsys, "export-hf", tmp_path / "run", tmp_path / "hf")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "hf" / "tokenizer.json").exists()  # the run's tokenizer came along
    ours = model_from_checkpoint(tmp_path / "run")
    theirs = GPTBigCodeForCausalLM.from_pretrained(tmp_path / "hf").eval()
    ids = torch.from_numpy(np.random.default_rng(0).integers(0, ours.config.vocab_size, size=(2, 24)))
    with torch.no_grad():
        diff = (ours(ids).logits - theirs(ids).logits).abs().max().item()
    assert diff <= 1e-4
    out = call_main(capsys, "import-hf", tmp_path / "hf", tmp_path / "imported")
    assert out.returncode == 0, out.stderr
    back = load_model(tmp_path / "imported")
    with torch.no_grad():
        assert (back(ids).logits - ours(ids).logits).abs().max().item() <= 1e-5


@pytest.mark.slow
def test_ddp_two_processes_match_one_process(tmp_path, synth_data):
    """2 ranks × micro-batch 2 see the samples 1 rank × 4 sees: same losses (gloo, CPU, fp32, no dropout)."""
    sections = {
        "model": {"embd_pdrop": 0.0, "resid_pdrop": 0.0, "attn_pdrop": 0.0},
        "trainer": {"max_steps": 3, "val_every": 3, "ckpt_every": 0},
    }
    single = fit(tiny_config(tmp_path / "one", synth_data, **sections))
    cfg = tiny_config(
        tmp_path / "two", synth_data, model=sections["model"],
        trainer={**sections["trainer"], "micro_batch_size": 2, "devices": 2, "strategy": "ddp"},
    )
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(config_to_dict(cfg)))
    out = run_train("fit", "--config", path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "distributed_backend=gloo" in out.stderr or "MEMBER: 2/2" in out.stderr
    assert_two_ranks_match_one(single.run_dir, tmp_path / "two", 3)


def test_data_argument_reads_blend_files_and_directories(tmp_path):
    from sctool.train.cli import expand_data_args

    from .conftest import write_synthetic

    write_synthetic(tmp_path / "python", n_docs=10, seed=1)
    write_synthetic(tmp_path / "java", n_docs=30, seed=2)
    (tmp_path / "blend.yaml").write_text(
        "format: megatron-mmap-indexed-dataset\nsources:\n"
        "- {name: python, prefix: python, weight: 60.4}\n- {name: java, prefix: java, weight: 86.94}\n"
    )
    expected = [(str(tmp_path / "python"), 60.4, "python"), (str(tmp_path / "java"), 86.94, "java")]
    for arg in (tmp_path, tmp_path / "blend.yaml"):
        got = [(s["prefix"], s["weight"], s["name"]) for s in expand_data_args([str(arg)])]
        assert got == expected
    (tmp_path / "blend.yaml").unlink()
    by_dir = expand_data_args([str(tmp_path)])  # no blend file: every pair, weighted by its tokens
    from sctool.packing.indexed import IndexedDataset

    assert [(s["prefix"], s["weight"]) for s in by_dir] == [
        (str(tmp_path / n), float(IndexedDataset(tmp_path / n).num_tokens)) for n in ("java", "python")
    ]


@pytest.mark.parametrize("preset", sorted(p.stem for p in (REPO / "configs" / "train").glob("*.yaml")))
def test_every_training_preset_resolves(preset):
    cfg, _ = resolve_fit_config(["--config", preset])
    assert cfg.data.seq_len <= cfg.model.n_positions
    assert cfg.optim.beta2 == 0.95 and cfg.optim.min_lr_ratio == pytest.approx(0.1)
