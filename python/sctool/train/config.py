"""The trainer's typed config tree: one frozen dataclass per concern, YAML presets map one to one.

``configs/train/<name>.yaml`` files, ``--section.field`` command-line overrides and the
``config.yaml`` saved in every run directory are all the same tree (litgpt's ``args.py`` idea), so a
run can always be repeated from its own directory. The model section is the model developer's
:class:`~sctool.model.config.ModelConfig`; in YAML it may also be a preset name (``model: tiny``) or a
preset with overrides (``model: {preset: tiny, n_layer: 4}``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from sctool.config import config_from_dict, config_to_dict
from sctool.errors import ConfigError
from sctool.model.config import ModelConfig

Precision = Literal["32-true", "bf16-mixed", "16-mixed", "bf16-true", "64-true"]


@dataclass(frozen=True)
class DataSource:
    """One packed corpus (``PREFIX.bin``/``PREFIX.idx``) and its share of the blend."""

    prefix: str = field(metadata={"help": "path prefix of the indexed dataset (without .bin/.idx)"})
    weight: float = field(
        default=1.0,
        metadata={"help": "relative sampling weight (StarCoder: GB after filtering, with css/json/yaml down-weighted)"},
    )
    name: str = field(default="", metadata={"help": "label for logs (defaults to the prefix's file name)"})

    def __post_init__(self) -> None:
        if not self.weight > 0:
            raise ConfigError(f"data source {self.prefix}: weight must be > 0 (got {self.weight})")

    @property
    def label(self) -> str:
        return self.name or Path(self.prefix).name


@dataclass(frozen=True)
class DataConfig:
    """What the model reads: blended packed sources, cut into windows, FIM-permuted on the fly."""

    sources: tuple[DataSource, ...] = field(
        default=(), metadata={"help": "packed sources to blend: a list of {prefix, weight, name}"}
    )
    tokenizer: str | None = field(
        default=None,
        metadata={"help": "tokenizer.json (needed for FIM, which cuts documents at character level)"},
    )
    seq_len: int = field(default=256, metadata={"help": "tokens per training window (<= model.n_positions)"})
    valid_fraction: float = field(
        default=0.03,
        metadata={"help": "share of each source's documents (from its end) held out for validation (StarCoder: 3%)"},
    )
    fim_rate: float = field(
        default=0.5, metadata={"help": "probability that a document in a window is FIM-permuted (StarCoder: 0.5)"}
    )
    fim_spm_rate: float = field(
        default=0.5, metadata={"help": "share of FIM documents in SPM rather than PSM layout (StarCoder: 0.5)"}
    )
    seed: int = field(default=1234, metadata={"help": "seed of window shuffling, blending and FIM"})
    num_workers: int = field(default=0, metadata={"help": "DataLoader worker processes per rank"})
    size_vocab_to_tokenizer: bool = field(
        default=True,
        metadata={"help": "set model.vocab_size to the tokenizer's vocabulary (rounded up to a multiple of 64)"},
    )
    doc_attention_mask: bool = field(
        default=False,
        metadata={"help": "no attention across packed documents (StarCoder: off, plain causal over the window)"},
    )
    eod_id: int = field(default=0, metadata={"help": "end-of-document token id, for doc_attention_mask"})

    def __post_init__(self) -> None:
        if self.seq_len < 1:
            raise ConfigError(f"data.seq_len must be >= 1 (got {self.seq_len})")
        if not 0.0 <= self.valid_fraction < 1.0:
            raise ConfigError(f"data.valid_fraction must be in [0, 1) (got {self.valid_fraction})")
        for name in ("fim_rate", "fim_spm_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"data.{name} must be in [0, 1] (got {getattr(self, name)})")
        if self.num_workers < 0:
            raise ConfigError(f"data.num_workers must be >= 0 (got {self.num_workers})")


@dataclass(frozen=True)
class OptimConfig:
    """StarCoder's optimisation (the StarCoder paper): AdamW 0.9/0.95/1e-8, wd 0.1, warmup + cosine to 10%, clip 1."""

    lr: float = field(default=3e-4, metadata={"help": "peak learning rate (StarCoderBase: 3e-4)"})
    min_lr_ratio: float = field(
        default=0.1, metadata={"help": "final learning rate as a fraction of the peak (StarCoderBase: 3e-5 / 3e-4)"}
    )
    warmup_steps: int = field(default=2000, metadata={"help": "linear warmup steps (StarCoderBase: 2000)"})
    decay_steps: int | None = field(
        default=None, metadata={"help": "steps of warmup + cosine decay (null = trainer.max_steps)"}
    )
    beta1: float = field(default=0.9, metadata={"help": "AdamW beta1"})
    beta2: float = field(default=0.95, metadata={"help": "AdamW beta2 (StarCoder: 0.95)"})
    eps: float = field(default=1e-8, metadata={"help": "AdamW epsilon"})
    weight_decay: float = field(
        default=0.1, metadata={"help": "decoupled weight decay, applied to >= 2-D weights only"}
    )
    grad_clip: float = field(default=1.0, metadata={"help": "clip the global gradient norm to this (0 = off)"})
    fused: bool | None = field(
        default=None, metadata={"help": "fused AdamW kernel (null = when the device supports it)"}
    )

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ConfigError(f"optim.lr must be > 0 (got {self.lr})")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ConfigError(f"optim.min_lr_ratio must be in [0, 1] (got {self.min_lr_ratio})")
        if self.warmup_steps < 0:
            raise ConfigError(f"optim.warmup_steps must be >= 0 (got {self.warmup_steps})")
        if self.grad_clip < 0:
            raise ConfigError(f"optim.grad_clip must be >= 0 (got {self.grad_clip})")


@dataclass(frozen=True)
class TrainerConfig:
    """How training runs: batch geometry, length, precision, devices, logging and checkpoints."""

    micro_batch_size: int = field(default=4, metadata={"help": "sequences per device per forward pass"})
    grad_accum: int = field(default=1, metadata={"help": "micro-batches accumulated per optimizer step"})
    max_steps: int = field(default=1000, metadata={"help": "optimizer steps of the whole run (the schedule's length)"})
    stop_after_steps: int | None = field(
        default=None,
        metadata={"help": "stop this invocation at this global step (resume later); the schedule still spans max_steps"},
    )
    precision: Precision = field(default="bf16-mixed", metadata={"help": "Lightning precision (StarCoder: bf16)"})
    accelerator: str = field(default="auto", metadata={"help": "cpu, gpu, auto"})
    devices: int | str = field(default="auto", metadata={"help": "devices per node (an int, or auto)"})
    num_nodes: int = field(default=1, metadata={"help": "nodes"})
    strategy: str = field(default="auto", metadata={"help": "Lightning strategy: auto, ddp, ddp_spawn, or fsdp (FSDP2, sctool.train.strategy)"})
    seed: int = field(default=1234, metadata={"help": "seed of weight init and dropout"})
    val_every: int = field(default=100, metadata={"help": "validate every N optimizer steps (0 = never)"})
    val_samples: int = field(default=32, metadata={"help": "validation windows per evaluation (all ranks together)"})
    log_every: int = field(default=1, metadata={"help": "write training metrics every N optimizer steps"})
    ckpt_every: int = field(default=100, metadata={"help": "save a checkpoint every N optimizer steps (0 = end only)"})
    keep_checkpoints: int = field(default=0, metadata={"help": "keep only the newest N step checkpoints (0 = all)"})
    resume: str = field(
        default="auto",
        metadata={"help": "auto (continue from OUT/checkpoints/last.ckpt if present), never, or a checkpoint path"},
    )
    init_from: str | None = field(
        default=None,
        metadata={"help": "start from these weights only (a checkpoint from import-hf or a run): fine-tuning"},
    )
    activation_checkpointing: bool = field(
        default=False, metadata={"help": "recompute each block's activations in backward (less memory, ~30% slower)"}
    )
    compile: bool = field(default=False, metadata={"help": "torch.compile the model's forward"})
    host_memory_reuse: bool = field(
        default=True,
        metadata={
            "help": "CPU runs on glibc: keep freed memory for reuse instead of page-faulting large tensors anew "
            "every step (mallopt M_MMAP_MAX=0, M_TRIM_THRESHOLD=2 GiB; process-wide, RSS stays at its peak)"
        },
    )
    peak_tflops: float | None = field(
        default=None,
        metadata={"help": "peak TFLOP/s per device for MFU (null = the GPU's datasheet, or a measured matmul on CPU)"},
    )
    tensorboard: bool = field(default=True, metadata={"help": "also log to TensorBoard (OUT/tensorboard)"})
    progress_bar: bool = field(default=True, metadata={"help": "show a progress bar"})
    nan_policy: Literal["stop", "skip"] = field(
        default="stop",
        metadata={"help": "on a non-finite loss or gradient: stop (error naming the step; checkpoints "
                          "stay those before it) or skip (drop that step's update and go on)"},
    )

    def __post_init__(self) -> None:
        if self.nan_policy not in ("stop", "skip"):
            raise ConfigError(f"trainer.nan_policy must be 'stop' or 'skip' (got {self.nan_policy!r})")
        for name in ("micro_batch_size", "grad_accum", "max_steps", "num_nodes", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"trainer.{name} must be >= 1 (got {getattr(self, name)})")
        for name in ("val_every", "val_samples", "ckpt_every", "keep_checkpoints"):
            if getattr(self, name) < 0:
                raise ConfigError(f"trainer.{name} must be >= 0 (got {getattr(self, name)})")
        if self.stop_after_steps is not None and self.stop_after_steps < 1:
            raise ConfigError(f"trainer.stop_after_steps must be >= 1 (got {self.stop_after_steps})")


@dataclass(frozen=True)
class FitConfig:
    """Everything ``python -m train fit`` needs; saved as ``config.yaml`` in the run directory."""

    out: str = field(default="runs/train", metadata={"help": "run directory (config, metrics.csv, checkpoints)"})
    model: ModelConfig = field(
        default_factory=ModelConfig, metadata={"help": "model architecture (a preset name or its fields)"}
    )
    data: DataConfig = field(default_factory=DataConfig, metadata={"help": "training data"})
    optim: OptimConfig = field(default_factory=OptimConfig, metadata={"help": "optimizer and schedule"})
    trainer: TrainerConfig = field(default_factory=TrainerConfig, metadata={"help": "how training runs"})

    def __post_init__(self) -> None:
        if self.data.seq_len > self.model.n_positions:
            raise ConfigError(
                f"data.seq_len ({self.data.seq_len}) exceeds model.n_positions ({self.model.n_positions})"
            )

    @property
    def decay_steps(self) -> int:
        return self.optim.decay_steps if self.optim.decay_steps is not None else self.trainer.max_steps


# --------------------------------------------------------------------------------------------------
# dict <-> config, with the model-preset shorthand


def _expand_model(value: Any) -> dict[str, Any]:
    """``tiny`` / ``{preset: tiny, ...}`` / full fields -> full ModelConfig fields."""
    if value is None:
        return {}
    if isinstance(value, str):
        return ModelConfig.from_preset(value).to_dict()
    if isinstance(value, Mapping):
        data = dict(value)
        preset = data.pop("preset", None)
        if preset is not None:
            if not isinstance(preset, str):
                raise ConfigError(f"model.preset must be a preset name or YAML path, got {preset!r}")
            base = ModelConfig.from_preset(preset).to_dict()
            base.update(data)
            return base
        return data
    raise ConfigError(f"model: expected a preset name or a mapping, got {value!r}")


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Later config layers override earlier ones key by key (a preset name replaces a whole model)."""
    out = dict(base)
    for k, v in update.items():
        if k == "model":
            expanded = _expand_model(v)
            replaced = isinstance(v, str) or (isinstance(v, Mapping) and "preset" in v)
            out[k] = expanded if replaced else {**_expand_model(out.get(k)), **expanded}
        elif isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def fit_config_from_dict(data: Mapping[str, Any], where: str = "config") -> FitConfig:
    data = dict(data)
    if "model" in data:
        data["model"] = _expand_model(data["model"])
    sources = (data.get("data") or {}).get("sources")
    if sources is not None:
        data["data"] = {**data["data"], "sources": [_source_dict(s, where) for s in sources]}
    return config_from_dict(FitConfig, data, where)


def _source_dict(s: Any, where: str) -> Any:
    """A bare string is a prefix with weight 1; ``W:PREFIX`` carries a weight (Megatron's list style)."""
    if isinstance(s, str):
        head, sep, tail = s.partition(":")
        if sep:
            try:
                return {"prefix": tail, "weight": float(head)}
            except ValueError:
                pass
        return {"prefix": s}
    if isinstance(s, Mapping):
        return dict(s)
    raise ConfigError(f"{where}.data.sources: expected a prefix or {{prefix, weight}}, got {s!r}")


def fit_config_to_dict(cfg: FitConfig) -> dict[str, Any]:
    return config_to_dict(cfg)


def load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{p}: config file not found") from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{p}: cannot read config: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a training config must be a mapping, got {type(data).__name__}")
    return data


def dump_yaml(cfg: FitConfig) -> str:
    return yaml.safe_dump(fit_config_to_dict(cfg), sort_keys=False, default_flow_style=False)


def replace_section(cfg: FitConfig, section: str, **changes: Any) -> FitConfig:
    """A copy with some fields of one section changed (validated again)."""
    try:
        return dataclasses.replace(cfg, **{section: dataclasses.replace(getattr(cfg, section), **changes)})
    except TypeError as exc:
        raise ConfigError(f"{section}: {exc}") from exc


__all__ = [
    "DataConfig",
    "DataSource",
    "FitConfig",
    "OptimConfig",
    "TrainerConfig",
    "deep_merge",
    "dump_yaml",
    "fit_config_from_dict",
    "fit_config_to_dict",
    "load_yaml",
    "replace_section",
]
