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

import dataclasses
import re
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
from sctool.stages.base import Runtime, Stage
from sctool.stages.registry import stages


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


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_STEP_KEYS = {"stage", "name", "config", "inputs", "text_column"}


@dataclass(frozen=True)
class PlannedStep:
    """One recipe stage with everything resolved: checked before any stage runs."""

    position: int
    name: str
    stage: type[Stage[Any]]
    config: Any
    inputs: list[str]
    output: Path
    runtime: Runtime


def plan_recipe(path: str | Path, *, workdir: str | Path | None = None,
                runtime_overrides: Mapping[str, Any] | None = None, quiet: bool = False) -> list[PlannedStep]:
    """Validate the whole recipe (stage names, keys, every stage's config, ``@refs``) up front.

    A mistake in the last stage is reported before the first one spends an hour: nothing runs
    until every stage has been checked.
    """
    recipe = load_recipe(path)
    unknown_top = set(recipe) - {"workdir", "runtime", "stages"}
    if unknown_top:
        raise ConfigError(f"{path}: unknown top-level key(s) {sorted(unknown_top)}; known: runtime, stages, workdir")
    base = Path(path).resolve().parent
    wd = Path(workdir) if workdir else Path(recipe.get("workdir", Path(path).stem))
    rt_dict = {**dict(recipe.get("runtime") or {}), **dict(runtime_overrides or {})}
    if quiet:
        rt_dict["quiet"] = True
    runtime_base = config_from_dict(Runtime, rt_dict, "runtime")
    known = stages()
    outputs: dict[str, Path] = {}
    previous: list[str] = []
    plan: list[PlannedStep] = []
    for i, step in enumerate(recipe["stages"]):
        where = f"{path}: stage #{i + 1}"
        if not isinstance(step, Mapping) or "stage" not in step:
            raise ConfigError(f"{where} needs a 'stage' key")
        unknown = set(step) - _STEP_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(_STEP_KEYS)}")
        kind = step["stage"]
        if kind not in known:
            raise ConfigError(f"{where}: unknown stage {kind!r}; known: {sorted(known)}")
        name = step.get("name", kind)
        if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
            raise ConfigError(f"{where}: stage name {name!r} must be letters, digits, '_', '-' or '.' "
                              "(no path separators or '..'), starting with a letter or digit")
        if name in outputs:
            raise ConfigError(f"{where}: duplicate stage name {name!r} (give each stage a unique 'name')")
        cls = known[kind]
        raw_config = step.get("config") or {}
        if not isinstance(raw_config, Mapping):
            raise ConfigError(f"{where} ({name}): 'config' must be a mapping")
        raw = {k: _resolve_ref(v, outputs, path, name) for k, v in dict(raw_config).items()}
        config = _recipe_relative(config_from_dict(cls.Config, raw, f"{name}.config"), base)
        raw_inputs = step.get("inputs", [])
        if isinstance(raw_inputs, str):
            raw_inputs = [raw_inputs]
        inputs = [str(_resolve_ref(p, outputs, path, name)) if str(p).startswith("@")
                  else str((base / p) if not Path(p).is_absolute() and (base / p).exists() else p)
                  for p in raw_inputs] or previous
        if kind != "ingest" and not inputs:
            raise ConfigError(f"{where}: stage {name!r} has no inputs (first stages need 'inputs')")
        text_column = step.get("text_column", runtime_base.text_column)
        runtime = Runtime(**{**config_to_dict(runtime_base), "overwrite": True, "text_column": text_column})
        out = wd / f"{i + 1:02d}-{name}"
        plan.append(PlannedStep(i + 1, name, cls, config, inputs, out, runtime))
        outputs[name] = out
        previous = [str(out)]
    return plan


def _recipe_relative(config: Any, base: Path) -> Any:
    """Files a stage reads that belong with the recipe (fields marked ``recipe_relative``, such as
    opt-out lists) are found next to the recipe file, wherever ``sctool run`` is started from."""
    changes = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.metadata.get("recipe_relative") and isinstance(value, (str, Path)) and str(value) \
                and not Path(value).is_absolute():
            changes[f.name] = type(value)(base / value) if isinstance(value, Path) else str(base / value)
    return dataclasses.replace(config, **changes) if changes else config


def _up_to_date(step: PlannedStep) -> Manifest | None:
    """The finished output of an earlier run with the same stage and config, if there is one."""
    if not (step.output / "manifest.json").exists():
        return None
    try:
        old = read_manifest(step.output)
    except Exception:  # unreadable manifest: rerun the stage
        return None
    if old.stage != step.stage.name or old.config != config_to_dict(step.config):
        return None
    return old


def run_recipe(
    path: str | Path,
    *,
    workdir: str | Path | None = None,
    runtime_overrides: Mapping[str, Any] | None = None,
    quiet: bool = False,
    echo: bool = True,
) -> list[StepResult]:
    plan = plan_recipe(path, workdir=workdir, runtime_overrides=runtime_overrides, quiet=quiet)
    results: list[StepResult] = []
    upstream_rerun = False
    for step in plan:
        tag = f"[{step.position}/{len(plan)}] {step.name}"
        old = None if upstream_rerun else _up_to_date(step)
        if old is not None:
            results.append(StepResult(step.name, step.output, old, skipped=True))
            if echo:
                print(f"{tag}: up to date ({step.output})", file=sys.stderr)
            continue
        if echo:
            print(f"{tag} -> {step.output}", file=sys.stderr)
        manifest = step.stage(step.config, step.runtime).run(step.inputs, step.output)
        upstream_rerun = True
        if echo:
            print(format_summary(manifest))
        results.append(StepResult(step.name, step.output, manifest, skipped=False))
    return results
