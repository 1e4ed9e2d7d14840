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


def cli(capsys, *args: object) -> tuple[int, str, str]:
    """Run the CLI in-process (the subprocess tests below cover the installed entry point)."""
    from sctool_cli.main import main

    capsys.readouterr()
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_generate_prints_only_the_generated_text(model_dir, model, tokenizer, tmp_path, capsys,
                                                     monkeypatch) -> None:
    import io

    from sctool.infer import generate

    prompt = "def add(a, b):\n"
    expected = generate(model, tokenizer, [prompt], GenerationConfig(max_new_tokens=8))[0]
    assert expected
    # the installed command, as a user runs it
    out = run_cli("generate", "--model", model_dir, "--prompt", prompt, "--max-new-tokens", "8", "--greedy",
                  check=True)
    assert out.stdout == expected
    pf = tmp_path / "prompt.txt"
    pf.write_text(prompt)
    assert cli(capsys, "generate", "--model", model_dir, "--prompt-file", pf, "--max-new-tokens", "8") == (
        0, expected, "")
    monkeypatch.setattr("sys.stdin", io.StringIO(prompt))
    assert cli(capsys, "generate", "--model", model_dir, "--max-new-tokens", "8")[1] == expected
    rc, sampled, _ = cli(capsys, "generate", "--model", model_dir, "--prompt", prompt, "--max-new-tokens", "8",
                         "--temperature", "0.8", "--top-p", "0.95", "--seed", "3")
    assert rc == 0 and sampled == generate(model, tokenizer, [prompt], GenerationConfig(
        max_new_tokens=8, temperature=0.8, top_p=0.95, seed=3))[0]


def test_cli_infill_and_hf_directories(model_dir, model, tokenizer, tmp_path, capsys) -> None:
    prefix, suffix = "def f(x):\n", "    return y\n"
    expected = infill(model, tokenizer, prefix, suffix, GenerationConfig(max_new_tokens=10))
    assert cli(capsys, "infill", "--model", model_dir, "--prefix", prefix, "--suffix", suffix,
               "--max-new-tokens", "10") == (0, expected, "")
    sf = tmp_path / "suffix.txt"
    sf.write_text(suffix)
    # the installed command, prefix from stdin
    assert run_cli("infill", "--model", model_dir, "--prefix-file", "-", "--suffix-file", sf,
                   "--max-new-tokens", "10", input=prefix, check=True).stdout == expected
    # export to a plain Hugging Face directory, import it back: same output from both.
    hf = tmp_path / "hf"
    assert cli(capsys, "export-hf", model_dir, hf)[0] == 0
    assert not (hf / "sctool_model.json").exists()
    assert json.loads((hf / "config.json").read_text())["model_type"] == "gpt_bigcode"
    back = tmp_path / "back"
    assert cli(capsys, "import-hf", hf, back)[0] == 0
    for d in (hf, back):
        assert cli(capsys, "infill", "--model", d, "--prefix", prefix, "--suffix", suffix,
                   "--max-new-tokens", "10")[1] == expected


def test_cli_errors_are_one_line(model_dir, tmp_path, capsys) -> None:
    missing = run_cli("generate", "--model", tmp_path / "nope", "--prompt", "x")
    assert missing.returncode == 2 and "not found" in missing.stderr and "Traceback" not in missing.stderr
    with pytest.raises(SystemExit, match="--temperature"):
        cli(capsys, "generate", "--model", model_dir, "--prompt", "x", "--temperature", "0")
    rc, _, err = cli(capsys, "export-hf", model_dir, model_dir)
    assert rc == 2 and "exists" in err
    gqa_dir = tmp_path / "gqa"
    from sctool.model.checkpoint import save_model_dir
    from tests.infer.conftest import varied_model

    save_model_dir(varied_model(tokenizer_size(model_dir), n_kv_heads=2), None, gqa_dir)
    rc, _, err = cli(capsys, "export-hf", gqa_dir, tmp_path / "out")
    assert rc == 2 and "grouped-query" in err
    rc, _, err = cli(capsys, "generate", "--model", gqa_dir, "--prompt", "x")
    assert rc == 2 and "tokenizer" in err


def tokenizer_size(model_dir) -> int:
    return json.loads((model_dir / "sctool_model.json").read_text())["model"]["vocab_size"]
