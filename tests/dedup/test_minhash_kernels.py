"""The fast shingling path (SIMD scan, exact string set, multi-buffer SHA-1) and every permutation
kernel against the brute-force StarCoder definition, on texts built to hit their edges."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sctool
from sctool import _native
from sctool.dedup import shingle_hashes
from tests.dedup import reference as ref

REPO = Path(__file__).resolve().parents[2]

# Pieces that stress the scan (separators on 64-byte chunk edges, multi-byte characters whose
# continuation bytes are dropped), the string set (repeated lines) and SHA-1 (shingles longer
# than one 55-byte block, from long identifiers).
pieces = st.sampled_from([
    "def", "x", "_y1", "(", ")", ":", " ", "    ", "\n", "\t", "é", "€", "😀", "ß9", ";", "==", "a",
    "\u00a0", "\u2028", "漢字", "self.assertEqual", "x" * 60, "_" * 23, "0123456789",
])
code_like = st.lists(pieces, max_size=120).map("".join)
# Repetition: a few lines repeated many times, as boilerplate and indentation produce.
repetitive = st.tuples(st.lists(code_like, min_size=1, max_size=3), st.integers(1, 30)).map(
    lambda t: "\n".join(t[0] * t[1]))
any_text = st.one_of(code_like, repetitive, st.text(max_size=200))


@settings(max_examples=80, deadline=None)
@given(any_text)
def test_shingle_set_equals_brute_force(text: str) -> None:
    expect = sorted({ref.sha1_hash32(s.encode()) for s in ref.shingles(text, 5, "bigcode")})
    assert shingle_hashes(text, 5).tolist() == expect


@settings(max_examples=40, deadline=None)
@given(st.lists(any_text, min_size=1, max_size=5), st.integers(0, 2**32 - 1))
def test_every_kernel_on_real_shingle_sets(texts: list[str], seed: int) -> None:
    for t in texts:
        want = ref.signature(t, 256, 5, seed)
        got = sctool.minhash([t], num_perm=256, seed=seed)[0]
        np.testing.assert_array_equal(got, want)
        hashes = shingle_hashes(t, 5)
        if hashes.size == 0:
            assert (want == np.uint32(2**32 - 1)).all()
            continue
        for k in _native.minhash_kernels():
            np.testing.assert_array_equal(_native.minhash_signature_with_kernel(hashes, 256, seed, k), want,
                                          err_msg=k)


def test_empty_and_short_documents_have_empty_signatures() -> None:
    texts = ["", "a", "a b c d", "é€😀", "    ", "a(b)"]  # fewer than 5 tokens, or exactly: "    " has 5
    got = sctool.minhash(texts)
    for t, sig in zip(texts, got, strict=True):
        np.testing.assert_array_equal(sig, ref.signature(t))
    assert (got[0] == np.uint32(2**32 - 1)).all() and (got[2] == np.uint32(2**32 - 1)).all()
    assert not (got[4] == np.uint32(2**32 - 1)).all()  # four spaces are five empty tokens


def test_datasketch_equal_on_long_unicode_document() -> None:
    datasketch = pytest.importorskip("datasketch")
    text = ("def f(x):\n    return x + 1  # é\n" * 50 + "漢字 " * 40 + "y" * 70 + " z\n") * 3
    m = datasketch.MinHash(num_perm=256, seed=42, scheme="legacy")
    m.update_batch([s.encode() for s in ref.shingles(text)])
    np.testing.assert_array_equal(m.hashvalues, sctool.minhash([text])[0])


CHILD = """
import json, sys
import sctool
from sctool import _native
texts = json.loads(sys.stdin.read())
print(json.dumps({"kernel": _native.minhash_kernel(), "sigs": sctool.minhash(texts, threads=1).tolist()}))
"""


@pytest.mark.parametrize("kernel", _native.minhash_kernels())
def test_batch_path_with_each_pinned_kernel(kernel: str) -> None:
    # The batch path uses the process-wide kernel: pin each one in a fresh process.
    texts = ["def f(x):\n    return x\n" * 20, "a b c d e f g", "", "é é é é é é é", "x" * 80 + " y z w v u"]
    env = {**os.environ, "SCTOOL_MINHASH_KERNEL": kernel}
    res = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(texts), capture_output=True, text=True,
                         env=env, cwd=REPO, check=True)
    out = json.loads(res.stdout)
    assert out["kernel"] == [kernel, "pinned"]
    for t, sig in zip(texts, out["sigs"], strict=True):
        np.testing.assert_array_equal(np.array(sig, dtype=np.uint32), ref.signature(t))
