"""A tiny model with varied greedy output, and a tiny byte-level BPE tokenizer built in the test."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sctool.model import GPT, ModelConfig
from sctool.model.checkpoint import save_model_dir
from tests.model.conftest import make_byte_bpe


@pytest.fixture(scope="session")
def tokenizer():
    return make_byte_bpe()


def varied_model(vocab: int, n_kv_heads: int = 1, seed: int = 0, n_positions: int = 128) -> GPT:
    """Random weights with a large init std, so argmax decoding does not collapse to one token."""
    cfg = ModelConfig(
        vocab_size=vocab, n_positions=n_positions, n_embd=48, n_layer=2, n_head=4, n_kv_heads=n_kv_heads,
        embd_pdrop=0.0, resid_pdrop=0.0, attn_pdrop=0.0, initializer_range=0.3,
    )
    torch.manual_seed(seed)
    return GPT(cfg).eval()


@pytest.fixture(scope="session")
def model(tokenizer) -> GPT:
    return varied_model(tokenizer.get_vocab_size())


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, model, tokenizer) -> Path:
    return save_model_dir(model, tokenizer, tmp_path_factory.mktemp("m") / "tiny")
