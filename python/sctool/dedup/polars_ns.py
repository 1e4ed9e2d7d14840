"""``pl.col("content").sct.minhash()``: the signature kernel as a Polars expression.

Registered when ``sctool`` is imported. The expression hands each column chunk to the Rust kernel
through the Arrow C interface (no per-row Python) and returns a fixed-size ``Array(UInt32, num_perm)``
column, so signatures can live in the same frame as the text.
"""

from __future__ import annotations

import polars as pl

from sctool.dedup.minhash import Shingle, ShingleHashName, minhash


@pl.api.register_expr_namespace("sct")
class SctoolExprNamespace:
    """sctool kernels as expressions over a String column."""

    def __init__(self, expr: pl.Expr) -> None:
        self._expr = expr

    def minhash(
        self,
        num_perm: int = 256,
        ngram: int = 5,
        seed: int = 42,
        *,
        shingle: Shingle = "bigcode",
        hash: ShingleHashName = "sha1",
        threads: int = 0,
    ) -> pl.Expr:
        """MinHash signature of every document, as ``Array(UInt32, num_perm)`` (see ``sctool.minhash``)."""
        dtype = pl.Array(pl.UInt32, num_perm)

        def run(s: pl.Series) -> pl.Series:
            sigs = minhash(s.cast(pl.String), num_perm, ngram, seed, shingle=shingle, hash=hash, threads=threads)
            return pl.Series(s.name, sigs, dtype=dtype)

        return self._expr.map_batches(run, return_dtype=dtype)
