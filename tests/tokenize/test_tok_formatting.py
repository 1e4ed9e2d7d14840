"""StarCoder formatting: metadata prefixes, notebooks, issues, commits, and the format stage."""

from __future__ import annotations

import json
import math
import random

import polars as pl
import pytest

from sctool.formatting import (
    CommitConfig,
    IssueConfig,
    MetadataConfig,
    NotebookError,
    format_commit,
    format_issue,
    metadata_prefixes,
    notebook_to_script,
    notebook_to_structured,
    stars_bucket,
)
from sctool.formatting.commits import CommitError, subject_rejection
from sctool.formatting.issues import IssueError, is_bot, strip_boilerplate, truncate_lines
from sctool.stages.base import Runtime
from sctool.stages.format import FormatConfig, format_batch, run_format

# ---------------------------------------------------------------- metadata


@pytest.mark.parametrize(
    "stars,bucket",
    [(None, "0"), (0, "0"), (1, "1-10"), (10, "1-10"), (11, "10-100"), (100, "10-100"), (101, "100-1000"),
     (1000, "100-1000"), (1001, "1000+"), (float("nan"), "0")],
)
def test_stars_buckets(stars, bucket):
    assert stars_bucket(stars) == bucket


def test_metadata_rates_and_layout():
    n = 20000
    ids = [f"doc-{i}" for i in range(n)]
    pre = metadata_prefixes(ids, ["org/repo"] * n, ["src/a.py"] * n, [42] * n, MetadataConfig(), seed=3)
    counts = {t: sum(t in p for p in pre) for t in ("<reponame>", "<filename>", "<gh_stars>")}
    sd = math.sqrt(n * 0.2 * 0.8)
    for c in counts.values():
        assert abs(c - 0.2 * n) < 5 * sd
    # Independent draws: all three together about 0.8 % of documents.
    both = sum(all(t in p for t in counts) for p in pre)
    assert abs(both - 0.008 * n) < 5 * math.sqrt(n * 0.008)
    for p in pre:
        if p:
            assert p.endswith("\n") and p.count("\n") == 1
            order = [p.find(t) for t in ("<reponame>", "<filename>", "<gh_stars>") if t in p]
            assert order == sorted(order)
    full = metadata_prefixes(["x"], ["org/repo"], ["a.py"], [42], MetadataConfig(1.0, 1.0, 1.0), 0)
    assert full == ["<reponame>org/repo<filename>a.py<gh_stars>10-100\n"]
    assert metadata_prefixes(["x"], [None], [None], None, MetadataConfig(1.0, 1.0, 1.0), 0) == [""]


def test_metadata_depends_only_on_seed_and_id():
    ids = [f"d{i}" for i in range(500)]
    args = (["r"] * 500, ["p"] * 500, [5] * 500, MetadataConfig())
    a = metadata_prefixes(ids, *args, seed=1)
    rev = metadata_prefixes(ids[::-1], *args, seed=1)
    assert a == rev[::-1]
    assert a[100:200] == metadata_prefixes(ids[100:200], *[x[100:200] for x in args[:3]], args[3], seed=1)
    assert a != metadata_prefixes(ids, *args, seed=2)


# ---------------------------------------------------------------- notebooks


def notebook(cells, lang="python", ext=".py") -> str:
    return json.dumps({
        "cells": cells,
        "metadata": {"kernelspec": {"name": f"{lang}3", "display_name": lang, "language": lang},
                     "language_info": {"name": lang, "file_extension": ext}},
        "nbformat": 4, "nbformat_minor": 4,
    })


def md(src):
    return {"cell_type": "markdown", "metadata": {}, "source": src}


def code(src, out=None):
    outputs = [] if out is None else [{"output_type": "stream", "name": "stdout", "text": out}]
    return {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": src, "outputs": outputs}


def test_notebook_structured_layout():
    nb = notebook([
        code("import os"),  # a leading code group is dropped
        md(["# Load <b>data</b>\n", "then look"]),
        code("x = 1"), code("print(x)", out=["1\n"]),  # grouped; the group's last output is used
        md("## Plot"), md("more"),
        code("plot()"),
        md("trailing notes"),  # a trailing markdown group is dropped
    ])
    assert notebook_to_structured(nb) == (
        "<jupyter_start><jupyter_text>Load data then look<jupyter_code>x = 1\nprint(x)<jupyter_output>1\n"
        "<jupyter_text>Plot more<jupyter_code>plot()<jupyter_output><empty_output>"
    )


def test_notebook_structured_truncates_outputs_and_skips_non_python():
    nb = notebook([md("t"), code("print('a' * 5000)", out="a" * 5000)])
    s = notebook_to_structured(nb, max_output_chars=1000)
    assert s.endswith("<jupyter_output>" + "a" * 1000 + "[...]")
    with pytest.raises(NotebookError) as e:
        notebook_to_structured(notebook([md("t"), code("x")], lang="julia", ext=".jl"))
    assert e.value.reason == "notebook_not_python"
    with pytest.raises(NotebookError) as e:
        notebook_to_structured(notebook([code("x")]))
    assert e.value.reason == "notebook_no_pairs"


def test_notebook_script_uses_kernel_language():
    script, ext = notebook_to_script(notebook([md("# Title"), code("x = 1")]))
    assert ext == ".py" and "x = 1" in script and "# # Title" in script
    script, ext = notebook_to_script(notebook([md("Intro"), code("x <- 1")], lang="R", ext=".r"))
    assert ext == ".r" and "x <- 1" in script


@pytest.mark.parametrize("bad", ["{not json", "[1, 2]", json.dumps({"cells": "nope"}), json.dumps({"x": 1})])
def test_malformed_notebooks_raise_a_counted_error(bad):
    for fn in (notebook_to_script, notebook_to_structured):
        with pytest.raises(NotebookError) as e:
            fn(bad)
        assert e.value.reason == "malformed_notebook"


# ---------------------------------------------------------------- issues


LONG = "This happens when the parser reads a file with a BOM and then crashes on the first line. " * 3


def ev(action, author, text=""):
    return {"action": action, "author": author, "text": text}


def test_issue_layout_and_username_masking():
    events = [
        ev("opened", "alice", f"{LONG}\nping @bob"),
        ev("created", "bob", "Thanks alice, can you share the file? alice-dev is not me."),
        ev("created", "dependabot[bot]", "Bumps x from 1 to 2"),
        ev("closed", "alice"),
    ]
    text, counters = format_issue(events, "Crash with alice's file", IssueConfig())
    assert text.startswith("<issue_start>Title: Crash with username_0's file\nusername_0: ")
    assert "ping @username_1" in text
    assert "<issue_comment>username_1: Thanks username_0, can you share the file? alice-dev is not me." in text
    assert text.endswith("<issue_closed>")
    assert "Bumps" not in text and "alice:" not in text and counters["bot_events"] == 1


def test_issue_filters():
    cfg = IssueConfig()
    with pytest.raises(IssueError) as e:
        format_issue([ev("opened", "a", "too short")], None, cfg)
    assert e.value.reason == "issue_too_short"
    with pytest.raises(IssueError) as e:
        format_issue([ev("opened", "a", LONG)] + [ev("created", "a", "more")] * 10, None, cfg)
    assert e.value.reason == "issue_single_user_too_long"
    # The same 11 events from two users are kept.
    text, _ = format_issue([ev("opened", "a", LONG)] + [ev("created", "b", "more")] * 10, None, cfg)
    assert text.count("<issue_comment>") == 10
    with pytest.raises(IssueError) as e:
        format_issue([ev("opened", "travis-ci", LONG)], None, cfg)
    assert e.value.reason == "issue_no_events"
    # A bot call ("/rebase", or mentioning the bot) goes with the bot's reply.
    text, c = format_issue([ev("opened", "a", LONG), ev("created", "b", "/rebase"), ev("created", "mergify-bot", "ok")],
                           None, cfg)
    assert "/rebase" not in text and c["bot_events"] == 2


@pytest.mark.parametrize("bad", ["{", 5, [1], [{"action": "opened"}], [{"author": "a", "text": 3}]])
def test_malformed_issue_records(bad):
    with pytest.raises(IssueError) as e:
        format_issue(bad, None, IssueConfig())
    assert e.value.reason == "malformed_issue"


def test_issue_text_cleaning():
    body = "Fixed in master.\n\nOn Mon, Jan 1 2020, Someone <notifications@github.com> wrote:\n> old text\n"
    assert strip_boilerplate(body) == "Fixed in master."
    body = "Yes.\n> quoted line\nSigned-off-by: A <a@b.c>\nok\n—\nYou are receiving this because you commented.\nReply"
    assert strip_boilerplate(body) == "Yes.\nok"
    long = "\n".join(f"line {i}" for i in range(100))
    out = truncate_lines(long, IssueConfig())
    lines = out.split("\n")
    assert lines[:60] == [f"line {i}" for i in range(60)] and lines[60] == "[Truncated]"
    assert lines[61:] == [f"line {i}" for i in range(80, 100)]
    assert truncate_lines("a\nb", IssueConfig()) == "a\nb"
    for bot in ("codecov-io", "renovate[bot]", "k8s-ci-robot", "my-ci", "somebot", "Apache-HBase"):
        assert is_bot(bot), bot
    for human in ("alice", "robotics-fan", "bottle"):
        assert not is_bot(human), human


# ---------------------------------------------------------------- commits


OLD = "\n".join(f"line {i}" for i in range(100))
NEW = OLD.replace("line 50", "line fifty").replace("line 52", "line fifty-two")


def test_commit_layout_full_and_window():
    cfg = CommitConfig(filters=False, full_file_rate=1.0)
    assert format_commit("k", OLD, NEW, "Fix the numbering\n\nbody", "a.py", cfg, 0) == (
        f"<commit_before>{OLD}<commit_msg>Fix the numbering<commit_after>{NEW}"
    )
    cfg = CommitConfig(filters=False, full_file_rate=0.0)
    for key in range(30):
        t = format_commit(str(key), OLD, NEW, "Fix the numbering", "a.py", cfg, 0)
        before = t.split("<commit_msg>")[0].removeprefix("<commit_before>").split("\n")
        after = t.split("<commit_after>")[1].split("\n")
        assert "line 50" in before and "line 52" in before and "line fifty" in after
        assert len(before) <= 3 + 2 * 32 and len(before) == len(after)
        assert t == format_commit(str(key), OLD, NEW, "Fix the numbering", "a.py", cfg, 0)


def test_commit_filters():
    cfg = CommitConfig()
    reasons = {}
    cases = {
        "too_large": ("x" * 100_000, NEW, "Fix the numbering of lines", "a.py"),
        "empty_new": (OLD, "", "Fix the numbering of lines", "a.py"),
        "extension": (OLD, NEW, "Fix the numbering of lines please", "a.unknownext"),
    }
    for name, (o, n, m, p) in cases.items():
        with pytest.raises(CommitError) as e:
            format_commit("k", o, n, m, p, cfg, 0)
        reasons[name] = e.value.reason
    assert reasons == {"too_large": "commit_too_large", "empty_new": "commit_empty_new",
                       "extension": "commit_extension"}
    rng = random.Random(0)
    for subj in ("", "auto commit of files", "Update README.md", "v1.2.3 release of it", "x" * 60, " word"):
        assert subject_rejection(subj, rng), subj
    kept = sum(subject_rejection("Fix bug", random.Random(i)) is None for i in range(2000))
    assert 850 < kept < 1150  # short subjects: 50 % kept
    assert subject_rejection("Fix the numbering of the lines", rng) is None
    # Tiny changes (span <= 2 lines) survive 10 % of the time.
    small = OLD.replace("line 50", "line L")
    ok = 0
    for i in range(1000):
        try:
            format_commit(f"s{i}", OLD, small, "Rename one of the lines here", "a.py", cfg, 0)
            ok += 1
        except CommitError as e:
            assert e.reason == "commit_change_span"
    assert 50 < ok < 160


# ---------------------------------------------------------------- stage


def mixed_rows() -> list[dict]:
    nb_ok = notebook([md("Intro"), code("print(1)", out="1\n")])
    rows = [{"id": f"c{i}", "content": f"x = {i}\n", "path": f"src/m{i}.py", "repo": "org/r", "stars": i}
            for i in range(40)]
    rows += [
        {"id": "nb", "content": nb_ok, "path": "n.ipynb", "repo": "org/r", "stars": 3},
        {"id": "nb-bad", "content": "{oops", "path": "bad.ipynb", "repo": "org/r", "stars": 3},
        {"id": "null", "content": None, "path": "z.py", "repo": "org/r", "stars": 1},
    ]
    return rows


def test_format_batch_counts_and_keeps_everything_accounted():
    df = pl.DataFrame(mixed_rows())
    out = format_batch(df, FormatConfig(notebooks="structured"))
    assert out.kept.height + out.removed.height == df.height
    assert dict(zip(out.removed["id"], out.removed["reason"])) == {"nb-bad": "malformed_notebook", "null": "null_text"}
    nb = out.kept.filter(pl.col("id") == "nb")
    assert nb["content"][0].startswith("<jupyter_start><jupyter_text>Intro<jupyter_code>print(1)")
    assert nb["format_kind"][0] == "notebook"
    assert out.counters["kinds"] == {"code": 40, "notebook": 1}
    for row in out.kept.filter(pl.col("format_kind") == "code").iter_rows(named=True):
        orig = f"x = {row['id'][1:]}\n"
        assert row["content"].endswith(orig)
        prefix = row["content"][: -len(orig)]
        assert prefix == "" or (prefix.startswith("<") and prefix.endswith("\n"))


def test_format_issue_and_commit_rows():
    issues = pl.DataFrame({
        "id": ["i1", "i2"],
        "title": ["Crash", "Bad"],
        "events": [json.dumps([ev("opened", "alice", LONG), ev("created", "bob", "same here")]), "not json"],
    })
    out = format_batch(issues, FormatConfig())
    assert out.kept["content"][0].startswith("<issue_start>Title: Crash\nusername_0: ")
    assert out.removed["reason"].to_list() == ["malformed_issue"]
    commits = pl.DataFrame({
        "id": ["k1"], "old_contents": [OLD], "new_contents": [NEW], "subject": ["Fix the numbering of lines"],
        "new_file": ["a.py"],
    })
    cfg = FormatConfig(commits=CommitConfig(filters=False))
    out = format_batch(commits, cfg)
    assert out.kept["content"][0].startswith("<commit_before>") and out.kept["format_kind"][0] == "commit"


def test_run_format_is_independent_of_batching(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in mixed_rows()))
    m1 = run_format([src], tmp_path / "a", FormatConfig(), Runtime(batch_rows=5, quiet=True))
    m2 = run_format([src], tmp_path / "b", FormatConfig(), Runtime(batch_rows=1000, quiet=True))
    a = pl.read_parquet(tmp_path / "a" / "part-*.parquet").sort("id")
    b = pl.read_parquet(tmp_path / "b" / "part-*.parquet").sort("id")
    assert a.equals(b)
    assert m1.docs_in == m2.docs_in == 43 and m1.docs_out == 41
    assert m1.stats.removed == {"malformed_notebook": 1, "null_text": 1}


def test_run_format_batch_of_only_null_texts(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in mixed_rows()))
    m = run_format([src], tmp_path / "a", FormatConfig(), Runtime(batch_rows=7, quiet=True))
    assert m.stats.removed == {"malformed_notebook": 1, "null_text": 1}
