"""Opt-in start-up trace: ``SCTOOL_TRACE_STARTUP=1`` prints a line to stderr at each milestone.

Start-up is where a command spends its first second before any document is touched (imports,
parser generation, input fingerprints, the output lock), and it is invisible in the per-batch
figures. Each line is::

    sctool-trace <milestone> mono=<CLOCK_MONOTONIC s> since_start=<s> cpu=<s> [detail]

``mono`` is the system-wide monotonic clock, so a parent process that reads ``time.monotonic()``
just before it launches ``sctool`` gets exact launch-to-milestone times; ``since_start`` is from the
process's start time in ``/proc/self/stat`` (10 ms resolution, Linux only, else from the first mark);
``cpu`` is this process's user + system CPU time so far (all threads, from exec); ``loaded`` lists
which of the heavy modules (:data:`HEAVY`) are imported by then.

Off by default and free when off (one environment lookup at import; nothing else is imported).
"""

from __future__ import annotations

import os
import sys
import time

ENABLED = os.environ.get("SCTOOL_TRACE_STARTUP", "") not in ("", "0")

#: Modules whose import costs tens of milliseconds or more; the trace says which are loaded at each mark.
HEAVY = ("polars", "pyarrow", "numpy", "sctool._native", "yaml", "tqdm", "tokenizers", "torch", "transformers",
         "lightning", "ray", "matplotlib", "pandas")

_seen: set[str] = set()
_start: float | None = None


def _process_start_monotonic() -> float | None:
    """The process's start on the monotonic clock (Linux: boot-relative start time in clock ticks).

    ``/proc/<pid>/stat`` field 22 counts from boot on CLOCK_BOOTTIME; boot time and monotonic time
    differ only by time spent suspended, which a running command does not have.
    """
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            stat = fh.read()
        ticks = int(stat[stat.rindex(")") + 2:].split()[19])
        start_boot = ticks / os.sysconf("SC_CLK_TCK")
        return time.monotonic() - (time.clock_gettime(time.CLOCK_BOOTTIME) - start_boot)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def mark(name: str, detail: str = "", *, once: bool = True) -> None:
    """Print milestone ``name`` (once per process unless ``once=False``) when tracing is on."""
    if not ENABLED or (once and name in _seen):
        return
    global _start
    _seen.add(name)
    now = time.monotonic()
    if _start is None:
        _start = _process_start_monotonic() or now
    loaded = ",".join(m for m in HEAVY if m in sys.modules) or "-"
    line = (f"sctool-trace {name} mono={now:.6f} since_start={now - _start:.4f} cpu={time.process_time():.4f} "
            f"loaded={loaded}")
    print(f"{line} {detail}".rstrip(), file=sys.stderr, flush=True)
