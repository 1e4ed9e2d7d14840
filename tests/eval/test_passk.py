"""pass@k against brute force: the fraction of k-subsets of the n samples that contain a pass."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sctool.errors import InvalidInputError
from sctool.eval.passk import mean_pass_at_k, pass_at_k


def brute_force(n: int, c: int, k: int) -> float:
    outcomes = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(outcomes[i] for i in s) for s in subsets) / len(subsets)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_matches_enumeration_of_subsets(nck: tuple[int, int, int]) -> None:
    n, c, k = nck
    assert pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 200).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_matches_the_binomial_formula_at_harness_sizes(nck: tuple[int, int, int]) -> None:
    n, c, k = nck
    expected = 1.0 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-9)


def test_pass_at_1_is_the_pass_fraction() -> None:
    assert pass_at_k(200, 67, 1) == pytest.approx(67 / 200)


def test_mean_over_problems_skips_k_above_the_smallest_n() -> None:
    scores = mean_pass_at_k([(10, 1), (10, 0), (5, 5)], [1, 5, 10])
    assert set(scores) == {"pass@1", "pass@5"}
    assert scores["pass@1"] == pytest.approx((0.1 + 0.0 + 1.0) / 3)


@pytest.mark.parametrize("n,c,k", [(0, 0, 1), (5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_invalid_arguments_raise(n: int, c: int, k: int) -> None:
    with pytest.raises(InvalidInputError):
        pass_at_k(n, c, k)
