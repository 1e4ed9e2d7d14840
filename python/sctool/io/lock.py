"""An exclusive lock on one output, held from the first write until the final rename.

Two runs writing the same ``-o`` would otherwise interleave: one run's rerun logic deletes the other's
staging directory mid-write and both can exit 0 with a dataset that matches neither. The lock is
``flock(2)`` on ``.<name>.sctool-lock`` next to the output, so the kernel drops it when its holder
dies, however it dies (``kill -9`` included): a lock file left behind by a dead run never blocks.
The file records the holder's pid and host so a refusal can say who holds it.

Where ``flock`` is not supported (some network file systems) the lock falls back to creating the
file exclusively; a file left by a dead process on this host (pid no longer running) is taken over,
one from another host is reported and left for the user to remove.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from sctool.errors import OutputError

# Locks this process holds, by lock path: a new writer for the same output in the same process
# (a caller retrying after an exception) takes the lock over instead of refusing itself.
_HELD: dict[str, OutputLock] = {}


def lock_path_for(output: Path) -> Path:
    return output.parent / f".{output.name}.sctool-lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (Linux), which tells a live process from a reused pid."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner_record() -> dict:
    """Who this process is: pid, host and start time (see :func:`owner_is_dead`)."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "start": process_start(os.getpid())}


def owner_is_dead(owner: dict) -> bool:
    """True only when ``owner`` was a process on this host that is certainly no longer running."""
    pid = int(owner.get("pid", 0) or 0)
    if not pid or owner.get("host") != socket.gethostname():
        return False
    if not _pid_alive(pid):
        return True
    start = owner.get("start")
    return start is not None and process_start(pid) not in (None, start)


def _read_holder(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


class OutputLock:
    """``OutputLock(output).acquire()`` or raise :class:`OutputError` naming the output and holder."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.path = lock_path_for(output)
        self.fd: int | None = None
        self.exclusive_file = False

    def _refuse(self, holder: dict, note: str = "") -> OutputError:
        who = f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}"
        return OutputError(
            f"{self.output}: output is in use by another sctool run ({who}{note}; lock {self.path}); "
            "wait for it to finish or choose another output"
        )

    def acquire(self) -> OutputLock:
        key = str(self.path.absolute())
        previous = _HELD.pop(key, None)
        if previous is not None:
            previous.release()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(10):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    holder = _read_holder(self.path)
                    note = ""
                    if holder.get("host") == socket.gethostname() and not _pid_alive(int(holder.get("pid", 0) or 0)):
                        note = ", no longer running: a child process it started still holds the lock"
                    raise self._refuse(holder, note) from None
                if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL):
                    return self._acquire_exclusive_file(key)
                raise
            # The file may have been unlinked by a finishing holder between our open and our flock;
            # a lock on an unlinked inode guards nothing, so start over on the new file.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            self.fd = fd
            self._write_holder()
            _HELD[key] = self
            return self
        raise OutputError(f"{self.output}: could not take the lock {self.path} (it keeps being replaced)")

    def _acquire_exclusive_file(self, key: str) -> OutputLock:
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            except FileExistsError:
                holder = _read_holder(self.path)
                pid = int(holder.get("pid", 0) or 0)
                if holder.get("host") == socket.gethostname() and pid and not _pid_alive(pid):
                    with contextlib.suppress(FileNotFoundError):
                        self.path.unlink()  # stale: its holder died without cleaning up
                    continue
                raise self._refuse(holder, "; if no such run exists, remove the lock file") from None
            self.fd = fd
            self.exclusive_file = True
            self._write_holder()
            _HELD[key] = self
            return self
        raise OutputError(f"{self.output}: could not take the lock {self.path}")

    def _write_holder(self) -> None:
        assert self.fd is not None
        blob = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, blob, 0)

    def release(self) -> None:
        """Remove the lock file (while still holding it) and drop the lock."""
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            if os.fstat(self.fd).st_ino == os.stat(self.path).st_ino:
                self.path.unlink()
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.fd = None
        key = str(self.path.absolute())
        if _HELD.get(key) is self:
            del _HELD[key]

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.release()
