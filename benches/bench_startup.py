"""Start-up: from launching ``sctool <stage>`` to its first batch, milestone by milestone.

Each command runs with ``SCTOOL_TRACE_STARTUP=1`` (see ``sctool.startup_trace``); this process reads
``time.monotonic()`` just before it launches the command, so every milestone's wall time is exact
from launch (same system clock), and the trace's ``cpu`` is the command's own CPU time by then. A run
stops (SIGKILL) once its first batch is done, so a large input costs only its start.

Inputs: a small Parquet file (~4 MB of real code: the fixed cost) and, unless quick, a large
uncompressed one (the real corpus twice, up to 400 MB; its size is in the label: the whole-file
SHA-256 of the input, recorded for resume, and reading a large row group then matter).

Floor in the same run: a bare interpreter importing what every stage's first batch needs
(``import polars``; ``import polars, numpy, pyarrow.parquet``). A stage cannot start its first batch
before those imports finish, so the gap to the floor is what sctool itself adds.

``SCTOOL_STARTUP_TREES=before:/path/a,after:/path/b`` compares source trees (each put first on
PYTHONPATH) instead of the installed one, interleaving their runs; ``SCTOOL_STARTUP_COMMANDS=filter``,
``SCTOOL_STARTUP_INPUTS=large`` and ``SCTOOL_STARTUP_REPS=N`` narrow a run.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from benches.harness import WORK, md_table, real_corpus, write_report

SUMMARY: dict[str, str] = {}
#: The console script users run. (``python -m sctool_cli`` measured 0.06 s slower to the first batch
#: here, all of it inside NumPy's import; the cause was not found.)
SCTOOL = Path(sys.executable).parent / "sctool"
MILESTONES = ["cli_entry", "parser_built", "args_parsed", "writer_ready", "first_batch_read", "first_batch_map",
              "first_batch_done"]
FLOORS = {"import polars": "import polars", "import polars, numpy, pyarrow.parquet":
          "import polars, numpy, pyarrow.parquet"}


def _inputs(work: Path, quick: bool) -> dict[str, Path]:
    work.mkdir(parents=True, exist_ok=True)
    out = {"small (4 MB)": work / "small.parquet"}
    if not quick:
        out["large"] = work / "large.parquet"
    if not all(p.exists() for p in out.values()):
        docs = real_corpus(200_000_000 if not quick else 4_000_000)
        small, total = [], 0
        for path, text in docs:
            if total >= 4_000_000:
                break
            small.append((path, text))
            total += len(text.encode())
        pl.DataFrame({"path": [p for p, _ in small], "content": [t for _, t in small]}).write_parquet(
            out["small (4 MB)"])
        if not quick:
            frame = pl.DataFrame({"path": [p for p, _ in docs], "content": [t for _, t in docs]})
            pl.concat([frame, frame]).write_parquet(out["large"], compression="uncompressed")
    if "large" in out:
        large = out.pop("large")
        out[f"large ({large.stat().st_size / 1e6:.0f} MB, uncompressed)"] = large
    return out


def _tokenizer(work: Path) -> Path:
    path = work / "tokenizer.json"
    if not path.exists():
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel()
        texts = [t for _, t in real_corpus(2_000_000)]
        tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=2000, special_tokens=["<|endoftext|>", "<unk>"]))
        tok.save(str(path))
    return path


def _env(tree: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SCTOOL_TRACE_STARTUP"}
    env["SCTOOL_TRACE_STARTUP"] = "1"
    if tree:
        env["PYTHONPATH"] = os.pathsep.join([tree, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
    return env


def run_traced(argv: list[str], env: dict[str, str], stop_at: str) -> dict[str, tuple[float, float]]:
    """Launch ``sctool argv`` (the installed script, as users run it); {milestone: (wall s from launch,
    CPU s)} until ``stop_at``."""
    marks: dict[str, tuple[float, float]] = {}
    t0 = time.monotonic()
    proc = subprocess.Popen([str(SCTOOL), *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    tail: list[str] = []
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("sctool-trace "):
            name, *fields = line.split()[1:]
            kv = dict(f.split("=", 1) for f in fields if "=" in f)
            marks[name] = (float(kv["mono"]) - t0, float(kv["cpu"]))
            if name == stop_at:
                os.killpg(proc.pid, signal.SIGKILL)
                break
        else:
            tail.append(line)
    proc.wait()
    if stop_at not in marks:
        raise RuntimeError(f"sctool {' '.join(argv)} ended before {stop_at}:\n{''.join(tail[-20:])}")
    return marks


def run_floor(code: str, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of a bare ``python -c code`` (the imports a first batch cannot do without)."""
    return run_timed([sys.executable, "-c", code], env)


def run_timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of one command run to its end."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    if status != 0:
        raise RuntimeError(f"{argv} failed")
    return wall, ru.ru_utime + ru.ru_stime


def _commands(src: Path, out: Path, tok: Path) -> dict[str, tuple[list[str], str]]:
    common = ["-o", str(out), "--overwrite", "--quiet"]
    return {
        "filter": (["filter", str(src), *common], "first_batch_done"),
        "redact": (["redact", str(src), *common], "first_batch_done"),
        "dedup": (["dedup", str(src), *common], "first_batch_read"),
        "tokenize": (["tokenize", str(src), "-o", str(out / "tok"), "--tokenizer", str(tok), "--overwrite", "--quiet"],
                     "first_batch_read"),
    }


def _clean(out: Path) -> None:
    """Remove what a run stopped at its first batch leaves: output, staging, near-dedup spill directories."""
    for p in (out, out.parent / f".{out.name}.sctool-partial", out.parent / f".{out.name}.sctool-old",
              *out.parent.glob(".sctool-neardup-*")):
        shutil.rmtree(p, ignore_errors=True)


def main() -> str:
    quick = bool(os.environ.get("SCTOOL_BENCH_QUICK"))
    reps = int(os.environ.get("SCTOOL_STARTUP_REPS", 3 if quick else 5))
    work = WORK / "startup"
    inputs = _inputs(work, quick)
    tok = _tokenizer(work)
    trees: list[tuple[str, str | None]] = [("installed", None)]
    if os.environ.get("SCTOOL_STARTUP_TREES"):
        trees = [(t.split(":", 1)[0], t.split(":", 1)[1]) for t in os.environ["SCTOOL_STARTUP_TREES"].split(",")]
    only_cmds = {x for x in os.environ.get("SCTOOL_STARTUP_COMMANDS", "").split(",") if x}
    only_inputs = {x for x in os.environ.get("SCTOOL_STARTUP_INPUTS", "").split(",") if x}
    # Without bytecode: Python looks for cached bytecode only under an empty prefix and writes none, so
    # every module is compiled from source, as in a uv-installed venv under PYTHONDONTWRITEBYTECODE
    # (why scripts/setup-venv.sh and `make build` compile it ahead of time).
    no_pyc_dir = work / "no-pycache"
    shutil.rmtree(no_pyc_dir, ignore_errors=True)
    no_pyc_dir.mkdir(parents=True)
    no_pyc = {"PYTHONPYCACHEPREFIX": str(no_pyc_dir), "PYTHONDONTWRITEBYTECODE": "1"}
    no_pyc_runs: list[dict[str, tuple[float, float]]] = []
    no_pyc_floor: list[tuple[float, float]] = []
    floor_all = "import polars, numpy, pyarrow.parquet"
    load0 = os.getloadavg()
    samples: dict[tuple, list[dict[str, tuple[float, float]]]] = {}
    floors: dict[str, list[tuple[float, float]]] = {k: [] for k in FLOORS}
    version: list[tuple[float, float]] = []
    for _rep in range(reps):
        for label, code in FLOORS.items():
            floors[label].append(run_floor(code))
        version.append(run_timed([str(SCTOOL), "--version"]))
        if not only_cmds or "filter" in only_cmds:
            no_pyc_floor.append(run_floor(FLOORS[floor_all], {**os.environ, **no_pyc}))
            argv, stop_at = _commands(inputs["small (4 MB)"], work / "out", tok)["filter"]
            _clean(work / "out")
            no_pyc_runs.append(run_traced(argv, {**_env(None), **no_pyc}, stop_at))
            _clean(work / "out")
        for dname, src in inputs.items():
            if only_inputs and not any(dname.startswith(x) for x in only_inputs):
                continue
            for cmd, (argv_tmpl, stop_at) in _commands(src, work / "out", tok).items():
                if (only_cmds and cmd not in only_cmds) or (dname.startswith("large") and cmd == "redact"):
                    continue  # redact's first batch on the large input is PII scanning, not start-up
                for tname, tree in trees:  # interleaved: every tree runs in the same conditions
                    _clean(work / "out")
                    samples.setdefault((cmd, dname, tname), []).append(run_traced(argv_tmpl, _env(tree), stop_at))
                    _clean(work / "out")
    load1 = os.getloadavg()

    def med(runs: list[dict[str, tuple[float, float]]], m: str, i: int) -> float | None:
        vals = [r[m][i] for r in runs if m in r]
        return statistics.median(vals) if vals else None

    def cell(runs: list[dict[str, tuple[float, float]]], m: str) -> str:
        w, c = med(runs, m, 0), med(runs, m, 1)
        return "—" if w is None else f"{w:.2f} / {c:.2f}"

    shown = ["cli_entry", "parser_built", "writer_ready", "first_batch_read", "first_batch_map", "first_batch_done"]
    rows = []
    for (cmd, dname, tname), runs in samples.items():
        rows.append([cmd, dname, *([tname] if len(trees) > 1 else []), *[cell(runs, m) for m in shown]])
    header = ["command", "input", *(["tree"] if len(trees) > 1 else []), *shown]
    floor_rows = [[label, f"{statistics.median(w for w, _ in v):.2f}", f"{statistics.median(c for _, c in v):.2f}"]
                  for label, v in floors.items()]
    floor_cpu = statistics.median(c for _, c in floors[floor_all])
    starts = {cmd: [med(runs, "first_batch_map" if "first_batch_map" in runs[0] else "first_batch_read", i)
                    for i in (0, 1)]
              for (cmd, dname, tname), runs in samples.items() if dname.startswith("small") and tname == trees[-1][0]}
    if starts:
        wall_cmd = max(starts, key=lambda c: starts[c][0] or 0.0)
        SUMMARY["first batch starts, small input, wall s from launch (worst stage; target 0.3)"] = \
            f"{starts[wall_cmd][0]:.2f} ({wall_cmd})"
        SUMMARY["first batch starts, small input, CPU s from launch (worst stage)"] = \
            f"{max(c for _, c in starts.values() if c is not None):.2f}"
    SUMMARY["floor: import polars, numpy, pyarrow.parquet, CPU s"] = f"{floor_cpu:.2f}"
    SUMMARY["sctool --version, wall s (target 0.15)"] = f"{statistics.median(w for w, _ in version):.2f}"
    no_pyc_section = ""
    if no_pyc_runs:
        SUMMARY["filter, small input, first batch starts without bytecode, wall s from launch"] = \
            f"{med(no_pyc_runs, 'first_batch_map', 0):.2f}"
        no_pyc_section = (
            "The same `filter` run on the small input, and the floor, with every module compiled from source "
            "(`PYTHONPYCACHEPREFIX` = an empty directory, `PYTHONDONTWRITEBYTECODE=1`): what each command "
            "costs in a venv installed without bytecode (uv's default) where Python may not cache it. "
            "Median wall / CPU s:\n\n"
            + md_table(["run", *shown],
                       [["filter, small (4 MB), no bytecode", *[cell(no_pyc_runs, m) for m in shown]]])
            + "\n\n" + md_table(["python -c", "wall s", "CPU s"],
                                 [[f"{floor_all} (no bytecode)",
                                   f"{statistics.median(w for w, _ in no_pyc_floor):.2f}",
                                   f"{statistics.median(c for _, c in no_pyc_floor):.2f}"]])
        )
    body = (
        f"Median of {reps} runs, interleaved{' across trees' if len(trees) > 1 else ''}; "
        f"each cell is **wall s from launch / CPU s of the command by then**. Load average "
        f"{load0[0]:.1f} at the start, {load1[0]:.1f} at the end on 2 cores: wall times are inflated by other "
        "work on a busy machine, CPU seconds much less so. Each run launches the installed `sctool` script.\n\n"
        + md_table(header, rows)
        + "\n\nMilestones: `parser_built` = the chosen command's module and its stage imported (Polars, NumPy, "
        "PyArrow, the native module) and its parser generated; `writer_ready` = inputs resolved, output lock "
        "taken, staging prepared (per-document stages); `first_batch_read` = the first batch read and "
        "normalised; `first_batch_map` = it enters the stage's `map`; `first_batch_done` = `map` returned.\n\n"
        "Floor, same run (bare interpreter, median wall / CPU s):\n\n"
        + md_table(["python -c", "wall s", "CPU s"], floor_rows)
    )
    sections = [("Milestones", body),
                *([("Without bytecode", no_pyc_section)] if no_pyc_section else []),
                ("Summary", md_table(["figure", "value"], list(SUMMARY.items())))]
    return str(write_report("startup", "Start-up: launch to the first batch", sections,
                            config={"reps": reps, "inputs": list(inputs), "trees": [t for t, _ in trees]},
                            packages=("sctool", "polars", "pyarrow", "numpy", "tokenizers")))


if __name__ == "__main__":
    print(main())
