"""Generation bookkeeping with a stand-in model: stop words, prompt stripping and prefix, resume."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from sctool.errors import ConfigError
from sctool.eval.generate import generate_infill_samples, generate_samples
from sctool.eval.problems import CodeProblem
from sctool.eval.protocol import STARCODER_PROMPTED_PREFIX, GenerationSettings
from sctool.eval.samples import Sample, SampleWriter, read_samples
from sctool.eval.sandbox import SandboxConfig
from sctool.eval.score import score_samples

PROBLEMS = {
    f"T/{i}": CodeProblem(
        task_id=f"T/{i}",
        prompt=f"def f{i}(x):\n    \"\"\"Return x + {i}.\"\"\"\n",
        test=f"assert f{i}(1) == {1 + i}",
        canonical_solution=f"    return x + {i}\n",
    )
    for i in range(3)
}


class FakeModel:
    """Answers each prompt with the right body followed by junk the stop words must remove."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def complete(self, prompts: Sequence[str], max_new: int, seed: int) -> list[str]:
        self.prompts.extend(prompts)
        out = []
        for p in prompts:
            i = int(p.split("Return x + ")[1].split(".")[0])
            out.append(f"\n    return x + {i}\n\n\ndef junk():\n    raise SystemExit\n")
        return out


def count(text: str) -> int:
    return len(text.split())


def test_generated_samples_are_stopped_stripped_and_score(tmp_path: Path) -> None:
    model = FakeModel()
    settings = GenerationSettings(n_samples=2, batch_size=4, prefix=STARCODER_PROMPTED_PREFIX)
    path = tmp_path / "s.jsonl"
    rep = generate_samples(PROBLEMS, settings, path, model.complete, count, meta={"m": 1})
    assert rep.generated == 6
    assert all(p.startswith(STARCODER_PROMPTED_PREFIX) for p in model.prompts)
    samples = read_samples(path).samples
    assert all("junk" not in s.completion for s in samples)
    # the stripped prompt is recorded so the program is exactly what the model continued
    assert all(s.prompt == PROBLEMS[s.task_id].prompt.strip() for s in samples)
    assert all(STARCODER_PROMPTED_PREFIX not in PROBLEMS[s.task_id].program(s.completion, s.prompt) for s in samples)
    report = score_samples(PROBLEMS, samples, sandbox=SandboxConfig(workers=2), ks=(1, 2))
    assert report.scores == {"pass@1": 1.0, "pass@2": 1.0}


def test_resume_generates_only_missing_samples(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    settings = GenerationSettings(n_samples=3, batch_size=2)
    generate_samples(dict(list(PROBLEMS.items())[:1]), settings, path, FakeModel().complete, count, meta={"m": 1})
    # simulate a crash in the middle of writing a line
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"task_id": "T/1", "compl')
    model = FakeModel()
    rep = generate_samples(PROBLEMS, settings, path, model.complete, count, meta={"m": 1})
    assert rep.already_present == 3 and rep.generated == 6
    assert len(model.prompts) == 6
    read = read_samples(path)
    assert read.bad_lines == 0
    by_task: dict[str, list[int]] = {}
    for s in read.samples:
        by_task.setdefault(s.task_id, []).append(s.sample_index)
    assert {k: sorted(v) for k, v in by_task.items()} == {t: [0, 1, 2] for t in PROBLEMS}


def test_resume_with_other_settings_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    generate_samples(PROBLEMS, GenerationSettings(n_samples=1, temperature=0.2), path, FakeModel().complete, count,
                     meta={"generation": {"temperature": 0.2}})
    with pytest.raises(ConfigError, match="different settings"):
        generate_samples(PROBLEMS, GenerationSettings(n_samples=1), path, FakeModel().complete, count,
                         meta={"generation": {"temperature": 0.8}})


def test_prompt_longer_than_max_length_gives_an_empty_completion(tmp_path: Path) -> None:
    model = FakeModel()
    settings = GenerationSettings(n_samples=1, max_length=3)
    generate_samples(PROBLEMS, settings, tmp_path / "s.jsonl", model.complete, count, meta={})
    assert model.prompts == []
    assert {s.completion for s in read_samples(tmp_path / "s.jsonl").samples} == {""}


def test_infill_generation_passes_prefix_and_suffix(tmp_path: Path) -> None:
    problems = {
        "I/0": CodeProblem("I/0", prompt="def f(x):\n", suffix="    return y\n", test="assert f(1) == 2",
                           canonical_solution="    y = x + 1\n"),
    }
    seen: list[tuple[str, str]] = []

    def infill(prefixes: Sequence[str], suffixes: Sequence[str], max_new: int, seed: int) -> list[str]:
        seen.extend(zip(prefixes, suffixes))
        return ["    y = x + 1\n" for _ in prefixes]

    settings = GenerationSettings(n_samples=1, strip_prompt=False, stop_words=())
    generate_infill_samples(problems, settings, tmp_path / "i.jsonl", infill, count, meta={})
    assert seen == [("def f(x):\n", "    return y\n")]
    samples = read_samples(tmp_path / "i.jsonl").samples
    assert score_samples(problems, samples, ks=(1,)).scores["pass@1"] == 1.0


def test_foreign_samples_file_with_bad_lines_is_read(tmp_path: Path) -> None:
    path = tmp_path / "foreign.jsonl"
    lines = [json.dumps({"task_id": "T/0", "completion": "    return x\n"}), "garbage", json.dumps({"task_id": 1})]
    path.write_text("\n".join(lines) + "\n")
    read = read_samples(path)
    assert len(read.samples) == 1 and read.bad_lines == 2 and "foreign.jsonl:2" in (read.first_error or "")


def test_writer_appends_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "w.jsonl"
    with SampleWriter(path) as w:
        w.write([Sample("a", "x", 0)])
    with SampleWriter(path) as w:
        w.write([Sample("a", "y", 1)])
    assert [s.completion for s in read_samples(path).samples] == ["x", "y"]
