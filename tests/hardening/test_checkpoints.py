"""Training checkpoints: checksums verified on load, resume falling back past a damaged
checkpoint, and the non-finite loss / gradient policy."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from sctool.errors import InvalidInputError, SctoolError
from tests.train.conftest import read_metrics, tiny_config, write_synthetic


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("synth") / "synth")


@pytest.fixture(scope="module")
def four_steps(tmp_path_factory: pytest.TempPathFactory, synth: Path) -> Path:
    """A run with checkpoints at steps 2 and 4 (copied per test before damaging)."""
    from sctool.train.fit import fit

    run = tmp_path_factory.mktemp("run") / "r"
    fit(tiny_config(run, synth, trainer={"max_steps": 4, "val_every": 0}))
    return run


def _copy(run: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(run, dest, symlinks=True)
    return dest


def _overwrite_4k(path: Path) -> None:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 4096] = bytes(4096)
    path.write_bytes(bytes(data))


def test_every_checkpoint_has_a_checksum_and_damage_is_named(four_steps: Path, tmp_path: Path) -> None:
    from sctool.train.checkpoint import read_checkpoint

    run = _copy(four_steps, tmp_path / "r")
    ckpts = sorted((run / "checkpoints").glob("step-*.ckpt"))
    assert [p.name for p in ckpts] == ["step-0000002.ckpt", "step-0000004.ckpt"]
    read_checkpoint(ckpts[1])  # intact: loads
    _overwrite_4k(ckpts[1])
    with pytest.raises(InvalidInputError, match=r"step-0000004\.ckpt.*checksum"):
        read_checkpoint(ckpts[1])
    ckpts[0].write_bytes(ckpts[0].read_bytes()[:1000])
    with pytest.raises(InvalidInputError, match=r"step-0000002\.ckpt"):
        read_checkpoint(ckpts[0])
    ckpts[0].write_bytes(b"")
    with pytest.raises(InvalidInputError, match=r"step-0000002\.ckpt"):
        read_checkpoint(ckpts[0])


@pytest.mark.parametrize("damage", ["overwrite", "truncate", "empty"])
def test_resume_falls_back_to_the_newest_checkpoint_that_verifies(four_steps: Path, synth: Path, tmp_path: Path,
                                                                  capfd, damage: str) -> None:
    from sctool.train.fit import fit

    run = _copy(four_steps, tmp_path / "r")
    last = run / "checkpoints" / "step-0000004.ckpt"
    if damage == "overwrite":
        _overwrite_4k(last)
    elif damage == "truncate":
        last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    else:
        last.write_bytes(b"")
    res = fit(tiny_config(run, synth, trainer={"max_steps": 6, "val_every": 0}))
    err = capfd.readouterr().err
    assert "step-0000004.ckpt" in err and "step-0000002.ckpt" in err
    assert res.global_step == 6
    train, _ = read_metrics(run)
    assert [int(r["step"]) for r in train] == [1, 2, 3, 4, 5, 6]
    assert all(math.isfinite(float(r["loss"])) for r in train)


def _nan_at_step(monkeypatch: pytest.MonkeyPatch, bad_step: int) -> None:
    from sctool.train.module import GPTLightningModule

    orig = GPTLightningModule.training_step

    def step(self, batch, batch_idx):
        loss = orig(self, batch, batch_idx)
        if self.trainer.global_step == bad_step - 1:
            return loss * float("nan")
        return loss

    monkeypatch.setattr(GPTLightningModule, "training_step", step)


def test_non_finite_gradient_stops_training_naming_the_step(synth: Path, tmp_path: Path, monkeypatch) -> None:
    from sctool.train.fit import fit

    _nan_at_step(monkeypatch, 3)
    with pytest.raises(SctoolError, match=r"step 3\b.*(nan|non-finite)"):
        fit(tiny_config(tmp_path / "r", synth, trainer={"max_steps": 6, "val_every": 0}))
    # the checkpoint of step 2 is intact and nothing after it was saved
    assert sorted(p.name for p in (tmp_path / "r" / "checkpoints").glob("step-*.ckpt")) == ["step-0000002.ckpt"]


def test_nan_policy_skip_drops_the_update_and_goes_on(synth: Path, tmp_path: Path, monkeypatch, capfd) -> None:
    from sctool.train.checkpoint import model_state_from_checkpoint
    from sctool.train.fit import fit

    _nan_at_step(monkeypatch, 3)
    res = fit(tiny_config(tmp_path / "r", synth, trainer={"max_steps": 6, "val_every": 0, "nan_policy": "skip"}))
    assert res.global_step == 6
    assert "step 3" in capfd.readouterr().err
    state, _ = model_state_from_checkpoint(res.last_checkpoint)
    assert all(bool(torch.isfinite(v).all()) for v in state.values())


def test_nan_policy_is_validated() -> None:
    from sctool.errors import ConfigError
    from sctool.train.config import TrainerConfig

    with pytest.raises(ConfigError, match="nan_policy"):
        TrainerConfig(nan_policy="ignore")


def test_model_directory_weights_are_checksummed_and_get_the_umask_mode(tmp_path: Path) -> None:
    import os

    from sctool.model.checkpoint import load_model, save_model_dir
    from sctool.model.config import ModelConfig
    from sctool.model.gpt import GPT

    model = GPT(ModelConfig.from_preset("tiny", vocab_size=256, n_positions=64, n_embd=32, n_head=4))
    old = os.umask(0o022)
    try:
        out = save_model_dir(model, None, tmp_path / "m")
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o755
    weights = out / "model.safetensors"
    assert (out / "model.safetensors.sha256").exists()
    load_model(out)
    _overwrite_4k(weights)
    with pytest.raises(InvalidInputError, match=r"model\.safetensors.*checksum"):
        load_model(out)
