"""Where a stage's work runs: in this process (``local``) or as tasks on a Ray cluster (``ray``).

The executor never changes what a stage computes: part ``i`` of the output holds the same documents
and bytes whichever executor wrote it. Ray is imported only when ``executor="ray"`` is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sctool.executors.base import (
    Executor,
    ExecutorError,
    FrameProcess,
    Shard,
    ShardInput,
    ShardReport,
    checked_part,
    count_batches,
    merge_line_errors,
    plan_shards,
    write_part,
)
from sctool.executors.local import LocalExecutor
from sctool.executors.spill import SpillDir, partition_of

if TYPE_CHECKING:
    from sctool.stages.base import Runtime

EXECUTORS = ("local", "ray")


def get_executor(runtime: Runtime) -> Executor:
    """The executor ``runtime`` asks for; ``ray`` raises ``ExecutorError`` naming the extra if Ray is missing."""
    if runtime.executor == "local":
        return LocalExecutor(threads=runtime.threads)
    if runtime.executor == "ray":
        from sctool.executors.ray_backend import RayExecutor

        # A task reserves the CPUs its kernels use; threads=0 ("all cores") reserves one.
        return RayExecutor(runtime.ray_address, cpus_per_task=max(1, runtime.threads), quiet=runtime.quiet)
    raise ExecutorError(f"unknown executor {runtime.executor!r}; choose one of {list(EXECUTORS)}")


__all__ = [
    "EXECUTORS",
    "Executor",
    "ExecutorError",
    "FrameProcess",
    "LocalExecutor",
    "Shard",
    "ShardInput",
    "ShardReport",
    "SpillDir",
    "checked_part",
    "count_batches",
    "get_executor",
    "merge_line_errors",
    "partition_of",
    "plan_shards",
    "write_part",
]
