"""The StarCoder evaluation protocol: sampling settings, stop words, prompt preparation.

Defaults follow bigcode-evaluation-harness, which produced StarCoder's published numbers
(the StarCoder paper): sampling with temperature 0.2, top-p 0.95, top-k 0 (off), prompts
``.strip()``-ed for HumanEval, each task's stop words, 512 tokens of prompt + generation. n = 50
samples per problem is the maintainers' reproduction command for StarCoder's 33.6 HumanEval (the
harness docs mention n = 200); it is a flag. The StarCoder-Prompted variant prepends a file header
and comment and strips it from the output again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sctool.errors import ConfigError

HUMANEVAL_STOP_WORDS: tuple[str, ...] = (
    "\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\n```", "<file_sep>",
)
MBPP_STOP_WORDS: tuple[str, ...] = ("\nclass", "\nassert", '\n"""', "\nprint", "\nif", "\n<|/", "\n```")
STARCODER_PROMPTED_PREFIX = "<filename>solutions/solution_1.py\n# Here is the correct implementation of the code exercise\n"
PROMPT_PREFIXES = {"none": "", "starcoder-prompted": STARCODER_PROMPTED_PREFIX}


@dataclass(frozen=True)
class GenerationSettings:
    """How completions are sampled; saved next to the samples so a resumed run cannot drift."""

    n_samples: int = field(default=50, metadata={"help": "samples per problem (the harness docs use 200)"})
    temperature: float = field(default=0.2, metadata={"help": "sampling temperature (0 = greedy, needs n=1)"})
    top_p: float = field(default=0.95, metadata={"help": "nucleus sampling threshold"})
    top_k: int = field(default=0, metadata={"help": "top-k sampling (0 = off)"})
    max_length: int = field(default=512, metadata={"help": "prompt + generated tokens (harness max_length_generation)"})
    strip_prompt: bool = field(default=True, metadata={"help": "prompt.strip() before generation (HumanEval)"})
    prefix: str = field(default="", metadata={"help": "text prepended to every prompt and removed from the output"})
    stop_words: tuple[str, ...] = field(default=HUMANEVAL_STOP_WORDS, metadata={"help": "completion ends at these"})
    batch_size: int = field(default=8, metadata={"help": "prompts decoded together"})
    seed: int = field(default=0, metadata={"help": "sampling seed"})

    def __post_init__(self) -> None:
        if self.n_samples < 1:
            raise ConfigError(f"n_samples must be >= 1, got {self.n_samples}")
        if self.temperature < 0 or not 0 < self.top_p <= 1 or self.top_k < 0:
            raise ConfigError("need temperature >= 0, 0 < top_p <= 1, top_k >= 0")
        if self.temperature == 0 and self.n_samples != 1:
            raise ConfigError("greedy decoding (temperature 0) gives identical samples: use n_samples=1")
        if self.max_length < 2 or self.batch_size < 1:
            raise ConfigError("max_length must be >= 2 and batch_size >= 1")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def to_dict(self) -> dict[str, Any]:
        from sctool.config import config_to_dict

        return dict(config_to_dict(self))


def humaneval_settings(**overrides: Any) -> GenerationSettings:
    return replace(GenerationSettings(), **overrides)


def mbpp_settings(**overrides: Any) -> GenerationSettings:
    base = GenerationSettings(strip_prompt=False, stop_words=MBPP_STOP_WORDS)
    return replace(base, **overrides)


def stop_at_stop_words(text: str, stop_words: Sequence[str]) -> str:
    """Cut ``text`` at the earliest occurrence of any stop word (the harness's ``_stop_at_stop_token``)."""
    cut = len(text)
    for word in stop_words:
        if not word:
            continue
        i = text.find(word)
        if i != -1 and i < cut:
            cut = i
    return text[:cut]


def code_prompt(prompt: str, settings: GenerationSettings) -> str:
    """The code the completion continues (stripped when the protocol says so), without the prefix."""
    return prompt.strip() if settings.strip_prompt else prompt


def model_prompt(prompt: str, settings: GenerationSettings) -> str:
    """What the model is actually given: prefix + code prompt."""
    return settings.prefix + code_prompt(prompt, settings)
