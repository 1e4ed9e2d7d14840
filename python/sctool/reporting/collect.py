"""Find what a run left behind: stage manifests, training runs, evaluation results, and gaps.

A work directory is searched a few levels deep: ``manifest.json`` marks a dataset written by a
stage, ``PREFIX.manifest.json`` an output written next to a prefix (token files, a tokenizer),
``metrics.csv`` a training run and a small JSON file with a ``task`` key an evaluation result. A
hidden ``.NAME.sctool-partial`` directory is a stage that started and did not finish. Stages are
ordered by their inputs (a stage comes after the stage whose output it read), then by start time.
"""

from __future__ import annotations

import heapq
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sctool.errors import DatasetError
from sctool.io.dataset import MANIFEST, Manifest, read_manifest
from sctool.io.sources import dataset_parts

PARTIAL_SUFFIX = ".sctool-partial"
SKIP_DIRS = {"removed", "_parts", "checkpoints", "tensorboard", "__pycache__"}
MAX_DEPTH = 3
EVAL_JSON_MAX_BYTES = 512 * 1024


@dataclass
class StageRun:
    """One stage's output as found on disk."""

    label: str
    manifest: Manifest
    manifest_path: Path
    path: Path

    @property
    def stage(self) -> str:
        return self.manifest.stage

    @property
    def parts(self) -> list[Path]:
        """Kept-document Parquet parts (empty for outputs that are not datasets)."""
        return dataset_parts(self.path) if self.manifest_path.name == MANIFEST and self.path.is_dir() else []

    @property
    def removed_parts(self) -> list[Path]:
        return dataset_parts(self.path / "removed") if self.parts or (self.path / "removed").is_dir() else []

    def input_paths(self) -> list[Path]:
        out = []
        for inp in self.manifest.inputs:
            p = inp.get("path") if isinstance(inp, dict) else None
            if isinstance(p, str):
                out.append(Path(p))
        return out


@dataclass
class RunInfo:
    """Everything :func:`collect` found, plus what it expected and did not find."""

    roots: list[Path]
    stages: list[StageRun] = field(default_factory=list)
    train_dirs: list[Path] = field(default_factory=list)
    evals: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def of_kind(self, *kinds: str) -> list[StageRun]:
        return [s for s in self.stages if s.stage in kinds]

    def producer_of(self, path: Path) -> StageRun | None:
        """The stage whose output holds ``path`` (a part file or the dataset directory)."""
        want = {_norm(path), _norm(path.parent)}
        for s in self.stages:
            if _norm(s.path) in want:
                return s
        return None


def _norm(p: Path) -> str:
    return os.path.normpath(os.path.abspath(p))


def _stage_from(manifest_path: Path, root: Path, problems: list[str]) -> StageRun | None:
    try:
        if manifest_path.name == MANIFEST:
            m = read_manifest(manifest_path.parent)
            path = manifest_path.parent
        else:
            m = Manifest.from_dict(json.loads(manifest_path.read_text(encoding="utf-8")))
            path = manifest_path.with_name(manifest_path.name[: -len(".manifest.json")])
    except (DatasetError, OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        problems.append(f"{manifest_path}: unreadable manifest ({exc}); that stage is left out")
        return None
    try:
        label = str(path.relative_to(root)) if path != root else path.name
    except ValueError:
        label = path.name
    return StageRun(label=label, manifest=m, manifest_path=manifest_path, path=path)


def _eval_result(path: Path) -> dict[str, Any] | None:
    try:
        if path.stat().st_size > EVAL_JSON_MAX_BYTES:
            return None
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if isinstance(d, dict) and isinstance(d.get("task"), str) and ("scores" in d or "perplexity" in d):
        return d
    return None


def _partial_note(d: Path) -> str:
    name = d.name[1: -len(PARTIAL_SUFFIX)]
    done = len(list((d / "_parts").glob("*.json"))) if (d / "_parts").is_dir() else 0
    return (f"{d.parent / name}: the stage started and did not finish ({done} part(s) completed in "
            f"{d.name}); its numbers are missing from this report")


def _walk(root: Path, info: RunInfo, seen: set[str]) -> None:
    base_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        depth = len(d.parts) - base_depth
        partial = [x for x in dirnames if x.startswith(".") and x.endswith(PARTIAL_SUFFIX)]
        for x in partial:
            info.problems.append(_partial_note(d / x))
        dirnames[:] = sorted(x for x in dirnames if not x.startswith(".") and x not in SKIP_DIRS
                             and depth < MAX_DEPTH)
        for f in sorted(filenames):
            p = d / f
            if f == MANIFEST or f.endswith(".manifest.json"):
                if _norm(p) in seen:
                    continue
                seen.add(_norm(p))
                s = _stage_from(p, root, info.problems)
                if s is not None:
                    info.stages.append(s)
            elif f == "metrics.csv":
                if _norm(d) not in {_norm(t) for t in info.train_dirs}:
                    info.train_dirs.append(d)
            elif f.endswith(".json"):
                r = _eval_result(p)
                if r is not None:
                    info.evals.append((p, r))


def order_stages(stages: list[StageRun]) -> list[StageRun]:
    """Inputs before the stages that read them; otherwise by start time, then path."""
    index = {_norm(s.path): i for i, s in enumerate(stages)}
    deps: list[set[int]] = []
    for i, s in enumerate(stages):
        dep = set()
        for p in s.input_paths():
            for cand in (_norm(p), _norm(p.parent)):
                j = index.get(cand)
                if j is not None and j != i:
                    dep.add(j)
        deps.append(dep)
    users: list[list[int]] = [[] for _ in stages]
    for i, dep in enumerate(deps):
        for j in dep:
            users[j].append(i)
    waiting = [len(d) for d in deps]

    def key(i: int) -> tuple[str, str]:
        return (stages[i].manifest.started_at or "", str(stages[i].path))

    heap = [(key(i), i) for i in range(len(stages)) if waiting[i] == 0]
    heapq.heapify(heap)
    out: list[int] = []
    while heap:
        _, i = heapq.heappop(heap)
        out.append(i)
        for u in users[i]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(heap, (key(u), u))
    rest = sorted((i for i in range(len(stages)) if i not in set(out)), key=key)  # a cycle: keep them all
    return [stages[i] for i in out + rest]


def collect(paths: Sequence[str | Path], *, train: Sequence[str | Path] = (),
            expected: Sequence[tuple[str, str | Path]] = ()) -> RunInfo:
    """Gather the manifests, training runs and evaluation results under ``paths``.

    ``expected`` lists ``(name, output)`` pairs a recipe planned; any without a manifest is reported
    as missing.
    """
    roots = [Path(p) for p in paths]
    info = RunInfo(roots=roots)
    seen: set[str] = set()
    for root in roots:
        if not root.exists():
            raise DatasetError(f"{root}: no such work directory or dataset")
        if root.is_file():
            if root.name.endswith(".manifest.json") or root.name == MANIFEST:
                s = _stage_from(root, root.parent, info.problems)
                if s is not None and _norm(root) not in seen:
                    seen.add(_norm(root))
                    info.stages.append(s)
                continue
            raise DatasetError(f"{root}: expected a work directory, a dataset directory or a manifest file")
        if (root / MANIFEST).exists():
            # A dataset given directly: just that stage.
            seen.add(_norm(root / MANIFEST))
            s = _stage_from(root / MANIFEST, root.parent, info.problems)
            if s is not None:
                info.stages.append(s)
            continue
        _walk(root, info, seen)
    for t in train:
        td = Path(t)
        if not (td / "metrics.csv").is_file():
            raise DatasetError(f"{td}: not a training run directory (no metrics.csv)")
        if _norm(td) not in {_norm(x) for x in info.train_dirs}:
            info.train_dirs.append(td)
        for p in sorted(td.parent.glob("eval*/*.json")) + sorted(td.glob("eval*/*.json")):
            r = _eval_result(p)
            if r is not None and all(_norm(p) != _norm(q) for q, _ in info.evals):
                info.evals.append((p, r))
    info.stages = order_stages(info.stages)
    found = {_norm(s.path) for s in info.stages}
    for name, out in expected:
        o = Path(out)
        if _norm(o) not in found and _norm(o / "tokens") not in found:
            info.problems.append(f"stage {name!r}: no output at {o} (not run, or it failed); "
                                 "its numbers are missing from this report")
    if not info.stages and not info.train_dirs:
        info.problems.append("no stage manifests and no training runs were found under "
                             + ", ".join(str(r) for r in roots))
    return info
