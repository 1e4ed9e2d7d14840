"""StarCoder's tokenizer recipe: byte-level BPE with HF ``tokenizers`` (the StarCoder paper).

Settings follow bigcode-tokenizer's ``train_bpe_tokenizer.py``: a 49,152-token vocabulary that
*includes* the 19 special tokens, which take ids 0–18 in the order of :data:`SPECIAL_TOKENS`;
every digit is its own pre-token (numbers never merge, which helps arithmetic and keeps versions
and ids from bloating the vocabulary); GPT-2's regex split with no prefix space (code must not gain
a leading space); a ByteLevel decoder; ``<|endoftext|>`` as bos = eos = unk.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sctool.errors import ConfigError, DatasetError

SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<fim_prefix>",
    "<fim_middle>",
    "<fim_suffix>",
    "<fim_pad>",
    "<filename>",
    "<gh_stars>",
    "<issue_start>",
    "<issue_comment>",
    "<issue_closed>",
    "<jupyter_start>",
    "<jupyter_text>",
    "<jupyter_code>",
    "<jupyter_output>",
    "<empty_output>",
    "<commit_before>",
    "<commit_msg>",
    "<commit_after>",
    "<reponame>",
)
EOD_TOKEN = SPECIAL_TOKENS[0]
STARCODER_VOCAB_SIZE = 49152
# The smallest vocabulary that can hold the specials plus the 256 byte-level base tokens.
MIN_VOCAB_SIZE = len(SPECIAL_TOKENS) + 256


@dataclass(frozen=True)
class TokenizerConfig:
    """How to train the BPE tokenizer; the defaults are StarCoder's."""

    vocab_size: int = field(
        default=STARCODER_VOCAB_SIZE, metadata={"help": "vocabulary size including the 19 special tokens"}
    )
    min_frequency: int = field(
        default=0, metadata={"help": "minimum pair count for a merge (0 = HF tokenizers' default; the StarCoder paper records no other)"}
    )
    individual_digits: bool = field(default=True, metadata={"help": "split every digit into its own pre-token",
                                                                   "negate": "--no-split-digits"})
    max_doc_chars: int = field(
        default=1_000_000, metadata={"help": "longer documents are cut to this many characters for training"}
    )
    max_chars: int = field(
        default=0, metadata={"help": "stop reading input after this many characters in total (0 = all)"}
    )

    def __post_init__(self) -> None:
        if self.vocab_size < MIN_VOCAB_SIZE:
            raise ConfigError(
                f"vocab_size {self.vocab_size} is too small: 19 special tokens + 256 byte tokens need {MIN_VOCAB_SIZE}"
            )
        if self.min_frequency < 0 or self.max_doc_chars <= 0 or self.max_chars < 0:
            raise ConfigError("min_frequency and max_chars must be >= 0 and max_doc_chars > 0")


def new_tokenizer(individual_digits: bool = True) -> Any:
    """An untrained tokenizer with StarCoder's model, pre-tokenizer, decoder and post-processor."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    steps = [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    if individual_digits:
        steps.insert(0, pre_tokenizers.Digits(individual_digits=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence(steps)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def train_tokenizer(texts: Iterable[str], config: TokenizerConfig | None = None) -> Any:
    """Train on an iterator of documents and return a ``tokenizers.Tokenizer``.

    The trainer gets the specials first, so they take ids 0–18 in order; the 256 byte-level base
    tokens come next, so every byte is encodable whatever the training text.
    """
    from tokenizers import pre_tokenizers, trainers

    cfg = config or TokenizerConfig()
    tok = new_tokenizer(cfg.individual_digits)
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        min_frequency=cfg.min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )

    def capped() -> Iterator[str]:
        total = 0
        for t in texts:
            if not t:
                continue
            t = t[: cfg.max_doc_chars]
            yield t
            total += len(t)
            if cfg.max_chars and total >= cfg.max_chars:
                return

    tok.train_from_iterator(capped(), trainer=trainer)
    check_special_tokens(tok)
    return tok


def special_token_ids(tokenizer: Any) -> dict[str, int]:
    """Each StarCoder special token's id in ``tokenizer`` (a ``tokenizers.Tokenizer`` or a fast HF tokenizer)."""
    tok = getattr(tokenizer, "backend_tokenizer", tokenizer)
    ids: dict[str, int] = {}
    for t in SPECIAL_TOKENS:
        tid = tok.token_to_id(t)
        if tid is None:
            raise ConfigError(f"tokenizer has no {t} token (not a StarCoder-style tokenizer)")
        ids[t] = int(tid)
    return ids


def check_special_tokens(tokenizer: Any) -> None:
    """Raise unless the specials sit at ids 0–18 in StarCoder's order (what checkpoints assume)."""
    ids = special_token_ids(tokenizer)
    wrong = [(t, i) for k, (t, i) in enumerate(ids.items()) if i != k]
    if wrong:
        raise ConfigError(f"special tokens are not at StarCoder's ids 0-18: {wrong[:3]}")


def eod_id(tokenizer: Any) -> int:
    return special_token_ids(tokenizer)[EOD_TOKEN]


def load_tokenizer(path: str | Path) -> Any:
    """Load a ``tokenizer.json`` (or a directory holding one) as a ``tokenizers.Tokenizer``."""
    from tokenizers import Tokenizer

    p = Path(path)
    if p.is_dir():
        p = p / "tokenizer.json"
    if not p.is_file():
        raise DatasetError(f"{p}: no such tokenizer file")
    try:
        return Tokenizer.from_file(str(p))
    except Exception as exc:  # tokenizers raises a bare Exception for malformed JSON
        raise DatasetError(f"{p}: not a HF tokenizers JSON file: {exc}") from exc


def to_transformers(tokenizer: Any) -> Any:
    """Wrap as ``transformers.PreTrainedTokenizerFast`` with StarCoder's bos/eos/unk and specials."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=EOD_TOKEN,
        eos_token=EOD_TOKEN,
        unk_token=EOD_TOKEN,
        additional_special_tokens=list(SPECIAL_TOKENS[1:]),
        model_max_length=8192,
        clean_up_tokenization_spaces=False,
    )


def save_tokenizer(tokenizer: Any, output: str | Path) -> list[Path]:
    """Write ``tokenizer.json``; for a directory output also the transformers config files.

    A path ending in ``.json`` gets just the tokenizer file (loads with ``Tokenizer.from_file`` and
    ``PreTrainedTokenizerFast(tokenizer_file=…)``); any other path becomes a directory that
    ``AutoTokenizer.from_pretrained`` loads directly.
    """
    from sctool.io.atomic import atomic_path

    out = Path(output)
    if out.suffix == ".json":
        with atomic_path(out) as tmp:
            tokenizer.save(str(tmp))
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with atomic_path(out / "tokenizer.json") as tmp:
        tokenizer.save(str(tmp))
    written.append(out / "tokenizer.json")
    specials = {
        "bos_token": EOD_TOKEN,
        "eos_token": EOD_TOKEN,
        "unk_token": EOD_TOKEN,
        "additional_special_tokens": list(SPECIAL_TOKENS[1:]),
    }
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": 8192,
        "clean_up_tokenization_spaces": False,
        **specials,
    }
    for name, obj in (("special_tokens_map.json", specials), ("tokenizer_config.json", config)):
        with atomic_path(out / name) as tmp:
            tmp.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")
        written.append(out / name)
    return written


__all__ = [
    "EOD_TOKEN",
    "SPECIAL_TOKENS",
    "STARCODER_VOCAB_SIZE",
    "TokenizerConfig",
    "check_special_tokens",
    "eod_id",
    "load_tokenizer",
    "new_tokenizer",
    "save_tokenizer",
    "special_token_ids",
    "to_transformers",
    "train_tokenizer",
]
