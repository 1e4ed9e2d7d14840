"""Shared benchmark machinery: the real corpus, timing, peak memory and the markdown report.

The real corpus is built at run time from source files already on the machine — the Python standard
library, site-packages and C headers in /usr/include — real code none of us wrote, and nothing
third-party is committed. It is deterministic for a given machine (sorted walk, fixed size cap).
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

# SCTOOL_BENCH_RESULTS puts reports elsewhere (a smoke run must not overwrite the committed ones).
RESULTS = Path(os.environ.get("SCTOOL_BENCH_RESULTS") or Path(__file__).resolve().parent / "results")
# Benchmark inputs and outputs, git-ignored; SCTOOL_BENCH_SCRATCH moves them (a smoke run apart).
WORK = Path(os.environ.get("SCTOOL_BENCH_SCRATCH") or Path(__file__).resolve().parent / "scratch")
SOURCE_SUFFIXES = (".py", ".pyi", ".c", ".h", ".hpp", ".cc", ".cpp", ".pyx", ".pxd", ".js", ".rs", ".md", ".rst",
                   ".txt", ".json", ".yaml", ".yml", ".toml", ".cfg", ".html", ".css", ".sh", ".java", ".go")


def corpus_roots() -> list[Path]:
    paths = sysconfig.get_paths()
    roots = [Path(paths["stdlib"]), Path(paths["purelib"]), Path("/usr/include")]
    seen: list[Path] = []
    for r in roots:
        if r.exists() and r.resolve() not in [s.resolve() for s in seen]:
            seen.append(r)
    return seen


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", ".git"))
        for name in sorted(filenames):
            if name.endswith(SOURCE_SUFFIXES):
                yield Path(dirpath) / name


def read_source(p: Path, max_file: int = 1 << 20) -> tuple[str, int] | None:
    """(text, size in bytes) of a regular UTF-8 source file of at most ``max_file`` bytes; None for
    anything else (links, binaries, undecodable or empty files), so corpora built from a machine's code
    skip them alike."""
    try:
        if p.is_symlink() or p.stat().st_size > max_file:
            return None
        data = p.read_bytes()
        if b"\x00" in data[:8192]:
            return None
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return (text, len(data)) if text else None


def real_corpus(max_bytes: int = 200_000_000, max_file: int = 1 << 20) -> list[tuple[str, str]]:
    """(path, text) pairs of UTF-8 source files from the machine, up to ``max_bytes`` of text.

    Roots are interleaved file by file so a small cap still mixes Python, C and site-packages code.
    """
    out: list[tuple[str, str]] = []
    total = 0
    iters = [_walk(r) for r in corpus_roots()]
    while iters and total < max_bytes:
        for it in list(iters):
            try:
                p = next(it)
            except StopIteration:
                iters.remove(it)
                continue
            read = read_source(p, max_file)
            if read is None:
                continue
            out.append((str(p), read[0]))
            total += read[1]
            if total >= max_bytes:
                break
    return out


def corpus_bytes(texts: Sequence[str]) -> int:
    return sum(len(t.encode("utf-8")) for t in texts)


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``; best-of-N via ``Timer.best(fn, n)``."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start

    @staticmethod
    def best(fn, repeat: int = 3) -> float:
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        return best


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB): VmHWM, else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_in_subprocess(code: str, timeout: int = 1800) -> dict:
    """Run ``code`` in a fresh interpreter that prints one JSON object; returns it with peak RSS.

    Peak RSS is per process, so end-to-end memory comparisons run each tool in its own process.
    """
    import json

    # VmHWM is this process's own peak; ru_maxrss would carry over the parent's peak after fork.
    wrapper = code + (
        "\nfor _l in open('/proc/self/status'):\n"
        "    if _l.startswith('VmHWM:'):\n"
        "        print('__RSS__', int(_l.split()[1]) / 1024)\n"
    )
    proc = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, timeout=timeout,
                          cwd=Path(__file__).resolve().parents[1])
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed:\n{proc.stderr[-3000:]}")
    result: dict = {}
    for line in proc.stdout.splitlines():
        if line.startswith("__RSS__"):
            result["peak_rss_mb"] = float(line.split()[1])
        elif line.startswith("{"):
            result.update(json.loads(line))
    return result


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")).split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
    }


def md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def fmt(x: object) -> str:
        if isinstance(x, float):
            return f"{x:,.3f}" if abs(x) < 10 else f"{x:,.1f}"
        return str(x)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


@dataclass
class Section:
    title: str
    body: str


def write_report(
    name: str,
    title: str,
    sections: Sequence[Section | tuple[str, str]],
    *,
    config: dict | None = None,
    packages: Sequence[str] = ("sctool", "polars", "pyarrow", "numpy"),
) -> Path:
    """Write ``benches/results/<name>.md`` with machine, versions, config and the sections."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    info = machine_info()
    parts = [f"# {title}", "", f"Run: {now}", ""]
    parts.append("Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    parts.append("")
    parts.append("Versions: " + ", ".join(f"{p} {_version(p)}" for p in packages))
    parts.append("")
    if config:
        parts.append("Config: " + ", ".join(f"`{k}={v}`" for k, v in config.items()))
        parts.append("")
    for s in sections:
        t, body = (s.title, s.body) if isinstance(s, Section) else s
        parts += [f"## {t}", "", body.strip(), ""]
    path = RESULTS / f"{name}.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    tmp.replace(path)
    return path
