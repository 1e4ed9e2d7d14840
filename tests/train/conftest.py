"""Fixtures for the trainer tests: small packed corpora (synthetic ids, or real text through a tiny
tokenizer) and a helper that builds a FitConfig for a model that runs in milliseconds per step."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sctool.packing.indexed import IndexedDatasetWriter

WORDS = ["def", "return", "import", "class", "self", "value", "for", "in", "if", "else", "print", "data", "x"]


def write_synthetic(prefix: Path, n_docs: int = 120, seed: int = 0, vocab: int = 200) -> Path:
    """Learnable documents (arithmetic progressions of ids), each ended by EOD id 0."""
    rng = np.random.default_rng(seed)
    with IndexedDatasetWriter(prefix, np.uint16) as w:
        for _ in range(n_docs):
            n = int(rng.integers(10, 120))
            start, step = int(rng.integers(1, vocab)), int(rng.integers(1, 4))
            w.add_document(np.append((start + step * np.arange(n)) % (vocab - 1) + 1, 0))
    return prefix


def code_docs(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        lines = []
        for _ in range(rng.randint(2, 12)):
            lines.append("    " * rng.randint(0, 2) + " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6))))
        docs.append("\n".join(lines) + "\n")
    return docs


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("synth") / "synth")


@pytest.fixture(scope="session")
def tokenized_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(prefix, tokenizer.json) of real text through a tiny StarCoder-style tokenizer (FIM tokens included)."""
    from sctool.tokenizer import TokenizerConfig, train_tokenizer

    d = tmp_path_factory.mktemp("tok")
    docs = code_docs(200)
    tok = train_tokenizer(docs, TokenizerConfig(vocab_size=400, min_frequency=2))
    tok_path = d / "tokenizer.json"
    tok.save(str(tok_path))
    eod = tok.token_to_id("<|endoftext|>")
    with IndexedDatasetWriter(d / "code", np.uint16) as w:
        for enc in tok.encode_batch(docs, add_special_tokens=False):
            w.add_document(np.append(np.asarray(enc.ids, dtype=np.int64), eod))
    return d / "code", tok_path


def tiny_config(out: Path, prefix: Path, **sections: dict[str, Any]) -> Any:
    """A FitConfig for a 2-layer, 32-wide model on 32-token windows; ``sections`` override fields."""
    from sctool.config import config_to_dict
    from sctool.train.config import FitConfig, deep_merge, fit_config_from_dict

    base: dict[str, Any] = {
        "out": str(out),
        "model": {
            "preset": "tiny", "vocab_size": 256, "n_positions": 64, "n_embd": 32, "n_head": 4,
            "embd_pdrop": 0.1, "resid_pdrop": 0.1, "attn_pdrop": 0.1,
        },
        "data": {"sources": [{"prefix": str(prefix)}], "seq_len": 32, "fim_rate": 0.0, "valid_fraction": 0.1},
        "optim": {"lr": 3e-3, "warmup_steps": 2},
        "trainer": {
            "micro_batch_size": 4, "max_steps": 6, "precision": "32-true", "accelerator": "cpu", "devices": 1,
            "val_every": 2, "val_samples": 8, "log_every": 1, "ckpt_every": 2, "progress_bar": False,
            "tensorboard": False, "peak_tflops": 1.0,
        },
    }
    merged = deep_merge(config_to_dict(FitConfig()), base)
    merged = deep_merge(merged, sections)
    return fit_config_from_dict(merged)


def read_metrics(run: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(training rows, validation rows) of a run's metrics.csv."""
    import csv

    with open(run / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [r for r in rows if r["loss"]], [r for r in rows if r["val_loss"]]


def run_train(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python -m train`` as a real subprocess (the shim, the multi-process re-launch)."""
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "train", *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout
    )


def assert_two_ranks_match_one(one: Path, two: Path, steps: int, *, grad_norm: bool = False) -> None:
    """A 2-rank run logs what the 1-rank run of the same global batch logs, step by step.

    The 2-rank gradient is an all-reduce (or reduce-scatter) of two half-batch gradients, so the
    losses agree to summation order: 1e-4.
    """
    one_train, one_val = read_metrics(one)
    two_train, two_val = read_metrics(two)
    assert [r["step"] for r in two_train] == [str(i) for i in range(1, steps + 1)]
    for a, b in zip(one_train, two_train):
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), abs=1e-4)
        if grad_norm:
            assert float(a["grad_norm"]) == pytest.approx(float(b["grad_norm"]), abs=1e-4)
        assert a["tokens"] == b["tokens"]
    assert float(one_val[0]["val_loss"]) == pytest.approx(float(two_val[0]["val_loss"]), abs=1e-4)
