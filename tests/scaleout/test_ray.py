"""The Ray executor on a real local cluster: byte-identical to the local executor, and failure-safe.

Every test compares against the local run of the same stage on the same input: part files (names,
bytes and decoded content), removed parts, and the manifest (counts, counters, malformed lines).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from sctool.dedup.distributed_exact import run_exact_dedup
from sctool.errors import DatasetError, InternalError
from sctool.executors import ExecutorError
from sctool.io.dataset import read_dataset
from sctool.stages.base import Runtime
from sctool.stages.dedup import DedupConfig, run_dedup
from tests.conftest import REPO, run_cli
from tests.scaleout import stagefns
from tests.scaleout.conftest import write_corpus
from tests.scaleout.helpers import assert_same_dataset, toy_stage

pytestmark = pytest.mark.ray

def rt(executor: str, **kw) -> Runtime:
    return Runtime(batch_rows=10, quiet=True, executor=executor, threads=1, **kw)


def test_map_stage_same_as_local(ray_cluster, corpus: list[Path], tmp_path: Path) -> None:
    local = toy_stage(corpus, tmp_path / "local", rt("local"))
    ray = toy_stage(corpus, tmp_path / "ray", rt("ray"))
    assert_same_dataset(tmp_path / "local", tmp_path / "ray")
    assert ray.parts == local.parts == 16 and ray.docs_in == 4 * 37
    assert ray.extra["malformed_lines"] == 4 and ray.extra["resumed_parts"] == 0
    assert ray.stats.counters["by_kind"]["null"] == 1


def test_dataset_input_and_exact_dedup_same_as_local(ray_cluster, corpus: list[Path], tmp_path: Path) -> None:
    # A dataset of Parquet parts (the usual input of a later stage) is planned from metadata.
    toy_stage(corpus, tmp_path / "ds", rt("local"))
    local = run_dedup([tmp_path / "ds"], tmp_path / "local", DedupConfig(mode="exact"), rt("local"))
    ray = run_exact_dedup([tmp_path / "ds"], tmp_path / "ray", DedupConfig(mode="exact"), rt("ray"), partitions=3)
    assert_same_dataset(tmp_path / "local", tmp_path / "ray")
    assert ray.extra["duplicate_groups"] == local.extra["duplicate_groups"] > 0
    assert not (tmp_path / ".ray.sctool-spill").exists()


def _stage(name: str, tmp_path: Path):
    if name == "filter":
        from sctool.stages.filter import FilterConfig, run_filter

        return run_filter, FilterConfig()
    if name == "redact":
        from sctool.stages.redact import RedactConfig, run_redact

        return run_redact, RedactConfig()
    if name == "decontam":
        from sctool.stages.decontam import DecontamConfig, run_decontam

        bench = tmp_path / "bench.jsonl"
        bench.write_text(json.dumps({"prompt": stagefns.BENCH_PROMPT}) + "\n")
        return run_decontam, DecontamConfig(benchmarks=(f"jsonl:prompt={bench}",), method="exact")
    if name == "format":
        from sctool.stages.format import FormatConfig, run_format

        return run_format, FormatConfig()
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["filter", "redact", "decontam", "format"])
def test_curation_stage_same_as_local(ray_cluster, name: str, corpus: list[Path], tmp_path: Path) -> None:
    run, cfg = _stage(name, tmp_path)
    local = run(corpus, tmp_path / "local", cfg, rt("local"))
    run(corpus, tmp_path / "ray", cfg, rt("ray"))
    assert_same_dataset(tmp_path / "local", tmp_path / "ray")
    assert local.docs_in == 4 * 37
    if name in ("filter", "decontam"):
        assert local.docs_out < local.docs_in  # the comparison covers removed/ too
    if name == "decontam":
        assert local.docs_out == local.docs_in - 1  # the one benchmark copy


def test_worker_killed_once_is_retried(ray_cluster, corpus: list[Path], tmp_path: Path) -> None:
    marker = tmp_path / "died"
    toy_stage(corpus, tmp_path / "local", rt("local"))
    m = toy_stage(corpus, tmp_path / "ray", rt("ray"), process=stagefns.DieOn("f2-25", str(marker), once=True))
    assert marker.read_text() == "died\n"  # the worker really died mid-stage
    assert_same_dataset(tmp_path / "local", tmp_path / "ray")
    assert m.docs_in == 4 * 37


def test_failed_run_resumes_without_loss_or_duplicates(ray_cluster, corpus: list[Path], tmp_path: Path) -> None:
    armed = tmp_path / "armed"
    armed.write_text("on\n")
    die = stagefns.DieOn("f3-36", str(armed), once=False)  # the last batch of the last shard
    with pytest.raises(ExecutorError, match="rerun the same command to resume"):
        toy_stage(corpus, tmp_path / "ray", rt("ray"), process=die)
    assert len(armed.with_suffix(".deaths").read_text().split()) == 4  # first try + Ray's 3 retries
    staging = tmp_path / ".ray.sctool-partial"
    finished = sorted(p.name for p in (staging / "_parts").glob("*.json"))
    assert len(finished) == 15 and "00015.json" not in finished
    assert not (tmp_path / "ray").exists()
    armed.unlink()
    m = toy_stage(corpus, tmp_path / "ray", rt("ray"), process=die)
    assert m.extra["resumed_parts"] == 15 and m.parts == 16
    toy_stage(corpus, tmp_path / "local", rt("local"))
    assert_same_dataset(tmp_path / "local", tmp_path / "ray")
    kept, removed = read_dataset(tmp_path / "ray"), read_dataset(tmp_path / "ray", removed=True)
    ids = kept["id"].to_list() + removed["id"].to_list()
    assert len(ids) == len(set(ids)) == 4 * 37
    assert not list((tmp_path / "ray").rglob(".tmp-*"))


DRIVER = """
import sys, time, ray
from pathlib import Path
from tests.scaleout import stagefns
ray.cloudpickle.register_pickle_by_value(stagefns)
from sctool.stages.base import Runtime, run_map_stage
def slow(batch):
    time.sleep(0.4)
    return stagefns.toy_process(batch)
run_map_stage(stage="toy", config={"rule": "ends_in_3"}, inputs=sys.argv[2:], output=sys.argv[1],
              runtime=Runtime(batch_rows=10, quiet=True, executor="ray", threads=1, ray_address=sys.argv[0]),
              process=slow)
"""


def test_driver_killed_then_rerun_resumes(ray_cluster, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "in", files=4, docs_per_file=50, bad_lines=False)
    address = ray_cluster.get_runtime_context().gcs_address
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", DRIVER.replace("sys.argv[0]", repr(address)),
                             str(tmp_path / "ray"), *map(str, corpus)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    parts = tmp_path / ".ray.sctool-partial" / "_parts"
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and len(list(parts.glob("*.json"))) < 4:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the driver and only it: its own session
        proc.wait()
    done_before = len(list(parts.glob("*.json")))
    assert 4 <= done_before < 20
    m = toy_stage(corpus, tmp_path / "ray", rt("ray"))
    assert m.extra["resumed_parts"] >= 4 and m.parts == 20
    toy_stage(corpus, tmp_path / "local", rt("local"))
    assert_same_dataset(tmp_path / "local", tmp_path / "ray")


def test_cli_executor_ray(ray_cluster, corpus: list[Path], tmp_path: Path) -> None:
    address = ray_cluster.get_runtime_context().gcs_address
    from sctool.stages.filter import FilterConfig, run_filter

    run_filter(corpus, tmp_path / "local", FilterConfig(), Runtime(batch_rows=10, quiet=True))
    proc = run_cli("filter", *corpus, "-o", tmp_path / "ray", "--batch-rows", "10", "--quiet",
                   "--executor", "ray", "--ray-address", address, "--json", check=True)
    assert json.loads(proc.stdout)["docs_in"] == 4 * 37
    assert_same_dataset(tmp_path / "local", tmp_path / "ray")


def test_stage_errors_surface_as_locally(ray_cluster, corpus: list[Path], tmp_path: Path) -> None:
    for executor in ("local", "ray"):
        with pytest.raises(InternalError, match=r"has 10 documents but kept 1 \+ removed 0"):
            toy_stage(corpus, tmp_path / executor, rt(executor), process=stagefns.loses_rows)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(DatasetError, match=r"bad\.parquet"):
        toy_stage([bad], tmp_path / "o", rt("ray"))


def test_recipe_on_ray_same_as_local(ray_cluster, corpus: list[Path], tmp_path: Path) -> None:
    from sctool.recipe import run_recipe

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({
        "stages": [{"stage": "filter", "inputs": [str(p) for p in corpus]}, {"stage": "redact"}],
    }))
    for executor in ("local", "ray"):
        run_recipe(recipe, workdir=tmp_path / executor, echo=False, quiet=True,
                   runtime_overrides={"executor": executor, "batch_rows": 10, "threads": 1})
    for step in ("01-filter", "02-redact"):
        assert_same_dataset(tmp_path / "local" / step, tmp_path / "ray" / step)
