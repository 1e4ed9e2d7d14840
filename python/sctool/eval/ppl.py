"""Perplexity and bits per byte on a held-out packed (Megatron indexed) token dataset.

The dataset is read the way the trainer reads it: one token stream with ``<|endoftext|>`` between
documents, cut into windows of ``seq_len`` tokens with plain causal attention across document
boundaries (StarCoder trained that way, the StarCoder paper). With the default ``stride =
seq_len`` the windows are the trainer's and, as in training, the first token of each window (no
context) is not scored. With ``stride < seq_len`` window ``w`` starts ``stride`` tokens after window
``w - 1`` and scores only tokens no earlier window scored, so every token after the stream's first
is scored exactly once with at least ``seq_len - stride`` tokens of context (the sliding-window
evaluation of the transformers perplexity guide; ``stride = 1`` gives every token the full context).

Bits per byte divides the summed negative log-likelihood (in bits) of all scored tokens by the
UTF-8 bytes those tokens spell. For a byte-level BPE each vocabulary string maps one character to
one byte, so a token's byte count is exact even when it splits a multi-byte character; special
tokens (``<|endoftext|>``, FIM markers) spell no text and count zero bytes while their loss counts,
as in the usual definition (loss of all tokens over the bytes of the text).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sctool.errors import ConfigError, InvalidInputError


@dataclass(frozen=True)
class PerplexityConfig:
    seq_len: int | None = field(default=None, metadata={"help": "window length (default: the model's n_positions)"})
    stride: int | None = field(default=None, metadata={"help": "tokens between window starts (default: seq_len)"})
    batch_size: int = field(default=4, metadata={"help": "windows per forward pass"})
    max_tokens: int | None = field(default=None, metadata={"help": "score at most this many tokens (default: all)"})

    def __post_init__(self) -> None:
        if self.seq_len is not None and self.seq_len < 2:
            raise ConfigError(f"seq_len must be >= 2, got {self.seq_len}")
        if self.stride is not None and self.stride < 1:
            raise ConfigError(f"stride must be >= 1, got {self.stride}")
        if self.batch_size < 1 or (self.max_tokens is not None and self.max_tokens < 1):
            raise ConfigError("batch_size and max_tokens must be >= 1")


def token_byte_lengths(tokenizer_path: str | Path, vocab_size: int) -> tuple[np.ndarray, str]:
    """UTF-8 bytes spelled by each token id, and how they were determined."""
    import json

    from tokenizers import Tokenizer

    path = Path(tokenizer_path)
    try:
        tok = Tokenizer.from_file(str(path))
        spec = json.loads(path.read_text(encoding="utf-8"))
    except Exception as exc:  # tokenizers raises a bare Exception for malformed files
        raise InvalidInputError(f"{path}: cannot load tokenizer: {exc}") from exc
    lengths = np.zeros(max(vocab_size, tok.get_vocab_size(with_added_tokens=True)), dtype=np.int64)
    special = {t["id"] for t in spec.get("added_tokens", []) if t.get("special")}
    decoder = (spec.get("decoder") or {}).get("type")
    if decoder == "ByteLevel":
        for token, idx in tok.get_vocab(with_added_tokens=True).items():
            if idx < lengths.size and idx not in special:
                lengths[idx] = len(token)
        return lengths, "byte-level vocabulary (exact)"
    for idx in range(lengths.size):
        if idx in special:
            continue
        lengths[idx] = len(tok.decode([idx], skip_special_tokens=False).encode("utf-8"))
    return lengths, "per-token decode (approximate for tokens that split characters)"


def evaluate_perplexity(
    model: Any,
    dataset_prefix: str | Path,
    byte_lengths: np.ndarray | None,
    config: PerplexityConfig | None = None,
    *,
    device: str = "cpu",
    quiet: bool = True,
) -> dict[str, Any]:
    """Score ``dataset_prefix`` (``PREFIX.bin``/``.idx``) with ``model`` (an sctool ``GPT``)."""
    import torch

    from sctool.packing.indexed import IndexedDataset
    from sctool.progress import progress

    cfg = config or PerplexityConfig()
    n_positions = int(model.config.n_positions)
    seq_len = cfg.seq_len or n_positions
    if seq_len > n_positions:
        raise ConfigError(f"seq_len {seq_len} exceeds the model's {n_positions} positions")
    stride = cfg.stride or seq_len
    if stride > seq_len:
        raise ConfigError(f"stride {stride} must not exceed seq_len {seq_len}")
    ds = IndexedDataset(dataset_prefix)
    stream = ds.tokens
    total = int(stream.size)
    if total < 2:
        raise InvalidInputError(f"{dataset_prefix}: needs at least 2 tokens, has {total}")
    vocab = int(model.config.vocab_size)
    top = int(stream.max())
    if top >= vocab:
        raise InvalidInputError(f"{dataset_prefix}: token id {top} is outside the model's vocabulary of {vocab}")
    budget = min(total - 1, cfg.max_tokens) if cfg.max_tokens else total - 1

    # Window w covers [start, start + seq_len) and scores positions in [scored_until, end).
    windows: list[tuple[int, int, int]] = []
    scored_until, start = 1, 0
    while scored_until < 1 + budget:
        end = min(start + seq_len, total)
        first = max(scored_until, start + 1)
        last = min(end, 1 + budget)
        if last > first:
            windows.append((start, first, last))
            scored_until = last
        if end >= total:
            break
        start += stride
    started = time.monotonic()
    nll_sum = 0.0
    scored = 0
    nbytes = 0
    bar = progress(budget, "perplexity", unit="tok", quiet=quiet)
    try:
        with torch.no_grad():
            for b in range(0, len(windows), cfg.batch_size):
                group = windows[b : b + cfg.batch_size]
                width = max(min(s + seq_len, total) - s for s, _, _ in group)
                ids = torch.zeros((len(group), width), dtype=torch.long)
                labels = torch.full((len(group), width), -100, dtype=torch.long)
                for row, (s, first, last) in enumerate(group):
                    chunk = torch.from_numpy(np.asarray(stream[s : min(s + seq_len, total)], dtype=np.int64))
                    ids[row, : chunk.numel()] = chunk
                    labels[row, first - s : last - s] = chunk[first - s : last - s]
                    if byte_lengths is not None:
                        nbytes += int(byte_lengths[np.asarray(stream[first:last], dtype=np.int64)].sum())
                ids, labels = ids.to(device), labels.to(device)
                logits = model(ids).logits.float()
                # logits at t predict token t + 1
                loss = torch.nn.functional.cross_entropy(
                    logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1),
                    ignore_index=-100, reduction="sum",
                )
                count = int((labels[:, 1:] != -100).sum())
                nll_sum += float(loss)
                scored += count
                bar.update(count)
    finally:
        bar.close()
    mean = nll_sum / scored
    out: dict[str, Any] = {
        "dataset": str(dataset_prefix),
        "documents": len(ds),
        "dataset_tokens": total,
        "tokens_scored": scored,
        "seq_len": seq_len,
        "stride": stride,
        "windows": len(windows),
        "loss_nats_per_token": mean,
        "perplexity": math.exp(mean) if mean < 700 else float("inf"),
        "bits_per_token": mean / math.log(2),
        "bytes_scored": nbytes if byte_lengths is not None else None,
        "bits_per_byte": (nll_sum / math.log(2) / nbytes) if byte_lengths is not None and nbytes else None,
        "attention": "causal across document boundaries (StarCoder's packed training layout)",
        "seconds": round(time.monotonic() - started, 3),
    }
    return out
