"""Fixtures of the scale-out tests: a corpus spread over several files and a real local Ray cluster.

The cluster binds to loopback only (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` makes Ray use
127.0.0.1 for every server), has 2 CPUs and a small object store, and is shared by every Ray test
of the session: starting Ray costs ~15-20 s on a busy 2-core machine.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scaleout import stagefns


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ray: starts a local Ray cluster (skipped when ray is not installed)")


HAS_RAY = importlib.util.find_spec("ray") is not None


def write_corpus(root: Path, files: int = 4, docs_per_file: int = 37, bad_lines: bool = True) -> list[Path]:
    """JSONL files of code-like documents: duplicates across files, PII, benchmark text, a null, bad lines."""
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for k in range(files):
        path = root / f"shard{k}.jsonl"
        with open(path, "w", encoding="utf-8") as fh:
            for i in range(docs_per_file):
                fh.write(json.dumps({"id": f"f{k}-{i}", "path": f"src/m{i % 5}.py",
                                     "content": stagefns.document(k, i)}) + "\n")
                if bad_lines and i == 11:
                    fh.write('{"id": "broken", "content": \n')
        out.append(path)
    return out


@pytest.fixture
def corpus(tmp_path: Path) -> list[Path]:
    return write_corpus(tmp_path / "in")


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[object]:
    """A 2-CPU Ray cluster on 127.0.0.1 for the whole session; workers can import the test helpers."""
    if not HAS_RAY:
        pytest.skip("ray is not installed (pip install 'sctool[ray]')")
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # read when ray is imported: loopback only
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError as exc:
        pytest.skip(f"ray is not importable ({exc}); pip install 'sctool[ray]'")

    if ray.is_initialized():  # pragma: no cover - another fixture of this session started it
        yield ray
        return
    # The test helpers travel by value, so workers need not find the tests package on their path.
    ray.cloudpickle.register_pickle_by_value(stagefns)
    temp = tempfile.mkdtemp(prefix="sct-ray-", dir="/tmp")  # short: Ray's socket paths have a length limit
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=150 * 1024 * 1024,
             log_to_driver=False, _temp_dir=temp)
    try:
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
