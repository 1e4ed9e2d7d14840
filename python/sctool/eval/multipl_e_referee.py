"""An independent referee for MultiPL-E verdicts: MultiPL-E's pass criterion, transcribed, run unsandboxed.

This exists to check :mod:`sctool.eval.multipl_e` (tests and ``benches/bench_eval.py`` compare the
two verdicts on the same programs). It is written separately from ``multipl_e_languages.py`` on
purpose — its own command lines, its own plain ``subprocess`` execution, its own rules — so a
mistake in one is not silently shared by the other. It follows MultiPL-E's evaluators
(``evaluation/src/eval_<lang>.py`` and ``pass_k.py`` at nuprl/MultiPL-E 38ee732) as documented:

* each step gets MultiPL-E's time limit; a step past it is ``Timeout``;
* only the first 2 KiB of stdout and of stderr are kept (``safe_subprocess``);
* a failed compile step is ``SyntaxError`` (C++, Java, TypeScript, Rust, Scala, Swift, C#);
* language rules: Go fails on ``[setup failed]``/``[build failed]``/``FAIL`` in stdout, Perl on
  ``ERROR`` in stdout or stderr, PHP's ``PHP Parse error`` in stdout is ``SyntaxError``, Scala and
  Racket fail on any stderr, C# on ``DefaultTraceListener.Fail``/``Unhandled Exception`` in stderr;
* a program passes iff ``status == "OK"`` and ``exit_code == 0``.

It runs programs with no isolation at all: use it only on programs you trust (hand-written
reference solutions), never on model output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

KEEP = 2048
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class RefereeVerdict:
    status: str  # OK, Exception, SyntaxError, Timeout
    exit_code: int | None
    stdout: str
    stderr: str

    @property
    def passed(self) -> bool:
        return self.status == "OK" and self.exit_code == 0


def _which(*names: str) -> str | None:
    for n in names:
        found = shutil.which(n, path=SYSTEM_PATH + os.pathsep + os.environ.get("PATH", ""))
        if found:
            return found
    return None


def _run(argv: list[str], cwd: str, timeout: float, env: dict[str, str] | None = None) -> tuple[int | None, str, str]:
    """(exit code or None on timeout, stdout[:2 KiB], stderr[:2 KiB])."""
    full_env = {**os.environ, "HOME": cwd, **(env or {})}
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
    except OSError as exc:
        return 127, "", str(exc)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
        return None, out[:KEEP].decode("utf-8", "ignore"), err[:KEEP].decode("utf-8", "ignore")
    return proc.returncode, out[:KEEP].decode("utf-8", "ignore"), err[:KEEP].decode("utf-8", "ignore")


def _plain(rc: int | None, out: str, err: str) -> RefereeVerdict:
    if rc is None:
        return RefereeVerdict("Timeout", None, out, err)
    return RefereeVerdict("OK" if rc == 0 else "Exception", rc, out, err)


def _two_step(build: list[str], run: list[str], d: str, t_build: float, t_run: float,
              env: dict[str, str] | None = None) -> RefereeVerdict:
    rc, out, err = _run(build, d, t_build, env)
    if rc is None:
        return RefereeVerdict("Timeout", None, out, err)
    if rc != 0:
        return RefereeVerdict("SyntaxError", rc, out, err)
    return _plain(*_run(run, d, t_run, env))


def _javatuples() -> str:
    for j in ("/usr/multiple/javatuples-1.2.jar", "/usr/share/java/javatuples-1.2.jar", "/usr/share/java/javatuples.jar"):
        if Path(j).is_file():
            return j
    return "/usr/multiple/javatuples-1.2.jar"


def judge(lang: str, program: str) -> RefereeVerdict:
    """Compile and run ``program`` as MultiPL-E's evaluator for ``lang`` would, and give its verdict."""
    with tempfile.TemporaryDirectory(prefix="sctool-referee-") as d:
        def put(name: str) -> str:
            Path(d, name).write_text(program, encoding="utf-8")
            return name

        if lang == "cpp":
            put("p.cpp")
            return _two_step([_which("g++") or "g++", "p.cpp", "-o", "p", "-std=c++17"], ["./p"], d, 15, 15)
        if lang == "java":
            put("Problem.java")
            jar = _javatuples()
            return _two_step([_which("javac") or "javac", "-encoding", "UTF8", "-d", d, "Problem.java"],
                             [_which("java") or "java", "-ea", "-cp", f"{d}:{jar}", "Problem"], d, 15, 15,
                             env={"CLASSPATH": jar})
        if lang == "js":
            put("p.js")
            return _plain(*_run([_which("node", "nodejs") or "node", "p.js"], d, 5))
        if lang == "ts":
            put("p.ts")
            return _two_step([_which("tsc") or "tsc", "--target", "esnext", "p.ts"],
                             [_which("node", "nodejs") or "node", "p.js"], d, 15, 15)
        if lang == "rs":
            put("p.rs")
            return _two_step([_which("rustc") or "rustc", "p.rs", "-o", "p"], ["./p"], d, 15, 5)
        if lang == "go":
            put("p_test.go")
            rc, out, err = _run([_which("go") or "go", "test", "p_test.go"], d, 30,
                                {"GOCACHE": os.path.join(d, "cache"), "GOPATH": os.path.join(d, "gopath")})
            if rc is None:
                return RefereeVerdict("Timeout", None, out, err)
            bad = "[setup failed]" in out or "[build failed]" in out or "FAIL" in out
            if bad:
                return RefereeVerdict("Exception", rc, out, err)
            return _plain(rc, out, err)
        if lang == "php":
            put("p.php")
            rc, out, err = _run([_which("php") or "php", "p.php"], d, 15)
            if rc is None:
                return RefereeVerdict("Timeout", None, out, err)
            if "PHP Parse error" in out:
                return RefereeVerdict("SyntaxError", rc, out, err)
            return _plain(rc, out, err)
        if lang == "rb":
            put("p.rb")
            return _plain(*_run([_which("ruby") or "ruby", "p.rb"], d, 5))
        if lang == "lua":
            put("p.lua")
            return _plain(*_run([_which("lua", "lua5.4", "lua5.3") or "lua", "p.lua"], d, 15))
        if lang == "r":
            put("p.r")
            return _plain(*_run([_which("Rscript") or "Rscript", "p.r"], d, 5))
        if lang == "sh":
            put("p.sh")
            return _plain(*_run([_which("bash") or "bash", "p.sh"], d, 15))
        if lang == "pl":
            put("p.pl")
            rc, out, err = _run([_which("perl") or "perl", "p.pl"], d, 15)
            if rc is None:
                return RefereeVerdict("Timeout", None, out, err)
            if "ERROR" in out or "ERROR" in err:
                return RefereeVerdict("Exception", rc, out, err)
            return _plain(rc, out, err)
        if lang == "rkt":
            put("p.rkt")
            rc, out, err = _run([_which("racket") or "racket", "p.rkt"], d, 15)
            if rc is None:
                return RefereeVerdict("Timeout", None, out, err)
            return RefereeVerdict("OK" if rc == 0 and not err else "Exception", rc, out, err)
        if lang == "scala":
            put("Problem.scala")
            v = _two_step([_which("scalac") or "scalac", "-d", d, "Problem.scala"],
                          [_which("scala") or "scala", "-cp", d, "Problem"], d, 45, 15)
            if v.status == "OK" and v.stderr:
                return RefereeVerdict("Exception", v.exit_code, v.stdout, v.stderr)
            return v
        raise ValueError(f"the referee does not know language {lang!r}")
