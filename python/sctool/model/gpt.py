"""StarCoder's decoder: a GPT-2-style transformer with multi-query attention, in plain PyTorch.

Architecture (StarCoder paper, section 4): learned absolute position embeddings, pre-LayerNorm
blocks with a final LayerNorm, GELU MLP (tanh approximation by default, as Megatron trained it),
biases everywhere, dropout, tied input/output embeddings, and multi-query attention: every query
head shares one key/value head, which shrinks the KV cache ``n_head``-fold at inference. The
number of K/V heads is a config field, so the same code runs grouped-query and multi-head models.

Parameter names are transformers' ``GPTBigCodeForCausalLM`` names (``transformer.h.0.attn.c_attn``
…) so checkpoints convert by renaming nothing. The fused ``c_attn`` projection is laid out
``[q (n_head·d) | k (n_kv·d) | v (n_kv·d)]``, which for MQA is exactly transformers' layout; for
multi-head models transformers interleaves q/k/v per head and ``sctool.model.hf`` permutes.

This module imports only torch (and the config); it knows nothing of Lightning or tokenizers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from sctool.model.config import ModelConfig
from sctool.model.fused_loss import linear_cross_entropy

# ---------------------------------------------------------------------------------------------------
# KV cache
# ---------------------------------------------------------------------------------------------------


class KVCache:
    """Preallocated key/value buffers, one K and one V tensor per layer of shape (B, n_kv, capacity, d).

    Writing into a buffer instead of concatenating (transformers' ``DynamicCache``) keeps each decode
    step O(1) in copies. For MQA ``n_kv`` is 1, so a token costs ``2·n_layer·head_dim`` numbers instead
    of ``2·n_layer·n_embd``. The buffer grows by doubling if a caller runs past ``capacity``.
    """

    def __init__(
        self,
        n_layer: int,
        batch_size: int,
        n_kv_heads: int,
        head_dim: int,
        capacity: int,
        *,
        dtype: torch.dtype,
        device: torch.device | str,
    ) -> None:
        shape = (batch_size, n_kv_heads, max(1, capacity), head_dim)
        self.keys = [torch.empty(shape, dtype=dtype, device=device) for _ in range(n_layer)]
        self.values = [torch.empty(shape, dtype=dtype, device=device) for _ in range(n_layer)]
        self.length = 0
        self._pending = 0

    @classmethod
    def for_model(
        cls, model: GPT, batch_size: int, capacity: int, *, dtype: torch.dtype | None = None
    ) -> KVCache:
        cfg = model.config
        ref = model.transformer.wte.weight
        return cls(
            cfg.n_layer,
            batch_size,
            cfg.n_kv_heads,
            cfg.head_dim,
            capacity,
            dtype=dtype or ref.dtype,
            device=ref.device,
        )

    @property
    def capacity(self) -> int:
        return self.keys[0].shape[2]

    @property
    def batch_size(self) -> int:
        return self.keys[0].shape[0]

    def bytes_per_token(self) -> int:
        """Memory one cached token takes in every sequence of the batch (all layers, K and V)."""
        k = self.keys[0]
        return 2 * len(self.keys) * k.shape[1] * k.shape[3] * k.element_size()

    def _grow(self, needed: int) -> None:
        new_cap = max(needed, 2 * self.capacity)
        for store in (self.keys, self.values):
            for i, old in enumerate(store):
                b, h, _, d = old.shape
                new = torch.empty((b, h, new_cap, d), dtype=old.dtype, device=old.device)
                new[:, :, : self.length] = old[:, :, : self.length]
                store[i] = new

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append this step's (B, n_kv, T, d) keys/values for ``layer``; return all cached so far."""
        t = k.shape[2]
        end = self.length + t
        if end > self.capacity:
            self._grow(end)
        self.keys[layer][:, :, self.length : end] = k
        self.values[layer][:, :, self.length : end] = v
        self._pending = t
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def advance(self) -> None:
        """Commit the step every layer has just written (called once per forward)."""
        self.length += self._pending
        self._pending = 0

    def select(self, index: torch.Tensor) -> None:
        """Keep only the batch rows ``index`` (drop finished sequences from a batched generation)."""
        self.keys = [k.index_select(0, index) for k in self.keys]
        self.values = [v.index_select(0, index) for v in self.values]


# ---------------------------------------------------------------------------------------------------
# Attention masks and backends
# ---------------------------------------------------------------------------------------------------


@dataclass
class AttentionMask:
    """How queries may attend to keys, computed once per forward and shared by every layer.

    ``causal``: plain causal attention with no cache (the fast path for every backend).
    ``allowed``: a boolean (B or 1, 1, T, S) mask, True = may attend, for everything else
    (a KV cache with T > 1, padding, per-document masks without flex). Neither set: attend to all
    keys (one decoding step without padding). ``block_mask``: flex-attention's block-sparse form
    of the per-document mask. ``cu_seqlens``/``max_seqlen``: the same for flash-attn's varlen API.
    """

    causal: bool = False
    allowed: torch.Tensor | None = None
    block_mask: Any = None
    cu_seqlens: torch.Tensor | None = None
    max_seqlen: int = 0


def _flash_attn() -> tuple[Callable[..., torch.Tensor], Callable[..., torch.Tensor]] | None:
    try:
        from flash_attn import flash_attn_func, flash_attn_varlen_func
    except ImportError:
        return None
    return flash_attn_func, flash_attn_varlen_func


_WARNED: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def eager_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: AttentionMask,
    dropout_p: float = 0.0,
) -> torch.Tensor:
    """Reference attention written out in matmuls; the other backends are tested against it.

    Query heads are grouped by the K/V head they share, (B, n_kv, G·T, d), so K and V are never
    repeated in memory: for MQA this is one (G·T × d) @ (d × S) product per sequence.
    """
    b, h, t, d = q.shape
    h_kv, s = k.shape[1], k.shape[2]
    g = h // h_kv
    qg = q.reshape(b, h_kv, g * t, d)  # (B, n_kv, G*T, d): query heads h = kv*G + g share K/V head kv
    scores = torch.matmul(qg, k.transpose(-1, -2)) * (1.0 / math.sqrt(d))  # (B, n_kv, G*T, S)
    scores = scores.view(b, h_kv, g, t, s)  # (B, n_kv, G, T, S)
    if mask.allowed is not None:
        allowed = mask.allowed.unsqueeze(1)  # (B|1, 1, 1, T, S)
        scores = scores.masked_fill(~allowed, float("-inf"))
    elif mask.causal:
        causal = torch.ones(t, s, dtype=torch.bool, device=q.device).tril(s - t)
        scores = scores.masked_fill(~causal, float("-inf"))
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
    if dropout_p > 0.0:
        probs = F.dropout(probs, p=dropout_p)
    out = torch.matmul(probs.view(b, h_kv, g * t, s), v)  # (B, n_kv, G*T, d)
    return out.view(b, h, t, d)


def sdpa_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: AttentionMask, dropout_p: float = 0.0
) -> torch.Tensor:
    """PyTorch's fused attention (FlashAttention / memory-efficient kernels on GPU, flash-CPU on CPU)."""
    gqa = k.shape[1] != q.shape[1]
    attn_mask = mask.allowed
    return F.scaled_dot_product_attention(
        q,
        k,
        v,
        attn_mask=attn_mask,
        dropout_p=dropout_p,
        is_causal=mask.causal and attn_mask is None,
        enable_gqa=gqa,
    )


_FLEX_COMPILED: Callable[..., torch.Tensor] | None = None


def flex_attention_fn(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_mask: Any) -> torch.Tensor:
    """flex-attention with a block-sparse mask: compiled on GPU (fused kernel), plain on CPU (tests)."""
    global _FLEX_COMPILED
    from torch.nn.attention.flex_attention import flex_attention

    gqa = k.shape[1] != q.shape[1]
    if q.is_cuda:
        if _FLEX_COMPILED is None:
            _FLEX_COMPILED = torch.compile(flex_attention, dynamic=False)
        return _FLEX_COMPILED(q, k, v, block_mask=block_mask, enable_gqa=gqa)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*flex_attention called without torch.compile.*")
        return flex_attention(q, k, v, block_mask=block_mask, enable_gqa=gqa)


# ---------------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------------


class CausalSelfAttention(nn.Module):
    def __init__(self, config: ModelConfig, layer_idx: int) -> None:
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.n_head = config.n_head
        self.n_kv = config.n_kv_heads
        self.head_dim = config.head_dim
        # One fused projection: [q (n_head*d) | k (n_kv*d) | v (n_kv*d)] (transformers' c_attn for MQA).
        self.c_attn = nn.Linear(config.n_embd, config.n_embd + 2 * config.kv_dim)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x: torch.Tensor, mask: AttentionMask, cache: KVCache | None) -> torch.Tensor:
        b, t, c = x.shape
        cfg = self.config
        qkv = self.c_attn(x)  # (B, T, n_embd + 2*kv_dim)
        q, k, v = qkv.split((c, cfg.kv_dim, cfg.kv_dim), dim=-1)
        q = q.view(b, t, self.n_head, self.head_dim).transpose(1, 2)  # (B, n_head, T, d)
        k = k.view(b, t, self.n_kv, self.head_dim).transpose(1, 2)  # (B, n_kv, T, d)
        v = v.view(b, t, self.n_kv, self.head_dim).transpose(1, 2)  # (B, n_kv, T, d)
        if cache is not None:
            k, v = cache.update(self.layer_idx, k, v)  # (B, n_kv, S, d), S = past + T
        dropout_p = cfg.attn_pdrop if self.training else 0.0
        y = self._attend(q, k, v, mask, dropout_p)  # (B, n_head, T, d)
        y = y.transpose(1, 2).reshape(b, t, c)  # (B, T, n_embd)
        return self.resid_dropout(self.c_proj(y))

    def _attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: AttentionMask, dropout_p: float
    ) -> torch.Tensor:
        backend = self.config.attention
        if backend == "eager":
            return eager_attention(q, k, v, mask, dropout_p)
        if backend == "flex" and mask.block_mask is not None:
            return flex_attention_fn(q, k, v, mask.block_mask)
        if backend == "flash" and q.is_cuda and q.dtype in (torch.float16, torch.bfloat16):
            fns = _flash_attn()
            if fns is not None and (mask.causal or mask.cu_seqlens is not None):
                return self._flash(fns, q, k, v, mask, dropout_p)
        if q.shape[2] == 1 and mask.allowed is None and not mask.causal and k.shape[1] != q.shape[1]:
            # One decoding step of a grouped/MQA model: grouping query heads is one small matmul,
            # cheaper than SDPA's head expansion.
            return eager_attention(q, k, v, mask, dropout_p)
        return sdpa_attention(q, k, v, mask, dropout_p)

    @staticmethod
    def _flash(
        fns: tuple[Callable[..., torch.Tensor], Callable[..., torch.Tensor]],
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: AttentionMask,
        dropout_p: float,
    ) -> torch.Tensor:
        flash_attn_func, flash_attn_varlen_func = fns
        b, h, t, d = q.shape
        qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))  # (B, T, heads, d): flash-attn's layout
        if mask.cu_seqlens is not None:
            out = flash_attn_varlen_func(
                qt.reshape(b * t, h, d),
                kt.reshape(b * t, k.shape[1], d),
                vt.reshape(b * t, v.shape[1], d),
                mask.cu_seqlens,
                mask.cu_seqlens,
                mask.max_seqlen,
                mask.max_seqlen,
                dropout_p=dropout_p,
                causal=True,
            )  # (B*T, n_head, d)
            return out.view(b, t, h, d).transpose(1, 2)
        out = flash_attn_func(qt, kt, vt, dropout_p=dropout_p, causal=True)  # (B, T, n_head, d)
        return out.transpose(1, 2)


class MLP(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, config.inner_dim)
        self.c_proj = nn.Linear(config.inner_dim, config.n_embd)
        self.approximate = "tanh" if config.activation == "gelu_tanh" else "none"
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate=self.approximate)))


class Block(nn.Module):
    def __init__(self, config: ModelConfig, layer_idx: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = CausalSelfAttention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, mask: AttentionMask, cache: KVCache | None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), mask, cache)
        return x + self.mlp(self.ln_2(x))


@dataclass
class CausalLMOutput:
    """What ``GPT.forward`` returns: ``loss`` is the mean next-token cross-entropy over labels != -100.

    ``logits`` is None with ``compute_logits=False``, and for a training step with labels when the
    model's ``fused_loss`` is on (the loss is then computed without materialising the logits).
    """

    loss: torch.Tensor | None
    logits: torch.Tensor | None
    past_key_values: KVCache | None = None
    num_tokens: torch.Tensor | None = None
    hidden_states: torch.Tensor | None = None  # final-LayerNorm output, with compute_logits=False


class GPT(nn.Module):
    """The decoder with a language-model head; ``config`` is a :class:`ModelConfig`."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(config.vocab_size, config.n_embd),
                "wpe": nn.Embedding(config.n_positions, config.n_embd),
                "drop": nn.Dropout(config.embd_pdrop),
                "h": nn.ModuleList([Block(config, i) for i in range(config.n_layer)]),
                "ln_f": nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon),
            }
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.transformer.wte.weight
        self.activation_checkpointing = False
        self.apply(self._init_weights)
        # GPT-2 / Megatron: scale the residual output projections by 1/sqrt(2 * n_layer) so the
        # residual stream's variance does not grow with depth.
        std = config.initializer_range / math.sqrt(2 * config.n_layer)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=std)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    # -- bookkeeping --------------------------------------------------------------------------------
    def num_params(self, non_embedding: bool = False) -> int:
        """Parameters counted once (the tied head is the embedding); ``non_embedding`` drops wte/wpe."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.transformer.wte.weight.numel() + self.transformer.wpe.weight.numel()
            if not self.config.tie_word_embeddings:
                n -= self.lm_head.weight.numel()
        return n

    def flops_per_token(self, seq_len: int, training: bool = True) -> float:
        """Model FLOPs per token (MFU's numerator), the PaLM appendix-B count adapted to MQA.

        Forward FLOPs per token = 2·N_mm + 4·n_layer·seq_len·n_embd, where N_mm is the number of
        weights used in matrix multiplies per token: per layer c_attn n_embd·(n_embd + 2·kv_dim),
        c_proj n_embd², MLP 2·n_embd·n_inner, plus the output head n_embd·vocab (computed even when
        tied). The second term is QKᵀ and AV (2·seq_len·n_embd multiply-adds each, full square
        as in PaLM, not halved for causality). Training (forward + backward) is 3× forward, i.e.
        6·N_mm + 12·n_layer·n_embd·seq_len. Embedding look-ups, biases, norms and softmax are ignored.
        """
        c = self.config
        per_layer = c.n_embd * (c.n_embd + 2 * c.kv_dim) + c.n_embd * c.n_embd + 2 * c.n_embd * c.inner_dim
        n_mm = c.n_layer * per_layer + c.n_embd * c.vocab_size
        forward = 2 * n_mm + 4 * c.n_layer * seq_len * c.n_embd
        return float(3 * forward if training else forward)

    def configure_optimizer_groups(self, weight_decay: float) -> list[dict[str, Any]]:
        """AdamW groups: decay on ≥2-D weights (matrices, embeddings); none on biases and LayerNorms."""
        decay, no_decay = [], []
        for _, p in self.named_parameters():
            if not p.requires_grad:
                continue
            (decay if p.dim() >= 2 else no_decay).append(p)
        return [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]

    def set_activation_checkpointing(self, enabled: bool = True) -> None:
        """Recompute each block in the backward pass instead of storing its activations."""
        self.activation_checkpointing = enabled

    # -- masks ---------------------------------------------------------------------------------------
    def _build_mask(
        self,
        b: int,
        t: int,
        past: int,
        doc_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        device: torch.device,
    ) -> AttentionMask:
        s = past + t
        backend = self.config.attention
        padded = attention_mask is not None and not bool(attention_mask.all())
        if doc_ids is None and not padded:
            if past == 0:
                return AttentionMask(causal=True)
            if t == 1:
                return AttentionMask()
        q_pos = torch.arange(past, s, device=device)
        k_pos = torch.arange(s, device=device)
        allowed = (k_pos[None, :] <= q_pos[:, None])[None]  # (1, T, S): causal with the cache offset
        if doc_ids is not None:
            same_doc = doc_ids[:, :, None] == doc_ids[:, None, :]  # (B, T, T)
            allowed = allowed & same_doc
            training_dropout = self.training and self.config.attn_pdrop > 0
            # flex-attention has no backward pass on CPU: there the dense mask is used for training.
            flex_ok = doc_ids.is_cuda or not torch.is_grad_enabled()
            if backend == "flex" and flex_ok and not training_dropout and not padded:
                return AttentionMask(block_mask=self._flex_doc_mask(doc_ids))
            if backend == "flex" and training_dropout:
                _warn_once(
                    "flex-dropout",
                    "flex-attention has no attention dropout; using SDPA with the document mask instead",
                )
            if backend == "flash" and not padded and doc_ids.is_cuda and _flash_attn() is not None:
                cu, max_len = _doc_seqlens(doc_ids)
                # The dense mask stays as the fallback if the tensors turn out not to suit flash-attn.
                return AttentionMask(cu_seqlens=cu, max_seqlen=max_len, allowed=allowed[:, None])
        if padded:
            assert attention_mask is not None
            key_ok = attention_mask.to(torch.bool)[:, None, :]  # (B, 1, S)
            # A padding query may attend to itself, so no row is fully masked (SDPA would give NaN).
            self_key = k_pos[None, :] == q_pos[:, None]  # (T, S)
            allowed = allowed & (key_ok | self_key[None])
        return AttentionMask(allowed=allowed[:, None])  # (B|1, 1, T, S)

    @staticmethod
    def _flex_doc_mask(doc_ids: torch.Tensor) -> Any:
        from torch.nn.attention.flex_attention import create_block_mask

        b, t = doc_ids.shape

        def doc_causal(bi: torch.Tensor, hi: torch.Tensor, qi: torch.Tensor, ki: torch.Tensor) -> torch.Tensor:
            return (ki <= qi) & (doc_ids[bi, qi] == doc_ids[bi, ki])

        return create_block_mask(doc_causal, b, None, t, t, device=doc_ids.device)

    # -- forward -------------------------------------------------------------------------------------
    def forward(
        self,
        input_ids: torch.Tensor,
        labels: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past_key_values: KVCache | None = None,
        use_cache: bool = False,
        doc_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        logits_to_keep: int = 0,
        compute_logits: bool = True,
    ) -> CausalLMOutput:
        """Run the model on ``input_ids`` (B, T).

        ``labels`` (B, T) are aligned with the inputs (``labels = input_ids`` for language
        modelling); the shift happens here by shifting the labels, never by slicing the (B, T, V)
        logits. ``doc_ids`` (B, T) restricts attention to earlier tokens of the same packed document.
        ``attention_mask`` (B, past + T), 1 for real tokens and 0 for padding, hides padded keys
        (left-padded batched generation). ``logits_to_keep`` > 0 computes logits only for the last
        that many positions (generation needs only the last). ``compute_logits=False`` skips the
        output head and returns the final hidden states instead (greedy decoding screens the head
        in bf16, ``sctool.infer``). In a training step with labels (``train()``, gradients on, the
        config's ``fused_loss``) the head and the loss run chunked and ``logits`` comes back None.
        """
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (batch, seq), got shape {tuple(input_ids.shape)}")
        b, t = input_ids.shape
        cache = past_key_values
        past = cache.length if cache is not None else 0
        if cache is None and use_cache:
            cache = KVCache.for_model(self, b, t)
        if doc_ids is not None:
            if past:
                raise ValueError("doc_ids (packed documents) cannot be combined with a KV cache")
            if doc_ids.shape != input_ids.shape:
                raise ValueError(f"doc_ids shape {tuple(doc_ids.shape)} != input_ids shape {tuple(input_ids.shape)}")
        if attention_mask is not None and tuple(attention_mask.shape) != (b, past + t):
            raise ValueError(
                f"attention_mask must be (batch, past + seq) = {(b, past + t)}, got {tuple(attention_mask.shape)}"
            )
        if position_ids is None:
            if past + t > self.config.n_positions:
                raise ValueError(
                    f"sequence of {past + t} tokens exceeds the model's n_positions={self.config.n_positions}"
                )
            position_ids = torch.arange(past, past + t, device=input_ids.device)[None]  # (1, T)
        mask = self._build_mask(b, t, past, doc_ids, attention_mask, input_ids.device)

        tr = self.transformer
        x = tr.drop(tr.wte(input_ids) + tr.wpe(position_ids))  # (B, T, n_embd)
        for block in tr.h:
            if self.activation_checkpointing and self.training and cache is None:
                x = checkpoint(block, x, mask, None, use_reentrant=False)
            else:
                x = block(x, mask, cache)
        if cache is not None:
            cache.advance()
        x = tr.ln_f(x)

        if logits_to_keep > 0:
            if labels is not None:
                raise ValueError("logits_to_keep cannot be combined with labels (the loss needs every position)")
            x = x[:, -logits_to_keep:]
        if not compute_logits:
            if labels is not None:
                raise ValueError("compute_logits=False cannot be combined with labels")
            return CausalLMOutput(loss=None, logits=None, past_key_values=cache if use_cache else None,
                                  hidden_states=x)
        targets = n_tok = None
        if labels is not None:
            if labels.shape != input_ids.shape:
                raise ValueError(f"labels shape {tuple(labels.shape)} != input_ids shape {tuple(input_ids.shape)}")
            # Position t predicts labels[t + 1]; the last position has no target.
            targets = F.pad(labels[:, 1:], (0, 1), value=-100).reshape(-1)  # (B*T,)
            n_tok = (targets != -100).sum()
        past_out = cache if use_cache else None
        if targets is not None and self._use_fused_loss():
            # Training: the head and the loss in row chunks; the (B, T, V) logits never exist.
            loss_sum = linear_cross_entropy(
                x.reshape(-1, x.shape[-1]), self.lm_head.weight, targets,
                ignore_index=-100, chunk_rows=self.config.loss_chunk_rows,
            )
            return CausalLMOutput(loss=loss_sum / n_tok.clamp(min=1), logits=None, past_key_values=past_out,
                                  num_tokens=n_tok)
        logits = self.lm_head(x)  # (B, T, V)
        loss = None
        if targets is not None:
            loss_sum = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets, ignore_index=-100, reduction="sum")
            loss = loss_sum / n_tok.clamp(min=1)
        return CausalLMOutput(loss=loss, logits=logits, past_key_values=past_out, num_tokens=n_tok)

    def _use_fused_loss(self) -> bool:
        """The chunked loss serves training steps; evaluation and compiled graphs keep the plain head.

        Under ``torch.compile`` the plain path is left to the compiler, which fuses the softmax
        itself, rather than tracing a Python chunk loop with data-dependent branches.
        """
        return (
            self.config.fused_loss
            and self.training
            and torch.is_grad_enabled()
            and not torch.compiler.is_compiling()
        )


def _doc_seqlens(doc_ids: torch.Tensor) -> tuple[torch.Tensor, int]:
    """flash-attn varlen boundaries: a new segment where the document id changes or a row starts."""
    b, t = doc_ids.shape
    starts = torch.ones_like(doc_ids, dtype=torch.bool)
    starts[:, 1:] = doc_ids[:, 1:] != doc_ids[:, :-1]
    idx = torch.nonzero(starts.reshape(-1), as_tuple=False).flatten()
    bounds = torch.cat([idx, torch.tensor([b * t], device=doc_ids.device)])
    max_len = int((bounds[1:] - bounds[:-1]).max())
    return bounds.to(torch.int32), max_len


__all__ = [
    "GPT",
    "AttentionMask",
    "CausalLMOutput",
    "KVCache",
    "ModelConfig",
    "eager_attention",
    "sdpa_attention",
]
