"""Weighted blending of several packed token files into one stream of training windows.

StarCoder's training read 92 sources with per-source weights (the StarCoder paper) through Megatron's
``BlendableDataset``. Its rule is reproduced here: sample ``i`` goes to the source whose share so far
lags its weight the most (``argmax_d  w_d · max(i, 1) − taken_d``), so every prefix of the stream
matches the weights as closely as whole samples allow, deterministically and with no random draws.

Within a source, window ``k`` is the tokens ``[k·L, (k+1)·L + 1)`` of the flat token array (one token
overlap: inputs and shifted labels come from one window, as in Megatron's ``GPTDataset``). When a
source runs out its windows are reused in a fresh seeded order (another epoch of that source).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sctool.errors import ConfigError, DatasetError
from sctool.packing.indexed import IndexedDataset


def blending_indices(weights: Sequence[float], size: int) -> tuple[np.ndarray, np.ndarray]:
    """(source of each sample, its index within that source) by Megatron's greedy error rule."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size == 0 or (w < 0).any() or w.sum() <= 0:
        raise ConfigError(f"blend weights must be non-negative with a positive sum, got {list(weights)}")
    w = w / w.sum()
    taken = np.zeros(w.size, dtype=np.float64)
    source = np.empty(size, dtype=np.int32)
    within = np.empty(size, dtype=np.int64)
    for i in range(size):
        d = int(np.argmax(w * max(i, 1) - taken))
        source[i] = d
        within[i] = int(taken[d])
        taken[d] += 1
    return source, within


@dataclass(frozen=True)
class BlendSource:
    name: str
    prefix: Path
    weight: float


def read_blend(path: str | Path) -> list[BlendSource]:
    """The sources of a ``blend.yaml`` written by ``sctool tokenize --mix``."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
        entries = data["sources"]
        return [BlendSource(e["name"], p.parent / e["prefix"], float(e["weight"])) for e in entries]
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"{p}: not a readable blend file: {exc}") from exc


class BlendedWindows:
    """``num_samples`` windows of ``seq_len + 1`` tokens drawn from several sources by weight."""

    def __init__(
        self,
        sources: Sequence[tuple[IndexedDataset, float]] | str | Path,
        seq_len: int,
        num_samples: int,
        seed: int = 1234,
    ) -> None:
        if isinstance(sources, (str, Path)):
            blend = read_blend(sources)
            pairs: list[tuple[IndexedDataset, float]] = [(IndexedDataset(b.prefix), b.weight) for b in blend]
        else:
            pairs = list(sources)
        if seq_len < 1 or num_samples < 0:
            raise ConfigError("seq_len must be >= 1 and num_samples >= 0")
        self.seq_len = seq_len
        self.seed = seed
        self.datasets = [d for d, _ in pairs]
        self._tokens = [d.tokens for d in self.datasets]
        self._windows = [max((t.size - 1) // seq_len, 0) for t in self._tokens]
        for d, n in zip(self.datasets, self._windows):
            if n == 0:
                raise DatasetError(f"{d.prefix}: fewer than {seq_len + 1} tokens, cannot hold one window")
        self.source, self.within = blending_indices([w for _, w in pairs], num_samples)
        self._orders: dict[tuple[int, int], np.ndarray] = {}

    def __getstate__(self) -> dict[str, Any]:
        # The token memmaps are re-derived from the datasets (which pickle by path), never copied.
        state = dict(self.__dict__)
        state["_tokens"] = None
        state["_orders"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._tokens = [d.tokens for d in self.datasets]

    def __len__(self) -> int:
        return int(self.source.size)

    def _window_index(self, d: int, j: int) -> int:
        n = self._windows[d]
        epoch, k = divmod(j, n)
        if epoch == 0:
            return k
        key = (d, epoch)
        order = self._orders.get(key)
        if order is None:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, d, epoch]))
            order = rng.permutation(n)
            if len(self._orders) > 64:
                self._orders.clear()
            self._orders[key] = order
        return int(order[k])

    def __getitem__(self, i: int) -> np.ndarray:
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample {i} out of range for {len(self)} samples")
        i %= len(self)
        d = int(self.source[i])
        k = self._window_index(d, int(self.within[i]))
        start = k * self.seq_len
        return np.asarray(self._tokens[d][start : start + self.seq_len + 1])

    def describe(self) -> dict[str, Any]:
        counts = np.bincount(self.source, minlength=len(self.datasets)) if len(self) else np.zeros(len(self.datasets))
        return {
            str(d.prefix): {"samples": int(c), "windows": n}
            for d, c, n in zip(self.datasets, counts.tolist(), self._windows)
        }
