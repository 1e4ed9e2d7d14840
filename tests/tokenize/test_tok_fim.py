"""FIM transform: layouts, rates, reversibility, window length, UTF-8 safety, parity with Megatron's loop."""

from __future__ import annotations

import math
import pickle
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sctool.errors import ConfigError
from sctool.fim import ByteLevelCodec, FimConfig, FimTokenIds, apply_fim, fim_codec, unpermute, window_rng
from tests.tokenize.tok_corpus import make_corpus


@pytest.fixture(scope="module")
def ids(tiny_tokenizer) -> FimTokenIds:
    return FimTokenIds.from_tokenizer(tiny_tokenizer)


@pytest.fixture(scope="module")
def codec(tiny_tokenizer) -> ByteLevelCodec:
    return ByteLevelCodec(tiny_tokenizer)


def pack(tok, texts: list[str], eod: int) -> np.ndarray:
    encs = tok.encode_batch_fast(texts, add_special_tokens=False)
    return np.concatenate([np.r_[np.asarray(e.ids, dtype=np.int64), eod] for e in encs]).astype(np.uint16)


def split_segments(arr: np.ndarray, eod: int) -> list[np.ndarray]:
    out, start = [], 0
    for c in np.flatnonzero(arr == eod).tolist():
        out.append(arr[start:c])
        start = c + 1
    out.append(arr[start:])
    return out


def char_boundaries(data: bytes) -> set[int]:
    """Byte offsets between characters, a stray byte counting as one character."""
    text = data.decode("utf-8", "surrogateescape")
    offs, pos = {0}, 0
    for ch in text:
        pos += len(ch.encode("utf-8", "surrogateescape"))
        offs.add(pos)
    return offs


def test_ids_are_starcoders(ids):
    assert ids == FimTokenIds(prefix=1, middle=2, suffix=3, pad=4, eod=0)


def test_config_validation():
    with pytest.raises(ConfigError, match="fim_rate"):
        FimConfig(fim_rate=1.5)
    with pytest.raises(ConfigError, match="fim_spm_rate"):
        FimConfig(fim_spm_rate=-0.1)


window_cases = st.fixed_dictionaries(
    {
        "corpus_seed": st.integers(0, 10**6),
        "unicode_rate": st.sampled_from([0.0, 0.3, 0.9]),
        "offset": st.integers(0, 400),
        "length": st.integers(1, 700),
        "seed": st.integers(0, 2**31),
        "fim_rate": st.sampled_from([0.5, 1.0]),
        "spm_rate": st.sampled_from([0.0, 0.5, 1.0]),
    }
)


@settings(max_examples=60, deadline=None)
@given(case=window_cases)
def test_fim_window_properties(tiny_tokenizer, ids, codec, case):
    """Length/dtype kept, exact PSM/SPM layouts, byte-exact inversion, cuts on character boundaries."""
    texts = make_corpus(8, seed=case["corpus_seed"], unicode_rate=case["unicode_rate"])
    flat = pack(tiny_tokenizer, texts, ids.eod)
    window = flat[case["offset"] : case["offset"] + case["length"]]
    cfg = FimConfig(fim_rate=case["fim_rate"], fim_spm_rate=case["spm_rate"])
    out = apply_fim(window, window_rng(case["seed"], 0), cfg, ids, codec)

    assert out.shape == window.shape and out.dtype == window.dtype
    assert np.array_equal(out, apply_fim(window, window_rng(case["seed"], 0), cfg, ids, codec))

    orig_segs = [codec.to_bytes(s) for s in split_segments(window, ids.eod)]
    trimmed = out
    while trimmed.size and trimmed[-1] == ids.pad:
        trimmed = trimmed[:-1]
    padded = trimmed.size < out.size
    out_segs = split_segments(trimmed, ids.eod)
    back = unpermute(out, ids, codec)
    assert len(back) == len(out_segs) <= len(orig_segs)
    # Every segment but a possibly truncated last one reads back exactly; with padding, all do.
    complete = len(out_segs) if padded else len(out_segs) - 1
    assert back[:complete] == orig_segs[:complete]
    if padded:
        assert len(out_segs) == len(orig_segs)

    for k, seg in enumerate(out_segs[:complete]):
        if seg.size == 0 or seg[0] != ids.prefix:
            assert np.array_equal(seg, split_segments(window, ids.eod)[k])
            continue
        assert [int(t) for t in seg if t in (ids.prefix, ids.suffix, ids.middle)] in (
            [ids.prefix, ids.suffix, ids.middle],
        )
        s = int(np.flatnonzero(seg == ids.suffix)[0])
        m = int(np.flatnonzero(seg == ids.middle)[0])
        bounds = char_boundaries(orig_segs[k])
        if case["spm_rate"] == 1.0:
            assert s == 1  # <fim_prefix><fim_suffix> S <fim_middle> P M
            assert len(orig_segs[k]) - len(codec.to_bytes(seg[2:m])) in bounds
        else:
            p_len = len(codec.to_bytes(seg[1:s]))
            m_len = len(codec.to_bytes(seg[m + 1 :]))
            assert {p_len, p_len + m_len} <= bounds
            if case["spm_rate"] == 0.0 and p_len:
                assert s > 1


def test_fim_rate_zero_is_identity(tiny_tokenizer, ids, codec, corpus):
    flat = pack(tiny_tokenizer, corpus[:20], ids.eod)
    out = apply_fim(flat[:500], window_rng(0, 0), FimConfig(fim_rate=0.0), ids, codec)
    assert np.array_equal(out, flat[:500])


def _binomial_ok(k: int, n: int, p: float, slack: float = 0.0) -> bool:
    sd = math.sqrt(max(n * p * (1 - p), 1e-12))
    return abs(k - n * p) <= 5 * sd + slack * n + 1e-9


@pytest.mark.parametrize("fim_rate,spm_rate", [(0.5, 0.5), (0.2, 0.9), (0.9, 0.1), (1.0, 0.0)])
def test_observed_rates_match_config(tiny_tokenizer, ids, codec, fim_rate, spm_rate):
    """Each document inside a window is a Bernoulli(fim_rate) trial, then Bernoulli(spm_rate).

    PSM with an empty prefix is indistinguishable from SPM; documents are ≥ 100 characters so that
    happens in under 2 % of PSM cases, which the slack covers.
    """
    rng = random.Random(7)
    texts = [t for t in make_corpus(1500, seed=3, unicode_rate=0.0) if len(t) >= 100]
    rng.shuffle(texts)
    flat = pack(tiny_tokenizer, texts, ids.eod)
    cfg = FimConfig(fim_rate=fim_rate, fim_spm_rate=spm_rate)
    length = 1024
    n_seg = n_fim = n_spm = 0
    for w in range(flat.size // length):
        out = apply_fim(flat[w * length : (w + 1) * length], window_rng(11, w), cfg, ids, codec)
        segs = split_segments(out, ids.eod)[:-1]  # the last one may be truncated or padded
        for seg in segs:
            if seg.size == 0:
                continue
            n_seg += 1
            if seg[0] == ids.prefix:
                n_fim += 1
                n_spm += int(seg[1] == ids.suffix)
    assert n_seg > 400
    assert _binomial_ok(n_fim, n_seg, fim_rate), (n_fim, n_seg)
    assert _binomial_ok(n_spm, n_fim, spm_rate, slack=0.02 * (1 - spm_rate)), (n_spm, n_fim)


def test_windows_are_reproducible_per_seed_and_index(tiny_tokenizer, ids, codec, corpus):
    flat = pack(tiny_tokenizer, corpus[:40], ids.eod)
    cfg = FimConfig(fim_rate=1.0)
    a = [apply_fim(flat[i * 256 : (i + 1) * 256], window_rng(5, i), cfg, ids, codec) for i in range(6)]
    clone = pickle.loads(pickle.dumps(codec))  # what a DataLoader worker receives
    b = [apply_fim(flat[i * 256 : (i + 1) * 256], window_rng(5, i), cfg, ids, clone) for i in range(6)]
    c = [apply_fim(flat[i * 256 : (i + 1) * 256], window_rng(6, i), cfg, ids, codec) for i in range(6)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    # Passing the tokenizer itself (codec cached) or a transformers wrapper gives the same result.
    d = apply_fim(flat[:256], window_rng(5, 0), cfg, ids, tiny_tokenizer)
    assert np.array_equal(a[0], d)
    assert fim_codec(tiny_tokenizer) is fim_codec(tiny_tokenizer)


def test_empty_segments_keep_their_eod(ids, codec):
    window = np.array([ids.eod, ids.eod, 300, 301, ids.eod, ids.eod], dtype=np.uint16)
    out = apply_fim(window, window_rng(0, 0), FimConfig(fim_rate=1.0), ids, codec)
    assert out[0] == ids.eod and out[1] == ids.eod
    assert out[2] == ids.prefix
    assert np.count_nonzero(out == ids.eod) == 4 or out.size == window.size


def megatron_reference(sample, rng, cfg, ids, tok):
    """Megatron-LM bigcode's window loop and ``permute`` written out plainly (string-level decode)."""

    def permute(seg):
        if not rng.binomial(1, cfg.fim_rate):
            return seg
        contents = tok.decode(seg.tolist(), skip_special_tokens=False)
        b = sorted(rng.integers(0, len(contents) + 1, size=2).tolist())
        enc = [np.array(tok.encode(x, add_special_tokens=False).ids, dtype=np.int64)
               for x in (contents[: b[0]], contents[b[0] : b[1]], contents[b[1] :])]
        prefix, middle, suffix = enc
        if rng.binomial(1, cfg.fim_spm_rate):
            return np.concatenate([[ids.prefix, ids.suffix], suffix, [ids.middle], prefix, middle])
        return np.concatenate([[ids.prefix], prefix, [ids.suffix], suffix, [ids.middle], middle])

    n = sample.shape[0]
    breaks = np.argwhere(sample == ids.eod)
    if breaks.shape != (0, 1):
        cur, parts = 0, []
        for loc in np.nditer(breaks):
            if loc - cur > 0:
                parts += [permute(sample[cur:loc]), [ids.eod]]
            cur = int(loc) + 1
        parts.append(permute(sample[cur:]))
        new = np.concatenate(parts)
    else:
        new = permute(sample)
    if new.shape[0] > n:
        new = new[:n]
    elif new.shape[0] < n:
        new = np.concatenate([new, np.full(n - new.shape[0], ids.pad)])
    return new.astype(np.int64)


@settings(max_examples=40, deadline=None)
@given(offset=st.integers(0, 300), length=st.integers(2, 600), seed=st.integers(0, 2**31))
def test_parity_with_megatron_loop_on_ascii(tiny_tokenizer, ids, codec, offset, length, seed):
    """Same draws, same layouts: identical output wherever Megatron's loop has no degenerate segment."""
    flat = pack(tiny_tokenizer, make_corpus(8, seed=seed % 1000, unicode_rate=0.0), ids.eod)
    window = flat[offset : offset + length]
    segs = split_segments(window, ids.eod)
    if any(s.size == 0 for s in segs):
        return  # documented difference: empty segments (adjacent EODs, EOD at an edge)
    cfg = FimConfig()
    ours = apply_fim(window, window_rng(seed, 3), cfg, ids, codec)
    ref = megatron_reference(window.astype(np.int64), window_rng(seed, 3), cfg, ids, tiny_tokenizer)
    assert ours.astype(np.int64).tolist() == ref.tolist()


@pytest.mark.parametrize("mode", ["psm", "spm"])
def test_infilling_prompt_is_the_training_layout(tiny_tokenizer, ids, mode):
    """A prompt plus the true middle reads back (unpermute) as the original document, in both modes."""
    from sctool.eval.fim_modes import fim_prompt_ids as eval_prompt
    from sctool.fim import fim_prompt_ids
    from sctool.infer.fim import fim_prompt_ids as infer_prompt

    prefix, middle, suffix = "def add(a, b):\n", "    return a + b\n", "\nprint(add(1, 2))\n"
    prompt = fim_prompt_ids(tiny_tokenizer, prefix, suffix, mode)
    assert eval_prompt(tiny_tokenizer, prefix, suffix, mode) == prompt
    assert infer_prompt(tiny_tokenizer, prefix, suffix, mode) == prompt
    doc = np.array(prompt + tiny_tokenizer.encode(middle, add_special_tokens=False).ids, dtype=np.int64)
    assert unpermute(doc, ids, tiny_tokenizer) == [(prefix + middle + suffix).encode()]


def test_sentinels_in_either_spelling_family_never_mixed():
    from tokenizers import Tokenizer, models

    from sctool.fim import FimPromptIds, sentinel_ids

    hyphen = Tokenizer(models.WordLevel({"<|endoftext|>": 0, "<fim-prefix>": 1, "<fim-middle>": 2,
                                         "<fim-suffix>": 3, "<fim-pad>": 4, "x": 5}, unk_token="x"))
    assert FimTokenIds.from_tokenizer(hyphen) == FimTokenIds(prefix=1, middle=2, suffix=3, pad=4, eod=0)
    mixed = Tokenizer(models.WordLevel({"<fim_prefix>": 1, "<fim-middle>": 2, "<fim_suffix>": 3, "x": 5},
                                       unk_token="x"))
    with pytest.raises(ConfigError, match="<fim_middle>"):
        FimPromptIds.from_tokenizer(mixed)
    with pytest.raises(ConfigError, match="<fim_pad>"):
        sentinel_ids(Tokenizer(models.WordLevel({"<fim_prefix>": 1, "<fim_middle>": 2, "<fim_suffix>": 3,
                                                 "<|endoftext|>": 0, "x": 5}, unk_token="x")))
