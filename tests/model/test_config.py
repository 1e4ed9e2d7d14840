from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sctool.errors import ConfigError
from sctool.model import GPT, PRESETS, ModelConfig


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_loads(name: str) -> None:
    cfg = ModelConfig.from_preset(name)
    assert cfg.vocab_size == 49152
    assert cfg.n_kv_heads == 1  # every preset is multi-query, like StarCoder


def _params(cfg: ModelConfig) -> int:
    with torch.device("meta"):
        return GPT(cfg).num_params()


def test_15b_preset_is_starcoder() -> None:
    cfg = ModelConfig.from_preset("15b")
    assert (cfg.n_layer, cfg.n_embd, cfg.n_head, cfg.n_positions, cfg.inner_dim) == (40, 6144, 48, 8192, 24576)
    # the StarCoder paper: 15.517 B parameters with tied embeddings.
    assert abs(_params(cfg) / 1e9 - 15.517) < 0.01


def test_1b_preset_matches_starcoderbase_1b() -> None:
    cfg = ModelConfig.from_preset("1b")
    assert (cfg.n_layer, cfg.n_embd, cfg.n_head, cfg.inner_dim) == (24, 2048, 16, 8192)
    assert 1.0e9 < _params(cfg) < 1.2e9


def test_preset_overrides_and_yaml_forms(tmp_path: Path) -> None:
    assert ModelConfig.from_preset("tiny", n_layer=3).n_layer == 3
    flat = tmp_path / "flat.yaml"
    flat.write_text("n_embd: 64\nn_head: 2\nn_layer: 1\n")
    nested = tmp_path / "nested.yaml"
    nested.write_text("model:\n  n_embd: 64\n  n_head: 2\n  n_layer: 1\n")
    assert ModelConfig.from_yaml(flat) == ModelConfig.from_yaml(nested)
    assert ModelConfig.from_preset(str(flat)).n_embd == 64


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_embd": 30, "n_head": 4}, "divisible by n_head"),
        ({"n_head": 4, "n_kv_heads": 3}, "divisible by n_kv_heads"),
        ({"attn_pdrop": 1.5}, "attn_pdrop"),
        ({"n_layer": 0}, "n_layer"),
    ],
)
def test_invalid_configs_are_rejected(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**changes)


def test_yaml_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("n_embd: 64\nn_heads: 2\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*unknown option"):
        ModelConfig.from_yaml(bad)
    wrong_type = tmp_path / "wrong.yaml"
    wrong_type.write_text("n_embd: sixty-four\n")
    with pytest.raises(ConfigError, match=r"wrong\.yaml"):
        ModelConfig.from_yaml(wrong_type)
    with pytest.raises(ConfigError, match="not found"):
        ModelConfig.from_yaml(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="no model preset"):
        ModelConfig.from_preset("no-such-preset")


def test_kv_cache_bytes_mqa_vs_mha() -> None:
    # 6 layers / 512 / 8 heads, fp32: MQA 3 KiB per token, MHA 24 KiB.
    mqa = ModelConfig(n_layer=6, n_embd=512, n_head=8, n_kv_heads=1)
    mha = mqa.with_changes(n_kv_heads=8)
    assert mqa.kv_cache_bytes_per_token() == 3 * 1024
    assert mha.kv_cache_bytes_per_token() == 24 * 1024


def test_config_round_trips_through_dict() -> None:
    cfg = ModelConfig.from_preset("350m", attention="eager", n_kv_heads=4)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
