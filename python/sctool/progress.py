"""Progress bars on stderr for long work; silent with --quiet, plain when stderr is not a terminal."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


def progress(total: int | None, desc: str, unit: str = "doc", quiet: bool = False) -> Any:
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=True,
        file=sys.stderr,
        disable=True if quiet else None,
        dynamic_ncols=True,
        leave=False,
    )
