"""``sctool run RECIPE.yaml``: a sequence of stages, each writing its own dataset.

A recipe names a work directory and a list of stages. Stage ``k`` reads stage ``k-1``'s output
unless it lists ``inputs`` (``"@name"`` names an earlier stage's output, in ``inputs`` or as a string
config value such as a tokenizer path); it writes ``<workdir>/<NN>-<name>``. A rerun skips every stage whose
output already holds a manifest with the same stage and config and whose upstream was not rerun,
and an interrupted stage resumes its finished parts.

    workdir: out/starcoder-data
    runtime: {threads: 0, batch_rows: 10000}
    stages:
      - stage: ingest
        config: {stdlib: true}
      - stage: dedup
        config: {mode: exact}
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sctool.config import config_from_dict, config_to_dict
from sctool.errors import ConfigError
from sctool.io.dataset import Manifest, read_manifest
from sctool.report import format_summary
from sctool.stages.base import Runtime
from sctool.stages.registry import STAGES


@dataclass(frozen=True)
class StepResult:
    name: str
    output: Path
    manifest: Manifest
    skipped: bool


def _resolve_ref(value: Any, outputs: Mapping[str, Path], path: str | Path, stage: str) -> Any:
    """``"@name"`` (in ``inputs`` or a string config value) is the output of the earlier stage ``name``."""
    if isinstance(value, str) and value.startswith("@"):
        ref = value[1:]
        if ref not in outputs:
            raise ConfigError(f"{path}: stage {stage!r} refers to {value!r}, but no earlier stage is named {ref!r} "
                              f"(earlier: {sorted(outputs)})")
        return str(outputs[ref])
    if isinstance(value, list):
        return [_resolve_ref(v, outputs, path, stage) for v in value]
    return value


def load_recipe(path: str | Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read recipe: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(data, Mapping) or not isinstance(data.get("stages"), list) or not data["stages"]:
        raise ConfigError(f"{path}: a recipe needs a non-empty 'stages' list")
    return dict(data)


def run_recipe(
    path: str | Path,
    *,
    workdir: str | Path | None = None,
    runtime_overrides: Mapping[str, Any] | None = None,
    quiet: bool = False,
    echo: bool = True,
) -> list[StepResult]:
    recipe = load_recipe(path)
    base = Path(path).resolve().parent
    wd = Path(workdir) if workdir else Path(recipe.get("workdir", Path(path).stem))
    rt_dict = {**dict(recipe.get("runtime") or {}), **dict(runtime_overrides or {})}
    if quiet:
        rt_dict["quiet"] = True
    runtime_base = config_from_dict(Runtime, rt_dict, "runtime")
    results: list[StepResult] = []
    previous: list[str] = []
    outputs: dict[str, Path] = {}
    upstream_rerun = False
    for i, step in enumerate(recipe["stages"]):
        if not isinstance(step, Mapping) or "stage" not in step:
            raise ConfigError(f"{path}: stage #{i + 1} needs a 'stage' key")
        unknown = set(step) - {"stage", "name", "config", "inputs", "text_column"}
        if unknown:
            raise ConfigError(f"{path}: stage #{i + 1}: unknown key(s) {sorted(unknown)}")
        kind = step["stage"]
        if kind not in STAGES:
            raise ConfigError(f"{path}: unknown stage {kind!r}; known: {sorted(STAGES)}")
        name = step.get("name", kind)
        config_cls, run = STAGES[kind].load()
        raw_config = {k: _resolve_ref(v, outputs, path, name) for k, v in dict(step.get("config") or {}).items()}
        config = config_from_dict(config_cls, raw_config, f"{name}.config")
        inputs = [str(_resolve_ref(p, outputs, path, name)) if str(p).startswith("@")
                  else str((base / p) if not Path(p).is_absolute() and (base / p).exists() else p)
                  for p in step.get("inputs", [])] or previous
        out = wd / f"{i + 1:02d}-{name}"
        runtime = Runtime(**{**config_to_dict(runtime_base), "overwrite": True,
                             "text_column": step.get("text_column", runtime_base.text_column)})
        if not upstream_rerun and (out / "manifest.json").exists():
            try:
                old = read_manifest(out)
            except Exception:  # unreadable manifest: rerun the stage
                old = None
            if old is not None and old.stage == kind and old.config == config_to_dict(config):
                results.append(StepResult(name, out, old, skipped=True))
                outputs[name] = out
                if echo:
                    print(f"[{i + 1}/{len(recipe['stages'])}] {name}: up to date ({out})", file=sys.stderr)
                previous = [str(out)]
                continue
        if echo:
            print(f"[{i + 1}/{len(recipe['stages'])}] {name} -> {out}", file=sys.stderr)
        if kind != "ingest" and not inputs:
            raise ConfigError(f"{path}: stage {name!r} has no inputs (first stages need 'inputs')")
        manifest = run(inputs, out, config, runtime)
        upstream_rerun = True
        if echo:
            print(format_summary(manifest))
        results.append(StepResult(name, out, manifest, skipped=False))
        outputs[name] = out
        previous = [str(out)]
    return results
