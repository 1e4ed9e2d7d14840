"""The StarCoder model: config, the torch module, checkpoints and Hugging Face interop.

Importing this package imports torch; ``import sctool`` alone does not.
"""

from sctool.model.config import PRESETS, ModelConfig
from sctool.model.gpt import GPT, CausalLMOutput, KVCache

__all__ = ["GPT", "PRESETS", "CausalLMOutput", "KVCache", "ModelConfig"]
