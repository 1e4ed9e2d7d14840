"""MultiPL-E's languages: how each program is compiled and run, and when it counts as passed.

The command lines, time limits and verdict rules follow MultiPL-E's evaluator (``evaluation/src/
eval_<lang>.py`` and ``pass_k.py``): a completion passes when the evaluator's status is ``OK`` and
the exit code is 0. Most languages need nothing more than "every step exited 0"; the exceptions are
written out as data here, because they decide verdicts:

* Go: ``go test`` output containing ``[setup failed]``, ``[build failed]`` or ``FAIL`` fails.
* Perl: ``ERROR`` anywhere in stdout or stderr fails (Test::Deep's diagnostics).
* PHP: ``PHP Parse error`` in stdout is a syntax error (a compile error here).
* Scala, Racket: any stderr output fails (rackunit reports a failed check and still exits 0).
* C#: ``DefaultTraceListener.Fail`` or ``Unhandled Exception`` in stderr fails (mono exits 0 when a
  ``Debug.Assert`` fails).

MultiPL-E keeps only the first 2 KiB of each output stream, so its text rules only see that much;
:data:`OUTPUT_WINDOW` applies the same window so a program that prints "FAIL" after 10 KiB of
output gets the verdict MultiPL-E would give it.

Toolchains are found on the system (``/usr/local/bin``, ``/usr/bin``, ``/bin`` first, then
``PATH``): a toolchain under a user's home (rustup's proxies) would not be readable by the
unprivileged user the sandbox runs programs as. Each language also names the libraries its test
harness loads (javatuples, Test::Deep, luaunit, test/unit) and a one-line probe that checks them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

OUTPUT_WINDOW = 2048
SYSTEM_BIN_DIRS = ("/usr/local/bin", "/usr/bin", "/bin")
JAVATUPLES_CANDIDATES = (
    "/usr/share/java/javatuples.jar",
    "/usr/share/java/javatuples-1.2.jar",
    "/usr/multiple/javatuples-1.2.jar",
)


@dataclass(frozen=True)
class Language:
    """One MultiPL-E language: file layout, commands (``{tool}`` placeholders), limits, verdict rules."""

    key: str  # the suffix of humaneval-<key>.jsonl and MultiPL-E's language name
    name: str
    source: str  # file the program is written to inside the work directory
    run: tuple[str, ...]
    tools: Mapping[str, tuple[str, ...]]  # placeholder -> executable names tried in order
    compile: tuple[str, ...] | None = None
    compile_timeout_s: float = 15.0
    run_timeout_s: float = 15.0
    debian: tuple[str, ...] = ()
    # the rules beyond "every step exited 0" (see the module docstring)
    fail_if_stdout_has: tuple[str, ...] = ()
    fail_if_output_has: tuple[str, ...] = ()  # stdout or stderr
    fail_if_stderr_has: tuple[str, ...] = ()
    fail_if_stderr: bool = False
    syntax_error_if_stdout_has: tuple[str, ...] = ()
    # a shell snippet (run with the found tools) that must exit 0: libraries the tests import
    probe: tuple[str, ...] | None = None
    probe_what: str = ""
    memory_mb: int = 2048  # address space: runtimes that reserve large arenas need more
    max_processes: int = 64
    max_open_files: int = 128
    read_paths: tuple[str, ...] = ()  # host paths outside /usr the toolchain reads (configuration under /etc)
    env: Mapping[str, str] = field(default_factory=dict)
    note: str = ""
    completion_closes_function: bool = True  # False where the tests begin with the closing brace


def _shell(script: str) -> tuple[str, ...]:
    return ("/bin/sh", "-c", script)


# Go keeps its build cache under GOCACHE, which must be absolute; a fresh one per program inside the
# work directory means nothing a sample compiles is reused by another.
_GO_ENV = 'export GOCACHE="$PWD/.gocache" GOPATH="$PWD/.gopath" HOME="$PWD" GOFLAGS=-mod=mod GO111MODULE=auto GOTOOLCHAIN=local; '

LANGUAGES: dict[str, Language] = {
    lang.key: lang
    for lang in (
        Language(
            "cpp", "C++", "main.cpp",
            compile=("{gxx}", "main.cpp", "-o", "main", "-std=c++17"), run=("./main",),
            tools={"gxx": ("g++",)}, debian=("g++",), completion_closes_function=False,
        ),
        Language(
            "java", "Java", "Problem.java",
            compile=("{javac}", "-J-Xshare:auto", "-encoding", "UTF8", "-d", ".", "-cp", "{javatuples}", "Problem.java"),
            run=("{java}", "-ea", "-cp", ".:{javatuples}", "Problem"),
            tools={"javac": ("javac",), "java": ("java",)},
            debian=("default-jdk-headless", "libjavatuples-java"),
            memory_mb=6144, max_processes=512, completion_closes_function=False, read_paths=("/etc/java-*",),
            note="javatuples jar from libjavatuples-java (MultiPL-E's image has it at /usr/multiple)",
        ),
        Language(
            "js", "JavaScript", "main.js", run=("{node}", "main.js"), run_timeout_s=5.0,
            tools={"node": ("node", "nodejs")}, debian=("nodejs",), memory_mb=8192, max_processes=128,
        ),
        Language(
            "ts", "TypeScript", "main.ts",
            compile=("{tsc}", "--target", "esnext", "main.ts"), run=("{node}", "main.js"),
            tools={"tsc": ("tsc",), "node": ("node", "nodejs")}, debian=("node-typescript", "nodejs"),
            memory_mb=8192, max_processes=128,
        ),
        Language(
            "rs", "Rust", "main.rs", compile=("{rustc}", "main.rs", "-o", "main"), run=("./main",),
            run_timeout_s=5.0, tools={"rustc": ("rustc",)}, debian=("rustc",), memory_mb=4096,
            max_processes=128, completion_closes_function=False,
        ),
        Language(
            "go", "Go", "main_test.go", run=_shell(_GO_ENV + 'exec "{go}" test main_test.go'),
            run_timeout_s=30.0, tools={"go": ("go",)}, debian=("golang-go",),
            fail_if_stdout_has=("[setup failed]", "[build failed]", "FAIL"), memory_mb=8192, max_processes=256,
        ),
        Language(
            "php", "PHP", "main.php", run=("{php}", "main.php"), tools={"php": ("php",)}, debian=("php-cli",),
            read_paths=("/etc/php",),  # php.ini and conf.d, which load extensions such as ctype
            syntax_error_if_stdout_has=("PHP Parse error",),
        ),
        Language(
            "rb", "Ruby", "main.rb", run=("{ruby}", "main.rb"), run_timeout_s=5.0, tools={"ruby": ("ruby",)},
            debian=("ruby", "ruby-test-unit"), probe=("{ruby}", "-e", "require 'test/unit'; Test::Unit::AutoRunner.need_auto_run = false"),
            probe_what="Ruby's test/unit (Debian: ruby-test-unit)",
        ),
        Language(
            "lua", "Lua", "main.lua", run=("{lua}", "main.lua"), tools={"lua": ("lua", "lua5.4", "lua5.3")},
            debian=("lua5.3", "lua-unit"), probe=("{lua}", "-e", "require('luaunit')"),
            probe_what="luaunit for this Lua (Debian: lua-unit, Lua 5.3)",
        ),
        Language(
            "r", "R", "main.r", run=("{rscript}", "main.r"), run_timeout_s=5.0,
            tools={"rscript": ("Rscript",)}, debian=("r-base-core",), read_paths=("/etc/R",), max_open_files=1024,
        ),
        Language(
            "sh", "Bash", "main.sh", run=("{bash}", "main.sh"), tools={"bash": ("bash",)}, debian=("bash",),
            completion_closes_function=False,
        ),
        Language(
            "pl", "Perl", "main.pl", run=("{perl}", "main.pl"), tools={"perl": ("perl",)},
            debian=("perl", "libtest-deep-perl"), fail_if_output_has=("ERROR",),
            probe=("{perl}", "-MTest::Deep", "-e", "1"), probe_what="Perl's Test::Deep (Debian: libtest-deep-perl)",
        ),
        Language(
            "jl", "Julia", "main.jl", run=("{julia}", "main.jl"), run_timeout_s=5.0, tools={"julia": ("julia",)},
            debian=(), memory_mb=8192, max_processes=256,
            note="not packaged in Debian 12; MultiPL-E uses the julia 1.8 upstream tarball",
        ),
        Language(
            "scala", "Scala", "Problem.scala",
            compile=("{scalac}", "-d", ".", "Problem.scala"), compile_timeout_s=45.0,
            run=("{scala}", "-cp", ".", "Problem"), tools={"scalac": ("scalac",), "scala": ("scala",)},
            debian=("scala",), fail_if_stderr=True, read_paths=("/etc/java-*",), memory_mb=6144, max_processes=512, completion_closes_function=False,
        ),
        Language(
            "swift", "Swift", "main.swift", compile=("{swiftc}", "main.swift", "-o", "main"),
            compile_timeout_s=45.0, run=("./main",), run_timeout_s=5.0, tools={"swiftc": ("swiftc",)},
            debian=(), memory_mb=8192, completion_closes_function=False,
            note="not packaged in Debian 12 (the 'swift' package is OpenStack Swift); swift.org 5.7 tarball",
        ),
        Language(
            "cs", "C#", "main.cs",
            compile=("{csc}", "/d:DEBUG", "-r:System.Numerics.dll", "main.cs", "/out:main.exe"),
            run=("{mono}", "main.exe"), run_timeout_s=5.0, tools={"csc": ("csc",), "mono": ("mono",)},
            env={"MONO_TRACE_LISTENER": "Console.Error"},
            fail_if_stderr_has=("System.Diagnostics.DefaultTraceListener.Fail", "Unhandled Exception"),
            debian=("mono-runtime", "mono-devel"), memory_mb=6144, max_processes=256, completion_closes_function=False,
            note="Debian's mono-devel has no csc (only mcs); MultiPL-E installs mono from mono-project.com",
        ),
        Language(
            "d", "D", "main.d", run=("{rdmd}", "-unittest", "main.d"), tools={"rdmd": ("rdmd",)},
            debian=(), syntax_error_if_stdout_has=(), memory_mb=4096,
            note="no rdmd/dmd in Debian 12; MultiPL-E installs dmd from d-apt",
        ),
        Language(
            "rkt", "Racket", "main.rkt", run=("{racket}", "main.rkt"), tools={"racket": ("racket",)},
            debian=("racket",), fail_if_stderr=True, memory_mb=4096,
            read_paths=("/etc/racket",),  # config.rktd: where the compiled collections are
        ),
    )
}
# MultiPL-E's D evaluator calls "Error:" in stderr a syntax error; the step still exits non-zero, so
# the pass/fail verdict does not change, only the reason shown.
D_SYNTAX_MARK = "Error:"


def language(key: str) -> Language:
    from sctool.errors import ConfigError

    try:
        return LANGUAGES[key]
    except KeyError:
        raise ConfigError(f"unknown MultiPL-E language {key!r}; choose from {', '.join(LANGUAGES)} or 'all'") from None


@dataclass(frozen=True)
class Toolchain:
    """What was found for one language: resolved tool paths, or why it cannot run here."""

    language: str
    available: bool
    tools: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, str] = field(default_factory=dict)  # javatuples jar
    reason: str = ""
    version: str = ""

    def substitutions(self) -> dict[str, str]:
        return {**self.tools, **self.extra}


def find_executable(names: Sequence[str], search_path: str | None = None) -> str | None:
    """First of ``names`` in the system bin directories, then on ``search_path`` (default: $PATH)."""
    dirs = [*SYSTEM_BIN_DIRS, *((search_path if search_path is not None else os.environ.get("PATH", "")).split(os.pathsep))]
    for name in names:
        for d in dirs:
            if not d:
                continue
            found = shutil.which(name, path=d)
            if found:
                return found
    return None


def _version(path: str) -> str:
    for flag in ("--version", "-version", "-v", "version"):
        try:
            proc = subprocess.run([path, flag], capture_output=True, text=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        text = (proc.stdout or proc.stderr).strip()
        if proc.returncode == 0 and text:
            return text.splitlines()[0][:120]
    return ""


def substitute(argv: Sequence[str], subs: Mapping[str, str]) -> list[str]:
    out = []
    for arg in argv:
        for key, val in subs.items():
            arg = arg.replace("{" + key + "}", val)
        out.append(arg)
    return out


def detect_toolchain(lang: Language, *, search_path: str | None = None, check_version: bool = True) -> Toolchain:
    """Find the language's executables and libraries; a missing piece names the Debian package."""
    tools: dict[str, str] = {}
    for placeholder, names in lang.tools.items():
        found = find_executable(names, search_path)
        if found is None:
            pkgs = ", ".join(lang.debian) or "not packaged in Debian 12"
            why = f"{' / '.join(names)} not found (Debian: {pkgs})"
            if lang.note and not lang.debian:
                why = f"{' / '.join(names)} not found ({lang.note})"
            return Toolchain(lang.key, False, reason=why)
        tools[placeholder] = found
    extra: dict[str, str] = {}
    if lang.key == "java":
        jar = next((j for j in JAVATUPLES_CANDIDATES if Path(j).is_file()), None)
        if jar is None:
            return Toolchain(lang.key, False, tools, reason="javatuples jar not found (Debian: libjavatuples-java)")
        extra["javatuples"] = jar
    if lang.probe is not None:
        argv = substitute(lang.probe, {**tools, **extra})
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
            ok = proc.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if not ok:
            return Toolchain(lang.key, False, tools, extra, reason=f"missing {lang.probe_what}")
    first = next(iter(tools.values()))
    return Toolchain(lang.key, True, tools, extra, version=_version(first) if check_version else "")


def detect_all(keys: Sequence[str] | None = None, *, check_version: bool = True) -> dict[str, Toolchain]:
    return {k: detect_toolchain(LANGUAGES[k], check_version=check_version) for k in (keys or list(LANGUAGES))}


def window(text: str) -> str:
    """The part of an output stream MultiPL-E's runner keeps (its text rules see only this)."""
    raw = text.encode("utf-8", "surrogatepass")
    return raw[:OUTPUT_WINDOW].decode("utf-8", "ignore") if len(raw) > OUTPUT_WINDOW else text


def apply_text_rules(lang: Language, status: str, stdout: str, stderr: str) -> tuple[str, str]:
    """Turn a sandbox status for a program whose steps all ran into MultiPL-E's verdict.

    ``status`` is the sandbox's (``passed`` means every step exited 0). Returns the new status and,
    when a text rule changed it, the reason.
    """
    out, err = window(stdout), window(stderr)
    for mark in lang.syntax_error_if_stdout_has:
        if mark in out and status in ("passed", "failed"):
            return "compile_error", f"{mark!r} in stdout"
    if status != "passed":
        return status, ""
    for mark in lang.fail_if_stdout_has:
        if mark in out:
            return "failed", f"{mark!r} in stdout"
    for mark in lang.fail_if_output_has:
        if mark in out or mark in err:
            return "failed", f"{mark!r} in the output"
    for mark in lang.fail_if_stderr_has:
        if mark in err:
            return "failed", f"{mark!r} in stderr"
    if lang.fail_if_stderr and err:
        return "failed", "output on stderr"
    return "passed", ""
