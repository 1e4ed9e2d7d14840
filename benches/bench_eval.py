"""MultiPL-E execution: programs per second per language, and verdict agreement with MultiPL-E's criterion.

For every language whose toolchain is installed: the hand-translated solutions of 20 HumanEval
problems (tests/eval/data/multipl_e/<lang>/), each as a correct, a wrong and an empty completion,
built into MultiPL-E programs and

* run through ``sctool``'s sandboxed runner (compile + run inside the sandbox, all CPUs), timed;
* run through the transcribed MultiPL-E referee (:mod:`sctool.eval.multipl_e_referee`: plain
  subprocesses, MultiPL-E's command lines, no isolation, one at a time as MultiPL-E's evaluator
  runs a problem's completions), timed — the peer;
* checked: correct passes, wrong and empty fail, and the two verdicts agree on every program.

Needs MultiPL-E's problem files (../shared/data/benchmarks/multipl-e or ``SCTOOL_MULTIPL_E``).
``make bench`` runs 4 problems per language (12 programs per runner): compiling TypeScript, C++,
Go and Java programs one by one makes all 20 take ~25 minutes on 2 cores, more than the whole suite's
15-minute budget. ``SCTOOL_BENCH_FULL=1`` runs all 20; ``SCTOOL_BENCH_QUICK=1`` runs 2.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from benches.harness import md_table, write_report


def main() -> str:
    from tests.eval.multipl_e_solutions import MULTIPL_E, TRANSLATED, cases

    from sctool.eval import multipl_e as me
    from sctool.eval.multipl_e_languages import LANGUAGES, detect_toolchain
    from sctool.eval.multipl_e_referee import judge

    data = Path(os.environ.get("SCTOOL_MULTIPL_E", MULTIPL_E))
    quick = bool(os.environ.get("SCTOOL_BENCH_QUICK"))
    only = [x for x in os.environ.get("SCTOOL_BENCH_LANGS", "").split(",") if x]
    limit = 2 if quick else (None if os.environ.get("SCTOOL_BENCH_FULL") else 4)
    workers = os.cpu_count() or 1
    rows, verdict_rows, skipped = [], [], []
    total_diff = total_unexpected = 0
    for lang in only or TRANSLATED:
        spec = LANGUAGES[lang]
        tools = detect_toolchain(spec)
        if not tools.available:
            skipped.append(f"{spec.name}: {tools.reason}")
            continue
        if not (data / f"humaneval-{lang}.jsonl").is_file():
            skipped.append(f"{spec.name}: no {data}/humaneval-{lang}.jsonl")
            continue
        probs = me.load_problems(data, lang)
        todo = cases(lang, limit)
        programs = [probs[name].program(comp) for name, _c, comp in todo]
        t0 = time.perf_counter()
        ours = me.run_language_programs(spec, tools, programs, limits=me.limits_for(spec), workers=workers)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref = [judge(lang, p) for p in programs]
        t_ref = time.perf_counter() - t0
        unexpected = sum(v.passed != (case == "correct") for (_n, case, _), v in zip(todo, ours))
        differ = sum(a.passed != b.passed for a, b in zip(ours, ref))
        total_diff += differ
        total_unexpected += unexpected
        n = len(programs)
        statuses: dict[str, int] = {}
        for v in ours:
            statuses[v.status] = statuses.get(v.status, 0) + 1
        version = " ".join((tools.version or "?").split()[:4])[:40]
        rows.append([f"{spec.name} ({version})", n, n / t_ours, n / t_ref, t_ref / t_ours])
        verdict_rows.append([spec.name, len(todo) // 3, sum(v.passed for v in ours), unexpected, differ,
                             ", ".join(f"{k} {c}" for k, c in sorted(statuses.items()))])
    speed = md_table(
        ["language (toolchain)", "programs", f"sctool sandbox, {workers} workers: programs/s",
         "MultiPL-E referee (unsandboxed, sequential): programs/s", "ratio"],
        rows,
    )
    verdicts = md_table(["language", "problems", "passed", "unexpected verdicts", "differ from referee",
                         "sctool statuses"], verdict_rows)
    body = (
        "Each program is one MultiPL-E file (prompt + completion + tests); every program is compiled (where the "
        "language compiles) and run in its own fresh sandbox work directory — nothing compiled for one sample is "
        "reused for another, since the tests are compiled into the same unit as the sample's code. Programs/s "
        "counts compile + run.\n\n" + speed + "\n"
    )
    check = (
        "Correct, wrong and empty completions of hand-translated HumanEval solutions; "
        f"**{total_diff} verdicts differ** from the transcribed MultiPL-E criterion in total.\n\n" + verdicts + "\n"
    )
    if skipped:
        check += "\nSkipped (toolchain or data missing):\n\n" + "\n".join(f"- {s}" for s in skipped) + "\n"
    path = write_report("eval", "MultiPL-E execution: throughput and verdict agreement",
                        [("Throughput", body), ("Verdicts", check)],
                        config={"problems_per_language": limit or 20, "workers": workers},
                        packages=("sctool",))
    if total_diff or total_unexpected:
        raise AssertionError(f"{total_diff} verdicts differ from the MultiPL-E referee, {total_unexpected} "
                             f"unexpected; see {path}")
    return str(path)


if __name__ == "__main__":
    print(main())
