"""Local near-dedup cost check: ``sctool dedup --near`` on ~200 MB of real code, CPU seconds and peak RSS.

Run as ``python -m benches.dedup_steps_check [PYTHONPATH_ROOT ...]``: each root (a checkout's
``python`` + ``cli`` directories, ``.`` for this one) runs the same command in its own process,
interleaved over ``SCTOOL_STEPS_REPEAT`` rounds (default 3), so two versions of the dedup code are
compared on one machine under the same load. The corpus is ``neardup_scale``'s: real code from this
machine (half of it) plus one renamed copy, so half the documents have a near duplicate.
Prints one JSON line per run and a summary (median CPU seconds, median peak RSS) per root.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("SCTOOL_SCALE_BASE_MB", "100")

from benches.harness import WORK
from benches.neardup_scale import build_parts

REPO = Path(__file__).resolve().parents[1]
CHILD = """
import json, os, time
from sctool_cli.main import main
from sctool import _native
c0 = os.times()
rc = main(['dedup', *{inputs!r}, '-o', {out!r}, '--near', '--threads', '1', '--overwrite', '--quiet'])
c1 = os.times()
m = json.load(open({out!r} + '/manifest.json'))
print(json.dumps({{'cpu': c1.user + c1.system - c0.user - c0.system, 'rc': rc,
                  'removed': m['docs_in'] - m['docs_out'], 'kernel': _native.minhash_kernel()[0]}}))
for _l in open('/proc/self/status'):
    if _l.startswith('VmHWM:'):
        print('__RSS__', int(_l.split()[1]) / 1024)
"""


def run_once(root: Path, inputs: list[str], out: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = f"{root / 'python'}:{root / 'cli'}"
    code = CHILD.format(inputs=inputs, out=str(out))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd="/tmp")
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    res: dict = {"root": str(root)}
    for line in proc.stdout.splitlines():
        if line.startswith("__RSS__"):
            res["peak_rss_mb"] = float(line.split()[1])
        elif line.startswith("{"):
            res.update(json.loads(line))
    return res


def main(roots: list[str]) -> None:
    work = WORK / "dedup-steps"
    parts = build_parts(200_000_000, work / "in")
    inputs = [str(p) for p, _ in parts]
    mb = sum(n for _, n in parts) / 1e6
    repeat = int(os.environ.get("SCTOOL_STEPS_REPEAT", "3"))
    runs: dict[str, list[dict]] = {r: [] for r in roots}
    for _ in range(repeat):
        for r in roots:
            res = run_once(Path(r).resolve(), inputs, work / "out")
            print(json.dumps(res), flush=True)
            runs[r].append(res)
    for r, rs in runs.items():
        cpu = statistics.median(x["cpu"] for x in rs)
        rss = statistics.median(x["peak_rss_mb"] for x in rs)
        print(f"{r}: {mb:.0f} MB, median {cpu:.2f} CPU-s ({mb / cpu:.1f} MB per CPU-second), "
              f"peak RSS {rss:.0f} MB, removed {rs[0]['removed']}, kernel {rs[0]['kernel']}; "
              f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:] or [str(REPO)])
