"""The dedup steps one by one against brute-force references, and the chain run by hand, in process
and on the executor path, giving the same kept / removed sets and ``dup_of``.

The references are written from the definitions (``tests/dedup/reference.py`` for signatures and
StarCoder's clustering; plain dicts and a sequential union-find here), not from sctool's code.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sctool import _native
from sctool.dedup import steps
from sctool.dedup.near import NearDupParams, NearDupPlanner
from sctool.stages.base import Runtime
from sctool.stages.dedup import DedupConfig, run_dedup
from tests.dedup import reference

PARAMS = NearDupParams(bands=8, rows=4, num_perm=32, ngram=2)


def corpus(seed: int = 5, n: int = 60) -> pl.DataFrame:
    """Families of light edits of a few bases, exact copies, an empty text and a null."""
    rnd = random.Random(seed)
    vocab = [f"w{j}" for j in range(50)]
    bases = [[rnd.choice(vocab) for _ in range(40)] for _ in range(5)]
    ids, texts = [], []
    for i in range(n):
        words = list(bases[i % 5])
        for _ in range(rnd.randint(0, 2)):
            words[rnd.randrange(len(words))] = rnd.choice(vocab)
        ids.append(f"d{(i * 7) % n}")
        texts.append(" ".join(words))
    ids += ["copy-a", "copy-b", "empty", "null"]
    texts += [texts[3], texts[3], "", None]
    return pl.DataFrame({"id": ids, "content": texts}, schema={"id": pl.String, "content": pl.String})


# --- single steps -----------------------------------------------------------------------------


def test_band_keys_equal_exactly_when_bands_are_equal() -> None:
    frame = corpus()
    signed = steps.sign(frame.get_column("content"), PARAMS)
    keys, nodes = steps.band_keys(signed, PARAMS.bands, PARAMS.rows, base=100)
    sigs = np.asarray(signed.sigs)
    live = [i for i in range(frame.height) if signed.counts[i] > 0]
    assert nodes.tolist() == [100 + i for i in live for _ in range(PARAMS.bands)]
    # Records in document order, bands in order: band b of document i is record (k * bands + b).
    band_of = {(int(nodes[r]) - 100, r % PARAMS.bands): int(keys[r]) for r in range(len(keys))}
    for b in range(PARAMS.bands):
        seen: dict[bytes, int] = {}
        for i in live:
            raw = sigs[i, b * PARAMS.rows:(b + 1) * PARAMS.rows].tobytes()
            key = band_of[(i, b)]
            assert seen.setdefault(raw, key) == key
        assert len(set(seen.values())) == len(seen)  # different bands, different keys
    # Signatures are the StarCoder-exact ones.
    assert sigs[0].tolist() == reference.signature(frame["content"][0], 32, 2).tolist()


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 30)), max_size=60))
def test_edges_are_stars_of_each_key_group(records: list[tuple[int, int]]) -> None:
    keys = np.array([k for k, _ in records], dtype=np.uint64)
    nodes = np.array([n for _, n in records], dtype=np.uint64)
    e = steps.edges(keys, nodes)
    by_key: dict[int, list[int]] = {}
    for k, n in records:
        by_key.setdefault(k, []).append(n)
    want_groups = [sorted(v) for v in by_key.values() if len(v) > 1]
    assert e.groups == len(want_groups)
    assert len(e.a) == sum(len(v) - 1 for v in want_groups)
    # Every group's members are joined to its smallest node (a star), nothing else.
    got: dict[int, list[int]] = {}
    for a, b in zip(e.a.tolist(), e.b.tolist(), strict=True):
        got.setdefault(a, []).append(b)
    want: dict[int, list[int]] = {}
    for v in want_groups:
        want.setdefault(v[0], []).extend(v[1:])
    assert {k: sorted(v) for k, v in got.items()} == {k: sorted(v) for k, v in want.items()}


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 30).flatmap(lambda n: st.tuples(
    st.permutations(list(range(n))),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=40))))
def test_components_root_at_the_lowest_rank(case: tuple[list[int], list[tuple[int, int]]]) -> None:
    ranks, edges = case
    n = len(ranks)
    comps = steps.Components(np.array(ranks, dtype=np.uint32))
    comps.union(np.array([a for a, _ in edges], dtype=np.uint64), np.array([b for _, b in edges], dtype=np.uint64))
    want = reference.component_roots(n, edges, ranks)
    assert comps.roots().tolist() == want


def test_components_reject_bad_ranks_and_edges() -> None:
    with pytest.raises(Exception, match="permutation"):
        steps.Components(np.array([0, 0, 1], dtype=np.uint32))
    comps = steps.Components(np.array([0, 1], dtype=np.uint32))
    with pytest.raises(Exception, match="outside"):
        comps.union(np.array([0], dtype=np.uint64), np.array([2], dtype=np.uint64))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", None]), max_size=30), st.integers(1, 7))
def test_first_occurrences_keep_the_earliest_copy(docs: list[str | None], batch_rows: int) -> None:
    frames = []
    for bi, s in enumerate(range(0, len(docs), batch_rows)):
        chunk = docs[s:s + batch_rows]
        frame = pl.DataFrame({"id": [f"i{s + r}" for r in range(len(chunk))], "content": chunk},
                             schema={"id": pl.String, "content": pl.String})
        frames.append(steps.content_hashes(frame, bi, text_column="content"))
    dups = steps.first_occurrences(pl.concat(frames)) if frames else steps.first_occurrences(pl.DataFrame())
    got = {(int(b) * batch_rows + int(r)): d for b, r, d in dups.iter_rows()}
    first: dict[str, int] = {}
    want = {}
    for i, d in enumerate(docs):
        if d is None:
            continue
        if d in first:
            want[i] = f"i{first[d]}"
        else:
            first[d] = i
    assert got == want


# --- the chain --------------------------------------------------------------------------------


def chain_by_hand(frame: pl.DataFrame, params: NearDupParams, *, exact: bool, batch_rows: int,
                  partitions: int) -> steps.NearDupPlan:
    """sign → band keys → shuffle (a dict of partitions) → edges → components → decide, written
    out step by step, keeping everything in memory."""
    metas, sigs, counts, shuffle = [], [], [], {p: ([], []) for p in range(partitions)}
    pos = 0
    for b, s in enumerate(range(0, frame.height, batch_rows)):
        batch = frame.slice(s, batch_rows)
        metas.append(steps.doc_meta(batch, b, text_column="content", params=params, exact=exact))
        signed = steps.sign(batch.get_column("content"), params)
        keys, nodes = steps.band_keys(signed, params.bands, params.rows, base=pos)
        for k, n in zip(keys.tolist(), nodes.tolist(), strict=True):
            shuffle[k % partitions][0].append(k)
            shuffle[k % partitions][1].append(n)
        sigs.append(np.asarray(signed.sigs))
        counts.append(np.asarray(signed.counts))
        pos += batch.height
    meta = pl.concat(metas)
    ranks = _native.rank_ids(meta.get_column("id"))
    comps = steps.Components(ranks)
    for keys, nodes in shuffle.values():
        e = steps.edges(np.array(keys, dtype=np.uint64), np.array(nodes, dtype=np.uint64))
        comps.union(e.a, e.b)
    allsigs = np.concatenate(sigs)
    return steps.decide(meta, ranks=ranks, roots=comps.roots(), counts=np.concatenate(counts),
                        estimate=lambda a, b: steps.jaccard_rows(allsigs[a], allsigs[b]), params=params,
                        exact=exact)


def _removed_map(plan: steps.NearDupPlan, frame: pl.DataFrame, batch_rows: int) -> dict[str, tuple[str, str]]:
    ids = frame.get_column("id").to_list()
    return {ids[b * batch_rows + r]: (reason, dup_of)
            for b, r, reason, dup_of in plan.decisions.select("batch", "row", "reason", "dup_of").iter_rows()}


@pytest.mark.parametrize("exact", [False, True])
def test_chain_by_hand_equals_the_in_process_runner_and_the_reference(exact: bool) -> None:
    frame = corpus()
    by_hand = chain_by_hand(frame, PARAMS, exact=exact, batch_rows=9, partitions=3)
    with NearDupPlanner(PARAMS, exact=exact, threads=1) as planner:
        for b, s in enumerate(range(0, frame.height, 7)):
            planner.add(frame.slice(s, 7), b)
        runner = planner.plan()
    a, b = _removed_map(by_hand, frame, 9), _removed_map(runner, frame, 7)
    assert a == b
    assert by_hand.clusters.equals(runner.clusters, null_equal=True)
    assert sum(1 for r, _ in a.values() if r == "near_duplicate") >= 20
    if exact:
        # Exact copies point to wherever their first occurrence ended up kept.
        texts, ids = frame.get_column("content").to_list(), frame.get_column("id").to_list()
        orig = ids[texts.index(texts[3])]
        kept_as = a[orig][1] if orig in a else orig
        assert a["copy-a"] == ("exact_duplicate", kept_as)
        assert a["copy-b"] == ("exact_duplicate", kept_as)


def test_chain_equals_the_brute_force_reference() -> None:
    """StarCoder's clustering written from its definition (5-grams, lowest id kept)."""
    params = NearDupParams(bands=8, rows=4, num_perm=32, ngram=5)
    frame = corpus(seed=2, n=40)
    plan = chain_by_hand(frame, params, exact=False, batch_rows=6, partitions=4)
    texts = [t if t is not None else "" for t in frame.get_column("content").to_list()]
    want = reference.near_dedup(frame.get_column("id").to_list(), texts, 8, 4, num_perm=32)
    got = {i: d for i, (_, d) in _removed_map(plan, frame, 6).items()}
    assert len(want) >= 5
    assert got == want


def _write_jsonl(frame: pl.DataFrame, root: Path, files: int) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    rows = frame.to_dicts()
    paths = []
    per = -(-len(rows) // files)
    for f in range(files):
        p = root / f"in{f}.jsonl"
        p.write_text("".join(json.dumps(r) + "\n" for r in rows[f * per:(f + 1) * per]), encoding="utf-8")
        paths.append(p)
    return paths


def _outcome(out: Path) -> tuple[set[str], dict[str, tuple[str, str]]]:
    kept = pl.concat([pl.read_parquet(p) for p in sorted(out.glob("part-*.parquet"))], how="diagonal_relaxed")
    removed_files = sorted((out / "removed").glob("part-*.parquet"))
    removed = pl.concat([pl.read_parquet(p) for p in removed_files], how="diagonal_relaxed") if removed_files else None
    rm = {} if removed is None else {i: (r, d) for i, r, d in removed.select("id", "reason", "dup_of").iter_rows()}
    return set(kept.get_column("id").to_list()), rm


@pytest.mark.parametrize("mode", ["exact", "near", "both"])
def test_in_process_and_executor_paths_keep_and_remove_the_same(tmp_path: Path, mode: str) -> None:
    """``run_dedup`` in process against the executor path (local executor, 3 shuffle partitions):
    the same kept set, removed set and dup_of, and they agree with the chain run by hand."""
    from sctool.dedup.distributed_exact import run_exact_dedup
    from sctool.dedup.distributed_near import run_near_dedup_executor

    frame = corpus(seed=11, n=80)
    files = _write_jsonl(frame, tmp_path / "in", 3)
    cfg = DedupConfig(mode=mode, bands=PARAMS.bands, rows=PARAMS.rows, num_perm=PARAMS.num_perm, ngram=PARAMS.ngram)
    runtime = Runtime(batch_rows=8, quiet=True, threads=1)
    run_dedup(files, tmp_path / "local", cfg, runtime)
    if mode == "exact":
        run_exact_dedup(files, tmp_path / "exec", cfg, runtime, partitions=3)
    else:
        run_near_dedup_executor(files, tmp_path / "exec", cfg, runtime, partitions=3)
    kept_l, removed_l = _outcome(tmp_path / "local")
    kept_e, removed_e = _outcome(tmp_path / "exec")
    assert kept_l == kept_e
    assert removed_l == removed_e
    assert kept_l | set(removed_l) == set(frame.get_column("id").to_list())
    assert not kept_l & set(removed_l)
    if mode != "exact":
        by_hand = chain_by_hand(frame, cfg.near_params(), exact=mode == "both", batch_rows=8, partitions=2)
        assert _removed_map(by_hand, frame, 8) == removed_l
        assert sum(1 for r, _ in removed_l.values() if r == "near_duplicate") >= 20
    else:
        texts, ids = frame.get_column("content").to_list(), frame.get_column("id").to_list()
        assert {r for r, _ in removed_l.values()} == {"exact_duplicate"}
        assert removed_l["copy-b"] == ("exact_duplicate", ids[texts.index(texts[3])])


@pytest.mark.parametrize(("first", "second"), [("local", "local"), ("executor", "local"), ("local", "executor")])
def test_interrupted_write_resumes_to_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: str,
                                                    second: str) -> None:
    """A run killed after three parts, rerun (by either path), equals an uninterrupted run byte for byte."""
    from sctool.dedup.distributed_near import run_near_dedup_executor
    from tests.scaleout.helpers import assert_same_near

    frame = corpus(seed=4, n=70)
    files = _write_jsonl(frame, tmp_path / "in", 2)
    cfg = DedupConfig(mode="both", bands=PARAMS.bands, rows=PARAMS.rows, num_perm=PARAMS.num_perm, ngram=PARAMS.ngram)
    runtime = Runtime(batch_rows=8, quiet=True, threads=1)

    def run(path: str, out: Path):  # type: ignore[no-untyped-def]
        if path == "local":
            return run_dedup(files, out, cfg, runtime)
        return run_near_dedup_executor(files, out, cfg, runtime, partitions=2)

    run("local", tmp_path / "clean")
    original = steps.split_by_decisions
    calls = [0]

    def crash_after_three(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls[0] += 1
        if calls[0] > 3:
            raise RuntimeError("killed mid-write")
        return original(*args, **kwargs)

    monkeypatch.setattr(steps, "split_by_decisions", crash_after_three)
    with pytest.raises(RuntimeError, match="killed mid-write"):
        run(first, tmp_path / "out")
    monkeypatch.setattr(steps, "split_by_decisions", original)
    manifest = run(second, tmp_path / "out")
    assert manifest.extra["resumed_parts"] == 3
    assert manifest.parts == 10
    # The in-process shuffle's layout counters are the only difference between the two paths.
    assert_same_near(tmp_path / "clean", tmp_path / "out")
