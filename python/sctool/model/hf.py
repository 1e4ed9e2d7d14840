"""Conversion between sctool's model and transformers' GPTBigCode format, without importing transformers.

transformers is a test dependency only: these functions read and write ``config.json`` dicts and
state dicts directly. Parameter names are already transformers' own (``sctool.model.gpt``); what
differs is the fused ``c_attn`` row order of multi-head models, where transformers interleaves
q, k and v head by head (``view(B, T, n_head, 3·d)``) and sctool keeps ``[q | k | v]``. For
multi-query models both layouts are ``[q (n_embd) | k (d) | v (d)]``. Grouped-query models (1 <
n_kv_heads < n_head) have no GPTBigCode equivalent and cannot be exported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from sctool.errors import ConfigError
from sctool.model.config import ModelConfig
from sctool.model.dtypes import dtype_name

# transformers' activation names -> ours. "gelu_new"/"gelu_fast" are tanh-approximation formulas.
_ACT_FROM_HF = {
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_new": "gelu_tanh",
    "gelu_fast": "gelu_tanh",
    "gelu": "gelu",
}
_ACT_TO_HF = {"gelu_tanh": "gelu_pytorch_tanh", "gelu": "gelu"}

# Non-persistent buffers that some published GPTBigCode checkpoints still carry.
_IGNORED_HF_KEYS = ("transformer.bias", ".attn.bias", ".attn.masked_bias")



def hf_exportable(cfg: ModelConfig) -> str | None:
    """Why ``cfg`` cannot be written as a GPTBigCode checkpoint, or None if it can."""
    if cfg.n_kv_heads not in (1, cfg.n_head):
        return (
            f"grouped-query attention (n_kv_heads={cfg.n_kv_heads}, n_head={cfg.n_head}) has no "
            "GPTBigCode equivalent (transformers supports multi_query=True or n_kv_heads == n_head)"
        )
    return None


def hf_config_dict(
    cfg: ModelConfig,
    *,
    bos_token_id: int = 0,
    eos_token_id: int = 0,
    dtype: torch.dtype = torch.float32,
) -> dict[str, Any]:
    """The ``config.json`` transformers' ``GPTBigCodeConfig`` reads for this model."""
    reason = hf_exportable(cfg)
    if reason:
        raise ConfigError(f"cannot export to Hugging Face GPTBigCode: {reason}")
    return {
        "architectures": ["GPTBigCodeForCausalLM"],
        "model_type": "gpt_bigcode",
        "vocab_size": cfg.vocab_size,
        "n_positions": cfg.n_positions,
        "n_embd": cfg.n_embd,
        "n_layer": cfg.n_layer,
        "n_head": cfg.n_head,
        "n_inner": cfg.inner_dim,
        "activation_function": _ACT_TO_HF[cfg.activation],
        "resid_pdrop": cfg.resid_pdrop,
        "embd_pdrop": cfg.embd_pdrop,
        "attn_pdrop": cfg.attn_pdrop,
        "layer_norm_epsilon": cfg.layer_norm_epsilon,
        "initializer_range": cfg.initializer_range,
        "scale_attn_weights": True,
        "attention_softmax_in_fp32": True,
        "scale_attention_softmax_in_fp32": True,
        "multi_query": cfg.n_kv_heads == 1,
        "tie_word_embeddings": cfg.tie_word_embeddings,
        "use_cache": True,
        "bos_token_id": bos_token_id,
        "eos_token_id": eos_token_id,
        "dtype": dtype_name(dtype) if dtype in (torch.float16, torch.bfloat16) else "float32",
    }


def model_config_from_hf(data: Mapping[str, Any], where: str = "config.json") -> ModelConfig:
    """Our config for a GPTBigCode ``config.json``; refuses variants the model cannot reproduce."""
    mt = data.get("model_type")
    if mt != "gpt_bigcode":
        raise ConfigError(f"{where}: model_type is {mt!r}, only 'gpt_bigcode' (StarCoder family) is supported")

    def get(key: str, *aliases: str, default: Any = None) -> Any:
        for k in (key, *aliases):
            if k in data and data[k] is not None:
                return data[k]
        return default

    if get("add_cross_attention", default=False):
        raise ConfigError(f"{where}: cross-attention GPTBigCode models are not supported")
    if not get("scale_attn_weights", default=True):
        raise ConfigError(f"{where}: scale_attn_weights=false is not supported (StarCoder scales by 1/sqrt(d))")
    act = get("activation_function", default="gelu_pytorch_tanh")
    if act not in _ACT_FROM_HF:
        raise ConfigError(f"{where}: activation_function {act!r} is not supported (one of {sorted(_ACT_FROM_HF)})")
    n_head = int(get("n_head", "num_attention_heads", default=12))
    n_embd = int(get("n_embd", "hidden_size", default=768))
    n_inner = get("n_inner", default=None)
    try:
        return ModelConfig(
            vocab_size=int(get("vocab_size", default=50257)),
            n_positions=int(get("n_positions", "max_position_embeddings", default=1024)),
            n_embd=n_embd,
            n_layer=int(get("n_layer", "num_hidden_layers", default=12)),
            n_head=n_head,
            n_kv_heads=1 if get("multi_query", default=True) else n_head,
            n_inner=None if n_inner is None or int(n_inner) == 4 * n_embd else int(n_inner),
            activation=_ACT_FROM_HF[act],  # type: ignore[arg-type]
            layer_norm_epsilon=float(get("layer_norm_epsilon", default=1e-5)),
            embd_pdrop=float(get("embd_pdrop", default=0.1)),
            resid_pdrop=float(get("resid_pdrop", default=0.1)),
            attn_pdrop=float(get("attn_pdrop", default=0.1)),
            tie_word_embeddings=bool(get("tie_word_embeddings", default=True)),
            initializer_range=float(get("initializer_range", default=0.02)),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _is_c_attn(name: str) -> bool:
    return name.endswith(".attn.c_attn.weight") or name.endswith(".attn.c_attn.bias")


def to_hf_state_dict(state: Mapping[str, torch.Tensor], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """Our state dict in transformers' layout: MHA c_attn rows interleaved per head, tied head dropped."""
    reason = hf_exportable(cfg)
    if reason:
        raise ConfigError(f"cannot export to Hugging Face GPTBigCode: {reason}")
    out: dict[str, torch.Tensor] = {}
    h, d = cfg.n_head, cfg.head_dim
    for name, t in state.items():
        if name == "lm_head.weight" and cfg.tie_word_embeddings:
            continue
        if _is_c_attn(name) and cfg.n_kv_heads == h and h > 1:
            rest = t.shape[1:]
            # (3*H*d, ...) -> (3, H, d, ...) -> (H, 3, d, ...): per head [q_h | k_h | v_h]
            t = t.reshape(3, h, d, *rest).transpose(0, 1).reshape(3 * h * d, *rest)
        out[name] = t.contiguous()
    return out


def from_hf_state_dict(
    state: Mapping[str, torch.Tensor], cfg: ModelConfig, where: str = "checkpoint"
) -> dict[str, torch.Tensor]:
    """transformers' GPTBigCode state dict in our layout (inverse of :func:`to_hf_state_dict`)."""
    out: dict[str, torch.Tensor] = {}
    h, d = cfg.n_head, cfg.head_dim
    for name, t in state.items():
        if name.endswith(_IGNORED_HF_KEYS):
            continue
        if _is_c_attn(name) and cfg.n_kv_heads == h and h > 1:
            rest = t.shape[1:]
            if t.shape[0] != 3 * h * d:
                raise ConfigError(f"{where}: {name} has shape {tuple(t.shape)}, expected first dim {3 * h * d}")
            t = t.reshape(h, 3, d, *rest).transpose(0, 1).reshape(3 * h * d, *rest)
        out[name] = t
    return out


__all__ = [
    "from_hf_state_dict",
    "hf_config_dict",
    "hf_exportable",
    "model_config_from_hf",
    "to_hf_state_dict",
]
