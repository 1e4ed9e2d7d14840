"""LightningDataModule over packed ``.bin/.idx`` sources (the sampling itself lives in ``data.py``)."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
from torch.utils.data import DataLoader

from sctool.train.config import DataConfig
from sctool.train.data import (
    FimTransform,
    FiniteShardedBatchSampler,
    PackedWindows,
    ShardedBatchSampler,
    build_datasets,
)


class PackedDataModule(L.LightningDataModule):
    """Train stream from the module's data position, a fixed validation set, both sharded by rank.

    The training loader starts at ``lightning_module.consumed_samples`` (restored from the checkpoint
    before Lightning asks for the loader), so a resumed run continues with the very next sample.
    """

    def __init__(self, data: DataConfig, micro_batch_size: int, val_samples: int, vocab_size: int) -> None:
        super().__init__()
        self.data = data
        self.micro_batch_size = micro_batch_size
        self.val_samples = val_samples
        self.vocab_size = vocab_size
        self.train_set: PackedWindows | None = None
        self.valid_set: PackedWindows | None = None
        self.notes: list[str] = []

    def fim_transform(self) -> FimTransform | None:
        d = self.data
        if d.fim_rate <= 0:
            return None
        if not d.tokenizer:
            from sctool.errors import ConfigError

            raise ConfigError(
                "FIM needs the tokenizer (it re-tokenizes character-level cuts): give data.tokenizer "
                "(--tokenizer tokenizer.json) or set data.fim_rate 0"
            )
        return FimTransform(d.tokenizer, d.fim_rate, d.fim_spm_rate)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        d = self.data
        self.train_set, self.valid_set, self.notes = build_datasets(
            d.sources, d.seq_len, d.valid_fraction, d.seed, self.vocab_size, self.fim_transform()
        )

    def _rank_world(self) -> tuple[int, int]:
        if self.trainer is None:
            return 0, 1
        return self.trainer.global_rank, self.trainer.world_size

    def _loader(self, dataset: PackedWindows, sampler: Any) -> DataLoader:
        workers = self.data.num_workers
        pin = self.trainer is not None and self.trainer.strategy.root_device.type == "cuda"
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            num_workers=workers,
            pin_memory=pin,
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
        )

    def train_dataloader(self) -> DataLoader:
        self.setup()
        assert self.train_set is not None
        rank, world = self._rank_world()
        module = self.trainer.lightning_module if self.trainer is not None else None
        start = int(getattr(module, "consumed_samples", 0))
        sampler = ShardedBatchSampler(self.micro_batch_size, rank, world, start_sample=start)
        return self._loader(self.train_set, sampler)

    def val_dataloader(self) -> Any:
        self.setup()
        if self.valid_set is None or self.val_samples == 0:
            return []
        rank, world = self._rank_world()
        batches = math.ceil(self.val_samples / (self.micro_batch_size * world))
        return self._loader(self.valid_set, FiniteShardedBatchSampler(self.micro_batch_size, rank, world, batches))

    def state_dict(self) -> dict[str, Any]:
        """What the data position refers to; the position itself is the module's ``consumed_samples``."""
        d = self.data
        return {
            "sources": [(s.prefix, s.weight) for s in d.sources],
            "seq_len": d.seq_len,
            "seed": d.seed,
            "fim_rate": d.fim_rate,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # Nothing to restore: sampling is a pure function of config + position (see data.py).
        return None


__all__ = ["PackedDataModule"]
