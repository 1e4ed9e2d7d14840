"""Near-dedup scale check: ``sctool dedup --near --memory-budget 2G`` on GBs of real code.

Not part of ``make bench`` (it takes minutes per GB on a 2-core machine); run it as
``python -m benches.neardup_scale [GB ...]`` (default 0.5 1 2). The corpus is the machine's real
code (``harness.real_corpus``, ~200 MB) repeated; every copy after the first renames the
identifiers that start with one copy-specific letter (``name`` → ``name_k3``), so copies are
near-duplicates of their original at various Jaccard similarities rather than exact repeats, and
the work (shingles, signatures, band records, clusters) grows with the corpus like a real crawl's.

Each size runs the CLI in its own process; the result (wall and CPU seconds, peak RSS, removed
documents) goes to ``benches/results/neardup_scale.json``, which ``bench_neardup`` quotes in
``neardup.md``.
"""

from __future__ import annotations

import json
import os
import shutil
import string
import sys
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from benches.harness import RESULTS, WORK, machine_info, measure_in_subprocess, real_corpus

BASE_BYTES = int(os.environ.get("SCTOOL_SCALE_BASE_MB", "200")) * 1_000_000
BUDGET = "2GiB"
# One worker thread by default: the figure is CPU seconds per GB, which a busy shared machine
# inflates least when the run does not compete with itself (SCTOOL_SCALE_THREADS=0 = all cores).
THREADS = os.environ.get("SCTOOL_SCALE_THREADS", "1")

CHILD = """
import json, os, time
from sctool_cli.main import main
t, c0 = time.perf_counter(), os.times()
rc = main(['dedup', *{inputs!r}, '-o', {out!r}, '--near', '--memory-budget', {budget!r}, '--threads', {threads!r}, '--overwrite', '--quiet'])
c1 = os.times()
print(json.dumps({{'seconds': time.perf_counter() - t, 'cpu': c1.user + c1.system - c0.user - c0.system, 'rc': rc}}))
"""


def build_parts(target_bytes: int, work: Path) -> list[tuple[Path, int]]:
    """Parquet parts (one per copy) until ``target_bytes`` of text; returns (path, text bytes)."""
    work.mkdir(parents=True, exist_ok=True)
    base = real_corpus(BASE_BYTES)
    frame = pl.DataFrame({"path": [p for p, _ in base], "content": [t for _, t in base]})
    del base
    base_bytes = int(frame["content"].str.len_bytes().sum())
    parts: list[tuple[Path, int]] = []
    total, k = 0, 0
    letters = string.ascii_lowercase
    while total < target_bytes:
        path = work / f"part-{k:05d}.parquet"
        if not path.exists():
            content = pl.col("content")
            if k:
                letter = letters[(k * 7) % 26]
                content = content.str.replace_all(rf"\b([{letter}{letter.upper()}][A-Za-z0-9_]{{2,}})\b",
                                                  f"${{1}}_k{k}")
            out = frame.select(
                (pl.lit(f"{k:05d}:") + pl.int_range(pl.len()).cast(pl.String).str.zfill(7)).alias("id"),
                content.alias("content"),
            )
            out.write_parquet(path)
            size = int(out["content"].str.len_bytes().sum())
        else:
            size = int(pl.read_parquet(path, columns=["content"])["content"].str.len_bytes().sum())
        parts.append((path, size))
        total += size
        k += 1
    print(f"base corpus {base_bytes / 1e6:,.0f} MB, {len(parts)} copies, {total / 1e9:.2f} GB", file=sys.stderr)
    return parts


def _commit() -> str:
    """The measured source: HEAD, marked ``+dirty`` when tracked files under python/ or rust/ differ."""
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "python", "rust"],
                               cwd=repo, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def main(sizes_gb: list[float]) -> Path:
    commit = os.environ.get("SCTOOL_SCALE_COMMIT") or _commit()  # before the minutes of work
    work = WORK / "neardup-scale"
    parts = build_parts(int(max(sizes_gb) * 1e9), work / f"in-{BASE_BYTES // 1_000_000}mb")
    runs = []
    for gb in sizes_gb:
        chosen, total = [], 0
        for p, n in parts:
            if total >= gb * 1e9:
                break
            chosen.append(str(p))
            total += n
        out = work / "out"
        r = measure_in_subprocess(CHILD.format(inputs=chosen, out=str(out), budget=BUDGET, threads=THREADS), timeout=7200)
        manifest = json.loads((out / "manifest.json").read_text())
        removed = manifest["removed"].get("near_duplicate", 0)
        runs.append({
            "gb": round(total / 1e9, 3), "documents": manifest.get("docs_in"), "removed": removed, "seconds": round(r["seconds"], 1),
            "cpu_seconds": round(r["cpu"], 1), "peak_rss_mb": round(r["peak_rss_mb"]),
            "cpu_s_per_gb": round(r["cpu"] / (total / 1e9), 1),
            "engine": manifest.get("near_dedup", {}).get("engine", {}),
        })
        print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
        shutil.rmtree(out, ignore_errors=True)
    result = {
        "run": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "load_average": os.getloadavg(),
        "memory_budget": BUDGET,
        "threads": int(THREADS),
        "commit": commit,
        "base_corpus_mb": BASE_BYTES / 1e6,
        "runs": runs,
    }
    path = RESULTS / "neardup_scale.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    print(main([float(x) for x in sys.argv[1:]] or [0.5, 1.0, 2.0]))
