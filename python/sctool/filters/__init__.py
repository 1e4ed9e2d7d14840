"""Quality filters: per-document statistics (Rust) and rules as data (YAML presets)."""

from sctool.filters.engine import FilterResult, evaluate, text_stats
from sctool.filters.rules import Condition, Rule, RuleSet, available_presets, load_rules

__all__ = ["Condition", "FilterResult", "Rule", "RuleSet", "available_presets", "evaluate", "load_rules",
           "text_stats"]
