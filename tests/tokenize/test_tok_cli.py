"""The three commands end to end, run as a user runs them: ``sctool …`` in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sctool.packing.indexed import IndexedDataset
from sctool.tokenizer import load_tokenizer
from tests.tokenize.tok_corpus import make_corpus


def sctool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "sctool"
    cmd = [str(exe)] if exe.exists() else [shutil.which("sctool") or sys.executable, *([] if shutil.which("sctool") else ["-m", "sctool_cli"])]
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    rows = [{"id": f"f{i}", "content": t, "path": f"pkg/m{i}.py", "repo": "org/proj", "stars": i * 3}
            for i, t in enumerate(make_corpus(120, seed=5))]
    rows.append({"id": "nb", "content": "{broken", "path": "x.ipynb", "repo": "org/proj", "stars": 1})
    (d / "code.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return d


def test_train_format_tokenize_pipeline(workdir):
    r = sctool("train-tokenizer", "code.jsonl", "-o", "tok.json", "--vocab-size", "500", "--quiet", cwd=workdir)
    assert r.returncode == 0, r.stderr
    tok = load_tokenizer(workdir / "tok.json")
    assert tok.token_to_id("<reponame>") == 18 and tok.get_vocab_size() <= 500

    r = sctool("format", "code.jsonl", "-o", "fmt", "--quiet", "--json", cwd=workdir)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["docs_in"] == 121 and summary["removed"] == {"malformed_notebook": 1}

    r = sctool("tokenize", "fmt", "-o", "tokens/code", "--tokenizer", "tok.json", "--quiet", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert "tokens:" in r.stdout
    ds = IndexedDataset(workdir / "tokens" / "code")
    assert len(ds) == 120 and ds.dtype.name == "uint16"
    texts = [tok.decode(ds[i].tolist(), skip_special_tokens=False) for i in range(len(ds))]
    assert all(t.endswith("<|endoftext|>") for t in texts)
    assert any(t.startswith(("<reponame>org/proj", "<filename>pkg/", "<gh_stars>")) for t in texts)

    # Existing output without --overwrite: exit 2 with a one-line message naming the file.
    r = sctool("tokenize", "fmt", "-o", "tokens/code", "--tokenizer", "tok.json", "--quiet", cwd=workdir)
    assert r.returncode == 2 and "code.bin" in r.stderr and "Traceback" not in r.stderr


def test_cli_errors_are_one_line(workdir):
    r = sctool("tokenize", "code.jsonl", "-o", "t2", "--tokenizer", "missing.json", "--quiet", cwd=workdir)
    assert r.returncode == 2 and "missing.json" in r.stderr and "Traceback" not in r.stderr
    r = sctool("tokenize", "-o", "t3", "--tokenizer", "tok.json", "--mix", "no-such-mix", cwd=workdir)
    assert r.returncode == 2 and "no-such-mix" in r.stderr
    r = sctool("train-tokenizer", "code.jsonl", "-o", "t.json", "--vocab-size", "10", cwd=workdir)
    assert r.returncode == 2 and "too small" in r.stderr


def test_help_lists_commands(workdir):
    r = sctool("--help", cwd=workdir)
    assert r.returncode == 0
    for cmd in ("train-tokenizer", "format", "tokenize"):
        assert cmd in r.stdout


def test_tokenize_mix_from_the_command_line(workdir):
    if not (workdir / "tok.json").exists():
        assert sctool("train-tokenizer", "code.jsonl", "-o", "tok.json", "--vocab-size", "400", "--quiet",
                      cwd=workdir).returncode == 0
    (workdir / "mix.yaml").write_text(
        "sources:\n  - {name: code, weight: 2, inputs: [code.jsonl]}\n  - {name: gone, weight: 1, inputs: [gone]}\n"
    )
    r = sctool("tokenize", "--mix", "mix.yaml", "-o", "mixed", "--tokenizer", "tok.json", "--quiet", cwd=workdir)
    assert r.returncode == 2 and "gone" in r.stderr
    r = sctool("tokenize", "--mix", "mix.yaml", "-o", "mixed", "--tokenizer", "tok.json", "--quiet",
               "--allow-missing", "--json", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["missing_sources"] == ["gone"]
    assert (workdir / "mixed" / "blend.yaml").exists() and len(IndexedDataset(workdir / "mixed" / "code")) == 121
