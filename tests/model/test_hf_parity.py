"""Parity with transformers' GPTBigCodeForCausalLM on the same random weights, both directions.

transformers is a test dependency only; the product reads and writes its format without it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sctool.errors import ConfigError, InvalidInputError, OutputExistsError
from sctool.model.checkpoint import export_hf, import_hf, load_model, save_model_dir
from tests.model.conftest import VOCAB, random_model, tiny_config

transformers = pytest.importorskip("transformers")

TOL = 1e-4


def hf_random(multi_query: bool, seed: int = 1, activation: str = "gelu_pytorch_tanh"):
    cfg = transformers.GPTBigCodeConfig(
        vocab_size=VOCAB, n_positions=64, n_embd=32, n_layer=2, n_head=4, multi_query=multi_query,
        activation_function=activation, bos_token_id=0, eos_token_id=0,
    )
    torch.manual_seed(seed)
    model = transformers.GPTBigCodeForCausalLM(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.normal_(0.0, 0.2)
    return model


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().abs().max())


@pytest.mark.parametrize("n_kv", [1, 4], ids=["mqa", "mha"])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_ours_to_transformers(tmp_path: Path, n_kv: int, attn: str) -> None:
    ours = random_model(tiny_config(n_kv_heads=n_kv))
    out = export_hf(ours, tmp_path / "hf")
    hf = transformers.GPTBigCodeForCausalLM.from_pretrained(out, attn_implementation=attn).eval()
    x = torch.randint(0, VOCAB, (3, 40))
    with torch.no_grad():
        assert max_diff(ours(x).logits, hf(x).logits) <= TOL
        # the labels convention (aligned, shifted inside) is the same as transformers'
        assert abs(float(ours(x, labels=x).loss) - float(hf(x, labels=x).loss)) <= TOL


@pytest.mark.parametrize("multi_query", [True, False], ids=["mqa", "mha"])
@pytest.mark.parametrize("activation", ["gelu_pytorch_tanh", "gelu"])
def test_transformers_to_ours(tmp_path: Path, multi_query: bool, activation: str) -> None:
    hf = hf_random(multi_query, activation=activation)
    hf.save_pretrained(tmp_path / "hf")
    for backend in ("sdpa", "eager"):
        ours = load_model(tmp_path / "hf", attention=backend)
        assert ours.config.n_kv_heads == (1 if multi_query else 4)
        x = torch.randint(0, VOCAB, (2, 33))
        with torch.no_grad():
            assert max_diff(ours(x).logits, hf(x).logits) <= TOL


def test_import_then_export_round_trips(tmp_path: Path) -> None:
    hf = hf_random(multi_query=False, seed=3)
    hf.save_pretrained(tmp_path / "hf")
    import_hf(tmp_path / "hf", tmp_path / "ours")
    assert (tmp_path / "ours" / "sctool_model.json").exists()
    export_hf(tmp_path / "ours", tmp_path / "back")
    again = transformers.GPTBigCodeForCausalLM.from_pretrained(tmp_path / "back").eval()
    x = torch.randint(0, VOCAB, (2, 20))
    with torch.no_grad():
        assert max_diff(again(x).logits, hf(x).logits) == 0.0


def test_sharded_checkpoint_loads(tmp_path: Path) -> None:
    hf = hf_random(multi_query=True, seed=4)
    hf.save_pretrained(tmp_path / "hf", max_shard_size="20KB")
    assert (tmp_path / "hf" / "model.safetensors.index.json").exists()
    ours = load_model(tmp_path / "hf")
    x = torch.randint(0, VOCAB, (1, 12))
    with torch.no_grad():
        assert max_diff(ours(x).logits, hf(x).logits) <= TOL


def test_untied_head_round_trips(tmp_path: Path) -> None:
    ours = random_model(tiny_config(tie_word_embeddings=False))
    with torch.no_grad():
        ours.lm_head.weight.normal_()
    save_model_dir(ours, None, tmp_path / "m")
    hf = transformers.GPTBigCodeForCausalLM.from_pretrained(tmp_path / "m").eval()
    back = load_model(tmp_path / "m")
    x = torch.randint(0, VOCAB, (1, 12))
    with torch.no_grad():
        assert max_diff(hf(x).logits, ours(x).logits) <= TOL
        assert max_diff(back(x).logits, ours(x).logits) == 0.0


def test_gqa_saves_and_loads_but_does_not_export(tmp_path: Path) -> None:
    ours = random_model(tiny_config(n_kv_heads=2, attention="eager"))
    save_model_dir(ours, None, tmp_path / "gqa")
    assert not (tmp_path / "gqa" / "config.json").exists()
    back = load_model(tmp_path / "gqa")
    assert back.config == ours.config
    x = torch.randint(0, VOCAB, (1, 9))
    assert max_diff(back(x).logits, ours(x).logits) == 0.0
    with pytest.raises(ConfigError, match="grouped-query"):
        export_hf(ours, tmp_path / "hf")


def test_bf16_export_and_dtype_on_load(tmp_path: Path) -> None:
    ours = random_model(tiny_config())
    save_model_dir(ours, None, tmp_path / "m", dtype=torch.bfloat16)
    assert json.loads((tmp_path / "m" / "config.json").read_text())["dtype"] == "bfloat16"
    assert load_model(tmp_path / "m").transformer.wte.weight.dtype == torch.bfloat16
    assert load_model(tmp_path / "m", dtype=torch.float32).lm_head.weight.dtype == torch.float32


def test_tokenizer_is_exported_for_autotokenizer(tmp_path: Path, byte_bpe_tokenizer) -> None:
    ours = random_model(tiny_config(vocab_size=byte_bpe_tokenizer.get_vocab_size()))
    export_hf(ours, tmp_path / "hf", tokenizer=byte_bpe_tokenizer)
    tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert tok.eos_token == "<|endoftext|>"
    text = "def f(x):\n    return x\n"
    assert tok(text)["input_ids"] == byte_bpe_tokenizer.encode(text).ids
    hf_cfg = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert hf_cfg["eos_token_id"] == byte_bpe_tokenizer.token_to_id("<|endoftext|>")


def test_overwrite_protection(tmp_path: Path) -> None:
    ours = random_model(tiny_config())
    save_model_dir(ours, None, tmp_path / "m")
    with pytest.raises(OutputExistsError):
        save_model_dir(ours, None, tmp_path / "m")
    save_model_dir(ours, None, tmp_path / "m", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no staging directories left behind


def test_broken_model_directories_name_the_file(tmp_path: Path) -> None:
    ours = random_model(tiny_config())
    d = save_model_dir(ours, None, tmp_path / "m")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_model(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="not a model directory"):
        load_model(tmp_path / "empty")
    (d / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(InvalidInputError, match=r"model\.safetensors"):
        load_model(d)
    d2 = save_model_dir(random_model(tiny_config(n_layer=1)), None, tmp_path / "m2")
    (d2 / "sctool_model.json").write_text((d / "sctool_model.json").read_text())  # config says 2 layers
    with pytest.raises(InvalidInputError, match="missing"):
        load_model(d2)
    cfg = json.loads((d / "config.json").read_text())
    cfg["model_type"] = "llama"
    (tmp_path / "llama").mkdir()
    (tmp_path / "llama" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="gpt_bigcode"):
        load_model(tmp_path / "llama")
