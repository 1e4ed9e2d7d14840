"""End-to-end training on CPU: exact resume, metrics, schedule, optimizer groups, init_from."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from sctool.train.checkpoint import model_state_from_checkpoint, read_checkpoint
from sctool.train.config import OptimConfig
from sctool.train.fit import fit
from sctool.train.module import WarmupCosine, build_optimizer

from .conftest import read_metrics, tiny_config


def test_schedule_is_linear_warmup_then_cosine_to_ten_percent():
    s = WarmupCosine(warmup_steps=10, decay_steps=110, min_ratio=0.1)
    assert [s(i) for i in range(10)] == pytest.approx([(i + 1) / 10 for i in range(10)])
    assert s(10) == pytest.approx(1.0)
    assert s(60) == pytest.approx(0.1 + 0.9 * 0.5)  # half-way through the cosine
    assert s(110) == pytest.approx(0.1) and s(10_000) == pytest.approx(0.1)
    values = [s(i) for i in range(10, 111)]
    assert all(a >= b for a, b in itertools.pairwise(values))
    assert WarmupCosine(0, 0, 0.1)(0) == pytest.approx(0.1)  # no warmup, no decay span: the floor


def test_optimizer_is_starcoder_adamw_with_decay_on_matrices_only():
    from sctool.model.config import ModelConfig
    from sctool.model.gpt import GPT

    model = GPT(ModelConfig.from_preset("tiny", vocab_size=128))
    opt = build_optimizer(model, OptimConfig(), "cpu")
    assert isinstance(opt, torch.optim.AdamW)
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] == 0.1 for p in g["params"]}
    for name, p in model.named_parameters():
        assert (id(p) in decayed) == (p.dim() >= 2), name
    g = opt.param_groups[0]
    assert g["betas"] == (0.9, 0.95) and g["eps"] == 1e-8 and g["lr"] == 3e-4


def _losses(run):
    train, _ = read_metrics(run)
    return [(int(r["step"]), float(r["loss"])) for r in train]


def test_stop_and_resume_twice_reproduces_the_uninterrupted_losses(tmp_path, synth_data):
    # peak_tflops null: MFU's denominator measured on this CPU, as in a default run
    sections = {"trainer": {"grad_accum": 2, "max_steps": 6, "ckpt_every": 2, "peak_tflops": None}}
    full = fit(tiny_config(tmp_path / "full", synth_data, **sections))
    assert full.global_step == 6
    run = tmp_path / "pieces"
    for stop in (2, 4, 6):
        cfg = tiny_config(run, synth_data, trainer={**sections["trainer"], "stop_after_steps": stop})
        assert fit(cfg).global_step == stop
    reference = _losses(tmp_path / "full")
    assert [s for s, _ in reference] == [1, 2, 3, 4, 5, 6]
    assert all(float(r["mfu"]) > 0 for r in read_metrics(tmp_path / "full")[0])
    # Dropout is on and validation runs between steps: equality means model, optimizer, schedule,
    # RNG and data position all came back exactly.
    assert _losses(run) == reference
    a = read_checkpoint(tmp_path / "full")
    b = read_checkpoint(run)
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k
    assert a["sctool"]["consumed_samples"] == b["sctool"]["consumed_samples"] == 6 * 2 * 4
    _, val = read_metrics(run)
    _, val_full = read_metrics(tmp_path / "full")
    assert [r["val_loss"] for r in val] == [r["val_loss"] for r in val_full]


def test_metrics_csv_and_loss_falls(tmp_path, synth_data):
    cfg = tiny_config(
        tmp_path / "run", synth_data,
        model={"embd_pdrop": 0.0, "resid_pdrop": 0.0, "attn_pdrop": 0.0},
        optim={"lr": 1e-2, "warmup_steps": 3},
        trainer={"max_steps": 40, "val_every": 20, "ckpt_every": 0, "log_every": 5, "tensorboard": True},
    )
    result = fit(cfg)
    train, val = read_metrics(result.run_dir)
    assert [int(r["step"]) for r in train] == [5, 10, 15, 20, 25, 30, 35, 40]
    first, last = float(train[0]["loss"]), float(train[-1]["loss"])
    assert last < first - 1.0, (first, last)
    for r in train:
        assert float(r["tokens_per_s"]) > 0 and float(r["grad_norm"]) > 0
        assert 0 < float(r["mfu"]) < 1  # peak_tflops 1.0 in the test config
        assert float(r["lr"]) <= 1e-2 + 1e-12
    assert int(train[-1]["tokens"]) == 40 * 4 * 32
    assert [int(r["step"]) for r in val] == [20, 40]
    assert float(val[1]["val_ppl"]) == pytest.approx(math.exp(float(val[1]["val_loss"])), rel=1e-4)
    assert (result.run_dir / "config.yaml").exists()
    assert any((result.run_dir / "tensorboard").iterdir())
    # ckpt_every 0: the end of the run is still checkpointed
    assert result.last_checkpoint is not None and result.last_checkpoint.name == "last.ckpt"


def test_init_from_loads_weights_only(tmp_path, synth_data):
    first = fit(tiny_config(tmp_path / "a", synth_data, trainer={"max_steps": 2}))
    state, _ = model_state_from_checkpoint(first.last_checkpoint)
    # a new run from those weights with lr ~ 0: its weights stay those of the source, its step starts at 0
    cfg = tiny_config(
        tmp_path / "b", synth_data, optim={"lr": 1e-30, "weight_decay": 0.0},
        trainer={"max_steps": 1, "init_from": str(first.last_checkpoint)},
    )
    second = fit(cfg)
    assert second.global_step == 1
    new_state, _ = model_state_from_checkpoint(second.last_checkpoint)
    for k, v in state.items():
        assert torch.allclose(v, new_state[k], atol=1e-6), k


def test_resume_never_refuses_a_run_directory_with_checkpoints(tmp_path, synth_data):
    from sctool.errors import ConfigError

    fit(tiny_config(tmp_path / "r", synth_data, trainer={"max_steps": 2}))
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        fit(tiny_config(tmp_path / "r", synth_data, trainer={"max_steps": 2, "resume": "never"}))
