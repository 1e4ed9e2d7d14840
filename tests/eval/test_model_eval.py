"""Model-driven evaluation with a tiny random model: generation through sctool.infer, resume,
infilling, and perplexity against a brute-force computation."""

from __future__ import annotations

import gzip
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[2]


def sctool(*args: str) -> subprocess.CompletedProcess[str]:
    exe = REPO / ".venv" / "bin" / "sctool"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "sctool_cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300)


def write_problems(path: Path) -> Path:
    recs = [
        {"task_id": f"Toy/{i}", "prompt": f"def add{i}(a, b):\n", "entry_point": f"add{i}",
         "canonical_solution": "    return a + b\n", "test": f"def check(f):\n    assert f(1, {i}) == {1 + i}\n"}
        for i in range(3)
    ]
    with gzip.open(path, "wt") as fh:
        for r in recs:
            fh.write(json.dumps(r) + "\n")
    return path


def test_humaneval_with_a_model_generates_scores_and_resumes(tmp_path: Path, tiny_model_dir: Path) -> None:
    problems = write_problems(tmp_path / "toy.jsonl.gz")
    samples = tmp_path / "samples.jsonl"
    args = ["eval", "humaneval", "--model", str(tiny_model_dir), "--problems", str(problems),
            "--samples", str(samples), "--n-samples", "2", "--max-length", "40", "--batch-size", "3",
            "--k", "1,2", "--json", "--quiet", "--workers", "2"]
    first = sctool(*args)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert {"pass@1", "pass@2"} <= set(result)
    assert 0.0 <= result["pass@1"] <= 1.0
    gen = result["generation"]
    assert (gen["temperature"], gen["top_p"], gen["n_samples"], gen["prompt_stripped"]) == (0.2, 0.95, 2, True)
    assert gen["counts"] == {"resumed_from": 0, "generated": 6, "total": 6}
    assert result["samples_scored"] == 6
    lines = samples.read_text().splitlines()
    assert len(lines) == 6
    assert (tmp_path / "samples.result.json").exists()
    again = sctool(*args)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["generation"]["counts"] == {"resumed_from": 6, "generated": 0, "total": 6}
    assert samples.read_text().splitlines() == lines
    changed = sctool(*[a if a != "0.2" else "0.5" for a in args], "--temperature", "0.7")
    assert changed.returncode == 2 and "different settings" in changed.stderr


def test_generate_only_then_score_separately(tmp_path: Path, tiny_model_dir: Path) -> None:
    from sctool.eval.protocol import GenerationSettings
    from sctool.eval.runner import CodeEvalJob, run_code_eval

    problems = write_problems(tmp_path / "toy.jsonl.gz")
    samples = tmp_path / "s.jsonl"
    job = CodeEvalJob(task="humaneval", samples=str(samples), problems=str(problems), model=str(tiny_model_dir),
                      generation=GenerationSettings(n_samples=1, temperature=0.0, max_length=32), generate_only=True)
    out = run_code_eval(job)
    assert out["generated_only"] and out["samples"]["generated"] == 3
    assert len(samples.read_text().splitlines()) == 3
    # scoring is a separate step that needs no model (and no torch)
    score = sctool("eval", "humaneval", "--samples", str(samples), "--problems", str(problems), "--json", "--quiet")
    assert score.returncode == 0, score.stderr
    assert json.loads(score.stdout)["samples_scored"] == 3


def test_infill_with_a_model(tmp_path: Path, tiny_model_dir: Path) -> None:
    from sctool.eval.protocol import GenerationSettings
    from sctool.eval.runner import CodeEvalJob, run_code_eval

    recs = [{"task_id": "Infill/0", "entry_point": "f", "prompt": "def f(a, b):\n", "suffix": "    return c\n",
             "canonical_solution": "    c = a + b\n", "test": "def check(f):\n    assert f(1, 2) == 3\n"}]
    path = tmp_path / "infill.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    settings = GenerationSettings(n_samples=2, max_length=48, strip_prompt=False, stop_words=())
    job = CodeEvalJob(task="infill", samples=str(tmp_path / "i.jsonl"), problems=str(path),
                      model=str(tiny_model_dir), generation=settings, ks=(1, 2))
    out = run_code_eval(job)
    assert out["task"] == "infill/single-line"
    assert 0.0 <= out["exact_match"] <= 1.0 and "pass@2" in out
    assert out["samples_scored"] == 2


def make_dataset(prefix: Path, vocab: int, sizes: list[int], seed: int = 0) -> np.ndarray:
    from sctool.packing.indexed import IndexedDatasetWriter

    rng = np.random.default_rng(seed)
    docs = [np.append(rng.integers(1, vocab, size=n - 1), 0).astype(np.uint16) for n in sizes]
    with IndexedDatasetWriter(prefix, np.uint16) as w:
        for d in docs:
            w.add_document(d)
    return np.concatenate(docs).astype(np.int64)


def brute_nll_full_context(model, stream: np.ndarray, seq_len: int) -> float:
    """Each token t >= 1 predicted from the previous min(t, seq_len - 1) tokens, one forward each."""
    total = 0.0
    with torch.no_grad():
        for t in range(1, stream.size):
            ctx = torch.tensor(stream[max(0, t - (seq_len - 1)) : t + 1])[None]
            logits = model(ctx).logits[0, -2].double()
            total -= float(torch.log_softmax(logits, -1)[int(stream[t])])
    return total


def brute_nll_windows(model, stream: np.ndarray, seq_len: int) -> tuple[float, int]:
    """Non-overlapping windows, loss on every token but each window's first (the trainer's view)."""
    total, count = 0.0, 0
    with torch.no_grad():
        for s in range(0, stream.size, seq_len):
            w = torch.tensor(stream[s : s + seq_len])[None]
            if w.size(1) < 2:
                continue
            logits = model(w).logits[0].double()
            lp = torch.log_softmax(logits[:-1], -1)
            total -= float(lp.gather(1, w[0, 1:, None]).sum())
            count += w.size(1) - 1
    return total, count


def test_perplexity_matches_brute_force(tmp_path: Path, tiny_model_dir: Path) -> None:
    from sctool.eval.ppl import PerplexityConfig, evaluate_perplexity
    from sctool.model.checkpoint import load_model

    model = load_model(tiny_model_dir)
    stream = make_dataset(tmp_path / "held", model.config.vocab_size, [17, 9, 30])
    seq_len = 8
    sliding = evaluate_perplexity(model, tmp_path / "held", None, PerplexityConfig(seq_len=seq_len, stride=1, batch_size=3))
    expected = brute_nll_full_context(model, stream, seq_len)
    assert sliding["tokens_scored"] == stream.size - 1
    assert sliding["loss_nats_per_token"] == pytest.approx(expected / (stream.size - 1), rel=1e-4)
    windows = evaluate_perplexity(model, tmp_path / "held", None, PerplexityConfig(seq_len=seq_len, batch_size=2))
    nll, count = brute_nll_windows(model, stream, seq_len)
    assert windows["tokens_scored"] == count
    assert windows["loss_nats_per_token"] == pytest.approx(nll / count, rel=1e-4)
    assert windows["perplexity"] == pytest.approx(math.exp(nll / count), rel=1e-4)
    capped = evaluate_perplexity(model, tmp_path / "held", None, PerplexityConfig(seq_len=seq_len, stride=4, max_tokens=20))
    assert capped["tokens_scored"] == 20


def test_token_byte_lengths_add_up_to_the_text(tmp_path: Path) -> None:
    from hypothesis import assume, given, settings
    from hypothesis import strategies as st

    from sctool.eval.ppl import token_byte_lengths
    from tests.eval.conftest import tiny_tokenizer

    tok = tiny_tokenizer()
    path = tmp_path / "tok.json"
    tok.save(str(path))
    lengths, method = token_byte_lengths(path, tok.get_vocab_size())
    assert "exact" in method
    assert lengths[tok.token_to_id("<|endoftext|>")] == 0

    specials = [t for t in tok.get_vocab() if t.startswith("<") and t.endswith(">") and len(t) > 2]

    @settings(max_examples=60, deadline=None)
    @given(st.text(max_size=60))
    def check(text: str) -> None:
        # Special-token text encodes to the special token, which stands for no bytes of the corpus
        # (it is what `sctool tokenize` inserts between documents), so such texts are out of scope.
        assume(not any(s in text for s in specials))
        ids = tok.encode(text, add_special_tokens=False).ids
        assert int(lengths[ids].sum()) == len(text.encode("utf-8"))

    check()


def test_ppl_cli_reports_bits_per_byte(tmp_path: Path, tiny_model_dir: Path) -> None:
    make_dataset(tmp_path / "held", 250, [40, 25])
    out = tmp_path / "ppl.json"
    res = sctool("eval", "ppl", "--model", str(tiny_model_dir), "--data", str(tmp_path / "held"),
                 "--seq-len", "32", "-o", str(out), "--quiet")
    assert res.returncode == 0, res.stderr
    assert "perplexity" in res.stdout and "bits_per_byte" in res.stdout
    data = json.loads(out.read_text())
    assert data["bits_per_byte"] > 0 and data["settings"]["seq_len"] == 32
    # Units: bits are base 2, and bits per byte is the summed loss over the bytes those tokens decode to.
    ln2 = math.log(2)
    assert data["bits_per_token"] == pytest.approx(data["loss_nats_per_token"] / ln2, rel=1e-9)
    assert data["bits_per_token"] == pytest.approx(math.log2(data["perplexity"]), rel=1e-9)
    total_bits = data["loss_nats_per_token"] * data["tokens_scored"] / ln2
    assert data["bits_per_byte"] == pytest.approx(total_bits / data["bytes_scored"], rel=1e-9)
    bad = sctool("eval", "ppl", "--model", str(tiny_model_dir), "--data", str(tmp_path / "missing"), "--quiet")
    assert bad.returncode == 2 and "missing" in bad.stderr
