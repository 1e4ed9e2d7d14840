"""``sctool generate --prompts FILE.jsonl --batch-size B``: batched decoding from the command line."""

from __future__ import annotations

import json

import pytest

from sctool.errors import DatasetError
from sctool.infer import GenerationConfig, generate_completions
from sctool.infer.generate import read_prompts
from tests.infer.test_fim_and_cli import cli

PROMPTS = ["def add(a, b):\n", "x", "class Point:\n    def __init__(self", "import os\nimport sys\n\n\ndef main("]


def write_prompts(path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.mark.parametrize("batch_size", [1, 3])
def test_cli_prompts_file_equals_one_at_a_time(model_dir, model, tokenizer, tmp_path, capsys, batch_size) -> None:
    """Every row's completion equals generating that prompt alone; rows keep the file's order and ids."""
    pf = tmp_path / "p.jsonl"
    write_prompts(pf, [{"id": f"task/{i}", "prompt": p} for i, p in enumerate(PROMPTS[:3])] + [PROMPTS[3]])
    rc, out, err = cli(capsys, "generate", "--model", model_dir, "--prompts", pf, "--batch-size", batch_size,
                       "--max-new-tokens", "6")
    assert rc == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["task/0", "task/1", "task/2", "3"]
    for p, r in zip(PROMPTS, rows):
        alone = generate_completions(model, tokenizer, [p], GenerationConfig(max_new_tokens=6, batch_size=1))[0]
        assert r["completion"] == alone.text and r["generated_tokens"] == len(alone.token_ids)
        assert r["finish_reason"] == alone.finish_reason and r["prompt_tokens"] == alone.prompt_tokens
    total = sum(r["generated_tokens"] for r in rows)
    assert f"4 prompts, batch size {batch_size}, {total:,} tokens" in err and "tokens/s" in err


def test_cli_prompts_to_output_file_with_custom_key(model_dir, tmp_path, capsys) -> None:
    pf = tmp_path / "p.jsonl"
    write_prompts(pf, [{"text": "def f(", "id": 7}, {"text": "y = "}])
    out = tmp_path / "out.jsonl"
    rc, stdout, _ = cli(capsys, "generate", "--model", model_dir, "--prompts", pf, "--prompt-key", "text",
                        "-o", out, "--max-new-tokens", "4")
    assert rc == 0 and stdout == ""
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["7", "1"] and all(r["generated_tokens"] <= 4 for r in rows)


def test_bad_prompts_files_name_the_line(tmp_path, model_dir, capsys) -> None:
    pf = tmp_path / "bad.jsonl"
    pf.write_text('{"prompt": "ok"}\n\n{"prompt": 3}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"bad.jsonl:3: expected an object"):
        read_prompts(pf)
    pf.write_text('{"prompt": "ok"}\n{oops\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"bad.jsonl:2: not valid JSON"):
        read_prompts(pf)
    with pytest.raises(DatasetError, match="cannot read"):
        read_prompts(tmp_path / "absent.jsonl")
    rc, _, err = cli(capsys, "generate", "--model", model_dir, "--prompts", pf)
    assert rc == 2 and "bad.jsonl:2" in err
    with pytest.raises(SystemExit, match="not both"):
        cli(capsys, "generate", "--model", model_dir, "--prompts", pf, "--prompt", "x")
    with pytest.raises(SystemExit, match="batch-size"):
        cli(capsys, "generate", "--model", model_dir, "--prompts", pf, "--batch-size", "0")
