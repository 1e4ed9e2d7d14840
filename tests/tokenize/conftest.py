"""Fixtures for the tokenizer/FIM/packing tests: a generated corpus and a tiny tokenizer.

The tokenizer's vocabulary is small so training takes a fraction of a second.
"""

from __future__ import annotations

import pytest

from tests.tokenize.tok_corpus import make_corpus


@pytest.fixture(scope="session")
def corpus() -> list[str]:
    return make_corpus(300, seed=0)


@pytest.fixture(scope="session")
def tiny_tokenizer(corpus):
    from sctool.tokenizer import TokenizerConfig, train_tokenizer

    return train_tokenizer(corpus, TokenizerConfig(vocab_size=600, min_frequency=2))
