"""Sandbox supervisor: runs ONE untrusted program and prints one JSON verdict line.

Started by ``sctool.eval.sandbox`` as ``python -I -B _sandbox_child.py`` with the job as JSON on
stdin. It deliberately imports nothing from sctool (and nothing that imports ``subprocess``), so the
sample's interpreter starts small and the native extension is never loaded next to untrusted code.

Process layout::

    supervisor (this script; enforces the wall clock, collects the verdict)
      └─ init   (pid 1 of a new PID namespace when available; mounts, then reaps)
           └─ sample (rlimits, dropped privileges, audit hook, then exec(program))

Layers, each optional so the harness still runs where the OS refuses one (recorded in the verdict):
* namespaces (unshare): a new network namespace (no interfaces up: no network), a PID namespace
  (when init dies the kernel kills every process the sample left behind), a mount namespace where
  every mount except the throw-away working directory is remounted read-only; unprivileged users
  get these inside a new user namespace.
* rlimits: CPU seconds, address space, processes, file size, open files, no core dumps.
* privileges: when run as root the sample switches to ``nobody`` keeping only CAP_DAC_READ_SEARCH
  (it can still import from a root-only virtualenv), so RLIMIT_NPROC applies — it never applies to
  uid 0 — and no capability is left to undo the other layers.
* an audit hook (PEP 578) and disabled destructive functions: process creation, sockets, ctypes,
  rlimit changes and any write, rename or delete outside the working directory are refused and
  reported as a violation, so a sample that catches the exception is still counted failed.

The verdict counts as ``passed`` only when the sample reports success after the whole program ran;
exiting early (``os._exit(0)``) or being killed is a failure. The threat model is generated code that
is buggy or careless (infinite loops, fork loops, runaway allocation, stray file writes), not an
adversary targeting the harness from inside the same interpreter.
"""

import contextlib
import ctypes
import json
import os
import resource
import select
import signal
import sys
import time

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_SET_NO_NEW_PRIVS = 38
CAP_DAC_READ_SEARCH = 2
LINUX_CAPABILITY_VERSION_3 = 0x20080522
NOBODY = 65534
MAX_REPORT_BYTES = 1 << 20

_MOUNT_OPTION_FLAGS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}

_libc = None


def libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


LINUX = sys.platform.startswith("linux")


def prctl(option, arg):
    """prctl(2) on Linux; elsewhere a no-op (those layers are then simply absent)."""
    if LINUX:
        libc().prctl(option, arg, 0, 0, 0)


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _write_file(path, text):
    with open(path, "w") as fh:
        fh.write(text)


def enter_namespaces(want):
    """unshare() net + pid + mount namespaces (inside a user namespace when not root)."""
    if not want or not LINUX:
        return {"user": False, "net": False, "pid": False, "mnt": False, "error": None}
    flags = CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWNS
    uid, gid = os.geteuid(), os.getegid()
    as_root = uid == 0
    try:
        if as_root:
            _check(libc().unshare(flags), "unshare")
        else:
            _check(libc().unshare(flags | CLONE_NEWUSER), "unshare")
            _write_file("/proc/self/setgroups", "deny")
            _write_file("/proc/self/uid_map", f"{uid} {uid} 1")
            _write_file("/proc/self/gid_map", f"{gid} {gid} 1")
        return {"user": not as_root, "net": True, "pid": True, "mnt": True, "error": None}
    except OSError as exc:
        return {"user": False, "net": False, "pid": False, "mnt": False, "error": str(exc)}


def _unescape_mount_path(raw):
    # /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo.
    out, i = [], 0
    while i < len(raw):
        if raw[i] == "\\" and raw[i + 1 : i + 4].isdigit() and len(raw[i + 1 : i + 4]) == 3:
            out.append(chr(int(raw[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return "".join(out)


def read_only_filesystem(workdir):
    """Remount every mount read-only except a bind mount of ``workdir``; returns failures."""
    lc = libc()
    _check(lc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    wd = workdir.encode()
    _check(lc.mount(wd, wd, None, MS_BIND | MS_REC, None), "bind working directory")
    failures = []
    with open("/proc/self/mountinfo") as fh:
        lines = fh.read().splitlines()
    for line in lines:
        parts = line.split(" ")
        if len(parts) < 6:
            continue
        mount_point = _unescape_mount_path(parts[4])
        if mount_point == workdir or mount_point.startswith(workdir + "/"):
            continue
        flags = MS_BIND | MS_REMOUNT | MS_RDONLY
        for opt in parts[5].split(","):
            flags |= _MOUNT_OPTION_FLAGS.get(opt, 0)
        if lc.mount(None, mount_point.encode(), None, flags, None) != 0:
            failures.append(f"{mount_point}: {os.strerror(ctypes.get_errno())}")
    return failures


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_root(workdir):
    """As root: become ``nobody`` keeping only CAP_DAC_READ_SEARCH, so RLIMIT_NPROC is enforced."""
    lc = libc()
    os.chown(workdir, NOBODY, NOBODY)
    _check(lc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "prctl(KEEPCAPS)")
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)
    header = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    data[0].effective = data[0].permitted = 1 << CAP_DAC_READ_SEARCH
    _check(lc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")


def set_limits(job):
    cpu = max(1, int(job["cpu_s"] + 0.999))
    # soft limit: SIGXCPU; hard limit one second later: SIGKILL, which nothing can catch.
    limits = [
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_AS, job["memory_bytes"], job["memory_bytes"]),
        (resource.RLIMIT_FSIZE, job["max_file_bytes"], job["max_file_bytes"]),
        (resource.RLIMIT_NOFILE, job["max_open_files"], job["max_open_files"]),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NPROC, job["max_processes"], job["max_processes"]),
    ]
    for which, soft, hard in limits:
        resource.setrlimit(which, (soft, hard))


_PROCESS_EVENTS = {
    "os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "os.forkpty", "os.kill",
    "os.killpg", "subprocess.Popen", "pty.spawn", "os.startfile", "resource.setrlimit",
    "resource.prlimit", "signal.pthread_kill",
}
# event -> positions of the path arguments that name something the call creates, changes or removes
# (None: every path argument). Reading from outside the directory stays allowed.
_FS_EVENTS = {
    "os.remove": None, "os.rename": None, "os.rmdir": None, "os.mkdir": None, "os.symlink": (1,),
    "os.link": (1,), "os.chmod": None, "os.chown": None, "os.truncate": None, "os.utime": None,
    "os.chflags": None, "os.lchflags": None, "os.setxattr": None, "os.removexattr": None,
    "shutil.rmtree": None, "shutil.move": None, "shutil.copyfile": (1,), "shutil.copytree": (1,),
    "shutil.chown": None, "shutil.copymode": (1,), "shutil.copystat": (1,),
    "shutil.make_archive": (0,), "shutil.unpack_archive": (1,),
}
_BLOCKED_MODULES = {"_posixsubprocess", "_ctypes", "ctypes", "multiprocessing", "_multiprocessing", "pty"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_DISABLED = (
    "setuid", "setgid", "seteuid", "setegid", "setreuid", "setregid", "setresuid", "setresgid",
    "setgroups", "chroot", "setsid", "setpgid", "setpgrp", "fork", "forkpty", "kill", "killpg",
    "system", "execv", "execve", "execl", "execle", "execlp", "execlpe", "execvp", "execvpe",
    "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe",
    "posix_spawn", "posix_spawnp", "putenv", "unsetenv",
)


def install_guards(workdir, report):
    """Audit hook + disabled functions; any refusal is reported before the exception is raised."""
    real = os.path.realpath
    root = real(workdir)
    allowed_devices = {"/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"}
    state = {"busy": False}

    def inside(path):
        if isinstance(path, int):
            return True
        try:
            p = os.fsdecode(path)
        except TypeError:
            return False
        full = real(p if os.path.isabs(p) else os.path.join(os.getcwd(), p))
        return full == root or full.startswith(root + os.sep) or full in allowed_devices

    def violate(what):
        report({"event": "violation", "what": what[:300]})
        raise PermissionError(f"sandbox: {what}")

    def hook(event, args):
        if state["busy"]:
            return
        state["busy"] = True
        try:
            if event == "open":
                path, mode, flags = [*list(args), None, None, 0][:3]
                writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                    isinstance(flags, int) and flags & _WRITE_FLAGS
                )
                if writes and not inside(path):
                    violate(f"write outside the working directory: {path!r}")
            elif event in _FS_EVENTS:
                positions = _FS_EVENTS[event]
                checked = args if positions is None else [args[i] for i in positions if i < len(args)]
                for arg in checked:
                    if isinstance(arg, (str, bytes, os.PathLike)) and not inside(arg):
                        violate(f"{event} outside the working directory: {arg!r}")
            elif event in _PROCESS_EVENTS:
                violate(f"process control is not allowed ({event})")
            elif event.startswith("socket."):
                violate(f"network access is not allowed ({event})")
            elif event.startswith("ctypes."):
                violate(f"ctypes is not allowed ({event})")
            elif event == "import" and args and str(args[0]).split(".")[0] in _BLOCKED_MODULES:
                violate(f"import of {args[0]} is not allowed")
        finally:
            state["busy"] = False

    def disabled(name):
        def refuse(*_args, **_kwargs):
            report({"event": "violation", "what": f"os.{name} is disabled"})
            raise PermissionError(f"sandbox: os.{name} is disabled")

        return refuse

    for name in _DISABLED:
        if hasattr(os, name):
            setattr(os, name, disabled(name))
    sys.addaudithook(hook)


def run_sample(job, report_fd, namespaces):
    """The sample process: never returns."""
    report_lock = {"n": 0}

    def report(obj):
        if report_lock["n"] > 1000:
            return
        report_lock["n"] += 1
        with contextlib.suppress(OSError):
            os.write(report_fd, (json.dumps(obj) + "\n").encode())

    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.chdir(job["workdir"])
        os.environ["HOME"] = os.environ["TMPDIR"] = job["workdir"]
        set_limits(job)
        if LINUX and os.geteuid() == 0 and job["drop_root"]:
            try:
                drop_root(job["workdir"])
                report({"event": "layer", "name": "uid", "ok": True})
            except OSError as exc:
                report({"event": "layer", "name": "uid", "ok": False, "error": str(exc)})
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        program = job["program"]
        install_guards(job["workdir"], report)
    except BaseException as exc:
        report({"event": "setup-error", "error": f"{type(exc).__name__}: {exc}"[:300]})
        os._exit(3)
    try:
        code = compile(program, "<sample>", "exec")
        exec(code, {})
    except BaseException as exc:
        try:
            message = f"{type(exc).__name__}: {exc}"[:300]
        except BaseException:
            message = "unprintable exception"
        report({"event": "error", "error": message})
        os._exit(1)
    report({"event": "passed"})
    os._exit(0)


def run_init(job, report_fd, namespaces):
    """pid 1 of the sample's namespaces: set up mounts, start the sample, reap until it ends."""
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        os.setpgid(0, 0)
        if namespaces["mnt"]:
            try:
                failures = read_only_filesystem(job["workdir"])
                os.write(report_fd, (json.dumps({"event": "layer", "name": "fs", "ok": not failures,
                                                 "error": "; ".join(failures)[:300] or None}) + "\n").encode())
            except OSError as exc:
                os.write(report_fd, (json.dumps({"event": "layer", "name": "fs", "ok": False,
                                                 "error": str(exc)}) + "\n").encode())
        sample = {"pid": 0}

        def stop_sample(_signum, _frame):
            # The supervisor asks (SIGTERM) instead of killing us outright, so that we reap the
            # sample and its CPU time reaches the supervisor through wait4().
            if sample["pid"]:
                with contextlib.suppress(OSError):
                    os.kill(sample["pid"], signal.SIGKILL)

        signal.signal(signal.SIGTERM, stop_sample)
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            run_sample(job, report_fd, namespaces)
        sample["pid"] = pid
        status = None
        while True:
            try:
                reaped, st = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            if reaped == pid:
                status = st
                break
        if status is not None and os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            os.write(report_fd, (json.dumps({"event": "signal", "signal": sig}) + "\n").encode())
        os._exit(0)
    except BaseException as exc:
        try:
            os.write(report_fd, (json.dumps({"event": "setup-error", "error": str(exc)[:300]}) + "\n").encode())
        finally:
            os._exit(3)


def wait_for(pid, seconds):
    """wait4(pid) with a deadline; None if it is still running."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        got_pid, status, usage = os.wait4(pid, os.WNOHANG)
        if got_pid == pid:
            return got_pid, status, usage
        time.sleep(0.01)
    return None


def sample_runqueue_seconds(init_pid):
    """Seconds the sample spent runnable but waiting for a CPU (None when /proc cannot tell).

    A timeout with a long run-queue wait means the machine was overloaded, not that the program
    was slow; the harness re-runs such samples instead of counting them as failures.
    """
    try:
        with open(f"/proc/{init_pid}/task/{init_pid}/children") as fh:
            children = fh.read().split()
        if not children:
            return None
        with open(f"/proc/{children[0]}/schedstat") as fh:
            return int(fh.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def supervise(job):
    namespaces = enter_namespaces(job["namespaces"])
    r, w = os.pipe()
    start = time.monotonic()
    init_pid = os.fork()
    if init_pid == 0:
        os.close(r)
        run_init(job, w, namespaces)
    os.close(w)
    deadline = start + job["wall_s"]
    chunks, size, timed_out = [], 0, False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([r], [], [], remaining)
        if not ready:
            continue
        data = os.read(r, 65536)
        if not data:
            break
        if size < MAX_REPORT_BYTES:
            chunks.append(data)
            size += len(data)
    wall = time.monotonic() - start
    runqueue = None
    if timed_out:
        runqueue = sample_runqueue_seconds(init_pid)
        with contextlib.suppress(OSError):
            os.kill(init_pid, signal.SIGTERM)
        reaped = wait_for(init_pid, 2.0)
        if reaped is None:
            with contextlib.suppress(OSError):
                os.killpg(init_pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.kill(init_pid, signal.SIGKILL)
            reaped = os.wait4(init_pid, 0)
        usage = reaped[2]
    else:
        usage = os.wait4(init_pid, 0)[2]
    os.close(r)
    if not namespaces["pid"]:
        # No PID namespace to take them down: kill whatever is left in init's process group.
        with contextlib.suppress(OSError):
            os.killpg(init_pid, signal.SIGKILL)
    cpu = usage.ru_utime + usage.ru_stime
    events = []
    for line in b"".join(chunks).decode("utf-8", "replace").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    layers = {"net": namespaces["net"], "pid": namespaces["pid"], "user": namespaces["user"],
              "fs": False, "uid": False, "namespace_error": namespaces["error"]}
    verdict = {"status": "failed", "detail": "", "wall_s": round(wall, 4), "cpu_s": round(cpu, 4)}
    if runqueue is not None:
        verdict["runqueue_s"] = round(runqueue, 4)
    violations, errors, passed, signals = [], [], False, []
    for ev in events:
        kind = ev.get("event")
        if kind == "layer":
            layers[ev.get("name")] = bool(ev.get("ok"))
            if ev.get("error"):
                layers[f"{ev.get('name')}_error"] = ev.get("error")
        elif kind == "violation":
            violations.append(str(ev.get("what")))
        elif kind in ("error", "setup-error"):
            errors.append(f"{kind}: {ev.get('error')}" if kind == "setup-error" else str(ev.get("error")))
        elif kind == "signal":
            signals.append(int(ev.get("signal", 0)))
        elif kind == "passed":
            passed = True
    if violations:
        verdict.update(status="violation", detail=violations[0])
    elif timed_out:
        verdict.update(status="timeout", detail=f"wall-clock limit of {job['wall_s']} s exceeded")
    elif passed:
        verdict.update(status="passed")
    elif signals:
        sig = signals[0]
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if sig in (signal.SIGXCPU, signal.SIGKILL) and cpu >= job["cpu_s"] * 0.9:
            verdict.update(status="timeout", detail=f"CPU limit of {job['cpu_s']} s exceeded ({name})")
        else:
            verdict.update(status="failed", detail=f"killed by {name}")
    elif errors:
        verdict.update(status="error" if errors[0].startswith("setup-error") else "failed", detail=errors[0])
    else:
        verdict.update(status="failed", detail="exited without reporting a result")
    if len(violations) > 1:
        verdict["violations"] = violations[:5]
    verdict["layers"] = layers
    return verdict


def run_job(job):
    try:
        return supervise(job)
    except Exception as exc:
        return {"status": "error", "detail": f"supervisor: {type(exc).__name__}: {exc}"}


def serve():
    """Server mode: one job per stdin line, one verdict per stdout line.

    Each job runs in a fresh fork of this process, which itself never runs untrusted code, so
    every sample starts from the same clean interpreter without paying for interpreter start-up.
    """
    stdin = sys.stdin.buffer
    out = sys.stdout
    while True:
        line = stdin.readline()
        if not line:
            return 0
        try:
            job = json.loads(line)
        except ValueError as exc:
            out.write(json.dumps({"status": "error", "detail": f"bad job: {exc}"}) + "\n")
            out.flush()
            continue
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            # stays in the server's process group, so the harness's backstop kill reaches it
            os.close(r)
            verdict = run_job(job)
            with contextlib.suppress(OSError):
                os.write(w, (json.dumps(verdict) + "\n").encode())
            os._exit(0)
        os.close(w)
        chunks = []
        while True:
            data = os.read(r, 65536)
            if not data:
                break
            chunks.append(data)
        os.close(r)
        os.waitpid(pid, 0)
        text = b"".join(chunks).decode("utf-8", "replace").strip()
        out.write((text or json.dumps({"status": "error", "detail": "supervisor died without a verdict"})) + "\n")
        out.flush()


def main():
    if sys.argv[1:] == ["--server"]:
        return serve()
    raw = sys.stdin.buffer.read()
    try:
        job = json.loads(raw)
    except ValueError as exc:
        print(json.dumps({"status": "error", "detail": f"bad job: {exc}"}))
        return 2
    sys.stdout.write(json.dumps(run_job(job)) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
