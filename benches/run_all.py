"""``make bench``: run every ``benches/bench_*.py`` (each writes its report to benches/results/).

``SCTOOL_BENCH_ONLY=neardup,pii`` runs a subset; ``SCTOOL_BENCH_QUICK=1`` shrinks the corpora so the
suite can be smoke-tested in minutes. At the end a summary table is printed: the CPU model, each
benchmark's minutes, and the rows of every report's ``## Summary`` section (headline figures, with
peer ratios measured in the same run).
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from pathlib import Path


def summary_rows(report: Path) -> list[tuple[str, str]]:
    """The ``| figure | value |`` rows of a report's ``## Summary`` section (none when it has none)."""
    try:
        text = report.read_text(encoding="utf-8")
    except OSError:
        return []
    if "\n## Summary" not in text:
        return []
    section = text.split("\n## Summary", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] not in ("figure", "") and not set(cells[0]) <= {"-"}:
            rows.append((cells[0], cells[1]))
    return rows


def print_summary(done: list[tuple[str, float, str]], failed: list[str]) -> None:
    from benches.harness import machine_info

    info = machine_info()
    print(f"\nsummary — {info['cpu']}, {info['cores']} cores, {info['memory']}")
    print("| benchmark | figure | value |")
    print("|---|---|---|")
    for name, seconds, out in done:
        rows = summary_rows(Path(out))
        print(f"| {name} | run time | {seconds / 60:.1f} min ({out}) |")
        for fig, val in rows:
            print(f"| {name} | {fig} | {val} |")
    for name in failed:
        print(f"| {name} | FAILED | see the log above |")
    sys.stdout.flush()


def main() -> int:
    here = Path(__file__).resolve().parent
    only = {s.strip() for s in os.environ.get("SCTOOL_BENCH_ONLY", "").split(",") if s.strip()}
    failed = []
    done: list[tuple[str, float, str]] = []
    for path in sorted(here.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        if only and name not in only:
            continue
        print(f"== bench {name}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            mod = importlib.import_module(f"benches.{path.stem}")
            out = mod.main()
            print(f"   {name}: {time.perf_counter() - t0:.0f} s -> {out}", file=sys.stderr)
            done.append((name, time.perf_counter() - t0, str(out)))
        except Exception as exc:  # one broken benchmark must not hide the others' results
            failed.append(name)
            print(f"   {name} FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
    print_summary(done, failed)
    if failed:
        print(f"failed benchmarks: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
