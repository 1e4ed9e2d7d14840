"""Output head + next-token cross-entropy in row chunks, without materialising the logits.

Why: with a 49k vocabulary the output head is over half of a small model's training FLOPs, and
the plain path ``F.cross_entropy(lm_head(x))`` streams the (tokens × vocab) logits through memory
many times: the matmul writes them, autocast upcasts them to fp32, log-softmax reads and writes
them, the backward zero-fills and scatters a gradient of the same size, then log-softmax backward
and the cast back each make another pass. On a CPU (and for memory on a GPU) those passes cost
as much as the matmul.

Here the forward pass computes, per chunk of rows, the logits into one reused fp32 buffer that
fits the last-level cache, their log-sum-exp, the loss, and the gradient of the summed loss with
respect to the logits (``softmax - one_hot``), stored once in the compute dtype. The backward
pass is then two plain matmuls with that gradient (for the hidden states and for the weight),
scaled by the incoming gradient. The arithmetic is the textbook one (the same matmuls as the
unfused path, softmax statistics in fp32), so results match ``F.cross_entropy`` to rounding;
``tests/model/test_fused_loss.py`` checks loss and both gradients against it.

Semantics: ``reduction="sum"`` over positions whose target is not ``ignore_index``; the caller
divides by the token count. Under autocast (CPU or CUDA) the matmuls run in the autocast dtype,
as ``nn.Linear`` would, and the gradients come back in the inputs' dtypes.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch

#: Rows per chunk: 0 = pick by device and compute dtype (``default_chunk_rows``).
AUTO_CHUNK = 0


def default_chunk_rows(device: torch.device, vocab_size: int, compute_dtype: torch.dtype) -> int:
    """Rows per chunk, measured on this project's CPU (``benches/bench_train.py`` head rows).

    bf16 on a CPU: ~8 M logits per chunk (the fp32 softmax copy and the bf16 matmul output
    stay in a 32 MiB last-level cache; 128-256 rows of a 49k vocabulary were fastest). fp32 on a
    CPU: ~32 M logits, because the fp32 matmul loses efficiency on short row blocks and the chunk
    is written in place anyway. GPU: 256 M logits (1 GiB of fp32 scratch), which only bounds memory.
    """
    if device.type == "cuda":
        budget = 1 << 28
    elif compute_dtype == torch.float32:
        budget = 1 << 25
    else:
        budget = 1 << 23
    return max(16, budget // max(1, vocab_size))


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    device_type = x.device.type
    if device_type in ("cpu", "cuda") and torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return x.dtype


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor,
        targets: torch.Tensor,
        ignore_index: int,
        chunk_rows: int,
        compute_dtype: torch.dtype,
    ) -> torch.Tensor:
        n = x.shape[0]
        vocab = weight.shape[0]
        xc = x.to(compute_dtype)
        wc = weight.to(compute_dtype)
        # d(sum of losses)/d(logits), kept in the compute dtype for the backward matmuls.
        grad_logits = torch.empty((n, vocab), dtype=compute_dtype, device=x.device)
        fp32 = compute_dtype == torch.float32
        rows_max = min(chunk_rows, n)
        # fp32: each chunk is computed straight into its rows of grad_logits; otherwise the matmul
        # writes a compute-dtype chunk and the softmax runs on an fp32 copy of it.
        scratch = None if fp32 else torch.empty((rows_max, vocab), dtype=torch.float32, device=x.device)
        mm_out = None if fp32 else torch.empty((rows_max, vocab), dtype=compute_dtype, device=x.device)
        valid_all = targets != ignore_index
        safe_targets = torch.where(valid_all, targets, 0)[:, None]
        losses = []
        for start in range(0, n, chunk_rows):
            end = min(n, start + chunk_rows)
            rows = end - start
            if fp32:
                logits = grad_logits[start:end]
                torch.mm(xc[start:end], wc.t(), out=logits)
            else:
                assert scratch is not None and mm_out is not None
                torch.mm(xc[start:end], wc.t(), out=mm_out[:rows])
                logits = scratch[:rows]
                logits.copy_(mm_out[:rows])
            tgt = safe_targets[start:end]
            valid = valid_all[start:end, None]
            picked = logits.gather(1, tgt)  # (rows, 1): the target's logit, before the softmax overwrites it
            row_max = logits.amax(dim=1, keepdim=True)
            logits.sub_(row_max).exp_()
            total = logits.sum(dim=1, keepdim=True)
            logits.div_(total)  # softmax, in place: one exp per element
            lse = total.log_().add_(row_max)
            losses.append(((lse - picked) * valid).sum())
            logits.scatter_add_(1, tgt, valid.to(logits.dtype).neg())  # - one_hot
            # Rows without a target get no gradient. On a CPU, checking first skips a pass over the
            # chunk; on a GPU the check would be a synchronisation, so the pass always runs.
            if logits.is_cuda or not bool(valid.all()):
                logits.mul_(valid)
            if not fp32:
                grad_logits[start:end].copy_(logits)
        ctx.save_for_backward(grad_logits, xc, wc)
        ctx.dtypes = (x.dtype, weight.dtype)
        return torch.stack(losses).sum()

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        grad_logits, xc, wc = ctx.saved_tensors
        x_dtype, w_dtype = ctx.dtypes
        scale = grad_out.to(xc.dtype)
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.mm(grad_logits, wc).mul_(scale).to(x_dtype)
        if ctx.needs_input_grad[1]:
            # Scaling the (tokens × hidden) input is cheaper than scaling the (vocab × hidden) result.
            grad_w = torch.mm(grad_logits.t(), xc * scale).to(w_dtype)
        return grad_x, grad_w, None, None, None, None


def linear_cross_entropy(
    x: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    *,
    ignore_index: int = -100,
    chunk_rows: int = AUTO_CHUNK,
) -> torch.Tensor:
    """Sum over rows of ``cross_entropy(x @ weight.T, targets)``, skipping ``ignore_index`` targets.

    ``x`` is (N, hidden), ``weight`` (vocab, hidden), ``targets`` (N,) int64. Returns a 0-d fp32
    tensor. Memory: one (N × vocab) gradient in the compute dtype plus one fp32 chunk, instead of
    the unfused path's several (N × vocab) fp32 tensors.
    """
    if x.dim() != 2 or weight.dim() != 2 or targets.dim() != 1 or targets.shape[0] != x.shape[0]:
        raise ValueError(
            f"expected x (N, H), weight (V, H), targets (N,); got {tuple(x.shape)}, {tuple(weight.shape)}, "
            f"{tuple(targets.shape)}"
        )
    dtype = _compute_dtype(x)
    rows = chunk_rows if chunk_rows > 0 else default_chunk_rows(x.device, weight.shape[0], dtype)
    with torch.autocast(x.device.type, enabled=False) if x.device.type in ("cpu", "cuda") else nullcontext():
        return _LinearCrossEntropy.apply(x, weight, targets, ignore_index, rows, dtype)

