"""Near-deduplication: StarCoder-exact MinHash signatures, LSH and deterministic clustering.

``minhash`` gives signatures, ``dedup`` deduplicates an in-memory frame, and the ``dedup`` stage
(``sctool dedup --near/--both``) runs the same planner out of core over datasets of any size.
Importing this package registers the ``pl.col(...).sct`` expression namespace.
"""

import sys as _sys
import types as _types

from sctool.dedup import polars_ns as _polars_ns  # noqa: F401  (registers the namespace)
from sctool.dedup.api import dedup
from sctool.dedup.minhash import (
    estimate_jaccard,
    kernel_isa,
    minhash,
    optimal_param,
    permutations,
    shingle_hashes,
)
from sctool.dedup.near import NearDupParams, NearDupPlan, NearDupPlanner

__all__ = [
    "NearDupParams",
    "NearDupPlan",
    "NearDupPlanner",
    "dedup",
    "estimate_jaccard",
    "kernel_isa",
    "minhash",
    "optimal_param",
    "permutations",
    "shingle_hashes",
]


class _CallableModule(_types.ModuleType):
    """Lets ``sctool.dedup(frame, ...)`` call :func:`dedup` while ``sctool.dedup`` stays the package.

    The issue's API names both the package (``sctool.dedup.near``, …) and the function
    ``sctool.dedup(...)``; binding the function over the package attribute would break
    ``import sctool.dedup.near as m``, so the module itself is made callable instead.
    """

    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return dedup(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
