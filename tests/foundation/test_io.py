"""The dataset format: readers for every input kind, bad input, atomic and resumable output."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest
import zstandard

from sctool.errors import DatasetError, OutputExistsError
from sctool.io.dataset import read_dataset, read_manifest
from sctool.io.sources import InputReader, resolve_inputs
from sctool.stages.base import Runtime, StageOutput, run_map_stage

DOCS = [{"id": f"d{i}", "content": f"text {i}\n" * (i + 1)} for i in range(25)]


def write_jsonl(path: Path, rows: list[dict], opener=open) -> Path:
    with opener(path, "wt") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    return path


def read_all(specs, **kw) -> pl.DataFrame:
    reader = InputReader(resolve_inputs(specs), **kw)
    frames = [b.frame for b in reader.batches()]
    return pl.concat(frames, how="diagonal_relaxed")


def test_jsonl_gz_zst_parquet_read_the_same(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", DOCS)
    write_jsonl(tmp_path / "a.jsonl.gz", DOCS, gzip.open)
    with open(tmp_path / "a.jsonl.zst", "wb") as fh:
        fh.write(zstandard.ZstdCompressor().compress("".join(json.dumps(r) + "\n" for r in DOCS).encode()))
    pl.DataFrame(DOCS).write_parquet(tmp_path / "a.parquet")
    frames = [read_all([tmp_path / n]) for n in ("a.jsonl", "a.jsonl.gz", "a.jsonl.zst", "a.parquet")]
    for f in frames[1:]:
        assert f.equals(frames[0])


def test_glob_and_batches_are_deterministic(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "b.jsonl", DOCS[10:])
    write_jsonl(tmp_path / "a.jsonl", DOCS[:10])
    reader = InputReader(resolve_inputs([str(tmp_path / "*.jsonl")]), batch_rows=4)
    batches = list(reader.batches())
    assert [b.index for b in batches] == list(range(len(batches)))
    ids = [i for b in batches for i in b.frame["id"].to_list()]
    assert ids == [d["id"] for d in DOCS]  # a.jsonl before b.jsonl, rows in order


def test_missing_id_is_created_stably(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "x.jsonl", [{"content": "a"}, {"content": "b"}, {"content": "c"}])
    one = read_all([tmp_path / "x.jsonl"], batch_rows=2)["id"].to_list()
    two = read_all([tmp_path / "x.jsonl"], batch_rows=1)["id"].to_list()
    assert one == two == ["x.jsonl:0", "x.jsonl:1", "x.jsonl:2"]


def test_malformed_jsonl_line_is_counted_with_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text('{"content": "ok 1"}\n{not json\n[1, 2]\n{"content": "ok 2"}\n')
    reader = InputReader(resolve_inputs([p]))
    rows = [r for b in reader.batches() for r in b.frame["content"].to_list()]
    assert rows == ["ok 1", "ok 2"]
    assert reader.line_errors.count == 2
    assert [(Path(f).name, n) for f, n, _ in reader.line_errors.samples] == [("bad.jsonl", 2), ("bad.jsonl", 3)]


def test_truncated_parquet_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "t.parquet"
    pl.DataFrame(DOCS).write_parquet(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"t\.parquet"):
        read_all([p])


def test_missing_text_column_lists_columns(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "m.jsonl", [{"id": "1", "text": "hello"}])
    with pytest.raises(DatasetError, match=r"no text column 'content'.*\['id', 'text'\]"):
        read_all([tmp_path / "m.jsonl"])
    assert read_all([tmp_path / "m.jsonl"], text_column="text")["text"].to_list() == ["hello"]


@pytest.mark.parametrize("spec", ["nope.jsonl", "dir_without_dataset", "*.nothing", "file.txt"])
def test_bad_input_specs(tmp_path: Path, spec: str) -> None:
    (tmp_path / "dir_without_dataset").mkdir()
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DatasetError):
        resolve_inputs([str(tmp_path / spec)])


def keep_even(batch: pl.DataFrame) -> StageOutput:
    even = batch["content"].str.len_bytes() % 2 == 0
    removed = batch.filter(~even).with_columns(pl.lit("odd_length").alias("reason"))
    return StageOutput(kept=batch.filter(even), removed=removed, counters={"seen": batch.height})


def test_map_stage_writes_the_format_and_kept_plus_removed_is_input(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", DOCS)
    run_map_stage(stage="demo", config={"k": 1}, inputs=[src], output=tmp_path / "out",
                      runtime=Runtime(batch_rows=7, quiet=True), process=keep_even)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.glob("part-*.parquet")) == [f"part-{i:05d}.parquet" for i in range(4)]
    kept, removed = read_dataset(out), read_dataset(out, removed=True)
    assert sorted(kept["id"].to_list() + removed["id"].to_list()) == sorted(d["id"] for d in DOCS)
    assert set(removed["reason"].to_list()) == {"odd_length"}
    man = read_manifest(out)
    assert man.docs_in == 25 and man.docs_out == kept.height
    assert man.stats.removed == {"odd_length": removed.height}
    assert man.stats.counters == {"seen": 25}
    assert man.config == {"k": 1} and man.inputs[0]["fingerprint"]
    assert not list(tmp_path.glob(".out*")), "no staging directory left behind"


def test_existing_output_is_refused_then_overwritten(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", DOCS)
    kw = dict(stage="demo", config={}, inputs=[src], output=tmp_path / "out", process=keep_even)
    run_map_stage(runtime=Runtime(quiet=True), **kw)
    with pytest.raises(OutputExistsError):
        run_map_stage(runtime=Runtime(quiet=True), **kw)
    run_map_stage(runtime=Runtime(quiet=True, overwrite=True), **kw)
    assert read_manifest(tmp_path / "out").docs_in == 25


def test_interrupted_stage_leaves_no_output_and_rerun_resumes(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", DOCS)
    calls = []

    def crashing(batch: pl.DataFrame) -> StageOutput:
        calls.append(batch.height)
        if len(calls) == 3:
            raise KeyboardInterrupt("simulated crash")
        return keep_even(batch)

    kw = dict(stage="demo", config={}, inputs=[src], output=tmp_path / "out",
              runtime=Runtime(batch_rows=7, quiet=True))
    with pytest.raises(KeyboardInterrupt):
        run_map_stage(process=crashing, **kw)
    assert not (tmp_path / "out").exists(), "no partial output under the final name"
    calls.clear()
    m = run_map_stage(process=keep_even, **kw)
    assert m.extra["resumed_parts"] == 2
    reference = run_map_stage(process=keep_even, **{**kw, "output": tmp_path / "ref"})
    assert read_dataset(tmp_path / "out").equals(read_dataset(tmp_path / "ref"))
    assert m.stats.to_dict() == reference.stats.to_dict()


def test_empty_input_gives_empty_dataset(tmp_path: Path) -> None:
    src = tmp_path / "empty.jsonl"
    src.write_text("")
    m = run_map_stage(stage="demo", config={}, inputs=[src], output=tmp_path / "out",
                      runtime=Runtime(quiet=True), process=keep_even)
    assert m.docs_in == 0 and m.docs_out == 0
    assert read_dataset(tmp_path / "out").height == 0


def test_stage_that_loses_documents_is_an_error(tmp_path: Path) -> None:
    from sctool.errors import InternalError

    src = write_jsonl(tmp_path / "in.jsonl", DOCS)
    with pytest.raises(InternalError, match="kept"):
        run_map_stage(stage="demo", config={}, inputs=[src], output=tmp_path / "out",
                      runtime=Runtime(quiet=True), process=lambda b: StageOutput(kept=b.head(1)))
