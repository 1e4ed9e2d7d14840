"""Training windows over packed token files: splits, blending, FIM, and a rank-sharded sampler.

Every random choice is a pure function of ``(seed, sample index)``: which source a sample comes
from, which window of that source, and how FIM cuts its documents. So the data a run sees depends
only on the config and the number of samples consumed (the "data position" stored in checkpoints),
never on worker count, prefetching, restarts or how samples are spread over ranks. That is what
makes resume exact and lets a 2-rank DDP run see exactly the samples a 1-rank run sees.

Layout of the sample stream (global sample index ``i``):

* blend: source ``s(i)`` from a golden-ratio (Kronecker/Weyl) sequence thresholded at the cumulative
  weights; any prefix of the stream holds each source within a few samples of ``weight * n``
  (the purpose of Megatron's greedy ``BlendableDataset`` index, but computable for any ``i``);
  ``k(i)`` = how many earlier samples came from ``s(i)``.
* window: source split tokens ``[t0, t1)`` cut into back-to-back windows of ``seq_len`` tokens (the
  model shifts the labels itself, so a window is both input and target, transformers' convention);
  the train split's window order is reshuffled every epoch, the valid split is read in order.
* FIM: each document segment of the window permuted with probability ``fim_rate`` (the StarCoder paper).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from sctool.errors import ConfigError, DatasetError
from sctool.packing.indexed import IndexedDataset

Split = Literal["train", "valid"]
_SPLIT_CODE = {"train": 0, "valid": 1}

# round(2^64 / golden ratio), odd: multiplying by it modulo 2^64 is the integer form of the
# Kronecker sequence frac(i * 0.618...), exact and identical on every platform.
_WEYL = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class SplitInfo:
    """Where one split of one source lives in its flat token array."""

    label: str
    prefix: str
    first_doc: int
    end_doc: int
    first_token: int
    end_token: int
    seq_len: int

    @property
    def num_tokens(self) -> int:
        return self.end_token - self.first_token

    @property
    def num_windows(self) -> int:
        return self.num_tokens // self.seq_len


def split_source(ds: IndexedDataset, label: str, seq_len: int, valid_fraction: float) -> dict[Split, SplitInfo]:
    """Documents ``[0, n - v)`` train, ``[n - v, n)`` validate, ``v = round(n * valid_fraction)``.

    Splitting by whole documents (as Megatron's ``0:0.969`` ranges do) keeps a held-out document's
    tokens out of training entirely, so validation perplexity measures generalisation.
    """
    n = len(ds)
    n_valid = round(n * valid_fraction)
    if valid_fraction > 0 and n >= 2:
        n_valid = max(n_valid, 1)
    n_valid = min(n_valid, max(n - 1, 0))
    cum = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(ds.sizes, out=cum[1:])
    b = n - n_valid
    return {
        "train": SplitInfo(label, str(ds.prefix), 0, b, 0, int(cum[b]), seq_len),
        "valid": SplitInfo(label, str(ds.prefix), b, n, int(cum[b]), int(cum[n]), seq_len),
    }


class BlendIndex:
    """Global sample index -> (source, index within source), proportional to the weights."""

    BLOCK = 1 << 14

    def __init__(self, weights: Sequence[float]) -> None:
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or w.size == 0 or not np.all(w > 0):
            raise ConfigError(f"blend weights must be positive, got {list(weights)}")
        cum = np.cumsum(w / w.sum())
        # Thresholds on the 2^64 circle; the last source takes everything above the final one.
        self._thresholds = np.array([min(int(c * 2.0**64), 2**64 - 1) for c in cum[:-1]], dtype=np.uint64)
        self.num_sources = int(w.size)
        self._block_starts: list[np.ndarray] = [np.zeros(self.num_sources, dtype=np.int64)]
        self._cache: tuple[int, np.ndarray, np.ndarray] | None = None

    def _assign(self, lo: int, hi: int) -> np.ndarray:
        i = np.arange(lo + 1, hi + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            u = i * _WEYL
        return np.searchsorted(self._thresholds, u, side="right").astype(np.int64)

    def _block(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Source of every sample in block ``b`` and its index within that source."""
        if self._cache is not None and self._cache[0] == b:
            return self._cache[1], self._cache[2]
        while len(self._block_starts) <= b:
            j = len(self._block_starts) - 1
            src = self._assign(j * self.BLOCK, (j + 1) * self.BLOCK)
            counts = np.bincount(src, minlength=self.num_sources)
            self._block_starts.append(self._block_starts[j] + counts)
        src = self._assign(b * self.BLOCK, (b + 1) * self.BLOCK)
        within = np.empty(src.size, dtype=np.int64)
        for s in range(self.num_sources):
            mask = src == s
            within[mask] = self._block_starts[b][s] + np.arange(int(mask.sum()), dtype=np.int64)
        self._cache = (b, src, within)
        return src, within

    def __call__(self, i: int) -> tuple[int, int]:
        if self.num_sources == 1:
            return 0, i
        b, r = divmod(i, self.BLOCK)
        src, within = self._block(b)
        return int(src[r]), int(within[r])

    def counts(self, n: int) -> np.ndarray:
        """Samples per source among the first ``n`` (for logs and tests)."""
        return np.bincount(self._assign(0, n), minlength=self.num_sources) if self.num_sources > 1 else np.array([n])


def _permutation(seed: int, source: int, epoch: int, n: int) -> np.ndarray:
    dtype = np.int32 if n < 2**31 else np.int64
    return np.random.default_rng([seed, source, epoch]).permutation(n).astype(dtype)


class PackedWindows(Dataset):
    """Map-style dataset: global sample index -> ``seq_len`` tokens (int64), FIM applied.

    Holds paths, not memory maps, across pickling (spawned DataLoader workers reopen the files
    instead of receiving a copy of the data).
    """

    def __init__(
        self,
        splits: Sequence[SplitInfo],
        weights: Sequence[float],
        split: Split,
        seed: int,
        vocab_size: int,
        fim: Any | None = None,
    ) -> None:
        self.splits = list(splits)
        self.weights = list(weights)
        self.split = split
        self.seed = int(seed)
        self.vocab_size = int(vocab_size)
        self.fim = fim
        for info in self.splits:
            if info.num_windows < 1:
                raise DatasetError(
                    f"{info.prefix}: the {split} split holds {info.num_tokens} tokens, fewer than one window of "
                    f"{info.seq_len}; lower data.seq_len or give this source more data"
                )
        self.blend = BlendIndex(self.weights)
        self._datasets: dict[int, IndexedDataset] = {}
        self._perms: dict[tuple[int, int], np.ndarray] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_datasets"] = {}
        state["_perms"] = {}
        return state

    def _tokens(self, s: int) -> np.ndarray:
        ds = self._datasets.get(s)
        if ds is None:
            ds = IndexedDataset(self.splits[s].prefix)
            self._datasets[s] = ds
        return ds.tokens

    def _window_start(self, s: int, k: int) -> int:
        info = self.splits[s]
        epoch, j = divmod(k, info.num_windows)
        if self.split == "train":
            key = (s, epoch)
            perm = self._perms.get(key)
            if perm is None:
                # Keep at most two epochs per source: a prefetching loader can straddle a boundary.
                for old in [x for x in self._perms if x[0] == s and x[1] < epoch - 1]:
                    del self._perms[old]
                perm = _permutation(self.seed, s, epoch, info.num_windows)
                self._perms[key] = perm
            j = int(perm[j])
        return info.first_token + j * info.seq_len

    def source_of(self, i: int) -> tuple[int, int]:
        return self.blend(i)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if i < 0:
            raise IndexError(f"sample index {i} must be >= 0")
        s, k = self.blend(i)
        info = self.splits[s]
        start = self._window_start(s, k)
        window = np.asarray(self._tokens(s)[start : start + info.seq_len], dtype=np.int64)
        if window.size and int(window.max()) >= self.vocab_size:
            raise DatasetError(
                f"{info.prefix}: token id {int(window.max())} >= the model's vocab_size {self.vocab_size}; "
                "the data was tokenized with a different tokenizer than the model was sized for"
            )
        if self.fim is not None:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, _SPLIT_CODE[self.split], i]))
            window = self.fim(window, rng)
        return {"tokens": torch.from_numpy(np.ascontiguousarray(window, dtype=np.int64))}


class ShardedBatchSampler:
    """Yields this rank's share of global micro-batch after global micro-batch.

    Global micro-batch ``b`` is samples ``start + [b·W·m, (b+1)·W·m)`` (``W`` ranks, ``m`` micro-batch);
    rank ``r`` takes the ``r``-th slice of ``m``. One rank with ``m = 4`` therefore sees the same samples
    per step as two ranks with ``m = 2``. Infinite unless ``num_batches`` is given (training stops at
    ``max_steps``, and an unknown length tells Lightning not to end an "epoch").
    """

    def __init__(self, micro_batch: int, rank: int, world: int, start_sample: int = 0, num_batches: int | None = None):
        if micro_batch < 1 or world < 1 or not 0 <= rank < world or start_sample < 0:
            raise ConfigError(f"bad sampler geometry: micro_batch={micro_batch} rank={rank} world={world}")
        self.micro_batch = micro_batch
        self.rank = rank
        self.world = world
        self.start_sample = start_sample
        self.num_batches = num_batches

    def __iter__(self) -> Iterator[list[int]]:
        b = 0
        m = self.micro_batch
        while self.num_batches is None or b < self.num_batches:
            base = self.start_sample + (b * self.world + self.rank) * m
            yield list(range(base, base + m))
            b += 1


class FiniteShardedBatchSampler(ShardedBatchSampler):
    def __init__(self, micro_batch: int, rank: int, world: int, num_batches: int):
        super().__init__(micro_batch, rank, world, 0, num_batches)

    def __len__(self) -> int:
        return int(self.num_batches or 0)


@functools.lru_cache(maxsize=8)
def _load_tokenizer(path: str) -> Any:
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(path)
    except Exception as exc:  # tokenizers raises a bare Exception on a bad file
        raise ConfigError(f"{path}: cannot load tokenizer: {exc}") from exc


def tokenizer_vocab_size(path: str) -> int:
    return int(_load_tokenizer(path).get_vocab_size(with_added_tokens=True))


class FimTransform:
    """Picklable per-window FIM (``sctool.fim.apply_fim``); workers rebuild the codec from the path."""

    def __init__(self, tokenizer_path: str, fim_rate: float, fim_spm_rate: float) -> None:
        self.tokenizer_path = tokenizer_path
        self.fim_rate = fim_rate
        self.fim_spm_rate = fim_spm_rate
        self._setup()

    def _setup(self) -> None:
        from sctool import fim

        tok = _load_tokenizer(self.tokenizer_path)
        self._config = fim.FimConfig(fim_rate=self.fim_rate, fim_spm_rate=self.fim_spm_rate)
        self._ids = fim.FimTokenIds.from_tokenizer(tok)
        self._codec = fim.fim_codec(tok)
        self._apply = fim.apply_fim

    @property
    def eod(self) -> int:
        return self._ids.eod

    def __getstate__(self) -> dict[str, Any]:
        return {k: self.__dict__[k] for k in ("tokenizer_path", "fim_rate", "fim_spm_rate")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._setup()

    def __call__(self, window: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.asarray(self._apply(window, rng, self._config, self._ids, self._codec), dtype=np.int64)


def build_datasets(
    sources: Sequence[Any],
    seq_len: int,
    valid_fraction: float,
    seed: int,
    vocab_size: int,
    fim: Any | None = None,
) -> tuple[PackedWindows, PackedWindows | None, list[str]]:
    """The train stream and (when any source has a held-out window) the valid stream, plus notes."""
    if not sources:
        raise ConfigError("no training data: give data.sources (or --data PREFIX)")
    train_splits: list[SplitInfo] = []
    valid_splits: list[SplitInfo] = []
    valid_weights: list[float] = []
    notes: list[str] = []
    for src in sources:
        prefix = os.fspath(src.prefix)
        ds = IndexedDataset(prefix)
        try:
            ds.tokens  # noqa: B018 - raises a clear error for non-contiguous files
            parts = split_source(ds, src.label, seq_len, valid_fraction)
        finally:
            ds.close()
        train_splits.append(parts["train"])
        if parts["valid"].num_windows >= 1:
            valid_splits.append(parts["valid"])
            valid_weights.append(src.weight)
        elif valid_fraction > 0:
            notes.append(f"{prefix}: too few held-out tokens for a validation window; not validated")
    train = PackedWindows(train_splits, [s.weight for s in sources], "train", seed, vocab_size, fim)
    valid = PackedWindows(valid_splits, valid_weights, "valid", seed, vocab_size, fim) if valid_splits else None
    return train, valid, notes


__all__ = [
    "BlendIndex",
    "FimTransform",
    "FiniteShardedBatchSampler",
    "PackedWindows",
    "ShardedBatchSampler",
    "SplitInfo",
    "build_datasets",
    "split_source",
    "tokenizer_vocab_size",
]
