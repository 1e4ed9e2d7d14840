"""Progress bars on stderr for long work; silent with --quiet, plain when stderr is not a terminal."""

from __future__ import annotations

import sys
from typing import Any


class _NoBar:
    """What ``progress`` returns when no bar is shown: the same calls, no tqdm import (~20 ms)."""

    n = 0

    def __init__(self, total: int | None = None) -> None:
        self.total = total

    def update(self, n: int = 1) -> None:
        self.n += n

    def close(self) -> None:
        pass

    def set_description(self, *args: Any, **kwargs: Any) -> None:
        pass

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def refresh(self) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def progress(total: int | None, desc: str, unit: str = "doc", quiet: bool = False) -> Any:
    isatty = getattr(sys.stderr, "isatty", None)
    if quiet or isatty is None or not isatty():  # tqdm draws nothing there either (disable=None)
        return _NoBar(total)
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=True,
        file=sys.stderr,
        disable=None,
        dynamic_ncols=True,
        leave=False,
    )
