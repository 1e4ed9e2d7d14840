"""Parse guard: a redaction must never change whether a document parses.

The detector's spans end at a value's own delimiters, so a replacement should never break code. This
module checks it wherever a parser is at hand (Python ``ast``, JSON, TOML via ``tomllib``, YAML via
``yaml.safe_load_all``): when a document parsed before redaction and does not after, its replacements
are re-applied one by one, a breaking span is first narrowed (quotes, brackets, commas and
backslashes trimmed from its ends) and otherwise left unreplaced. Unreplaced findings stay in the
span column (marked ``redacted = false``) so nothing is hidden; the counts go to the manifest.

Only changed documents with a known format are parsed, so the cost is a small fraction of the run.
"""

from __future__ import annotations

import ast
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

import tomllib
import yaml

from sctool import native

Parser = Callable[[str], object]

# What the tags replace each type with; IPs get a synthetic address from the native code.
TAGS = {"EMAIL": "<EMAIL>", "KEY": "<KEY>", "PASSWORD": "<PASSWORD>", "NAME": "<NAME>", "USERNAME": "<USERNAME>"}

# Characters a value never ends or starts with in well-formed spans: if a span carries one, the
# narrowed span is tried before giving the finding up.
_EDGE = "\"'`()[]{}<>,;\\"


def _parse_python(text: str) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(text)


def _parse_yaml(text: str) -> object:
    # Every document of a multi-document stream, fully consumed.
    return list(yaml.safe_load_all(text))


PARSERS: dict[str, Parser] = {
    "python": _parse_python,
    "json": json.loads,
    "toml": tomllib.loads,
    "yaml": _parse_yaml,
}

_EXT = {"py": "python", "pyi": "python", "pyw": "python", "json": "json", "ipynb": "json", "geojson": "json",
        "toml": "toml", "yml": "yaml", "yaml": "yaml"}
_LANG = {"python": "python", "json": "json", "yaml": "yaml", "toml": "toml"}


def format_of(path: str | None = None, lang: str | None = None) -> str | None:
    """The parser name for a document, from its file extension first, then its language label."""
    if path:
        suffix = PurePath(path).suffix.lower().lstrip(".")
        if suffix in _EXT:
            return _EXT[suffix]
        if PurePath(path).name in ("Pipfile", "Cargo.lock", "poetry.lock"):
            return "toml"
    if lang:
        return _LANG.get(lang.strip().lower())
    return None


def parses(fmt: str, text: str) -> bool:
    """True when ``text`` parses as ``fmt``. Any parser error (including recursion limits) is False."""
    try:
        PARSERS[fmt](text)
    except (RecursionError, MemoryError):
        return False
    except Exception:
        return False
    return True


def replacement(kind: str, value: str, seed: int) -> str:
    """The text redaction puts in place of ``value`` (identical to the native redactor)."""
    if kind == "IP_ADDRESS":
        return native.pii_synthetic_ip(value, seed)
    return TAGS[kind]


def apply_spans(text: str, spans: Sequence[tuple[int, int, str]], seed: int) -> str:
    """Replace ``(start, end, type)`` spans (code points, sorted, non-overlapping) in ``text``."""
    out: list[str] = []
    last = 0
    for s, e, t in spans:
        if s < last or e < s:
            continue
        out.append(text[last:s])
        out.append(replacement(t, text[s:e], seed))
        last = e
    out.append(text[last:])
    return "".join(out)


def _narrowed(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s] in _EDGE:
        s += 1
    while e > s and text[e - 1] in _EDGE:
        e -= 1
    return s, e


@dataclass
class GuardResult:
    """Outcome for one document: the text to write and which spans were replaced (by input index)."""

    text: str
    replaced: list[bool]
    narrowed: list[tuple[int, int, int]] = field(default_factory=list)  # (index, new start, new end)
    kept: int = 0


def guard_document(original: str, redacted: str, spans: Sequence[tuple[int, int, str]], seed: int,
                   fmt: str) -> GuardResult | None:
    """None when the redacted text is safe as it is; else a result that keeps the document parsing.

    ``spans`` are the replaced spans of the document. Each is re-applied in order on top of the ones
    already accepted; one that breaks the parse is narrowed or dropped.
    """
    if parses(fmt, redacted) or not parses(fmt, original):
        return None
    accepted: list[tuple[int, int, str]] = []
    replaced = [False] * len(spans)
    narrowed: list[tuple[int, int, int]] = []
    for i, (s, e, t) in enumerate(spans):
        trial = [*accepted, (s, e, t)]
        if parses(fmt, apply_spans(original, trial, seed)):
            accepted.append((s, e, t))
            replaced[i] = True
            continue
        ns, ne = _narrowed(original, s, e)
        if (ns, ne) != (s, e) and ne > ns:
            trial = [*accepted, (ns, ne, t)]
            if parses(fmt, apply_spans(original, trial, seed)):
                accepted.append((ns, ne, t))
                replaced[i] = True
                narrowed.append((i, ns, ne))
    text = apply_spans(original, accepted, seed)
    return GuardResult(text=text, replaced=replaced, narrowed=narrowed, kept=replaced.count(False))


__all__ = ["PARSERS", "GuardResult", "apply_spans", "format_of", "guard_document", "parses", "replacement"]
