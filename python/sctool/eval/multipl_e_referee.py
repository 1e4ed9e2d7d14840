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


def _javatuples() -> str:
    for j in ("/usr/multiple/javatuples-1.2.jar", "/usr/share/java/javatuples-1.2.jar", "/usr/share/java/javatuples.jar"):
        if Path(j).is_file():
            return j
    return "/usr/multiple/javatuples-1.2.jar"


def _keep(text: str) -> str:
    raw = text.encode("utf-8", "surrogatepass")
    return raw[:KEEP].decode("utf-8", "ignore")


def verdict_from_outputs(lang: str, rc: int | None, stdout: str, stderr: str) -> RefereeVerdict:
    """MultiPL-E's verdict for a run step that ended with ``rc`` (None: killed at the time limit)."""
    out, err = _keep(stdout), _keep(stderr)
    if rc is None:
        return RefereeVerdict("Timeout", None, out, err)
    if lang == "go" and ("[setup failed]" in out or "[build failed]" in out or "FAIL" in out):
        return RefereeVerdict("Exception", rc, out, err)
    if lang == "php" and "PHP Parse error" in out:
        return RefereeVerdict("SyntaxError", rc, out, err)
    if lang == "pl" and ("ERROR" in out or "ERROR" in err):
        return RefereeVerdict("Exception", rc, out, err)
    if lang in ("rkt", "scala") and err:
        return RefereeVerdict("Exception", rc, out, err)
    if lang == "cs" and ("System.Diagnostics.DefaultTraceListener.Fail" in err or "Unhandled Exception" in err):
        return RefereeVerdict("Exception", rc, out, err)
    return RefereeVerdict("OK" if rc == 0 else "Exception", rc, out, err)


def judge(lang: str, program: str) -> RefereeVerdict:
    """Compile and run ``program`` as MultiPL-E's evaluator for ``lang`` would, and give its verdict."""
    node = _which("node", "nodejs") or "node"
    steps: dict[str, tuple[str, list[str] | None, list[str], float, float, dict[str, str]]] = {
        # lang: (file, build argv or None, run argv, build limit, run limit, extra env)
        "cpp": ("p.cpp", [_which("g++") or "g++", "p.cpp", "-o", "p", "-std=c++17"], ["./p"], 15, 15, {}),
        "java": ("Problem.java", [_which("javac") or "javac", "-encoding", "UTF8", "-d", "{d}", "Problem.java"],
                 [_which("java") or "java", "-ea", "-cp", "{d}:" + _javatuples(), "Problem"], 15, 15,
                 {"CLASSPATH": _javatuples()}),
        "js": ("p.js", None, [node, "p.js"], 0, 5, {}),
        "ts": ("p.ts", [_which("tsc") or "tsc", "--target", "esnext", "p.ts"], [node, "p.js"], 15, 15, {}),
        "rs": ("p.rs", [_which("rustc") or "rustc", "p.rs", "-o", "p"], ["./p"], 15, 5, {}),
        "go": ("p_test.go", None, [_which("go") or "go", "test", "p_test.go"], 0, 30,
               {"GOCACHE": "{d}/cache", "GOPATH": "{d}/gopath"}),
        "php": ("p.php", None, [_which("php") or "php", "p.php"], 0, 15, {}),
        "rb": ("p.rb", None, [_which("ruby") or "ruby", "p.rb"], 0, 5, {}),
        "lua": ("p.lua", None, [_which("lua", "lua5.4", "lua5.3") or "lua", "p.lua"], 0, 15, {}),
        "r": ("p.r", None, [_which("Rscript") or "Rscript", "p.r"], 0, 5, {}),
        "sh": ("p.sh", None, [_which("bash") or "bash", "p.sh"], 0, 15, {}),
        "pl": ("p.pl", None, [_which("perl") or "perl", "p.pl"], 0, 15, {}),
        "rkt": ("p.rkt", None, [_which("racket") or "racket", "p.rkt"], 0, 15, {}),
        "scala": ("Problem.scala", [_which("scalac") or "scalac", "-d", "{d}", "Problem.scala"],
                  [_which("scala") or "scala", "-cp", "{d}", "Problem"], 45, 15, {}),
    }
    if lang not in steps:
        raise ValueError(f"the referee does not know language {lang!r}")
    name, build, run, t_build, t_run, env = steps[lang]
    with tempfile.TemporaryDirectory(prefix="sctool-referee-") as d:
        Path(d, name).write_text(program, encoding="utf-8")

        def fill(argv: list[str]) -> list[str]:
            return [a.replace("{d}", d) for a in argv]

        env_d = {k: v.replace("{d}", d) for k, v in env.items()}
        if build is not None:
            rc, out, err = _run(fill(build), d, t_build, env_d)
            if rc is None:
                return RefereeVerdict("Timeout", None, out, err)
            if rc != 0:
                return RefereeVerdict("SyntaxError", rc, out, err)
        return verdict_from_outputs(lang, *_run(fill(run), d, t_run, env_d))
