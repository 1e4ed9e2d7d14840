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

from sctool.errors import ConfigError
from sctool.infer.generate import Completion, GenerationConfig, TokenizerAdapter, generate_ids
from sctool.model.gpt import GPT

FIM_TOKENS = ("<fim_prefix>", "<fim_suffix>", "<fim_middle>")


def fim_token_ids(tokenizer: Any) -> tuple[int, int, int]:
    """Ids of the prefix, suffix and middle sentinels; a clear error if the tokenizer lacks them."""
    tok = TokenizerAdapter(tokenizer)
    for spelling in (FIM_TOKENS, tuple(t.replace("_", "-") for t in FIM_TOKENS)):
        ids = [tok.token_to_id(t) for t in spelling]
        if all(i is not None for i in ids):
            return ids[0], ids[1], ids[2]  # type: ignore[return-value]
    raise ConfigError(f"the tokenizer has no FIM tokens {list(FIM_TOKENS)}; infilling needs a FIM-trained model")


def fim_prompt_ids(tokenizer: Any, prefix: str, suffix: str) -> list[int]:
    tok = TokenizerAdapter(tokenizer)
    pre, suf, mid = fim_token_ids(tok)
    return [pre, *tok.encode(prefix), suf, *tok.encode(suffix), mid]


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
