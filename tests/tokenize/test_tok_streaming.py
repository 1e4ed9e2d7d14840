"""Streaming tokenization: bounded encoder windows, exact ids, ``--threads`` honoured, resume after a kill."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from sctool.errors import OutputExistsError
from sctool.packing.indexed import IndexedDataset, IndexedDatasetWriter
from sctool.stages.base import Runtime
from sctool.stages.tokenize import TokenizeConfig, run_tokenize
from sctool.tokenizer import SPECIAL_TOKENS
from sctool.tokenizer.encode import EncodeStats, StreamEncoder, encode_documents, iter_chunks
from tests.tokenize.tok_corpus import make_corpus

ROOT = Path(__file__).resolve().parents[2]


class Recorder:
    """Wraps a tokenizer and records what each encoder call was handed and how many ran at once."""

    def __init__(self, tok):
        self.tok = tok
        self.calls: list[tuple[int, int]] = []  # (chunks, characters)
        self.active = 0
        self.max_active = 0
        self.parallelism_env: set[str | None] = set()
        self._lock = threading.Lock()

    def encode_batch_fast(self, chunks, add_special_tokens=False):
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.calls.append((len(chunks), sum(map(len, chunks))))
            self.parallelism_env.add(os.environ.get("TOKENIZERS_PARALLELISM"))
        try:
            return self.tok.encode_batch_fast(chunks, add_special_tokens=add_special_tokens)
        finally:
            with self._lock:
                self.active -= 1


def long_doc(n_lines: int, seed: int) -> str:
    return "".join(make_corpus(n_lines, seed=seed))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_stream_encoder_is_exact_and_bounded(tiny_tokenizer, threads):
    """Windows never exceed their bound, at most ``threads`` encoder calls run at once, tokenizers'
    own pool is off during them, and the ids equal encoding each whole document in one call."""
    docs = [long_doc(200, 1), *make_corpus(40, seed=3), long_doc(120, 2), "x = 1\n"]
    rec = Recorder(tiny_tokenizer)
    stats = EncodeStats()
    enc = StreamEncoder(rec, eod_id=0, max_chunk_chars=300, dtype=np.uint16, specials=SPECIAL_TOKENS,
                        threads=threads, window_chars=1200, window_chunks=16, stats=stats)
    before = os.environ.get("TOKENIZERS_PARALLELISM")
    flats, lens = [], []
    for flat, done in enc.encode(iter(docs)):
        flats.append(flat)
        lens.append(done)
    assert os.environ.get("TOKENIZERS_PARALLELISM") == before
    flat, doc_lens = np.concatenate(flats), np.concatenate(lens)
    assert stats.forced_splits == 0 and stats.long_documents == sum(len(d) > 300 for d in docs) >= 2
    expected = []
    for d in docs:
        expected += [*tiny_tokenizer.encode(d, add_special_tokens=False).ids, 0]
    assert flat.tolist() == expected
    assert doc_lens.tolist() == [len(tiny_tokenizer.encode(d, add_special_tokens=False).ids) + 1 for d in docs]
    assert len(rec.calls) > 10
    assert all(chars <= 1200 and n <= 16 for n, chars in rec.calls)
    assert enc.max_window_chars_seen <= 1200
    assert rec.max_active <= threads
    assert rec.parallelism_env == {"false"}


def test_chunks_are_lazy_and_bounded():
    """A huge document is cut lazily: each chunk is at most the bound, and they rebuild the text."""
    doc = "word " * 200_000
    it = iter_chunks(doc, 4096)
    first = next(it)
    assert len(first) <= 4096 and first.endswith("word")
    rest = list(it)
    assert first + "".join(rest) == doc and max(map(len, rest)) <= 4096


def test_encode_documents_matches_single_threaded(tiny_tokenizer):
    texts = [*make_corpus(60, seed=8), long_doc(150, 4)]
    a, la = encode_documents(tiny_tokenizer, texts, eod_id=0, max_chunk_chars=200, threads=1)
    b, lb = encode_documents(tiny_tokenizer, texts, eod_id=0, max_chunk_chars=200, threads=2)
    assert a.tolist() == b.tolist() and la.tolist() == lb.tolist()


@pytest.fixture(scope="module")
def tok_file(tmp_path_factory, tiny_tokenizer) -> Path:
    p = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tiny_tokenizer.save(str(p))
    return p


def write_parquet(path: Path, texts: list[str]) -> Path:
    pl.DataFrame({"id": [f"d{i}" for i in range(len(texts))], "content": texts}).write_parquet(path)
    return path


def test_stage_long_single_document_equals_unchunked(tmp_path, tok_file, tiny_tokenizer):
    """One document hundreds of chunks long goes through in bounded windows with the same ids."""
    doc = long_doc(3000, 7)
    src = write_parquet(tmp_path / "one.parquet", [doc])
    cfg = TokenizeConfig(tokenizer=str(tok_file), max_chunk_chars=512)
    m = run_tokenize([src], tmp_path / "out", cfg, Runtime(quiet=True, threads=2))
    ds = IndexedDataset(tmp_path / "out")
    assert ds[0].tolist() == [*tiny_tokenizer.encode(doc, add_special_tokens=False).ids, 0]
    assert m.stats.counters["chunks"] > 100 and m.stats.counters["forced_splits"] == 0
    assert m.extra["encoder_threads"] == 2 and 0 < m.extra["max_window_chars"] <= 1 << 18


_KILL_CHILD = """
import os, signal, sys
from sctool.packing import indexed
from sctool.stages.base import Runtime
from sctool.stages.tokenize import TokenizeConfig, run_tokenize
real = indexed.IndexedDatasetWriter.checkpoint
calls = [0]
def checkpoint(self, state):
    real(self, state)
    calls[0] += 1
    if calls[0] == int(sys.argv[4]):
        os.kill(os.getpid(), signal.SIGKILL)
indexed.IndexedDatasetWriter.checkpoint = checkpoint
run_tokenize([sys.argv[1]], sys.argv[2], TokenizeConfig(tokenizer=sys.argv[3]),
             Runtime(quiet=True, batch_rows=10, threads=1))
"""


def _killed_run(src: Path, out: Path, tok_file: Path, after: int) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "python"), str(ROOT)])}
    r = subprocess.run([sys.executable, "-c", _KILL_CHILD, str(src), str(out), str(tok_file), str(after)],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == -9, r.stderr


def test_resume_after_kill(tmp_path, tok_file):
    """A run killed with SIGKILL after 3 of 6 batches resumes at batch 3 and ends byte-identical to a
    clean run; stale temporary files of older runs are removed."""
    src = write_parquet(tmp_path / "in.parquet", make_corpus(60, seed=11))
    cfg = TokenizeConfig(tokenizer=str(tok_file))
    rt = Runtime(quiet=True, batch_rows=10, threads=1)
    run_tokenize([src], tmp_path / "clean", cfg, rt)

    out = tmp_path / "out"
    _killed_run(src, out, tok_file, after=3)
    left = sorted(p.name for p in tmp_path.glob(".tmp-out.*"))
    assert ".tmp-out.bin.resume" in left and ".tmp-out.state.json" in left
    assert not (tmp_path / "out.bin").exists()
    (tmp_path / ".tmp-out.bin.abc123").write_bytes(b"junk from an older killed run")
    m = run_tokenize([src], out, cfg, rt)
    assert m.extra["resumed_from_batch"] == 3 and m.extra["stale_temp_files_removed"] == 1
    assert m.docs_in == 60 and m.docs_out == 60
    for ext in (".bin", ".idx"):
        assert (tmp_path / f"out{ext}").read_bytes() == (tmp_path / f"clean{ext}").read_bytes()
    assert not list(tmp_path.glob(".tmp-*"))
    clean_m = json.loads((tmp_path / "clean.manifest.json").read_text())
    assert m.extra["tokens"] == clean_m["tokens"]


def test_changed_input_starts_over(tmp_path, tok_file):
    """A checkpoint made from other inputs is never resumed."""
    src = write_parquet(tmp_path / "in.parquet", make_corpus(60, seed=11))
    out = tmp_path / "out"
    _killed_run(src, out, tok_file, after=2)
    write_parquet(src, make_corpus(60, seed=12))
    rt = Runtime(quiet=True, batch_rows=10, threads=1)
    cfg = TokenizeConfig(tokenizer=str(tok_file))
    m = run_tokenize([src], out, cfg, rt)
    assert "resumed_from_batch" not in m.extra
    run_tokenize([src], tmp_path / "clean", cfg, rt)
    assert (tmp_path / "out.bin").read_bytes() == (tmp_path / "clean.bin").read_bytes()


def test_interrupted_run_resumes_and_second_writer_is_refused(tmp_path, tok_file, monkeypatch):
    src = write_parquet(tmp_path / "in.parquet", make_corpus(40, seed=5))
    w = IndexedDatasetWriter(tmp_path / "busy", np.uint16, resume_key="k")
    with pytest.raises(OutputExistsError, match="another run"):
        run_tokenize([src], tmp_path / "busy", TokenizeConfig(tokenizer=str(tok_file)), Runtime(quiet=True))
    w.abort()

    real = IndexedDatasetWriter.checkpoint
    calls = []

    def failing(self, state):
        real(self, state)
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(IndexedDatasetWriter, "checkpoint", failing)
    rt = Runtime(quiet=True, batch_rows=10, threads=2)
    cfg = TokenizeConfig(tokenizer=str(tok_file))
    with pytest.raises(KeyboardInterrupt):
        run_tokenize([src], tmp_path / "o", cfg, rt)
    monkeypatch.setattr(IndexedDatasetWriter, "checkpoint", real)
    m = run_tokenize([src], tmp_path / "o", cfg, rt)
    assert m.extra["resumed_from_batch"] == 2
    run_tokenize([src], tmp_path / "c", cfg, rt)
    assert (tmp_path / "o.bin").read_bytes() == (tmp_path / "c.bin").read_bytes()
    assert (tmp_path / "o.idx").read_bytes() == (tmp_path / "c.idx").read_bytes()


def test_streamed_writer_api(tmp_path):
    with IndexedDatasetWriter(tmp_path / "s", np.uint16) as w:
        w.write_tokens(np.arange(5))
        w.write_tokens(np.arange(3))
        w.end_documents([6])
        w.end_documents([2])
    ds = IndexedDataset(tmp_path / "s")
    assert [ds[i].tolist() for i in range(len(ds))] == [[0, 1, 2, 3, 4, 0], [1, 2]]
    w = IndexedDatasetWriter(tmp_path / "t", np.uint16)
    w.write_tokens(np.arange(4))
    with pytest.raises(Exception, match="only 4 tokens"):
        w.end_documents([5])
    with pytest.raises(Exception, match="after the last document end"):
        w.finalize()
    w.abort()


def test_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with IndexedDatasetWriter(tmp_path / "m", np.uint16) as w:
            w.add_document(np.arange(3))
    finally:
        os.umask(old)
    for ext in (".bin", ".idx"):
        assert (tmp_path / f"m{ext}").stat().st_mode & 0o777 == 0o644
