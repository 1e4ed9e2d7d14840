"""Tests written against the survivors of ``scripts/mutation_check.py`` (see docs/testing.md).

Each test pins a behaviour that a one-line change (a flipped comparison, a dropped check, a moved
default) would otherwise break without any test noticing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from pathlib import Path
from typing import Literal

import polars as pl
import pytest

from sctool.config import config_from_dict, config_to_dict
from sctool.dedup.decisions import split_by_decisions
from sctool.errors import ConfigError
from sctool.io.dataset import read_manifest
from sctool.recipe import _up_to_date, plan_recipe, run_recipe
from sctool.stages.base import MAX_THREADS_PER_CPU, STAGES, Runtime, Stage, empty_removed, register_stage
from sctool.stages.registry import stages

# --------------------------------------------------------------------------------------------
# config tree


@dataclasses.dataclass(frozen=True)
class Inner:
    n: int = 1


@dataclasses.dataclass(frozen=True)
class Cfg:
    flag: bool = False
    count: int = 0
    ratio: float = 0.5
    name: str = "x"
    path: Path | None = None
    mode: Literal["a", "b"] = "a"
    items: tuple[str, ...] = ()
    table: dict[str, int] = dataclasses.field(default_factory=dict)
    inner: Inner = dataclasses.field(default_factory=Inner)


def test_config_round_trips_through_plain_dicts() -> None:
    cfg = config_from_dict(Cfg, {"flag": True, "count": 3, "ratio": 2, "name": "y", "path": "/tmp/p", "mode": "b",
                                 "items": ["u", "v"], "table": {"k": 1}, "inner": {"n": 4}})
    assert cfg == Cfg(True, 3, 2.0, "y", Path("/tmp/p"), "b", ("u", "v"), {"k": 1}, Inner(4))
    assert isinstance(cfg.ratio, float) and isinstance(cfg.items, tuple)
    d = config_to_dict(cfg)
    assert d == {"flag": True, "count": 3, "ratio": 2.0, "name": "y", "path": "/tmp/p", "mode": "b",
                 "items": ["u", "v"], "table": {"k": 1}, "inner": {"n": 4}}
    json.dumps(d)  # manifests store it as JSON
    assert config_from_dict(Cfg, d) == cfg
    assert config_from_dict(Cfg, {"path": None}).path is None
    assert config_from_dict(Cfg, None) == Cfg()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"colour": 1}, "colour"),
        ({"flag": 1}, "true/false"),
        ({"count": True}, "integer"),
        ({"count": 1.5}, "integer"),
        ({"ratio": "high"}, "number"),
        ({"ratio": False}, "number"),
        ({"name": 3}, "string"),
        ({"mode": "c"}, "not one of"),
        ({"items": "u"}, "list"),
        ({"table": [1]}, "mapping"),
        ({"inner": {"m": 1}}, "m"),
    ],
)
def test_config_rejects_wrong_types_naming_the_key(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        config_from_dict(Cfg, data, "stage.config")
    assert "stage.config" in str(info.value)


# --------------------------------------------------------------------------------------------
# stage contract


def test_runtime_checks_its_bounds() -> None:
    assert Runtime(threads=0, batch_rows=1).threads == 0
    for bad in ({"threads": -1}, {"batch_rows": 0}, {"executor": "dask"}):
        with pytest.raises(ConfigError):
            Runtime(**bad)
    cap = MAX_THREADS_PER_CPU * (os.cpu_count() or 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Runtime(threads=cap).threads == cap  # at the cap: no warning
    with pytest.warns(UserWarning, match="capped"):
        assert Runtime(threads=cap + 1).threads == cap


def test_register_stage_refuses_a_second_class_under_one_name() -> None:
    cls = stages()["filter"]
    assert register_stage(cls) is cls  # registering the same class again is harmless

    class Impostor(Stage):
        name = "filter"
        Config = cls.Config

    with pytest.raises(ValueError, match="two stages named 'filter'"):
        register_stage(Impostor)
    assert STAGES["filter"] is cls


def test_stage_defaults_and_empty_removed() -> None:
    cls = stages()["filter"]
    stage = cls()
    assert stage.config == cls.Config() and stage.runtime == Runtime()
    batch = pl.DataFrame({"id": ["a"], "content": ["x"]})
    empty = empty_removed(batch, why=pl.Int32)
    assert empty.height == 0
    assert empty.schema == {"id": pl.String, "content": pl.String, "reason": pl.String, "why": pl.Int32}


# --------------------------------------------------------------------------------------------
# recipes: what a rerun skips


def test_a_stage_with_another_name_or_config_is_not_up_to_date(source_tree: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"workdir: {tmp_path / 'w'}\nstages:\n  - stage: ingest\n"
                      f"    config: {{sources: ['{source_tree}']}}\n  - stage: dedup\n    config: {{mode: exact}}\n")
    run_recipe(recipe, quiet=True, echo=False)
    plan = plan_recipe(recipe, quiet=True)
    assert all(_up_to_date(s) is not None for s in plan)
    manifest = plan[1].output / "manifest.json"
    saved = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**saved, "stage": "filter"}))
    assert _up_to_date(plan[1]) is None  # same config, another stage's output
    manifest.write_text(json.dumps({**saved, "config": {**saved["config"], "mode": "near"}}))
    assert _up_to_date(plan[1]) is None
    manifest.write_text("{not json")
    assert _up_to_date(plan[1]) is None  # unreadable: rerun rather than trust it
    assert read_manifest(plan[0].output).stage == "ingest"


def test_a_rerun_upstream_reruns_everything_after_it(source_tree: Path, tmp_path: Path) -> None:
    """Changing the first stage's config must rerun the second even though the second's own config
    and manifest are unchanged (its input changed)."""
    recipe = tmp_path / "r.yaml"
    body = (f"workdir: {tmp_path / 'w'}\nstages:\n  - stage: ingest\n    config: {{sources: ['{source_tree}']}}\n"
            "  - stage: dedup\n    config: {mode: exact}\n")
    recipe.write_text(body)
    run_recipe(recipe, quiet=True, echo=False)
    # keep_empty changes ingest's config, not necessarily its output: the rule is "upstream rerun".
    recipe.write_text(body.replace("{sources:", "{keep_empty: true, sources:"))
    results = run_recipe(recipe, quiet=True, echo=False)
    assert [r.skipped for r in results] == [False, False]


# --------------------------------------------------------------------------------------------
# dedup decisions -> parts


def test_split_by_decisions_removes_flagged_rows_with_their_detail() -> None:
    frame = pl.DataFrame({"id": ["a", "b", "c", "d"], "content": ["1", "2", "1", "2"]})
    decisions = pl.DataFrame({"batch": [0, 0], "row": [2, 3], "dup_of": ["a", "b"]},
                             schema={"batch": pl.UInt32, "row": pl.UInt32, "dup_of": pl.String})
    kept, removed = split_by_decisions(frame, decisions, flag="dup_of", reason="exact_duplicate")
    assert kept.to_dict(as_series=False) == {"id": ["a", "b"], "content": ["1", "2"]}
    assert removed is not None
    assert removed.to_dict(as_series=False) == {"id": ["c", "d"], "content": ["1", "2"], "dup_of": ["a", "b"],
                                                "reason": ["exact_duplicate"] * 2}
    kept2, removed2 = split_by_decisions(frame, decisions, flag="dup_of")
    assert "reason" not in removed2.columns and kept2.equals(kept)
    for none in (None, decisions.head(0)):
        same, nothing = split_by_decisions(frame, none, flag="dup_of")
        assert same is frame and nothing is None


# --------------------------------------------------------------------------------------------
# decontam defaults: documented values, and what they remove

DECONTAM_DEFAULTS = {"benchmarks": (), "method": "both", "threshold": 0.5, "prose_ngram": 8, "code_ngram": 12,
                     "min_ngrams": 3, "max_items_per_ngram": 4, "min_matched": 12, "decode": True,
                     "idf": "builtin", "min_weight": 0.05}


def test_decontam_defaults_are_the_documented_ones() -> None:
    """A default is part of the interface: moving one (threshold 0.5 -> 0.9) must be a deliberate,
    reviewed change of this table, docs/commands.md and the CLI help alike."""
    from sctool.config import config_flags
    from sctool.stages.decontam import DecontamConfig

    cfg = DecontamConfig()
    assert {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)} == DECONTAM_DEFAULTS
    # Every field is documented (help text) and reachable from the command line.
    assert all(f.metadata.get("help") for f in dataclasses.fields(cfg))
    assert set(config_flags(DecontamConfig).values()) == set(DECONTAM_DEFAULTS)


def test_decontam_default_removes_a_60_percent_copy_and_keeps_a_30_percent_one(tmp_path: Path) -> None:
    from sctool.stages.decontam import DecontamConfig, run_decontam

    words = ["quartz", "zephyr", "lumen", "fjord", "krypton", "nimbus", "ocelot", "pylon", "quasar", "rhombus"]
    lines = [f'    table["{w}_{k}"] = mix({k * 37 + 11}, "{w}", {k * 13 + 5})' for k, w in enumerate(words)]
    solution = "def build(table):\n" + "\n".join(lines) + "\n    return table\n"

    def copy_of(k: int) -> str:
        return "import os\n\n\ndef build(table):\n" + "\n".join(lines[:k]) + "\n\n\nprint(os.sep)\n"

    bench = tmp_path / "b.jsonl"
    bench.write_text(json.dumps({"sol": solution}) + "\n")
    data = tmp_path / "in.jsonl"
    docs = {"sixty": copy_of(6), "thirty": copy_of(3), "clean": "print('hello')\n"}
    data.write_text("".join(json.dumps({"id": k, "content": v}) + "\n" for k, v in docs.items()))
    m = run_decontam([data], tmp_path / "out", DecontamConfig(benchmarks=(f"jsonl:sol:code={bench}",)),
                     Runtime(quiet=True))
    removed = pl.read_parquet(tmp_path / "out" / "removed" / "*.parquet")
    assert removed["id"].to_list() == ["sixty"]
    (hit,) = removed["matches"].to_list()[0]
    assert 0.5 <= hit["score"] < 0.9  # between the default and the mutated threshold
    assert (m.stats.docs_in, m.stats.docs_out) == (3, 2)


def test_config_to_dict_converts_inside_mappings() -> None:
    assert config_to_dict({1: Path("/a"), "n": Inner(2)}) == {"1": "/a", "n": {"n": 2}}


def test_runtime_defaults_and_immutability() -> None:
    """Runtime is shared by every stage of a recipe: its defaults are part of the interface and
    a stage must not change it for the next one."""
    rt = Runtime()
    assert config_to_dict(rt) == {"threads": 0, "text_column": "content", "batch_rows": 10_000, "overwrite": False,
                                  "quiet": False, "executor": "local", "ray_address": None}
    with pytest.raises(dataclasses.FrozenInstanceError):
        rt.threads = 3  # type: ignore[misc]


def test_plan_applies_workdir_quiet_and_references(source_tree: Path, tmp_path: Path) -> None:
    from sctool.recipe import _resolve_ref

    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"workdir: {tmp_path / 'w'}\nstages:\n  - stage: ingest\n"
                      f"    config: {{sources: ['{source_tree}']}}\n")
    plan = plan_recipe(recipe)
    assert plan[0].output == tmp_path / "w" / "01-ingest" and plan[0].runtime.quiet is False
    plan = plan_recipe(recipe, workdir=tmp_path / "elsewhere", quiet=True)
    assert plan[0].output == tmp_path / "elsewhere" / "01-ingest" and plan[0].runtime.quiet is True
    assert plan[0].runtime.overwrite is True  # a recipe reruns a changed stage over its old output
    # "@name" is resolved inside list-valued config options too.
    assert _resolve_ref(["@a", "x", 3], {"a": Path("/o/01-a")}, recipe, "s") == ["/o/01-a", "x", 3]
    recipe.write_text(f"workdir: {tmp_path / 'w'}\nstages:\n  - config: {{}}\n")
    with pytest.raises(ConfigError, match="needs a 'stage' key"):
        plan_recipe(recipe)


@dataclasses.dataclass(frozen=True)
class NoneFirst:
    count: None | int = None  # noqa: RUF036 -- None first is the case under test
    names: tuple[str, ...] = ()


def test_optional_and_list_items_are_coerced() -> None:
    """``None | int`` still checks the int (None first in the union must not let anything through),
    and list items are checked one by one."""
    assert config_from_dict(NoneFirst, {"count": 2}).count == 2
    with pytest.raises(ConfigError, match="does not match"):
        config_from_dict(NoneFirst, {"count": "abc"})
    with pytest.raises(ConfigError, match="expected a string"):
        config_from_dict(NoneFirst, {"names": ["a", 3]})


@pytest.mark.parametrize(
    ("stages_yaml", "message"),
    [
        ("  - stage: dedup\n", "has no inputs"),
        ("  - stage: ingest\n    config: [1]\n", "'config' must be a mapping"),
    ],
)
def test_plan_rejects_first_stage_without_inputs_and_bad_config(tmp_path: Path, stages_yaml: str,
                                                                 message: str) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"workdir: {tmp_path / 'w'}\nstages:\n{stages_yaml}")
    with pytest.raises(ConfigError, match=message):
        plan_recipe(recipe)


def test_plan_accepts_a_single_input_as_a_string(source_tree: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"workdir: {tmp_path / 'w'}\nstages:\n  - stage: ingest\n    name: raw\n"
                      f"    config: {{sources: ['{source_tree}']}}\n  - stage: dedup\n  - stage: filter\n"
                      "    inputs: '@raw'\n")
    plan = plan_recipe(recipe)
    assert plan[2].inputs == [str(plan[0].output)]


def test_exact_duplicates_of_an_empty_input_and_decisions_without_batch(tmp_path: Path) -> None:
    from sctool.dedup.decisions import exact_duplicates
    from sctool.io.sources import InputReader, resolve_inputs

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    reader = InputReader(resolve_inputs([empty]), text_column="content", batch_rows=10, require_text=True)
    dups = exact_duplicates(reader, Runtime(quiet=True))
    assert dups.height == 0 and dups.schema == {"batch": pl.UInt32, "row": pl.UInt32, "dup_of": pl.String}
    # Per-part decisions carry no batch column (the part is the batch).
    frame = pl.DataFrame({"id": ["a", "b"], "content": ["1", "1"]})
    decisions = pl.DataFrame({"row": [1], "dup_of": ["a"]}, schema={"row": pl.UInt32, "dup_of": pl.String})
    kept, removed = split_by_decisions(frame, decisions, flag="dup_of")
    assert kept["id"].to_list() == ["a"] and removed is not None and removed["id"].to_list() == ["b"]


@dataclasses.dataclass(frozen=True)
class Checked:
    n: int = 0

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError("n must be >= 0")


def test_config_errors_from_the_class_name_where() -> None:
    with pytest.raises(ConfigError, match=r"^dedup\.config: n must be >= 0"):
        config_from_dict(Checked, {"n": -1}, "dedup.config")
    with pytest.raises(ConfigError, match=r"^Checked: n must be >= 0"):
        config_from_dict(Checked, {"n": -1})


def test_stage_configs_are_frozen() -> None:
    from sctool.stages.decontam import DecontamConfig

    for cfg in (DecontamConfig(), *(cls.Config() for cls in stages().values())):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(cfg, dataclasses.fields(cfg)[0].name, None)


def test_plan_positions_messages_and_relative_inputs(source_tree: Path, tmp_path: Path) -> None:
    (tmp_path / "data.jsonl").write_text(json.dumps({"id": "a", "content": "x"}) + "\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"workdir: {tmp_path / 'w'}\nstages:\n  - stage: filter\n    inputs: [data.jsonl, /abs/x.jsonl,"
                      " missing.jsonl]\n  - stage: dedup\n")
    plan = plan_recipe(recipe)
    assert [s.position for s in plan] == [1, 2]
    # A relative input that exists next to the recipe is read from there; others are passed on as written.
    assert plan[0].inputs == [str(tmp_path / "data.jsonl"), "/abs/x.jsonl", "missing.jsonl"]
    recipe.write_text(recipe.read_text() + "  - stage: dedup\n    colour: red\n")
    with pytest.raises(ConfigError, match=r"stage #3: unknown key"):
        plan_recipe(recipe)


def test_mean_pass_at_k_of_no_problems_is_empty() -> None:
    from sctool.eval.passk import mean_pass_at_k

    assert mean_pass_at_k([], [1, 10]) == {}
    assert mean_pass_at_k(iter([(5, 1)]), [1, 10]) == {"pass@1": pytest.approx(0.2)}
