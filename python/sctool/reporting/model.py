"""What a report is made of: sections of plots, each plot a table of numbers plus how to draw it.

The numbers and the drawing are kept apart so the data behind every plot can be tested against
the manifests without looking at pixels, and so every plot ships its table to the reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Table:
    """Rows of plain values (numbers, strings, None) under named columns."""

    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [r[i] for r in self.rows]

    def to_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r)) for r in self.rows]

    def lookup(self, key_column: str, key: Any, column: str) -> Any:
        """The ``column`` value of the first row whose ``key_column`` equals ``key``."""
        k, c = self.columns.index(key_column), self.columns.index(column)
        for r in self.rows:
            if r[k] == key:
                return r[c]
        raise KeyError(f"{key_column}={key!r} not in table")

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class Plot:
    """One chart: ``kind`` (bar, hist, line) and ``spec`` say how ``table`` is drawn.

    ``key`` is stable across runs (tests and the page's anchors use it).
    """

    key: str
    title: str
    kind: str
    table: Table
    spec: dict[str, Any] = field(default_factory=dict)
    caption: str = ""


@dataclass
class Section:
    """A part of the page. ``notes`` say what is missing or how to read it; ``tables`` are extra
    tables without a plot (examples, parameters)."""

    key: str
    title: str
    plots: list[Plot] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tables: list[tuple[str, Table]] = field(default_factory=list)

    def plot(self, key: str) -> Plot:
        for p in self.plots:
            if p.key == key:
                return p
        raise KeyError(f"section {self.key!r} has no plot {key!r}; plots: {[p.key for p in self.plots]}")
