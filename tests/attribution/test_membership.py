"""The membership index against the brute-force reference, and its handling of bad input."""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sctool.attribution import (
    IndexConfig,
    IndexCorruptError,
    IndexMismatchError,
    MembershipIndex,
    build_index,
)
from sctool.attribution.reference import ReferenceIndex, normalise
from sctool.errors import DatasetError, OutputExistsError
from tests.conftest import run_cli


def _reshape_whitespace(text: str, rng: random.Random) -> str:
    """Change every run of white space (and add some) without touching anything else."""
    out = re.sub(r"\s+", lambda m: rng.choice(["", " ", "\n\t", "  \u3000"]), text)
    return out.replace("(", rng.choice(["(", "( ", "(\n"]))


def _snippets(docs, n, length, seed):
    rng = random.Random(seed)
    picked = []
    while len(picked) < n:
        name, text = rng.choice(docs)
        norm, orig = normalise(text)
        if len(norm) < length + 10:
            continue
        a = rng.randrange(len(norm) - length)
        picked.append((name, text[orig[a]: orig[a + length - 1] + 1]))
    return picked


def test_copied_snippets_are_found_with_their_true_source(index, corpus):
    _, docs = corpus
    idx = MembershipIndex(index, window=50)
    rng = random.Random(1)
    cases = _snippets(docs, 60, 100, seed=2)  # >= 100 non-space characters
    queries = ["/* generated */ " + _reshape_whitespace(s, rng) + " // end" for _, s in cases]
    for exact in (False, True):
        res = idx.attribute(queries, exact=exact, top=50)
        for (name, _), a in zip(cases, res):
            assert a.longest_chain >= 50
            assert name in {s.path for s in a.sources}, (name, [s.path for s in a.sources])
            assert all(s.license == "PSF-2.0" and s.repo == f"python/{s.path.split('/')[0]}" for s in a.sources)


def test_exact_results_equal_the_brute_force_reference(index, corpus):
    _, docs = corpus
    idx = MembershipIndex(index)
    ref = ReferenceIndex.build([t for _, t in docs])
    rng = random.Random(3)
    queries = [s for _, s in _snippets(docs, 40, 400, seed=4)]
    # Splice two documents and novel text, so queries mix hits, misses and several sources.
    queries += [a + "\n# novel 0123456789 text that is nowhere\n" + b for a, b in zip(queries[:10], queries[10:20])]
    queries += ["", "short", "x" * 49]
    res = idx.attribute(queries, exact=True, top=1000)
    names = [n for n, _ in docs]
    for q, a in zip(queries, res):
        r = ref.attribute(q)
        assert a.chars == r["chars"]
        assert a.covered_chars == r["covered_chars"]
        assert a.longest_chain == r["longest_chain"]
        assert a.chain_span == r["chain_span"]
        assert a.spans == r["spans"]
        got = {names[s.doc]: s.windows for s in a.sources}
        # Windows shared by more than MAX_DOCS_PER_WINDOW documents are counted for the first ones only.
        assert got == {names[d]: c for d, c in r["sources"].items()} or len(r["sources"]) > 50
    del rng


@given(st.lists(st.text(alphabet="ab \n\u00e9\u3000x", min_size=0, max_size=120), min_size=1, max_size=6),
       st.text(alphabet="ab \n\u00e9\u3000xy", max_size=200))
def test_kernel_matches_reference_on_arbitrary_text(tmp_path_factory, docs, query):
    d = tmp_path_factory.mktemp("h")
    import polars as pl

    pl.DataFrame({"content": docs}).write_parquet(d / "c.parquet")
    build_index([d / "c.parquet"], d / "idx", IndexConfig(window=8, fpr=1e-4))
    (a,) = MembershipIndex(d / "idx").attribute([query], exact=True, top=100)
    r = ReferenceIndex.build(docs, window=8).attribute(query)
    assert (a.chars, a.covered_chars, a.longest_chain, a.chain_span, a.spans) == (
        r["chars"], r["covered_chars"], r["longest_chain"], r["chain_span"], r["spans"])
    assert {s.doc: s.windows for s in a.sources} == dict(r["sources"])
    # Without the re-check the Bloom filter and table may only add hits, never lose one.
    (b,) = MembershipIndex(d / "idx").attribute([query], exact=False, top=100)
    assert b.covered_chars >= a.covered_chars


def test_measured_false_positive_rate_is_near_the_configured_one(index):
    idx = MembershipIndex(index)
    rng = np.random.default_rng(0)
    probes = rng.integers(0, 2**64, size=400_000, dtype=np.uint64)
    present = set(idx.table_fps.tolist())
    probes = probes[~np.isin(probes, np.fromiter(present, dtype=np.uint64))]
    rate = idx.bloom_contains(probes).mean()
    target = idx.header["bloom"]["target_fpr"]
    assert rate <= 1.5 * target, rate
    assert idx.bloom_contains(idx.table_fps).all()  # no false negatives


def test_novel_text_has_no_sources(index):
    (a,) = MembershipIndex(index).attribute(
        ["def frobnicate_the_quux(zzyzx): return zzyzx ** 42 + 'unlikely string constant!' * 3"], exact=True)
    assert a.sources == [] and a.covered_fraction == 0.0


def test_window_mismatch_is_a_clear_error(index):
    with pytest.raises(IndexMismatchError, match=r"50-character windows.*expects 64"):
        MembershipIndex(index, window=64)
    proc = run_cli("attribute", index, "x", "--window", "64")
    assert proc.returncode == 2 and "expects 64-character windows" in proc.stderr


def _copy(index: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(index, dst)
    return dst


def test_damaged_and_truncated_files_are_named(index, tmp_path):
    idx = _copy(index, tmp_path)
    path = idx / "membership.bin"
    header = MembershipIndex(idx).header
    data = bytearray(path.read_bytes())
    off = header["sections"]["table_fps"]["offset"] + 5
    data[off] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match=r"membership\.bin: section 'table_fps' checksum mismatch"):
        MembershipIndex(idx)
    path.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(IndexCorruptError, match="truncated"):
        MembershipIndex(idx)
    data[30] ^= 0x01  # inside the JSON header
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="header checksum"):
        MembershipIndex(idx)
    path.write_bytes(b"PK\x03\x04" + bytes(data[4:]))
    with pytest.raises(IndexCorruptError, match="bad magic"):
        MembershipIndex(idx)
    path.write_bytes(b"")
    proc = run_cli("attribute", idx, "some text")
    assert proc.returncode == 2 and "membership.bin: truncated" in proc.stderr


def test_build_refuses_existing_output_and_is_atomic(corpus, index, tmp_path):
    d, _ = corpus
    out = _copy(index, tmp_path)
    before = (out / "membership.bin").read_bytes()
    with pytest.raises(OutputExistsError):
        build_index([d / "a.parquet"], out)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DatasetError):
        build_index([d / "a.parquet", bad], out, overwrite=True)
    assert (out / "membership.bin").read_bytes() == before  # the failed rebuild left the old index whole
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    build_index([d / "a.parquet"], out, overwrite=True)
    assert MembershipIndex(out).header["documents"] < MembershipIndex(index).header["documents"]
    proc = run_cli("index", "build", d / "a.parquet", "-o", out)
    assert proc.returncode == 2 and "--overwrite" in proc.stderr


def test_build_is_deterministic_across_threads_and_batches(corpus, tmp_path):
    d, _ = corpus
    build_index([d / "a.parquet"], tmp_path / "x", threads=1, batch_rows=3)
    build_index([d / "a.parquet"], tmp_path / "y", threads=2, batch_rows=1000)
    assert (tmp_path / "x/membership.bin").read_bytes() == (tmp_path / "y/membership.bin").read_bytes()


def test_exact_refuses_a_changed_dataset(corpus, tmp_path):
    d, docs = corpus
    src = tmp_path / "c.jsonl"
    shutil.copy(d / "b.jsonl", src)
    build_index([src], tmp_path / "idx")
    with open(src, "a") as fh:
        fh.write(json.dumps({"content": "appended later"}) + "\n")
    text = docs[-1][1][:400]
    with pytest.raises(DatasetError, match="changed since the index was built"):
        MembershipIndex(tmp_path / "idx").attribute([text], exact=True)
    assert MembershipIndex(tmp_path / "idx").attribute([text])[0].sources  # without --exact it still answers


def test_cli_attribute_snippet_file_and_samples(index, corpus, tmp_path):
    _, docs = corpus
    name, text = docs[3]
    snippet = text[:600]
    proc = run_cli("attribute", index, snippet, "--exact", "--json", check=True)
    res = json.loads(proc.stdout)
    assert res["sources"][0]["path"] == name and res["exact"] is True
    f = tmp_path / "s.py"
    f.write_text(snippet)
    proc = run_cli("attribute", index, "-f", f, check=True)
    assert name in proc.stdout and "covered" in proc.stdout and "[[" in proc.stdout
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"task_id": "t0", "completion": snippet}) + "\n"
                       + json.dumps({"task_id": "t1", "completion": "print('hello, novel world')"}) + "\n")
    out = tmp_path / "out.jsonl"
    proc = run_cli("attribute", index, "--jsonl", samples, "-o", out, check=True)
    assert "2 samples" in proc.stdout and "1 with a chain" in proc.stdout
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert rows[0]["attribution"]["sources"][0]["path"] == name
    assert rows[1]["attribution"]["covered_fraction"] == 0.0 and rows[1]["task_id"] == "t1"
    proc = run_cli("attribute", index)
    assert proc.returncode != 0 and "exactly one of" in proc.stderr


def test_text_shared_by_many_documents_says_how_many_are_unlisted(tmp_path):
    import polars as pl

    header = "# Licensed under the Apache License, Version 2.0 (the 'License'); you may not use this file\n" * 3
    docs = [header + f"x_{i} = {i} * 1234567 + 89 # a document body that is unique to file {i}\n" * 4
            for i in range(70)]
    pl.DataFrame({"content": docs}).write_parquet(tmp_path / "c.parquet")
    build_index([tmp_path / "c.parquet"], tmp_path / "idx")
    (a,) = MembershipIndex(tmp_path / "idx").attribute([header], top=5)
    # 64 documents per window are considered (common_windows says more exist); 5 are listed.
    assert len(a.sources) == 5 and a.more_sources == 59 and a.common_windows > 0
    (b,) = MembershipIndex(tmp_path / "idx").attribute([docs[7][len(header):]], top=5)
    assert [s.doc for s in b.sources] == [7] and b.more_sources == 0 and b.common_windows == 0


def test_fused_attribution_equals_the_brute_force_reference(index, corpus):
    """The one-pass native path (no re-check) agrees with plain Python sets on real code: the
    table drops Bloom false positives, so only a 64-bit fingerprint collision could differ."""
    _, docs = corpus
    idx = MembershipIndex(index)
    ref = ReferenceIndex.build([t for _, t in docs])
    queries = [s for _, s in _snippets(docs, 40, 300, seed=7)]
    queries += [a + "\n# novel 0123456789 text that is nowhere\n" + b for a, b in zip(queries[:10], queries[10:20])]
    queries += ["", "short", "é" * 80, "x" * 49]
    names = [n for n, _ in docs]
    for top in (1000, 3):
        for q, a in zip(queries, idx.attribute(queries, top=top)):
            r = ref.attribute(q)
            assert (a.chars, a.covered_chars, a.longest_chain, a.chain_span, a.spans) == (
                r["chars"], r["covered_chars"], r["longest_chain"], r["chain_span"], r["spans"])
            want = sorted(r["sources"].items(), key=lambda kv: (-kv[1], kv[0]))
            if a.common_windows == 0:
                assert [(s.doc, s.windows) for s in a.sources] == want[:top]
                assert a.more_sources == max(0, len(want) - top)
            assert a.table_hits == len(r["hits"]) and a.bloom_hits >= a.table_hits
            assert all(s.path == names[s.doc] and s.license == "PSF-2.0" and not s.verified for s in a.sources)


def test_exact_reads_only_the_documents_it_reports(tmp_path):
    """With a small ``top`` the re-check reads the reported candidates (plus one document per
    otherwise unconfirmed window), not every document sharing a window, and gives the same
    answer as reading them all; a second query of the same documents reads nothing."""
    import polars as pl

    header = "# Copyright the authors. Licensed under the terms of the licence in the LICENSE file.\n" * 3
    docs = [header + f"value_{i} = compute({i}) * {i * 7919} + offset # the body of document {i}\n" * 3
            for i in range(30)]
    pl.DataFrame({"content": docs}).write_parquet(tmp_path / "c.parquet")
    build_index([tmp_path / "c.parquet"], tmp_path / "idx")
    queries = [*docs[:10], header]
    full = MembershipIndex(tmp_path / "idx").attribute(queries, exact=True, top=1000)
    idx = MembershipIndex(tmp_path / "idx")
    small = idx.attribute(queries, exact=True, top=2)
    for a, b in zip(small, full):
        assert [(s.doc, s.windows) for s in a.sources] == [(s.doc, s.windows) for s in b.sources[:2]]
        assert a.more_sources == len(b.sources) - 2 == 28
        assert (a.covered_chars, a.longest_chain, a.spans) == (b.covered_chars, b.longest_chain, b.spans)
        assert all(s.verified for s in a.sources)
    read = idx._store.rows_read
    # Each document query reads its own document and the lowest other one; the header query two.
    assert read <= 12, read
    idx.attribute(queries, exact=True, top=2)
    assert idx._store.rows_read == read  # cached


def test_exact_reads_rows_back_from_parquet_and_jsonl(tmp_path):
    """Row numbers survive skipped JSONL lines (blank, malformed) and several Parquet row groups."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = [f"def function_number_{i}(argument):\n    return argument * {i} + {i * 7919} # body {i}\n" * 3
             for i in range(40)]
    pq.write_table(pa.table({"content": texts[:20]}), tmp_path / "a.parquet", row_group_size=6)
    lines = []
    for i, t in enumerate(texts[20:]):
        lines.append(json.dumps({"content": t}))
        if i % 5 == 0:
            lines += ["", "{not json", "[1, 2]"]
    (tmp_path / "b.jsonl").write_text("\n".join(lines) + "\n")
    build_index([tmp_path / "a.parquet", tmp_path / "b.jsonl"], tmp_path / "idx")
    idx = MembershipIndex(tmp_path / "idx")
    res = idx.attribute([t[3:] for t in texts], exact=True, top=1)
    assert [a.sources[0].doc for a in res] == list(range(40))
    assert all(a.sources[0].verified and a.longest_chain >= 100 for a in res)


def test_a_smaller_build_stride_finds_shorter_copies(corpus, tmp_path):
    """The guarantee is window + stride - 1 non-space characters: 59 with stride 10, 99 with stride 50."""
    d, docs = corpus
    proc = run_cli("index", "build", d / "a.parquet", d / "b.jsonl", "-o", tmp_path / "s10", "--stride", "10")
    assert proc.returncode == 0, proc.stderr
    fine = MembershipIndex(tmp_path / "s10")
    assert fine.header["build_stride"] == 10 and fine.stride == 10
    rng = random.Random(5)
    cases = _snippets(docs, 40, 59, seed=6)
    queries = [_reshape_whitespace(s, rng) for _, s in cases]
    for (name, _), a in zip(cases, fine.attribute(queries, top=50)):
        assert a.longest_chain >= 50 and name in {s.path for s in a.sources}
    proc = run_cli("index", "build", d / "a.parquet", "-o", tmp_path / "bad", "--stride", "51")
    assert proc.returncode == 2 and "stride" in proc.stderr


def test_compact_columns_equal_the_compacted_attributions(index, corpus):
    """`attribute --jsonl` builds its per-sample column straight from the kernel's arrays; it must be
    exactly `compact()` of the full Attribution, sources, spans and all, empty texts included."""
    from sctool.attribution.samples import attribute_texts, compact

    _, docs = corpus
    idx = MembershipIndex(index)
    queries = [s for _, s in _snippets(docs, 30, 200, seed=11)]
    queries += [a + "\n# unrelated 9876543210 text\n" + b for a, b in zip(queries[:5], queries[5:10])]
    queries += ["", "short", "é" * 80]
    for top in (0, 1, 3, 50):
        want = [compact(a, top) for a in idx.attribute(queries, top=top)]
        assert idx.attribute_compact(queries, top=top) == want
        assert attribute_texts(idx, queries, top=top, batch=7) == want
        assert json.dumps(idx.attribute_compact(queries, top=top)) == json.dumps(want)
    assert any(c["sources"] for c in want) and any(c["spans"] for c in want)
    assert idx.attribute_compact([], top=3) == []
    with pytest.raises(Exception, match="top"):
        idx.attribute_compact(["x"], top=-1)
