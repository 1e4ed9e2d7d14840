"""Run untrusted generated programs, one sandboxed process tree per program, many in parallel.

Two kinds of job: a Python program (``run_program`` / ``run_programs``, the HumanEval/MBPP path) and a
command job (``run_command`` / ``run_commands``): files written into a fresh private working
directory, an optional compile command and a run command, each under its own limits — the
MultiPL-E path for compiled and interpreted languages.

Each job runs under ``_sandbox_child.py`` (see its docstring and docs/sandbox.md for the layers:
namespaces with a minimal root, rlimits, no capabilities, seccomp, Landlock where namespaces are
missing, and for Python an audit hook). This module owns the outside: a throw-away directory per job,
a backstop timeout that kills the whole process group if even the supervisor stops answering, a
thread pool, and the refusal to run at all when the machine grants no isolation and the user did not
ask for an unsafe run. Whatever a sample does, the caller gets an ``ExecResult``; the harness never
hangs or raises because of a sample.

Slow machines: the wall limit starts when the sample starts (interpreter start-up is not charged),
and a sample that hit the wall limit while getting less than half a CPU (an overloaded machine, not
a slow program) is re-run once on its own when ``retry_starved`` is on. Both facts go into the
result, so a score is never silently lowered by load.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sctool.errors import ConfigError

CHILD = Path(__file__).with_name("_sandbox_child.py")
STATUSES = ("passed", "failed", "timeout", "violation", "error", "compile_error")
REFUSED = "sandbox refused: "


@dataclass(frozen=True)
class SandboxConfig:
    """Limits for one program; recorded verbatim in every result file."""

    timeout_s: float = field(
        default=3.0, metadata={"help": "wall-clock seconds per program (bigcode-evaluation-harness default: 3.0)"}
    )
    cpu_time_s: float | None = field(
        default=None,
        metadata={"help": "CPU seconds per program (default: timeout_s; command jobs: timeout_s x CPUs)"},
    )
    memory_mb: int = field(default=1024, metadata={"help": "address-space limit per program, MiB (0 = none)"})
    max_processes: int = field(default=32, metadata={"help": "RLIMIT_NPROC for the program's user"})
    max_file_mb: int = field(default=64, metadata={"help": "largest file the program may write, MiB"})
    max_written_mb: int = field(
        default=256,
        metadata={"help": "total bytes a job may keep written (working dir + /tmp + /dev/shm), MiB"},
    )
    max_files: int = field(default=65536, metadata={"help": "files and directories a job may create"})
    max_open_files: int = field(default=128, metadata={"help": "open file descriptors per program"})
    compile_timeout_s: float = field(default=60.0, metadata={"help": "wall-clock seconds per compile step"})
    compile_cpu_time_s: float | None = field(
        default=None, metadata={"help": "CPU seconds per compile step (default: compile_timeout_s x CPUs)"}
    )
    compile_memory_mb: int = field(
        default=0, metadata={"help": "address-space limit per compile step, MiB (0 = none; JITs reserve a lot)"}
    )
    compile_max_processes: int = field(default=512, metadata={"help": "RLIMIT_NPROC for a compile step"})
    compile_max_open_files: int = field(default=4096, metadata={"help": "open file descriptors per compile step"})
    output_tail_kb: int = field(default=8, metadata={"help": "stdout/stderr kept per step (the last N KiB)"})
    namespaces: bool = field(
        default=True, metadata={"help": "use Linux namespaces (network, PID, a minimal read-only root) where the OS allows"}
    )
    unsafe_no_isolation: bool = field(
        default=False,
        metadata={"help": "run even where neither namespaces nor Landlock can contain the program (UNSAFE)"},
    )
    drop_root: bool = field(default=True, metadata={"help": "when running as root, run programs under a uid of their own"})
    site_packages: bool = field(
        default=False,
        metadata={"help": "let programs import installed packages (default: standard library only, faster start)"},
    )
    startup_grace_s: float = field(
        default=30.0, metadata={"help": "extra seconds for interpreter start-up before the backstop kill"}
    )
    reuse_interpreter: bool = field(
        default=True,
        metadata={"help": "fork each program from a pre-started clean interpreter instead of starting a new one"},
    )
    retry_starved: bool = field(
        default=True, metadata={"help": "re-run once a program that timed out while starved of CPU"}
    )
    workers: int = field(default=0, metadata={"help": "programs run in parallel (0 = CPU count)"})

    def __post_init__(self) -> None:
        if self.timeout_s <= 0 or (self.cpu_time_s is not None and self.cpu_time_s <= 0):
            raise ConfigError(f"sandbox timeouts must be positive, got {self.timeout_s} / {self.cpu_time_s}")
        if self.compile_timeout_s <= 0 or (self.compile_cpu_time_s is not None and self.compile_cpu_time_s <= 0):
            raise ConfigError("sandbox compile timeouts must be positive")
        if 0 < self.memory_mb < 64 or self.memory_mb < 0:
            raise ConfigError(f"sandbox memory_mb must be 0 (none) or at least 64 (Python itself needs it), got {self.memory_mb}")
        if 0 < self.compile_memory_mb < 64 or self.compile_memory_mb < 0:
            raise ConfigError(f"sandbox compile_memory_mb must be 0 (none) or at least 64, got {self.compile_memory_mb}")
        if (self.max_processes < 1 or self.compile_max_processes < 1 or self.max_file_mb < 0 or self.max_open_files < 16
                or self.compile_max_open_files < 16 or self.workers < 0 or self.max_written_mb < 1
                or self.max_files < 16 or self.output_tail_kb < 0):
            raise ConfigError(
                "sandbox limits out of range (max_processes >= 1, max_open_files >= 16, max_written_mb >= 1, "
                "max_files >= 16, workers >= 0)"
            )

    @property
    def effective_workers(self) -> int:
        return self.workers or (os.cpu_count() or 1)


@dataclass(frozen=True)
class CommandJob:
    """One program in any language: files, an optional compile step, a run step.

    The run step's exit status 0 is ``passed``; a compile step that exits non-zero (or is killed) is
    ``compile_error``. Both steps run under the same isolation with their own limits; the working
    directory is private to the job and nothing is cached between jobs.
    """

    files: Mapping[str, str | bytes]        # relative paths written into a fresh private work dir (the cwd)
    run: Sequence[str]                      # argv run after compile; 'passed' iff exit status 0
    compile: Sequence[str] | None = None    # optional argv run first, own time limit; exit != 0 -> 'compile_error'
    timeout: float | None = None            # run-step wall limit (default: config.timeout_s)
    compile_timeout: float | None = None    # compile-step wall limit (default: config.compile_timeout_s)
    env: Mapping[str, str] = field(default_factory=dict)
    read_paths: Sequence[str] = ()          # extra host paths made visible read-only (toolchains outside /usr)
    memory_mb: int | None = None            # run-step address-space limit (default: config.memory_mb; 0 = none)
    compile_memory_mb: int | None = None    # default: config.compile_memory_mb
    max_processes: int | None = None        # run-step RLIMIT_NPROC (default: config.max_processes)
    compile_max_processes: int | None = None
    cpu_time: float | None = None           # run-step CPU seconds (default: config.cpu_time_s or timeout x CPUs)


@dataclass
class ExecResult:
    """Outcome of one job: ``status`` is one of passed, failed, timeout, violation, error, compile_error.

    ``returncode`` (negative: killed by that signal), ``stdout`` and ``stderr`` (the last
    ``output_tail_kb`` KiB; command jobs only — a Python verdict's reason is in ``detail``) belong
    to the step the verdict is about: the compile step for a ``compile_error``, the run step
    otherwise. They are data for callers with their own verdict rules; the status itself never
    depends on what the program printed.
    """

    status: str
    detail: str = ""
    wall_s: float = 0.0
    cpu_s: float = 0.0
    runqueue_s: float | None = None
    retried: bool = False
    layers: dict[str, Any] = field(default_factory=dict)
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    step: str = ""
    compile_wall_s: float | None = None
    compile_cpu_s: float | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def starved(self) -> bool:
        """Timed out while waiting for a CPU for a large part of its time: the machine's fault."""
        return self.status == "timeout" and self.runqueue_s is not None and self.runqueue_s >= 0.3 * self.wall_s

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _common(cfg: SandboxConfig, workdir: str, kind: str) -> dict[str, Any]:
    return {
        "id": secrets.token_hex(8),
        "kind": kind,
        "workdir": workdir,
        "namespaces": cfg.namespaces,
        "drop_root": cfg.drop_root,
        "unsafe_no_isolation": cfg.unsafe_no_isolation,
        "max_written_bytes": cfg.max_written_mb * 1024 * 1024,
        "max_inodes": cfg.max_files,
        "tail_bytes": cfg.output_tail_kb * 1024,
        "pass_code": 2 + secrets.randbelow(118),
        "env": {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"},
        "read_paths": [],
    }


def _job(program: str, workdir: str, cfg: SandboxConfig, timeout_scale: float) -> dict[str, Any]:
    job = _common(cfg, workdir, "python")
    job["program"] = program
    job["steps"] = [{
        "name": "run",
        "argv": None,
        "wall_s": cfg.timeout_s * timeout_scale,
        "cpu_s": (cfg.cpu_time_s or cfg.timeout_s) * timeout_scale,
        "memory_bytes": cfg.memory_mb * 1024 * 1024,
        "max_processes": cfg.max_processes,
        "max_file_bytes": cfg.max_file_mb * 1024 * 1024,
        "max_open_files": cfg.max_open_files,
    }]
    return job


def _encode_files(files: Mapping[str, str | bytes]) -> dict[str, str]:
    out = {}
    for rel, data in files.items():
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        out[str(rel)] = base64.b64encode(raw).decode("ascii")
    return out


def _command_job(job: CommandJob, workdir: str, cfg: SandboxConfig, timeout_scale: float) -> dict[str, Any]:
    if not job.run:
        raise ConfigError("a command job needs a run command")
    cpus = os.cpu_count() or 1
    out = _common(cfg, workdir, "command")
    out["files"] = _encode_files(job.files)
    out["env"].update({str(k): str(v) for k, v in job.env.items()})
    out["read_paths"] = [os.path.abspath(p) for p in job.read_paths]
    steps = []
    if job.compile is not None:
        wall = (job.compile_timeout or cfg.compile_timeout_s) * timeout_scale
        memory = cfg.compile_memory_mb if job.compile_memory_mb is None else job.compile_memory_mb
        steps.append({
            "name": "compile", "argv": [str(a) for a in job.compile], "wall_s": wall,
            "cpu_s": cfg.compile_cpu_time_s * timeout_scale if cfg.compile_cpu_time_s else wall * cpus,
            "memory_bytes": memory * 1024 * 1024,
            "max_processes": job.compile_max_processes or cfg.compile_max_processes,
            "max_file_bytes": cfg.max_file_mb * 1024 * 1024,
            "max_open_files": cfg.compile_max_open_files,
        })
    wall = (job.timeout or cfg.timeout_s) * timeout_scale
    memory = cfg.memory_mb if job.memory_mb is None else job.memory_mb
    cpu = job.cpu_time or cfg.cpu_time_s
    steps.append({
        "name": "run", "argv": [str(a) for a in job.run], "wall_s": wall,
        "cpu_s": cpu * timeout_scale if cpu else wall * cpus,
        "memory_bytes": memory * 1024 * 1024,
        "max_processes": job.max_processes or cfg.max_processes,
        "max_file_bytes": cfg.max_file_mb * 1024 * 1024,
        "max_open_files": cfg.max_open_files,
    })
    out["steps"] = steps
    return out


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pgid, signal.SIGKILL)


def _environment(home: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def _command(cfg: SandboxConfig, *extra: str) -> list[str]:
    return [sys.executable, "-I", "-B", *([] if cfg.site_packages else ["-S"]), str(CHILD), *extra]


def _backstop(job: dict[str, Any], cfg: SandboxConfig) -> float:
    return sum(s["wall_s"] for s in job["steps"]) + cfg.startup_grace_s


def _result_from_line(line: str, job_id: str | None = None) -> ExecResult:
    try:
        verdict = json.loads(line)
        if not isinstance(verdict, dict):
            raise ValueError("not an object")
    except ValueError:
        return ExecResult("error", f"unreadable sandbox verdict: {line[:200]!r}")
    if job_id is not None and verdict.get("id") != job_id:
        return ExecResult("error", "sandbox verdict for another job (the verdict stream is out of step)")
    status = verdict.get("status")

    def num(key: str) -> float | None:
        value = verdict.get(key)
        return float(value) if isinstance(value, (int, float)) else None

    rc = verdict.get("returncode")
    return ExecResult(
        status=status if status in STATUSES else "error",
        detail=str(verdict.get("detail", ""))[:300],
        wall_s=num("wall_s") or 0.0,
        cpu_s=num("cpu_s") or 0.0,
        runqueue_s=num("runqueue_s"),
        layers=dict(verdict.get("layers", {})),
        returncode=rc if isinstance(rc, int) else None,
        stdout=str(verdict.get("stdout", "")),
        stderr=str(verdict.get("stderr", "")),
        step=str(verdict.get("step", "")),
        compile_wall_s=num("compile_wall_s"),
        compile_cpu_s=num("compile_cpu_s"),
    )


def _run_fresh(job: dict[str, Any], cfg: SandboxConfig) -> ExecResult:
    """One job in a new interpreter; ``job['workdir']`` exists and is removed by the caller."""
    backstop = _backstop(job, cfg)
    proc: subprocess.Popen[bytes] | None = None
    home = job["workdir"]
    try:
        proc = subprocess.Popen(
            _command(cfg),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=home,
            env=_environment(home),
            close_fds=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(json.dumps(job).encode(), timeout=backstop)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            proc.communicate()
            return ExecResult("timeout", f"supervisor did not answer within {backstop:.1f} s")
        last = out.decode("utf-8", "replace").strip().splitlines()
        if not last:
            tail = err.decode("utf-8", "replace").strip()[-300:]
            return ExecResult("error", f"sandbox supervisor exited with {proc.returncode}: {tail}")
        return _result_from_line(last[-1], job["id"])
    except OSError as exc:
        return ExecResult("error", f"cannot start the sandbox: {exc}")
    finally:
        if proc is not None:
            # Anything left in the supervisor's session goes with it.
            _kill_group(proc.pid)


def _with_workdir(build: Callable[[str], dict[str, Any]], run: Callable[[dict[str, Any]], Any]) -> Any:
    workdir = tempfile.mkdtemp(prefix="sctool-eval-")
    try:
        return run(build(os.path.realpath(workdir)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_program(program: str, config: SandboxConfig | None = None, *, timeout_scale: float = 1.0) -> ExecResult:
    """Run one program in a fresh sandbox (a new interpreter); never raises for anything the program does."""
    cfg = config or SandboxConfig()
    return _with_workdir(lambda wd: _job(program, wd, cfg, timeout_scale), lambda job: _run_fresh(job, cfg))


class _Server:
    """A clean interpreter that forks one supervisor per job (``_sandbox_child.py --server``).

    It saves the interpreter start-up per program and never runs untrusted code itself; each
    program still gets a fresh process, fresh namespaces and its own working directory. If it stops
    answering, or answers for another job, it is killed with everything in its process group and
    replaced.
    """

    def __init__(self, cfg: SandboxConfig) -> None:
        self.cfg = cfg
        self.buf = b""
        home = tempfile.gettempdir()
        self.proc = subprocess.Popen(
            _command(cfg, "--server"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=home,
            env=_environment(home),
            close_fds=True,
            start_new_session=True,
        )

    def ask(self, job: dict[str, Any], timeout: float) -> str | None:
        """The verdict line, or None if the server died or did not answer in time."""
        stdin, stdout = self.proc.stdin, self.proc.stdout
        if stdin is None or stdout is None:
            return None
        try:
            stdin.write(json.dumps(job).encode() + b"\n")
            stdin.flush()
        except OSError:
            return None
        deadline = time.monotonic() + timeout
        fd = stdout.fileno()
        while b"\n" not in self.buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                data = os.read(fd, 65536)
                if not data:
                    return None
                self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode("utf-8", "replace")

    def close(self, kill: bool = False) -> None:
        if not kill and self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                kill = True
        if kill:
            _kill_group(self.proc.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def _run_on_server(server: _Server, job: dict[str, Any], cfg: SandboxConfig) -> tuple[ExecResult, bool]:
    """(result, server still usable)."""
    backstop = _backstop(job, cfg)
    line = server.ask(job, backstop)
    if line is None:
        alive = server.proc.poll() is None
        detail = f"supervisor did not answer within {backstop:.1f} s" if alive else "sandbox server died"
        return ExecResult("timeout" if alive else "error", detail), False
    res = _result_from_line(line, job["id"])
    # A verdict for another job means the stream is out of step: never reuse that server.
    return res, not res.detail.startswith("sandbox verdict for another job")


_checked: dict[str, str | None] = {}
_checked_lock = threading.Lock()


def check_isolation(config: SandboxConfig | None = None) -> None:
    """Refuse (ConfigError) to run samples where the machine can contain none of them.

    Without namespaces the sandbox falls back to Landlock + seccomp; with neither it runs programs
    only under ``unsafe_no_isolation``, and then says so loudly on stderr. Checked once per
    configuration and process.
    """
    cfg = config or SandboxConfig()
    key = repr(cfg)
    with _checked_lock:
        if key not in _checked:
            res = _with_workdir(lambda wd: _job("pass\n", wd, cfg, 1.0), lambda job: _run_fresh(job, cfg))
            _checked[key] = res.detail if res.detail.startswith(REFUSED) else None
            layers = res.layers
            if cfg.unsafe_no_isolation and not (layers.get("pid") or layers.get("landlock")):
                print("sctool: WARNING: --unsafe-no-isolation: generated programs run WITHOUT namespaces or "
                      "Landlock; they can read your files, write outside their directory, use the network "
                      "and signal your processes. Only do this inside a disposable VM or container.",
                      file=sys.stderr)
    if _checked[key]:
        raise ConfigError(_checked[key])


def _execute_all(
    jobs: Sequence[Any],
    build: Callable[[Any, str, SandboxConfig, float], dict[str, Any]],
    cfg: SandboxConfig,
    workers: int,
    on_done: Callable[[int, ExecResult], None] | None,
) -> list[ExecResult]:
    results: list[ExecResult | None] = [None] * len(jobs)
    lock = threading.Lock()
    workers = min(workers, max(len(jobs), 1))
    servers: queue.Queue[_Server | None] = queue.Queue()
    for _ in range(workers):
        servers.put(None)  # started lazily by the thread that first needs one
    started: list[_Server] = []

    def fresh(item: Any) -> ExecResult:
        if build is _job:
            return run_program(item, cfg)  # module attribute lookup: tests may stand in for it
        return _with_workdir(lambda wd: build(item, wd, cfg, 1.0), lambda job: _run_fresh(job, cfg))

    def execute(item: Any) -> ExecResult:
        if not cfg.reuse_interpreter:
            return fresh(item)
        server = servers.get()
        try:
            if server is None or server.proc.poll() is not None:
                server = _Server(cfg)
                with lock:
                    started.append(server)
            res, usable = _with_workdir(lambda wd: build(item, wd, cfg, 1.0),
                                        lambda job: _run_on_server(server, job, cfg))
            if not usable:
                server.close(kill=True)
                server = None
            return res
        finally:
            servers.put(server)

    def one(i: int) -> None:
        try:
            res = execute(jobs[i])
        except ConfigError as exc:
            res = ExecResult("error", str(exc))
        except Exception as exc:  # the harness reports, never dies: e.g. no space left for the workdir
            res = ExecResult("error", f"harness: {type(exc).__name__}: {exc}")
        with lock:
            results[i] = res
            if on_done is not None:
                on_done(i, res)

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(one, range(len(jobs))):
                pass
    finally:
        for server in started:
            server.close()
    return [r if r is not None else ExecResult("error", "not run") for r in results]


def run_programs(
    programs: Sequence[str],
    config: SandboxConfig | None = None,
    *,
    on_done: Callable[[int, ExecResult], None] | None = None,
) -> list[ExecResult]:
    """Run many programs in parallel; results in input order. Starved timeouts are re-run alone.

    ``on_done(index, result)`` is called (under a lock) as each first run finishes, for progress.
    Raises ConfigError before running anything where the machine grants no isolation (see
    ``check_isolation``).
    """
    cfg = config or SandboxConfig()
    if programs:
        check_isolation(cfg)
    results = _execute_all(programs, _job, cfg, cfg.effective_workers, on_done)
    if cfg.retry_starved:
        for i, res in enumerate(results):
            if res.starved:
                try:
                    again = run_program(programs[i], cfg)
                except Exception as exc:
                    again = ExecResult("error", f"harness: {type(exc).__name__}: {exc}")
                again.retried = True
                results[i] = again
    return results


def run_command(job: CommandJob, config: SandboxConfig | None = None) -> ExecResult:
    """Run one command job (compile, then run) in a fresh sandbox; never raises for what it does."""
    cfg = config or SandboxConfig()
    check_isolation(cfg)
    return _with_workdir(lambda wd: _command_job(job, wd, cfg, 1.0), lambda j: _run_fresh(j, cfg))


def run_commands(
    jobs: Sequence[CommandJob],
    config: SandboxConfig | None = None,
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[ExecResult]:
    """Run many command jobs in parallel; results in input order. ``progress(1)`` after each job.

    Starved timeouts are re-run once alone, as for Python programs.
    """
    cfg = config or SandboxConfig()
    if jobs:
        check_isolation(cfg)
    on_done = (lambda _i, _r: progress(1)) if progress is not None else None
    results = _execute_all(jobs, _command_job, cfg, workers or cfg.effective_workers, on_done)
    if cfg.retry_starved:
        for i, res in enumerate(results):
            if res.starved:
                again = _with_workdir(lambda wd, i=i: _command_job(jobs[i], wd, cfg, 1.0),
                                      lambda j: _run_fresh(j, cfg))
                again.retried = True
                results[i] = again
    return results


def probe_isolation(config: SandboxConfig | None = None) -> dict[str, Any]:
    """Which sandbox layers this machine grants, measured by running a trivial program."""
    res = run_program("pass\n", config)
    layers = {k: v for k, v in res.layers.items() if not k.endswith("_error") or v}
    layers["probe_status"] = res.status
    if res.status != "passed":
        layers["probe_detail"] = res.detail
    return layers
