"""``DedupConfig``: every dedup option in one typed place.

The CLI flags (``sctool dedup --num-perm``), the recipe keys (``num_perm:``) and the Python API's
keywords (``sctool.dedup(frame, num_perm=...)``) all come from these fields; ``near_params`` is the
engine's view of the same values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sctool.dedup.near import NearDupParams


def _parse_size_mb(text: str) -> float:
    from sctool.dedup.near import parse_size_mb

    return parse_size_mb(text)


@dataclass(frozen=True)
class DedupConfig:
    """Which duplicates `sctool dedup` removes, and how near duplicates are found."""

    mode: Literal["exact", "near", "both"] = field(
        default="both",
        metadata={"help": "exact: identical content (XXH3-128); near: MinHash-LSH near duplicates; "
                          "both: exact first, then near",
                  "consts": {"--exact": "exact", "--near": "near", "--both": "both"}},
    )
    threshold: float = field(
        default=0.7, metadata={"help": "Jaccard threshold; bands/rows derived from it as StarCoder did (0.7 → 25×10)"}
    )
    bands: int | None = field(default=None, metadata={"help": "LSH bands (with rows; overrides the threshold-derived banding)"})
    rows: int | None = field(default=None, metadata={"help": "LSH rows per band (with bands)"})
    num_perm: int = field(default=256, metadata={"help": "MinHash permutations"})
    ngram: int = field(default=5, metadata={"help": "shingle size in tokens (characters with shingle=chars)"})
    seed: int = field(default=42, metadata={"help": "seed of the permutations (numpy RandomState, as datasketch)"})
    shingle: Literal["bigcode", "words", "chars"] = field(
        default="bigcode",
        metadata={"help": "bigcode: split on [^A-Za-z_0-9] keeping empty tokens (StarCoder); words: drop empty "
                          "tokens; chars: character n-grams"},
    )
    hash: Literal["sha1", "xxh3"] = field(
        default="sha1", metadata={"help": "shingle hash: sha1 (first 4 bytes, StarCoder-exact) or xxh3 (faster)"}
    )
    verify: bool = field(
        default=False,
        metadata={"help": "merge candidates only if their exact shingle Jaccard reaches the threshold "
                          "(StarCoder did not verify)"},
    )
    keep: Literal["lowest-id", "longest", "most-stars"] = field(
        default="lowest-id", metadata={"help": "which document of a near-duplicate cluster is kept"}
    )
    stars_column: str = field(default="max_stars_count", metadata={"help": "star counts for keep=most-stars"})
    clusters: str | None = field(
        default=None, metadata={"help": "also write the cluster table (Parquet) to this path", "metavar": "PATH"}
    )
    memory_budget_mb: float = field(
        default=1024.0, metadata={"help": "memory for band records before they spill to disk, e.g. 512M, 4G "
                                      "(in a recipe: MB, at least 1/16)",
                              "flag": "--memory-budget", "parse": _parse_size_mb, "metavar": "SIZE"}
    )

    def near_params(self) -> NearDupParams:
        return NearDupParams(
            threshold=self.threshold, bands=self.bands, rows=self.rows, num_perm=self.num_perm, ngram=self.ngram,
            seed=self.seed, shingle=self.shingle, hash=self.hash, verify=self.verify, keep=self.keep,
            stars_column=self.stars_column, memory_budget_mb=self.memory_budget_mb,
        )
