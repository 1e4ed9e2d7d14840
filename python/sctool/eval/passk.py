"""The unbiased pass@k estimator of Chen et al. 2021 (Codex paper, arXiv 2107.03374, eq. 1).

pass@k = E_problems[1 - C(n - c, k) / C(n, k)] for n samples of which c pass. The ratio of binomials
is evaluated as a running product (the paper's numerically stable form): ``C(n, k)`` overflows a
float for the n = 200 the StarCoder protocol allows, the product never does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sctool.errors import InvalidInputError


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n (c correct) passes."""
    if n < 1 or c < 0 or c > n:
        raise InvalidInputError(f"pass@k needs 0 <= c <= n and n >= 1, got n={n}, c={c}")
    if k < 1 or k > n:
        raise InvalidInputError(f"pass@{k} needs 1 <= k <= n, got n={n}")
    if n - c < k:
        return 1.0
    prod = 1.0
    # 1 - prod_{i = n-c+1}^{n} (1 - k / i)
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def mean_pass_at_k(counts: Iterable[tuple[int, int]], ks: Sequence[int]) -> dict[str, float]:
    """``pass@k`` averaged over problems for each k that every problem has enough samples for.

    A k larger than some problem's sample count is left out rather than estimated from fewer
    samples, as the reference harnesses do; a result must never claim more samples than it had.
    """
    pairs = list(counts)
    if not pairs:
        return {}
    min_n = min(n for n, _ in pairs)
    out: dict[str, float] = {}
    for k in sorted(set(ks)):
        if k < 1 or k > min_n:
            continue
        out[f"pass@{k}"] = sum(pass_at_k(n, c, k) for n, c in pairs) / len(pairs)
    return out
