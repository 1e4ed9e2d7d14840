"""Tiny random models for the model tests (CPU, a few hundred thousand parameters)."""

from __future__ import annotations

import pytest
import torch

from sctool.model import GPT, ModelConfig

VOCAB = 211


def tiny_config(**changes: object) -> ModelConfig:
    base = ModelConfig(
        vocab_size=VOCAB,
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=4,
        n_kv_heads=1,
        embd_pdrop=0.0,
        resid_pdrop=0.0,
        attn_pdrop=0.0,
    )
    return base.with_changes(**changes)


def random_model(cfg: ModelConfig, seed: int = 0) -> GPT:
    """A model whose biases and LayerNorms are random too, so layout mistakes cannot hide in zeros."""
    torch.manual_seed(seed)
    model = GPT(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.normal_(0.0, 0.2)
    return model


@pytest.fixture
def tiny() -> GPT:
    return random_model(tiny_config())


SPECIAL_TOKENS = ["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<filename>"]


def make_byte_bpe(vocab_size: int = 400):
    """A tiny byte-level BPE with StarCoder's special tokens first (<|endoftext|> = 0, FIM 1-4)."""
    import inspect
    import json as json_mod

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = [inspect.getsource(json_mod), inspect.getsource(inspect.getmodule(make_byte_bpe))]
    tok.train_from_iterator(corpus, trainer)
    return tok


@pytest.fixture(scope="session")
def byte_bpe_tokenizer():
    return make_byte_bpe()
