"""Filter rules as data: the YAML schema, presets and user overrides.

A rule set is a list of named rules evaluated in order; a document is dropped by the first rule whose
condition is true, and that rule's name is the ``reason``. Thresholds live in YAML so StarCoder's
per-extension table is a preset a user can copy and edit, not code (the gitleaks/ruff idea of rules
that carry their own data).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from sctool.errors import ConfigError
from sctool.paths import PACKAGE_DATA

PRESETS_DIR = PACKAGE_DATA / "filters"
OPS = (">", ">=", "<", "<=", "==", "!=", "in", "not_in", "matches")

# Statistics the kernels compute; any other stat name is read from a column of the input.
TEXT_STATS = (
    "n_bytes", "n_chars", "n_lines", "max_line_length", "avg_line_length", "alphanum_fraction",
    "alpha_fraction", "whitespace_fraction", "xml_header", "generated_marker",
)
HTML_STATS = ("html_visible_chars", "html_visible_fraction")
COMMENT_STATS = ("comment_fraction",)
TOKEN_STATS = ("fertility",)
DERIVED = ("extension", "lang", "path")


@dataclass(frozen=True)
class Condition:
    """``stat op value``; ``null_as`` replaces a missing column value before comparing."""

    stat: str
    op: str
    value: Any
    null_as: Any = None


@dataclass(frozen=True)
class Rule:
    """One named filter: when it applies, and the condition that drops a document."""

    name: str
    conditions: tuple[Condition, ...]
    combine: str = "all"  # "all" or "any" of conditions
    description: str = ""
    enabled: bool = True
    languages: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()
    skip_languages: tuple[str, ...] = ()
    skip_extensions: tuple[str, ...] = ()
    per_extension: Mapping[str, Any] = field(default_factory=dict)
    per_language: Mapping[str, Any] = field(default_factory=dict)

    def stats(self) -> set[str]:
        return {c.stat for c in self.conditions}


@dataclass(frozen=True)
class RuleSet:
    """An ordered rule set plus the options some statistics need."""

    name: str
    rules: tuple[Rule, ...]
    generated_markers: tuple[str, ...] = ()
    marker_lines: int = 5
    tokenizer: str | None = None
    sources: tuple[str, ...] = ()

    def enabled(self) -> list[Rule]:
        return [r for r in self.rules if r.enabled]

    def needed_stats(self) -> set[str]:
        out: set[str] = set()
        for r in self.enabled():
            out |= r.stats()
        return out

    def to_dict(self) -> dict[str, Any]:
        """The resolved rules, as saved in the manifest (enough to reproduce the run)."""
        return {
            "name": self.name,
            "sources": list(self.sources),
            "generated_markers": list(self.generated_markers),
            "marker_lines": self.marker_lines,
            "tokenizer": self.tokenizer,
            "rules": [rule_to_dict(r) for r in self.rules],
        }


def rule_to_dict(r: Rule) -> dict[str, Any]:
    d: dict[str, Any] = {"name": r.name}
    if r.description:
        d["description"] = r.description
    if not r.enabled:
        d["enabled"] = False
    conds = [
        {"stat": c.stat, "op": c.op, "value": c.value, **({"null_as": c.null_as} if c.null_as is not None else {})}
        for c in r.conditions
    ]
    if len(conds) == 1 and r.combine == "all":
        d["when"] = conds[0]
    else:
        d[r.combine] = conds
    for key in ("languages", "extensions", "skip_languages", "skip_extensions"):
        if getattr(r, key):
            d[key] = list(getattr(r, key))
    if r.per_extension:
        d["per_extension"] = dict(r.per_extension)
    if r.per_language:
        d["per_language"] = dict(r.per_language)
    return d


def _str_list(v: Any, where: str) -> tuple[str, ...]:
    if v is None:
        return ()
    if isinstance(v, str) or not isinstance(v, Sequence) or not all(isinstance(x, str) for x in v):
        raise ConfigError(f"{where}: expected a list of strings, got {v!r}")
    return tuple(x.lower().lstrip(".") for x in v)


def _condition(d: Any, where: str) -> Condition:
    if not isinstance(d, Mapping):
        raise ConfigError(f"{where}: a condition is a mapping with stat, op and value, got {d!r}")
    unknown = set(d) - {"stat", "op", "value", "null_as"}
    if unknown:
        raise ConfigError(f"{where}: unknown condition keys {sorted(unknown)}")
    stat, op = d.get("stat"), d.get("op")
    if not isinstance(stat, str) or not stat:
        raise ConfigError(f"{where}: condition needs a 'stat' name")
    if op not in OPS:
        raise ConfigError(f"{where}: op must be one of {list(OPS)}, got {op!r}")
    value = d.get("value")
    if op in ("in", "not_in"):
        if not isinstance(value, list):
            raise ConfigError(f"{where}: op {op!r} needs a list value")
        value = tuple(str(x).lower() for x in value)
    elif op == "matches":
        try:
            re.compile(value)
        except (re.error, TypeError) as exc:
            raise ConfigError(f"{where}: invalid regular expression {value!r}: {exc}") from exc
    elif value is not None and not isinstance(value, (int, float, bool)):
        raise ConfigError(f"{where}: value must be a number or true/false, got {value!r}")
    return Condition(stat=stat, op=op, value=value, null_as=d.get("null_as"))


RULE_KEYS = {"name", "description", "enabled", "when", "all", "any", "languages", "extensions",
             "skip_languages", "skip_extensions", "per_extension", "per_language"}


def parse_rule(d: Any, where: str) -> Rule:
    if not isinstance(d, Mapping):
        raise ConfigError(f"{where}: a rule is a mapping, got {d!r}")
    name = d.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ConfigError(f"{where}: rule needs a 'name' of letters, digits, '_', '-' or '.', got {name!r}")
    where = f"{where} (rule {name!r})"
    unknown = set(d) - RULE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(RULE_KEYS)}")
    forms = [k for k in ("when", "all", "any") if k in d]
    if len(forms) != 1:
        raise ConfigError(f"{where}: give exactly one of 'when', 'all' or 'any'")
    form = forms[0]
    if form == "when":
        conds: tuple[Condition, ...] = (_condition(d["when"], where),)
        combine = "all"
    else:
        items = d[form]
        if not isinstance(items, list) or not items:
            raise ConfigError(f"{where}: '{form}' needs a non-empty list of conditions")
        conds = tuple(_condition(c, where) for c in items)
        combine = form
    overrides = {}
    for key in ("per_extension", "per_language"):
        v = d.get(key) or {}
        if not isinstance(v, Mapping):
            raise ConfigError(f"{where}: '{key}' must map names to values")
        if v and len(conds) != 1:
            raise ConfigError(f"{where}: '{key}' needs a single 'when' condition")
        overrides[key] = {str(k).lower().lstrip("."): x for k, x in v.items()}
    enabled = d.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{where}: 'enabled' must be true or false")
    return Rule(
        name=name,
        conditions=conds,
        combine=combine,
        description=str(d.get("description") or ""),
        enabled=enabled,
        languages=_str_list(d.get("languages"), where),
        extensions=_str_list(d.get("extensions"), where),
        skip_languages=_str_list(d.get("skip_languages"), where),
        skip_extensions=_str_list(d.get("skip_extensions"), where),
        per_extension=overrides["per_extension"],
        per_language=overrides["per_language"],
    )


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read rules file: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping) or not isinstance(data.get("rules", []), list):
        raise ConfigError(f"{path}: a rules file is a mapping with a 'rules' list")
    return dict(data)


def load_rules(presets: Sequence[str] = ("starcoder",), rules_files: Sequence[str | Path] = (),
               tokenizer: str | None = None) -> RuleSet:
    """Merge presets, then user rule files: a rule whose name exists replaces it in place, a new one
    is appended. Top-level options (markers, tokenizer) of later files override earlier ones."""
    rules: dict[str, Rule] = {}
    markers: list[str] = []
    marker_lines = 5
    tok = None
    sources: list[str] = []
    paths: list[Path] = []
    for name in presets:
        p = PRESETS_DIR / f"{name}.yaml"
        if not p.exists():
            raise ConfigError(f"unknown filter preset {name!r}; available: {available_presets()}")
        paths.append(p)
    paths.extend(Path(f) for f in rules_files)
    for path in paths:
        data = _load_yaml(path)
        sources.append(str(data.get("name") or path))
        for i, rd in enumerate(data.get("rules") or []):
            r = parse_rule(rd, f"{path}: rules[{i}]")
            rules[r.name] = r
        if "generated_markers" in data:
            gm = data["generated_markers"]
            if not isinstance(gm, list) or not all(isinstance(x, str) and x for x in gm):
                raise ConfigError(f"{path}: generated_markers must be a list of non-empty strings")
            markers = list(dict.fromkeys([*markers, *gm]))
        if "marker_lines" in data:
            ml = data["marker_lines"]
            if not isinstance(ml, int) or ml < 0:
                raise ConfigError(f"{path}: marker_lines must be a non-negative integer")
            marker_lines = ml
        if data.get("tokenizer"):
            tok = str(data["tokenizer"])
    if tokenizer:
        tok = tokenizer
    rs = RuleSet(name="+".join(sources) or "empty", rules=tuple(rules.values()),
                 generated_markers=tuple(markers), marker_lines=marker_lines, tokenizer=tok,
                 sources=tuple(sources))
    if "generated_marker" in rs.needed_stats() and not rs.generated_markers:
        raise ConfigError("a rule uses generated_marker but no generated_markers are configured")
    if "fertility" in rs.needed_stats() and not rs.tokenizer:
        raise ConfigError("the fertility rule needs a tokenizer (--tokenizer tokenizer.json, or 'tokenizer:' "
                          "in a rules file); disable it with 'enabled: false' otherwise")
    return rs


def with_enabled(rs: RuleSet, names: Sequence[str], enabled: bool) -> RuleSet:
    """A copy of ``rs`` with the named rules switched on or off (for --disable RULE)."""
    known = {r.name for r in rs.rules}
    missing = [n for n in names if n not in known]
    if missing:
        raise ConfigError(f"unknown rule(s) {missing}; rules are {sorted(known)}")
    return replace(rs, rules=tuple(replace(r, enabled=enabled) if r.name in names else r for r in rs.rules))
