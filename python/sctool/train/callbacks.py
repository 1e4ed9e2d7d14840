"""Per-step bookkeeping outside the model: metrics.csv, TensorBoard, checkpoints, progress bar.

Everything happens at optimizer-step boundaries (detected by ``trainer.global_step`` changing), so
gradient accumulation, validation and checkpointing never shift what a "step" row means, and a
resumed run appends rows exactly where the interrupted one left off.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, TQDMProgressBar

from sctool.errors import SctoolError


class NonFiniteLossError(SctoolError):
    """Training produced a non-finite loss or gradient norm under ``trainer.nan_policy: stop``."""

METRIC_COLUMNS = (
    "step",
    "tokens",
    "loss",
    "lr",
    "grad_norm",
    "tokens_per_s",
    "mfu",
    "val_loss",
    "val_ppl",
    "elapsed_s",
)


def measured_cpu_tflops(dtype: torch.dtype, size: int = 1024, repeats: int = 3) -> float:
    """Achieved dense-matmul TFLOP/s on this CPU (the best of a few runs).

    CPUs publish no single peak figure the way GPU datasheets do, so on CPU the MFU denominator is
    what a large matmul actually reaches here: MFU then reads "fraction of the machine's matmul
    speed the training step achieves".
    """
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    torch.mm(a, b)
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best / 1e12


def peak_flops_per_device(precision: str, device: torch.device, override_tflops: float | None) -> float | None:
    """FLOP/s one device can do at this precision: the override, a GPU's datasheet, or a CPU measurement."""
    if override_tflops:
        return override_tflops * 1e12
    dtype = torch.bfloat16 if "bf16" in precision else torch.float16 if precision.startswith("16") else torch.float32
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device).lower()
        if "h200" in name or "gh200" in name:
            # Same Hopper tensor cores as the H100 SXM, which Lightning's table lacks the H200 for.
            return {torch.bfloat16: 989.4e12, torch.float16: 989.4e12}.get(dtype, 494.7e12)
        from lightning.fabric.utilities.throughput import get_available_flops

        flops = get_available_flops(device, dtype)
        return float(flops) if flops else None
    if device.type == "cpu":
        return measured_cpu_tflops(dtype) * 1e12
    return None


class RunMonitor(Callback):
    """Writes ``metrics.csv`` + TensorBoard scalars and saves step checkpoints.

    ``tokens_per_s`` counts all ranks' tokens over wall time spent training (validation and
    checkpoint writing excluded). ``mfu`` = ``flops_per_token · tokens_per_s / (peak · devices)``,
    with ``flops_per_token`` from :meth:`GPT.flops_per_token` (6·N_mm + 12·n_layer·n_embd·seq_len,
    the PaLM appendix-B formula; its docstring derives it).
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        log_every: int,
        ckpt_every: int,
        keep_checkpoints: int,
        final_step: int,
        seq_len: int,
        precision: str,
        peak_tflops: float | None,
        tensorboard: bool,
        nan_policy: str = "stop",
    ) -> None:
        self.run_dir = Path(run_dir)
        self.nan_policy = nan_policy
        self.skipped_steps: list[int] = []
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.metrics_path = self.run_dir / "metrics.csv"
        self.log_every = log_every
        self.ckpt_every = ckpt_every
        self.keep_checkpoints = keep_checkpoints
        self.final_step = final_step
        self.seq_len = seq_len
        self.precision = precision
        self.peak_tflops = peak_tflops
        self.tensorboard = tensorboard
        self._tb: Any = None
        self._peak: float | None = None
        self._flops_per_token = 0.0
        self._last_step = 0
        self._window_losses: list[torch.Tensor] = []
        self._window_tokens = 0
        self._window_start = 0.0
        self._paused = 0.0
        self._pause_start: float | None = None
        self._train_start = 0.0

    # -- setup -------------------------------------------------------------------------------------
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last_step = trainer.global_step
        self._flops_per_token = float(pl_module.model.flops_per_token(self.seq_len))
        self._peak = peak_flops_per_device(self.precision, pl_module.device, self.peak_tflops)
        if trainer.is_global_zero:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._truncate_metrics(trainer.global_step)
            if self.tensorboard:
                try:
                    from torch.utils.tensorboard import SummaryWriter

                    self._tb = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"), purge_step=trainer.global_step + 1)
                except ImportError:  # tensorboard is an optional extra
                    self._tb = None
        self._train_start = self._window_start = time.perf_counter()
        self._paused = 0.0

    def _truncate_metrics(self, step: int) -> None:
        """Drop rows an interrupted run logged after the checkpoint we resume from."""
        if not self.metrics_path.exists():
            with open(self.metrics_path, "w", newline="") as fh:
                csv.writer(fh).writerow(METRIC_COLUMNS)
            return
        with open(self.metrics_path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        kept = [r for r in rows if r.get("step") and int(r["step"]) <= step]
        tmp = self.metrics_path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=METRIC_COLUMNS, extrasaction="ignore")
            w.writeheader()
            w.writerows(kept)
        os.replace(tmp, self.metrics_path)

    def _write(self, row: dict[str, Any]) -> None:
        with open(self.metrics_path, "a", newline="") as fh:
            csv.DictWriter(fh, fieldnames=METRIC_COLUMNS, extrasaction="ignore").writerow(row)
        if self._tb is not None:
            step = int(row["step"])
            for k, v in row.items():
                if k != "step" and v not in ("", None) and isinstance(v, (int, float)) and math.isfinite(v):
                    self._tb.add_scalar(("val/" if k.startswith("val") else "train/") + k, v, step)
            self._tb.flush()

    # -- time not spent training -------------------------------------------------------------------
    def _pause(self) -> None:
        self._pause_start = time.perf_counter()

    def _resume(self) -> None:
        if self._pause_start is not None:
            self._paused += time.perf_counter() - self._pause_start
            self._pause_start = None

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._pause()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._resume()
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        val = getattr(pl_module, "val_loss", None)
        if val is None:
            return
        ppl = math.exp(val) if val < 700 else math.inf
        self._write({"step": trainer.global_step, "val_loss": round(val, 6), "val_ppl": round(ppl, 4)})

    # -- non-finite loss or gradients ----------------------------------------------------------------
    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Any) -> None:
        """Check the step's loss and gradients before the optimizer applies them (``nan_policy``).

        Under fp16 with a loss scaler an overflowing gradient is routine (the scaler skips that
        step and lowers its scale), so only the loss is checked there.
        """
        step = trainer.global_step + 1
        checks: list[torch.Tensor] = []
        losses = list(getattr(pl_module, "_micro_loss", []) or [])
        if losses:
            checks.append(torch.stack([v.float() for v in losses]).isfinite().all())
        scaler = getattr(trainer.precision_plugin, "scaler", None)
        if scaler is None:
            grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
            local = [g.to_local() if hasattr(g, "to_local") else g for g in grads]
            if local:
                checks.append(torch.stack(torch._foreach_norm(local)).isfinite().all())
        if not checks:
            return
        bad_local = (~torch.stack([c.to(checks[0].device) for c in checks]).all()).float()
        bad = float(trainer.strategy.reduce(bad_local, reduce_op="sum")) > 0  # one decision for all ranks
        if not bad:
            return
        what = "loss" if losses and not bool(checks[0]) else "gradient norm"
        if self.nan_policy == "skip":
            for p in pl_module.parameters():
                p.grad = None  # optimizers leave parameters without a gradient untouched
            self.skipped_steps.append(step)
            if trainer.is_global_zero:
                print(f"sctool train: step {step}: non-finite {what}, update skipped (trainer.nan_policy=skip)",
                      file=sys.stderr)
            return
        last = self.ckpt_dir / "last.ckpt"
        where = f"; the newest checkpoint is {last.resolve()}" if last.exists() else "; no checkpoint was saved"
        raise NonFiniteLossError(
            f"step {step}: non-finite {what} (nan or inf); training stopped (trainer.nan_policy=stop){where}. "
            "Lower the learning rate, check the data, or set trainer.nan_policy=skip"
        )

    # -- steps -------------------------------------------------------------------------------------
    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._window_tokens += int(batch["tokens"].numel()) * trainer.world_size
        step = trainer.global_step
        if step == self._last_step:
            return
        self._last_step = step
        self._window_losses.append(pl_module.pop_step_loss())
        if step % self.log_every == 0 or step >= self.final_step:
            self._log_window(trainer, pl_module, step)
        if (self.ckpt_every and step % self.ckpt_every == 0) or step >= self.final_step:
            self._pause()
            self.save(trainer, step)
            self._resume()

    def _log_window(self, trainer: L.Trainer, pl_module: L.LightningModule, step: int) -> None:
        loss_t = torch.stack(self._window_losses).mean()
        loss_t = trainer.strategy.reduce(loss_t, reduce_op="mean")
        loss = float(loss_t)
        now = time.perf_counter()
        seconds = max(now - self._window_start - self._paused, 1e-9)
        tokens_per_s = self._window_tokens / seconds
        grad_norm = pl_module.last_grad_norm
        grad = float(grad_norm) if grad_norm is not None else float("nan")
        mfu: float | str = ""
        if self._peak:
            mfu = self._flops_per_token * tokens_per_s / (self._peak * trainer.world_size)
        self._window_losses = []
        self._window_tokens = 0
        self._window_start = now
        self._paused = 0.0
        pl_module.log("loss", loss, prog_bar=True, logger=False, rank_zero_only=True)
        pl_module.log("tok/s", round(tokens_per_s), prog_bar=True, logger=False, rank_zero_only=True)
        if not trainer.is_global_zero:
            return
        self._write(
            {
                "step": step,
                "tokens": pl_module.consumed_samples * self.seq_len,
                "loss": round(loss, 6),
                "lr": pl_module.step_lr,
                "grad_norm": round(grad, 6),
                "tokens_per_s": round(tokens_per_s, 2),
                "mfu": round(mfu, 6) if isinstance(mfu, float) else mfu,
                "elapsed_s": round(now - self._train_start, 3),
            }
        )

    def save(self, trainer: L.Trainer, step: int) -> Path:
        """Write ``step-NNNNNNN.ckpt`` (all ranks take part) and point ``last.ckpt`` at it."""
        path = self.ckpt_dir / f"step-{step:07d}.ckpt"
        trainer.save_checkpoint(path, weights_only=False)
        if trainer.is_global_zero:
            if path.is_file():
                from sctool.train.checkpoint import write_checksum

                write_checksum(path)
            link = self.ckpt_dir / "last.ckpt"
            tmp = self.ckpt_dir / ".last.ckpt.tmp"
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            os.symlink(path.name, tmp)
            os.replace(tmp, link)
            if self.keep_checkpoints:
                steps = sorted(self.ckpt_dir.glob("step-*.ckpt"))
                for old in steps[: -self.keep_checkpoints]:
                    old.unlink()
                    old.with_name(old.name + ".sha256").unlink(missing_ok=True)
        trainer.strategy.barrier("sctool-checkpoint")
        return path

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


class StepProgressBar(TQDMProgressBar):
    """A bar over optimizer steps' micro-batches up to the stop step (the stream itself is endless)."""

    def __init__(self, total_batches: int, refresh_rate: int = 1) -> None:
        super().__init__(refresh_rate=refresh_rate)
        self._total = total_batches

    @property
    def total_train_batches(self) -> int:  # type: ignore[override]
        return self._total

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        items["step"] = trainer.global_step
        return items


__all__ = ["METRIC_COLUMNS", "NonFiniteLossError", "RunMonitor", "StepProgressBar", "measured_cpu_tflops", "peak_flops_per_device"]
