"""Signatures against the brute-force StarCoder definition, datasketch parity, banding, estimates."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sctool
from sctool.dedup import estimate_jaccard, optimal_param, permutations, shingle_hashes
from sctool.errors import ConfigError, InvalidInputError
from tests.dedup import reference as ref

# Code-like text: identifiers, punctuation, whitespace runs, non-ASCII characters.
code_text = st.text(
    alphabet=st.sampled_from([*list("abcxyz_019 \t\n()[]{}:;.,=+-*/#'\""), "é", "€", "\xa0", "😀", "ß"]),
    max_size=300,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(code_text, min_size=1, max_size=6), st.sampled_from([1, 3, 5]), st.integers(0, 2**32 - 1))
def test_signatures_equal_brute_force_definition(texts: list[str], ngram: int, seed: int) -> None:
    got = sctool.minhash(texts, num_perm=37, ngram=ngram, seed=seed)
    assert got.dtype == np.uint32 and got.shape == (len(texts), 37)
    for i, t in enumerate(texts):
        np.testing.assert_array_equal(got[i], ref.signature(t, 37, ngram, seed))


@settings(max_examples=30, deadline=None)
@given(code_text, st.sampled_from(["bigcode", "words", "chars"]), st.sampled_from([2, 5]))
def test_shingle_sets_equal_reference(text: str, kind: str, ngram: int) -> None:
    expect = sorted({ref.sha1_hash32(s.encode()) for s in ref.shingles(text, ngram, kind)})
    assert shingle_hashes(text, ngram, shingle=kind).tolist() == expect
    sig = sctool.minhash([text], num_perm=16, ngram=ngram, shingle=kind)[0]
    np.testing.assert_array_equal(sig, ref.signature(text, 16, ngram, 42, kind))


def test_starcoder_defaults_on_real_code(shared_data) -> None:
    rec = json.loads((shared_data / "neardup" / "neardup-public.jsonl").open().readline())
    got = sctool.minhash([rec["a"], rec["b"]])
    np.testing.assert_array_equal(got[0], ref.signature(rec["a"]))
    np.testing.assert_array_equal(got[1], ref.signature(rec["b"]))


def test_datasketch_legacy_parity() -> None:
    datasketch = pytest.importorskip("datasketch")
    m = datasketch.MinHash(num_perm=256, seed=42, scheme="legacy")
    a, b = permutations(256, 42)
    np.testing.assert_array_equal(m.permutations[0], a)
    np.testing.assert_array_equal(m.permutations[1], b)
    text = "def f(x):\n    return x + 1  # é\n\nclass A(B):\n    pass\n"
    m.update_batch([s.encode() for s in ref.shingles(text)])
    np.testing.assert_array_equal(m.hashvalues, sctool.minhash([text])[0])


@pytest.mark.parametrize("seed", [0, 1, 42, 2**32 - 1])
def test_permutations_equal_numpy_randomstate(seed: int) -> None:
    a, b = permutations(50, seed)
    expect = ref.permutations(50, seed)
    np.testing.assert_array_equal(a, expect[0])
    np.testing.assert_array_equal(b, expect[1])


def test_inputs_nulls_and_empty() -> None:
    texts = ["a b c d e f", None, "", "x"]
    sig_list = sctool.minhash(texts, num_perm=8)
    np.testing.assert_array_equal(sig_list, sctool.minhash(pl.Series(texts), num_perm=8))
    np.testing.assert_array_equal(sig_list, sctool.minhash(pa.array(texts), num_perm=8))
    assert (sig_list[1:] == 2**32 - 1).all()
    assert sctool.minhash([], num_perm=8).shape == (0, 8)


def test_polars_namespace_matches_function() -> None:
    df = pl.DataFrame({"content": ["def f(x): return x", None, "a b c d e f g"]})
    out = df.select(pl.col("content").sct.minhash(num_perm=32))
    assert out.schema["content"] == pl.Array(pl.UInt32, 32)
    np.testing.assert_array_equal(out["content"].to_numpy(), sctool.minhash(df["content"], num_perm=32))
    lazy = df.lazy().with_columns(sig=pl.col("content").sct.minhash(num_perm=8, hash="xxh3")).collect()
    assert lazy["sig"].dtype == pl.Array(pl.UInt32, 8)


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ConfigError, match="seed"):
        sctool.minhash(["x"], seed=-1)
    with pytest.raises(ConfigError, match="num_perm"):
        sctool.minhash(["x"], num_perm=0)
    with pytest.raises(ConfigError, match="shingle"):
        sctool.minhash(["x"], shingle="nope")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        sctool.minhash("a single string")
    with pytest.raises(InvalidInputError):
        sctool.minhash(pl.Series([1, 2, 3]))


@pytest.mark.parametrize("threshold,num_perm", [(0.7, 256), (0.5, 128), (0.85, 256), (0.9, 64), (0.3, 100)])
def test_banding_equals_datasketch(threshold: float, num_perm: int) -> None:
    lsh = pytest.importorskip("datasketch.lsh")
    assert optimal_param(threshold, num_perm) == lsh._optimal_param(threshold, num_perm, 0.5, 0.5)
    assert optimal_param(0.7, 256) == (25, 10)


def test_known_banding_table_equals_the_search() -> None:
    from sctool import native
    from sctool.dedup.minhash import KNOWN_BANDING

    assert (0.7, 256) in KNOWN_BANDING  # StarCoder's default setting skips the search
    for (threshold, num_perm), banding in KNOWN_BANDING.items():
        assert native.lsh_optimal_param(threshold, num_perm) == banding, (threshold, num_perm)
    assert optimal_param(0.7000001, 256) == native.lsh_optimal_param(0.7000001, 256)  # off the table: searched


def test_estimate_within_statistical_bound(shared_data) -> None:
    """|estimate − exact| ≤ 5 binomial standard deviations (+ 1/k) on every evaluation pair."""
    recs = [json.loads(line) for line in (shared_data / "neardup" / "neardup-public.jsonl").open()]
    k = 256
    sa = sctool.minhash([r["a"] for r in recs])
    sb = sctool.minhash([r["b"] for r in recs])
    est = estimate_jaccard(sa, sb)
    exact = np.array([r["jaccard_5gram"]["bigcode"] for r in recs])
    bound = 5 * np.sqrt(exact * (1 - exact) / k) + 1 / k
    assert (np.abs(est - exact) <= bound).all()
    # And the estimator is unbiased on average.
    assert abs(float((est - exact).mean())) < 0.01


# Every signature kernel this CPU can run (64×64 and 32×32→64 multiplies, AVX-512 / AVX2 /
# portable) is checked against the brute-force definition; the calibrated choice is one of them.
@settings(max_examples=25, deadline=None)
@given(st.lists(code_text, min_size=1, max_size=4), st.sampled_from([1, 16, 37, 256]), st.integers(0, 2**32 - 1))
def test_every_kernel_equals_brute_force(texts: list[str], num_perm: int, seed: int) -> None:
    from sctool import _native

    kernels = _native.minhash_kernels()
    assert "generic-mul32" in kernels and "generic-mul64" in kernels
    for t in texts:
        want = ref.signature(t, num_perm, 5, seed)
        hashes = shingle_hashes(t, 5)
        for k in kernels:
            np.testing.assert_array_equal(_native.minhash_signature_with_kernel(hashes, num_perm, seed, k), want,
                                          err_msg=k)


def test_calibrated_kernel_is_reported_and_recorded() -> None:
    from sctool import _native

    name, how = _native.minhash_kernel()
    assert name in _native.minhash_kernels() and how in ("calibrated", "pinned")
    with pytest.raises(ValueError, match="no signature kernel"):
        _native.minhash_signature_with_kernel(np.array([1, 2], dtype=np.uint32), 4, 1, "no-such-kernel")


def test_near_dedup_manifest_names_the_kernel(tmp_path) -> None:
    from sctool.stages.base import Runtime
    from sctool.stages.dedup import DedupConfig, run_dedup

    src = tmp_path / "in.parquet"
    pl.DataFrame({"id": ["a", "b"], "content": ["def f(x):\n    return x + 1\n" * 4, "print('hello world here')\n"]}
                 ).write_parquet(src)
    m = run_dedup([src], tmp_path / "out", DedupConfig(mode="near"), Runtime(quiet=True))
    from sctool import _native

    assert m.extra["near_dedup"]["engine"]["signature_kernel"] == _native.minhash_kernel()[0]
    assert m.extra["near_dedup"]["engine"]["sha1_kernel"] == _native.minhash_sha1_kernel()
    assert _native.minhash_sha1_kernel() in ("sha-ni", "avx512-x16")
