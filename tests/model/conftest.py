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
