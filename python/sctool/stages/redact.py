"""``sctool redact``: find secrets and PII, replace them, and record every finding.

Per batch: one Rust pass detects spans (rules, GIL released, all cores), an optional local NER model
adds spans the rules missed, and a second Rust pass replaces the chosen types. Every document is
kept; the output gains a ``pii`` column (list of ``start, end, type, rule`` in original-text code
points and whether the output replaced it), so a later step can audit or re-decide. A parse guard
keeps every Python, JSON, TOML and YAML document that parsed before redaction parsing after it
(``parse_guard`` in the manifest). The manifest counts findings per type and rule.
Values themselves never reach logs, counters or the manifest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from sctool.io.dataset import Manifest
from sctool.pii import DEFAULT_REDACT_TYPES, PII_TYPES, _check_types, apply_redaction, spans_for_frame
from sctool.stages.base import MapStage, Runtime, StageOutput, register_stage


@dataclass(frozen=True)
class RedactConfig:
    """What `sctool redact` replaces and how."""

    types: tuple[str, ...] = field(
        default=DEFAULT_REDACT_TYPES,
        metadata={"help": f"comma-separated types to replace (of {', '.join(PII_TYPES)}); all types are always "
                          "annotated, USERNAME is reported but kept unless listed", "sep": ","},
    )
    annotate_only: bool = field(default=False, metadata={"help": "keep the text; only add the pii column"})
    seed: int = field(default=0, metadata={"help": "seed of the synthetic IP addresses that replace real ones"})
    pii_column: str = field(default="pii", metadata={"help": "name of the output column of spans"})
    ner_model: str | None = field(
        default=None,
        metadata={"help": "optional local Hugging Face token-classification model dir (StarPII-style) whose spans "
                          "are merged with the rules' (needs torch + transformers)", "metavar": "DIR"},
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "types", _check_types(self.types))


def redact_batch(batch: pl.DataFrame, config: RedactConfig, runtime: Runtime, ner: object | None = None) -> StageOutput:
    """Annotate (and unless annotate-only, redact) one batch; counters per type and rule."""
    table = spans_for_frame(batch, text_column=runtime.text_column, threads=runtime.threads, ner=ner)  # type: ignore[arg-type]
    guard: dict[str, int] = {}
    kept = apply_redaction(batch, table, text_column=runtime.text_column, types=config.types, seed=config.seed,
                           annotate_only=config.annotate_only, pii_column=config.pii_column,
                           threads=runtime.threads, guard_stats=guard)
    counters = table.counters(() if config.annotate_only else config.types)
    if not config.annotate_only:
        # Documents whose parse the guard checked or repaired; findings it left unreplaced.
        counters["parse_guard"] = guard
        counters["pii_redacted"] -= guard.get("unreplaced", 0)
    return StageOutput(kept=kept, removed=None, counters=counters)


def run_redact(inputs: Sequence[str | Path], output: str | Path, config: RedactConfig, runtime: Runtime) -> Manifest:
    return RedactStage(config, runtime).run(inputs, output)


@register_stage
class RedactStage(MapStage[RedactConfig]):
    """Detect e-mails, IP addresses, keys, passwords, names and usernames; replace the chosen types
    with <EMAIL>, <KEY>, <PASSWORD>, <NAME> (IPs with a synthetic address of the same family) and add
    a `pii` column of spans (start, end, type, rule) in original-text offsets. Every document is
    kept."""

    name = "redact"
    Config = RedactConfig
    summary = "detect and redact secrets and PII"

    def setup(self) -> None:
        self.ner = None
        if self.config.ner_model:
            from sctool.pii.ner import NerModel

            self.ner = NerModel.load(self.config.ner_model)

    def map(self, batch: pl.DataFrame) -> StageOutput:
        return redact_batch(batch, self.config, self.runtime, self.ner)


__all__ = ["RedactConfig", "RedactStage", "redact_batch", "run_redact"]
