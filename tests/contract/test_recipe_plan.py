"""Recipes are checked whole before anything runs, and reruns skip exactly the stages that are up to date."""

from __future__ import annotations

from pathlib import Path

import pytest

from sctool.errors import ConfigError
from sctool.recipe import plan_recipe, run_recipe


def _recipe(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(f"workdir: {tmp_path / 'work'}\nstages:\n{body}")
    return path


def _ingest(tree: Path, name: str = "") -> str:
    named = f"    name: {name}\n" if name else ""
    return f"  - stage: ingest\n{named}    config: {{sources: ['{tree}']}}\n"


@pytest.mark.parametrize(
    ("last_stage", "message"),
    [
        ("  - stage: filter\n    config: {presets: [starcoder], bogus: 1}\n", "bogus"),
        ("  - stage: nosuch\n", "nosuch"),
        ("  - stage: dedup\n    name: ../escape\n", "'..'"),
        ("  - stage: dedup\n    name: ingest\n", "duplicate stage name"),
        ("  - stage: dedup\n    inputs: ['@later']\n", "@later"),
        ("  - stage: dedup\n    config: {threshold: high}\n", "threshold"),
        ("  - stage: dedup\n    colour: red\n", "colour"),
    ],
)
def test_a_bad_late_stage_fails_before_any_stage_runs(source_tree: Path, tmp_path: Path,
                                                      last_stage: str, message: str) -> None:
    recipe = _recipe(tmp_path, _ingest(source_tree) + "  - stage: dedup\n    name: d1\n" + last_stage)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        run_recipe(recipe, quiet=True, echo=False)
    assert not (tmp_path / "work").exists(), "a stage ran although the recipe was invalid"


def test_runtime_keys_are_checked_up_front(source_tree: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"workdir: {tmp_path / 'w'}\nruntime: {{threads: -3}}\nstages:\n" + _ingest(source_tree))
    with pytest.raises(ConfigError, match="threads"):
        plan_recipe(recipe)
    recipe.write_text(f"workdir: {tmp_path / 'w'}\nruntme: {{}}\nstages:\n" + _ingest(source_tree))
    with pytest.raises(ConfigError, match="runtme"):
        plan_recipe(recipe)


def test_plan_resolves_outputs_and_references(source_tree: Path, tmp_path: Path) -> None:
    recipe = _recipe(tmp_path, _ingest(source_tree, "raw")
                     + "  - stage: dedup\n    config: {mode: exact}\n"
                     + "  - stage: filter\n    inputs: ['@raw']\n")
    plan = plan_recipe(recipe)
    assert [s.name for s in plan] == ["raw", "dedup", "filter"]
    assert [s.stage.name for s in plan] == ["ingest", "dedup", "filter"]
    assert plan[1].inputs == [str(plan[0].output)]
    assert plan[2].inputs == [str(plan[0].output)]  # the reference, not the previous stage
    assert plan[2].output == tmp_path / "work" / "03-filter"


def test_rerun_skips_only_unchanged_stages(source_tree: Path, tmp_path: Path) -> None:
    body = _ingest(source_tree) + "  - stage: dedup\n    config: {mode: exact}\n" + "  - stage: filter\n"
    recipe = _recipe(tmp_path, body)
    first = run_recipe(recipe, quiet=True, echo=False)
    assert [r.skipped for r in first] == [False, False, False]
    assert [r.skipped for r in run_recipe(recipe, quiet=True, echo=False)] == [True, True, True]
    # A changed config reruns that stage and everything after it, never the stages before it.
    recipe.write_text(recipe.read_text().replace("{mode: exact}", "{mode: near}"))
    third = run_recipe(recipe, quiet=True, echo=False)
    assert [r.skipped for r in third] == [True, False, False]
    assert third[1].manifest.config["mode"] == "near"


def test_a_path_option_given_a_number_is_a_config_error() -> None:
    import dataclasses

    from sctool.config import config_from_dict

    @dataclasses.dataclass(frozen=True)
    class WithPath:
        where: Path = Path(".")

    assert config_from_dict(WithPath, {"where": "a/b"}).where == Path("a/b")
    with pytest.raises(ConfigError, match="expected a path"):
        config_from_dict(WithPath, {"where": 3})
