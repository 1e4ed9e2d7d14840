"""Fill-in-the-middle (FIM) as StarCoder was trained with it (Bavarian et al. 2022, arXiv 2207.14255).

This follows Megatron-LM bigcode's ``GPTDataset.__getitem__`` + ``permute`` (the code that trained
the StarCoder paper) applied to one packed training window:

1. split the window on ``<|endoftext|>``; every non-empty segment (partial documents at the window
   edges included) is handled independently and the EOD tokens stay where they were;
2. with probability ``fim_rate`` a segment is detokenized and cut at two uniformly drawn *character*
   positions (``randint(0, len + 1)`` twice, sorted; empty pieces allowed);
3. prefix, middle and suffix are re-tokenized separately and laid out, with probability
   ``fim_spm_rate``, as SPM (Bavarian's "variant 2", the one StarCoder used)::

       <fim_prefix> <fim_suffix> S <fim_middle> P M

   otherwise as PSM::

       <fim_prefix> P <fim_suffix> S <fim_middle> M

4. the re-assembled window is truncated to its original length or right-padded with ``<fim_pad>``.

The random draws are made in Megatron's order (FIM yes/no, the two cuts, SPM yes/no) from the
generator the caller passes, so a window's transform is a pure function of (seed, window index)
when the caller seeds with :func:`window_rng`.

Two deliberate differences from Megatron's code, both at degenerate inputs: an empty segment
(two adjacent EODs, or an EOD at the window's end) is left empty, where Megatron dropped the EOD of
an empty segment in the middle and could turn an empty trailing segment into three bare sentinels.

Text is handled as bytes, not as a lossy ``decode()``: a window edge can cut a multi-byte UTF-8
character between two byte-level tokens. Each segment's exact bytes are decoded with
``surrogateescape`` so such stray bytes count as one "character" each, cuts never split a real code
point, and the stray bytes are re-tokenized as their single-byte tokens. Undoing the permutation
(:func:`unpermute`) therefore gives back the original bytes exactly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from sctool.errors import ConfigError, InvalidInputError

FIM_PREFIX = "<fim_prefix>"
FIM_MIDDLE = "<fim_middle>"
FIM_SUFFIX = "<fim_suffix>"
FIM_PAD = "<fim_pad>"
EOD = "<|endoftext|>"

# The one table of sentinel spellings for training, inference and evaluation. StarCoder's tokenizer
# writes them with underscores; SantaCoder-style tokenizers with hyphens. A tokenizer is read in one
# spelling family, never a mix of the two.
SENTINEL_SPELLINGS: dict[str, tuple[str, str]] = {
    "prefix": (FIM_PREFIX, "<fim-prefix>"),
    "middle": (FIM_MIDDLE, "<fim-middle>"),
    "suffix": (FIM_SUFFIX, "<fim-suffix>"),
    "pad": (FIM_PAD, "<fim-pad>"),
    "eod": (EOD, EOD),
}
MODES = ("psm", "spm")


def sentinel_ids(tokenizer: Any, names: tuple[str, ...] = ("prefix", "middle", "suffix", "pad", "eod")) -> dict[str, int]:
    """Ids of the named FIM sentinels, in the first spelling family the tokenizer has all of.

    ``tokenizer`` is anything with ``token_to_id`` (``tokenizers.Tokenizer``, a transformers fast
    tokenizer, ``sctool.infer.generate.TokenizerAdapter``). A missing sentinel is a ``ConfigError``
    that names it, because FIM training or infilling without it would silently learn or prompt garbage.
    """
    tok = _backend(tokenizer)
    lookup = getattr(tok, "token_to_id", None)
    if lookup is None:
        raise ConfigError(f"{type(tokenizer).__name__} has no token_to_id; FIM needs a tokenizer with sentinel tokens")
    for family in (0, 1):
        found = {name: lookup(SENTINEL_SPELLINGS[name][family]) for name in names}
        if all(v is not None for v in found.values()):
            return {name: int(v) for name, v in found.items()}
    missing = [SENTINEL_SPELLINGS[n][0] for n in names if lookup(SENTINEL_SPELLINGS[n][0]) is None]
    raise ConfigError(f"tokenizer has no {', '.join(missing)} token; FIM needs a StarCoder-style vocabulary")


def fim_layout(ids: Any, prefix: Any, suffix: Any, middle: Any, spm: bool) -> list[Any]:
    """The pieces of one FIM document in order: the only place the PSM and SPM layouts are written.

    ``ids`` has ``prefix``/``suffix``/``middle`` attributes (:class:`FimTokenIds`, :class:`FimPromptIds`).
    Training (:func:`apply_fim`) lays documents out with it and prompts (:func:`fim_prompt_ids`) are
    its first pieces, so what a model is asked at inference is what it saw in training.
    """
    if spm:
        return [[ids.prefix, ids.suffix], suffix, [ids.middle], prefix, middle]
    return [[ids.prefix], prefix, [ids.suffix], suffix, [ids.middle], middle]


@dataclass(frozen=True)
class FimConfig:
    """FIM rates (StarCoder's defaults) and the seed that, with the window index, fixes each draw."""

    fim_rate: float = field(
        default=0.5, metadata={"help": "probability that a document segment is FIM-permuted (StarCoder: 0.5)"}
    )
    fim_spm_rate: float = field(
        default=0.5, metadata={"help": "probability that a permuted segment uses SPM instead of PSM (StarCoder: 0.5)"}
    )
    seed: int = field(default=1234, metadata={"help": "seed of the per-window random generators (Megatron's default)"})

    def __post_init__(self) -> None:
        for name in ("fim_rate", "fim_spm_rate"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
                raise ConfigError(f"FimConfig.{name} must be a probability in [0, 1], got {v!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"FimConfig.seed must be a non-negative integer, got {self.seed!r}")


@dataclass(frozen=True)
class FimTokenIds:
    """The five token ids FIM needs; StarCoder's tokenizer has them at 1, 2, 3, 4 and 0."""

    prefix: int
    middle: int
    suffix: int
    pad: int
    eod: int

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> FimTokenIds:
        """Look the sentinels up in a ``tokenizers.Tokenizer`` or ``PreTrainedTokenizerFast``."""
        return cls(**sentinel_ids(tokenizer))


@dataclass(frozen=True)
class FimPromptIds:
    """The three sentinels an infilling prompt needs (no pad or end-of-document)."""

    prefix: int
    middle: int
    suffix: int

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> FimPromptIds:
        return cls(**sentinel_ids(tokenizer, ("prefix", "middle", "suffix")))


def fim_prompt_ids(tokenizer: Any, prefix: str, suffix: str, mode: str = "psm") -> list[int]:
    """Token ids of an infilling prompt in ``mode`` (``psm`` or ``spm``); the model continues with the middle.

    The prefix and suffix are encoded separately and the sentinels inserted as ids, which gives the
    same ids as encoding the bigcode-evaluation-harness prompt string with its special tokens.
    """
    if mode not in MODES:
        raise ConfigError(f"unknown FIM mode {mode!r}; choose from {', '.join(MODES)}")
    ids = FimPromptIds.from_tokenizer(tokenizer)
    pieces = fim_layout(ids, _encode(tokenizer, prefix), _encode(tokenizer, suffix), [], mode == "spm")
    return [int(t) for piece in pieces for t in piece]


def _encode(tokenizer: Any, text: str) -> list[int]:
    """Ids of ``text`` without the tokenizer's own special tokens (BOS/EOS templates)."""
    tok = _backend(tokenizer)
    if hasattr(tok, "encode_batch") and hasattr(tok, "get_vocab_size"):
        return list(tok.encode(text, add_special_tokens=False).ids)
    out = tok.encode(text)
    return list(out.ids) if hasattr(out, "ids") else list(out)


@runtime_checkable
class FimCodec(Protocol):
    """Turns token ids into text and back for FIM; the text may carry ``surrogateescape`` bytes."""

    def to_text(self, ids: np.ndarray) -> str: ...

    def to_ids(self, texts: Sequence[str]) -> list[np.ndarray]: ...


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map that byte-level BPE vocabularies are written in."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


_ESCAPED = re.compile("[\udc80-\udcff]+")


class ByteLevelCodec:
    """Exact byte-level detokenize/retokenize over a HF ``tokenizers.Tokenizer``.

    Build it once per worker (it tabulates every token's bytes); it pickles, so DataLoader workers
    can receive it.
    """

    def __init__(self, tokenizer: Any) -> None:
        tok = _backend(tokenizer)
        self.tokenizer = tok
        byte_of = {c: b for b, c in _bytes_to_unicode().items()}
        added = {int(i): t.content for i, t in tok.get_added_tokens_decoder().items()}
        size = tok.get_vocab_size(with_added_tokens=True)
        table: list[bytes] = [b""] * size
        for text, tid in tok.get_vocab(with_added_tokens=True).items():
            if tid >= size:
                size = tid + 1
                table.extend([b""] * (size - len(table)))
            if tid in added:
                table[tid] = added[tid].encode("utf-8")
                continue
            try:
                table[tid] = bytes(byte_of[c] for c in text)
            except KeyError as exc:
                raise ConfigError(
                    f"token {text!r} (id {tid}) is not byte-level BPE; FIM's exact codec needs a "
                    "byte-level tokenizer such as the one `sctool train-tokenizer` makes"
                ) from exc
        self._table = table
        single: dict[int, int] = {}
        for tid, bs in enumerate(table):
            if len(bs) == 1 and tid not in added and bs[0] not in single:
                single[bs[0]] = tid
        missing = [b for b in range(256) if b not in single]
        if missing:
            raise ConfigError(f"byte-level vocabulary lacks single-byte tokens for {len(missing)} byte values")
        self._byte_token = np.array([single[b] for b in range(256)], dtype=np.int64)

    def to_bytes(self, ids: np.ndarray) -> bytes:
        table = self._table
        try:
            return b"".join([table[i] for i in np.asarray(ids).tolist()])
        except IndexError as exc:
            raise InvalidInputError(f"token id outside the vocabulary of {len(table)}: {exc}") from exc

    def to_text(self, ids: np.ndarray) -> str:
        return self.to_bytes(ids).decode("utf-8", "surrogateescape")

    def to_ids(self, texts: Sequence[str]) -> list[np.ndarray]:
        out: list[np.ndarray | None] = [None] * len(texts)
        plain: list[int] = []
        for k, t in enumerate(texts):
            if not t:
                out[k] = np.zeros(0, dtype=np.int64)
            elif _ESCAPED.search(t) is None:
                plain.append(k)
            else:
                out[k] = self._encode_escaped(t)
        if plain:
            encs = self.tokenizer.encode_batch_fast([texts[k] for k in plain], add_special_tokens=False)
            for k, enc in zip(plain, encs):
                out[k] = np.asarray(enc.ids, dtype=np.int64)
        return [o if o is not None else np.zeros(0, dtype=np.int64) for o in out]

    def _encode_escaped(self, text: str) -> np.ndarray:
        """Valid runs go through the tokenizer; each stray byte becomes its single-byte token."""
        parts: list[np.ndarray] = []
        pos = 0
        for m in _ESCAPED.finditer(text):
            if m.start() > pos:
                enc = self.tokenizer.encode(text[pos : m.start()], add_special_tokens=False)
                parts.append(np.asarray(enc.ids, dtype=np.int64))
            raw = m.group().encode("utf-8", "surrogateescape")
            parts.append(self._byte_token[np.frombuffer(raw, dtype=np.uint8)])
            pos = m.end()
        if pos < len(text):
            parts.append(np.asarray(self.tokenizer.encode(text[pos:], add_special_tokens=False).ids, dtype=np.int64))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def __getstate__(self) -> dict[str, Any]:
        return {"tokenizer_json": self.tokenizer.to_str(), "table": self._table, "byte_token": self._byte_token}

    def __setstate__(self, state: dict[str, Any]) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_str(state["tokenizer_json"])
        self._table = state["table"]
        self._byte_token = state["byte_token"]


def _backend(tokenizer: Any) -> Any:
    """The ``tokenizers.Tokenizer`` inside a transformers fast tokenizer, or the object itself."""
    return getattr(tokenizer, "backend_tokenizer", tokenizer)


_CODEC_CACHE: dict[int, tuple[Any, ByteLevelCodec]] = {}


def fim_codec(tokenizer: Any) -> FimCodec:
    """A codec for ``tokenizer``: returned as is if it already is one, else a cached :class:`ByteLevelCodec`."""
    if isinstance(tokenizer, FimCodec):
        return tokenizer
    tok = _backend(tokenizer)
    hit = _CODEC_CACHE.get(id(tok))
    if hit is not None and hit[0] is tok:
        return hit[1]
    codec = ByteLevelCodec(tok)
    if len(_CODEC_CACHE) >= 8:
        _CODEC_CACHE.pop(next(iter(_CODEC_CACHE)))
    _CODEC_CACHE[id(tok)] = (tok, codec)
    return codec


def window_rng(seed: int, window_index: int) -> np.random.Generator:
    """The generator for one window: independent streams per (seed, index), same on every worker."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(window_index)]))


def _segments(window: np.ndarray, eod: int) -> list[tuple[int, int]]:
    """(start, end) of the runs between EOD tokens, including empty ones, in order."""
    n = window.size
    eods = np.flatnonzero(window == eod).tolist()
    starts = [0] + [e + 1 for e in eods]
    ends = [*eods, n]
    return list(zip(starts, ends))


def apply_fim(
    window: np.ndarray,
    rng: np.random.Generator,
    config: FimConfig,
    ids: FimTokenIds,
    tokenizer: Any,
) -> np.ndarray:
    """FIM-permute the documents of one packed window; the result has the window's length and dtype.

    ``tokenizer`` is a ``tokenizers.Tokenizer``, a ``PreTrainedTokenizerFast`` or a :class:`FimCodec`
    (build one with :func:`fim_codec` once per worker to skip the per-call cache lookup).
    """
    arr = np.asarray(window)
    if arr.ndim != 1:
        raise InvalidInputError(f"a FIM window must be 1-D, got shape {arr.shape}")
    n = arr.size
    if n == 0 or config.fim_rate == 0.0:
        return arr.copy()
    codec = fim_codec(tokenizer)
    segs = _segments(arr, ids.eod)
    # Plan first (all random draws, in Megatron's order), then re-tokenize every piece in one batch.
    plan: list[tuple[int, int, bool | None]] = []
    pieces: list[str] = []
    for start, end in segs:
        if end == start or not rng.binomial(1, config.fim_rate):
            plan.append((start, end, None))
            continue
        text = codec.to_text(arr[start:end])
        lo, hi = sorted(rng.integers(0, len(text) + 1, size=2).tolist())
        spm = bool(rng.binomial(1, config.fim_spm_rate))
        pieces.extend((text[:lo], text[lo:hi], text[hi:]))
        plan.append((start, end, spm))
    if not pieces:
        return arr.copy()
    encoded = codec.to_ids(pieces)
    out: list[np.ndarray] = []
    eod = np.array([ids.eod], dtype=np.int64)
    k = 0
    for j, (start, end, spm) in enumerate(plan):
        if j:
            out.append(eod)
        if spm is None:
            out.append(arr[start:end].astype(np.int64))
            continue
        prefix, middle, suffix = encoded[k], encoded[k + 1], encoded[k + 2]
        k += 3
        out += [np.asarray(piece, dtype=np.int64) for piece in fim_layout(ids, prefix, suffix, middle, spm)]
    new = np.concatenate(out)
    if new.size >= n:
        new = new[:n]
    else:
        new = np.concatenate([new, np.full(n - new.size, ids.pad, dtype=np.int64)])
    if arr.dtype.kind in "iu":
        return new.astype(arr.dtype)
    return new


def unpermute(window: np.ndarray, ids: FimTokenIds, tokenizer: Any) -> list[bytes]:
    """The original bytes of each EOD-separated segment of a FIM window (trailing ``<fim_pad>`` removed).

    PSM ``[P] p [S] s [M] m`` gives ``p + m + s``; SPM ``[P][S] s [M] p m`` gives ``(p m) + s``. A
    segment that does not start with ``<fim_prefix>`` was not permuted. When the window was truncated
    inside the last segment's layout, that segment gives what survived (it cannot be the original).
    Raises ``InvalidInputError`` for any other segment whose sentinels are in neither layout.
    """
    codec = fim_codec(tokenizer)
    to_bytes = getattr(codec, "to_bytes", None)

    def dec(t: np.ndarray) -> bytes:
        if to_bytes is not None:
            return to_bytes(t)
        return codec.to_text(t).encode("utf-8", "surrogateescape")

    arr = np.asarray(window).astype(np.int64)
    end = arr.size
    while end and arr[end - 1] == ids.pad:
        end -= 1
    padded = end < arr.size
    arr = arr[:end]
    result: list[bytes] = []
    segments = _segments(arr, ids.eod)
    for k, (start, stop) in enumerate(segments):
        seg = arr[start:stop]
        if seg.size == 0 or seg[0] != ids.prefix:
            result.append(dec(seg))
            continue
        s_pos = np.flatnonzero(seg == ids.suffix)
        m_pos = np.flatnonzero(seg == ids.middle)
        complete = s_pos.size == 1 and m_pos.size == 1 and s_pos[0] < m_pos[0]
        if not complete or np.count_nonzero(seg == ids.prefix) != 1 or s_pos.size > 1 or m_pos.size > 1:
            if k == len(segments) - 1 and not padded and s_pos.size <= 1 and m_pos.size == 0:
                # The window's end cut this segment inside its layout: keep what survived, in order.
                if s_pos.size == 0:
                    result.append(dec(seg[1:]))
                elif s_pos[0] == 1:
                    result.append(dec(seg[2:]))
                else:
                    s = int(s_pos[0])
                    result.append(dec(seg[1:s]) + dec(seg[s + 1 :]))
                continue
            raise InvalidInputError(f"segment {k} starts with <fim_prefix> but is neither PSM nor SPM")
        s, m = int(s_pos[0]), int(m_pos[0])
        if s == 1:  # SPM, or PSM with an empty prefix: both read back as (P M) + S
            result.append(dec(seg[m + 1 :]) + dec(seg[2:m]))
        else:
            result.append(dec(seg[1:s]) + dec(seg[m + 1 :]) + dec(seg[s + 1 : m]))
    return result


__all__ = [
    "MODES",
    "SENTINEL_SPELLINGS",
    "ByteLevelCodec",
    "FimCodec",
    "FimConfig",
    "FimPromptIds",
    "FimTokenIds",
    "apply_fim",
    "fim_codec",
    "fim_layout",
    "fim_prompt_ids",
    "sentinel_ids",
    "unpermute",
    "window_rng",
]
