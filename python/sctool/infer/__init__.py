"""Inference: KV-cached generation and fill-in-the-middle over ``sctool.model.GPT``.

``generate(model, tokenizer, prompts, GenerationConfig(...))`` returns the generated texts;
``infill(model, tokenizer, prefix, suffix)`` the middle. ``load(path)`` opens an sctool or
Hugging Face GPTBigCode directory with the tokenizer stored in it. Imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sctool.infer.fim import fim_prompt_ids, infill, infill_completions
from sctool.infer.generate import (
    Completion,
    GenerationConfig,
    TokenizerAdapter,
    generate,
    generate_completions,
    generate_ids,
)


def load(
    path: str | Path,
    *,
    tokenizer: str | Path | None = None,
    device: str = "cpu",
    dtype: Any = None,
) -> tuple[Any, TokenizerAdapter]:
    """A model directory's model (eval mode) and tokenizer (``tokenizer`` overrides the stored one)."""
    from sctool.errors import InvalidInputError
    from sctool.model.checkpoint import find_tokenizer_file, load_model

    model = load_model(path, device=device, dtype=dtype)
    tok_path = Path(tokenizer) if tokenizer is not None else find_tokenizer_file(path)
    if tok_path is None:
        raise InvalidInputError(f"{path}: no tokenizer.json in the model directory; pass a tokenizer path")
    return model, TokenizerAdapter(tok_path)


__all__ = [
    "Completion",
    "GenerationConfig",
    "TokenizerAdapter",
    "fim_prompt_ids",
    "generate",
    "generate_completions",
    "generate_ids",
    "infill",
    "infill_completions",
    "load",
]
