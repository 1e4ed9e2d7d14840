"""The chunked head + cross-entropy against ``F.cross_entropy(x @ W.T)``: loss and both gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from sctool.model import GPT
from sctool.model.fused_loss import default_chunk_rows, linear_cross_entropy
from tests.model.conftest import VOCAB, random_model, tiny_config


def reference(x: torch.Tensor, w: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(F.linear(x, w), t, ignore_index=-100, reduction="sum")


def loss_and_grads(fn, x: torch.Tensor, w: torch.Tensor, t: torch.Tensor, scale: float = 1.0):
    x = x.detach().clone().requires_grad_()
    w = w.detach().clone().requires_grad_()
    loss = fn(x, w, t)
    (loss * scale).backward()
    return loss.detach(), x.grad, w.grad


@settings(max_examples=40)
@given(
    n=st.integers(1, 40),
    vocab=st.integers(2, 70),
    hidden=st.integers(1, 12),
    chunk=st.integers(1, 50),
    ignore_every=st.integers(0, 4),
    scale=st.sampled_from([1.0, 0.25, 3.0]),
    seed=st.integers(0, 2**16),
)
def test_matches_cross_entropy_fp32(
    n: int, vocab: int, hidden: int, chunk: int, ignore_every: int, scale: float, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, hidden, generator=g, dtype=torch.float64).float()
    w = torch.randn(vocab, hidden, generator=g) * 2
    t = torch.randint(0, vocab, (n,), generator=g)
    if ignore_every:
        t[::ignore_every] = -100
    ref = loss_and_grads(reference, x, w, t, scale)
    got = loss_and_grads(lambda a, b, c: linear_cross_entropy(a, b, c, chunk_rows=chunk), x, w, t, scale)
    for r, o in zip(ref, got, strict=True):
        torch.testing.assert_close(o, r, atol=1e-5, rtol=1e-5)


def test_all_targets_ignored_gives_zero_loss_and_gradient() -> None:
    x = torch.randn(6, 4)
    w = torch.randn(9, 4)
    t = torch.full((6,), -100)
    loss, gx, gw = loss_and_grads(lambda a, b, c: linear_cross_entropy(a, b, c, chunk_rows=4), x, w, t)
    assert float(loss) == 0.0
    assert not gx.any() and not gw.any()


def test_bf16_autocast_matches_the_autocast_reference() -> None:
    """Under autocast the matmuls run in bf16 as nn.Linear's would; softmax statistics stay fp32."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 32, generator=g)
    w = torch.randn(500, 32, generator=g) * 0.2
    t = torch.randint(0, 500, (64,), generator=g)
    t[:5] = -100

    def under_autocast(fn):
        def run(a, b, c):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return fn(a, b, c)
        return run

    ref = loss_and_grads(under_autocast(reference), x, w, t)
    got = loss_and_grads(under_autocast(lambda a, b, c: linear_cross_entropy(a, b, c, chunk_rows=16)), x, w, t)
    assert got[0].dtype == torch.float32 and got[1].dtype == x.dtype and got[2].dtype == w.dtype
    torch.testing.assert_close(got[0], ref[0].float(), rtol=1e-3, atol=1e-3)
    for r, o in zip(ref[1:], got[1:], strict=True):
        # Both round the logits' gradient to bf16 before the backward matmuls.
        assert float((o - r).abs().max()) <= 0.02 * float(r.abs().max())


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="expected x"):
        linear_cross_entropy(torch.zeros(3, 4), torch.zeros(5, 4), torch.zeros(2, dtype=torch.long))


def test_default_chunk_sizes() -> None:
    cpu = torch.device("cpu")
    assert default_chunk_rows(cpu, 49152, torch.bfloat16) == 170
    assert default_chunk_rows(cpu, 49152, torch.float32) == 682
    assert default_chunk_rows(cpu, 10, torch.float32) > 10_000
    assert default_chunk_rows(cpu, 10**9, torch.float32) == 16


@pytest.mark.parametrize("chunk", [0, 5])
def test_model_training_step_equals_the_unfused_step(chunk: int) -> None:
    """Same loss, same gradients for every parameter; the fused step returns no logits."""
    cfg = tiny_config(loss_chunk_rows=chunk)
    fused = random_model(cfg).train()
    plain = GPT(cfg.with_changes(fused_loss=False)).train()
    plain.load_state_dict(fused.state_dict())
    x = torch.randint(0, VOCAB, (3, 17))
    labels = x.clone()
    labels[1, :6] = -100
    out_f = fused(x, labels=labels)
    out_p = plain(x, labels=labels)
    assert out_f.logits is None and out_p.logits is not None
    assert int(out_f.num_tokens) == int(out_p.num_tokens) == 3 * 16 - 5
    torch.testing.assert_close(out_f.loss, out_p.loss, atol=1e-6, rtol=1e-6)
    out_f.loss.backward()
    out_p.loss.backward()
    grads_p = dict(plain.named_parameters())
    for name, p in fused.named_parameters():
        torch.testing.assert_close(p.grad, grads_p[name].grad, atol=1e-6, rtol=1e-5, msg=name)


def test_evaluation_keeps_the_logits() -> None:
    model = random_model(tiny_config())  # eval mode
    x = torch.randint(0, VOCAB, (2, 9))
    out = model(x, labels=x)
    assert out.logits is not None and out.logits.shape == (2, 9, VOCAB)
    model.train()
    with torch.no_grad():
        assert model(x, labels=x).logits is not None
