"""``fit``: one function from a :class:`FitConfig` to a trained run directory.

Run directory layout::

    OUT/config.yaml            the resolved config of the latest invocation (rerun with --config)
    OUT/metrics.csv            step, tokens, loss, lr, grad_norm, tokens_per_s, mfu, val_loss, val_ppl, elapsed_s
    OUT/tensorboard/           the same scalars for TensorBoard
    OUT/checkpoints/step-NNNNNNN.ckpt, last.ckpt -> newest step
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sctool.errors import ConfigError
from sctool.train.config import FitConfig, dump_yaml


@dataclass(frozen=True)
class FitResult:
    run_dir: Path
    global_step: int
    last_checkpoint: Path | None


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def resolve_vocab(cfg: FitConfig) -> FitConfig:
    """Size the model's vocabulary to the tokenizer's, rounded up to a multiple of 64.

    Presets say 49152 (StarCoder's tokenizer); a run on a smaller tokenizer (the demo's) would
    otherwise spend most of a tiny model's compute on logits for ids that never occur.
    """
    d = cfg.data
    if not (d.tokenizer and d.size_vocab_to_tokenizer):
        return cfg
    from sctool.train.data import tokenizer_vocab_size

    vocab = _round_up(tokenizer_vocab_size(d.tokenizer), 64)
    if vocab == cfg.model.vocab_size:
        return cfg
    return dataclasses.replace(cfg, model=cfg.model.with_changes(vocab_size=vocab))


def resolve_resume(cfg: FitConfig) -> str | None:
    ckpt_dir = Path(cfg.out) / "checkpoints"
    r = cfg.trainer.resume
    if r == "never":
        if any(ckpt_dir.glob("step-*.ckpt")):
            raise ConfigError(
                f"{ckpt_dir}: run directory already holds checkpoints; use --trainer.resume auto, or another --out"
            )
        return None
    from sctool.train.checkpoint import newest_intact_checkpoint, verify_checkpoint

    if r == "auto":
        if not any(ckpt_dir.glob("*.ckpt")):
            return None
        good, rejected = newest_intact_checkpoint(ckpt_dir)
        if good is None:
            from sctool.errors import InvalidInputError

            why = "; ".join(msg for _, msg in rejected)
            raise InvalidInputError(f"{ckpt_dir}: no checkpoint verifies, cannot resume ({why}); "
                                    "use another --out or --trainer.resume never after removing them")
        if rejected:
            from lightning.pytorch.utilities import rank_zero_only

            if rank_zero_only.rank == 0:
                for _, msg in rejected:
                    print(f"sctool train: skipping damaged checkpoint: {msg}", file=sys.stderr)
                print(f"sctool train: resuming from {good} (the newest checkpoint that verifies)", file=sys.stderr)
        return str(good)
    if not Path(r).is_file():
        raise ConfigError(f"{r}: checkpoint to resume from not found")
    verify_checkpoint(r)
    return r


def data_fingerprint(cfg: FitConfig) -> dict[str, Any]:
    d = cfg.data
    return {
        "sources": [[s.prefix, s.weight] for s in d.sources],
        "seq_len": d.seq_len,
        "seed": d.seed,
        "valid_fraction": d.valid_fraction,
        "fim_rate": d.fim_rate,
        "fim_spm_rate": d.fim_spm_rate,
    }


def load_init_weights(module: Any, path: str) -> None:
    """Weights only (fine-tuning, StarCoder's ``--finetune --no-load-optim``): model parameters, nothing else."""
    from sctool.train.checkpoint import model_state_from_checkpoint

    state, config = model_state_from_checkpoint(path)
    if config != module.model_config:
        diff = {k: (v, getattr(module.model_config, k)) for k, v in config.to_dict().items() if getattr(module.model_config, k) != v}
        shape_keys = {"vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_kv_heads", "n_inner", "tie_word_embeddings"}
        if shape_keys & set(diff):
            raise ConfigError(f"{path}: init_from weights have another shape than the configured model: {diff}")
    module.configure_model()
    missing, unexpected = module.model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not (k == "lm_head.weight" and module.model_config.tie_word_embeddings)]
    if missing or unexpected:
        raise ConfigError(f"{path}: weights do not match the model (missing {missing[:5]}, unexpected {unexpected[:5]})")


class _DropAdverts(logging.Filter):
    """Lightning logs an advert for a cloud service on every run; a CLI's stderr is for facts."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def _quiet_lightning() -> None:
    lg = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropAdverts) for f in lg.filters):
        lg.addFilter(_DropAdverts())
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")


def fit(cfg: FitConfig) -> FitResult:
    import lightning as L
    import torch
    from lightning.pytorch.utilities import rank_zero_info, rank_zero_only

    from sctool.train.callbacks import RunMonitor, StepProgressBar
    from sctool.train.datamodule import PackedDataModule
    from sctool.train.host_memory import reuse_freed_memory
    from sctool.train.module import GPTLightningModule

    _quiet_lightning()
    cfg = resolve_vocab(cfg)
    t = cfg.trainer
    run_dir = Path(cfg.out)
    ckpt_path = resolve_resume(cfg)
    stop_step = min(t.stop_after_steps or t.max_steps, t.max_steps)
    if rank_zero_only.rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        tmp = run_dir / ".config.yaml.tmp"
        tmp.write_text(dump_yaml(cfg), encoding="utf-8")
        os.replace(tmp, run_dir / "config.yaml")

    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("high")
    on_cpu = t.accelerator == "cpu" or (t.accelerator == "auto" and not torch.cuda.is_available())
    if on_cpu and t.host_memory_reuse and reuse_freed_memory():
        rank_zero_info("host memory: freed blocks kept for reuse (trainer.host_memory_reuse)")
    L.seed_everything(t.seed, workers=True, verbose=False)

    eod = None
    if cfg.data.doc_attention_mask:
        eod = cfg.data.eod_id
    datamodule = PackedDataModule(cfg.data, t.micro_batch_size, t.val_samples, cfg.model.vocab_size)
    datamodule.setup()
    for note in datamodule.notes:
        rank_zero_info(note)
    module = GPTLightningModule(
        model=cfg.model.to_dict(),
        optim=dataclasses.asdict(cfg.optim),
        decay_steps=cfg.decay_steps,
        seed=t.seed,
        activation_checkpointing=t.activation_checkpointing,
        compile=t.compile,
        doc_attention_eod=eod,
        data_fingerprint=data_fingerprint(cfg),
    )
    if t.init_from and ckpt_path is None:
        load_init_weights(module, t.init_from)

    from sctool.train.strategy import build_strategy

    strategy = build_strategy(t)  # a name for Lightning, or FSDP2 for "fsdp" (sctool.train.strategy)
    validate = t.val_every > 0 and t.val_samples > 0 and datamodule.valid_set is not None
    monitor = RunMonitor(
        run_dir,
        log_every=t.log_every,
        ckpt_every=t.ckpt_every,
        keep_checkpoints=t.keep_checkpoints,
        final_step=stop_step,
        seq_len=cfg.data.seq_len,
        precision=t.precision,
        peak_tflops=t.peak_tflops,
        tensorboard=t.tensorboard,
        nan_policy=t.nan_policy,
    )
    callbacks: list[Any] = [monitor]
    if t.progress_bar:
        callbacks.append(StepProgressBar(stop_step * t.grad_accum))
    with warnings.catch_warnings():
        # An endless sampler is the design (the run ends at max_steps), not a mistake to warn about.
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*infinite.*")
        trainer = L.Trainer(
            accelerator=t.accelerator,
            devices=t.devices,
            num_nodes=t.num_nodes,
            strategy=strategy,
            precision=t.precision,
            max_steps=stop_step,
            max_epochs=-1,
            accumulate_grad_batches=t.grad_accum,
            val_check_interval=(t.val_every * t.grad_accum) if validate else None,
            check_val_every_n_epoch=None,
            limit_val_batches=None if validate else 0,
            num_sanity_val_steps=0,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=t.progress_bar,
            enable_model_summary=False,
            callbacks=callbacks,
            use_distributed_sampler=False,
            default_root_dir=str(run_dir),
            log_every_n_steps=t.log_every,
        )
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    last = run_dir / "checkpoints" / "last.ckpt"
    return FitResult(run_dir=run_dir, global_step=trainer.global_step, last_checkpoint=last if last.exists() else None)


__all__ = ["FitResult", "data_fingerprint", "fit", "resolve_resume", "resolve_vocab"]
