"""The one door to the Rust kernels: every module of the library reaches ``sctool._native`` through here.

Keeping one boundary means one place where Python values become Arrow columns, one list of what the
extension must provide (``tests/contract/test_native_facade.py`` checks that no other library module
imports ``_native`` and that every name below exists), and one typed surface: the kernels are
re-exported under their own names and typed by the generated ``_native.pyi``; the area modules
(``sctool.dedup``, ``sctool.pii``, ``sctool.decontam``, ``sctool.filters``, ``sctool.attribution``)
add the domain types on top.

Kernels accept "a text column": a list of ``str``, a Polars Series or a PyArrow array. Polars and
Arrow columns cross into Rust through the Arrow PyCapsule interface without copying the text; a
Python list is converted to Arrow once (one copy, unavoidable for Python objects).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Union

import polars as pl

from sctool import _native
from sctool._native import (
    BandShuffle,
    Components,
    DecontamIndex,
    IdfBuilder,
    attribution_attribute,
    attribution_bloom_build,
    attribution_bloom_contains,
    attribution_bloom_params,
    attribution_build_pairs,
    attribution_checksum,
    attribution_constants,
    attribution_expected_fpr,
    attribution_finish_table,
    attribution_query,
    attribution_summarise,
    attribution_verify,
    comment_chars,
    components_min_root,
    html_visible_chars,
    idf_info,
    lsh_band_records,
    lsh_optimal_param,
    lsh_partition_edges,
    minhash_kernel,
    minhash_kernel_isa,
    minhash_kernels,
    minhash_permutations,
    minhash_sha1_kernel,
    minhash_signature_with_kernel,
    minhash_signatures,
    minhash_signatures_shingles,
    pii_detect,
    pii_redact,
    pii_rules,
    pii_synthetic_ip,
    pii_types,
    rank_ids,
    shingle_hashes,
    text_stats,
)
from sctool.errors import InvalidInputError

if TYPE_CHECKING:
    import pyarrow as pa

# pyarrow (a quarter of a second to import) is loaded only when a column has to be built from
# Python objects: Polars and Arrow columns already speak the Arrow PyCapsule interface.
TextColumn = Union[Sequence[str], pl.Series, "pa.Array", "pa.ChunkedArray"]


def as_arrow_text(texts: Any) -> Any:
    """Return an object exposing the Arrow PyCapsule interface for a column of strings."""
    if isinstance(texts, pl.Series):
        if texts.dtype not in (pl.String, pl.Null):
            raise InvalidInputError(f"expected a String column, got {texts.name!r} of type {texts.dtype}")
        return texts
    if hasattr(texts, "__arrow_c_stream__") or hasattr(texts, "__arrow_c_array__"):
        return texts
    if isinstance(texts, (str, bytes)):
        raise InvalidInputError("expected a column of texts, got a single string")
    import pyarrow as pa

    try:
        return pa.array(list(texts), type=pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidInputError(f"expected a sequence of str: {exc}") from exc


def hash_content(texts: TextColumn, *, threads: int = 0) -> pl.Series:
    """XXH3-128 of each document's UTF-8 bytes, as a Binary Series of 16-byte big-endian digests.

    Null documents give null hashes. The digest equals ``xxhash.xxh3_128_digest(text.encode())``.
    """
    import pyarrow as pa

    arr = _native.hash_content(as_arrow_text(texts), threads=threads)
    n = arr.shape[0]
    # (hi, lo) as big-endian bytes gives the canonical digest byte order.
    digest = arr[:, :2].astype(">u8").tobytes()
    valid = arr[:, 2].astype(bool)
    binary = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(digest)])
    series = pl.Series("content_hash", pl.from_arrow(binary.cast(pa.binary())))
    if not valid.all():
        series = series.zip_with(pl.Series(valid), pl.Series([None] * n, dtype=pl.Binary))
    return series


__all__ = [
    "KERNELS",
    "BandShuffle",
    "Components",
    "DecontamIndex",
    "IdfBuilder",
    "TextColumn",
    "as_arrow_text",
    "attribution_attribute",
    "attribution_bloom_build",
    "attribution_bloom_contains",
    "attribution_bloom_params",
    "attribution_build_pairs",
    "attribution_checksum",
    "attribution_constants",
    "attribution_expected_fpr",
    "attribution_finish_table",
    "attribution_query",
    "attribution_summarise",
    "attribution_verify",
    "comment_chars",
    "components_min_root",
    "hash_content",
    "html_visible_chars",
    "idf_info",
    "lsh_band_records",
    "lsh_optimal_param",
    "lsh_partition_edges",
    "minhash_kernel",
    "minhash_kernel_isa",
    "minhash_kernels",
    "minhash_permutations",
    "minhash_sha1_kernel",
    "minhash_signature_with_kernel",
    "minhash_signatures",
    "minhash_signatures_shingles",
    "pii_detect",
    "pii_redact",
    "pii_rules",
    "pii_synthetic_ip",
    "pii_types",
    "rank_ids",
    "shingle_hashes",
    "text_stats",
]
# What the library needs from the extension (everything exported but the Python-side helpers);
# tests/contract/test_native_facade.py checks each exists.
KERNELS = tuple(n for n in __all__ if n not in ("KERNELS", "TextColumn", "as_arrow_text", "hash_content"))
