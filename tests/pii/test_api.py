"""Python API: offsets, determinism, redaction against a pure-Python reference, input kinds, errors."""

from __future__ import annotations

import ipaddress
import random

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sctool
from sctool.errors import ConfigError, InvalidInputError
from sctool.pii import (
    DEFAULT_REDACT_TYPES,
    PII_TYPES,
    PiiSpan,
    detect_pii,
    detect_pii_table,
    mask_secret,
    redact,
    redact_texts,
    synthetic_ip,
)

from .synth import email_of, global_ipv4, handle, password, person

PLACEHOLDER = {"EMAIL": "<EMAIL>", "KEY": "<KEY>", "PASSWORD": "<PASSWORD>", "NAME": "<NAME>", "USERNAME": "<USERNAME>"}


def reference_redact(text: str, spans: list[PiiSpan], types: tuple[str, ...], seed: int) -> str:
    """Brute-force redaction over Python str indices (what the Rust kernel must equal)."""
    out, last = [], 0
    for sp in sorted(spans, key=lambda s: s.start):
        if sp.type not in types:
            continue
        out.append(text[last : sp.start])
        value = text[sp.start : sp.end]
        out.append(synthetic_ip(value, seed) if sp.type == "IP_ADDRESS" else PLACEHOLDER[sp.type])
        last = sp.end
    out.append(text[last:])
    return "".join(out)


def make_doc(rng: random.Random) -> str:
    """A small config-ish document with a random mix of PII and unicode filler."""
    parts = []
    for _ in range(rng.randint(1, 6)):
        kind = rng.randrange(7)
        filler = rng.choice(["", "ünïcode ✓ ", "日本語 ", "emoji 🎉 ", "x = 1\n"])
        if kind == 0:
            parts.append(f"{filler}# Author: {person(rng)} <{email_of(rng)}>\n")
        elif kind == 1:
            parts.append(f"{filler}host = {global_ipv4(rng)}\n")
        elif kind == 2:
            parts.append(f"{filler}password = {password(rng)}\n")
        elif kind == 3:
            parts.append(f"{filler}user = {handle(rng)}\n")
        elif kind == 4:
            parts.append(f"{filler}API_KEY={''.join(rng.choice('0123456789abcdef') for _ in range(40))}x\n")
        elif kind == 5:
            parts.append(f"{filler}local = 10.0.{rng.randint(0, 9)}.1\n")
        else:
            parts.append(f"{filler}nothing to see\n")
    return "".join(parts)


def test_spans_are_python_str_offsets():
    text = "ünïcødé 🎉 mail: kalo.ren@tasvo-belmar.io, from 日本 host 52.14.3.99\n"
    (spans,) = detect_pii([text])
    vals = {(text[s.start : s.end], s.type) for s in spans}
    assert ("kalo.ren@tasvo-belmar.io", "EMAIL") in vals
    assert ("52.14.3.99", "IP_ADDRESS") in vals


def test_input_kinds_agree_and_nulls_give_no_spans():
    rng = random.Random(3)
    docs = [make_doc(rng) for _ in range(20)]
    a = detect_pii(docs)
    b = detect_pii(pl.Series(docs))
    c = detect_pii(pa.array(docs))
    assert a == b == c
    with_null = detect_pii(pl.Series([docs[0], None, docs[1]]))
    assert with_null[1] == [] and with_null[0] == a[0] and with_null[2] == a[1]


def test_results_do_not_depend_on_thread_count():
    rng = random.Random(5)
    docs = [make_doc(rng) for _ in range(300)]
    assert detect_pii(docs, threads=1) == detect_pii(docs, threads=4)
    t1 = detect_pii_table(docs, threads=1)
    s1 = redact_texts(docs, t1, threads=1)
    s4 = redact_texts(docs, detect_pii_table(docs, threads=3), threads=3)
    assert s1.to_list() == s4.to_list()


@settings(deadline=None)
@given(seed=st.integers(0, 2**32 - 1), types=st.sets(st.sampled_from(PII_TYPES)), rseed=st.integers(0, 10**6))
def test_redaction_equals_reference(seed, types, rseed):
    rng = random.Random(rseed)
    docs = [make_doc(rng) for _ in range(4)]
    table = detect_pii_table(docs)
    got = redact_texts(docs, table, types=tuple(types), seed=seed).to_list()
    for doc, spans, out in zip(docs, table.per_doc(), got):
        assert out == reference_redact(doc, spans, tuple(types), seed)


def test_same_value_same_replacement_and_ip_family():
    ip4, ip6 = "52.14.3.99", "2a03:2880:f12f:83::25de"
    doc = f"a {ip4} b {ip4} c {ip6}\n"
    out = redact(pl.DataFrame({"content": [doc, f"again {ip4}"]}), seed=11)["content"].to_list()
    r4, r6 = synthetic_ip(ip4, 11), synthetic_ip(ip6, 11)
    assert out[0] == f"a {r4} b {r4} c {r6}\n"
    assert out[1] == f"again {r4}"
    assert ipaddress.ip_address(r4).version == 4 and ipaddress.ip_address(r4).is_private
    assert ipaddress.ip_address(r6).version == 6 and ipaddress.ip_address(r6).is_private
    assert synthetic_ip(ip4, 12) != r4


def test_redact_dataframe_columns_and_options():
    rng = random.Random(9)
    pw, name, mail, user = password(rng), person(rng), email_of(rng), handle(rng)
    doc = f"# Maintainer: {name} <{mail}>\npassword = {pw}\nuser = {user}\n"
    df = pl.DataFrame({"id": ["a"], "content": [doc]})
    out = redact(df)
    text = out["content"][0]
    assert pw not in text and name not in text and mail not in text
    assert "<PASSWORD>" in text and "<NAME>" in text and "<EMAIL>" in text
    assert user in text  # USERNAME is reported but kept by default
    spans = out["pii"][0]
    assert {s["type"] for s in spans} >= {"NAME", "EMAIL", "PASSWORD", "USERNAME"}
    for s in spans:  # offsets refer to the original text
        assert doc[s["start"] : s["end"]] in (pw, name, mail, user)
    ann = redact(df, annotate_only=True)
    assert ann["content"][0] == doc
    strip = lambda rows: [{k: v for k, v in r.items() if k != "redacted"} for r in rows]  # noqa: E731
    assert strip(ann["pii"][0].to_list()) == strip(spans.to_list())
    assert all(s["redacted"] for s in spans if s["type"] != "USERNAME")
    assert not any(s["redacted"] for s in ann["pii"][0])
    only_user = redact(df, types=["USERNAME"])["content"][0]
    assert "<USERNAME>" in only_user and pw in only_user
    assert set(DEFAULT_REDACT_TYPES) == {"EMAIL", "IP_ADDRESS", "KEY", "PASSWORD", "NAME"}


def test_public_exports():
    assert sctool.detect_pii is detect_pii and sctool.redact is redact


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ConfigError, match="unknown PII type"):
        redact(pl.DataFrame({"content": ["x"]}), types=["PHONE"])
    with pytest.raises(InvalidInputError):
        detect_pii("just one string")
    with pytest.raises(InvalidInputError):
        detect_pii(pl.Series([1, 2, 3]))
    with pytest.raises(ConfigError, match="no text column"):
        redact(pl.DataFrame({"text": ["x"]}))


def test_mask_secret_never_shows_the_value():
    s = "sk_live_" + "Q" * 24
    m = mask_secret(s)
    assert s not in m and "Q" * 4 not in m and str(len(s)) in m


@settings(deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=300) | st.sampled_from([
    "password = ", "@", "://u:p@h", "-----BEGIN PRIVATE KEY-----", "ghp_", "::", "1.2.3.", "Author: ", "é",
    "AKIA", "eyJ", "TODO(", "user = ", "\n", "'", '"', "Signed-off-by: A B <a@b.io>"]), max_size=12).map("".join))
def test_arbitrary_text_gives_valid_spans(text):
    (spans,) = detect_pii([text])
    last = 0
    for s in spans:
        assert 0 <= s.start < s.end <= len(text)
        assert s.start >= last, "spans must be sorted and non-overlapping"
        last = s.end
        assert s.type in PII_TYPES
    out = redact(pl.DataFrame({"content": [text]}), types=PII_TYPES)["content"][0]
    assert out == reference_redact(text, spans, PII_TYPES, 0)
