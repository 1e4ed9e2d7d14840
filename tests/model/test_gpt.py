"""The model against its own references: backends vs eager, cache vs full, masks vs separate runs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from sctool.model import GPT, KVCache
from sctool.model.gpt import AttentionMask, eager_attention, sdpa_attention
from tests.model.conftest import VOCAB, random_model, tiny_config

BACKENDS = ["sdpa", "eager", "flex", "flash"]


def with_backend(model: GPT, backend: str) -> GPT:
    other = GPT(model.config.with_changes(attention=backend)).eval()
    other.load_state_dict(model.state_dict())
    return other


def naive_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Textbook attention, K/V heads repeated, one head at a time: the reference for every backend."""
    b, h, _, d = q.shape
    rep = h // k.shape[1]
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    out = torch.empty_like(q)
    for bi in range(b):
        for hi in range(h):
            s = q[bi, hi] @ k[bi, hi].T / math.sqrt(d)
            s = s.masked_fill(~allowed[bi], float("-inf"))
            out[bi, hi] = torch.softmax(s, -1) @ v[bi, hi]
    return out


@settings(max_examples=25)
@given(
    b=st.integers(1, 3),
    t=st.integers(1, 9),
    past=st.integers(0, 5),
    kv_and_groups=st.sampled_from([(1, 1), (1, 4), (2, 2), (4, 1)]),
    seed=st.integers(0, 2**16),
)
def test_attention_kernels_match_naive_reference(b: int, t: int, past: int, kv_and_groups: tuple, seed: int) -> None:
    n_kv, groups = kv_and_groups
    g = torch.Generator().manual_seed(seed)
    d, s = 8, past + t
    q = torch.randn(b, n_kv * groups, t, d, generator=g)
    k = torch.randn(b, n_kv, s, d, generator=g)
    v = torch.randn(b, n_kv, s, d, generator=g)
    causal = torch.arange(s)[None, :] <= torch.arange(past, s)[:, None]  # (T, S)
    keep = torch.rand(b, 1, s, generator=g) > 0.3
    allowed = causal[None] & (keep | (torch.arange(s)[None, :] == torch.arange(past, s)[:, None])[None])
    ref = naive_attention(q, k, v, allowed)
    mask = AttentionMask(allowed=allowed[:, None])
    torch.testing.assert_close(eager_attention(q, k, v, mask), ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sdpa_attention(q, k, v, mask), ref, atol=1e-5, rtol=1e-5)
    if past == 0:
        ref_causal = naive_attention(q, k, v, causal[None].expand(b, -1, -1))
        for fn in (eager_attention, sdpa_attention):
            torch.testing.assert_close(fn(q, k, v, AttentionMask(causal=True)), ref_causal, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("n_kv", [1, 2, 4])
@pytest.mark.parametrize("backend", BACKENDS)
def test_backends_agree_with_eager(n_kv: int, backend: str) -> None:
    model = random_model(tiny_config(n_kv_heads=n_kv))
    x = torch.randint(0, VOCAB, (3, 17))
    ref = with_backend(model, "eager")(x).logits
    torch.testing.assert_close(with_backend(model, backend)(x).logits, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("n_kv", [1, 4])
@pytest.mark.parametrize("backend", ["sdpa", "eager"])
def test_kv_cache_steps_equal_full_forward(n_kv: int, backend: str) -> None:
    model = random_model(tiny_config(n_kv_heads=n_kv, attention=backend))
    x = torch.randint(0, VOCAB, (2, 20))
    full = model(x).logits
    cache = KVCache.for_model(model, batch_size=2, capacity=4)  # small on purpose: it must grow
    pieces = [(0, 7), (7, 8), (8, 13), (13, 14), (14, 20)]
    for a, b in pieces:
        out = model(x[:, a:b], past_key_values=cache, use_cache=True)
        assert out.past_key_values is cache
        torch.testing.assert_close(out.logits, full[:, a:b], atol=1e-5, rtol=1e-5)
    assert cache.length == 20
    assert cache.bytes_per_token() == 2 * 2 * n_kv * 8 * 4  # layers * K,V * heads * head_dim * fp32


@pytest.mark.parametrize("backend", BACKENDS)
def test_doc_ids_isolate_packed_documents(backend: str) -> None:
    model = random_model(tiny_config(attention=backend))
    x = torch.randint(0, VOCAB, (2, 24))
    doc = torch.tensor([[0] * 5 + [1] * 11 + [2] * 8, [7] * 24])
    with torch.no_grad():
        packed = model(x, doc_ids=doc).logits
    for a, b in [(0, 5), (5, 16), (16, 24)]:
        alone = model(x[:1, a:b], position_ids=torch.arange(a, b)[None]).logits
        torch.testing.assert_close(packed[0, a:b], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(packed[1], model(x[1:]).logits[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backend", ["sdpa", "eager", "flex"])
def test_doc_ids_training_backward_matches_eager(backend: str) -> None:
    x = torch.randint(0, VOCAB, (2, 16))
    doc = torch.tensor([[0] * 6 + [1] * 10, [0] * 3 + [1] * 13])
    grads = {}
    for be in ("eager", backend):
        model = random_model(tiny_config(attention=be)).train()
        model(x, labels=x, doc_ids=doc).loss.backward()
        grads[be] = model.transformer.h[0].attn.c_attn.weight.grad.clone()
    torch.testing.assert_close(grads[backend], grads["eager"], atol=1e-5, rtol=1e-4)


def test_left_padding_mask_equals_unpadded(tiny: GPT) -> None:
    x = torch.randint(0, VOCAB, (1, 9))
    pad = 4
    padded = torch.cat([torch.zeros(1, pad, dtype=torch.long), x], dim=1)
    am = torch.cat([torch.zeros(1, pad, dtype=torch.long), torch.ones(1, 9, dtype=torch.long)], dim=1)
    pos = torch.cat([torch.zeros(1, pad, dtype=torch.long), torch.arange(9)[None]], dim=1)
    out = tiny(padded, position_ids=pos, attention_mask=am).logits
    torch.testing.assert_close(out[:, pad:], tiny(x).logits, atol=1e-5, rtol=1e-5)
    assert torch.isfinite(out).all()


def test_loss_is_shifted_cross_entropy(tiny: GPT) -> None:
    x = torch.randint(0, VOCAB, (2, 12))
    labels = x.clone()
    labels[0, :4] = -100
    out = tiny(x, labels=labels)
    ref = F.cross_entropy(out.logits[:, :-1].reshape(-1, VOCAB), labels[:, 1:].reshape(-1), ignore_index=-100)
    torch.testing.assert_close(out.loss, ref)
    assert int(out.num_tokens) == 2 * 11 - 3
    all_masked = tiny(x, labels=torch.full_like(x, -100)).loss
    assert float(all_masked.detach()) == 0.0


def test_gqa_equals_mha_with_repeated_kv_heads() -> None:
    gqa = random_model(tiny_config(n_kv_heads=2))
    mha = GPT(tiny_config(n_kv_heads=4)).eval()
    state = gqa.state_dict()
    c, d, h_kv = 32, 8, 2
    for name in list(state):
        if name.endswith("c_attn.weight") or name.endswith("c_attn.bias"):
            t = state[name]
            q, k, v = t.split((c, h_kv * d, h_kv * d), dim=0)
            k = k.reshape(h_kv, d, *t.shape[1:]).repeat_interleave(2, dim=0).reshape(4 * d, *t.shape[1:])
            v = v.reshape(h_kv, d, *t.shape[1:]).repeat_interleave(2, dim=0).reshape(4 * d, *t.shape[1:])
            state[name] = torch.cat([q, k, v], dim=0)
    mha.load_state_dict(state)
    x = torch.randint(0, VOCAB, (2, 10))
    torch.testing.assert_close(mha(x).logits, gqa(x).logits, atol=1e-5, rtol=1e-5)


def test_tied_embeddings_and_optimizer_groups(tiny: GPT) -> None:
    assert tiny.lm_head.weight is tiny.transformer.wte.weight
    groups = tiny.configure_optimizer_groups(0.1)
    decay, no_decay = groups[0]["params"], groups[1]["params"]
    assert groups[0]["weight_decay"] == 0.1 and groups[1]["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay) and all(p.dim() < 2 for p in no_decay)
    assert sum(p.numel() for p in decay + no_decay) == tiny.num_params()
    untied = GPT(tiny_config(tie_word_embeddings=False))
    assert untied.num_params() == tiny.num_params() + VOCAB * 32


def test_flops_per_token_formula() -> None:
    cfg = tiny_config()
    model = GPT(cfg)
    c, kv, inner, layers, seq = 32, 8, 128, 2, 64
    n_mm = layers * (c * (c + 2 * kv) + c * c + 2 * c * inner) + c * VOCAB
    assert model.flops_per_token(seq) == 6 * n_mm + 12 * layers * c * seq
    assert model.flops_per_token(seq, training=False) == (6 * n_mm + 12 * layers * c * seq) / 3


def test_activation_checkpointing_gives_same_gradients() -> None:
    x = torch.randint(0, VOCAB, (2, 12))
    grads = []
    for ckpt in (False, True):
        model = random_model(tiny_config()).train()
        model.set_activation_checkpointing(ckpt)
        model(x, labels=x).loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    torch.testing.assert_close(grads[0], grads[1])


def test_dropout_only_in_training() -> None:
    model = random_model(tiny_config(embd_pdrop=0.1, resid_pdrop=0.1, attn_pdrop=0.1))
    x = torch.randint(0, VOCAB, (1, 10))
    torch.testing.assert_close(model(x).logits, model(x).logits)
    model.train()
    assert not torch.allclose(model(x).logits, model(x).logits)


def test_gelu_variants_differ() -> None:
    a = random_model(tiny_config(activation="gelu_tanh"))
    b = GPT(tiny_config(activation="gelu")).eval()
    b.load_state_dict(a.state_dict())
    x = torch.randint(0, VOCAB, (1, 8))
    diff = (a(x).logits - b(x).logits).abs().max()
    assert 0 < diff < 1e-2


def test_bad_inputs_raise_clear_errors(tiny: GPT) -> None:
    with pytest.raises(ValueError, match="n_positions"):
        tiny(torch.zeros(1, 65, dtype=torch.long))
    with pytest.raises(ValueError, match="batch, seq"):
        tiny(torch.zeros(5, dtype=torch.long))
    x = torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="attention_mask"):
        tiny(x, attention_mask=torch.ones(2, 3))
    with pytest.raises(ValueError, match="labels"):
        tiny(x, labels=x, logits_to_keep=1)


def test_bf16_autocast_runs_and_is_close(tiny: GPT) -> None:
    x = torch.randint(0, VOCAB, (2, 16))
    ref = tiny(x, labels=x).loss
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = tiny(x, labels=x)
    assert abs(float(out.loss.detach()) - float(ref.detach())) < 0.05
