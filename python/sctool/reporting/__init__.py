"""``sctool report``: a curation and training run as one self-contained HTML page of plots.

:func:`collect` finds what a run wrote (manifests, removed parts, token files, metrics.csv,
evaluation results); :func:`build_sections` turns it into tables of numbers, one per plot;
:func:`build_report` draws them with matplotlib as inline SVG and writes the page. The page needs
no network and no scripts, and every plot carries its table.

(``sctool.report`` is the end-of-stage text summary; this package is the page.)
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sctool.io.atomic import atomic_path
from sctool.reporting.collect import RunInfo, StageRun, collect
from sctool.reporting.model import Plot, Section, Table
from sctool.reporting.sections import SECTION_ORDER, build_sections, iter_sections


@dataclass(frozen=True)
class ReportResult:
    path: Path
    bytes: int
    seconds: float
    plots: int
    problems: tuple[str, ...]


def render_page(run: RunInfo, sections: Iterable[Section], *, title: str, started: float | None = None) -> str:
    """Draw every plot (as each section arrives) and assemble the page."""
    from sctool.reporting.page import page_html
    from sctool.reporting.render import render_svg

    svgs = {}
    done = []
    for s in sections:
        for i, p in enumerate(s.plots):
            svgs[p.key] = render_svg(p, prefix=f"{s.key}{i}")
        done.append(s)
    return page_html(done, svgs, title=title, sources=[str(r) for r in run.roots], problems=run.problems,
                     seconds=None if started is None else time.perf_counter() - started)


def build_report(paths: Sequence[str | Path], output: str | Path, *, train: Sequence[str | Path] = (),
                 title: str | None = None, text_column: str = "content", sample: int = 10000, seed: int = 0,
                 expected: Sequence[tuple[str, str | Path]] = (), workers: int = 2) -> ReportResult:
    """Write the report of the work directories or datasets ``paths`` to ``output``."""
    from sctool.reporting.render import _mpl

    _mpl()  # fail before any work when matplotlib is missing
    t0 = time.perf_counter()
    run = collect(list(paths), train=list(train), expected=list(expected))
    sections: list[Section] = []

    def tracked() -> Iterator[Section]:
        for s in iter_sections(run, text_column=text_column, sample=sample, seed=seed, workers=workers):
            sections.append(s)
            yield s

    name = title or "sctool report: " + ", ".join(Path(p).name or str(p) for p in paths)
    page = render_page(run, tracked(), title=name, started=t0)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return ReportResult(path=out, bytes=out.stat().st_size, seconds=time.perf_counter() - t0,
                        plots=sum(len(s.plots) for s in sections), problems=tuple(run.problems))


__all__ = [
    "SECTION_ORDER",
    "Plot",
    "ReportResult",
    "RunInfo",
    "Section",
    "StageRun",
    "Table",
    "build_report",
    "build_sections",
    "collect",
    "iter_sections",
]
