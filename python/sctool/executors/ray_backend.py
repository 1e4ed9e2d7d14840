"""The Ray executor: shards and partitions run as Ray tasks on a cluster (``pip install sctool[ray]``).

Only plain Ray tasks are used — no actors, no Ray Data — so any Ray >= 2.40 cluster works. Tasks
get their inputs by path and write their outputs (part files, markers, spill files) straight to the
output's filesystem; only counts travel back through Ray. The driver keeps a bounded window of
tasks in flight and handles results as they finish.

Failures: Ray retries a task whose worker died (``max_retries``); a retried shard skips the parts
its first attempt finished. When a task fails for good the driver cancels what is still queued and
raises ``ExecutorError``; the finished parts stay in the staging directory and a rerun of the same
command resumes from them.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import socket
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sctool.errors import SctoolError
from sctool.executors.base import Executor, ExecutorError

T = TypeVar("T")
R = TypeVar("R")

INSTALL_HINT = "pip install 'sctool[ray]'"


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ExecutorError(f"--executor ray needs Ray (ray>=2.40), which is not installed: {INSTALL_HINT}") from exc
    return ray


class RemoteSctoolError(Exception):
    """Carries an sctool error from a worker to the driver by name.

    The exception classes the native module creates live in the module ``_native`` as far as pickle
    knows, so they cannot cross process boundaries as themselves; the driver re-raises the class
    named here with the same message.
    """

    def __init__(self, module: str, qualname: str, message: str) -> None:
        super().__init__(module, qualname, message)
        self.module, self.qualname, self.message = module, qualname, message

    def rebuild(self) -> BaseException:
        try:
            mod = importlib.import_module("sctool._native" if self.module == "_native" else self.module)
            cls = getattr(mod, self.qualname)
        except (ImportError, AttributeError):
            return ExecutorError(self.message)
        if not (isinstance(cls, type) and issubclass(cls, SctoolError)):
            return ExecutorError(self.message)
        try:
            return cls(self.message)
        except TypeError:
            return ExecutorError(self.message)


def _call(fn: Callable[[Any], Any], item: Any) -> Any:
    try:
        return fn(item)
    except SctoolError as exc:
        raise RemoteSctoolError(type(exc).__module__, type(exc).__qualname__, str(exc)) from None


def _pickle_reason(exc: Exception) -> str:
    """The one useful line of a serialization failure (Ray's own report runs to dozens of lines)."""
    text = str(exc)
    m = re.search(r"cannot pickle '[^']+' object", text)
    if m:
        return m.group(0)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(exc).__name__}: {first[:300]}"


def _check_reachable(address: str | None, timeout: float = 10.0) -> None:
    """Fail fast on a HOST:PORT nobody listens on (``ray.init`` would retry for minutes)."""
    if not address or address in ("auto", "local") or "://" in address or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except ValueError as exc:
        raise ExecutorError(f"--ray-address {address!r}: expected HOST:PORT, 'auto' or ray://HOST:PORT") from exc
    except OSError as exc:
        raise ExecutorError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from exc


class RayExecutor(Executor):
    """Runs work units as Ray tasks; ``address`` as for ``ray.init`` (None: $RAY_ADDRESS or a new local one)."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        cpus_per_task: float = 1,
        max_retries: int = 3,
        max_in_flight: int | None = None,
        quiet: bool = False,
    ) -> None:
        self.ray = import_ray()
        self.address = address
        self.cpus_per_task = cpus_per_task
        self.max_retries = max_retries
        self.max_in_flight = max_in_flight
        self.quiet = quiet
        self._remote: Any = None

    def _connect(self) -> Any:
        ray = self.ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"log_to_driver": not self.quiet, "ignore_reinit_error": True}
            if self.address in (None, "", "local") and not os.environ.get("RAY_ADDRESS"):
                kwargs["include_dashboard"] = False
            _check_reachable(self.address)
            try:
                ray.init(address=self.address or None, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ExecutorError(f"cannot connect to the Ray cluster at {self.address or 'RAY_ADDRESS'}: {exc}") from exc
        if self._remote is None:
            self._remote = ray.remote(_call)
        return ray

    def cluster_cpus(self) -> int:
        ray = self._connect()
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def default_partitions(self) -> int:
        return min(256, 2 * self.cluster_cpus())

    def map(self, fn: Callable[[T], R], items: Sequence[T], *, label: str = "task") -> list[R]:
        out: list[Any] = [None] * len(items)

        def put(i: int, r: Any) -> None:
            out[i] = r

        self._run_units(fn, items, [f"{label} #{i}" for i in range(len(items))], put)
        return out

    def _run_units(self, fn: Callable[[Any], R], items: Sequence[Any], labels: Sequence[str],
                   on_result: Callable[[int, R], None]) -> None:
        if not items:
            return
        ray = self._connect()
        try:
            fn_ref = ray.put(fn)
        except Exception as exc:  # cloudpickle raises TypeError, PicklingError and others
            raise ExecutorError(
                f"the stage's work cannot be sent to Ray workers ({_pickle_reason(exc)}); a stage's process "
                "function must be picklable (build native objects inside it, or give them __reduce__)"
            ) from exc
        task = self._remote.options(num_cpus=self.cpus_per_task, max_retries=self.max_retries,
                                    retry_exceptions=False)
        window = self.max_in_flight or max(2, 2 * self.cluster_cpus())
        pending: dict[Any, int] = {}
        nxt = 0
        try:
            while nxt < len(items) or pending:
                while nxt < len(items) and len(pending) < window:
                    pending[task.remote(fn_ref, items[nxt])] = nxt
                    nxt += 1
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    i = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as exc:
                        raise self._translate(exc, labels[i]) from exc
                    on_result(i, result)
        except BaseException:
            for ref in pending:
                with contextlib.suppress(Exception):  # cancelling a task that just finished is not an error
                    ray.cancel(ref)
            raise

    def _translate(self, exc: Exception, label: str) -> BaseException:
        ray = self.ray
        if isinstance(exc, ray.exceptions.RayTaskError):
            cause = getattr(exc, "cause", None)
            if isinstance(cause, RemoteSctoolError):
                return cause.rebuild()
            if isinstance(cause, SctoolError):
                return cause
            return ExecutorError(f"{label}: task failed on a Ray worker: {type(cause or exc).__name__}: {cause or exc}")
        if isinstance(exc, ray.exceptions.RayError):
            return ExecutorError(
                f"{label}: Ray worker lost ({type(exc).__name__}) after {self.max_retries} retries; the finished "
                "parts are kept — rerun the same command to resume"
            )
        return exc
