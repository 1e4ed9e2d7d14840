"""Reading inputs: truncated compressed streams, dictionary-encoded text, mixed content types,
empty benchmark files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sctool.errors import ConfigError, DatasetError, SctoolError
from sctool.io.dataset import read_dataset
from sctool.stages.base import Runtime
from sctool.stages.ingest import IngestConfig, run_ingest
from tests.conftest import run_cli

RT = Runtime(quiet=True)


def _records(n: int) -> bytes:
    return b"".join(json.dumps({"content": f"def f{i}():\n    return {i}\n" * 4}).encode() + b"\n" for i in range(n))


def _compress(kind: str, data: bytes) -> bytes:
    if kind == "gz":
        return gzip.compress(data)
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


# -- 5: truncated compressed streams --------------------------------------------------------------

@pytest.mark.parametrize("kind", ["zst", "gz"])
def test_truncated_compressed_jsonl_is_an_error_naming_the_file(tmp_path: Path, kind: str) -> None:
    blob = _compress(kind, _records(1000))
    src = tmp_path / f"data.jsonl.{kind}"
    src.write_bytes(blob[: len(blob) // 3])
    with pytest.raises(DatasetError, match=r"data\.jsonl\." + kind + ".*(truncated|corrupt)"):
        run_ingest([src], tmp_path / "out", IngestConfig(), RT)
    proc = run_cli("ingest", src, "-o", tmp_path / "out2", "--quiet")
    assert proc.returncode == 2 and str(src) in proc.stderr


@pytest.mark.parametrize("kind", ["zst", "gz"])
def test_intact_multi_frame_compressed_jsonl_reads_every_record(tmp_path: Path, kind: str) -> None:
    src = tmp_path / f"data.jsonl.{kind}"
    src.write_bytes(_compress(kind, _records(300)) + _compress(kind, _records(200)))
    m = run_ingest([src], tmp_path / "out", IngestConfig(), RT)
    assert m.docs_in == 500 and "malformed_lines" not in m.extra


# -- 16: text column types ------------------------------------------------------------------------

def test_dictionary_encoded_parquet_text_column_is_accepted(tmp_path: Path) -> None:
    texts = ["a = 1\n", "b = 2\n", "a = 1\n"]
    table = pa.table({"content": pa.array(texts).dictionary_encode()})
    src = tmp_path / "dict.parquet"
    pq.write_table(table, src)
    assert pa.types.is_dictionary(pq.read_schema(src).field("content").type)
    run_ingest([src], tmp_path / "out", IngestConfig(), RT)
    assert read_dataset(tmp_path / "out")["content"].to_list() == texts
    proc = run_cli("filter", src, "-o", tmp_path / "f", "--quiet")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("batch_rows", [2, 100])
def test_non_string_content_is_an_error_naming_the_first_offending_row(tmp_path: Path, batch_rows: int) -> None:
    rows = [{"content": "x = 1\n"}, {"content": "y = 2\n"}, {"content": "z = 3\n"}, {"content": 42},
            {"content": "w = 4\n"}]
    src = tmp_path / "mixed.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DatasetError, match=r"mixed\.jsonl:4: .*content.*int"):
        run_ingest([src], tmp_path / f"out{batch_rows}", IngestConfig(), Runtime(quiet=True, batch_rows=batch_rows))


def test_all_non_string_batch_gets_the_same_error(tmp_path: Path) -> None:
    src = tmp_path / "ints.jsonl"
    src.write_text('{"content": "a"}\n{"content": "b"}\n{"content": 1}\n{"content": 2}\n')
    proc = run_cli("filter", src, "-o", tmp_path / "out", "--quiet", "--batch-rows", "2")
    assert proc.returncode == 2 and "ints.jsonl:3" in proc.stderr


def test_empty_benchmark_file_is_an_error(tmp_path: Path) -> None:
    from sctool.decontam.benchmarks import load_benchmarks

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises((DatasetError, ConfigError), match=r"empty\.jsonl.*no (items|benchmark items)"):
        load_benchmarks([f"jsonl:prompt={empty}"])
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n\n")
    with pytest.raises(SctoolError, match=r"blank\.jsonl"):
        load_benchmarks([f"mbpp={blank}"])


@given(st.lists(st.binary(max_size=3000), min_size=1, max_size=5), st.data())
def test_zstd_reader_returns_every_byte_or_raises(frames: list[bytes], data) -> None:
    """Against the reference (decompress each frame whole): any multi-frame file reads back exactly;
    any strict prefix that cuts into a frame raises instead of returning a short read."""
    import tempfile

    import zstandard

    from sctool.io.jsonl import TruncatedStreamError, _ZstdFrames

    blobs = [zstandard.ZstdCompressor(level=1).compress(f) for f in frames]
    whole = b"".join(blobs)
    cut = data.draw(st.integers(0, len(whole)))
    boundaries = {sum(len(b) for b in blobs[:i]) for i in range(len(blobs) + 1)}
    with tempfile.NamedTemporaryFile(suffix=".zst") as fh:
        fh.write(whole[:cut])
        fh.flush()
        reader = _ZstdFrames(Path(fh.name))
        try:
            if cut in boundaries:
                n_frames = sorted(boundaries).index(cut)
                assert reader.read() == b"".join(frames[:n_frames])
            else:
                with pytest.raises((TruncatedStreamError, zstandard.ZstdError)):
                    reader.read()
        finally:
            reader.close()
