"""File extension -> language, from the StarCoder language table shipped as package data.

Some extensions belong to several languages in The Stack's table (``.ml``: ocaml and standard-ml,
``.cls``: tex and visual-basic, ``.cs``: c-sharp and smalltalk); the first language in the file's
order that is not a rarer alias wins, with explicit preferences for the common cases below.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import PurePath

import yaml

from sctool.paths import PACKAGE_DATA

# Where one extension is listed for several languages, the language most files with it are written in.
PREFERRED = {"cs": "c-sharp", "ml": "ocaml", "cls": "tex", "m": "mathematica", "pp": "pascal",
             "inc": "assembly", "d": "makefile", "t": "perl", "v": "verilog", "sc": "scala"}


@lru_cache(maxsize=1)
def language_table() -> dict[str, dict[str, list[str]]]:
    with open(PACKAGE_DATA / "languages.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@lru_cache(maxsize=1)
def _maps() -> tuple[dict[str, str], dict[str, str]]:
    by_ext: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for lang, spec in language_table().items():
        for ext in spec.get("extensions", []):
            by_ext.setdefault(ext.lower(), lang)
        for name in spec.get("filenames", []):
            by_name.setdefault(name, lang)
    by_ext.update(PREFERRED)
    return by_ext, by_name


def languages() -> list[str]:
    return list(language_table())


def extension_of(path: str) -> str:
    """Lower-case extension without the dot; compound ones (``cmake.in``) when listed."""
    name = PurePath(path).name.lower()
    by_ext, _ = _maps()
    parts = name.split(".")
    if len(parts) >= 3 and ".".join(parts[-2:]) in by_ext:
        return ".".join(parts[-2:])
    return parts[-1] if len(parts) > 1 else ""


def detect_language(path: str) -> str | None:
    """The StarCoder language of a file path, or None when the extension is not in the table."""
    by_ext, by_name = _maps()
    name = PurePath(path).name
    if name in by_name:
        return by_name[name]
    ext = extension_of(path)
    return by_ext.get(ext) if ext else None
