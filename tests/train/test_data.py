"""The sampling layer: blending, windows, splits, rank sharding, FIM wiring — each against a brute-force
reference or an invariant that a wrong implementation breaks."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sctool.errors import ConfigError, DatasetError
from sctool.packing.indexed import IndexedDataset, IndexedDatasetWriter
from sctool.train.config import DataSource
from sctool.train.data import (
    BlendIndex,
    FiniteShardedBatchSampler,
    ShardedBatchSampler,
    build_datasets,
)

from .conftest import write_synthetic


def brute_blend(weights: list[float], n: int) -> list[tuple[int, int]]:
    """Sequential reference: the same golden-ratio assignment, within-source counters kept in a dict."""
    w = np.asarray(weights, dtype=np.float64)
    cum = np.cumsum(w / w.sum())
    thresholds = [min(int(c * 2.0**64), 2**64 - 1) for c in cum[:-1]]
    seen = [0] * len(weights)
    out = []
    for i in range(n):
        u = ((i + 1) * 0x9E3779B97F4A7C15) % 2**64
        s = sum(1 for t in thresholds if u >= t)
        out.append((s, seen[s]))
        seen[s] += 1
    return out


def test_blend_matches_sequential_reference_across_block_boundaries():
    weights = [5.0, 1.0, 3.0]
    n = BlendIndex.BLOCK * 2 + 100
    ref = brute_blend(weights, n)
    blend = BlendIndex(weights)
    probe = [0, 1, 2, BlendIndex.BLOCK - 1, BlendIndex.BLOCK, BlendIndex.BLOCK + 7, n - 1, 5, 2 * BlendIndex.BLOCK + 3]
    for i in probe:  # random access in any order, including going back to an earlier block
        assert blend(i) == ref[i]


@given(st.lists(st.floats(min_value=0.05, max_value=100.0), min_size=1, max_size=6), st.integers(1, 5000))
def test_blend_proportions_stay_close_to_weights(weights, n):
    counts = BlendIndex(weights).counts(n)
    expected = n * np.asarray(weights) / sum(weights)
    assert counts.sum() == n
    # A Kronecker sequence's discrepancy is O(log n): a handful of samples, never a drift with n.
    assert np.all(np.abs(counts - expected) <= 3 + np.log2(n + 1))


def test_blend_rejects_bad_weights():
    with pytest.raises(ConfigError):
        BlendIndex([1.0, 0.0])
    with pytest.raises(ConfigError):
        DataSource(prefix="x", weight=-1.0)


@pytest.fixture()
def one_source(tmp_path):
    return write_synthetic(tmp_path / "a", n_docs=60, seed=1)


def test_train_windows_cover_the_train_split_once_per_epoch(tmp_path):
    # Token id = position + 1, so a window's first id says where it starts.
    prefix = tmp_path / "pos"
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 60, size=50)
    with IndexedDatasetWriter(prefix, np.int32) as w:
        w.add_documents(np.arange(1, int(lengths.sum()) + 1), lengths)
    train, _, _ = build_datasets([DataSource(str(prefix))], 16, 0.1, seed=3, vocab_size=10**6)
    info = train.splits[0]
    w = info.num_windows
    assert w == info.num_tokens // 16 and info.end_doc == 45
    epoch0 = [train[i]["tokens"].numpy() for i in range(w)]
    for x in epoch0:
        assert np.array_equal(x, np.arange(x[0], x[0] + 16))  # contiguous tokens
    starts = sorted(int(x[0]) - 1 for x in epoch0)
    assert starts == [16 * j for j in range(w)]  # every window exactly once, none twice
    assert max(int(x[-1]) for x in epoch0) <= info.end_token  # nothing from the valid split
    epoch1 = [train[w + i]["tokens"].numpy() for i in range(w)]
    assert sorted(int(x[0]) - 1 for x in epoch1) == starts
    assert sorted(map(bytes, epoch0)) == sorted(map(bytes, epoch1))
    assert any(not np.array_equal(a, b) for a, b in zip(epoch0, epoch1))  # reshuffled


def test_splits_are_disjoint_documents_and_valid_is_in_order(one_source):
    train, valid, _ = build_datasets([DataSource(str(one_source))], 16, 0.1, seed=3, vocab_size=256)
    assert valid is not None
    t, v = train.splits[0], valid.splits[0]
    assert t.end_doc == v.first_doc and t.end_token == v.first_token
    assert v.end_doc - v.first_doc == round(60 * 0.1)
    ds = IndexedDataset(one_source)
    flat = np.asarray(ds.tokens, dtype=np.int64)
    for k in range(v.num_windows):
        start = v.first_token + 16 * k
        assert np.array_equal(valid[k]["tokens"].numpy(), flat[start : start + 16])


def test_dataset_is_a_pure_function_of_the_index(one_source, tmp_path):
    b = write_synthetic(tmp_path / "b", n_docs=40, seed=2)
    sources = [DataSource(str(one_source), 2.0), DataSource(str(b), 1.0)]
    d1, _, _ = build_datasets(sources, 16, 0.1, seed=9, vocab_size=256)
    d2, _, _ = build_datasets(sources, 16, 0.1, seed=9, vocab_size=256)
    d3 = pickle.loads(pickle.dumps(d1))  # what a spawned DataLoader worker receives
    order = [50, 3, 7, 1000, 3, 0]
    for i in order:
        a = d1[i]["tokens"]
        assert np.array_equal(a, d2[i]["tokens"]) and np.array_equal(a, d3[i]["tokens"])
    d4, _, _ = build_datasets(sources, 16, 0.1, seed=10, vocab_size=256)
    assert any(not np.array_equal(d1[i]["tokens"], d4[i]["tokens"]) for i in range(20))


def test_blended_samples_come_from_their_source(one_source, tmp_path):
    # Source b holds only ids >= 100, source a only < 100: the blend's choice is visible in the tokens.
    b = tmp_path / "b"
    with IndexedDatasetWriter(b, np.uint16) as w:
        for _ in range(30):
            w.add_document(np.arange(100, 140))
    a = tmp_path / "lo"
    with IndexedDatasetWriter(a, np.uint16) as w:
        for _ in range(30):
            w.add_document(np.arange(1, 40))
    train, _, _ = build_datasets([DataSource(str(a), 3.0), DataSource(str(b), 1.0)], 8, 0.0, 0, 256)
    from_b = [int(train[i]["tokens"].min()) >= 100 for i in range(400)]
    assert [train.source_of(i)[0] == 1 for i in range(400)] == from_b
    assert 80 <= sum(from_b) <= 120


def test_bad_data_gives_errors_naming_the_file(tmp_path):
    small = tmp_path / "small"
    with IndexedDatasetWriter(small, np.uint16) as w:
        w.add_document(np.arange(1, 5))
    with pytest.raises(DatasetError, match="small"):
        build_datasets([DataSource(str(small))], 16, 0.0, 0, 256)
    big = write_synthetic(tmp_path / "big", n_docs=20, vocab=200)
    train, _, _ = build_datasets([DataSource(str(big))], 16, 0.0, 0, vocab_size=50)
    with pytest.raises(DatasetError, match="vocab_size"):
        for i in range(50):
            train[i]
    with pytest.raises(DatasetError, match="missing"):
        build_datasets([DataSource(str(tmp_path / "missing"))], 16, 0.0, 0, 256)
    with pytest.raises(ConfigError):
        build_datasets([], 16, 0.0, 0, 256)


@pytest.mark.parametrize("world", [1, 2, 4])
def test_rank_shards_partition_the_single_rank_stream(world):
    single = ShardedBatchSampler(micro_batch=8, rank=0, world=1, start_sample=40)
    shards = [iter(ShardedBatchSampler(8 // world, r, world, start_sample=40)) for r in range(world)]
    for batch in list(zip(range(5), single)):
        merged = [i for it in shards for i in next(it)]
        assert merged == batch[1]


def test_finite_sampler_has_a_length_and_stops():
    s = FiniteShardedBatchSampler(2, 1, 2, num_batches=3)
    assert len(s) == 3
    assert list(s) == [[2, 3], [6, 7], [10, 11]]


def test_fim_is_applied_per_window_with_an_index_seeded_generator(tokenized_data):
    from sctool import fim
    from sctool.tokenizer import load_tokenizer
    from sctool.train.data import FimTransform

    prefix, tok_path = tokenized_data
    tok = load_tokenizer(tok_path)
    t = FimTransform(str(tok_path), fim_rate=1.0, fim_spm_rate=0.5)
    plain, _, _ = build_datasets([DataSource(str(prefix))], 64, 0.0, 5, 1024)
    permuted, _, _ = build_datasets([DataSource(str(prefix))], 64, 0.0, 5, 1024, fim=t)
    ids = fim.FimTokenIds.from_tokenizer(tok)
    cfg = fim.FimConfig(fim_rate=1.0, fim_spm_rate=0.5)
    changed = 0
    for i in range(10):
        x = plain[i]["tokens"].numpy()
        y = permuted[i]["tokens"].numpy()
        assert y.shape == x.shape
        rng = np.random.default_rng(np.random.SeedSequence([5, 0, i]))
        assert np.array_equal(y, fim.apply_fim(x, rng, cfg, ids, tok))
        changed += int((y == ids.prefix).any())
    assert changed == 10
    again = pickle.loads(pickle.dumps(permuted))
    assert np.array_equal(again[3]["tokens"], permuted[3]["tokens"])
