"""``make bench``: run every ``benches/bench_*.py`` (each writes its report to benches/results/).

``SCTOOL_BENCH_ONLY=neardup,pii`` runs a subset; ``SCTOOL_BENCH_QUICK=1`` shrinks the corpora so the
suite can be smoke-tested in minutes.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from pathlib import Path


def main() -> int:
    here = Path(__file__).resolve().parent
    only = {s.strip() for s in os.environ.get("SCTOOL_BENCH_ONLY", "").split(",") if s.strip()}
    failed = []
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
        except Exception as exc:  # one broken benchmark must not hide the others' results
            failed.append(name)
            print(f"   {name} FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
    if failed:
        print(f"failed benchmarks: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
