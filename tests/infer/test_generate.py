"""Generation against references: a no-cache argmax loop, unbatched runs, and transformers' generate."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sctool.errors import ConfigError
from sctool.infer import GenerationConfig, generate, generate_completions, generate_ids
from sctool.infer.generate import sample_next
from sctool.model import GPT
from tests.infer.conftest import varied_model

GREEDY = GenerationConfig(max_new_tokens=12, stop_at_eos=False)


def reference_greedy(model: GPT, prompt: list[int], n: int) -> list[int]:
    """The definition of greedy decoding: a full forward pass per new token, no cache."""
    ids = list(prompt)
    for _ in range(n):
        logits = model(torch.tensor([ids])).logits[0, -1]
        ids.append(int(logits.argmax()))
    return ids[len(prompt):]


PROMPTS = [[5, 17, 99, 3], [42], [7, 7, 7, 7, 7, 7, 7, 7, 7, 30, 31], [100, 200, 300, 11, 12]]


@pytest.mark.parametrize("n_kv", [1, 2, 4], ids=["mqa", "gqa", "mha"])
def test_cached_greedy_equals_no_cache_reference(tokenizer, n_kv: int) -> None:
    model = varied_model(tokenizer.get_vocab_size(), n_kv_heads=n_kv)
    outs = generate_ids(model, PROMPTS, GREEDY)
    for p, c in zip(PROMPTS, outs):
        assert c.token_ids == reference_greedy(model, p, 12)
        assert c.finish_reason == "length"
    assert len({t for c in outs for t in c.token_ids}) > 5  # the check is not trivially satisfied


@pytest.mark.parametrize("batch_size", [2, 3, 8])
def test_batched_prompts_of_different_lengths_equal_unbatched(model, batch_size: int) -> None:
    cfg = GenerationConfig(max_new_tokens=10, stop_at_eos=False, batch_size=batch_size)
    batched = generate_ids(model, PROMPTS, cfg)
    alone = [generate_ids(model, [p], GREEDY)[0] for p in PROMPTS]
    assert [c.token_ids for c in batched] == [c.token_ids[:10] for c in alone]


def test_finished_sequences_leave_the_batch_without_changing_others(model) -> None:
    """Sequences that hit eos at different steps are dropped from the cache mid-batch."""
    free = generate_ids(model, PROMPTS, GREEDY)
    eos = free[0].token_ids[3]  # the first prompt stops at its 4th token, others when (if) they reach it
    cfg = GenerationConfig(max_new_tokens=12, eos_token_id=eos, batch_size=4)
    stopped = generate_ids(model, PROMPTS, cfg)
    for f, s in zip(free, stopped):
        if eos in f.token_ids:
            assert s.token_ids == f.token_ids[: f.token_ids.index(eos)] and s.finish_reason == "eos"
        else:
            assert s.token_ids == f.token_ids and s.finish_reason == "length"
    assert stopped[0].finish_reason == "eos"


def test_stop_sequences_cut_the_text(model, tokenizer) -> None:
    prompt = "def add(a, b):\n"
    free = generate_completions(model, tokenizer, [prompt], GREEDY)[0]
    assert len(free.text) > 6
    stop = free.text[3:6]
    cut = generate_completions(model, tokenizer, [prompt], GenerationConfig(max_new_tokens=12, stop=(stop,)))[0]
    assert cut.finish_reason == "stop"
    assert cut.text == free.text[: free.text.index(stop)]
    assert len(cut.token_ids) < len(free.token_ids)


def test_generate_returns_text_only_and_respects_max_new_tokens(model, tokenizer) -> None:
    prompts = ["import os\n", "class A:"]
    texts = generate(model, tokenizer, prompts, GenerationConfig(max_new_tokens=5, stop_at_eos=False))
    comps = generate_completions(model, tokenizer, prompts, GenerationConfig(max_new_tokens=5, stop_at_eos=False))
    assert texts == [c.text for c in comps]
    assert all(len(c.token_ids) == 5 for c in comps)
    assert all(not t.startswith(p) for t, p in zip(texts, prompts))
    assert generate(model, tokenizer, "x", GenerationConfig(max_new_tokens=0)) == [""]


def test_long_prompt_is_truncated_to_the_context(tokenizer) -> None:
    model = varied_model(tokenizer.get_vocab_size(), n_positions=32)
    prompt = list(range(10, 60))  # 50 tokens, context 32
    c = generate_ids(model, [prompt], GenerationConfig(max_new_tokens=8, stop_at_eos=False))[0]
    assert c.truncated_prompt and c.prompt_tokens == 24
    assert c.token_ids == reference_greedy(model, prompt[-24:], 8)


def test_empty_prompt_starts_from_eos(model, tokenizer) -> None:
    c = generate_completions(model, tokenizer, [""], GenerationConfig(max_new_tokens=4, stop_at_eos=False))[0]
    assert c.token_ids == reference_greedy(model, [tokenizer.token_to_id("<|endoftext|>")], 4)


def test_sampling_is_reproducible_with_a_seed(model, tokenizer) -> None:
    cfg = GenerationConfig(max_new_tokens=10, temperature=1.0, top_p=0.9, seed=123, stop_at_eos=False)
    a = generate(model, tokenizer, ["def f():", "x ="], cfg)
    b = generate(model, tokenizer, ["def f():", "x ="], cfg)
    assert a == b
    greedy = generate(model, tokenizer, ["def f():"], GREEDY)
    topk1 = generate(model, tokenizer, ["def f():"], GenerationConfig(max_new_tokens=12, temperature=0.7,
                                                                        top_k=1, seed=1, stop_at_eos=False))
    assert topk1 == greedy


@settings(max_examples=40)
@given(
    seed=st.integers(0, 2**16),
    top_k=st.integers(0, 6),
    top_p=st.floats(0.05, 1.0),
    temperature=st.floats(0.1, 2.0),
)
def test_sampled_tokens_lie_in_the_top_k_and_nucleus(seed: int, top_k: int, top_p: float, temperature: float) -> None:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(4, 20, generator=g) * 3
    cfg = GenerationConfig(temperature=temperature, top_k=top_k, top_p=top_p)
    picks = sample_next(logits, cfg, g)
    for row, tok in zip(logits, picks.tolist()):
        order = torch.argsort(row, descending=True).tolist()
        rank = order.index(tok)
        if top_k:
            assert rank < top_k
        scaled = row / temperature
        if top_k:
            scaled = scaled.masked_fill(scaled < scaled.sort(descending=True).values[top_k - 1], float("-inf"))
        probs = torch.softmax(scaled, -1)[order]
        mass_before = float(probs[:rank].sum())
        assert rank == 0 or mass_before < top_p + 1e-6


def test_invalid_generation_configs() -> None:
    for bad in ({"temperature": -1}, {"top_p": 0.0}, {"top_k": -2}, {"max_new_tokens": -1}, {"stop": ("",)}):
        with pytest.raises(ConfigError):
            GenerationConfig(**bad)


def test_kv_cache_memory_mqa_is_n_head_times_smaller(tokenizer) -> None:
    from sctool.model import KVCache

    mqa = varied_model(tokenizer.get_vocab_size(), n_kv_heads=1)
    mha = varied_model(tokenizer.get_vocab_size(), n_kv_heads=4)
    a, b = KVCache.for_model(mqa, 1, 8), KVCache.for_model(mha, 1, 8)
    assert b.bytes_per_token() == 4 * a.bytes_per_token() == 4 * mqa.config.kv_cache_bytes_per_token()


def test_greedy_matches_transformers_generate(tmp_path, tokenizer) -> None:
    transformers = pytest.importorskip("transformers")
    from sctool.model.checkpoint import save_model_dir

    for n_kv in (1, 4):
        model = varied_model(tokenizer.get_vocab_size(), n_kv_heads=n_kv, seed=5)
        d = save_model_dir(model, tokenizer, tmp_path / f"m{n_kv}")
        hf = transformers.GPTBigCodeForCausalLM.from_pretrained(d).eval()
        prompts = torch.tensor([[5, 17, 99, 3, 8, 9], [42, 43, 44, 45, 46, 47]])
        with torch.inference_mode():
            ref = hf.generate(prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=15,
                              min_new_tokens=15, do_sample=False, pad_token_id=0)
        ours = generate_ids(model, prompts.tolist(), GenerationConfig(max_new_tokens=15, stop_at_eos=False))
        assert [c.token_ids for c in ours] == ref[:, 6:].tolist()


@settings(max_examples=30)
@given(
    seed=st.integers(0, 2**16),
    batch=st.integers(1, 5),
    scale=st.sampled_from([0.01, 1.0, 30.0]),
    near_tie=st.booleans(),
)
def test_screened_argmax_equals_full_fp32_argmax(seed: int, batch: int, scale: float, near_tie: bool) -> None:
    from sctool.infer.generate import ScreenedArgmax

    g = torch.Generator().manual_seed(seed)
    w = torch.randn(700, 48, generator=g) * scale
    h = torch.randn(batch, 48, generator=g)
    if near_tie:
        # rows 3 and 5 nearly equal: bf16 cannot separate them, the exact pass must
        w[5] = w[3] + torch.randn(48, generator=g) * 1e-6 * scale
        h[0] = w[3] / w[3].norm() * 10
    exact = (h.double() @ w.double().T)  # (B, V): the logits without rounding error (to 1e-16)
    assert torch.equal(ScreenedArgmax(w)(h), exact.argmax(dim=1))
    # fp32 argmax agrees wherever the top two exact logits are further apart than fp32 rounding
    top2 = exact.topk(2, dim=1).values
    clear = (top2[:, 0] - top2[:, 1]) > 1e-4 * top2[:, 0].abs().clamp(min=1)
    fp32 = torch.nn.functional.linear(h, w).argmax(dim=1)
    assert torch.equal(ScreenedArgmax(w)(h)[clear], fp32[clear])


def test_screened_and_plain_greedy_agree(model, tokenizer) -> None:
    prompts = ["def add(a, b):", "import os\n", "x = [", "class A(object):\n    def"]
    plain = GenerationConfig(max_new_tokens=16, stop_at_eos=False, screened_greedy=False)
    screened = GenerationConfig(max_new_tokens=16, stop_at_eos=False, screened_greedy=True)
    assert generate(model, tokenizer, prompts, plain) == generate(model, tokenizer, prompts, screened)


def test_generation_runs_in_eval_mode_and_restores_training(tokenizer) -> None:
    model = varied_model(tokenizer.get_vocab_size())
    expected = generate_ids(model, PROMPTS[:2], GREEDY)
    dropout_model = GPT(model.config.with_changes(resid_pdrop=0.5, attn_pdrop=0.5, embd_pdrop=0.5))
    dropout_model.load_state_dict(model.state_dict())
    dropout_model.train()
    assert [c.token_ids for c in generate_ids(dropout_model, PROMPTS[:2], GREEDY)] == [c.token_ids for c in expected]
    assert dropout_model.training
