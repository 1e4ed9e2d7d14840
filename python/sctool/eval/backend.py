"""The model side of evaluation: a model directory wrapped as the callables ``generate.py`` needs.

Generation itself is ``sctool.infer`` (KV cache, batching, sampling, stop sequences); this module
only maps the protocol's settings onto its ``GenerationConfig``. Infilling uses StarCoder's FIM
prompt, ``<fim_prefix>`` prefix ``<fim_suffix>`` suffix ``<fim_middle>``, ending at
``<|endoftext|>`` (``sctool.infer.fim``; the StarCoder paper).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sctool.errors import ConfigError
from sctool.eval.protocol import GenerationSettings


@dataclass
class ModelBackend:
    model: Any
    tokenizer: Any  # sctool.infer.generate.TokenizerAdapter
    settings: GenerationSettings
    meta: dict[str, Any]

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text))

    def _config(self, max_new_tokens: int, seed: int, stop: Sequence[str]) -> Any:
        from sctool.infer import GenerationConfig

        s = self.settings
        return GenerationConfig(
            max_new_tokens=max_new_tokens,
            temperature=s.temperature,
            top_p=s.top_p,
            top_k=s.top_k,
            stop=tuple(stop),
            batch_size=s.batch_size,
            seed=seed,
        )

    def complete(self, prompts: Sequence[str], max_new_tokens: int, seed: int) -> list[str]:
        from sctool.infer import generate

        cfg = self._config(max_new_tokens, seed, self.settings.stop_words)
        return generate(self.model, self.tokenizer, list(prompts), cfg)

    def infill(self, prefixes: Sequence[str], suffixes: Sequence[str], max_new_tokens: int, seed: int) -> list[str]:
        from sctool.infer import infill_completions

        cfg = self._config(max_new_tokens, seed, self.settings.stop_words)
        return [c.text for c in infill_completions(self.model, self.tokenizer, list(zip(prefixes, suffixes)), cfg)]


def load_backend(
    model_dir: str | Path,
    settings: GenerationSettings,
    *,
    tokenizer: str | Path | None = None,
    device: str = "cpu",
    dtype: str | None = None,
) -> ModelBackend:
    """Load an sctool or Hugging Face GPTBigCode directory and its tokenizer."""

    from sctool.infer import TokenizerAdapter
    from sctool.model.checkpoint import find_tokenizer_file, load_model
    from sctool.model.dtypes import torch_dtype

    torch_dt = torch_dtype(dtype)
    tok_path = Path(tokenizer) if tokenizer is not None else find_tokenizer_file(model_dir)
    if tok_path is None:
        raise ConfigError(f"{model_dir}: no tokenizer.json in the model directory; pass --tokenizer PATH")
    model = load_model(model_dir, device=device, dtype=torch_dt)
    tok = TokenizerAdapter(str(tok_path))
    cfg = model.config
    meta = {
        "model": str(model_dir),
        "tokenizer": str(tok_path),
        "device": device,
        "dtype": dtype or str(next(model.parameters()).dtype).replace("torch.", ""),
        "parameters": int(model.num_params()),
        "n_positions": int(cfg.n_positions),
        "n_layer": int(cfg.n_layer),
        "n_embd": int(cfg.n_embd),
    }
    return ModelBackend(model=model, tokenizer=tok, settings=settings, meta=meta)
