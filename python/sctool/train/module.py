"""The Lightning wrapper around :class:`sctool.model.gpt.GPT` (which knows nothing of Lightning).

It owns what the model should not: StarCoder's optimizer and schedule, the per-micro-batch dropout
seed, the data position, and the extra checkpoint state that makes resume exact. Step metrics are
collected here and written by :class:`sctool.train.callbacks.RunMonitor`.
"""

from __future__ import annotations

import math
import random
from typing import Any

import lightning as L
import numpy as np
import torch

from sctool.model.config import ModelConfig
from sctool.model.gpt import GPT
from sctool.train.config import OptimConfig

CHECKPOINT_KEY = "sctool"


class WarmupCosine:
    """Learning-rate multiplier: linear warmup to 1, then cosine to ``min_ratio`` at ``decay_steps``.

    StarCoderBase (the StarCoder paper): 2000 warmup iterations, cosine from 3e-4 to 3e-5 (ratio 0.1). Step
    ``s`` (0-based) of warmup uses ``(s + 1) / warmup`` so the first step already learns. A callable
    object rather than a closure, so ``LambdaLR.state_dict`` stores it and resume restores it.
    """

    def __init__(self, warmup_steps: int, decay_steps: int, min_ratio: float) -> None:
        self.warmup_steps = int(warmup_steps)
        self.decay_steps = int(decay_steps)
        self.min_ratio = float(min_ratio)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = self.decay_steps - self.warmup_steps
        progress = 1.0 if span <= 0 else min(max((step - self.warmup_steps) / span, 0.0), 1.0)
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def dropout_seed(seed: int, micro_batch: int, rank: int) -> int:
    """Seed of the torch generator for one micro-batch on one rank.

    Reseeding from (seed, position, rank) makes dropout a pure function of where training is, so a
    resumed run draws the same masks as an uninterrupted one whatever happened in between
    (validation, checkpointing, a different number of data workers).
    """
    return int(np.random.SeedSequence([seed, micro_batch, rank]).generate_state(1, np.uint64)[0] >> 1)


def build_optimizer(model: GPT, optim: OptimConfig, device_type: str) -> torch.optim.AdamW:
    """AdamW over the model's own decay/no-decay groups (weight decay on >= 2-D weights only).

    The fused kernel is used where torch has one for the device (CUDA, and CPU since torch 2.4): one
    kernel per step instead of one per tensor, ~10% of a small model's CPU step time.
    """
    groups = model.configure_optimizer_groups(optim.weight_decay)
    fused = optim.fused
    if fused is None:
        fused = device_type in ("cuda", "cpu")
    kwargs: dict[str, Any] = {"lr": optim.lr, "betas": (optim.beta1, optim.beta2), "eps": optim.eps}
    if fused:
        try:
            return torch.optim.AdamW(groups, fused=True, **kwargs)
        except (RuntimeError, TypeError):
            if optim.fused:
                raise
    return torch.optim.AdamW(groups, foreach=True, **kwargs)


class GPTLightningModule(L.LightningModule):
    """Trains a :class:`GPT` on batches ``{"tokens": (B, T)}``; labels are the tokens themselves."""

    def __init__(
        self,
        model: dict[str, Any],
        optim: dict[str, Any],
        decay_steps: int,
        seed: int = 1234,
        activation_checkpointing: bool = False,
        compile: bool = False,
        doc_attention_eod: int | None = None,
        data_fingerprint: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        # Plain dicts, so the checkpoint alone is enough to rebuild the model (export-hf).
        self.save_hyperparameters()
        self.model_config = ModelConfig.from_dict(model)
        self.optim_config = OptimConfig(**optim)
        self.decay_steps = int(decay_steps)
        self.seed = int(seed)
        self.doc_attention_eod = doc_attention_eod
        self.data_fingerprint = data_fingerprint or {}
        self.model: GPT | None = None
        # Data position: samples consumed by all ranks together (checkpointed).
        self.consumed_samples = 0
        self._micro_loss: list[torch.Tensor] = []
        self.step_lr = float("nan")
        self.last_grad_norm: torch.Tensor | None = None
        self._val_loss_sum: torch.Tensor | None = None
        self._val_count = 0
        self.val_loss: float | None = None

    # -- model -----------------------------------------------------------------------------------
    def configure_model(self) -> None:
        """Build the model here (not in ``__init__``) so FSDP can create it sharded.

        Lightning calls this once the processes are up; under ``--trainer.strategy fsdp`` the
        strategy has set a device mesh and the model is built on rank 0 only, then sharded
        (:mod:`sctool.train.strategy`). ``init_from`` calls it earlier, without a mesh.
        """
        from sctool.train.strategy import data_parallel_mesh, init_context, is_sharded, shard_gpt

        mesh = data_parallel_mesh(self.device_mesh)
        if self.model is not None and (mesh is None or is_sharded(self.model)):
            return
        built_here = self.model is None
        if self.model is None:
            with init_context(mesh):
                self.model = GPT(self.model_config)
        if mesh is not None:
            shard_gpt(self.model, mesh, from_rank0=built_here)
        if self.hparams.activation_checkpointing:
            self.model.set_activation_checkpointing(True)
        if self.hparams.compile:
            # Kept off the module tree so the state dict keeps the model's own parameter names.
            object.__setattr__(self, "_compiled", torch.compile(self.model))

    def _net(self) -> Any:
        compiled = self.__dict__.get("_compiled")
        return compiled if compiled is not None else self.model

    def _forward(self, tokens: torch.Tensor) -> Any:
        doc_ids = None
        if self.doc_attention_eod is not None:
            is_eod = tokens == self.doc_attention_eod
            doc_ids = torch.cumsum(is_eod, dim=1) - is_eod.long()  # (B, T): an EOD ends its own document
        return self._net()(tokens, labels=tokens, doc_ids=doc_ids)

    # -- optimisation ------------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        assert self.model is not None
        device_type = next(self.model.parameters()).device.type
        optimizer = build_optimizer(self.model, self.optim_config, device_type)
        o = self.optim_config
        schedule = WarmupCosine(o.warmup_steps, self.decay_steps, o.min_lr_ratio)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1}}

    def configure_gradient_clipping(
        self, optimizer: torch.optim.Optimizer, gradient_clip_val: Any = None, gradient_clip_algorithm: Any = None
    ) -> None:
        """Clip to ``optim.grad_clip`` and keep the pre-clip global norm for logging."""
        max_norm = self.optim_config.grad_clip if self.optim_config.grad_clip > 0 else math.inf
        wrapped = self.trainer.model if self.trainer is not None else None
        if wrapped is not None and hasattr(wrapped, "clip_grad_norm_") and wrapped is not self:
            # FSDP: the norm must be computed over the sharded gradients of all ranks.
            norm = wrapped.clip_grad_norm_(max_norm)
        else:
            params = [p for p in self.parameters() if p.grad is not None]
            norm = torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True)
        self.last_grad_norm = norm.detach()

    # -- steps -------------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        tokens = batch["tokens"]
        world = self.trainer.world_size if self._trainer is not None else 1
        global_batch = tokens.shape[0] * world
        micro_index = self.consumed_samples // global_batch
        rank = self.global_rank if self._trainer is not None else 0
        torch.manual_seed(dropout_seed(self.seed, micro_index, rank))
        if not self._micro_loss and self._trainer is not None:
            self.step_lr = float(self.trainer.optimizers[0].param_groups[0]["lr"])
        out = self._forward(tokens)
        self.consumed_samples += global_batch
        self._micro_loss.append(out.loss.detach())
        return out.loss

    def pop_step_loss(self) -> torch.Tensor:
        """Mean loss of the micro-batches of the optimizer step that just ended (this rank)."""
        losses = self._micro_loss
        self._micro_loss = []
        return torch.stack(losses).mean() if losses else torch.tensor(float("nan"))

    def on_validation_epoch_start(self) -> None:
        self._val_loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        self._val_count = 0

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        out = self._forward(batch["tokens"])
        assert self._val_loss_sum is not None
        self._val_loss_sum += out.loss.detach().double()
        self._val_count += 1

    def on_validation_epoch_end(self) -> None:
        if self._val_loss_sum is None:
            return
        total = torch.stack([self._val_loss_sum, torch.tensor(float(self._val_count), device=self.device).double()])
        total = self.trainer.strategy.reduce(total, reduce_op="sum")
        self.val_loss = float(total[0] / total[1]) if float(total[1]) > 0 else None
        if self.val_loss is not None:
            self.log("val_loss", self.val_loss, prog_bar=True, logger=False, sync_dist=True)

    # -- checkpoint state --------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        np_state = np.random.get_state()
        rng: dict[str, Any] = {
            "torch": torch.get_rng_state(),
            "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
            "python": random.getstate(),
        }
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        checkpoint[CHECKPOINT_KEY] = {
            "consumed_samples": self.consumed_samples,
            "data": self.data_fingerprint,
            "rng": rng,
            "model_config": self.model_config.to_dict(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get(CHECKPOINT_KEY)
        if state is None:
            return
        self.consumed_samples = int(state["consumed_samples"])
        saved = state.get("data") or {}
        if saved and self.data_fingerprint and saved != self.data_fingerprint:
            from lightning.pytorch.utilities import rank_zero_warn

            rank_zero_warn(
                f"resuming with different data settings than the checkpoint ({saved} -> {self.data_fingerprint}); "
                "the data position no longer means the same samples"
            )
        rng = state.get("rng") or {}
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "numpy" in rng:
            kind, keys, *rest = rng["numpy"]
            np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), *rest))
        if "python" in rng:
            random.setstate(rng["python"])
        if "cuda" in rng and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(rng["cuda"])


__all__ = ["CHECKPOINT_KEY", "GPTLightningModule", "WarmupCosine", "build_optimizer", "dropout_seed"]
