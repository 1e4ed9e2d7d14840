"""The GPU checks of ``gpu_check.py`` as tests; skipped without CUDA."""

from __future__ import annotations

import pytest
import torch

from tests.model import gpu_check

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_backends_agree_on_gpu() -> None:
    for row in gpu_check.backends_agree():
        if row["check"] != "backend":
            continue
        assert "error" not in row, row
        assert row["max_abs_diff_bf16_vs_fp32_eager"] < 0.1, row
        assert row["grad_finite"], row


def test_batched_generation_on_gpu() -> None:
    assert gpu_check.batched_generation_equals_unbatched()["ok"]
