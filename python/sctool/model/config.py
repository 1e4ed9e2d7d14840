"""The model's shape and behaviour as one frozen dataclass (the litgpt ``Config`` pattern).

The fields follow transformers' ``GPTBigCodeConfig`` names (``n_embd``, ``n_layer``, ``*_pdrop``,
``layer_norm_epsilon``) so that a StarCoder-family ``config.json`` maps onto it one to one, plus
``n_kv_heads`` (1 = multi-query attention as in StarCoder; ``n_head`` = multi-head; anything that
divides ``n_head`` = grouped-query) and the attention backend, which changes speed, never results.
Presets live in ``configs/model/<name>.yaml`` (tiny for CPU tests up to 15b, StarCoder's shape).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from sctool.config import config_from_dict, config_to_dict
from sctool.errors import ConfigError

Activation = Literal["gelu_tanh", "gelu"]
AttentionBackend = Literal["sdpa", "flash", "flex", "eager"]


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a GPT-2-style decoder with multi-query attention (the StarCoder paper, section 4)."""

    vocab_size: int = field(default=49152, metadata={"help": "vocabulary size (StarCoder's tokenizer: 49152)"})
    n_positions: int = field(default=2048, metadata={"help": "maximum sequence length (learned absolute positions)"})
    n_embd: int = field(default=768, metadata={"help": "hidden size"})
    n_layer: int = field(default=12, metadata={"help": "number of transformer blocks"})
    n_head: int = field(default=12, metadata={"help": "number of query heads"})
    n_kv_heads: int = field(
        default=1,
        metadata={"help": "key/value heads: 1 = multi-query (StarCoder), n_head = multi-head, else grouped-query"},
    )
    n_inner: int | None = field(default=None, metadata={"help": "MLP hidden size (null = 4 * n_embd)"})
    activation: Activation = field(
        default="gelu_tanh",
        metadata={"help": "MLP activation: gelu_tanh (as StarCoder was trained, Megatron's fused GeLU) or gelu (erf)"},
    )
    layer_norm_epsilon: float = field(default=1e-5, metadata={"help": "LayerNorm epsilon"})
    embd_pdrop: float = field(default=0.1, metadata={"help": "dropout on the summed token + position embeddings"})
    resid_pdrop: float = field(default=0.1, metadata={"help": "dropout on each residual branch's output"})
    attn_pdrop: float = field(default=0.1, metadata={"help": "dropout on the attention probabilities"})
    attention: AttentionBackend = field(
        default="sdpa",
        metadata={
            "help": "attention backend: sdpa (PyTorch), flash (flash-attn package on GPU, else sdpa), "
            "flex (flex-attention, block-sparse per-document masks) or eager (reference)"
        },
    )
    fused_loss: bool = field(
        default=True,
        metadata={
            "help": "training loss as one chunked output-head + cross-entropy (no (tokens x vocab) logits "
            "in memory; the forward returns logits=None while training); false = lm_head then F.cross_entropy"
        },
    )
    loss_chunk_rows: int = field(
        default=0, metadata={"help": "rows per chunk of the fused loss (0 = chosen by device and dtype)"}
    )
    tie_word_embeddings: bool = field(default=True, metadata={"help": "share the input embedding and output head"})
    initializer_range: float = field(default=0.02, metadata={"help": "std of the normal weight initialisation"})

    def __post_init__(self) -> None:
        problems = []
        for name in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_kv_heads"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1 (got {getattr(self, name)})")
        if not problems:
            if self.n_embd % self.n_head:
                problems.append(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
            if self.n_head % self.n_kv_heads:
                problems.append(f"n_head ({self.n_head}) must be divisible by n_kv_heads ({self.n_kv_heads})")
        if self.n_inner is not None and self.n_inner < 1:
            problems.append(f"n_inner must be >= 1 or null (got {self.n_inner})")
        for name in ("embd_pdrop", "resid_pdrop", "attn_pdrop"):
            p = getattr(self, name)
            if not 0.0 <= p < 1.0:
                problems.append(f"{name} must be in [0, 1) (got {p})")
        if self.activation not in ("gelu_tanh", "gelu"):
            problems.append(f"activation must be gelu_tanh or gelu (got {self.activation!r})")
        if self.attention not in ("sdpa", "flash", "flex", "eager"):
            problems.append(f"attention must be sdpa, flash, flex or eager (got {self.attention!r})")
        if self.loss_chunk_rows < 0:
            problems.append(f"loss_chunk_rows must be >= 0 (got {self.loss_chunk_rows})")
        if self.layer_norm_epsilon <= 0:
            problems.append(f"layer_norm_epsilon must be > 0 (got {self.layer_norm_epsilon})")
        if problems:
            raise ConfigError("invalid model config: " + "; ".join(problems))

    # Derived sizes -------------------------------------------------------------------------------
    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def inner_dim(self) -> int:
        return self.n_inner if self.n_inner is not None else 4 * self.n_embd

    @property
    def kv_dim(self) -> int:
        """Width of the K (and of the V) projection: one head for MQA, n_head heads for MHA."""
        return self.n_kv_heads * self.head_dim

    def kv_cache_bytes_per_token(self, bytes_per_element: int = 4) -> int:
        """KV-cache memory one token costs across all layers (K and V): why MQA matters for decoding."""
        return 2 * self.n_layer * self.kv_dim * bytes_per_element

    def with_changes(self, **changes: Any) -> ModelConfig:
        try:
            return replace(self, **changes)
        except TypeError as exc:
            raise ConfigError(f"invalid model config override: {exc}") from exc

    # Serialisation --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "ModelConfig") -> ModelConfig:
        return config_from_dict(cls, data, where)

    @classmethod
    def from_yaml(cls, path: str | Path) -> ModelConfig:
        """Read a preset file: the fields at top level, or under a ``model:`` key (training recipes)."""
        import yaml

        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"{p}: model config file not found") from exc
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"{p}: cannot read model config: {exc}") from exc
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: a model config must be a mapping, got {type(data).__name__}")
        if "model" in data and isinstance(data["model"], dict):
            data = data["model"]
        return cls.from_dict(data, where=str(p))

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> ModelConfig:
        """A preset by name (``tiny``, ``125m`` … ``15b``) or a YAML path, with field overrides."""
        from sctool.paths import find_config

        cfg = cls.from_yaml(find_config("model", name))
        return cfg.with_changes(**overrides) if overrides else cfg


PRESETS = ("tiny", "125m", "350m", "1b", "3b", "7b", "15b")

__all__ = ["PRESETS", "Activation", "AttentionBackend", "ModelConfig"]
