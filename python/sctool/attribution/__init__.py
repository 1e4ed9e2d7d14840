"""Attribution of generated code to its training data, and honouring opt-out requests.

* :mod:`sctool.attribution.membership`: the Bloom filter + fingerprint table index (``sctool index
  build``, ``sctool attribute``).
* :mod:`sctool.attribution.search`: the full-text BM25 index (``sctool search``; ``sctool[search]``).
* :mod:`sctool.attribution.server`: the local web page (``sctool serve``).
"""

from sctool.attribution.membership import (
    Attribution,
    BuildSummary,
    IndexConfig,
    IndexCorruptError,
    IndexMismatchError,
    MembershipIndex,
    Source,
    build_index,
)

__all__ = ["Attribution", "BuildSummary", "IndexConfig", "IndexCorruptError", "IndexMismatchError",
           "MembershipIndex", "Source", "build_index"]
