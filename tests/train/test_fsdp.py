"""``--trainer.strategy fsdp`` (FSDP2 through Lightning's ModelParallelStrategy) on CPU with gloo.

The reference for every FSDP run is a plain single-device run of the same global batch: sharding
must change where the weights live, not what training computes. In fp32 on one rank the two runs
do the same arithmetic (the tolerance only absorbs summation-order noise); across two ranks the
gradient is a reduce-scatter of two half-batch gradients, which DDP's test allows 1e-4 for too.
"""

from __future__ import annotations

import math
import os

import pytest
import torch
import yaml

from sctool.config import config_to_dict
from sctool.errors import ConfigError
from sctool.train.checkpoint import model_from_checkpoint, model_state_from_checkpoint, read_checkpoint
from sctool.train.config import TrainerConfig
from sctool.train.fit import fit
from sctool.train.strategy import FSDP2Strategy, build_strategy

from .conftest import assert_two_ranks_match_one, read_metrics, run_train, tiny_config

NO_DROPOUT = {"embd_pdrop": 0.0, "resid_pdrop": 0.0, "attn_pdrop": 0.0}


@pytest.fixture(autouse=True)
def _isolated_process_group():
    """An in-process FSDP run initialises a (1-rank) process group and exports LOCAL_RANK,
    MASTER_PORT …; left behind, a later ``python -m train`` child would believe it had been
    launched by torchrun and never start its second rank."""
    saved = dict(os.environ)
    yield
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    os.environ.clear()
    os.environ.update(saved)


def _fresh_group() -> None:
    """Each ``fit`` in a test gets its own process group, as separate invocations would."""
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def _losses(run):
    train, _ = read_metrics(run)
    return [(int(r["step"]), float(r["loss"])) for r in train]


def _full(t: torch.Tensor) -> torch.Tensor:
    from torch.distributed.tensor import DTensor

    return (t.full_tensor() if isinstance(t, DTensor) else t).detach().cpu().clone()


def test_strategy_names_other_than_fsdp_reach_lightning_unchanged():
    for name in ("auto", "ddp", "ddp_spawn", "ddp_find_unused_parameters_true"):
        assert build_strategy(TrainerConfig(strategy=name)) == name
    assert isinstance(build_strategy(TrainerConfig(strategy="fsdp", precision="bf16-mixed")), FSDP2Strategy)
    for precision in ("16-mixed", "64-true"):
        with pytest.raises(ConfigError, match="fsdp supports precision"):
            build_strategy(TrainerConfig(strategy="fsdp", precision=precision))


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed", "bf16-true"])
def test_one_device_fsdp_trains_like_a_plain_run_and_writes_a_normal_checkpoint(
    tmp_path, synth_data, monkeypatch, precision
):
    from sctool.train.callbacks import RunMonitor

    final: dict[str, torch.Tensor] = {}
    sharded: list[bool] = []
    on_train_end = RunMonitor.on_train_end

    def keep_weights(self, trainer, pl_module):
        from sctool.train.strategy import is_sharded

        sharded.append(is_sharded(pl_module.model))
        final.update({k: _full(v) for k, v in pl_module.model.state_dict().items()})
        on_train_end(self, trainer, pl_module)

    trainer = {"precision": precision, "max_steps": 3, "val_every": 3, "ckpt_every": 0}
    ref = fit(tiny_config(tmp_path / "ref", synth_data, trainer=trainer))
    _fresh_group()
    monkeypatch.setattr(RunMonitor, "on_train_end", keep_weights)
    run = fit(tiny_config(tmp_path / "fsdp", synth_data, trainer={**trainer, "strategy": "fsdp"}))
    assert run.global_step == 3 and sharded == [True]

    got, want = _losses(run.run_dir), _losses(ref.run_dir)
    assert [s for s, _ in got] == [1, 2, 3] and all(math.isfinite(loss) for _, loss in got)
    # fp32: the same arithmetic; bf16: autocast (or bf16 weights) rounding in other orders.
    tol = 1e-5 if precision == "32-true" else 2e-3
    for (_, a), (_, b) in zip(got, want):
        assert a == pytest.approx(b, abs=tol)

    # The checkpoint is the ordinary full-state .ckpt: model_from_checkpoint / export-hf read it,
    # and it holds exactly the weights training ended with.
    ckpt = read_checkpoint(run.run_dir)
    ref_ckpt = read_checkpoint(ref.run_dir)
    assert set(ckpt["state_dict"]) == set(ref_ckpt["state_dict"])
    assert ckpt["sctool"]["consumed_samples"] == 3 * 4
    state, _ = model_state_from_checkpoint(run.run_dir)
    assert set(state) == set(final)
    for k, v in final.items():
        assert torch.equal(state[k], v), k
        assert state[k].dtype == ref_ckpt["state_dict"]["model." + k].dtype, k
    assert torch.equal(state["lm_head.weight"], state["transformer.wte.weight"])  # still tied
    model = model_from_checkpoint(run.run_dir)
    assert model.lm_head.weight is model.transformer.wte.weight
    assert torch.equal(model.transformer.h[1].mlp.c_fc.weight, final["transformer.h.1.mlp.c_fc.weight"])


def test_fsdp_stop_and_resume_reproduces_the_uninterrupted_run(tmp_path, synth_data):
    # Dropout on, validation between steps, grad_accum 2: equality needs model, optimizer state
    # (re-sharded on load), schedule, RNG and data position to all come back. The first and last
    # pieces run without FSDP: checkpoints move between strategies both ways.
    trainer = {"grad_accum": 2, "max_steps": 8, "val_every": 2, "ckpt_every": 2}
    ref = fit(tiny_config(tmp_path / "ref", synth_data, trainer=trainer))
    run = tmp_path / "pieces"
    for stop, strategy in ((2, "auto"), (4, "fsdp"), (6, "fsdp"), (8, "auto")):
        _fresh_group()
        cfg = tiny_config(run, synth_data, trainer={**trainer, "strategy": strategy, "stop_after_steps": stop})
        assert fit(cfg).global_step == stop
        if stop == 4:
            fsdp_ckpt = read_checkpoint(run / "checkpoints" / "step-0000004.ckpt")
    got, want = _losses(run), _losses(ref.run_dir)
    assert [s for s, _ in got] == list(range(1, 9))
    for (_, a), (_, b) in zip(got, want):
        assert a == pytest.approx(b, abs=1e-5)
    val_got, val_want = read_metrics(run)[1], read_metrics(ref.run_dir)[1]
    assert [int(r["step"]) for r in val_got] == [2, 4, 6, 8]
    for a, b in zip(val_got, val_want, strict=True):
        assert float(a["val_loss"]) == pytest.approx(float(b["val_loss"]), abs=1e-5)
    a, b = read_checkpoint(run), read_checkpoint(ref.run_dir)
    assert a["sctool"]["consumed_samples"] == b["sctool"]["consumed_samples"] == 8 * 2 * 4
    for k, v in b["state_dict"].items():
        assert torch.allclose(a["state_dict"][k], v, atol=1e-5), k
    # The FSDP checkpoint's optimizer state is the unsharded AdamW layout, numbered in module order
    # rather than param-group order; its param_groups say which is which, as load_state_dict reads it.
    mid = read_checkpoint(ref.run_dir / "checkpoints" / "step-0000004.ckpt")["optimizer_states"][0]
    got_opt = fsdp_ckpt["optimizer_states"][0]
    for g_fsdp, g_ref in zip(got_opt["param_groups"], mid["param_groups"], strict=True):
        assert len(g_fsdp["params"]) == len(g_ref["params"])
        for i, j in zip(g_fsdp["params"], g_ref["params"]):
            for key in ("exp_avg", "exp_avg_sq"):
                assert torch.allclose(got_opt["state"][i][key], mid["state"][j][key], rtol=1e-4, atol=1e-9), (i, key)


@pytest.mark.slow
def test_fsdp_two_processes_match_one_process_and_resume_on_one(tmp_path, synth_data):
    """2 ranks × micro-batch 2 (gloo) vs 1 rank × 4, fp32, no dropout: same losses and weights.

    The 2-rank run stops at step 3; step 4 then runs on one rank from its checkpoint, so the
    optimizer state saved from two shards must load into one.
    """
    trainer = {"max_steps": 4, "val_every": 3, "ckpt_every": 0, "stop_after_steps": 3}
    single = fit(tiny_config(tmp_path / "one", synth_data, model=NO_DROPOUT, trainer={**trainer, "stop_after_steps": 4}))
    cfg = tiny_config(
        tmp_path / "two", synth_data, model=NO_DROPOUT,
        trainer={**trainer, "micro_batch_size": 2, "devices": 2, "strategy": "fsdp"},
    )
    path = tmp_path / "fsdp.yaml"
    path.write_text(yaml.safe_dump(config_to_dict(cfg)))
    out = run_train("fit", "--config", path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "MEMBER: 2/2" in out.stderr and "distributed_backend=gloo" in out.stderr
    assert_two_ranks_match_one(single.run_dir, tmp_path / "two", 3, grad_norm=True)
    # rank 0 wrote one full checkpoint that loads like any other
    two_model = model_from_checkpoint(tmp_path / "two")
    assert two_model.lm_head.weight is two_model.transformer.wte.weight

    _fresh_group()
    one_rank = tiny_config(
        tmp_path / "two", synth_data, model=NO_DROPOUT, trainer={**trainer, "stop_after_steps": 4, "strategy": "fsdp"}
    )
    assert fit(one_rank).global_step == 4
    got, want = _losses(tmp_path / "two"), _losses(single.run_dir)
    assert [s for s, _ in got] == [1, 2, 3, 4]
    assert got[3][1] == pytest.approx(want[3][1], abs=1e-4)
    a, _ = model_state_from_checkpoint(tmp_path / "two")
    b, _ = model_state_from_checkpoint(single.run_dir)
    for k, v in b.items():
        assert torch.allclose(a[k], v, atol=1e-5), k


def _shard_from_rank0_worker(rank: int, port: int, out: str) -> None:
    """One rank of ``test_sharding_hands_every_rank_rank0s_weights_and_buffers``."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh

    from sctool.model import GPT, ModelConfig
    from sctool.train.strategy import init_context, shard_gpt

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        mesh = init_device_mesh("cpu", (2,))
        torch.manual_seed(0)
        cfg = ModelConfig(vocab_size=64, n_positions=16, n_embd=16, n_layer=2, n_head=2, **NO_DROPOUT)
        with init_context(mesh):  # real on rank 0, meta on rank 1
            model = GPT(cfg)
            model.register_buffer("extra", torch.full((3,), 7.0), persistent=False)
        assert any(p.is_meta for p in model.parameters()) == (rank == 1)
        shard_gpt(model, mesh, from_rank0=True)
        state = {k: _full(v) for k, v in model.state_dict().items()}
        torch.save({"state": state, "extra": model.get_buffer("extra").clone()}, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_sharding_hands_every_rank_rank0s_weights_and_buffers(tmp_path):
    """Rank 1 starts on the meta device; after ``shard_gpt`` it holds rank 0's weights and also its
    non-persistent buffers, which no state dict carries."""
    import socket

    import torch.multiprocessing as mp

    from sctool.model import GPT, ModelConfig

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_shard_from_rank0_worker, args=(port, str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    torch.manual_seed(0)
    ref = GPT(ModelConfig(vocab_size=64, n_positions=16, n_embd=16, n_layer=2, n_head=2, **NO_DROPOUT)).state_dict()
    assert set(r0["state"]) == set(r1["state"]) == set(ref)
    for k, v in ref.items():
        assert torch.equal(r0["state"][k], v) and torch.equal(r1["state"][k], v), k
    assert torch.equal(r0["extra"], torch.full((3,), 7.0)) and torch.equal(r1["extra"], torch.full((3,), 7.0))
