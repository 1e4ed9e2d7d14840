"""Sandbox supervisor: runs ONE untrusted job (a Python program or a compile + run command pair) and
prints one JSON verdict line.

Started by ``sctool.eval.sandbox`` as ``python -I -B [-S] _sandbox_child.py`` with the job as JSON on
stdin (or ``--server``: one job per line, each in a fresh fork). It imports nothing from sctool, so
the native extension is never loaded next to untrusted code; its two siblings
``_sandbox_seccomp.py`` and ``_sandbox_landlock.py`` are standard library only.

Process layout::

    supervisor  (this script; outside the sample's PID namespace; reads init's step records)
      └─ init   (pid 1 of a new PID namespace; builds the minimal root, runs each step, reaps)
           └─ step process (fds closed, rlimits, no capabilities, seccomp, then the sample)

Verdicts come from exit statuses that init collects with wait4(), never from bytes the sample wrote.
A Python sample passes only when the interpreter reaches its normal end after the whole program ran:
an ``atexit`` callback made inside the sample then exits with a random 31-bit token whose low byte is
the "passed" code, and the seccomp filter kills any other exit with that low byte. A command step
passes with exit status 0. The sample's stdout/stderr tails are carried along as data for details.

Layers (see docs/sandbox.md for what each contains and what it does not):
* namespaces: network (no interface up), PID (a fresh /proc; when init ends every process the sample
  left is killed), mount (a new root on tmpfs: /usr and the interpreter read-only, a private
  writable working directory, /tmp and /dev/shm that share one size-capped tmpfs, a few /etc files),
  inside a user namespace when not root.
* without namespaces: Landlock (reads only under the same trees, writes only in the working
  directory, no TCP, signals only within the sandbox) or a refusal unless the job says unsafe.
* rlimits: CPU seconds, address space, processes, file size, open files, no core dumps.
* privileges: as root the sample runs as a uid of its own; every capability is dropped, the bounding
  set included; no_new_privs.
* seccomp: no new namespaces, mounts, ptrace, keyrings, eBPF, io_uring, module loading, …
* Python only: an audit hook that turns writes outside the working directory, process creation,
  sockets, ctypes, rlimit changes and frame/gc introspection into an immediate ``violation``.
"""

import atexit
import base64
import contextlib
import ctypes
import gc
import json
import os
import resource
import select
import signal
import stat
import sys
import time
from _functools import partial

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import _sandbox_landlock as landlock
    import _sandbox_seccomp as seccomp
finally:
    del sys.path[0]

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 32, 1024, 2048, 4096, 16384
MS_MOVE, MS_PRIVATE, MS_RELATIME = 8192, 1 << 18, 1 << 21
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_READ, PR_CAPBSET_DROP = 1, 4, 23, 24
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4
CAP_DAC_READ_SEARCH = 2
LINUX_CAPABILITY_VERSION_3 = 0x20080522
SYS_CLOSE_RANGE = 436
UID_BASE = 1_900_000_000  # + supervisor pid: a uid no other process on the host uses
WORK_INSIDE = "/sandbox"
SETUP_ERROR_CODE = 121
VIOLATION_CODE = 122
EXEC_FAILED_CODE = 127
ERROR_MARK = "sctool-sandbox-error: "
VIOLATION_MARK = "sctool-sandbox-violation: "
HOST_READ_ONLY = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "alternatives", "nsswitch.conf",
             "host.conf", "mime.types")
# Runtime configuration that packaged toolchains reach through symlinks from /usr (Debian's JDKs
# link lib/jvm.cfg and conf/ into /etc/java-N-openjdk); other /etc paths come in through read_paths.
ETC_PREFIXES = ("java-",)
DEVICES = ("null", "zero", "full", "random", "urandom")
LINUX = sys.platform.startswith("linux")
_SAMPLE_DONE = object()

_libc = None


def libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    return _libc


def prctl(option, arg, arg2=0):
    return libc().prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(arg2), 0, 0) if LINUX else 0


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _b(value):
    return None if value is None else os.fsencode(value)


def mount(src, target, fstype, flags, data=None):
    _check(libc().mount(_b(src), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data)), f"mount {target}")


def _write_file(path, text):
    with open(path, "w") as fh:
        fh.write(text)


def _emit(fd, line):
    with contextlib.suppress(OSError):
        os.write(fd, ("\n" + line.replace("\n", " ") + "\n").encode("utf-8", "replace"))


# ---------------------------------------------------------------- namespaces and the minimal root


def enter_namespaces(want):
    """unshare() net + pid + mount namespaces (inside a user namespace when not root)."""
    none = {"user": False, "net": False, "pid": False, "mnt": False, "error": None}
    if not want or not LINUX:
        return none
    flags = CLONE_NEWNET | CLONE_NEWPID  # init takes the mount namespace it needs itself
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
        return dict(none, error=str(exc))


def _kept_flags(path):
    """Mount flags a user namespace may not clear on remount (and that we keep anyway)."""
    f = os.statvfs(path).f_flag
    flags = 0
    for st_flag, ms_flag in ((os.ST_NOEXEC, MS_NOEXEC), (os.ST_NOATIME, MS_NOATIME),
                             (os.ST_NODIRATIME, MS_NODIRATIME), (getattr(os, "ST_RELATIME", 4096), MS_RELATIME)):
        if f & st_flag:
            flags |= ms_flag
    return flags


def _bind(src, target, read_only=True):
    mount(src, target, None, MS_BIND | MS_REC)
    if read_only:
        mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | _kept_flags(target))


def _safe_relpath(rel):
    parts = [p for p in rel.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or rel.startswith("/") or ".." in parts:
        raise ValueError(f"job file path must be relative without '..': {rel!r}")
    return os.path.join(*parts)


def write_job_files(job, workdir, uid, gid, chown):
    """The job's files, written by init (not by the harness) so they land in the capped scratch fs."""
    for rel, encoded in job.get("files", {}).items():
        path = os.path.join(workdir, _safe_relpath(rel))
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(base64.b64decode(encoded))
    if chown:
        for dirpath, _dirnames, filenames in os.walk(workdir):
            os.chown(dirpath, uid, gid)
            for name in filenames:
                os.chown(os.path.join(dirpath, name), uid, gid)


_ETC_NAMES = []


def _etc_names():
    if _ETC_NAMES:
        return _ETC_NAMES
    try:
        extra = sorted(n for n in os.listdir("/etc") if n.startswith(ETC_PREFIXES))
    except OSError:
        extra = []
    _ETC_NAMES[:] = [*ETC_FILES, *extra]
    return _ETC_NAMES


def _covered(path, bound):
    real = os.path.realpath(path)
    return any(p == b or p.startswith(b.rstrip("/") + "/") for b in bound for p in (path, real))


def visible_trees(job):
    """Host trees the sample may read: system directories, this interpreter, the job's extras."""
    trees = list(HOST_READ_ONLY)
    if job["kind"] == "python":
        trees += [sys.base_prefix, sys.base_exec_prefix, os.path.dirname(os.path.realpath(sys.executable))]
        trees += [p for p in sys.path if p and os.path.isdir(p)]
    trees += list(job.get("read_paths", ()))
    out = []
    for t in trees:
        t = os.path.abspath(t)
        if t not in out and os.path.lexists(t):
            out.append(t)
    return out


_PLANS = {}


def bind_plan(job):
    """[(symlink|dir|file, host path, symlink target)]: what build_root binds, computed once per
    set of trees and kept in the server, so a job does not pay for the realpath() calls."""
    key = (job["kind"], tuple(job.get("read_paths", ())))
    plan = _PLANS.get(key)
    if plan is not None:
        return plan
    plan, bound = [], []
    for tree in visible_trees(job):
        if os.path.islink(tree) and os.path.dirname(tree) == "/":
            plan.append(("symlink", tree, os.readlink(tree)))
            continue
        if _covered(tree, bound):
            continue
        plan.append(("dir" if os.path.isdir(tree) else "file", tree, None))
        bound.append(tree)
        bound.append(os.path.realpath(tree))
    if len(_PLANS) < 64:
        _PLANS[key] = plan
    return plan


def build_root(job, base, uid, gid, chown):
    """Mount a new root on tmpfs at ``base`` and make it the root (move + chroot); returns {"proc": bool, ...}."""
    info = {"proc": False}
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", base, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,nr_inodes=16384,mode=0755")
    scratch = os.path.join(base, ".scratch")
    os.mkdir(scratch)
    mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV,
          f"size={max(job['max_written_bytes'], 4096)},nr_inodes={job['max_inodes']},mode=0755")
    for name, mode in (("work", 0o755), ("tmp", 0o1777), ("shm", 0o1777)):
        os.mkdir(os.path.join(scratch, name))
        os.chmod(os.path.join(scratch, name), mode)
    write_job_files(job, os.path.join(scratch, "work"), uid, gid, chown)
    for d in ("sandbox", "tmp", "dev", "dev/shm", "proc", "etc"):
        os.makedirs(os.path.join(base, d), exist_ok=True)
    _bind(os.path.join(scratch, "work"), base + WORK_INSIDE, read_only=False)
    _bind(os.path.join(scratch, "tmp"), base + "/tmp", read_only=False)
    _bind(os.path.join(scratch, "shm"), base + "/dev/shm", read_only=False)
    # Left mounted (an unmount costs an RCU grace period, milliseconds per job) but closed: it only
    # holds the three directories bound above, under the same size cap.
    os.chmod(scratch, 0o700)
    for dev in DEVICES:
        target = os.path.join(base, "dev", dev)
        open(target, "w").close()
        mount(f"/dev/{dev}", target, None, MS_BIND)
    for name, dest in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                       ("stderr", "/proc/self/fd/2")):
        os.symlink(dest, os.path.join(base, "dev", name))
    etc = os.path.join(base, "etc")
    _write_file(os.path.join(etc, "passwd"), f"root:x:0:0:root:/root:/bin/sh\nsandbox:x:{uid}:{gid}:sandbox:"
                f"{WORK_INSIDE}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    _write_file(os.path.join(etc, "group"), f"root:x:0:\nsandbox:x:{gid}:\nnogroup:x:65534:\n")
    for name in _etc_names():
        src = os.path.join("/etc", name)
        dst = os.path.join(etc, name)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        elif os.path.isdir(src):
            os.mkdir(dst)
            _bind(src, dst)
        elif os.path.isfile(src):
            open(dst, "w").close()
            _bind(src, dst)
    for action, tree, extra in bind_plan(job):
        target = base + tree
        if action == "symlink":
            os.symlink(extra, target)  # /bin -> usr/bin on merged-/usr systems
            continue
        if action == "dir":
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "w").close()
        _bind(tree, target)
    try:
        mount("proc", base + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        info["proc"] = True
    except OSError as exc:
        info["proc_error"] = str(exc)
    mount(None, base, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    # switch_root's way (move the new root over "/", then chroot) rather than pivot_root: detaching
    # the old root costs an RCU grace period per job. The old tree stays mounted underneath, out of
    # reach of any path (".." stops at the root; chroot and mount are gone with the capabilities and
    # refused by seccomp; every fd to the old tree is closed before the sample runs).
    os.chdir(base)
    mount(base, "/", None, MS_MOVE)
    os.chroot(".")
    os.chdir("/")
    return info


# ---------------------------------------------------------------- privileges and limits


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_privileges(ctx, keep_dac_read_search=False):
    """Empty the bounding, ambient, inheritable, permitted and effective sets; switch uid when root."""
    lc = libc()
    keep = {CAP_DAC_READ_SEARCH} if keep_dac_read_search else set()
    for cap in range(ctx["cap_last"] + 1):
        # Without CAP_SETPCAP (an unprivileged run without namespaces) the bounding set cannot
        # shrink; it only matters for exec of file-capability binaries, which no_new_privs stops.
        if (cap not in keep and prctl(PR_CAPBSET_READ, cap) == 1 and prctl(PR_CAPBSET_DROP, cap) != 0
                and (os.geteuid() == 0 or ctx["pid_ns"])):
            _check(-1, f"drop capability {cap} from the bounding set")
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    if ctx["change_ids"]:
        if keep:
            _check(prctl(8, 1), "prctl(KEEPCAPS)")
        os.setgroups([])
        os.setresgid(ctx["gid"], ctx["gid"], ctx["gid"])
        os.setresuid(ctx["uid"], ctx["uid"], ctx["uid"])
    header = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if keep:
        data[0].effective = data[0].permitted = 1 << CAP_DAC_READ_SEARCH
    _check(lc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")
    check = (_CapData * 2)()
    _check(lc.capget(ctypes.byref(header), ctypes.byref(check)), "capget")
    if any(check[i].effective | check[i].permitted | check[i].inheritable for i in (0, 1)) and not keep:
        raise OSError(0, "capabilities are still held after dropping them")


def set_limits(step):
    cpu = max(1, int(step["cpu_s"] + 0.999))
    # soft limit: SIGXCPU; hard limit one second later: SIGKILL, which nothing can catch.
    limits = [
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_FSIZE, step["max_file_bytes"], step["max_file_bytes"]),
        (resource.RLIMIT_NOFILE, step["max_open_files"], step["max_open_files"]),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NPROC, step["max_processes"], step["max_processes"]),
    ]
    if step["memory_bytes"]:
        limits.append((resource.RLIMIT_AS, step["memory_bytes"], step["memory_bytes"]))
    for which, soft, hard in limits:
        resource.setrlimit(which, (soft, hard))


def close_inherited_fds():
    """Close every fd above stderr: the sample must hold no pipe to the supervisor or the server."""
    if libc().syscall(ctypes.c_long(SYS_CLOSE_RANGE), ctypes.c_uint(3), ctypes.c_uint(0xFFFFFFFF),
                      ctypes.c_uint(0)) != 0:
        os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def _world_traversable(path):
    path = os.path.realpath(path)
    while True:
        try:
            if not os.stat(path).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


# ---------------------------------------------------------------- the Python guards


_PROCESS_EVENTS = {
    "os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "os.forkpty", "os.kill",
    "os.killpg", "subprocess.Popen", "pty.spawn", "os.startfile", "resource.setrlimit",
    "resource.prlimit", "signal.pthread_kill",
}
# Ways to reach the harness's frames or objects (and so the exit token): refused outright.
_INTROSPECTION_EVENTS = {
    "gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames", "sys.settrace",
    "sys.setprofile", "cpython._PySys_ClearAuditHooks",
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
_BLOCKED_MODULES = {"_posixsubprocess", "_ctypes", "ctypes", "multiprocessing", "_multiprocessing", "pty",
                    "atexit", "_sandbox_seccomp", "_sandbox_landlock"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_DISABLED = (
    "setuid", "setgid", "seteuid", "setegid", "setreuid", "setregid", "setresuid", "setresgid",
    "setgroups", "chroot", "setsid", "setpgid", "setpgrp", "fork", "forkpty", "kill", "killpg",
    "system", "execv", "execve", "execl", "execle", "execlp", "execlpe", "execvp", "execvpe",
    "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe",
    "posix_spawn", "posix_spawnp", "putenv", "unsetenv",
)


def install_guards(workdir, _exit=os._exit, _write=os.write):
    """Audit hook + disabled functions; any refusal ends the sample at once with the violation code."""
    real = os.path.realpath
    root = real(workdir)
    allowed_devices = {"/dev/null", "/dev/zero", "/dev/urandom", "/dev/random", "/dev/full"}
    state = {"busy": False}
    isabs, join, getcwd, fsdecode = os.path.isabs, os.path.join, os.getcwd, os.fsdecode

    def inside(path):
        if isinstance(path, int):
            return True
        try:
            p = fsdecode(path)
        except TypeError:
            return False
        full = real(p if isabs(p) else join(getcwd(), p))
        return full == root or full.startswith(root + "/") or full in allowed_devices

    def violate(what):
        try:
            _write(2, ("\n" + VIOLATION_MARK + str(what)[:300].replace("\n", " ") + "\n").encode("utf-8", "replace"))
        finally:
            _exit(VIOLATION_CODE)

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
            elif event in _INTROSPECTION_EVENTS:
                violate(f"introspection of the harness is not allowed ({event})")
            elif event.startswith("socket."):
                violate(f"network access is not allowed ({event})")
            elif event.startswith("ctypes."):
                violate(f"ctypes is not allowed ({event})")
            elif event == "import" and args:
                top = str(args[0]).split(".")[0]
                if top in _BLOCKED_MODULES or top.startswith(("_test", "_xx")):
                    violate(f"import of {args[0]} is not allowed")
        finally:
            state["busy"] = False

    def disabled(name):
        def refuse(*_args, **_kwargs):
            violate(f"os.{name} is disabled")

        return refuse

    for name in _DISABLED:
        if hasattr(os, name):
            setattr(os, name, disabled(name))
    sys.addaudithook(hook)


def arm_exit_token(pass_code, use_seccomp, host_shared):
    """Register the only exit that counts as passed; the token lives in atexit's C list alone."""
    if use_seccomp:
        token = (int.from_bytes(os.urandom(3), "little") << 8 | pass_code) & 0x7FFFFFFF
        seccomp.install(seccomp.build(exit_token=token, pass_code=pass_code, host_shared=host_shared))
    else:
        token = pass_code
    atexit.register(partial(os._exit, token))
    del token
    for name in ("_run_exitfuncs", "_clear", "_ncallbacks"):
        with contextlib.suppress(AttributeError):
            delattr(atexit, name)


# ---------------------------------------------------------------- the step process


def run_step_process(job, step, ctx, out_w, err_w, _exit=os._exit, _BaseException=BaseException):
    """The forked step process: returns _SAMPLE_DONE after a Python program ran to its end (the
    caller unwinds to the interpreter's normal exit), never returns otherwise."""
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if not ctx["pid_ns"]:
            os.setpgid(0, 0)
        devnull = os.open("/dev/null", os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        close_inherited_fds()
        os.chdir(ctx["workdir"])
        env = dict(job["env"])
        env.setdefault("HOME", ctx["workdir"])
        env.setdefault("TMPDIR", ctx["workdir"])
        set_limits(step)
        drop_privileges(ctx, keep_dac_read_search=ctx["keep_dac_read_search"])
        is_python = job["kind"] == "python"
        if is_python:
            prctl(PR_SET_DUMPABLE, 0)  # /proc/self/mem and friends become root's, not the sample's
        _check(prctl(PR_SET_NO_NEW_PRIVS, 1), "prctl(NO_NEW_PRIVS)")
        if ctx["landlock"]:
            landlock.restrict(ctx["read_trees"], [ctx["workdir"]], [f"/dev/{d}" for d in DEVICES])
        if ctx["seccomp"] and not is_python:
            seccomp.install(seccomp.build(host_shared=not ctx["pid_ns"]))
        if is_python:
            gc.enable()
            os.environ.clear()
            os.environ.update(env)
            arm_exit_token(job["pass_code"], ctx["seccomp"], host_shared=not ctx["pid_ns"])
            install_guards(ctx["workdir"])
            program = job["program"]
        else:
            argv = list(step["argv"])
    except _BaseException as exc:
        try:
            _emit(2, f"{ERROR_MARK}setup: {type(exc).__name__}: {exc}"[:400])
        finally:
            _exit(SETUP_ERROR_CODE)
    if not is_python:
        try:
            execvpe(argv, env)
        except _BaseException as exc:
            try:
                _emit(2, f"{ERROR_MARK}cannot run {argv[0]!r}: {exc}"[:400])
            finally:
                _exit(EXEC_FAILED_CODE)
    try:
        code = compile(program, "<sample>", "exec")
        exec(code, {})
    except _BaseException as exc:
        try:
            try:
                message = f"{type(exc).__name__}: {exc}"[:300]
            except _BaseException:
                message = "unprintable exception"
            _emit(2, ERROR_MARK + message)
        finally:
            _exit(1)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(_BaseException):
            stream.flush()
    # The program has ended: threads it left running are cut off, not waited for (as when a
    # sample process simply exits), so the interpreter goes straight to the atexit exit token.
    with contextlib.suppress(_BaseException):
        threading_module = sys.modules.get("threading")
        if threading_module is not None:
            threading_module._shutdown = _no_wait
    return _SAMPLE_DONE


def _no_wait():
    return None


def execvpe(argv, env):
    """os.execvpe without its lazy imports (the interpreter's library may not be visible here)."""
    name = argv[0]
    if "/" in name:
        os.execve(name, argv, env)
    last = FileNotFoundError(2, f"{name}: not found on PATH")
    for d in env.get("PATH", "/usr/bin:/bin").split(":"):
        path = os.path.join(d or ".", name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            try:
                os.execve(path, argv, env)
            except OSError as exc:
                last = exc
    raise last


# ---------------------------------------------------------------- init


def _tail(buf, data, cap):
    buf += data
    return buf[-cap:] if len(buf) > cap else buf


def _runqueue_seconds(pid):
    """Seconds the step spent runnable but waiting for a CPU (None when /proc cannot tell).

    A timeout with a long run-queue wait means the machine was overloaded, not that the program
    was slow; the harness re-runs such samples instead of counting them as failures.
    """
    try:
        with open(f"/proc/{pid}/schedstat") as fh:
            return int(fh.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def _dir_bytes(path):
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total


def kill_leftovers(ctx, pgid):
    """Every process the step left behind."""
    if ctx["pid_ns"]:
        with contextlib.suppress(OSError):
            os.kill(-1, signal.SIGKILL)  # pid 1 of the namespace: everyone but itself
    else:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
        if ctx["change_ids"]:
            pid = os.fork()
            if pid == 0:
                try:
                    os.setresuid(ctx["uid"], ctx["uid"], ctx["uid"])
                    os.kill(-1, signal.SIGKILL)  # every process of the sample's own uid
                finally:
                    os._exit(0)
            os.waitpid(pid, 0)
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break


def run_step(job, step, ctx):
    """Fork one step, drain its output, enforce its wall clock; returns its record (or the sentinel
    in the step process itself)."""
    cap = job["tail_bytes"]
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(out_r)
        os.close(err_r)
        return run_step_process(job, step, ctx, out_w, err_w)
    os.close(out_w)
    os.close(err_w)
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    tails = {out_r: b"", err_r: b""}
    open_fds = [out_r, err_r]
    deadline = started + step["wall_s"]
    timed_out, over_quota, runqueue = False, False, None
    next_quota_check = started + 0.1
    while True:
        now = time.monotonic()
        if now >= deadline:
            timed_out = True
            runqueue = _runqueue_seconds(pid)
            break
        if ctx["poll_quota"] and now >= next_quota_check:
            next_quota_check = now + 0.1
            if _dir_bytes(ctx["workdir"]) > job["max_written_bytes"]:
                over_quota = True
                break
        wait = deadline - now
        if pidfd is None or ctx["poll_quota"]:
            wait = min(wait, 0.01 if pidfd is None else 0.1)
        ready, _, _ = select.select(open_fds + ([pidfd] if pidfd is not None else []), [], [], wait)
        for fd in ready:
            if fd == pidfd:
                continue
            data = os.read(fd, 65536)
            if data:
                tails[fd] = _tail(tails[fd], data, cap)
            else:
                open_fds.remove(fd)
        if pidfd is not None and pidfd in ready:
            break
        if pidfd is None and os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            break
    if timed_out or over_quota:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    _, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - started
    kill_leftovers(ctx, pid)
    # A step that writes past the cap and exits between two polls (96 MB takes ~0.1 s) is caught
    # here: the cap is on what a job keeps written, and that is still in the work dir.
    if ctx["poll_quota"] and not (timed_out or over_quota) and _dir_bytes(ctx["workdir"]) > job["max_written_bytes"]:
        over_quota = True
    for fd in list(open_fds):  # what is already in the pipes; writers are gone now
        while True:
            r, _, _ = select.select([fd], [], [], 0)
            if not r:
                break
            data = os.read(fd, 65536)
            if not data:
                break
            tails[fd] = _tail(tails[fd], data, cap)
    for fd in (out_r, err_r):
        os.close(fd)
    if pidfd is not None:
        os.close(pidfd)
    record = {
        "step": step["name"], "wall_s": round(wall, 4), "cpu_s": round(usage.ru_utime + usage.ru_stime, 4),
        "timed_out": timed_out, "over_quota": over_quota,
        "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "stdout": tails[out_r].decode("utf-8", "replace"), "stderr": tails[err_r].decode("utf-8", "replace"),
    }
    if runqueue is not None:
        record["runqueue_s"] = round(runqueue, 4)
    return record


def run_init(job, ctx, report_fd):
    """Init: build the root (namespaces) and run the steps; returns the sentinel in a finished
    Python sample, otherwise never returns."""
    def send(obj):
        os.write(report_fd, (json.dumps(obj) + "\n").encode())

    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        prctl(PR_SET_DUMPABLE, 0)
        if not ctx["pid_ns"]:
            os.setpgid(0, 0)
        if ctx["mnt_ns"]:
            try:
                # a mount namespace of init's own, so the new root leaves the supervisor's alone
                _check(libc().unshare(CLONE_NEWNS), "unshare(mount)")
                info = build_root(job, job["workdir"], ctx["uid"], ctx["gid"], ctx["change_ids"])
                send({"event": "layer", "name": "fs", "ok": True})
                send({"event": "layer", "name": "proc", "ok": info["proc"], "error": info.get("proc_error")})
            except OSError as exc:
                send({"event": "layer", "name": "fs", "ok": False, "error": str(exc)[:300]})
                if not job["unsafe_no_isolation"]:
                    send({"event": "refused", "error": f"cannot build the sandbox's root: {exc}"[:300]})
                    os._exit(0)
                ctx["workdir"] = job["workdir"]
        else:
            write_job_files(job, job["workdir"], ctx["uid"], ctx["gid"], ctx["change_ids"])
            if ctx["change_ids"]:
                os.chown(job["workdir"], ctx["uid"], ctx["gid"])
        for step in job["steps"]:
            record = run_step(job, step, ctx)
            if record is _SAMPLE_DONE:
                return record
            send({"event": "step", **record})
            if record["code"] != 0 and step["name"] == "compile":
                break
        os._exit(0)
    except BaseException as exc:
        try:
            send({"event": "setup-error", "error": f"{type(exc).__name__}: {exc}"[:300]})
        finally:
            os._exit(3)


# ---------------------------------------------------------------- supervisor


def isolation_plan(job, namespaces):
    """Which layers this run gets, or a refusal reason."""
    uid = os.geteuid()
    as_root = uid == 0
    change_ids = as_root and job["drop_root"]
    own = UID_BASE + os.getpid() if change_ids else uid
    ctx = {
        "uid": own, "gid": own if change_ids else os.getegid(), "change_ids": change_ids,
        "pid_ns": namespaces["pid"], "mnt_ns": namespaces["mnt"],
        "workdir": WORK_INSIDE if namespaces["mnt"] else job["workdir"],
        "seccomp": LINUX and seccomp.supported(), "landlock": False, "poll_quota": not namespaces["mnt"],
        "keep_dac_read_search": False, "read_trees": [], "refused": None,
    }
    try:
        with open("/proc/sys/kernel/cap_last_cap") as fh:
            ctx["cap_last"] = int(fh.read())
    except (OSError, ValueError):
        ctx["cap_last"] = 40
    if not namespaces["mnt"]:
        abi = landlock.abi() if LINUX else 0
        trees = visible_trees(job) + [os.path.join("/etc", n) for n in (*_etc_names(), "passwd", "group")]
        ctx["read_trees"] = trees
        ctx["landlock"] = abi >= landlock.REQUIRED_ABI
        if change_ids and job["kind"] == "python":
            ctx["keep_dac_read_search"] = not all(
                _world_traversable(p) for p in (sys.base_prefix, *[p for p in sys.path if p])
            )
        if not (ctx["landlock"] and ctx["seccomp"]) and not job["unsafe_no_isolation"]:
            why = namespaces.get("error") or "namespaces were not requested"
            ctx["refused"] = (
                f"no namespaces ({why}) and no Landlock ABI {landlock.REQUIRED_ABI}+ with seccomp "
                f"(Landlock ABI here: {abi}); pass unsafe_no_isolation (--unsafe-no-isolation) to run anyway"
            )
    return ctx


def _signal_name(sig):
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


def _marked(text, mark):
    for line in reversed(text.splitlines()):
        if line.startswith(mark):
            return line[len(mark):][:300]
    return None


def step_verdict(job, rec, step):
    """(status, detail) of one step record."""
    if rec["timed_out"]:
        return "timeout", f"wall-clock limit of {step['wall_s']} s exceeded"
    if rec["over_quota"]:
        return "failed", f"wrote more than {job['max_written_bytes'] >> 20} MiB"
    code, sig = rec["code"], rec["signal"]
    if sig is not None:
        name = _signal_name(sig)
        # SIGXCPU comes from RLIMIT_CPU's soft limit; SIGKILL from its hard limit one second later
        # (a sample that ignores SIGXCPU), told apart from other kills by the CPU time used.
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and rec["cpu_s"] >= step["cpu_s"] * 0.9):
            return "timeout", f"CPU limit of {step['cpu_s']} s exceeded ({name})"
        if sig == signal.SIGSYS:
            return "failed", "killed by SIGSYS (a forbidden system call)"
        return "failed", f"killed by {name}"
    error = _marked(rec["stderr"], ERROR_MARK)
    if code == SETUP_ERROR_CODE and error and error.startswith("setup:"):
        return "error", error
    if job["kind"] == "python":
        if code == job["pass_code"]:
            rec["code"] = 0  # the caller sees a plain success
            return "passed", ""
        if code == VIOLATION_CODE:
            return "violation", _marked(rec["stderr"], VIOLATION_MARK) or "sandbox violation"
        if code == 1 and error:
            return "failed", error
        return "failed", f"exited with status {code} before the program ended"
    if code == 0:
        return "passed", ""
    return "failed", error if code == EXEC_FAILED_CODE and error else f"exited with status {code}"


def supervise(job):
    namespaces = enter_namespaces(job["namespaces"])
    ctx = isolation_plan(job, namespaces)
    layers = {"net": namespaces["net"], "pid": namespaces["pid"], "user": namespaces["user"],
              "fs": False, "uid": ctx["change_ids"], "caps": True, "seccomp": ctx["seccomp"],
              "landlock": ctx["landlock"], "namespace_error": namespaces["error"]}
    if ctx["refused"]:
        return {"status": "error", "detail": f"sandbox refused: {ctx['refused']}", "layers": layers}
    r, w = os.pipe()
    started = time.monotonic()
    init_pid = os.fork()
    if init_pid == 0:
        os.close(r)
        return run_init(job, ctx, w)
    os.close(w)
    backstop = started + sum(s["wall_s"] for s in job["steps"]) + 10.0 * len(job["steps"])
    chunks, size, hung = [], 0, False
    while True:
        remaining = backstop - time.monotonic()
        if remaining <= 0:
            hung = True
            break
        ready, _, _ = select.select([r], [], [], remaining)
        if not ready:
            continue
        data = os.read(r, 65536)
        if not data:
            break
        if size < (1 << 22):
            chunks.append(data)
            size += len(data)
    if hung:
        with contextlib.suppress(OSError):
            os.kill(init_pid, signal.SIGKILL)
    os.waitpid(init_pid, 0)
    os.close(r)
    if not namespaces["pid"]:
        with contextlib.suppress(OSError):
            os.killpg(init_pid, signal.SIGKILL)
    records, errors, refused = [], [], None
    for line in b"".join(chunks).decode("utf-8", "replace").splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        kind = ev.get("event")
        if kind == "layer":
            layers[ev["name"]] = bool(ev.get("ok"))
            if ev.get("error"):
                layers[f"{ev['name']}_error"] = ev["error"]
        elif kind == "step":
            records.append(ev)
        elif kind == "setup-error":
            errors.append(ev.get("error"))
        elif kind == "refused":
            refused = ev.get("error")
    verdict = {"status": "error", "detail": "", "wall_s": 0.0, "cpu_s": 0.0, "layers": layers}
    if refused:
        verdict["detail"] = f"sandbox refused: {refused}"
        return verdict
    if hung:
        verdict.update(status="timeout", detail="sandbox init did not finish in time")
        return verdict
    if not records:
        verdict["detail"] = f"sandbox init failed: {errors[0] if errors else 'no step ran'}"
        return verdict
    steps = {s["name"]: s for s in job["steps"]}
    last = records[-1]
    status, detail = step_verdict(job, last, steps[last["step"]])
    if last["step"] == "compile" and status != "passed":
        status = "compile_error" if status in ("failed",) else status
        detail = f"compile step: {detail}"
    elif last["step"] == "compile":  # compiled, but the run step did not report
        status, detail = "error", "the run step did not run"
    verdict.update(status=status, detail=detail, wall_s=last["wall_s"], cpu_s=last["cpu_s"], step=last["step"],
                   returncode=last["code"] if last["signal"] is None else -last["signal"])
    if job["kind"] != "python":  # Python verdicts carry their reason in detail; no tails to hold
        verdict.update(stdout=last["stdout"], stderr=last["stderr"])
    if "runqueue_s" in last:
        verdict["runqueue_s"] = last["runqueue_s"]
    if len(records) > 1:
        verdict["compile_wall_s"] = records[0]["wall_s"]
        verdict["compile_cpu_s"] = records[0]["cpu_s"]
    return verdict


def run_job(job):
    try:
        return supervise(job)
    except Exception as exc:
        return {"status": "error", "detail": f"supervisor: {type(exc).__name__}: {exc}"}


def serve():
    """Server mode: one job per stdin line, one verdict per stdout line (carrying the job's id).

    Each job runs in a fresh fork of this process, which itself never runs untrusted code, so
    every sample starts from the same clean interpreter without paying for interpreter start-up.
    """
    stdin = sys.stdin.buffer
    out = sys.stdout
    _etc_names()
    bind_plan({"kind": "python", "read_paths": ()})  # kept in the server's memory for every fork
    bind_plan({"kind": "command", "read_paths": ()})
    # Forked supervisors, inits and samples share this heap copy-on-write; a collection walking it
    # would copy every page. Frozen objects are never walked (the sample's own garbage still is).
    gc.collect()
    gc.freeze()
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
            gc.disable()  # short-lived trusted code; re-enabled for the sample
            verdict = run_job(job)
            if verdict is _SAMPLE_DONE:
                return verdict
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
        try:
            verdict = json.loads(b"".join(chunks).decode("utf-8", "replace"))
            if not isinstance(verdict, dict):
                raise ValueError("not an object")
        except ValueError:
            verdict = {"status": "error", "detail": "supervisor died without a verdict"}
        verdict["id"] = job.get("id")
        out.write(json.dumps(verdict) + "\n")
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
    verdict = run_job(job)
    if verdict is _SAMPLE_DONE:
        return verdict
    verdict["id"] = job.get("id")
    sys.stdout.write(json.dumps(verdict) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    _result = main()
    if _result is not _SAMPLE_DONE:
        sys.exit(_result)
    # A Python sample that ran to its end: the interpreter now exits normally and the exit token
    # registered with atexit decides the status.
