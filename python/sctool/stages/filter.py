"""``sctool filter``: drop documents by quality rules (StarCoder's per-extension table by default).

Each batch gets its statistics from one Rust pass, then the rule set (YAML presets plus user rule
files) decides; dropped documents go to ``removed/`` with ``reason`` = the first rule that fired and
``fired`` = every rule that fired. Counters give documents and bytes removed per rule and per
language.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from sctool.filters.engine import evaluate
from sctool.filters.rules import RuleSet, load_rules, with_enabled
from sctool.io.dataset import Manifest
from sctool.stages.base import MapStage, Runtime, StageOutput, register_stage


@dataclass(frozen=True)
class FilterConfig:
    """Which rules `sctool filter` applies."""

    presets: tuple[str, ...] = field(
        default=("starcoder",),
        metadata={"help": "rule preset, repeatable, applied in order (starcoder, autogen, santacoder)",
                  "flag": "--preset", "metavar": "NAME"},
    )
    rules_files: tuple[str, ...] = field(
        default=(), metadata={"help": "YAML rule file, repeatable; a rule with an existing name replaces it",
                              "flag": "--rules", "metavar": "FILE"}
    )
    disable: tuple[str, ...] = field(default=(), metadata={"help": "switch a rule off (repeatable)",
                                                             "metavar": "RULE"})
    tokenizer: str | None = field(
        default=None, metadata={"help": "tokenizer.json for the fertility rule (santacoder preset)",
                                 "metavar": "PATH"}
    )

    def rule_set(self) -> RuleSet:
        rs = load_rules(self.presets, self.rules_files, tokenizer=self.tokenizer)
        return with_enabled(rs, self.disable, False) if self.disable else rs


def filter_batch(batch: pl.DataFrame, rules: RuleSet, runtime: Runtime) -> StageOutput:
    """Split one batch into kept and removed documents, with per-rule and per-language counters."""
    res = evaluate(batch, rules, text_column=runtime.text_column, threads=runtime.threads)
    drop = res.reason.is_not_null()
    kept = batch.filter(~drop)
    removed = batch.filter(drop).with_columns(res.reason.filter(drop).alias("reason"),
                                              res.fired.filter(drop).alias("fired"))
    nbytes = res.stats.get_column("n_bytes").fill_null(0)
    lang = res.stats.get_column("lang").replace("", "unknown")
    info = pl.DataFrame({"reason": res.reason, "lang": lang, "bytes": nbytes}).filter(drop)
    per_rule: dict[str, dict[str, int]] = {}
    for (r,), g in info.group_by(["reason"], maintain_order=True):
        per_rule[str(r)] = {"docs": g.height, "bytes": int(g.get_column("bytes").sum())}
    per_lang: dict[str, dict[str, dict[str, int]]] = {}
    for (lg, r), g in info.group_by(["lang", "reason"], maintain_order=True):
        per_lang.setdefault(str(lg), {})[str(r)] = {"docs": g.height, "bytes": int(g.get_column("bytes").sum())}
    all_lang = pl.DataFrame({"lang": lang, "bytes": nbytes})
    docs_in: dict[str, dict[str, int]] = {}
    for (lg,), g in all_lang.group_by(["lang"], maintain_order=True):
        docs_in[str(lg)] = {"docs": g.height, "bytes": int(g.get_column("bytes").sum())}
    counters = {"removed_by_rule": per_rule, "removed_by_language": per_lang, "input_by_language": docs_in,
                "null_documents": int(batch.get_column(runtime.text_column).null_count())}
    return StageOutput(kept=kept, removed=removed, counters=counters)


def run_filter(inputs: Sequence[str | Path], output: str | Path, config: FilterConfig, runtime: Runtime) -> Manifest:
    return FilterStage(config, runtime).run(inputs, output)


@register_stage
class FilterStage(MapStage[FilterConfig]):
    """Quality filtering with rules as data. Presets: starcoder (default: long lines, average line
    length, alphanumeric and alphabetic fractions per extension, XML header, HTML visible text,
    JSON/YAML size), autogen (generated-file markers, minified files), santacoder (stars, comment
    ratio, tokenizer fertility). Removed documents go to removed/ with reason = the first rule that
    fired and fired = every rule that fired."""

    name = "filter"
    Config = FilterConfig
    summary = "drop low-quality documents by rules (StarCoder's per-extension table by default)"

    def setup(self) -> None:
        self.rules = self.config.rule_set()

    def map(self, batch: pl.DataFrame) -> StageOutput:
        return filter_batch(batch, self.rules, self.runtime)

    def manifest_extra(self) -> dict[str, Any]:
        return {"rules": self.rules.to_dict()}
