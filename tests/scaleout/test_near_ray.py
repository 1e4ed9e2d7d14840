"""Near dedup (modes ``near`` and ``both``) on the executor primitives, against the in-process engine.

Every comparison is with ``run_dedup`` on the local executor over the same input: part files (names,
bytes, decoded content), removed parts, the cluster table and the manifest — all of it except the
engine's spill-layout counters (flushes, bytes spilled, partition files and splits), which describe
how the single-process engine shuffled, not what it found.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sctool.dedup.distributed_near import components_min_root, run_near_dedup_executor
from sctool.errors import ConfigError
from sctool.stages.base import Runtime
from sctool.stages.dedup import DedupConfig, run_dedup
from tests.conftest import run_cli
from tests.dedup import reference
from tests.scaleout.conftest import write_corpus
from tests.scaleout.helpers import assert_same_near


def rt(executor: str) -> Runtime:
    return Runtime(batch_rows=10, quiet=True, executor=executor, threads=1)


def near_corpus(root: Path) -> list[Path]:
    """The scale-out corpus plus a file of planted near duplicates (light edits of six bases) and exact copies."""
    files = write_corpus(root, files=3)
    rnd = random.Random(7)
    bases = [[f"tok{rnd.randint(0, 60)}_{j}" for j in range(120)] for _ in range(6)]
    path = root / "planted.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(30):
            words = list(bases[i % 6])
            words[(i // 6) * 7] = f"edit{i}"
            fh.write(json.dumps({"id": f"n-{29 - i}", "content": " ".join(words)}) + "\n")
        for i in range(3):
            fh.write(json.dumps({"id": f"copy-{i}", "content": " ".join(bases[i])}) + "\n")
        fh.write(json.dumps({"id": "short", "content": "x"}) + "\n")
    return [*files, path]


def _compare(files: list[Path], tmp: Path, mode: str, keep: str, executor: str, partitions: int | None) -> dict:
    # One cluster-table path for both runs: it is part of the config the manifests record.
    cfg = DedupConfig(mode=mode, keep=keep, clusters=str(tmp / f"clusters-{mode}-{keep}.parquet"))
    local = run_dedup(files, tmp / f"local-{mode}-{keep}", cfg, rt("local"))
    local_clusters = pl.read_parquet(cfg.clusters)
    Path(cfg.clusters).unlink()
    if executor == "local":
        other = run_near_dedup_executor(files, tmp / f"exec-{executor}-{mode}-{keep}", cfg, rt(executor),
                                        partitions=partitions)
    else:
        other = run_dedup(files, tmp / f"exec-{executor}-{mode}-{keep}", cfg, rt(executor))
    assert other.docs_in == local.docs_in
    assert local_clusters.height > 0
    assert local_clusters.equals(pl.read_parquet(cfg.clusters), null_equal=True)
    assert_same_near(tmp / f"local-{mode}-{keep}", tmp / f"exec-{executor}-{mode}-{keep}")
    return json.loads((tmp / f"local-{mode}-{keep}" / "manifest.json").read_text())


def _near_stats(manifest: dict) -> dict:
    return manifest["near_dedup"]


@pytest.mark.parametrize(("mode", "keep", "partitions"),
                         [("near", "lowest-id", 1), ("near", "longest", 3), ("both", "lowest-id", 5)])
def test_primitives_on_local_executor_match_engine(tmp_path: Path, mode: str, keep: str, partitions: int) -> None:
    files = near_corpus(tmp_path / "in")
    m = _compare(files, tmp_path, mode, keep, "local", partitions)
    nd = _near_stats(m)
    # The planted clusters are found (the test would be vacuous otherwise).
    assert nd["near_duplicates"] >= 24
    assert nd["engine"]["candidate_pairs"] > 0
    if mode == "both":
        assert nd["exact_duplicates"] >= 3
    removed = pl.concat([pl.read_parquet(p) for p in sorted((tmp_path / f"local-{mode}-{keep}" / "removed")
                                                                .glob("part-*.parquet"))],
                        how="diagonal_relaxed")
    assert removed.filter(pl.col("id").str.starts_with("n-")).height >= 24
    assert (removed.get_column("jaccard") < 1.0).any()


def test_verify_is_refused_by_the_executor_path(tmp_path: Path) -> None:
    files = near_corpus(tmp_path / "in")
    with pytest.raises(ConfigError, match="verify"):
        run_near_dedup_executor(files, tmp_path / "o", DedupConfig(mode="near", verify=True), rt("local"))
    with pytest.raises(ConfigError, match="near"):
        run_near_dedup_executor(files, tmp_path / "o", DedupConfig(mode="exact"), rt("local"))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40).flatmap(
    lambda n: st.tuples(st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=60))))
def test_components_min_root_matches_union_find(case: tuple[int, list[tuple[int, int]]]) -> None:
    n, edges = case
    a = np.array([e[0] for e in edges], dtype=np.int64)
    b = np.array([e[1] for e in edges], dtype=np.int64)
    assert components_min_root(n, a, b).tolist() == reference.component_roots(n, edges)


@pytest.mark.ray
@pytest.mark.parametrize("mode", ["near", "both"])
def test_near_dedup_on_ray_same_as_local(ray_cluster, tmp_path: Path, mode: str) -> None:
    files = near_corpus(tmp_path / "in")
    m = _compare(files, tmp_path, mode, "lowest-id", "ray", None)
    assert _near_stats(m)["near_duplicates"] >= 24


@pytest.mark.ray
def test_cli_near_dedup_executor_ray(ray_cluster, tmp_path: Path) -> None:
    """``sctool dedup --both --executor ray`` takes the cluster path (no in-process notice) and matches local."""
    address = ray_cluster.get_runtime_context().gcs_address
    files = near_corpus(tmp_path / "in")
    run_dedup(files, tmp_path / "local", DedupConfig(mode="both"), rt("local"))
    proc = run_cli("dedup", "--both", *files, "-o", tmp_path / "ray", "--batch-rows", "10", "--threads", "1",
                   "--quiet", "--executor", "ray", "--ray-address", address, "--json", check=True)
    assert "in this process" not in proc.stderr
    assert json.loads(proc.stdout)["near_dedup"]["near_duplicates"] >= 24
    assert_same_near(tmp_path / "local", tmp_path / "ray")


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), batch_rows=st.integers(1, 9), partitions=st.integers(1, 6),
       files=st.integers(1, 3), mode=st.sampled_from(["near", "both"]),
       keep=st.sampled_from(["lowest-id", "longest", "most-stars"]))
def test_random_corpora_match_engine(tmp_path_factory: pytest.TempPathFactory, seed: int, batch_rows: int,
                                     partitions: int, files: int, mode: str, keep: str) -> None:
    """Random near-duplicate families, exact copies, empty texts and tied stars: any layout, same output."""
    tmp = tmp_path_factory.mktemp("rand")
    rnd = random.Random(seed)
    vocab = [f"w{j}" for j in range(40)]
    bases = [[rnd.choice(vocab) for _ in range(rnd.randint(8, 60))] for _ in range(4)]
    paths = []
    for f in range(files):
        path = tmp / f"in{f}.jsonl"
        with open(path, "w", encoding="utf-8") as fh:
            for i in range(rnd.randint(3, 14)):
                words = list(rnd.choice(bases))
                for _ in range(rnd.randint(0, 3)):
                    words[rnd.randrange(len(words))] = rnd.choice(vocab)
                text = rnd.choice([" ".join(words), " ".join(words), "", "a"])
                fh.write(json.dumps({"id": f"d{rnd.randint(0, 30)}-{f}-{i}", "content": text,
                                     "max_stars_count": rnd.randint(0, 3)}) + "\n")
        paths.append(path)
    cfg = DedupConfig(mode=mode, keep=keep, bands=8, rows=4, num_perm=32, ngram=2)
    runtime = Runtime(batch_rows=batch_rows, quiet=True, threads=1)
    run_dedup(paths, tmp / "a", cfg, runtime)
    run_near_dedup_executor(paths, tmp / "b", cfg, runtime, partitions=partitions)
    assert_same_near(tmp / "a", tmp / "b")
