"""Do no harm: redaction never changes whether a document parses.

Three layers: the detector's own spans keep generated Python/JSON/TOML/YAML documents parsing (no
guard involved); the parse guard repairs a document when a span would break it (narrowing the span
or leaving the finding unreplaced, counted); and on real files of this machine (site-packages, the
Rust registry cache) no file that parsed before redaction fails to parse after it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import string
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sctool.pii import (
    DEFAULT_REDACT_TYPES,
    apply_redaction,
    detect_pii_table,
    redact,
    redact_texts,
    spans_for_frame,
)
from sctool.pii.guard import apply_spans, format_of, guard_document, parses

from .synth import password

SECRET_NAMES = ["password", "passwd", "api_key", "apiKey", "secret", "token", "AUTH_TOKEN", "db.password",
                "client_secret", "pwd", "access-key", "x86_cpu_PAT", "user"]
# Value alphabet includes every delimiter a careless span could swallow.
VALUE_CHARS = string.ascii_letters + string.digits + "!$%&*+-./:;<=>?@^_|~,()[]{}#'\"\\` "


values = st.text(alphabet=VALUE_CHARS, min_size=1, max_size=40)
names = st.sampled_from(SECRET_NAMES)


def py_doc(pairs: list[tuple[str, str]]) -> str:
    lines = ["import os", "CONFIG = {"]
    lines += [f"    {k!r}: {v!r}," for k, v in pairs]
    lines += ["}"]
    for i, (k, v) in enumerate(pairs):
        ident = "".join(c if c.isalnum() or c == "_" else "_" for c in k)
        lines.append(f"{ident}_{i} = {v!r}")
        lines.append(f"connect({ident}={v!r}, other=[{v!r}, 1])")
    lines.append(f"ENUM_{len(pairs)} = x86_cpu_index_1_edx + 13")
    return "\n".join(lines) + "\n"


def json_doc(pairs: list[tuple[str, str]]) -> str:
    return json.dumps({"settings": dict(pairs), "list": [v for _, v in pairs]}, indent=2)


def toml_doc(pairs: list[tuple[str, str]]) -> str:
    def q(v: str) -> str:
        return json.dumps(v)  # a TOML basic string is a JSON string for these characters

    body = "\n".join(f"{q(k if i == 0 else f'{k}_{i}')} = {q(v)}" for i, (k, v) in enumerate(pairs))
    return f"[server]\n{body}\n"


def yaml_doc(pairs: list[tuple[str, str]]) -> str:
    keys = [k if i == 0 else f"{k}_{i}" for i, (k, _) in enumerate(pairs)]
    return "env:\n" + "".join(f"  {json.dumps(k)}: {json.dumps(v)}\n" for k, (_, v) in zip(keys, pairs))


BUILDERS = {"python": py_doc, "json": json_doc, "toml": toml_doc, "yaml": yaml_doc}


def raw_redaction_keeps_parsing(doc: str, fmt: str) -> None:
    assert parses(fmt, doc), doc
    table = detect_pii_table([doc], threads=1)
    out = redact_texts([doc], table, types=DEFAULT_REDACT_TYPES).to_list()[0]
    assert parses(fmt, out), f"{fmt}: redaction broke the document ({len(table)} spans)"


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(names, values), min_size=1, max_size=6), st.sampled_from(sorted(BUILDERS)))
def test_detector_spans_keep_documents_parsing(pairs, fmt):
    raw_redaction_keeps_parsing(BUILDERS[fmt](pairs), fmt)


@settings(deadline=None, max_examples=60)
@given(st.lists(st.tuples(names, st.integers(0, 10**6)), min_size=1, max_size=5), st.sampled_from(sorted(BUILDERS)))
def test_realistic_secrets_are_found_and_documents_still_parse(pairs, fmt):
    rng = random.Random(sum(n for _, n in pairs))
    vals = [(k, password(rng)) for k, _ in pairs]
    doc = BUILDERS[fmt](vals)
    raw_redaction_keeps_parsing(doc, fmt)


def test_guard_narrows_or_keeps_a_breaking_span():
    doc = 'x = "Welc0me$154"\ny = [1, 2]\n'
    s = doc.index('"Welc0me')
    # A span that swallows both quotes: narrowing to the value keeps the file parsing.
    spans = [(s, s + len('"Welc0me$154"'), "PASSWORD")]
    bad = apply_spans(doc, spans, 0)
    res = guard_document(doc, bad, spans, 0, "python")
    assert res is not None and res.replaced == [True] and res.narrowed == [(0, s + 1, s + 12)]
    assert res.text == 'x = "<PASSWORD>"\ny = [1, 2]\n'
    # A span over a bracket alone cannot be narrowed to anything: it stays, unreplaced.
    b = doc.index("[")
    spans = [(b, b + 1, "KEY")]
    res = guard_document(doc, apply_spans(doc, spans, 0), spans, 0, "python")
    assert res is not None and res.replaced == [False] and res.kept == 1 and res.text == doc
    # A safe redaction needs no repair; an unparseable original is left to the caller.
    assert guard_document(doc, doc, [], 0, "python") is None
    assert guard_document("def (:", "def (<KEY>:", [(4, 5, "KEY")], 0, "python") is None


def test_formats_by_extension_and_language():
    assert format_of("a/b.py") == "python" and format_of("x.JSON") == "json" and format_of("Cargo.lock") == "toml"
    assert format_of(None, "yaml") == "yaml" and format_of("a.c", "c") is None and format_of(None, None) is None


def test_stage_level_guard_counts_and_marks_unreplaced(tmp_path):
    # A crafted NER-style span over a closing bracket would break the file; rules never produce one,
    # so feed the guard through apply_redaction with a hand-made span table.
    doc = 'password = "Welc0me$154"\nitems = [1, 2]\n'
    df = pl.DataFrame({"content": [doc, doc], "path": ["a.py", "b.txt"]})
    table = spans_for_frame(df, text_column="content")
    assert len(table) == 2
    b = doc.index("]")
    table.start = np.array([doc.index("Welc0me"), b, doc.index("Welc0me")], dtype=np.int64)
    table.end = np.array([doc.index("Welc0me") + 11, b + 1, doc.index("Welc0me") + 11], dtype=np.int64)
    table.doc = np.array([0, 0, 1], dtype=np.int64)
    table.type = np.array([3, 2, 3], dtype=np.uint8)
    table.rule = np.array([0, 0, 0], dtype=np.int64)
    stats: dict[str, int] = {}
    out = apply_redaction(df, table, text_column="content", types=DEFAULT_REDACT_TYPES, seed=0,
                          annotate_only=False, pii_column="pii", threads=1, guard_stats=stats)
    texts = out["content"].to_list()
    assert texts[0] == 'password = "<PASSWORD>"\nitems = [1, 2]\n'
    assert texts[1] == 'password = "<PASSWORD>"\nitems = [1, 2]\n'  # no parser for .txt: not checked
    assert [s["redacted"] for s in out["pii"][0]] == [True, False]
    assert stats == {"checked": 1, "repaired": 1, "narrowed": 0, "unreplaced": 1}


def test_redact_stage_reports_parse_guard(tmp_path):
    from sctool.stages.base import Runtime
    from sctool.stages.redact import RedactConfig, run_redact

    rows = [{"id": "a", "path": "cfg.py", "content": 'PASSWORD = "Welc0me$154"\n'},
            {"id": "b", "path": "x.json", "content": '{"password": "Welc0me$154"}'}]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    run_redact([src], tmp_path / "out", RedactConfig(), Runtime(quiet=True))
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["counters"]["parse_guard"] == {"checked": 2, "repaired": 0, "narrowed": 0, "unreplaced": 0}
    df = pl.read_parquet(sorted((tmp_path / "out").glob("part-*.parquet")))
    assert all("<PASSWORD>" in t for t in df["content"])


# ---- real files of this machine ----

def _real_files(limit_bytes: int) -> list[Path]:
    """A deterministic sample of parseable-format files from site-packages and the cargo cache."""
    roots = [Path(sys.prefix) / "lib", Path.home() / ".cargo" / "registry" / "src"]
    found: list[Path] = []
    for root in roots:
        if not root.exists():
            continue
        for dp, _, fns in os.walk(root):
            for fn in fns:
                if format_of(fn):
                    found.append(Path(dp) / fn)
    found.sort(key=lambda p: hashlib.blake2b(str(p).encode(), digest_size=8).digest())
    out, total = [], 0
    for p in found:
        try:
            size = p.stat().st_size
        except OSError:
            continue
        if 0 < size < 400_000:
            out.append(p)
            total += size
            if total > limit_bytes:
                break
    return out


def test_real_files_that_parsed_still_parse():
    files = _real_files(25_000_000)
    if len(files) < 100:
        pytest.skip("too few Python/JSON/TOML/YAML files on this machine")
    texts, paths = [], []
    for p in files:
        try:
            texts.append(p.read_text(encoding="utf-8"))
            paths.append(str(p))
        except (UnicodeDecodeError, OSError):
            continue
    table = detect_pii_table(texts, threads=0)
    red = redact_texts(texts, table, types=DEFAULT_REDACT_TYPES).to_list()
    changed = broken = 0
    for path, before, after in zip(paths, texts, red):
        if before == after:
            continue
        fmt = format_of(path)
        if fmt and parses(fmt, before):
            changed += 1
            broken += not parses(fmt, after)
    assert changed > 0, "no real file was changed: the sample says nothing"
    assert broken == 0, f"{broken} of {changed} changed files no longer parse"
    # The public entry point (with its guard) agrees.
    df = pl.DataFrame({"content": texts[:200], "path": paths[:200]})
    assert redact(df)["content"].len() == len(df)
