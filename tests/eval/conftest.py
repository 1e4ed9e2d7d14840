"""Shared fixtures: benchmark files from ../shared (evaluation data only; tests skip without it)."""

from __future__ import annotations

from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "benchmarks"
HUMANEVAL = BENCH / "humaneval" / "HumanEval.jsonl.gz"
MBPP = BENCH / "mbpp" / "mbpp.jsonl"
MBPP_SANITIZED = BENCH / "mbpp" / "sanitized-mbpp.json"
INFILL_DIR = BENCH / "humaneval-infilling"


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"benchmark data not available: {path}")
    return path


@pytest.fixture(scope="session")
def humaneval_path() -> Path:
    return require(HUMANEVAL)


@pytest.fixture(scope="session")
def mbpp_path() -> Path:
    return require(MBPP)


@pytest.fixture(scope="session")
def infill_dir() -> Path:
    return require(INFILL_DIR)


SPECIALS = ["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<filename>"]


def tiny_tokenizer(vocab_size: int = 300):
    """A byte-level BPE with StarCoder's first special tokens, trained on a few lines of code."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    corpus = ["def add(a, b):\n    return a + b\n", "for i in range(10):\n    print(i)\n"] * 20
    tok.train_from_iterator(corpus, trainer)
    return tok


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from sctool.model import GPT, ModelConfig
    from sctool.model.checkpoint import save_model_dir

    tok = tiny_tokenizer()
    cfg = ModelConfig(vocab_size=tok.get_vocab_size(), n_positions=128, n_embd=32, n_layer=2, n_head=4,
                      n_kv_heads=1, embd_pdrop=0.0, resid_pdrop=0.0, attn_pdrop=0.0)
    torch.manual_seed(0)
    model = GPT(cfg).eval()
    return save_model_dir(model, tok, tmp_path_factory.mktemp("eval-model") / "tiny")
