"""Draw a :class:`~sctool.reporting.model.Plot` as inline SVG with matplotlib.

Figures are made with the object API (no pyplot state), text stays text (``svg.fonttype: none``)
so files stay small and labels selectable, and every data artist gets an id beginning ``mark-`` so
a browser test can check each plot drew something. Ids are prefixed per plot because several SVGs
share one HTML document.
"""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np

from sctool.errors import ConfigError
from sctool.reporting.model import Plot

PALETTE = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C",
           "#CCB974", "#64B5CD", "#1B9E77", "#D95F02", "#7570B3", "#E7298A", "#66A61E", "#E6AB02",
           "#A6761D", "#666666", "#1F78B4", "#B2DF8A"]


def _mpl() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise ConfigError("sctool report draws with matplotlib, which is not installed: "
                          "pip install 'sctool[report]'") from exc
    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "sctool-report",
                                "font.size": 9, "axes.titlesize": 10, "axes.spines.top": False,
                                "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
                                "legend.fontsize": 8, "legend.frameon": False})
    from matplotlib.figure import Figure

    return Figure


class _Marks:
    """Numbers the data artists of one figure (``mark-0``, ``mark-1``, …) as they are drawn."""

    def __init__(self) -> None:
        self.n = 0

    def tag(self, artists: list[Any]) -> None:
        for a in artists:
            a.set_gid(f"mark-{self.n}")
            self.n += 1


def _short(x: float, _pos: Any = None, digits: int = 3) -> str:
    """Tick labels as plain text (1k, 2.5M): mathtext labels cost more to lay out than the plot."""
    if x == 0:
        return "0"
    a = abs(x)
    for div, suf in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{x / div:.{digits}g}{suf}"
    return f"{x:.{digits}g}"


def _exact(v: float, d: int) -> bool:
    return v == 0 or abs(float(f"{v:.{d}g}") - v) <= 1e-9 * abs(v)


def _distinct_digits(values: list[float], exact: bool = False) -> int:
    """Fewest significant digits (3 to 8) that give every value its own label (and, with ``exact``,
    print every tick value as it is: 1.175, not 1.18)."""
    for d in range(3, 9):
        if len({_short(v, digits=d) for v in values}) == len(set(values)) and (
                not exact or all(_exact(v, d) for v in values)):
            return d
    return 8


def _distinct_labels(values: Any, exact: bool = False) -> list[str]:
    vals = [float(v) for v in values]
    d = _distinct_digits(vals, exact)
    return [_short(v, digits=d) for v in vals]


def _plain_ticks(axis: Any, counts: bool = False) -> None:
    """Plain-text tick labels; ``counts`` (every value a whole number) puts ticks on whole numbers."""
    from matplotlib.ticker import Formatter, MaxNLocator, NullFormatter

    class Short(Formatter):
        """:func:`_short` with as many digits as it takes to tell neighbouring ticks apart."""

        digits = 3

        def __call__(self, x: float, pos: Any = None) -> str:
            if x == 0 and axis.get_scale() == "symlog":  # 0 sits next to the linear threshold's tick
                return ""
            return _short(x, digits=self.digits)

        def format_ticks(self, values: Any) -> list[str]:
            labels = _distinct_labels(list(values), exact=True)
            self.digits = _distinct_digits([float(v) for v in values], exact=True)
            return ["" if v == 0 and axis.get_scale() == "symlog" else lb for v, lb in zip(values, labels)]

    axis.set_major_formatter(Short())
    axis.set_minor_formatter(NullFormatter())
    if counts and axis.get_scale() == "linear":
        axis.set_major_locator(MaxNLocator(integer=True))


def _whole(values: list[float]) -> bool:
    return all(float(v).is_integer() for v in values)


def _linthresh(values: list[float]) -> float:
    """Linear range of a symlog axis: the smallest positive value, so every bar shows."""
    pos = [v for v in values if v > 0]
    return min(pos) if pos else 1.0


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) else 0.0


def _label(s: Any, width: int = 28) -> str:
    s = str(s)
    return s if len(s) <= width else s[: width - 1] + "…"


def _bar(fig: Any, plot: Plot, marks: _Marks) -> None:
    sp, t = plot.spec, plot.table
    cats = [_label(c) for c in t.column(sp["x"])]
    series = sp["series"]
    horizontal = sp.get("horizontal", False)
    stacked = sp.get("stacked", False)
    ax = fig.add_subplot(111)
    pos = np.arange(len(cats))
    width = 0.8 if stacked or len(series) == 1 else 0.8 / len(series)
    base = np.zeros(len(cats))
    allvals: list[float] = []
    for i, s in enumerate(series):
        vals = np.array([_num(v) for v in t.column(s)])
        allvals.extend(vals.tolist())
        color = PALETTE[i % len(PALETTE)]
        if stacked:
            off, b = pos, base.copy()
        else:
            off, b = pos - 0.4 + width * (i + 0.5), None
        if horizontal:
            bars = ax.barh(off, vals, height=width, left=b, color=color, label=_label(s, 36))
        else:
            bars = ax.bar(off, vals, width=width, bottom=b, color=color, label=_label(s, 36))
        marks.tag(list(bars))
        if sp.get("dots"):  # scores of exactly 0 still show a mark
            ends = base + vals if stacked else vals
            dots = (ax.plot(ends, off, "o", color=color, markersize=4) if horizontal
                    else ax.plot(off, ends, "o", color=color, markersize=4))
            marks.tag(dots)
        if stacked:
            base += vals
    if horizontal:
        ax.set_yticks(pos, cats)
        ax.invert_yaxis()
        ax.set_xlabel(sp.get("xlabel", ""))
        if sp.get("log") and not stacked:
            ax.set_xscale("symlog", linthresh=_linthresh(allvals))
        _plain_ticks(ax.xaxis, counts=_whole(allvals))
        if sp.get("xlim"):
            ax.set_xlim(*sp["xlim"])
        ax.grid(axis="y", visible=False)
    else:
        ax.set_xticks(pos, cats, rotation=30 if max((len(c) for c in cats), default=0) > 8 else 0,
                      ha="right" if max((len(c) for c in cats), default=0) > 8 else "center")
        ax.set_ylabel(sp.get("ylabel", ""))
        if sp.get("log"):
            ax.set_yscale("symlog", linthresh=_linthresh(allvals))
        _plain_ticks(ax.yaxis, counts=_whole(allvals))
        ax.grid(axis="x", visible=False)
    if len(series) > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _hist(fig: Any, plot: Plot, marks: _Marks) -> None:
    sp, t = plot.spec, plot.table
    lo = np.array([float(v) for v in t.column(t.columns[0])])
    hi = np.array([float(v) for v in t.column(t.columns[1])])
    if sp.get("edges_inclusive"):  # integer bins [from, to]: draw them as [from, to + 1)
        hi = hi + 1
    ax = fig.add_subplot(111)
    edges = np.append(lo, hi[-1]) if len(lo) else np.zeros(1)
    contiguous = len(lo) and np.allclose(lo[1:], hi[:-1])
    base = np.zeros(len(lo))
    allvals: list[float] = []
    for i, s in enumerate(sp["series"]):
        vals = np.array([_num(v) for v in t.column(s)])
        allvals.extend(vals.tolist())
        if not vals.any():
            continue
        color = PALETTE[i % len(PALETTE)]
        top = base + vals if sp.get("stacked") else vals
        if contiguous:  # one filled outline per series: far fewer SVG elements than a bar per bin
            art = ax.stairs(top, edges, baseline=base if sp.get("stacked") else 0.0, fill=True, color=color,
                            alpha=1.0 if sp.get("stacked") else 0.75, label=_label(s, 36))
            marks.tag([art])
        else:
            bars = ax.bar(lo, vals, width=hi - lo, bottom=base if sp.get("stacked") else None, align="edge",
                          color=color, alpha=1.0 if sp.get("stacked") else 0.75, label=_label(s, 36), linewidth=0)
            marks.tag(list(bars))
        if sp.get("stacked"):
            base = top
    for k, thr in enumerate(sp.get("thresholds", [])):
        ln = ax.axvline(thr, color="#222222", linestyle="--", linewidth=1.2,
                        label="threshold" if k == 0 else None)
        marks.tag([ln])
    if sp.get("logx"):
        ax.set_xscale("log")
    if sp.get("xticks"):
        ax.set_xticks(sp["xticks"])
    if sp.get("logy"):
        ax.set_yscale("symlog", linthresh=1)
        ax.set_ylim(bottom=0)
    _plain_ticks(ax.xaxis)
    _plain_ticks(ax.yaxis, counts=_whole(allvals))
    ax.set_xlabel(sp.get("xlabel", ""))
    ax.set_ylabel(sp.get("ylabel", ""))
    ax.grid(axis="x", visible=False)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=_legend_cols(labels), borderaxespad=0.2)


def _line(fig: Any, plot: Plot, marks: _Marks) -> None:
    sp, t = plot.spec, plot.table
    ax = fig.add_subplot(111)
    xs = t.column(sp["x"])
    smoothed = sp.get("smoothed", {})
    for i, s in enumerate(sp["series"]):
        ys = t.column(s)
        pts = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
        if not pts:
            continue
        x, y = zip(*pts)
        color = PALETTE[i % len(PALETTE)]
        style = {"marker": "o", "markersize": 3} if len(pts) <= 30 else {}
        if s in smoothed:  # raw values faint underneath, the moving average on top
            (raw,) = ax.plot(x, y, color=color, linewidth=0.6, alpha=0.3)
            sm = [(a, b) for a, b in zip(xs, t.column(smoothed[s])) if a is not None and b is not None]
            (ln,) = ax.plot(*zip(*sm), color=color, linewidth=1.6, label=s)
            marks.tag([raw, ln])
        else:
            (ln,) = ax.plot(x, y, color=color, linewidth=1.4, label=s, **style)
            marks.tag([ln])
    if sp.get("logy"):
        ax.set_yscale("log")
    ax.set_xlabel(sp.get("xlabel", ""))
    ax.set_ylabel(sp.get("ylabel", ""))
    _plain_ticks(ax.xaxis)
    _plain_ticks(ax.yaxis)
    if len(sp["series"]) > 1:
        ax.legend(loc="best")


DRAW = {"bar": _bar, "hist": _hist, "line": _line}
_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(url\(#|xlink:href="#|href="#)([^")]+)')


CHAR_IN = 0.066  # average width of a 9-point character, inches
LEGEND_ROW_CHARS = 62  # characters of legend entries (with their keys) that fit one row above the axes


def _legend_cols(labels: list[str]) -> int:
    return len(labels) if sum(len(x) + 6 for x in labels) <= LEGEND_ROW_CHARS else 2


def _layout(plot: Plot) -> tuple[float, float, tuple[float, float, float, float]]:
    """Figure size and (left, right, bottom, top) margins in inches, from the labels' lengths.

    Computed instead of matplotlib's constrained layout, which draws every figure twice.
    """
    sp, t = plot.spec, plot.table
    series = sp.get("series", [])
    legend_right = plot.kind == "bar" and len(series) > 1
    legend_w = (0.45 + CHAR_IN * max(len(_label(x, 36)) for x in series)) if legend_right else 0.0
    width = 5.6 + legend_w
    left, bottom, top = 0.75, 0.5, 0.15
    height = 3.0
    if plot.kind == "bar":
        cats = [_label(c) for c in t.column(sp["x"])]
        longest = max((len(c) for c in cats), default=1)
        if sp.get("horizontal"):
            per = 1 if sp.get("stacked") or len(series) == 1 else 0.6 * len(series)
            height = min(max(2.2, 0.8 + 0.2 * len(cats) * per), 9.0)
            left = 0.4 + 1.15 * CHAR_IN * longest  # slack for a viewer's wider fallback font
        elif longest > 8:
            bottom = 0.45 + 0.5 * CHAR_IN * longest
            height = 3.0 + 0.5 * CHAR_IN * longest
    if plot.kind in ("line", "hist") or (plot.kind == "bar" and not sp.get("horizontal")):
        # Room for the widest value label on the y axis (and the axis title beside it).
        ys = [v for c in series if c in t.columns for v in t.column(c) if isinstance(v, (int, float))]
        widest = max((len(x) for x in _distinct_labels(np.linspace(min(ys), max(ys), 6))), default=3) if ys else 3
        left = max(left, 0.45 + CHAR_IN * min(widest + 1, 9))
    if plot.kind == "hist" and series:
        labels = [_label(x, 36) for x in series] + (["threshold"] if sp.get("thresholds") else [])
        rows = -(-len(labels) // _legend_cols(labels))
        top = 0.25 + 0.2 * rows  # legend above the axes
    return width, height, (left, 0.15 + legend_w, bottom, top)


def render_svg(plot: Plot, prefix: str) -> str:
    """The plot as an ``<svg>`` element string with ids prefixed by ``prefix``."""
    Figure = _mpl()
    if plot.kind not in DRAW:
        raise ValueError(f"unknown plot kind {plot.kind!r}")
    w, h, margins = _layout(plot)
    fig = Figure(figsize=(w, h))
    fig.subplots_adjust(left=margins[0] / w, right=1 - margins[1] / w, bottom=margins[2] / h, top=1 - margins[3] / h)
    marks = _Marks()
    DRAW[plot.kind](fig, plot, marks)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    svg = _REF.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)
    return svg
