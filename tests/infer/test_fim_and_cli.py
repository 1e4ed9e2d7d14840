"""Fill-in-the-middle prompts, and the generate / infill / export-hf / import-hf commands."""

from __future__ import annotations

import json

import pytest

from sctool.errors import ConfigError
from sctool.infer import GenerationConfig, generate_ids, infill, infill_completions
from sctool.infer.fim import fim_prompt_ids
from tests.conftest import run_cli


def test_fim_prompt_is_psm_with_special_token_ids(tokenizer) -> None:
    ids = fim_prompt_ids(tokenizer, "def f(x):\n", "\n    return y\n")
    pre, suf, mid = (tokenizer.token_to_id(t) for t in ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"))
    assert ids[0] == pre and ids[-1] == mid and ids.count(suf) == 1
    s = ids.index(suf)
    assert tokenizer.decode(ids[1:s]) == "def f(x):\n"
    assert tokenizer.decode(ids[s + 1 : -1]) == "\n    return y\n"


def test_infill_generates_from_the_fim_prompt_and_stops_at_eos(model, tokenizer) -> None:
    prefix, suffix = "def add(a, b):\n", "\n    return c\n"
    cfg = GenerationConfig(max_new_tokens=16)
    direct = generate_ids(model, [fim_prompt_ids(tokenizer, prefix, suffix)], cfg, tokenizer)[0]
    assert infill(model, tokenizer, prefix, suffix, cfg) == direct.text
    # Make the 3rd generated token the end-of-text token: the middle must stop right before it.
    free = generate_ids(model, [fim_prompt_ids(tokenizer, prefix, suffix)],
                        GenerationConfig(max_new_tokens=16, stop_at_eos=False), tokenizer)[0]
    eos = free.token_ids[2]
    c = infill_completions(model, tokenizer, [(prefix, suffix)], GenerationConfig(max_new_tokens=16, eos_token_id=eos))[0]
    assert c.finish_reason == "eos" and c.token_ids == free.token_ids[: free.token_ids.index(eos)]


def test_infill_needs_fim_tokens(model) -> None:
    from tokenizers import Tokenizer, models

    plain = Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    with pytest.raises(ConfigError, match="FIM"):
        infill(model, plain, "a", "a")


def test_cli_generate_prints_only_the_generated_text(model_dir, model, tokenizer, tmp_path) -> None:
    from sctool.infer import generate

    prompt = "def add(a, b):\n"
    expected = generate(model, tokenizer, [prompt], GenerationConfig(max_new_tokens=8))[0]
    out = run_cli("generate", "--model", model_dir, "--prompt", prompt, "--max-new-tokens", "8", "--greedy",
                  check=True)
    assert out.stdout == expected
    pf = tmp_path / "prompt.txt"
    pf.write_text(prompt)
    assert run_cli("generate", "--model", model_dir, "--prompt-file", pf, "--max-new-tokens", "8",
                   check=True).stdout == expected
    assert run_cli("generate", "--model", model_dir, "--max-new-tokens", "8", input=prompt,
                   check=True).stdout == expected
    sampled = run_cli("generate", "--model", model_dir, "--prompt", prompt, "--max-new-tokens", "8",
                      "--temperature", "0.8", "--top-p", "0.95", "--seed", "3", check=True)
    assert sampled.stdout == generate(model, tokenizer, [prompt], GenerationConfig(
        max_new_tokens=8, temperature=0.8, top_p=0.95, seed=3))[0]


def test_cli_infill_and_hf_directories(model_dir, model, tokenizer, tmp_path) -> None:
    prefix, suffix = "def f(x):\n", "    return y\n"
    expected = infill(model, tokenizer, prefix, suffix, GenerationConfig(max_new_tokens=10))
    out = run_cli("infill", "--model", model_dir, "--prefix", prefix, "--suffix", suffix,
                  "--max-new-tokens", "10", check=True)
    assert out.stdout == expected
    sf = tmp_path / "suffix.txt"
    sf.write_text(suffix)
    assert run_cli("infill", "--model", model_dir, "--prefix-file", "-", "--suffix-file", sf,
                   "--max-new-tokens", "10", input=prefix, check=True).stdout == expected
    # export to a plain Hugging Face directory, import it back: same output from both.
    hf = tmp_path / "hf"
    run_cli("export-hf", model_dir, hf, check=True)
    assert not (hf / "sctool_model.json").exists()
    assert json.loads((hf / "config.json").read_text())["model_type"] == "gpt_bigcode"
    back = tmp_path / "back"
    run_cli("import-hf", hf, back, check=True)
    for d in (hf, back):
        assert run_cli("infill", "--model", d, "--prefix", prefix, "--suffix", suffix,
                       "--max-new-tokens", "10", check=True).stdout == expected


def test_cli_errors_are_one_line(model_dir, tmp_path) -> None:
    missing = run_cli("generate", "--model", tmp_path / "nope", "--prompt", "x")
    assert missing.returncode == 2 and "not found" in missing.stderr and "Traceback" not in missing.stderr
    bad_t = run_cli("generate", "--model", model_dir, "--prompt", "x", "--temperature", "0")
    assert bad_t.returncode != 0 and "--temperature" in bad_t.stderr
    exists = run_cli("export-hf", model_dir, model_dir)
    assert exists.returncode == 2 and "exists" in exists.stderr
