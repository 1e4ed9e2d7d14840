"""MultiPL-E: HumanEval translated into many languages, scored with MultiPL-E's own protocol.

What a score means here is what it means in MultiPL-E (``evaluation/src/main.py`` and the
per-language evaluators) and in bigcode-evaluation-harness, which produced StarCoder's numbers:

* the model is given ``prompt.strip()`` and its continuation is cut at the language's stop tokens
  (the dataset's ``stop_tokens``, plus ``<file_sep>`` as the harness adds);
* the program is ``prompt + completion + "\\n" + tests`` — one file, compiled and run with MultiPL-E's
  command line for the language (:mod:`sctool.eval.multipl_e_languages`);
* it passes when every step exits 0 and the language's extra text rules hold (Go's ``FAIL``, Perl's
  ``ERROR``, stderr for Scala/Racket, ...); pass@k is the unbiased estimator over problems.

Programs run through the sandbox's command runner (:func:`sctool.eval.sandbox.run_commands`): the
compiler runs inside the sandbox too, with its own time limit, and a failed build is the verdict
``compile_error``. Each program gets a fresh work directory and nothing compiled for one sample is
reused for another (a sample could poison it); identical programs — common at low temperature — run
once and share the verdict, which is safe because the program text is the whole input.

The problems are the user's files (``humaneval-<lang>.jsonl`` as MultiPL-E's ``prepare_prompts_for_hfhub``
writes them, or the same rows exported from the Hugging Face dataset); sctool ships no benchmark data.
"""

from __future__ import annotations

import glob
import hashlib
import html
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sctool.errors import ConfigError, DatasetError
from sctool.eval.multipl_e_languages import (
    LANGUAGES,
    Language,
    Toolchain,
    apply_text_rules,
    detect_toolchain,
    language,
    substitute,
)
from sctool.eval.passk import mean_pass_at_k
from sctool.eval.samples import Sample

HARNESS_EXTRA_STOP = ("<file_sep>",)
REQUIRED_FIELDS = ("name", "prompt", "tests", "stop_tokens")
STATUSES = ("passed", "failed", "compile_error", "timeout", "violation", "error")


@dataclass(frozen=True)
class MultiPLEProblem:
    """One translated HumanEval problem."""

    name: str  # HumanEval_0_has_close_elements
    language: str
    prompt: str
    tests: str
    stop_tokens: tuple[str, ...]

    @property
    def humaneval_id(self) -> str:
        """``HumanEval/0`` for ``HumanEval_0_...``: samples may name problems either way."""
        parts = self.name.split("_")
        if len(parts) >= 2 and parts[0] == "HumanEval" and parts[1].isdigit():
            return f"HumanEval/{parts[1]}"
        return self.name

    def program(self, completion: str, prompt: str | None = None) -> str:
        """The file MultiPL-E runs: prompt + completion + newline + tests."""
        return f"{self.prompt if prompt is None else prompt}{completion}\n{self.tests}"


def problems_file(path: str | Path, lang: str) -> Path:
    """A ``humaneval-<lang>.jsonl`` file, or the directory that holds one."""
    p = Path(path)
    if p.is_dir():
        for name in (f"humaneval-{lang}.jsonl", f"humaneval-{lang}.jsonl.gz"):
            if (p / name).is_file():
                return p / name
        raise DatasetError(f"{p}: no humaneval-{lang}.jsonl in this directory (MultiPL-E's per-language file)")
    if not p.is_file():
        raise DatasetError(f"{p}: no such problems file")
    return p


def load_problems(path: str | Path, lang: str) -> dict[str, MultiPLEProblem]:
    """Problems keyed by name, in file order; every row must be for ``lang``."""
    from sctool.eval.problems import read_records

    language(lang)
    p = problems_file(path, lang)
    out: dict[str, MultiPLEProblem] = {}
    for i, rec in enumerate(read_records(p)):
        missing = [k for k in REQUIRED_FIELDS if k not in rec]
        if missing:
            raise DatasetError(f"{p}: record {i + 1} lacks field(s) {', '.join(missing)}")
        rec_lang = str(rec.get("language", lang))
        # MultiPL-E calls Go "go_test.go" (the file suffix its translator writes).
        if rec_lang.split("_")[0] != lang and rec_lang != lang:
            raise DatasetError(f"{p}: record {i + 1} is for language {rec_lang!r}, not {lang!r}")
        stops = rec["stop_tokens"]
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise DatasetError(f"{p}: record {i + 1}: stop_tokens must be a list of strings")
        name = str(rec["name"])
        if name in out:
            raise DatasetError(f"{p}: problem {name} appears twice")
        out[name] = MultiPLEProblem(name, lang, str(rec["prompt"]), str(rec["tests"]), tuple(stops))
    if not out:
        raise DatasetError(f"{p}: no problems")
    return out


def stop_words(problems: Mapping[str, MultiPLEProblem]) -> tuple[str, ...]:
    """The language's stop tokens (the harness takes them from the first problem) plus ``<file_sep>``."""
    first = next(iter(problems.values()))
    return tuple(dict.fromkeys([*first.stop_tokens, *HARNESS_EXTRA_STOP]))


def match_task(task_id: str, problems: Mapping[str, MultiPLEProblem], aliases: Mapping[str, str]) -> str | None:
    key = str(task_id)
    if key in problems:
        return key
    return aliases.get(key)


@dataclass(frozen=True)
class LanguageLimits:
    """Sandbox limits for one language's programs (MultiPL-E's time limits unless overridden)."""

    compile_timeout_s: float | None
    run_timeout_s: float
    memory_mb: int
    max_processes: int


def limits_for(lang: Language, *, run_timeout: float | None = None, compile_timeout: float | None = None,
               memory_mb: int | None = None, max_processes: int | None = None) -> LanguageLimits:
    return LanguageLimits(
        compile_timeout_s=(compile_timeout or lang.compile_timeout_s) if lang.compile is not None else None,
        run_timeout_s=run_timeout or lang.run_timeout_s,
        memory_mb=max(memory_mb or 0, lang.memory_mb),
        max_processes=max(max_processes or 0, lang.max_processes),
    )


def command_job(lang: Language, tools: Toolchain, program: str, limits: LanguageLimits) -> Any:
    """The sandbox job for one program: the source file, the compile step (if any) and the run step."""
    from sctool.eval.sandbox import CommandJob

    subs = tools.substitutions()
    read_paths = sorted({str(Path(p).resolve().parent) for p in tools.tools.values()
                         if not str(Path(p).resolve()).startswith(("/usr/", "/bin/", "/lib"))}
                        | {p for pattern in lang.read_paths for p in glob.glob(pattern)})
    return CommandJob(
        files={lang.source: program},
        run=substitute(lang.run, subs),
        compile=substitute(lang.compile, subs) if lang.compile is not None else None,
        timeout=limits.run_timeout_s,
        compile_timeout=limits.compile_timeout_s,
        env=dict(lang.env),
        read_paths=tuple(read_paths),
        memory_mb=limits.memory_mb,
        max_processes=limits.max_processes,
        compile_max_processes=max(limits.max_processes, 64) if lang.compile is not None else None,
    )


@dataclass
class Verdict:
    """One program's outcome after MultiPL-E's rules."""

    status: str
    sandbox_status: str
    returncode: int | None
    rule: str = ""
    detail: str = ""
    wall_s: float = 0.0
    stdout: str = ""
    stderr: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def verdict_from(lang: Language, res: Any) -> Verdict:
    status = res.status if res.status in STATUSES else "error"
    stdout = getattr(res, "stdout", "") or ""
    stderr = getattr(res, "stderr", "") or ""
    new, rule = apply_text_rules(lang, status, stdout, stderr)
    return Verdict(
        status=new,
        sandbox_status=status,
        returncode=getattr(res, "returncode", None),
        rule=rule,
        detail=str(getattr(res, "detail", ""))[:500],
        wall_s=float(getattr(res, "wall_s", 0.0) or 0.0),
        stdout=stdout[-2000:],
        stderr=stderr[-2000:],
    )


def run_language_programs(
    lang: Language,
    tools: Toolchain,
    programs: Sequence[str],
    *,
    limits: LanguageLimits,
    sandbox: Any = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Verdict]:
    """Compile and run each program in the sandbox and apply the language's verdict rules."""
    from sctool.eval.sandbox import SandboxConfig, run_commands

    cfg = sandbox or SandboxConfig()
    if cfg.max_open_files < lang.max_open_files:
        cfg = replace(cfg, max_open_files=lang.max_open_files)
    jobs = [command_job(lang, tools, prog, limits) for prog in programs]
    kwargs: dict[str, Any] = {"workers": workers}
    if progress is not None:
        kwargs["progress"] = lambda *_a: progress(1)
    results = run_commands(jobs, cfg, **kwargs)
    return [verdict_from(lang, r) for r in results]


@dataclass
class LanguageReport:
    language: str
    scores: dict[str, float]
    per_task: dict[str, dict[str, int]]
    status_counts: dict[str, int]
    samples: int
    unique_programs: int
    missing_tasks: list[str]
    unknown_task_samples: int
    seconds: float
    toolchain: Toolchain
    limits: LanguageLimits
    scored: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from sctool.config import config_to_dict

        return {
            "language": self.language,
            "name": LANGUAGES[self.language].name,
            **self.scores,
            "scores": dict(self.scores),
            "problems_scored": len(self.per_task),
            "samples_scored": self.samples,
            "status_counts": dict(self.status_counts),
            "unique_programs": self.unique_programs,
            "programs_per_second": round(self.unique_programs / self.seconds, 3) if self.seconds > 0 else None,
            "missing_tasks": list(self.missing_tasks),
            "unknown_task_samples": self.unknown_task_samples,
            "execution_seconds": round(self.seconds, 3),
            "toolchain": {"tools": dict(self.toolchain.tools), **dict(self.toolchain.extra),
                          "version": self.toolchain.version},
            "limits": config_to_dict(self.limits),
            "warnings": list(self.warnings),
            "per_task": dict(self.per_task),
        }


def score_language(
    lang_key: str,
    problems: Mapping[str, MultiPLEProblem],
    samples: Sequence[Sample],
    *,
    toolchain: Toolchain | None = None,
    limits: LanguageLimits | None = None,
    sandbox: Any = None,
    ks: Sequence[int] = (1, 10, 100),
    workers: int | None = None,
    quiet: bool = True,
) -> LanguageReport:
    """Score one language's samples; pass@k over the problems that have samples."""
    from sctool.progress import progress

    lang = language(lang_key)
    tools = toolchain or detect_toolchain(lang)
    if not tools.available:
        raise ConfigError(f"MultiPL-E {lang.name}: {tools.reason}")
    lim = limits or limits_for(lang)
    started = time.monotonic()
    aliases = {p.humaneval_id: name for name, p in problems.items()}
    matched: list[tuple[str, int, Sample]] = []
    unknown = 0
    next_index: dict[str, int] = {}
    for s in samples:
        tid = match_task(s.task_id, problems, aliases)
        if tid is None:
            unknown += 1
            continue
        idx = s.sample_index if s.sample_index is not None else next_index.get(tid, 0)
        next_index[tid] = max(next_index.get(tid, 0), idx + 1)
        matched.append((tid, idx, s))
    programs: dict[str, str] = {}
    keys: list[str] = []
    for tid, _, s in matched:
        prog = problems[tid].program(s.completion, s.prompt)
        key = hashlib.blake2b(prog.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
        programs.setdefault(key, prog)
        keys.append(key)
    unique = list(programs)
    bar = progress(len(unique), f"{lang.key}", unit="prog", quiet=quiet)
    try:
        verdicts = run_language_programs(lang, tools, [programs[k] for k in unique], limits=lim, sandbox=sandbox,
                                         workers=workers, progress=bar.update)
    finally:
        bar.close()
    by_key = dict(zip(unique, verdicts))
    per_task: dict[str, dict[str, int]] = {}
    counts = {s: 0 for s in STATUSES}
    scored = []
    for (tid, idx, s), key in zip(matched, keys):
        v = by_key[key]
        entry = per_task.setdefault(tid, {"n": 0, "c": 0})
        entry["n"] += 1
        entry["c"] += int(v.passed)
        counts[v.status] = counts.get(v.status, 0) + 1
        scored.append({"task_id": tid, "sample_index": idx, "completion": s.completion, "passed": v.passed,
                       "result": v.status, "rule": v.rule, "returncode": v.returncode, "detail": v.detail,
                       "wall_s": v.wall_s, "stderr_tail": v.stderr[-500:]})
    ordered = {t: per_task[t] for t in problems if t in per_task}
    scores = mean_pass_at_k(((e["n"], e["c"]) for e in ordered.values()), ks)
    missing = [t for t in problems if t not in per_task]
    warnings = []
    if missing:
        warnings.append(f"{len(missing)} of {len(problems)} problems have no samples; pass@k covers the others")
    if unknown:
        warnings.append(f"{unknown} samples name problems not in the {lang.key} problems file; ignored")
    dropped = [k for k in ks if f"pass@{k}" not in scores]
    if dropped and ordered:
        warnings.append(f"pass@{','.join(map(str, dropped))} skipped: needs at least k samples per problem")
    if counts["timeout"]:
        warnings.append(f"{counts['timeout']} samples hit the time limit ({lim.run_timeout_s} s run"
                        + (f", {lim.compile_timeout_s} s compile" if lim.compile_timeout_s else "") + ")")
    if counts["error"]:
        warnings.append(f"{counts['error']} samples could not be run by the sandbox (status 'error')")
    return LanguageReport(lang.key, scores, ordered, counts, len(scored), len(unique), missing, unknown,
                          time.monotonic() - started, tools, lim, scored, warnings)


def samples_for_language(path: str | Path, lang: str) -> Path:
    """``--samples`` may be one file (one language) or a directory of ``<lang>.jsonl`` files."""
    p = Path(path)
    if p.is_dir():
        for name in (f"{lang}.jsonl", f"humaneval-{lang}.jsonl", f"{lang}-samples.jsonl"):
            if (p / name).is_file():
                return p / name
        raise DatasetError(f"{p}: no {lang}.jsonl samples file in this directory")
    return p


def results_table(languages: Sequence[Mapping[str, Any]], skipped: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(language, pass@1, note) rows in the order given, skipped languages last."""
    rows = []
    for r in languages:
        p1 = r.get("pass@1")
        rows.append((str(r.get("name", r.get("language"))), f"{100 * p1:.2f}" if isinstance(p1, float) else "-",
                     f"{r.get('problems_scored')} problems, {r.get('samples_scored')} samples"))
    for key, why in skipped.items():
        rows.append((LANGUAGES[key].name if key in LANGUAGES else key, "-", f"skipped: {why}"))
    return rows


def html_table(result: Mapping[str, Any]) -> str:
    """The language x pass@1 table as an HTML fragment (no page around it), for a report page."""
    rows = results_table(result.get("languages", []), result.get("skipped", {}))
    ks = [f"pass@{k}" for k in result.get("ks", (1, 10, 100))
          if any(f"pass@{k}" in r for r in result.get("languages", []))]
    head = "".join(f"<th>{html.escape(k)}</th>" for k in ks)
    body = []
    langs = list(result.get("languages", []))
    for i, (name, _p1, note) in enumerate(rows):
        if i < len(langs):
            cells = "".join(
                f"<td class=\"num\">{100 * langs[i][k]:.2f}</td>" if isinstance(langs[i].get(k), float) else "<td>-</td>"
                for k in ks
            )
        else:
            cells = "".join("<td>-</td>" for _ in ks)
        body.append(f"<tr><td>{html.escape(name)}</td>{cells}<td>{html.escape(note)}</td></tr>")
    caption = html.escape(f"MultiPL-E HumanEval, pass@k in % ({result.get('protocol', {}).get('summary', '')})")
    return (
        '<table class="sctool-multipl-e">\n'
        f"<caption>{caption}</caption>\n"
        f"<thead><tr><th>language</th>{head}<th>scored</th></tr></thead>\n"
        "<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>\n"
    )


def format_table(result: Mapping[str, Any]) -> str:
    lines = ["multipl-e"]
    rows = results_table(result.get("languages", []), result.get("skipped", {}))
    if rows:
        width = max(len(r[0]) for r in rows)
        lines.append(f"  {'language'.ljust(width)}  {'pass@1 %':>8}  scored")
        for name, p1, note in rows:
            lines.append(f"  {name.ljust(width)}  {p1.rjust(8)}  {note}")
    for r in result.get("languages", []):
        counts = ", ".join(f"{k} {v}" for k, v in r.get("status_counts", {}).items() if v)
        lines.append(f"  {r['language']}: {counts}; {r.get('programs_per_second')} programs/s")
        for w in r.get("warnings", []):
            lines.append(f"    warning: {w}")
    return "\n".join(lines)


@dataclass(frozen=True)
class MultiPLEJob:
    """Everything ``sctool eval multipl-e`` was asked to do."""

    languages: tuple[str, ...]  # keys; ("all",) means every language whose toolchain is present
    problems: str
    samples: str  # one file for one language, else a directory of <lang>.jsonl
    model: str | None = None
    tokenizer: str | None = None
    generation: Any = None  # GenerationSettings; stop words are filled in per language
    sandbox: Any = None
    ks: tuple[int, ...] = (1, 10, 100)
    limit: int | None = None
    generate_only: bool = False
    device: str = "cpu"
    dtype: str | None = None
    details: str | None = None
    run_timeout: float | None = None
    compile_timeout: float | None = None
    memory_mb: int | None = None
    workers: int | None = None


def resolve_languages(spec: Sequence[str]) -> tuple[list[str], bool]:
    """(language keys, whether 'all' was asked) from ``--language`` values (comma lists allowed)."""
    keys: list[str] = []
    for item in spec:
        for part in str(item).split(","):
            part = part.strip()
            if part:
                keys.append(part)
    if not keys:
        raise ConfigError("--language needs a language (cpp, java, js, ...) or 'all'")
    if "all" in keys:
        return list(LANGUAGES), True
    for k in keys:
        language(k)
    return list(dict.fromkeys(keys)), False


def toolchain_report() -> dict[str, dict[str, Any]]:
    """Every language: found or not, the tools, the version, and the Debian packages."""
    out = {}
    for key, lang in LANGUAGES.items():
        tc = detect_toolchain(lang)
        out[key] = {"name": lang.name, "available": tc.available, "reason": tc.reason, "tools": dict(tc.tools),
                    "version": tc.version, "debian": list(lang.debian), "note": lang.note}
    return out


def _generate_language(job: MultiPLEJob, lang: str, problems: dict[str, MultiPLEProblem], samples_path: Path,
                       backends: dict[str, Any], *, quiet: bool) -> dict[str, Any]:
    """Fill ``samples_path`` with completions for one language (resuming); the model loads once per run."""
    from sctool.config import config_to_dict
    from sctool.eval.generate import generate_samples
    from sctool.eval.problems import CodeProblem
    from sctool.eval.protocol import GenerationSettings
    from sctool.eval.samples import check_or_write_meta, count_by_task, iter_missing, read_samples

    base = job.generation or GenerationSettings()
    settings = replace(base, stop_words=stop_words(problems))
    meta = {"task": f"multipl-e/{lang}", "model": str(job.model), "generation": config_to_dict(settings)}
    check_or_write_meta(samples_path, meta)
    code_problems = {name: CodeProblem(name, p.prompt, p.tests, "") for name, p in problems.items()}
    info: dict[str, Any] = {**config_to_dict(settings), "prompt_stripped": settings.strip_prompt}
    if samples_path.exists():
        have = read_samples(samples_path).samples
        if next(iter_missing(code_problems, count_by_task(have), settings.n_samples), None) is None:
            info["counts"] = {"resumed_from": len(have), "generated": 0, "total": len(have)}
            return info
    from sctool.eval.backend import load_backend

    backend = backends.get("model")
    if backend is None:
        backend = backends["model"] = load_backend(job.model, settings, tokenizer=job.tokenizer, device=job.device,
                                                   dtype=job.dtype)
    backend.settings = settings  # this language's stop words
    rep = generate_samples(code_problems, settings, samples_path, backend.complete, backend.count_tokens,
                           meta=meta, quiet=quiet)
    info["model"] = backend.meta
    info["counts"] = {"resumed_from": rep.already_present, "generated": rep.generated, "total": rep.total}
    return info



def run_multipl_e(job: MultiPLEJob, *, quiet: bool = True) -> dict[str, Any]:
    """Generate (with a model) and score each asked language; the returned dict is the result JSON."""
    from sctool.config import config_to_dict
    from sctool.eval.runner import environment, file_sha256
    from sctool.eval.samples import read_samples
    from sctool.eval.sandbox import SandboxConfig, probe_isolation

    keys, all_asked = resolve_languages(job.languages)
    multi = len(keys) > 1
    sandbox = job.sandbox or SandboxConfig()
    languages: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    problems_info: dict[str, Any] = {}
    generation_info: dict[str, Any] = {}
    backends: dict[str, Any] = {}
    for key in keys:
        lang = LANGUAGES[key]
        tools = detect_toolchain(lang)
        if not tools.available:
            if not all_asked:
                raise ConfigError(f"MultiPL-E {lang.name}: {tools.reason}")
            skipped[key] = tools.reason
            continue
        try:
            path = problems_file(job.problems, key)
        except DatasetError as exc:
            if not all_asked:
                raise
            skipped[key] = f"no problems file ({exc})"
            continue
        problems = load_problems(path, key)
        if job.limit is not None:
            problems = dict(list(problems.items())[: job.limit])
        problems_info[key] = {"path": str(path), "sha256": file_sha256(path), "count": len(problems),
                              "limit": job.limit}
        if multi or Path(job.samples).is_dir() or (job.model is not None and not job.samples.endswith(".jsonl")):
            samples_dir = Path(job.samples)
            samples_path = samples_dir / f"{key}.jsonl"
            if job.model is None and not samples_path.is_file():
                if all_asked:
                    skipped[key] = f"no samples file {samples_path}"
                    continue
                raise DatasetError(f"{samples_path}: no such samples file")
        else:
            samples_path = Path(job.samples)
        if job.model is not None:
            samples_path.parent.mkdir(parents=True, exist_ok=True)
            generation_info[key] = _generate_language(job, key, problems, samples_path, backends, quiet=quiet)
            if job.generate_only:
                continue
        read = read_samples(samples_path)
        if not read.samples:
            raise ConfigError(f"{samples_path}: no usable samples ({read.bad_lines} malformed lines; {read.first_error})")
        limits = limits_for(lang, run_timeout=job.run_timeout, compile_timeout=job.compile_timeout,
                            memory_mb=job.memory_mb)
        report = score_language(key, problems, read.samples, toolchain=tools, limits=limits, sandbox=sandbox,
                                ks=job.ks, workers=job.workers, quiet=quiet)
        if read.bad_lines:
            report.warnings.append(f"{read.bad_lines} malformed sample lines skipped (first: {read.first_error})")
        if job.details:
            dpath = Path(job.details)
            if multi:
                dpath.mkdir(parents=True, exist_ok=True)
                dpath = dpath / f"{key}.jsonl"
            _write_scored(dpath, report.scored)
        entry = report.to_dict()
        entry["samples"] = {"path": str(samples_path), "count": len(read.samples), "malformed_lines": read.bad_lines}
        languages.append(entry)
    result: dict[str, Any] = {"task": "multipl-e"}
    if len(languages) == 1 and not multi:
        result.update(languages[0]["scores"])
    result.update({
        "languages": languages,
        "skipped": skipped,
        "problems": problems_info,
        "generation": generation_info or None,
        "generated_only": bool(job.generate_only and job.model is not None),
        "ks": list(job.ks),
        "protocol": {
            "summary": "MultiPL-E: prompt + completion + newline + tests; pass iff every step exits 0 and "
                       "the language's text rules hold",
            "program": "prompt + completion + '\\n' + tests",
            "stop_words": "the dataset's stop_tokens + <file_sep>",
            "output_window_bytes": 2048,
        },
        "sandbox": config_to_dict(sandbox),
        "isolation": probe_isolation(sandbox) if languages else {},
        "environment": environment(),
    })
    return result


def _write_scored(path: Path, scored: Sequence[dict[str, Any]]) -> None:
    import json

    from sctool.io.atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for row in scored:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
