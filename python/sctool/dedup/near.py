"""Near-duplicate planning: the parameters, and the in-process runner of the step chain.

The planner is shared by the ``dedup`` stage (batches read from disk, two passes) and the in-memory
``sctool.dedup`` API. It never holds texts: per document it keeps a few numbers (input position,
id, length, stars, exact hash), while signatures, shingle sets and the band shuffle live in its
scratch directory. The steps themselves are ``sctool.dedup.steps``.

Decisions follow StarCoder (BigCode ``minhash_deduplication.py``) with deterministic ties:

* exact duplicates (mode ``both``) are found first, by XXH3-128, and keep their first occurrence in
  input order — the rule of the exact stage;
* every other document with at least one shingle is clustered by MinHash-LSH; components of the
  candidate graph are clusters, and the document kept is chosen by ``keep``: ``lowest-id`` (the
  StarCoder rule, "keep the minimum index", with ids compared in natural order), ``longest`` or
  ``most-stars`` (ties to the lowest id);
* each removed row records the id kept (``dup_of``), its cluster (``cluster_id`` = the lowest id in
  the cluster) and the MinHash estimate of its Jaccard similarity to the document kept.

An exact duplicate has the same signature as its original, so it lands in the same buckets and can
neither join nor split clusters; its ``dup_of`` is whatever its original ends up kept as.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from sctool import native
from sctool.dedup import steps
from sctool.dedup.minhash import optimal_param
from sctool.dedup.steps import DECISION_SCHEMA, NearDupPlan
from sctool.errors import ConfigError

Keep = Literal["lowest-id", "longest", "most-stars"]

@dataclass(frozen=True)
class NearDupParams:
    """Everything that changes which documents are near duplicates."""

    threshold: float = 0.7
    bands: int | None = None
    rows: int | None = None
    num_perm: int = 256
    ngram: int = 5
    seed: int = 42
    shingle: str = "bigcode"
    hash: str = "sha1"
    verify: bool = False
    keep: Keep = "lowest-id"
    stars_column: str = "max_stars_count"
    memory_budget_mb: float = 1024
    partitions: int = 32

    def banding(self) -> tuple[int, int, str]:
        """``(bands, rows, how)``: explicit when both are given, else derived from the threshold."""
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"threshold must be strictly between 0 and 1, got {self.threshold}")
        if (self.bands is None) != (self.rows is None):
            raise ConfigError("give both --bands and --rows, or neither (derived from --threshold)")
        if self.bands is not None and self.rows is not None:
            if self.bands < 1 or self.rows < 1 or self.bands * self.rows > self.num_perm:
                raise ConfigError(
                    f"bands × rows must be between 1 and num_perm={self.num_perm}; got {self.bands} × {self.rows}"
                )
            return self.bands, self.rows, "explicit"
        b, r = optimal_param(self.threshold, self.num_perm)
        return b, r, "optimal_param(threshold, num_perm)"

    def validate(self) -> None:
        if self.keep not in ("lowest-id", "longest", "most-stars"):
            raise ConfigError(f"keep must be lowest-id, longest or most-stars, got {self.keep!r}")
        if self.memory_budget_mb < 1 / 16:
            raise ConfigError(f"memory budget must be at least 64K, got {self.memory_budget_mb} MB")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be between 0 and 2**32 - 1, got {self.seed}")
        self.banding()


def parse_size_mb(text: str | float) -> float:
    """``512M``, ``2G``, ``2GiB``, ``1.5G``, ``256K`` or a plain number of MB → MB."""
    if isinstance(text, (int, float)):
        return float(text)
    s = str(text).strip().upper().removesuffix("B").removesuffix("I")  # 2G, 2GB and 2GiB alike
    mult = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}
    try:
        if s and s[-1] in mult:
            return float(s[:-1]) * mult[s[-1]]
        return float(s)
    except ValueError as exc:
        raise ConfigError(f"cannot read memory size {text!r} (examples: 512M, 2G)") from exc


class NearDupPlanner:
    """The in-process runner of the near-dedup chain (``sctool.dedup.steps``): ``add`` runs sign →
    band keys → shuffle for one batch, :meth:`plan` runs edges → components → decide.

    Between steps the data stays in this process: signatures go to one scratch file (estimates read
    only the rows they compare), band records to the native ``BandShuffle`` (memory up to half the
    budget, then partition files), per-document numbers to a list of small frames. The executor
    runner (``distributed_near``) calls the same steps with a spilled shuffle instead.
    """

    def __init__(
        self,
        params: NearDupParams,
        *,
        exact: bool,
        near: bool = True,
        text_column: str = "content",
        threads: int = 0,
        work_parent: str | Path | None = None,
    ) -> None:
        params.validate()
        self.params = params
        self.exact = exact
        self.near = near
        self.text_column = text_column
        self.threads = threads
        self.bands, self.rows, self.banding_from = params.banding()
        from sctool.executors.spill import make_scratch_dir  # scratch of killed runs is cleaned here

        self.work_dir = make_scratch_dir(work_parent, ".sctool-neardup-")
        self._meta: list[pl.DataFrame] = []
        self._counts: list[np.ndarray] = []
        self._n = 0
        self._shuffle: Any = None
        self._sig_out: Any = None
        self._shingle_out: Any = None
        self._offsets: list[np.ndarray] = [np.zeros(1, dtype=np.uint64)]
        if near:
            self._shuffle = native.BandShuffle(str(self.work_dir), partitions=params.partitions,
                                                memory_budget=int(params.memory_budget_mb * (1 << 20)))
            self._sig_out = open(self.work_dir / "sigs.bin", "wb")  # noqa: SIM115 (closed in plan/close)
            if params.verify:
                self._shingle_out = open(self.work_dir / "shingles.bin", "wb")  # noqa: SIM115

    def close(self) -> None:
        """Remove the scratch directory."""
        for fh in (self._sig_out, self._shingle_out):
            if fh is not None:
                fh.close()
        self._shuffle = None
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> NearDupPlanner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, frame: pl.DataFrame, batch_index: int) -> None:
        """Sign, band and shuffle one batch (its rows get the next positions)."""
        self._meta.append(steps.doc_meta(frame, batch_index, text_column=self.text_column, params=self.params,
                                         exact=self.exact, threads=self.threads))
        if self._shuffle is not None:
            p = self.params
            signed = steps.sign(frame.get_column(self.text_column), p, threads=self.threads, shingles=p.verify)
            np.ascontiguousarray(signed.sigs, dtype="<u4").tofile(self._sig_out)
            if signed.shingles is not None and signed.offsets is not None:
                np.ascontiguousarray(signed.shingles, dtype="<u4").tofile(self._shingle_out)
                self._offsets.append(signed.offsets[1:] + self._offsets[-1][-1])
            keys, nodes = steps.band_keys(signed, self.bands, self.rows, base=self._n, threads=self.threads)
            self._shuffle.add(keys, nodes)
            self._counts.append(np.asarray(signed.counts, dtype=np.uint32))
        self._n += frame.height

    def plan(self) -> NearDupPlan:
        """Cluster everything added and decide, per document, kept or removed (and why)."""
        schema = {"batch": pl.UInt32, "row": pl.UInt32, "id": pl.String, "len": pl.Int64, "stars": pl.Float64}
        if self.exact:
            schema["h"] = pl.Binary
        meta = pl.concat(self._meta) if self._meta else pl.DataFrame(schema=schema)
        if self._shuffle is None:
            return steps.decide(meta, ranks=None, roots=None, counts=None, estimate=None, params=self.params,
                                exact=self.exact)
        self._sig_out.close()
        if self._shingle_out is not None:
            self._shingle_out.close()
        counts = np.concatenate(self._counts) if self._counts else np.zeros(0, dtype=np.uint32)
        ranks = native.rank_ids(meta.get_column("id"), threads=self.threads)
        comps = steps.Components(np.ascontiguousarray(ranks, dtype=np.uint32))
        groups = pairs = verified = rejected = 0
        offsets = np.concatenate(self._offsets) if self._shingle_out is not None else None
        for path in self._shuffle.finish():
            keys, nodes = native.BandShuffle.load(path, threads=self.threads)
            if offsets is not None:
                g, pr, ok, rej = comps.union_verified(keys, nodes, str(self.work_dir / "shingles.bin"), offsets,
                                                      self.params.threshold, threads=self.threads)
                groups, pairs, verified, rejected = groups + g, pairs + pr, verified + ok, rejected + rej
            else:
                e = steps.edges(keys, nodes, threads=self.threads)
                del keys, nodes
                comps.union(e.a, e.b, threads=self.threads)
                groups, pairs = groups + e.groups, pairs + len(e.a)
        roots = comps.roots(threads=self.threads)
        layout = dict(self._shuffle.stats())
        engine = {
            "documents": self._n,
            "empty_documents": int((counts == 0).sum()),
            "band_records": layout.pop("band_records"),
            **layout,
            "candidate_groups": groups,
            "candidate_pairs": pairs,
            "verified_pairs": verified,
            "rejected_pairs": rejected,
            "signature_kernel": native.minhash_kernel()[0],
            "sha1_kernel": native.minhash_sha1_kernel(),
        }
        return steps.decide(meta, ranks=ranks, roots=roots, counts=counts,
                            estimate=steps.SignatureFile(self.work_dir / "sigs.bin", self.params.num_perm),
                            params=self.params, exact=self.exact, engine=engine)


__all__ = ["DECISION_SCHEMA", "Keep", "NearDupParams", "NearDupPlan", "NearDupPlanner", "parse_size_mb"]
