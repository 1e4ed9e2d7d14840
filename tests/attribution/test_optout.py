"""The opt-out stage: ownership matching, issue cleaning, near copies under other owners."""

from __future__ import annotations

import json

import polars as pl
import pytest

from sctool.errors import ConfigError
from sctool.io.dataset import read_dataset
from sctool.stages.base import Runtime
from sctool.stages.optout import OptOutConfig, OptOutLists, clean_issue, optout_batch, run_optout
from tests.attribution.conftest import stdlib_docs
from tests.conftest import run_cli


@pytest.fixture
def lists(tmp_path):
    (tmp_path / "users.txt").write_text("# opted out\nAlice\n\nbob-the-dev  # trailing comment\n")
    (tmp_path / "repos.txt").write_text("Carol/Secret-Repo\nhttps://github.com/dan/tools/\n")
    return tmp_path / "users.txt", tmp_path / "repos.txt"


def test_ownership_matching_is_case_insensitive_and_reasoned(lists):
    ol = OptOutLists.load(str(lists[0]), str(lists[1]))
    batch = pl.DataFrame({
        "id": [str(i) for i in range(7)],
        "content": ["x"] * 7,
        "max_stars_repo_name": ["ALICE/proj", "carol/secret-repo", "carol/public", "dan/Tools", None, "zed/a", "zed/b"],
        "max_forks_repo_name": [None, None, None, None, "Bob-The-Dev/fork", None, None],
        "author": [None, None, None, None, None, "alice", "Someone <alice@example.com>"],
    })
    out = optout_batch(batch, ol, None, Runtime())
    assert out.kept.get_column("id").to_list() == ["2"]
    rem = out.removed
    assert set(rem.get_column("reason")) == {"opt_out"}
    assert dict(zip(rem.get_column("id"), rem.get_column("opt_out_match"))) == {
        "0": "owner:alice", "1": "repo:carol/secret-repo", "3": "repo:dan/tools", "4": "owner:bob-the-dev",
        "5": "commit_author:user:alice", "6": "commit_author:user:alice"}
    assert out.counters["removed_by_match"] == {"owner": 2, "repo": 2, "commit_author": 2}


def test_bad_list_lines_are_named(tmp_path):
    (tmp_path / "u.txt").write_text("ok\nnot/a-user\n")
    with pytest.raises(ConfigError, match=r"u\.txt:2: 'not/a-user' is not a username"):
        OptOutLists.load(str(tmp_path / "u.txt"), None)
    (tmp_path / "r.txt").write_text("justowner\n")
    with pytest.raises(ConfigError, match=r"r\.txt:1"):
        OptOutLists.load(None, str(tmp_path / "r.txt"))
    with pytest.raises(ConfigError, match="needs --users"):
        OptOutLists.load(None, None)


def test_issue_participant_comments_dropped_and_name_masked(lists):
    ol = OptOutLists.load(str(lists[0]), None)
    events = [
        {"action": "opened", "author": "zed", "text": "Crash on start, cc @alice"},
        {"action": "created", "author": "Alice", "text": "my private reply"},
        {"action": "created", "author": "zed", "text": "thanks ALICE, fixed. alicex stays"},
    ]
    m, ev, title, dropped, masked = clean_issue(json.dumps(events), "alice's bug", ol)
    assert m is None and dropped == 1 and masked == 3
    kept = json.loads(ev)
    assert [e["author"] for e in kept] == ["zed", "zed"]
    assert "alice" not in json.dumps(kept).lower().replace("alicex", "")
    assert "alicex stays" in kept[1]["text"] and title == "opted_out_user's bug"
    m, *_ = clean_issue(events[1:], None, ol)
    assert m == "issue_opener:user:alice"
    batch = pl.DataFrame({"id": ["i0", "i1"], "title": ["t", "u"], "events": [json.dumps(events), json.dumps(events[1:])]})
    out = optout_batch(batch, ol, None, Runtime())
    assert out.kept.get_column("id").to_list() == ["i0"]
    assert "my private reply" not in out.kept.get_column("events")[0]
    assert out.counters["issue_events_dropped"] == 1


def test_near_copies_under_other_owners_are_removed_with_dup_of(lists, tmp_path):
    docs = stdlib_docs()[:40]
    names = [p for p, _ in docs]
    texts = [t for _, t in docs]
    rows = {"id": [f"d{i}" for i in range(len(docs))], "content": texts,
            "max_stars_repo_name": [f"zed/{i}" for i in range(len(docs))]}
    rows["max_stars_repo_name"][5] = "alice/original"
    # A lightly edited copy of document 5 in someone else's repository, and one of an unrelated file.
    rows["id"] += ["copy5", "copy9"]
    rows["content"] += [texts[5].replace("import", "import  ") + "\n# vendored\n", texts[9] + "\n"]
    rows["max_stars_repo_name"] += ["mallory/vendor", "mallory/vendor2"]
    src = tmp_path / "in.parquet"
    pl.DataFrame(rows).write_parquet(src)
    cfg = OptOutConfig(users_file=str(lists[0]), near_copies=True)
    run_optout([src], tmp_path / "out", cfg, Runtime(quiet=True, batch_rows=16))
    kept = read_dataset(tmp_path / "out").get_column("id").to_list()
    removed = read_dataset(tmp_path / "out", removed=True)
    got = dict(zip(removed.get_column("id"), removed.get_column("dup_of")))
    assert got == {"d5": None, "copy5": "d5"}, (names[5], got)
    assert "copy9" in kept and len(kept) == len(docs) - 1 + 1
    # Without --near-copies the copy survives.
    run_optout([src], tmp_path / "out2", OptOutConfig(users_file=str(lists[0])), Runtime(quiet=True))
    assert "copy5" in read_dataset(tmp_path / "out2").get_column("id").to_list()


def test_cli_and_recipe_stage(lists, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"content": f"print({i})", "repo": r}) + "\n"
                           for i, r in enumerate(["alice/x", "zed/y", "Carol/secret-repo"])))
    proc = run_cli("optout", src, "-o", tmp_path / "o", "--users", lists[0], "--repos", lists[1], "--quiet",
                   check=True)
    assert "removed by match: owner 1, repo 1" in proc.stdout
    assert read_dataset(tmp_path / "o").get_column("repo").to_list() == ["zed/y"]
    from sctool.stages.registry import get_stage

    assert get_stage("optout").Config is OptOutConfig


def test_recipe_opt_out_lists_are_relative_to_the_recipe_file(lists, tmp_path, monkeypatch):
    """A recipe names its opt-out lists next to itself; where `sctool run` starts must not matter."""
    from sctool.recipe import plan_recipe, run_recipe

    recipe_dir = tmp_path / "project" / "recipes"
    (recipe_dir / "lists").mkdir(parents=True)
    (recipe_dir / "lists" / "users.txt").write_text(lists[0].read_text())
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"content": f"print({i})", "repo": r}) + "\n"
                           for i, r in enumerate(["alice/x", "zed/y", "bob-the-dev/z"])))
    recipe = recipe_dir / "r.yaml"
    recipe.write_text(f"workdir: {tmp_path / 'work'}\nstages:\n  - stage: optout\n    inputs: [{src}]\n"
                      "    config:\n      users_file: lists/users.txt\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "lists").mkdir()
    (elsewhere / "lists" / "users.txt").write_text("zed\n")  # a decoy where the cwd would find it
    monkeypatch.chdir(elsewhere)
    (step,) = plan_recipe(recipe)
    assert step.config.users_file == str(recipe_dir / "lists" / "users.txt")
    (res,) = run_recipe(recipe, quiet=True, echo=False)
    assert read_dataset(res.output).get_column("repo").to_list() == ["zed/y"]
    # An absolute path stays as written.
    recipe.write_text(recipe.read_text().replace("lists/users.txt", str(lists[0])))
    assert plan_recipe(recipe)[0].config.users_file == str(lists[0])


def test_shipped_recipe_finds_its_opt_out_lists_from_any_directory(tmp_path, monkeypatch):
    from pathlib import Path

    from sctool.recipe import plan_recipe

    recipe = Path(__file__).resolve().parents[2] / "configs" / "starcoder-data.yaml"
    monkeypatch.chdir(tmp_path)
    (step,) = [s for s in plan_recipe(recipe, workdir=tmp_path / "w") if s.name == "optout"]
    assert Path(step.config.users_file).is_file() and Path(step.config.repos_file).is_file()
    OptOutLists.load(step.config.users_file, step.config.repos_file)
