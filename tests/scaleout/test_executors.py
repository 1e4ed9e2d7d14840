"""The executor layer without Ray: shard planning, the shard path against the plain loop, the spill
shuffle, exact dedup on the primitives, and the behaviour when Ray is not installed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sctool.config import config_from_dict
from sctool.dedup.distributed_exact import run_exact_dedup
from sctool.errors import ConfigError, InternalError
from sctool.executors import ExecutorError, LocalExecutor, SpillDir, get_executor, partition_of
from sctool.executors.base import FrameProcess, Shard, ShardInput, shard_reader
from sctool.io.dataset import DatasetWriter
from sctool.io.sources import InputReader, resolve_inputs
from sctool.stages.base import Runtime, run_map_stage
from sctool.stages.dedup import DedupConfig, run_dedup
from tests.conftest import REPO, run_cli
from tests.scaleout import stagefns
from tests.scaleout.conftest import write_corpus
from tests.scaleout.helpers import assert_same_dataset, toy_stage


def mixed_inputs(root: Path) -> list[Path]:
    """JSONL with bad lines, Parquet with several row groups, an empty Parquet and an empty JSONL."""
    files = write_corpus(root, files=2, docs_per_file=23)
    frame = pl.DataFrame({"id": [f"p{i}" for i in range(29)], "content": [f"x = {i}\n" for i in range(29)]})
    frame.write_parquet(root / "shard2.parquet", row_group_size=7)
    frame.head(0).write_parquet(root / "shard3.parquet")
    (root / "shard4.jsonl").write_text("")
    return [*files, root / "shard2.parquet", root / "shard3.parquet", root / "shard4.jsonl"]


@settings(max_examples=20)
@given(batch_rows=st.integers(1, 12))
def test_plan_matches_the_reader(tmp_path_factory, batch_rows: int) -> None:
    files = mixed_inputs(tmp_path_factory.mktemp("plan"))
    reader = InputReader(resolve_inputs(files), batch_rows=batch_rows)
    want = [(b.index, b.source.path, b.frame) for b in reader.batches()]
    shards = LocalExecutor().plan(reader)
    got = [(b.index, b.source.path, b.frame) for s in shards for b in ShardInput(s, shard_reader(reader, s.file)).batches()]
    assert [(i, p) for i, p, _ in got] == [(i, p) for i, p, _ in want]
    assert all(a.equals(b, null_equal=True) for (_, _, a), (_, _, b) in zip(got, want))
    assert [s.first_batch for s in shards] == sorted({s.first_batch for s in shards})


def test_shard_with_a_wrong_plan_is_an_error(tmp_path: Path) -> None:
    files = mixed_inputs(tmp_path)
    reader = InputReader(resolve_inputs(files[:1]), batch_rows=5)
    bad = Shard(index=0, file=reader.inputs[0], first_batch=0, n_batches=2)
    with pytest.raises(InternalError, match="planned 2 batches"):
        list(ShardInput(bad, shard_reader(reader, bad.file)).batches())


def test_shard_path_equals_the_plain_loop(tmp_path: Path) -> None:
    files = mixed_inputs(tmp_path / "in")
    toy_stage(files, tmp_path / "loop", Runtime(batch_rows=6, quiet=True))
    reader = InputReader(resolve_inputs(files), batch_rows=6)
    writer = DatasetWriter(tmp_path / "shards", stage="toy", config={"rule": "ends_in_3"},
                           inputs=[f.describe() for f in reader.inputs])
    LocalExecutor().write_parts(stage="toy", reader=reader, writer=writer,
                                make_process=FrameProcess(stagefns.toy_process))
    extra = {"malformed_lines": reader.line_errors.count,
             "malformed_line_samples": [f"{p}:{n}: {m}" for p, n, m in reader.line_errors.samples],
             "kernel_seconds": 0.0}
    writer.finalize(extra)
    assert_same_dataset(tmp_path / "loop", tmp_path / "shards")


class FailOn:
    """``toy_process`` that raises on one document while ``armed`` is set."""

    def __init__(self, doc_id: str) -> None:
        self.doc_id, self.armed = doc_id, True

    def __call__(self, batch: pl.DataFrame):
        if self.armed and self.doc_id in batch.get_column("id").to_list():
            raise RuntimeError("injected failure")
        return stagefns.toy_process(batch)


def test_interrupted_shard_run_resumes_with_the_plain_loop(tmp_path: Path) -> None:
    files = write_corpus(tmp_path / "in", files=3, docs_per_file=20)
    fail = FailOn("f2-15")
    reader = InputReader(resolve_inputs(files), batch_rows=5)
    writer = DatasetWriter(tmp_path / "out", stage="toy", config={"rule": "ends_in_3"},
                           inputs=[f.describe() for f in reader.inputs])
    with pytest.raises(RuntimeError, match="injected"):
        LocalExecutor().write_parts(stage="toy", reader=reader, writer=writer, make_process=FrameProcess(fail))
    staging = tmp_path / ".out.sctool-partial"
    assert len(list((staging / "_shards").glob("*.json"))) == 2  # shards 0 and 1 finished
    m = toy_stage(files, tmp_path / "out", Runtime(batch_rows=5, quiet=True), process=stagefns.toy_process)
    assert m.extra["resumed_parts"] == 11  # 2 shards x 4 parts + the 3 before the failing batch
    assert not (tmp_path / "out" / "_shards").exists()
    toy_stage(files, tmp_path / "ref", Runtime(batch_rows=5, quiet=True))
    assert_same_dataset(tmp_path / "ref", tmp_path / "out")


def test_map_shards_checkpoint_skips_finished_shards(tmp_path: Path) -> None:
    files = write_corpus(tmp_path / "in", files=3, docs_per_file=8, bad_lines=False)
    reader = InputReader(resolve_inputs(files), batch_rows=3)
    calls: list[int] = []

    def rows(shard: Shard, inp: ShardInput) -> dict:
        calls.append(shard.index)
        return {"rows": sum(b.frame.height for b in inp.batches()), "parts": list(shard.parts)}

    ex = LocalExecutor()
    first = ex.map_shards(reader, rows, checkpoint=tmp_path / "ck")
    assert first == [{"rows": 8, "parts": [0, 1, 2]}, {"rows": 8, "parts": [3, 4, 5]}, {"rows": 8, "parts": [6, 7, 8]}]
    (tmp_path / "ck" / "00001.json").unlink()
    assert ex.map_shards(reader, rows, checkpoint=tmp_path / "ck") == first
    assert calls == [0, 1, 2, 1]


def test_spill_partitions_are_exact_and_stable(tmp_path: Path) -> None:
    keys = pl.Series("k", [f"key{i % 37}" for i in range(500)])
    spill = SpillDir.for_output(tmp_path / "out", {"a": 1})
    for shard in range(3):
        spill.write_partitioned("t", shard, pl.DataFrame({"k": keys, "shard": [shard] * 500}), "k", 5)
    seen: dict[str, int] = {}
    for p in range(5):
        part = spill.read_partition("t", p, shards=3)
        assert part.get_column("shard").is_sorted()  # shard order kept
        for k in part.get_column("k").unique().to_list():
            assert seen.setdefault(k, p) == p  # one key, one partition
    assert len(seen) == 37
    code = ("import polars as pl, sys; from sctool.executors import partition_of;"
            "print(partition_of(pl.Series([f'key{i}' for i in range(37)]), 5).to_list())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == partition_of(pl.Series([f"key{i}" for i in range(37)]), 5).to_list()
    assert SpillDir.for_output(tmp_path / "out", {"a": 1}).read_partition("t", 0, shards=3).height > 0
    assert not (SpillDir.for_output(tmp_path / "out", {"a": 2}).root / "t").exists()  # other key: fresh


@settings(max_examples=15)
@given(st.lists(st.sampled_from(["a", "b", "c", "", "def f(): pass", "é", None]), max_size=40),
       st.integers(1, 7), st.integers(1, 5), st.integers(1, 3))
def test_exact_dedup_on_primitives_equals_run_dedup(tmp_path_factory, docs, batch_rows, partitions, nfiles) -> None:
    tmp = tmp_path_factory.mktemp("dd")
    files = []
    for k in range(nfiles):
        src = tmp / f"in{k}.jsonl"
        src.write_text("".join(json.dumps({"id": f"d{k}-{i}", "content": d}) + "\n" for i, d in enumerate(docs)))
        files.append(src)
    rt = Runtime(batch_rows=batch_rows, threads=1, quiet=True)
    a = run_dedup(files, tmp / "a", DedupConfig(mode="exact"), rt)
    b = run_exact_dedup(files, tmp / "b", DedupConfig(mode="exact"), rt, partitions=partitions)
    assert_same_dataset(tmp / "a", tmp / "b")
    assert a.extra["duplicate_groups"] == b.extra["duplicate_groups"]
    assert not (tmp / ".b.sctool-spill").exists()


def test_runtime_rejects_unknown_executor() -> None:
    with pytest.raises(ConfigError, match="executor"):
        Runtime(executor="spark")
    rt = config_from_dict(Runtime, {"executor": "ray", "ray_address": "10.0.0.1:6379"}, "runtime")
    assert (rt.executor, rt.ray_address) == ("ray", "10.0.0.1:6379")
    assert isinstance(get_executor(Runtime()), LocalExecutor)


def test_ray_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    files = write_corpus(tmp_path / "in", files=1, docs_per_file=3)
    with pytest.raises(ExecutorError, match=r"pip install 'sctool\[ray\]'"):
        run_map_stage(stage="toy", config={}, inputs=files, output=tmp_path / "o",
                      runtime=Runtime(executor="ray", quiet=True), process=stagefns.toy_process)


def test_sctool_never_imports_ray_for_local_work(tmp_path: Path) -> None:
    files = write_corpus(tmp_path / "in", files=1, docs_per_file=3)
    code = ("import sys, sctool, sctool.executors, sctool.dedup.distributed_exact\n"
            "from sctool.stages.base import Runtime\n"
            "from sctool.stages.dedup import DedupConfig\n"
            "from sctool.dedup.distributed_exact import run_exact_dedup\n"
            f"run_exact_dedup([{str(files[0])!r}], {str(tmp_path / 'o')!r}, DedupConfig(mode='exact'), Runtime(quiet=True))\n"
            "assert 'ray' not in sys.modules, 'ray was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_cli_without_ray_exits_2_with_the_hint(tmp_path: Path) -> None:
    fake = tmp_path / "noray"
    fake.mkdir()
    (fake / "ray.py").write_text("raise ImportError('ray hidden by the test')\n")
    files = write_corpus(tmp_path / "in", files=1, docs_per_file=3)
    import os

    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(fake) + (os.pathsep + old if old else "")
    try:
        proc = run_cli("filter", *files, "-o", tmp_path / "o", "--executor", "ray", "--quiet")
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = old
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'sctool[ray]'" in proc.stderr and "Traceback" not in proc.stderr
    help_text = run_cli("dedup", "--help", check=True).stdout
    assert "--executor" in help_text and "--ray-address" in help_text


def test_unreachable_cluster_fails_fast(tmp_path: Path) -> None:
    from tests.scaleout.conftest import HAS_RAY

    if not HAS_RAY:
        pytest.skip("ray is not installed")
    files = write_corpus(tmp_path / "in", files=1, docs_per_file=3)
    # A fresh interpreter: earlier tests may have connected this one to a local Ray cluster.
    code = f"""
import pytest
from sctool.executors import ExecutorError
from sctool.stages.base import Runtime, run_map_stage
from tests.scaleout import stagefns
files = {[str(f) for f in files]!r}
with pytest.raises(ExecutorError, match=r"cannot reach the Ray cluster at 127\\.0\\.0\\.1:1"):
    run_map_stage(stage="toy", config={{}}, inputs=files, output={str(tmp_path / "o")!r}, process=stagefns.toy_process,
                  runtime=Runtime(executor="ray", ray_address="127.0.0.1:1", quiet=True))
with pytest.raises(ExecutorError, match="expected HOST:PORT"):
    run_map_stage(stage="toy", config={{}}, inputs=files, output={str(tmp_path / "o")!r}, process=stagefns.toy_process,
                  runtime=Runtime(executor="ray", ray_address="head:port", quiet=True))
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-2000:]
