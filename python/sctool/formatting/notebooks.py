"""Jupyter notebooks as StarCoder saw them (the StarCoder paper).

Two forms, two StarCoderData subsets:

* **script** (``jupyter-scripts``): the notebook written by jupytext as a script in its kernel's
  language (``language_info.file_extension``), markdown turned into comments. When the metadata
  names no usable extension but the kernel mentions Python, ``.py`` is used; StarCoder then ran a
  language classifier (guesslang) on the code, which sctool does not ship, so such notebooks are
  counted and skipped (reason ``notebook_unknown_language``).
* **structured** (``jupyter-structured``): only notebooks whose metadata mentions "py"; consecutive
  cells of one type are grouped, a leading code group and a trailing markdown group dropped, and the
  (markdown, code, output) triplets laid out as
  ``<jupyter_start><jupyter_text>{md}<jupyter_code>{code}<jupyter_output>{out}…`` with outputs cut
  at 1000 characters + ``[...]`` and an empty output written ``<empty_output>``.

A notebook that does not parse raises :class:`NotebookError`, which the format stage counts.
"""

from __future__ import annotations

import json
import re
import warnings
from typing import Any

JUPYTER_START = "<jupyter_start>"
JUPYTER_TEXT = "<jupyter_text>"
JUPYTER_CODE = "<jupyter_code>"
JUPYTER_OUTPUT = "<jupyter_output>"
EMPTY_OUTPUT = "<empty_output>"
NO_OUTPUT = "_____no_output_____"
_HTML_TAG = re.compile(r"<[^>]*>")


class NotebookError(ValueError):
    """The text is not a notebook this formatter can use; ``reason`` is the counter name."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _load(text: str) -> dict[str, Any]:
    try:
        nb = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise NotebookError("malformed_notebook", f"not JSON: {exc}") from exc
    if not isinstance(nb, dict) or not isinstance(nb.get("cells", []), list):
        raise NotebookError("malformed_notebook", "not a notebook object with a cells list")
    if "cells" not in nb and "worksheets" not in nb:
        raise NotebookError("malformed_notebook", "no cells")
    return nb


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    if isinstance(src, list):
        return "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def notebook_to_script(text: str) -> tuple[str, str]:
    """(script text, extension with dot) via jupytext."""
    import jupytext
    import nbformat

    nb_json = _load(text)
    try:
        with warnings.catch_warnings():
            # Old notebooks lack cell ids; nbformat warns about each, but they convert fine.
            warnings.simplefilter("ignore")
            nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises many types (NotJSONError, ValidationError, KeyError…)
        raise NotebookError("malformed_notebook", f"nbformat cannot read it: {exc}") from exc
    meta = nb_json.get("metadata") if isinstance(nb_json.get("metadata"), dict) else {}
    info = meta.get("language_info") if isinstance(meta.get("language_info"), dict) else {}
    ext = info.get("file_extension") if isinstance(info.get("file_extension"), str) else ""
    candidates = [ext] if ext else []
    kernelspec = meta.get("kernelspec")
    if "py" in json.dumps(kernelspec or {}).lower():
        candidates.append(".py")
    for cand in candidates:
        fmt = cand.lstrip(".")
        if not fmt:
            continue
        try:
            return jupytext.writes(nb, fmt=fmt), "." + fmt
        except Exception:  # jupytext rejects extensions it has no comment syntax for
            continue
    raise NotebookError("notebook_unknown_language", f"no script language for extension {ext!r}")


def _cell_output(cell: dict[str, Any]) -> str:
    outputs = cell.get("outputs")
    if isinstance(outputs, list) and outputs and isinstance(outputs[0], dict):
        t = outputs[0].get("text")
        if isinstance(t, list):
            t = "".join(x for x in t if isinstance(x, str))
        if isinstance(t, str):
            return t
    return NO_OUTPUT


def _clean_markdown(md: str) -> str:
    md = _HTML_TAG.sub("", md)
    md = md.replace("#", "")
    return " ".join(md.split("\n")).strip()


def notebook_to_structured(text: str, max_output_chars: int = 1000) -> str:
    """The ``<jupyter_start>`` form of a notebook (see the module docstring)."""
    nb = _load(text)
    meta = nb.get("metadata", {})
    if "py" not in json.dumps(meta).lower():
        raise NotebookError("notebook_not_python", "metadata does not mention python")
    cells = [c for c in nb.get("cells", []) if isinstance(c, dict)]
    groups: list[tuple[str, list[str], str]] = []  # (type, sources, output of the group's last cell)
    for c in cells:
        kind = c.get("cell_type")
        if kind not in ("markdown", "code"):
            continue
        src = _source(c)
        out = _cell_output(c) if kind == "code" else ""
        if groups and groups[-1][0] == kind:
            groups[-1][1].append(src)
            groups[-1] = (kind, groups[-1][1], out)
        else:
            groups.append((kind, [src], out))
    if groups and groups[0][0] == "code":
        groups = groups[1:]
    if groups and groups[-1][0] == "markdown":
        groups = groups[:-1]
    if not groups or len(groups) % 2:
        raise NotebookError("notebook_no_pairs", "no (markdown, code) pairs")
    parts = [JUPYTER_START]
    for k in range(0, len(groups), 2):
        md = _clean_markdown("\n".join(groups[k][1]))
        code = "\n".join(groups[k + 1][1])
        out = groups[k + 1][2]
        if out == NO_OUTPUT or not out.strip():
            out_text = EMPTY_OUTPUT
        elif len(out) > max_output_chars:
            out_text = out[:max_output_chars] + "[...]"
        else:
            out_text = out
        parts.append(f"{JUPYTER_TEXT}{md}{JUPYTER_CODE}{code}{JUPYTER_OUTPUT}{out_text}")
    return "".join(parts)
