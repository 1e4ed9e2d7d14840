"""The BPE tokenizer recipe and the long-document encoder."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sctool.errors import ConfigError, DatasetError
from sctool.tokenizer import (
    SPECIAL_TOKENS,
    TokenizerConfig,
    load_tokenizer,
    save_tokenizer,
    special_token_ids,
    to_transformers,
    train_tokenizer,
)
from sctool.tokenizer.encode import EncodeStats, encode_documents, split_text
from tests.tokenize.tok_corpus import UNICODE, make_corpus

STARCODER_ORDER = [
    "<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<filename>", "<gh_stars>",
    "<issue_start>", "<issue_comment>", "<issue_closed>", "<jupyter_start>", "<jupyter_text>", "<jupyter_code>",
    "<jupyter_output>", "<empty_output>", "<commit_before>", "<commit_msg>", "<commit_after>", "<reponame>",
]


def test_special_tokens_are_starcoders_in_order(tiny_tokenizer):
    assert list(SPECIAL_TOKENS) == STARCODER_ORDER
    assert special_token_ids(tiny_tokenizer) == {t: i for i, t in enumerate(STARCODER_ORDER)}


def test_vocab_size_includes_specials_and_bytes():
    import random

    rng = random.Random(1)
    docs = ["".join(rng.choice("abcdefghijklmnop (){}=+\n") for _ in range(2000)) for _ in range(50)]
    tok = train_tokenizer(docs, TokenizerConfig(vocab_size=500))
    assert tok.get_vocab_size() == 500
    vocab = tok.get_vocab()
    from tokenizers.pre_tokenizers import ByteLevel

    assert set(ByteLevel.alphabet()) <= set(vocab)  # every byte encodable, whatever the training text


def test_digits_split_and_no_prefix_space(tiny_tokenizer):
    enc = tiny_tokenizer.encode("x = 12345", add_special_tokens=False)
    digits = [t for t in enc.tokens if any(c.isdigit() for c in t)]
    assert digits == ["1", "2", "3", "4", "5"]
    assert enc.tokens[0] == "x"  # no space prepended to the first word
    assert tiny_tokenizer.decode(enc.ids) == "x = 12345"


def test_specials_are_atomic_and_text_round_trips(tiny_tokenizer):
    text = "<filename>a/b.py<gh_stars>10-100\ndef f():\n\treturn 'héllo 日本語 🙂'\n<|endoftext|>"
    enc = tiny_tokenizer.encode(text, add_special_tokens=False)
    assert enc.ids[0] == 5 and 6 in enc.ids and enc.ids[-1] == 0
    assert tiny_tokenizer.decode(enc.ids, skip_special_tokens=False) == text


def test_loads_in_transformers_and_from_disk(tmp_path, tiny_tokenizer):
    pytest.importorskip("transformers")
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    text = "def f(x):\n    return x * 42  # naïve\n"
    save_tokenizer(tiny_tokenizer, tmp_path / "tok.json")
    fast = PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "tok.json"))
    assert fast.encode(text) == tiny_tokenizer.encode(text).ids
    save_tokenizer(tiny_tokenizer, tmp_path / "dir")
    auto = AutoTokenizer.from_pretrained(str(tmp_path / "dir"))
    assert auto.eos_token == "<|endoftext|>" and auto.eos_token_id == 0 and auto.bos_token_id == 0
    assert auto.convert_tokens_to_ids("<reponame>") == 18
    assert auto.decode(auto.encode(text)) == text
    wrapped = to_transformers(tiny_tokenizer)
    assert wrapped.encode(text) == fast.encode(text)
    assert special_token_ids(wrapped)["<fim_pad>"] == 4
    assert load_tokenizer(tmp_path / "dir").encode(text).ids == fast.encode(text)


def test_bad_config_and_files(tmp_path):
    with pytest.raises(ConfigError, match="too small"):
        TokenizerConfig(vocab_size=100)
    with pytest.raises(DatasetError, match="no such tokenizer"):
        load_tokenizer(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"bad\.json"):
        load_tokenizer(tmp_path / "bad.json")
    from tokenizers import Tokenizer, models

    with pytest.raises(ConfigError, match="StarCoder"):
        special_token_ids(Tokenizer(models.BPE()))


def test_training_is_deterministic(corpus):
    a = train_tokenizer(corpus[:100], TokenizerConfig(vocab_size=400))
    b = train_tokenizer(corpus[:100], TokenizerConfig(vocab_size=400))
    assert a.to_str() == b.to_str()


text_strategy = st.lists(
    st.one_of(
        st.sampled_from(["def", "x", "  ", "\n", "\n\n    ", "\t", ".", "(", ")", "'s", "_a", "12", "<filename>",
                         "<|endoftext|>", "=", "# c", *UNICODE]),
        st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8),
    ),
    max_size=300,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(text=text_strategy, max_chars=st.integers(64, 200))
def test_chunked_encoding_is_exact_unless_forced(tiny_tokenizer, text, max_chars):
    """Cutting at pre-token boundaries never changes the ids; forced cuts are counted."""
    whole, _ = encode_documents(tiny_tokenizer, [text], eod_id=0, max_chunk_chars=10**9)
    st_ = EncodeStats()
    chunked, lc = encode_documents(tiny_tokenizer, [text], eod_id=0, max_chunk_chars=max_chars,
                                   specials=SPECIAL_TOKENS, stats=st_)
    pieces = split_text(text, max_chars, SPECIAL_TOKENS)
    assert "".join(pieces) == text and all(len(p) <= max_chars for p in pieces)
    if st_.forced_splits == 0:
        assert whole.tolist() == chunked.tolist()
    assert chunked[-1] == 0 and lc.sum() == chunked.size


def test_forced_cuts_avoid_special_tokens():
    text = "x" * 95 + "<filename>" + "y" * 95
    pieces = split_text(text, 100, SPECIAL_TOKENS)
    assert all("<filename>" in p or "<" not in p for p in pieces)


def test_encode_documents_batches(tiny_tokenizer):
    texts = make_corpus(30, seed=4)
    flat, lens = encode_documents(tiny_tokenizer, texts, eod_id=0, max_chunk_chars=100, dtype=np.uint16)
    assert flat.dtype == np.uint16 and lens.sum() == flat.size and len(lens) == 30
    pos = np.cumsum(lens)
    assert (flat[pos - 1] == 0).all() and np.count_nonzero(flat == 0) == 30
    for t, start, n in zip(texts, pos - lens, lens):
        assert flat[start : start + n - 1].tolist() == tiny_tokenizer.encode(t, add_special_tokens=False).ids
    _, lens2 = encode_documents(tiny_tokenizer, texts, eod_id=None)
    assert (lens2 == lens - 1).all()
    empty, lens3 = encode_documents(tiny_tokenizer, [], eod_id=0)
    assert empty.size == 0 and lens3.size == 0
