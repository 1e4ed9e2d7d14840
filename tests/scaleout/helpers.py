"""Comparisons shared by the scale-out tests."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from sctool.stages.base import Runtime, run_map_stage
from tests.scaleout import stagefns

# Manifest keys that describe a run rather than its result.
VOLATILE = {"seconds", "started_at", "finished_at", "output", "kernel_seconds", "resumed_parts"}


def assert_same_dataset(a: Path, b: Path) -> None:
    """Same part files (names, bytes, decoded content), same removed parts, same manifest counts."""
    for sub in ("", "removed"):
        fa = sorted((a / sub).glob("part-*.parquet"))
        fb = sorted((b / sub).glob("part-*.parquet"))
        assert [f.name for f in fa] == [f.name for f in fb], sub
        for x, y in zip(fa, fb):
            assert pl.read_parquet(x).equals(pl.read_parquet(y), null_equal=True), x.name
            assert x.read_bytes() == y.read_bytes(), x.name
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
    ma = json.loads((a / "manifest.json").read_text())
    mb = json.loads((b / "manifest.json").read_text())
    for m in (ma, mb):  # inputs in different directories: same files by name, size and fingerprint
        m["inputs"] = [{**i, "path": Path(i["path"]).name} for i in m["inputs"]]
        # Each process calibrates its own MinHash kernel (all give identical signatures): speed only.
        for kernel in ("signature_kernel", "sha1_kernel"):
            m.get("near_dedup", {}).get("engine", {}).pop(kernel, None)
    assert {k: v for k, v in ma.items() if k not in VOLATILE} == {k: v for k, v in mb.items() if k not in VOLATILE}


# Near-dedup manifest counters that describe how the in-process shuffle laid records out (the
# executor path has no such files), not what it found.
LAYOUT = ("spill_flushes", "bytes_spilled", "partition_files", "partition_splits")


def assert_same_near(a: Path, b: Path) -> None:
    """``assert_same_dataset`` for near-dedup outputs, the shuffle-layout counters left out."""
    for out in (a, b):
        m = json.loads((out / "manifest.json").read_text())
        for k in LAYOUT:
            m["near_dedup"]["engine"].pop(k, None)
        (out / "manifest.json").write_text(json.dumps(m))
    assert_same_dataset(a, b)


def toy_stage(corpus: list[Path], out: Path, runtime: Runtime, process=stagefns.toy_process):
    return run_map_stage(stage="toy", config={"rule": "ends_in_3"}, inputs=corpus, output=out,
                         runtime=runtime, process=process)
