"""Name -> stage function table used by ``sctool run RECIPE.yaml``.

Each entry's ``run(inputs, output, config, runtime) -> Manifest`` is the same function the CLI
subcommand and the Python API call. Stage modules are imported lazily so a recipe only imports what
it uses.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StageEntry:
    name: str
    module: str
    config_cls: str
    run: str

    def load(self) -> tuple[type, Callable[..., Any]]:
        mod = importlib.import_module(self.module)
        return getattr(mod, self.config_cls), getattr(mod, self.run)


STAGES: dict[str, StageEntry] = {}


def register(name: str, module: str, config_cls: str, run: str) -> None:
    STAGES[name] = StageEntry(name, module, config_cls, run)


register("ingest", "sctool.stages.ingest", "IngestConfig", "run_ingest")
register("dedup", "sctool.stages.dedup", "DedupConfig", "run_dedup")
register("filter", "sctool.stages.filter", "FilterConfig", "run_filter")
register("decontam", "sctool.stages.decontam", "DecontamConfig", "run_decontam")
register("redact", "sctool.stages.redact", "RedactConfig", "run_redact")
register("format", "sctool.stages.format", "FormatConfig", "run_format")
register("train-tokenizer", "sctool.tokenizer.train", "TokenizerConfig", "run_train_tokenizer")
register("tokenize", "sctool.stages.tokenize", "TokenizeConfig", "run_tokenize_stage")
