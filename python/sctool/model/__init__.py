"""The StarCoder model: config, the torch module, checkpoints and Hugging Face interop.

``sctool.model.config`` (the presets and ``ModelConfig``) needs no torch, so the trainer's
``--help``, ``--print_config`` and config errors answer without it (torch takes ~2 s to import);
the torch classes below are imported on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sctool.model.config import PRESETS, ModelConfig

if TYPE_CHECKING:
    from sctool.model.gpt import GPT, CausalLMOutput, KVCache

_TORCH_NAMES = frozenset({"GPT", "CausalLMOutput", "KVCache"})


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        from sctool.model import gpt

        return getattr(gpt, name)
    raise AttributeError(f"module 'sctool.model' has no attribute {name!r}")


__all__ = ["GPT", "PRESETS", "CausalLMOutput", "KVCache", "ModelConfig"]
