"""Fill-in-the-middle with StarCoder's prompt format (PSM): ``<fim_prefix>P<fim_suffix>S<fim_middle>``.

The model then writes the middle and ends it with ``<|endoftext|>`` (the StarCoder paper: the
bigcode-evaluation-harness ``starcoder_fim`` prompt). The sentinels are inserted as token ids and
the prefix and suffix encoded separately, which gives the same ids as encoding the harness's prompt
string. SantaCoder-style tokenizers spell the tokens ``<fim-prefix>``; both spellings are recognised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sctool.fim import FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, FimPromptIds
from sctool.fim import fim_prompt_ids as _layout_prompt
from sctool.infer.generate import Completion, GenerationConfig, TokenizerAdapter, generate_ids
from sctool.model.gpt import GPT

FIM_TOKENS = (FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE)


def fim_token_ids(tokenizer: Any) -> tuple[int, int, int]:
    """Ids of the prefix, suffix and middle sentinels; a clear error if the tokenizer lacks them."""
    ids = FimPromptIds.from_tokenizer(TokenizerAdapter(tokenizer))
    return ids.prefix, ids.suffix, ids.middle


def fim_prompt_ids(tokenizer: Any, prefix: str, suffix: str, mode: str = "psm") -> list[int]:
    """The infilling prompt in ``mode`` (PSM by default, as the harness's ``starcoder_fim`` task)."""
    return _layout_prompt(TokenizerAdapter(tokenizer), prefix, suffix, mode)


def infill_completions(
    model: GPT,
    tokenizer: Any,
    pairs: Sequence[tuple[str, str]],
    config: GenerationConfig | None = None,
) -> list[Completion]:
    """The middle for each (prefix, suffix) pair; generation ends at ``<|endoftext|>``."""
    tok = TokenizerAdapter(tokenizer)
    cfg = config or GenerationConfig()
    if not cfg.stop_at_eos:
        cfg = replace(cfg, stop_at_eos=True)
    prompts = [fim_prompt_ids(tok, p, s) for p, s in pairs]
    return generate_ids(model, prompts, cfg, tok)


def infill(
    model: GPT, tokenizer: Any, prefix: str, suffix: str, config: GenerationConfig | None = None
) -> str:
    """The generated middle between ``prefix`` and ``suffix``."""
    return infill_completions(model, tokenizer, [(prefix, suffix)], config)[0].text


__all__ = ["FIM_TOKENS", "fim_prompt_ids", "fim_token_ids", "infill", "infill_completions"]
