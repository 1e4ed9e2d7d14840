"""The Lightning strategy of a run (``trainer.strategy``), and the model sharding that ``fsdp`` needs.

``auto``, ``ddp``, ``ddp_spawn`` … are handed to Lightning as the strings they are. ``fsdp`` is
PyTorch's FSDP2 (``torch.distributed.fsdp.fully_shard``) through Lightning's
:class:`~lightning.pytorch.strategies.ModelParallelStrategy`, not Lightning's ``FSDPStrategy``
(FSDP1). Why:

* Lightning's FSDP1 path failed on a H200 with ``bf16-mixed`` ("attempting to assign a gradient
  with dtype BFloat16 to a tensor with grad_dtype Float"). Its ``bf16-mixed`` is not autocast but
  FSDP1 ``MixedPrecision(param_dtype=reduce_dtype=bf16)``: the weights the model (and the fused
  loss, :func:`sctool.model.fused_loss.linear_cross_entropy`, which reads ``lm_head.weight``
  directly) computes with are bf16 copies of the fp32 flat parameter, gradients are reduced in
  bf16, and numerics differ from what ``ddp`` runs. Lightning's ``FSDPStrategy`` also refuses a
  CPU accelerator, so none of it can be tested without a GPU (torch's FSDP1 called directly with
  the same settings runs on CPU, so the failure is CUDA-side and was not reproduced here).
* FSDP2 shards each parameter on its own (a ``DTensor``, dim 0 split over ranks), keeps the
  parameters' dtype (``bf16-mixed`` stays autocast over fp32 weights, exactly what ``ddp`` runs), and
  dedups a shared parameter within one unit: the embedding and the head are both owned by the root
  unit, gathered before the root's forward, so the fused loss sees an ordinary full tensor. It runs
  on CPU (gloo) as well as CUDA (NCCL), so the tests exercise the real code.

Units (:func:`shard_gpt`): one per :class:`~sctool.model.gpt.Block`, then the root :class:`GPT`,
which owns what is left (``wte``/``lm_head``, ``wpe``, ``ln_f``). Blocks free their gathered
weights after forward (re-gathered for backward); the root keeps its own until backward, as
``fully_shard`` does for the outermost unit.

Checkpoints are full, unsharded state dicts assembled on rank 0 (``save_distributed_checkpoint``
off): a ``.ckpt`` file laid out like the one ``ddp`` writes (only the optimizer state is numbered
in module order, which its ``param_groups`` record), so ``export-hf``, ``init_from`` and
:func:`sctool.train.checkpoint.model_from_checkpoint` read it as they read any other, and resume
(model and optimizer state re-sharded on load) works across strategies and world sizes.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from lightning.pytorch.strategies import ModelParallelStrategy
from typing_extensions import override

from sctool.errors import ConfigError

if TYPE_CHECKING:
    from torch.distributed.device_mesh import DeviceMesh

    from sctool.model.gpt import GPT
    from sctool.train.config import TrainerConfig

#: Precisions the FSDP2 path supports (Lightning's ModelParallelStrategy: no gradient scaler for
#: fp16-mixed, no fp64).
FSDP_PRECISIONS = ("32-true", "bf16-mixed", "bf16-true")

#: Name of the data-parallel dimension of the device mesh Lightning builds.
DP_MESH_DIM = "data_parallel"


class FSDP2Strategy(ModelParallelStrategy):
    """Lightning's ModelParallelStrategy as plain FSDP: every rank one data-parallel shard.

    Lightning's defaults read ``data_parallel_size="auto"`` as the number of *nodes* (tensor
    parallelism inside a node); here the data-parallel dimension spans the whole world and tensor
    parallelism is 1, so the sizes follow ``--trainer.devices``/``num_nodes`` without being
    repeated in the config. Checkpoints are single full files (see the module docstring).
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("save_distributed_checkpoint", False)
        super().__init__(**kwargs)

    @override
    def setup_environment(self) -> None:
        self._data_parallel_size = self.num_nodes * self.num_processes
        self._tensor_parallel_size = 1
        super().setup_environment()

    @override
    def load_checkpoint(self, checkpoint_path: Any, weights_only: bool | None = None) -> dict[str, Any]:
        """Resume from a full ``.ckpt``, written by this strategy or by any other.

        Lightning's own loader renames a saved optimizer state's numbered entries to parameter
        names assuming the optimizer lists the parameters in module order; ours lists them by
        param group (decay first), so a ``ddp`` checkpoint would give its moments to the wrong
        parameters. Here the numbers are matched through ``param_groups`` by position, as
        ``torch.optim.Optimizer.load_state_dict`` does (:func:`optimizer_state_by_name`). Every
        rank reads the (memory-mapped) file and keeps its own shard: no broadcast is needed.
        """
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_model_state_dict,
            set_optimizer_state_dict,
        )

        path = Path(self.broadcast(checkpoint_path))
        if not path.is_file():  # a sharded checkpoint directory (save_distributed_checkpoint=True)
            return super().load_checkpoint(path, weights_only=weights_only)
        assert self.model is not None and self.lightning_module is not None
        checkpoint = torch.load(path, mmap=True, map_location="cpu", weights_only=weights_only)
        options = StateDictOptions(full_state_dict=True, strict=self.lightning_module.strict_loading)
        set_model_state_dict(self.model, checkpoint.pop("state_dict"), options=options)
        if self.optimizers:  # fitting (validate/test from a checkpoint has none)
            saved = checkpoint.get("optimizer_states") or []
            for optimizer, state in zip(self.optimizers, saved, strict=True):
                by_name = optimizer_state_by_name(state, optimizer, self.model)
                set_optimizer_state_dict(self.model, optimizer, optim_state_dict=by_name, options=options)
        # The rest (loops, schedulers, callbacks, hyper-parameters, the module's own state) is
        # restored by Lightning from what is returned, as for any strategy.
        return checkpoint


def optimizer_state_by_name(state: dict[str, Any], optimizer: torch.optim.Optimizer, module: torch.nn.Module) -> dict[str, Any]:
    """A saved ``optimizer.state_dict()`` keyed by parameter name instead of number.

    Saved number ``i`` is the parameter at the same position of the same param group of
    ``optimizer`` (``torch.optim.Optimizer.load_state_dict``'s rule), whichever order the writer
    numbered them in. Names are ``module``'s, the keys ``set_optimizer_state_dict`` expects.
    """
    keys = list(state.get("state", {}))
    if keys and isinstance(keys[0], str):
        return state
    saved_groups = state["param_groups"]
    groups = optimizer.param_groups
    shapes = [len(g["params"]) for g in saved_groups], [len(g["params"]) for g in groups]
    if shapes[0] != shapes[1]:
        raise ValueError(f"optimizer state does not fit this model: param group sizes {shapes[0]} != {shapes[1]}")
    names = {id(p): n for n, p in module.named_parameters()}
    number_to_name = {
        i: names[id(p)] for saved, group in zip(saved_groups, groups) for i, p in zip(saved["params"], group["params"])
    }
    return {
        "state": {number_to_name[i]: v for i, v in state["state"].items()},
        "param_groups": [{**g, "params": [number_to_name[i] for i in g["params"]]} for g in saved_groups],
    }


def build_strategy(t: TrainerConfig) -> Any:
    """The ``strategy=`` argument of ``L.Trainer`` for ``t.strategy``.

    Anything but ``fsdp`` is returned unchanged, so ``auto``/``ddp`` runs are exactly what Lightning
    makes of the name. ``fsdp`` becomes an :class:`FSDP2Strategy`; the sharding itself happens in
    ``GPTLightningModule.configure_model`` (:func:`shard_gpt`), where Lightning wants it.
    """
    if t.strategy != "fsdp":
        return t.strategy
    if t.precision not in FSDP_PRECISIONS:
        raise ConfigError(
            f"trainer.strategy fsdp supports precision {', '.join(FSDP_PRECISIONS)} (got {t.precision})"
        )
    return FSDP2Strategy()


def data_parallel_mesh(mesh: DeviceMesh | None) -> DeviceMesh | None:
    """The 1-D data-parallel mesh to shard over, or None when the run is not FSDP."""
    if mesh is None:
        return None
    names = mesh.mesh_dim_names or ()
    return mesh[DP_MESH_DIM] if DP_MESH_DIM in names else mesh


def is_sharded(model: torch.nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def init_context(mesh: DeviceMesh | None) -> AbstractContextManager[Any]:
    """Where to build the model: for real on rank 0 (or without FSDP), on the meta device elsewhere.

    Only rank 0 draws the initial weights (the same seeded draw a ``ddp`` or single-device run
    makes); :func:`shard_gpt` then hands every rank its shard of them. So the full model exists
    once (in rank 0's CPU memory) at start-up, not once per rank.
    """
    if mesh is None or mesh.size() == 1 or mesh.get_rank() == 0:
        return nullcontext()
    return torch.device("meta")


def shard_gpt(model: GPT, mesh: DeviceMesh, from_rank0: bool) -> GPT:
    """``fully_shard`` each block, then the root; with ``from_rank0``, rank 0's weights go to all.

    ``from_rank0``: the model was built under :func:`init_context` (real on rank 0, meta elsewhere),
    so after sharding every rank gets its shard of rank 0's weights. Without it every rank already
    holds the same full weights (``init_from`` loads them before the trainer starts) and each just
    keeps its shard.

    The tied embedding/head weight belongs to the root unit (FSDP2 manages a shared parameter once,
    in the unit whose module tree holds both users), so it is one sharded parameter, gathered
    once per forward, and its gradients from the head and from the embedding accumulate into one
    tensor before the reduce-scatter.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict
    from torch.distributed.fsdp import fully_shard

    broadcast = from_rank0 and mesh.size() > 1
    # Rank 0's initial weights, kept aside on CPU before sharding moves them to the device.
    full: dict[str, torch.Tensor] = {}
    if broadcast and mesh.get_rank() == 0:
        full = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    for block in model.transformer.h:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    if broadcast:
        if any(p.is_meta for p in model.parameters()):
            device = torch.device("cpu") if mesh.device_type == "cpu" else torch.device(
                mesh.device_type, torch.cuda.current_device()
            )
            model.to_empty(device=device)
        set_model_state_dict(
            model, full, options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True, strict=True)
        )
        _broadcast_transient_buffers(model, mesh)
    return model


def _broadcast_transient_buffers(model: torch.nn.Module, mesh: DeviceMesh) -> None:
    """Rank 0's non-persistent buffers to every rank (the state dict, and so the broadcast above,
    leaves them out: on the ranks built on the meta device they would hold uninitialised memory).

    Every rank calls this (it is a collective); the buffer names are the same on all of them.
    """
    import torch.distributed as dist

    kept = set(model.state_dict())
    names = [n for n, _ in model.named_buffers() if n not in kept]
    if not names:
        return
    group = mesh.get_group()
    src = dist.get_global_rank(group, 0)
    for name in names:
        dist.broadcast(model.get_buffer(name), src=src, group=group)


__all__ = [
    "FSDP_PRECISIONS",
    "FSDP2Strategy",
    "build_strategy",
    "data_parallel_mesh",
    "init_context",
    "is_sharded",
    "optimizer_state_by_name",
    "shard_gpt",
]
