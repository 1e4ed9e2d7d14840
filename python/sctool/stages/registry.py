"""Every stage class, by the name recipes use (``stage: dedup``).

Stage modules register their class with ``@register_stage`` when imported; this module imports
them on first use (``stages()``), so ``import sctool`` stays light and a CLI command imports only
its own stage.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from sctool.errors import ConfigError
from sctool.stages.base import STAGES, Runtime, Stage

#: Modules that define stage classes, in pipeline order (the order ``sctool --help`` lists them).
STAGE_MODULES: list[str] = [
    "sctool.stages.ingest",
    "sctool.stages.optout",
    "sctool.stages.dedup",
    "sctool.stages.filter",
    "sctool.stages.decontam",
    "sctool.stages.redact",
    "sctool.stages.format",
    "sctool.tokenizer.train",
    "sctool.stages.tokenize",
]


def stages() -> dict[str, type[Stage[Any]]]:
    """Name -> stage class, importing every stage module once."""
    for mod in list(STAGE_MODULES):
        importlib.import_module(mod)
    _wrap_function_stages()
    return STAGES


def get_stage(name: str) -> type[Stage[Any]]:
    known = stages()
    if name not in known:
        raise ConfigError(f"unknown stage {name!r}; known: {sorted(known)}")
    return known[name]


def register(name: str, module: str, config_cls: str, run: str) -> None:
    """Register a stage written as a plain ``run(inputs, output, config, runtime)`` function.

    The function is wrapped in a ``Stage`` subclass when its module is first imported, so recipes
    and the CLI treat it like every other stage.
    """
    if module not in STAGE_MODULES:
        STAGE_MODULES.append(module)
    _FUNCTION_STAGES[name] = (module, config_cls, run)


_FUNCTION_STAGES: dict[str, tuple[str, str, str]] = {}


def _wrap_function_stages() -> None:
    for name, (module, config_cls, run) in list(_FUNCTION_STAGES.items()):
        if name in STAGES:
            continue
        mod = importlib.import_module(module)
        fn: Callable[..., Any] = getattr(mod, run)
        cfg: type = getattr(mod, config_cls)

        def _run(self: Stage[Any], inputs: Any, output: Any, _fn: Callable[..., Any] = fn) -> Any:
            return _fn(inputs, output, self.config, self.runtime)

        cls = type(f"{cfg.__name__.removesuffix('Config')}Stage", (Stage,),
                   {"name": name, "Config": cfg, "summary": (mod.__doc__ or "").strip().splitlines()[0],
                    "run": _run, "__doc__": mod.__doc__})
        STAGES[name] = cls


__all__ = ["STAGE_MODULES", "Runtime", "get_stage", "register", "stages"]
