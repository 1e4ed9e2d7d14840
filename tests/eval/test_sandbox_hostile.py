"""Hostile samples against the sandbox, as a table: (attack, expected verdict, expected containment).

Every row runs in the default mode (namespaces) and, where the kernel has Landlock ABI 6+, in the
``namespaces=False`` mode as well. A row's containment check looks at the host (files, processes,
listeners) and at everything the result carries back (detail, stdout, stderr), so a secret copied
out through any of them fails the row.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sctool.errors import ConfigError
from sctool.eval import sandbox as sb
from sctool.eval.sandbox import ExecResult, SandboxConfig

FAST = SandboxConfig(timeout_s=5.0, memory_mb=512, workers=2, retry_starved=False)
NO_NS = SandboxConfig(timeout_s=5.0, memory_mb=512, workers=2, retry_starved=False, namespaces=False)


def _usable(cfg: SandboxConfig) -> str | None:
    """None when this mode runs programs here, else the reason to skip."""
    try:
        if hasattr(sb, "check_isolation"):
            sb.check_isolation(cfg)
    except ConfigError as exc:
        return str(exc)
    res = sb.run_program("pass\n", cfg)
    return None if res.status == "passed" else f"sandbox probe: {res.status} {res.detail}"


MODES = {"namespaces": FAST, "no-namespaces": NO_NS}
SKIP = {name: _usable(cfg) for name, cfg in MODES.items()}
HAS_COMMANDS = hasattr(sb, "run_command")
NS_LAYERS = sb.probe_isolation(FAST) if not SKIP["namespaces"] else {}


def _everything(res: ExecResult) -> str:
    return " ".join(str(getattr(res, k, "") or "") for k in ("detail", "stdout", "stderr"))


@dataclass
class Env:
    """Host-side fixtures an attack aims at, and the checks that they are untouched."""

    secret: str
    secret_file: Path
    host_tmp: Path
    shm: Path
    marker: str
    port: int
    listener: socket.socket
    victim: subprocess.Popen[bytes]
    extra: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def env(tmp_path_factory: pytest.TempPathFactory) -> Any:
    secret = "SECRET-" + secrets.token_hex(12)
    private = tmp_path_factory.mktemp("private")
    private.chmod(0o700)
    secret_file = private / "secret.txt"
    secret_file.write_text(secret)
    secret_file.chmod(0o600)
    marker = "sctool-victim-" + secrets.token_hex(6)
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", marker])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.setblocking(False)
    name = "sctool-hostile-" + secrets.token_hex(6)
    e = Env(secret, secret_file, Path(tempfile.gettempdir()) / name, Path("/dev/shm") / name, marker,
            listener.getsockname()[1], listener, victim)
    try:
        yield e
    finally:
        victim.kill()
        victim.wait()
        listener.close()
        for p in (e.host_tmp, e.shm):
            if p.exists():
                p.unlink()


def _no_connection(e: Env) -> bool:
    try:
        conn, _ = e.listener.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


def _victim_alive(e: Env) -> bool:
    return e.victim.poll() is None


@dataclass(frozen=True)
class Attack:
    name: str
    kind: str                                  # "python" or "command"
    body: Callable[[Env], Any]                 # program text, or (files, argv)
    verdicts: tuple[str, ...]                  # acceptable statuses
    contained: Callable[[Env, ExecResult], bool]
    needs: str = ""                            # a host program the attack needs
    modes: tuple[str, ...] = ("namespaces", "no-namespaces")


def _secret_kept(e: Env, res: ExecResult) -> bool:
    return e.secret not in _everything(res)


def _shadow_kept(e: Env, res: ExecResult) -> bool:
    text = _everything(res)
    return "root:" not in text and "$6$" not in text and "$y$" not in text


ATTACKS = [
    Attack("read /etc/shadow and raise it as the error",
           "python", lambda e: "raise ValueError(open('/etc/shadow').read())\n",
           ("failed",), _shadow_kept),
    Attack("read a root-only file and print + raise it",
           "python", lambda e: f"s = open({str(e.secret_file)!r}).read()\nprint(s)\nraise ValueError(s)\n",
           ("failed",), _secret_kept),
    Attack("find a host process's command line in /proc",
           "python", lambda e: (
               "import os\nfound = []\n"
               "for p in os.listdir('/proc'):\n"
               "    try:\n        c = open(f'/proc/{p}/cmdline', 'rb').read()\n    except OSError:\n        continue\n"
               f"    if {e.marker.encode()!r} in c:\n        found.append(c)\n"
               "assert found, 'not visible'\nraise ValueError(found)\n"),
           ("failed",), lambda e, r: e.marker not in _everything(r)),
    Attack("forge {'event': 'passed'} on every inherited fd, then fail",
           "python", lambda e: (
               "import os\nfor fd in range(3, 1024):\n    try:\n"
               "        os.write(fd, b'{\"event\": \"passed\"}\\n{\"status\": \"passed\"}\\n')\n"
               "    except OSError:\n        pass\nraise SystemExit(1)\n"),
           ("failed",), lambda e, r: True),
    Attack("no fd above stderr is open when the program starts",
           "python", lambda e: (
               "import os\nleft = []\nfor fd in range(3, 1024):\n    try:\n        os.fstat(fd)\n"
               "        left.append(fd)\n    except OSError:\n        pass\nassert not left, left\n"),
           ("passed",), lambda e, r: True),
    Attack("every capability dropped, bounding set included",
           "python", lambda e: (
               "caps = dict(l.split(':') for l in open('/proc/self/status').read().splitlines() if l.startswith('Cap'))\n"
               "assert all(int(caps[k], 16) == 0 for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb')), caps\n"),
           # without namespaces /proc is outside what Landlock lets the sample read
           ("passed",), lambda e, r: True, modes=("namespaces",)),
    Attack("call atexit's runner to fake a normal end",
           "python", lambda e: "import atexit\natexit._run_exitfuncs()\nraise SystemExit(1)\n",
           ("failed",), lambda e, r: True),
    Attack("trace the harness's frames",
           "python", lambda e: "import sys\nsys.settrace(lambda *a: None)\n",
           ("violation",), lambda e, r: True),
    Attack("write many large files (total bytes written cap)",
           "python", lambda e: (
               "for i in range(12):\n    with open(f'f{i}', 'wb') as fh:\n        fh.write(b'x' * (8 << 20))\n"),
           ("failed",), lambda e, r: True),
    Attack("write to /tmp and /dev/shm",
           "command", lambda e: ({"a.sh": f"echo x > {e.host_tmp}; echo x > {e.shm}; exit 0\n"}, ["sh", "a.sh"]),
           ("passed", "failed"), lambda e, r: not e.host_tmp.exists() and not e.shm.exists()),
    Attack("connect to a host listener on loopback",
           "command", lambda e: ({"c.py": f"import socket\nsocket.create_connection(('127.0.0.1', {e.port}), 2)\n"},
                                 ["python3", "-S", "c.py"]),
           ("failed",), lambda e, r: _no_connection(e), needs="python3"),
    Attack("kill(-1, SIGKILL)",
           "command", lambda e: ({"k.sh": "kill -9 -1\nexit 0\n"}, ["sh", "k.sh"]),
           ("passed", "failed"), lambda e, r: _victim_alive(e)),
    Attack("unshare(CLONE_NEWUSER)",
           "command", lambda e: ({}, ["unshare", "--user", "--map-root-user", "true"]),
           ("failed",), lambda e, r: "Operation not permitted" in r.stderr or "not permitted" in r.stderr.lower(),
           needs="unshare"),
    Attack("read /etc/shadow from a command",
           "command", lambda e: ({"r.sh": "cat /etc/shadow\n"}, ["sh", "r.sh"]),
           ("failed",), _shadow_kept),
    Attack("read a root-only file from a command",
           "command", lambda e: ({"r.sh": f"cat {e.secret_file}\n"}, ["sh", "r.sh"]),
           ("failed",), _secret_kept),
    Attack("fill the disk from a command",
           "command", lambda e: ({"w.sh": "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do head -c 8388608 /dev/zero > f$i || exit 1; done\n"},
                                 ["sh", "w.sh"]),
           ("failed",), lambda e, r: True),
]


def _limits_for(attack: Attack, cfg: SandboxConfig) -> SandboxConfig:
    from dataclasses import replace

    # a small total-bytes cap so the disk attacks hit it quickly
    return replace(cfg, max_written_mb=32) if "disk" in attack.name or "large files" in attack.name else cfg


def _run(attack: Attack, e: Env, cfg: SandboxConfig) -> ExecResult:
    cfg = _limits_for(attack, cfg)
    body = attack.body(e)
    if attack.kind == "python":
        return sb.run_programs([body], cfg)[0]
    files, argv = body
    return sb.run_commands([sb.CommandJob(files=files, run=argv)], cfg)[0]


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_hostile_sample(attack: Attack, mode: str, env: Env) -> None:
    if SKIP[mode]:
        pytest.skip(f"{mode} mode unavailable here: {SKIP[mode]}")
    if mode not in attack.modes:
        pytest.skip(f"not applicable in {mode} mode")
    if attack.modes == ("namespaces",) and not (NS_LAYERS.get("pid") and NS_LAYERS.get("fs") and NS_LAYERS.get("proc")):
        pytest.skip(f"namespaces or a fresh /proc not granted here: {NS_LAYERS}")
    if attack.kind == "command" and not HAS_COMMANDS:
        pytest.fail("the sandbox has no command runner")
    if attack.needs and not shutil.which(attack.needs):
        pytest.skip(f"{attack.needs} is not installed")
    if attack.name.startswith("read /etc/shadow") and not Path("/etc/shadow").exists():
        pytest.skip("no /etc/shadow here")
    res = _run(attack, env, MODES[mode])
    assert res.status in attack.verdicts, (res.status, res.detail, getattr(res, "stderr", ""))
    assert attack.contained(env, res), (res.status, res.detail, getattr(res, "stdout", ""), getattr(res, "stderr", ""))


@pytest.mark.parametrize("mode", list(MODES))
def test_forged_verdicts_do_not_desync_later_samples_on_the_same_worker(mode: str) -> None:
    if SKIP[mode]:
        pytest.skip(f"{mode} mode unavailable here: {SKIP[mode]}")
    forger = (
        "import os, json\nline = json.dumps({'status': 'passed', 'detail': '', 'event': 'passed'}).encode() + b'\\n'\n"
        "for fd in range(1, 1024):\n    try:\n        os.write(fd, line * 3)\n    except OSError:\n        pass\n"
        "raise SystemExit(1)\n"
    )
    cfg = SandboxConfig(timeout_s=5.0, workers=1, retry_starved=False, namespaces=MODES[mode].namespaces)
    results = sb.run_programs([forger, "assert False\n", forger, "assert 1 == 2\n", "pass\n"], cfg)
    assert [r.status for r in results] == ["failed", "failed", "failed", "failed", "passed"]


def test_guessing_the_pass_code_never_passes() -> None:
    if SKIP["namespaces"]:
        pytest.skip(SKIP["namespaces"])
    # Every exit status a sample could pick without seeing the harness's token: none may pass.
    programs = [f"import os\nos._exit({code})\n" for code in range(0, 128)]
    results = sb.run_programs(programs, SandboxConfig(timeout_s=5.0, workers=2, retry_starved=False))
    assert [r.status for r in results if r.status == "passed"] == []


def test_fork_bomb_in_a_command_is_stopped_and_leaves_nothing() -> None:
    if SKIP["namespaces"]:
        pytest.skip(SKIP["namespaces"])
    assert HAS_COMMANDS, "the sandbox has no command runner"
    marker = "bomb" + secrets.token_hex(6)
    script = f"{marker}.sh"
    job = sb.CommandJob(files={script: f"while true; do sh {script} & sh {script} & wait; done\n"}, run=["sh", script],
                        timeout=2.0)
    started = time.monotonic()
    res = sb.run_commands([job], SandboxConfig(workers=1, retry_starved=False, max_processes=64))[0]
    assert res.status in ("timeout", "failed")
    assert time.monotonic() - started < 30
    time.sleep(0.3)
    left = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    left.append(pid)
            except OSError:
                continue
    assert left == []


def test_root_shows_only_the_minimal_tree() -> None:
    if SKIP["namespaces"]:
        pytest.skip(SKIP["namespaces"])
    layers = sb.probe_isolation(FAST)
    if not layers.get("fs"):
        pytest.skip(f"no mount namespace here: {layers}")
    keep = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "dev", "proc", "tmp", "sandbox"}
    keep |= {Path(p).resolve().parts[1] for p in (sys.base_prefix, sys.executable) if len(Path(p).resolve().parts) > 1}
    hidden = sorted(p.name for p in Path("/").iterdir() if p.name not in keep)
    prog = (
        f"import os\nhidden = {hidden!r}\nseen = set(os.listdir('/'))\nassert not seen & set(hidden), seen & set(hidden)\n"
        "assert sorted(os.listdir('/etc')) == sorted(set(os.listdir('/etc')) - {'shadow', 'gshadow', 'sudoers'})\n"
        "assert not os.path.exists('/etc/shadow')\n"
        "assert os.getcwd() == '/sandbox'\n"
    )
    res = sb.run_program(prog, FAST)
    assert res.status == "passed", res.detail


def test_command_runner_compiles_and_runs_and_reports_compile_errors() -> None:
    if SKIP["namespaces"]:
        pytest.skip(SKIP["namespaces"])
    if not shutil.which("cc"):
        pytest.skip("no C compiler installed")
    ok = sb.CommandJob(files={"m.c": '#include <stdio.h>\nint main(void){puts("out");return 0;}\n'},
                       compile=["cc", "m.c", "-o", "m"], run=["./m"])
    bad = sb.CommandJob(files={"m.c": "int main(void){return 0\n"}, compile=["cc", "m.c", "-o", "m"], run=["./m"])
    fails = sb.CommandJob(files={"m.c": "int main(void){return 3;}\n"}, compile=["cc", "m.c", "-o", "m"], run=["./m"])
    res = sb.run_commands([ok, bad, fails], SandboxConfig(workers=2, retry_starved=False))
    assert [r.status for r in res] == ["passed", "compile_error", "failed"]
    assert res[0].stdout == "out\n" and res[0].returncode == 0 and res[0].compile_wall_s is not None
    assert res[1].returncode != 0 and "error" in res[1].stderr and res[1].step == "compile"
    assert res[2].returncode == 3


def test_compile_step_sees_read_paths_and_its_own_time_limit(tmp_path: Path) -> None:
    if SKIP["namespaces"]:
        pytest.skip(SKIP["namespaces"])
    tool = tmp_path / "toolchain"
    tool.mkdir()
    (tool / "data.txt").write_text("toolchain-file")
    tmp_path.chmod(0o755)
    seen = sb.CommandJob(files={}, compile=["cat", str(tool / "data.txt")], run=["true"], read_paths=[str(tool)])
    unseen = sb.CommandJob(files={}, compile=["cat", str(tool / "data.txt")], run=["true"])
    slow = sb.CommandJob(files={}, compile=["sleep", "30"], run=["true"], compile_timeout=1.0)
    res = sb.run_commands([seen, unseen, slow], SandboxConfig(workers=1, retry_starved=False))
    assert res[0].status == "passed"
    assert res[1].status == "compile_error" and "No such file" in res[1].stderr
    assert res[2].status == "timeout" and "compile" in res[2].detail


def _child_module() -> Any:
    spec = importlib.util.spec_from_file_location("_sctool_sandbox_child_under_test", sb.CHILD)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_without_namespaces_or_landlock_the_sandbox_refuses_unless_told_unsafe(monkeypatch: pytest.MonkeyPatch) -> None:
    child = _child_module()
    monkeypatch.setattr(child.landlock, "abi", lambda: 0)
    no_ns = {"user": False, "net": False, "pid": False, "mnt": False, "error": "unshare: Operation not permitted"}
    job = sb._job("pass\n", "/nonexistent", SandboxConfig(namespaces=False), 1.0)
    assert "unsafe" in (child.isolation_plan(job, no_ns)["refused"] or "")
    job["unsafe_no_isolation"] = True
    assert child.isolation_plan(job, no_ns)["refused"] is None
    # and what the harness does with the supervisor's refusal: one clear error before any sample runs
    sb._checked[repr(SandboxConfig())] = sb.REFUSED + "no namespaces and no Landlock"
    try:
        with pytest.raises(ConfigError, match="refused"):
            sb.run_programs(["pass\n"], SandboxConfig())
    finally:
        sb._checked.pop(repr(SandboxConfig()), None)


def test_seccomp_syscall_numbers_match_the_kernel_headers() -> None:
    from sctool.eval import _sandbox_seccomp as sc

    headers = {"x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
               "aarch64": Path("/usr/include/asm-generic/unistd.h")}
    checked = 0
    for arch, header in headers.items():
        if not header.exists():
            continue
        text = header.read_text()
        for name, nr in sc.SYSCALLS[arch].items():
            import re

            m = re.search(rf"#define __NR(?:3264)?_{name}\s+(\d+)", text)
            if m:
                assert int(m.group(1)) == nr, (arch, name)
                checked += 1
    if not checked:
        pytest.skip("no kernel headers installed")


@pytest.mark.parametrize("mode", list(MODES))
def test_a_write_past_the_cap_that_exits_before_any_poll_still_fails(mode: str) -> None:
    # Without namespaces the cap is polled every 0.1 s; a job that writes 40 MiB (under the per-file
    # limit) and exits at once finishes before the first poll, and must fail all the same.
    if SKIP[mode]:
        pytest.skip(f"{mode} mode unavailable here: {SKIP[mode]}")
    from dataclasses import replace

    cfg = replace(MODES[mode], max_written_mb=32)
    job = sb.CommandJob(files={}, run=["sh", "-c", "head -c 41943040 /dev/zero > f && echo done"])
    res = sb.run_commands([job], cfg)[0]
    assert res.status == "failed", (res.status, res.detail)
    assert res.wall_s < 5
