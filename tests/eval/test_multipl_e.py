"""MultiPL-E protocol: problem loading, program text, stop words, verdict rules, toolchains, CLI.

The per-language checks against hand-translated solutions and the transcribed referee are in
test_multipl_e_languages.py; here the language-independent parts, plus end-to-end CLI runs in the
languages that start fastest (JavaScript, Bash).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sctool.errors import ConfigError, DatasetError
from sctool.eval import multipl_e as me
from sctool.eval.multipl_e_languages import (
    LANGUAGES,
    OUTPUT_WINDOW,
    apply_text_rules,
    detect_toolchain,
    substitute,
    window,
)
from sctool.eval.samples import Sample
from tests.eval.multipl_e_solutions import MULTIPL_E, load_solutions

REPO = Path(__file__).resolve().parents[2]


def multipl_e_dir() -> Path:
    if not (MULTIPL_E / "humaneval-js.jsonl").is_file():
        pytest.skip(f"MultiPL-E data not available: {MULTIPL_E}")
    return MULTIPL_E


def need(lang: str) -> None:
    tc = detect_toolchain(LANGUAGES[lang], check_version=False)
    if not tc.available:
        pytest.skip(f"{LANGUAGES[lang].name} toolchain missing: {tc.reason}")


def write_problems(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def row(name: str = "HumanEval_1_f", lang: str = "js", **kw: object) -> dict:
    base = {"name": name, "language": lang, "prompt": "function f(x){\n", "doctests": "transform",
            "original": "x.py", "prompt_terminology": "reworded", "tests": "f(1);\n",
            "stop_tokens": ["\nfunction ", "\n//"]}
    base.update(kw)
    return base


# ---------------------------------------------------------------- problems and programs


def test_program_is_prompt_completion_newline_tests(tmp_path: Path) -> None:
    probs = me.load_problems(write_problems(tmp_path / "humaneval-js.jsonl", [row()]), "js")
    p = probs["HumanEval_1_f"]
    assert p.program("  return x;\n}") == "function f(x){\n  return x;\n}\nf(1);\n"
    # a sample's recorded (stripped) prompt replaces the problem's, as the harness generated from it
    assert p.program("\n  return x;\n}", prompt="function f(x){") == "function f(x){\n  return x;\n}\nf(1);\n"
    assert p.humaneval_id == "HumanEval/1"


def test_stop_words_are_the_datasets_plus_file_sep(tmp_path: Path) -> None:
    probs = me.load_problems(write_problems(tmp_path / "humaneval-js.jsonl", [row()]), "js")
    assert me.stop_words(probs) == ("\nfunction ", "\n//", "<file_sep>")


def test_problems_directory_and_go_language_name(tmp_path: Path) -> None:
    write_problems(tmp_path / "humaneval-go.jsonl", [row(lang="go_test.go")])
    assert list(me.load_problems(tmp_path, "go")) == ["HumanEval_1_f"]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"name": "HumanEval_1_f", "prompt": "x"}], "lacks field(s) tests, stop_tokens"),
        ([row(lang="py")], "is for language 'py'"),
        ([row(), row()], "appears twice"),
        ([row(stop_tokens="\n}")], "stop_tokens must be a list"),
        ([], "no problems"),
    ],
)
def test_bad_problem_files_name_the_file(tmp_path: Path, rows: list[dict], message: str) -> None:
    path = write_problems(tmp_path / "humaneval-js.jsonl", rows)
    with pytest.raises(DatasetError, match=re.escape(message)) as info:
        me.load_problems(path, "js")
    assert str(path) in str(info.value)


def test_missing_problems_file_and_unknown_language(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no humaneval-rs\.jsonl"):
        me.load_problems(tmp_path, "rs")
    with pytest.raises(ConfigError, match=r"unknown MultiPL-E language 'cobol'"):
        me.load_problems(tmp_path, "cobol")


def test_real_files_load_with_the_readme_counts() -> None:
    d = multipl_e_dir()
    counts = {"cpp": 161, "java": 158, "js": 161, "ts": 159, "rs": 155, "go": 154, "sh": 158, "swift": 159, "d": 156}
    for lang, n in counts.items():
        probs = me.load_problems(d, lang)
        assert len(probs) == n, lang
        assert all(p.stop_tokens == next(iter(probs.values())).stop_tokens for p in probs.values())


def test_completion_closing_flag_matches_the_data() -> None:
    # where the tests begin with the closing brace the completion is only the body
    d = multipl_e_dir()
    for key, lang in LANGUAGES.items():
        first = next(iter(me.load_problems(d, key).values()))
        starts_closed = first.tests.lstrip().startswith("}")
        assert starts_closed == (not lang.completion_closes_function), key


def test_resolve_languages() -> None:
    assert me.resolve_languages(["js,java", "js"]) == (["js", "java"], False)
    keys, everything = me.resolve_languages(["all"])
    assert everything and keys == list(LANGUAGES)
    with pytest.raises(ConfigError):
        me.resolve_languages(["klingon"])


# ---------------------------------------------------------------- verdict rules


@pytest.mark.parametrize(
    ("lang", "status", "stdout", "stderr", "expected"),
    [
        ("go", "passed", "--- FAIL: TestX\nok", "", "failed"),
        ("go", "passed", "ok  \tcommand-line-arguments\t0.002s\n", "", "passed"),
        ("go", "passed", "# command-line-arguments [build failed]", "", "failed"),
        ("pl", "passed", "ok!ok!", "", "passed"),
        ("pl", "passed", "", "ERROR: x", "failed"),
        ("pl", "passed", "ERROR", "", "failed"),
        ("php", "failed", "PHP Parse error: syntax error", "", "compile_error"),
        ("php", "passed", "PHP Parse error: in a string", "", "compile_error"),
        ("rkt", "passed", "", "--------------------\nFAILURE", "failed"),
        ("rkt", "passed", "ok", "", "passed"),
        ("scala", "passed", "", "warning", "failed"),
        ("cs", "passed", "", "Unhandled Exception: x", "failed"),
        ("cs", "passed", "", "harmless", "passed"),
        ("js", "passed", "FAIL ERROR", "anything", "passed"),
        ("js", "timeout", "", "", "timeout"),
        ("go", "compile_error", "", "", "compile_error"),
    ],
)
def test_text_rules(lang: str, status: str, stdout: str, stderr: str, expected: str) -> None:
    assert apply_text_rules(LANGUAGES[lang], status, stdout, stderr)[0] == expected


def test_text_rules_see_only_multipl_es_output_window() -> None:
    late = "x" * OUTPUT_WINDOW + "FAIL"
    assert apply_text_rules(LANGUAGES["go"], "passed", late, "")[0] == "passed"
    assert apply_text_rules(LANGUAGES["go"], "passed", late[-OUTPUT_WINDOW:], "")[0] == "failed"
    assert window("é" * OUTPUT_WINDOW) == "é" * (OUTPUT_WINDOW // 2)


def test_referee_rules_agree_with_the_product_rules_on_edge_outputs() -> None:
    """The two independently written rule sets, fed the same (rc, stdout, stderr)."""
    from sctool.eval import multipl_e_referee as ref

    outs = ["", "FAIL", "ok", "ERROR", "PHP Parse error", "[setup failed]", "x" * 3000 + "FAIL"]
    for lang in ("go", "pl", "php", "js", "sh"):
        for out in outs:
            for err in ("", "ERROR", "boom"):
                for rc in (0, 1):
                    ours = apply_text_rules(LANGUAGES[lang], "passed" if rc == 0 else "failed", out, err)[0]
                    theirs = ref.verdict_from_outputs(lang, rc, out, err)
                    assert (ours == "passed") == theirs.passed, (lang, rc, out[-20:], err)


# ---------------------------------------------------------------- toolchains


def test_missing_toolchain_names_the_debian_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sctool.eval import multipl_e_languages as mel

    monkeypatch.setattr(mel, "SYSTEM_BIN_DIRS", ())
    tc = detect_toolchain(LANGUAGES["rs"], search_path=str(tmp_path))
    assert not tc.available and "rustc not found" in tc.reason and "Debian: rustc" in tc.reason
    tc = detect_toolchain(LANGUAGES["swift"], search_path=str(tmp_path))
    assert "not packaged in Debian 12" in tc.reason


def test_tool_placeholders_are_substituted() -> None:
    assert substitute(LANGUAGES["java"].run, {"java": "/j", "javatuples": "/t.jar"}) == [
        "/j", "-ea", "-cp", ".:/t.jar", "Problem"]


def test_all_skips_missing_toolchains_with_reasons(tmp_path: Path) -> None:
    need("js")
    d = multipl_e_dir()
    samples = tmp_path / "samples"
    samples.mkdir()
    sols = load_solutions("js")
    (samples / "js.jsonl").write_text("".join(
        json.dumps({"task_id": n, "completion": s["correct"]}) + "\n" for n, s in list(sols.items())[:2]))
    job = me.MultiPLEJob(languages=("all",), problems=str(d), samples=str(samples), limit=2, ks=(1,))
    result = me.run_multipl_e(job)
    assert [r["language"] for r in result["languages"]] == ["js"]
    assert result["languages"][0]["pass@1"] == 1.0
    for key in LANGUAGES:
        if key == "js":
            continue
        assert key in result["skipped"] and result["skipped"][key]
    assert "pass@1" not in result  # several languages: scores live per language


# ---------------------------------------------------------------- scoring and CLI


def sctool(*args: str) -> subprocess.CompletedProcess[str]:
    exe = REPO / ".venv" / "bin" / "sctool"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "sctool_cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=600)


def test_cli_scores_js_samples_with_unbiased_pass_at_k(tmp_path: Path) -> None:
    need("js")
    d = multipl_e_dir()
    sols = load_solutions("js")
    names = list(sols)[:4]
    lines = []
    for i, name in enumerate(names):
        # problem i gets i+1 correct samples out of 4 (the rest wrong); ids as the harness writes them
        for j in range(4):
            comp = sols[name]["correct"] if j <= i else sols[name]["wrong"]
            tid = name if i % 2 else "HumanEval/" + name.split("_")[1]
            lines.append(json.dumps({"task_id": tid, "completion": comp}))
    lines.append(json.dumps({"task_id": "HumanEval_999_nothing", "completion": ""}))
    samples = tmp_path / "js.jsonl"
    samples.write_text("\n".join(lines) + "\n")
    details = tmp_path / "details.jsonl"
    html = tmp_path / "table.html"
    res = sctool("eval", "multipl-e", "--language", "js", "--problems", str(d), "--samples", str(samples),
                 "--k", "1,2", "--json", "--quiet", "--details", str(details), "--html", str(html))
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    lang = result["languages"][0]
    # per problem c = 1..4 of n = 4: pass@1 = mean(c/4), pass@2 = mean(1 - C(4-c,2)/C(4,2))
    assert result["pass@1"] == pytest.approx((1 + 2 + 3 + 4) / 16)
    assert result["pass@2"] == pytest.approx((0.5 + 5 / 6 + 1 + 1) / 4)
    assert lang["status_counts"]["passed"] == 10 and lang["status_counts"]["failed"] == 6
    assert lang["unique_programs"] == 7 and lang["unknown_task_samples"] == 1
    assert lang["toolchain"]["tools"]["node"]
    assert len(details.read_text().splitlines()) == 16
    fragment = html.read_text()
    assert fragment.startswith('<table class="sctool-multipl-e">') and "<td>JavaScript</td>" in fragment
    assert "<td class=\"num\">62.50</td>" in fragment
    assert (tmp_path / "js.result.json").is_file()


def test_cli_compile_error_and_timeout_are_verdicts(tmp_path: Path) -> None:
    need("sh")
    d = multipl_e_dir()
    first = next(iter(me.load_problems(d, "sh")))
    samples = tmp_path / "sh.jsonl"
    samples.write_text("\n".join(json.dumps({"task_id": first, "completion": c}) for c in (
        "    while true; do :; done",   # runs past the limit
        "    echo $((",                 # a bash syntax error: a failed run, not a crash
    )) + "\n")
    res = sctool("eval", "multipl-e", "--language", "sh", "--problems", str(d), "--samples", str(samples),
                 "--k", "1", "--json", "--quiet", "--timeout", "2")
    assert res.returncode == 0, res.stderr
    counts = json.loads(res.stdout)["languages"][0]["status_counts"]
    assert counts["timeout"] == 1 and counts["failed"] == 1 and counts["passed"] == 0


def test_cli_needs_problems_and_a_language() -> None:
    res = sctool("eval", "multipl-e", "--samples", "x.jsonl", "--problems", "p")
    assert res.returncode != 0 and "--language" in res.stderr
    res = sctool("eval", "multipl-e", "--toolchains", "--json")
    assert res.returncode == 0
    report = json.loads(res.stdout)
    assert set(report) == set(LANGUAGES) and report["sh"]["debian"] == ["bash"]


def test_duplicate_programs_run_once(tmp_path: Path) -> None:
    need("js")
    d = multipl_e_dir()
    probs = dict(list(me.load_problems(d, "js").items())[:1])
    name = next(iter(probs))
    comp = load_solutions("js")[name]["correct"]
    rep = me.score_language("js", probs, [Sample(name, comp)] * 5, ks=(1, 5))
    assert rep.unique_programs == 1 and rep.per_task[name] == {"n": 5, "c": 5} and rep.scores["pass@5"] == 1.0


def test_generation_strips_prompt_and_cuts_at_stop_words(tmp_path: Path, tiny_model_dir: Path) -> None:
    d = multipl_e_dir()
    from sctool.eval.protocol import GenerationSettings

    samples = tmp_path / "gen"
    job = me.MultiPLEJob(languages=("js",), problems=str(d), samples=str(samples), model=str(tiny_model_dir),
                         generation=GenerationSettings(n_samples=1, temperature=0.0, max_length=600),
                         limit=2, generate_only=True)
    result = me.run_multipl_e(job)
    assert result["generated_only"] and result["generation"]["js"]["counts"]["generated"] == 2
    rows = [json.loads(x) for x in (samples / "js.jsonl").read_text().splitlines()]
    probs = me.load_problems(d, "js")
    stops = me.stop_words(probs)
    for r in rows:
        assert r["prompt"] == probs[r["task_id"]].prompt.strip()
        assert not any(s in r["completion"] for s in stops)
    meta = json.loads((samples / "js.jsonl.meta.json").read_text())
    assert meta["generation"]["stop_words"] == list(stops)


@pytest.mark.parametrize(("lang", "completion"), [("rs", "    this is not rust\n"), ("java", "        return ;;; (\n")])
def test_a_program_that_does_not_build_is_a_compile_error(lang: str, completion: str) -> None:
    need(lang)
    d = multipl_e_dir()
    probs = dict(list(me.load_problems(d, lang).items())[:1])
    name = next(iter(probs))
    rep = me.score_language(lang, probs, [Sample(name, completion)], ks=(1,))
    assert rep.status_counts["compile_error"] == 1 and rep.scores["pass@1"] == 0.0
    assert rep.scored[0]["result"] == "compile_error"
