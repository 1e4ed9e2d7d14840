"""Run untrusted generated programs, one sandboxed process per program, many in parallel.

Each program runs under ``_sandbox_child.py`` (see its docstring for the layers: namespaces, rlimits,
dropped privileges, audit hook). This module owns the outside: a throw-away working directory per
program, a backstop timeout that kills the whole process group if even the supervisor stops
answering, and a thread pool. Whatever happens inside, the caller gets an ``ExecResult``; the
harness never hangs or raises because of a sample.

Slow machines: the wall limit starts when the sample starts (interpreter start-up is not charged),
and a sample that hit the wall limit while getting less than half a CPU (an overloaded machine, not
a slow program) is re-run once on its own when ``retry_starved`` is on. Both facts go into the
result, so a score is never silently lowered by load.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sctool.errors import ConfigError

CHILD = Path(__file__).with_name("_sandbox_child.py")
STATUSES = ("passed", "failed", "timeout", "violation", "error")


@dataclass(frozen=True)
class SandboxConfig:
    """Limits for one program; recorded verbatim in every result file."""

    timeout_s: float = field(
        default=3.0, metadata={"help": "wall-clock seconds per program (bigcode-evaluation-harness default: 3.0)"}
    )
    cpu_time_s: float | None = field(default=None, metadata={"help": "CPU seconds per program (default: timeout_s)"})
    memory_mb: int = field(default=1024, metadata={"help": "address-space limit per program, MiB"})
    max_processes: int = field(default=32, metadata={"help": "RLIMIT_NPROC for the program's user"})
    max_file_mb: int = field(default=64, metadata={"help": "largest file the program may write, MiB"})
    max_open_files: int = field(default=128, metadata={"help": "open file descriptors per program"})
    namespaces: bool = field(
        default=True, metadata={"help": "use Linux namespaces (network, PID, read-only mounts) where the OS allows"}
    )
    drop_root: bool = field(default=True, metadata={"help": "when running as root, run programs as 'nobody'"})
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
        if self.memory_mb < 64:
            raise ConfigError(f"sandbox memory_mb must be at least 64 (Python itself needs it), got {self.memory_mb}")
        if self.max_processes < 1 or self.max_file_mb < 0 or self.max_open_files < 16 or self.workers < 0:
            raise ConfigError("sandbox limits out of range (max_processes >= 1, max_open_files >= 16, workers >= 0)")

    @property
    def effective_workers(self) -> int:
        return self.workers or (os.cpu_count() or 1)


@dataclass
class ExecResult:
    """Outcome of one program: ``status`` is one of passed, failed, timeout, violation, error."""

    status: str
    detail: str = ""
    wall_s: float = 0.0
    cpu_s: float = 0.0
    runqueue_s: float | None = None
    retried: bool = False
    layers: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def starved(self) -> bool:
        """Timed out while waiting for a CPU for a large part of its time: the machine's fault."""
        return self.status == "timeout" and self.runqueue_s is not None and self.runqueue_s >= 0.3 * self.wall_s

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _job(program: str, workdir: str, cfg: SandboxConfig, timeout_scale: float) -> dict[str, Any]:
    wall = cfg.timeout_s * timeout_scale
    return {
        "program": program,
        "workdir": workdir,
        "wall_s": wall,
        "cpu_s": (cfg.cpu_time_s or cfg.timeout_s) * timeout_scale,
        "memory_bytes": cfg.memory_mb * 1024 * 1024,
        "max_processes": cfg.max_processes,
        "max_file_bytes": cfg.max_file_mb * 1024 * 1024,
        "max_open_files": cfg.max_open_files,
        "namespaces": cfg.namespaces,
        "drop_root": cfg.drop_root,
    }


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pgid, signal.SIGKILL)


def _environment(home: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def _command(cfg: SandboxConfig, *extra: str) -> list[str]:
    return [sys.executable, "-I", "-B", *([] if cfg.site_packages else ["-S"]), str(CHILD), *extra]


def _result_from_line(line: str) -> ExecResult:
    try:
        verdict = json.loads(line)
    except ValueError:
        return ExecResult("error", f"unreadable sandbox verdict: {line[:200]!r}")
    status = verdict.get("status")
    return ExecResult(
        status=status if status in STATUSES else "error",
        detail=str(verdict.get("detail", "")),
        wall_s=float(verdict.get("wall_s", 0.0)),
        cpu_s=float(verdict.get("cpu_s", 0.0)),
        runqueue_s=verdict.get("runqueue_s"),
        layers=dict(verdict.get("layers", {})),
    )


def run_program(program: str, config: SandboxConfig | None = None, *, timeout_scale: float = 1.0) -> ExecResult:
    """Run one program in a fresh sandbox (a new interpreter); never raises for anything the program does."""
    cfg = config or SandboxConfig()
    workdir = tempfile.mkdtemp(prefix="sctool-eval-")
    job = _job(program, os.path.realpath(workdir), cfg, timeout_scale)
    backstop = job["wall_s"] + cfg.startup_grace_s
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = subprocess.Popen(
            _command(cfg),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workdir,
            env=_environment(workdir),
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
        return _result_from_line(last[-1])
    except OSError as exc:
        return ExecResult("error", f"cannot start the sandbox: {exc}")
    finally:
        if proc is not None:
            # Anything the sample left in the supervisor's session goes with it.
            _kill_group(proc.pid)
        shutil.rmtree(workdir, ignore_errors=True)


class _Server:
    """A clean interpreter that forks one supervisor per program (``_sandbox_child.py --server``).

    It saves the interpreter start-up per program and never runs untrusted code itself; each
    program still gets a fresh process, fresh namespaces and its own working directory. If it stops
    answering it is killed with everything in its process group and replaced.
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


def _run_on_server(server: _Server, program: str, cfg: SandboxConfig) -> tuple[ExecResult, bool]:
    """(result, server still usable)."""
    workdir = tempfile.mkdtemp(prefix="sctool-eval-")
    try:
        job = _job(program, os.path.realpath(workdir), cfg, 1.0)
        backstop = job["wall_s"] + cfg.startup_grace_s
        line = server.ask(job, backstop)
        if line is None:
            alive = server.proc.poll() is None
            detail = f"supervisor did not answer within {backstop:.1f} s" if alive else "sandbox server died"
            return ExecResult("timeout" if alive else "error", detail), False
        return _result_from_line(line), True
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_programs(
    programs: Sequence[str],
    config: SandboxConfig | None = None,
    *,
    on_done: Callable[[int, ExecResult], None] | None = None,
) -> list[ExecResult]:
    """Run many programs in parallel; results in input order. Starved timeouts are re-run alone.

    ``on_done(index, result)`` is called (under a lock) as each first run finishes, for progress.
    """
    cfg = config or SandboxConfig()
    results: list[ExecResult | None] = [None] * len(programs)
    lock = threading.Lock()
    workers = min(cfg.effective_workers, max(len(programs), 1))
    servers: queue.Queue[_Server | None] = queue.Queue()
    for _ in range(workers):
        servers.put(None)  # started lazily by the thread that first needs one
    started: list[_Server] = []

    def execute(program: str) -> ExecResult:
        if not cfg.reuse_interpreter:
            return run_program(program, cfg)
        server = servers.get()
        try:
            if server is None or server.proc.poll() is not None:
                server = _Server(cfg)
                with lock:
                    started.append(server)
            res, usable = _run_on_server(server, program, cfg)
            if not usable:
                server.close(kill=True)
                server = None
            return res
        finally:
            servers.put(server)

    def one(i: int) -> None:
        try:
            res = execute(programs[i])
        except Exception as exc:  # the harness reports, never dies: e.g. no space left for the workdir
            res = ExecResult("error", f"harness: {type(exc).__name__}: {exc}")
        with lock:
            results[i] = res
            if on_done is not None:
                on_done(i, res)

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(one, range(len(programs))):
                pass
    finally:
        for server in started:
            server.close()
    if cfg.retry_starved:
        for i, res in enumerate(results):
            if res is not None and res.starved:
                try:
                    again = run_program(programs[i], cfg)
                except Exception as exc:
                    again = ExecResult("error", f"harness: {type(exc).__name__}: {exc}")
                again.retried = True
                results[i] = again
    return [r if r is not None else ExecResult("error", "not run") for r in results]


def probe_isolation(config: SandboxConfig | None = None) -> dict[str, Any]:
    """Which sandbox layers this machine grants, measured by running a trivial program."""
    res = run_program("pass\n", config)
    layers = {k: v for k, v in res.layers.items() if not k.endswith("_error") or v}
    layers["probe_status"] = res.status
    return layers
