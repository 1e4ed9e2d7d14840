"""Where shipped data and configuration presets are found.

Presets (model sizes, training runs, data mixes, recipes) ship inside the package
(``sctool/configs/``), so a wheel install finds ``--model tiny`` like a checkout does; the
repository's top-level ``configs/`` is a link to the same directory, the copy users read.
``SCTOOL_CONFIGS`` points elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

from sctool.errors import ConfigError

PACKAGE_DATA = Path(__file__).resolve().parent / "data"
PACKAGE_CONFIGS = Path(__file__).resolve().parent / "configs"


def configs_dir() -> Path:
    env = os.environ.get("SCTOOL_CONFIGS")
    if env:
        return Path(env)
    return PACKAGE_CONFIGS


def find_config(kind: str, name: str) -> Path:
    """Resolve ``name`` (a path, or a preset name under ``configs/<kind>/``) to a YAML file."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    base = configs_dir() / kind
    for cand in (base / f"{name}.yaml", base / f"{name}.yml"):
        if cand.exists():
            return cand
    available = sorted(x.stem for x in base.glob("*.y*ml")) if base.exists() else []
    raise ConfigError(f"no {kind} preset or file {name!r} (presets in {base}: {available})")
