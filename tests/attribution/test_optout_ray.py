"""Opt-out through the Ray executor gives exactly the local result (kept and removed parts, near
copies with ``dup_of``, cleaned issues, manifest counts), on a real local Ray cluster."""

from __future__ import annotations

import json

import polars as pl

from sctool.stages.base import Runtime
from sctool.stages.optout import OptOutConfig, run_optout
from tests.attribution.conftest import stdlib_docs
from tests.scaleout.conftest import ray_cluster  # noqa: F401  (the session's shared cluster fixture)
from tests.scaleout.helpers import assert_same_dataset


def test_optout_on_ray_equals_local(ray_cluster, tmp_path):  # noqa: F811
    (tmp_path / "users.txt").write_text("alice\n")
    (tmp_path / "repos.txt").write_text("carol/secret\n")
    docs = stdlib_docs()[:30]
    owners = ["alice/lib", "zed/app", "carol/secret", "carol/public", "Bob/x"]
    paths = []
    for k in range(3):
        rows = []
        for i, (_, text) in enumerate(docs[k * 10:(k + 1) * 10]):
            rows.append({"id": f"f{k}-{i}", "content": text, "max_stars_repo_name": owners[(k + i) % len(owners)]})
        # A vendored copy of an opted-out document under another owner, and an issue thread.
        rows.append({"id": f"copy{k}", "content": docs[k * 10][1] + "\n# vendored\n", "max_stars_repo_name": "mallory/v"})
        rows.append({"id": f"issue{k}", "content": "", "max_stars_repo_name": "zed/app", "title": "bug for @alice",
                     "events": json.dumps([{"action": "opened", "author": "zed", "text": "cc alice"},
                                           {"action": "created", "author": "alice", "text": "private"}])})
        p = tmp_path / f"in{k}.jsonl"
        p.write_text("".join(json.dumps(r) + "\n" for r in rows))
        paths.append(p)
    cfg = OptOutConfig(users_file=str(tmp_path / "users.txt"), repos_file=str(tmp_path / "repos.txt"),
                       near_copies=True)
    runs = {}
    for ex in ("local", "ray"):
        runs[ex] = run_optout(paths, tmp_path / ex, cfg, Runtime(batch_rows=5, quiet=True, executor=ex, threads=1))
    assert_same_dataset(tmp_path / "local", tmp_path / "ray")
    removed = pl.read_parquet(sorted((tmp_path / "ray" / "removed").glob("part-*.parquet")))
    by_match = dict(zip(removed.get_column("id"), removed.get_column("opt_out_match")))
    # Copies of alice's (file 0) and carol/secret's (file 2) documents go; zed's copy (file 1) stays.
    assert {i for i, m in by_match.items() if m == "near_copy"} == {"copy0", "copy2"}
    assert runs["ray"].docs_in == 3 * 12 and runs["ray"].stats.counters["issue_events_dropped"] == 3
