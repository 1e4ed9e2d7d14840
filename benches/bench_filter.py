"""Quality filters: statistics and rule evaluation throughput on the real corpus.

Peer: The Stack's statistics written the usual way in Python (``splitlines``, ``isalpha() or
isnumeric()`` per character), which is what a pipeline without precomputed columns runs. Both
wall-clock MB/s and MB per CPU-second are reported: the second is the per-core figure and is less
disturbed by other work on a shared machine.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

import polars as pl

from benches.harness import corpus_bytes, md_table, peak_rss_mb, real_corpus, write_report
from sctool.filters import evaluate, load_rules, text_stats
from sctool.languages import detect_language
from sctool.stages.base import Runtime
from sctool.stages.filter import FilterConfig, run_filter


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn, repeat: int = 3) -> tuple[float, float]:
    """Best wall seconds and best CPU seconds over ``repeat`` runs."""
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeat):
        c0, t0 = _cpu(), time.perf_counter()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, _cpu() - c0)
    return wall, cpu


def python_reference(texts: list[str]) -> list[tuple]:
    out = []
    for t in texts:
        lines = t.splitlines()
        n = len(t)
        out.append((max([0] + [len(x) for x in lines]),
                    sum(len(x) for x in lines) / len(lines) if lines else 0.0,
                    sum(c.isalpha() or c.isnumeric() for c in t) / n if n else 0.0,
                    sum(c.isalpha() for c in t) / n if n else 0.0,
                    "<?xml version=" in t[:100]))
    return out


def main() -> str:
    quick = bool(os.environ.get("SCTOOL_BENCH_QUICK"))
    corpus = real_corpus(20_000_000 if quick else 200_000_000)
    paths = [p for p, _ in corpus]
    texts = [t for _, t in corpus]
    mb = corpus_bytes(texts) / 1e6
    df = pl.DataFrame({"content": texts, "path": paths, "lang": [detect_language(p) or "" for p in paths]})
    series = df.get_column("content")
    starcoder = load_rules(["starcoder"])
    both = load_rules(["starcoder", "autogen"])
    rows = []
    w, c = timed(lambda: text_stats(series, threads=1))
    rows.append(["sctool text statistics, 1 thread", mb / w, mb / c])
    w, c = timed(lambda: text_stats(series, threads=0))
    rows.append(["sctool text statistics, all threads", mb / w, mb / c])
    w, c = timed(lambda: evaluate(df, starcoder, threads=1))
    rows.append(["sctool evaluate, starcoder preset, 1 thread", mb / w, mb / c])
    w, c = timed(lambda: evaluate(df, both, threads=1))
    rows.append(["sctool evaluate, starcoder + autogen, 1 thread", mb / w, mb / c])
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.parquet"
        df.write_parquet(src)
        w, c = timed(lambda: run_filter([src], Path(tmp) / "out", FilterConfig(),
                                       Runtime(threads=1, quiet=True, overwrite=True)), repeat=1)
        rows.append(["`sctool filter` stage end to end (Parquet in/out), 1 thread", mb / w, mb / c])
    sample = texts[: max(1, len(texts) // 20)]
    smb = corpus_bytes(sample) / 1e6
    w, c = timed(lambda: python_reference(sample), repeat=1)
    rows.append([f"Python reference statistics (on a {smb:.1f} MB sample)", smb / w, smb / c])
    speed = md_table(["method", "MB/s (wall)", "MB per CPU-second"], rows)

    res = evaluate(df, both, threads=0)
    nbytes = res.stats.get_column("n_bytes")
    summary = (pl.DataFrame({"reason": res.reason, "bytes": nbytes}).drop_nulls("reason")
               .group_by("reason").agg(pl.len().alias("docs"), pl.col("bytes").sum().alias("bytes"))
               .sort("docs", descending=True))
    removed = md_table(["rule", "docs", "MB"], [[r, d, b / 1e6] for r, d, b in summary.iter_rows()])
    body = (f"Corpus: {len(texts):,} files, {mb:,.1f} MB (stdlib + site-packages + /usr/include).\n\n{speed}\n\n"
            f"Target: >= 200 MB/s per core. Peak RSS: {peak_rss_mb():,.0f} MB.\n")
    rem = (f"Documents the starcoder + autogen presets remove from this corpus (first rule that fired):\n\n"
           f"{removed}\n")
    return str(write_report("filter", "Quality filters: throughput", [("Throughput", body), ("Removals", rem)],
                            packages=("sctool", "polars")))


if __name__ == "__main__":
    print(main())
